//! The report as one self-contained HTML page: inline CSS and inline SVG
//! charts, no script and no external resource, so the file can be mailed,
//! archived next to `report.json` or opened in a headless browser as is.
//!
//! Like `report.json`, the page is a pure function of the report: every
//! number drawn into an SVG goes through a fixed-precision format, so the
//! same report always renders to the same bytes.
//!
//! - `page`: the document around the sections, and its stylesheet.
//! - `sections`: one function per section of the page, in page order.
//! - `charts`: the SVG line and bar charts, with `axis` for their scales.
//! - `format`: how numbers, latencies and names are written, for tables and
//!   charts alike; a leaf every other file here uses.

mod axis;
mod charts;
mod format;
mod page;
mod sections;

#[cfg(test)]
mod tests;

pub use page::render;
