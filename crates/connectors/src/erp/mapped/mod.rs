//! A REST ERP by configuration: [`MappedRestErp`] speaks whatever JSON API an
//! [`ErpMapping`] describes (NetSuite REST, Business Central, the simulated
//! ERP…) with no code per ERP.
//!
//! Each resource is a method, a path template and two jq programs (run by
//! jaq): `body` builds the request body from the canonical input and `id`
//! reads the new document's id from the answer. Lookups (`find_sales_order`,
//! `find_invoice`, the in-doubt resolution) are a GET with our reference in
//! the query and a `results` program that extracts `[{id, reference}]`.
//! Every program is compiled once, when the connector is built.
//!
//! # Money stays exact
//!
//! The canonical order carries amounts as decimal strings (`"19.99"`), and
//! answers are read with jaq's own JSON reader, which keeps number literals
//! as written (a 19-digit id stays 19 digits). jq arithmetic is
//! floating point, so a mapping must never compute with money (`tonumber`,
//! `+`, `*` on amounts are forbidden): it moves the strings. An ERP that
//! wants a JSON number gets one from the marker object
//! `{"$decimal": "12.50"}`, which the connector replaces by the exact
//! number `12.50` (checked to be a decimal). A floating-point number in a
//! body (only arithmetic makes one) is refused rather than sent.
//!
//! # Ids are strings
//!
//! The `id` program may yield a JSON string or a number; either becomes the
//! id exactly as written. With `id_from = "location"` the id is the last
//! path segment of the answer's `Location` header instead (NetSuite answers
//! a create with 204 and `Location: …/salesOrder/1234`).
//!
//! # Errors
//!
//! A program that does not compile is refused at construction, naming the
//! field (`sales_order.body: …`). A program that fails at run time or
//! yields the wrong shape is [`ConnectorError::Rejected`] naming the field
//! and the mapping's `version`: a mapping bug is not transient.

mod client;
mod compile;
pub mod config;
mod mapping;
#[cfg(test)]
mod tests;

pub use client::MappedRestErp;
pub use mapping::{ErpMapping, IdFrom, LookupMapping, ResourceMapping, StockMapping};
