//! The HTML document: head, stylesheet and the sections in page order.

use std::fmt::Write as _;

use super::format::{escape, fmt_span};
use super::sections::{
    channels_section, erp_section, exceptions_section, invariants_section, orders_section,
    sla_section, totals_section, warehouses_section,
};
use crate::report::Report;

const CSS: &str = "\
body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,Helvetica,Arial,sans-serif;\
color:#1f2328;background:#fff;max-width:1180px;margin:24px auto;padding:0 16px;line-height:1.4}\
h1{font-size:1.5em;margin-bottom:4px}\
h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #d0d7de;padding-bottom:4px}\
.meta{color:#57606a;margin-top:0}\
table{border-collapse:collapse;font-size:13px;margin:8px 0;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}\
th{background:#f6f8fa;font-weight:600}\
.l{text-align:left}\
tr.breach td{background:#ffebe9}\
.badge{display:inline-block;min-width:3em;text-align:center;padding:1px 8px;border-radius:10px;\
font-size:12px;font-weight:700;color:#fff}\
.pass{background:#1a7f37}.fail{background:#cf222e}\
.verdict{font-weight:600}\
.scroll{overflow-x:auto}\
svg{display:block;max-width:100%;height:auto;margin:12px 0}\
";

/// Renders the whole report as an HTML5 document.
#[must_use]
pub fn render(report: &Report) -> String {
    let scenario = escape(&report.scenario);
    let mut out = String::with_capacity(32 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>Crossdock peak-day rehearsal — {scenario}</title>"
    );
    let _ = writeln!(out, "<style>{CSS}</style>\n</head>\n<body>");

    let _ = writeln!(out, "<h1>Crossdock peak-day rehearsal — {scenario}</h1>");
    let _ = writeln!(
        out,
        "<p class=\"meta\">Seed <b>{}</b> · start <b>{}</b> · simulated day <b>{}</b> · \
         drained for <b>{}</b> after the day</p>",
        report.seed,
        escape(&report.start),
        fmt_span(report.duration_ms),
        fmt_span(report.drained_ms),
    );

    invariants_section(&mut out, report);
    totals_section(&mut out, report);
    channels_section(&mut out, &report.channels);
    erp_section(&mut out, report);
    orders_section(&mut out, report);
    warehouses_section(&mut out, &report.warehouses);
    exceptions_section(&mut out, report);
    sla_section(&mut out, &report.sla);

    out.push_str("</body>\n</html>\n");
    out
}
