//! The page's sections, one function each, in the order the page shows
//! them: tables of what the report found and the charts that go with them.

use std::fmt::Write as _;

use super::charts::{PALETTE, bar_chart, line_chart};
use super::format::{
    badge, breach_pct, escape, fmt_count, fmt_decimal, fmt_ms, fmt_offset, fmt_pct, q,
};
use crate::report::{ChannelReport, Report, Sample, SlaRow, WarehouseReport};

pub(super) fn invariants_section(out: &mut String, report: &Report) {
    let inv = &report.invariants;
    let dup = &inv.duplicates;
    let checks: [(&str, u64); 8] = [
        ("Oversold units", inv.oversold_units),
        ("Oversold orders", inv.oversold_orders),
        ("Duplicate sales orders", dup.sales_orders),
        ("Duplicate invoices", dup.invoices),
        ("Duplicate shipment requests", dup.shipment_requests),
        ("Duplicate ship confirmations", dup.ship_confirmations),
        ("Duplicates — total", dup.total()),
        ("Lost orders", inv.lost_orders),
    ];
    let failed = checks.iter().filter(|(_, v)| *v != 0).count();

    out.push_str("<section>\n<h2>Invariants</h2>\n");
    if failed == 0 {
        let _ = writeln!(
            out,
            "<p class=\"verdict\">{} All {} invariant checks hold.</p>",
            badge(0),
            checks.len()
        );
    } else {
        let _ = writeln!(
            out,
            "<p class=\"verdict\">{} {failed} of {} invariant checks broken.</p>",
            badge(1),
            checks.len()
        );
    }
    out.push_str("<table>\n<tr><th class=\"l\">Invariant</th><th>Count</th><th>Result</th></tr>\n");
    for (label, value) in checks {
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{label}</td><td>{}</td><td>{}</td></tr>",
            fmt_count(value),
            badge(value)
        );
    }
    out.push_str("</table>\n");
    if !inv.oversold.is_empty() {
        out.push_str(
            "<h3>Why units were oversold</h3>\n<table>\n<tr><th class=\"l\">Order</th>\
             <th class=\"l\">Cause</th><th class=\"l\">SKU</th><th class=\"l\">Location</th>\
             <th>Units</th><th>At</th><th class=\"l\">What the estate saw</th></tr>\n",
        );
        for line in &inv.oversold {
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
                 <td class=\"l\">{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
                escape(&line.order_id),
                escape(&line.cause),
                escape(&line.sku),
                escape(line.location.as_deref().unwrap_or("—")),
                line.units,
                fmt_offset(line.at_ms),
                escape(&line.detail)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

pub(super) fn totals_section(out: &mut String, report: &Report) {
    let t = &report.totals;
    let rows: [(&str, u64); 10] = [
        ("Orders placed", t.orders_placed),
        ("Orders ingested", t.orders_ingested),
        ("Orders shipped", t.orders_shipped),
        ("Orders cancelled", t.orders_cancelled),
        ("Orders open at end", t.orders_open_at_end),
        ("Units shipped", t.units_shipped),
        ("Buyer cancellations", t.buyer_cancellations),
        ("Webhooks delivered", t.webhooks_delivered),
        ("Polls", t.polls),
        ("Availability updates", t.availability_updates),
    ];
    out.push_str("<section>\n<h2>Totals</h2>\n<table>\n");
    labelled_rows(out, rows.map(|(label, value)| (label, fmt_count(value))));
    out.push_str("</table>\n</section>\n");
}

pub(super) fn channels_section(out: &mut String, channels: &[ChannelReport]) {
    out.push_str("<section>\n<h2>Channels</h2>\n<div class=\"scroll\"><table>\n");
    out.push_str(
        "<tr><th class=\"l\" rowspan=\"2\">Channel</th><th class=\"l\" rowspan=\"2\">Ingest</th>\
         <th colspan=\"2\">Orders</th><th colspan=\"3\">Ingest latency</th>\
         <th colspan=\"3\">ERP acceptance</th><th rowspan=\"2\">Ship-confirm<br>p95</th>\
         <th rowspan=\"2\">Inventory sync<br>p95</th><th colspan=\"3\">Webhook faults</th>\
         <th rowspan=\"2\">Throttled</th></tr>\n\
         <tr><th>placed</th><th>ingested</th><th>p50</th><th>p95</th><th>p99</th>\
         <th>p50</th><th>p95</th><th>p99</th><th>duplicated</th><th>reordered</th>\
         <th>lost</th></tr>\n",
    );
    if channels.is_empty() {
        out.push_str("<tr><td class=\"l\" colspan=\"16\">no channels</td></tr>\n");
    }
    for c in channels {
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&c.ingest),
            fmt_count(c.orders_placed),
            fmt_count(c.orders_ingested),
            q(&c.ingest_latency, |q| q.p50_ms),
            q(&c.ingest_latency, |q| q.p95_ms),
            q(&c.ingest_latency, |q| q.p99_ms),
            q(&c.erp_acceptance, |q| q.p50_ms),
            q(&c.erp_acceptance, |q| q.p95_ms),
            q(&c.erp_acceptance, |q| q.p99_ms),
            q(&c.ship_confirm, |q| q.p95_ms),
            q(&c.inventory_sync, |q| q.p95_ms),
            fmt_count(c.webhooks_duplicated),
            fmt_count(c.webhooks_reordered),
            fmt_count(c.webhooks_lost),
            fmt_count(c.throttled),
        );
    }
    out.push_str("</table></div>\n</section>\n");
}

pub(super) fn erp_section(out: &mut String, report: &Report) {
    let erp = &report.erp;
    let peak = if erp.peak_backlog == 0 {
        "0".to_owned()
    } else {
        format!(
            "{} at {} from start",
            fmt_count(erp.peak_backlog),
            fmt_offset(erp.peak_backlog_at_ms)
        )
    };
    let drain = erp
        .drain_time_ms
        .map_or_else(|| "did not drain before the run ended".to_owned(), fmt_ms);
    let rows: [(&str, String); 8] = [
        (
            "Limit",
            format!(
                "{} requests/s, {} concurrent",
                fmt_decimal(erp.requests_per_sec),
                erp.max_concurrency
            ),
        ),
        ("Calls", fmt_count(erp.calls)),
        ("Throttled (429)", fmt_count(erp.throttled)),
        ("Failed in outage", fmt_count(erp.failed_in_outage)),
        ("Peak backlog", peak),
        ("Drain time after peak", drain),
        ("Mean utilisation", fmt_pct(erp.utilisation_mean_pct)),
        ("Peak utilisation", fmt_pct(erp.utilisation_peak_pct)),
    ];
    out.push_str("<section>\n<h2>ERP</h2>\n<table>\n");
    labelled_rows(out, rows);
    out.push_str("</table>\n");
    out.push_str(&line_chart(
        "ERP backlog over time",
        &[("backlog", PALETTE[0], &erp.backlog)],
        "steps waiting",
        None,
    ));
    out.push_str(&line_chart(
        "ERP utilisation (% of limit)",
        &[("utilisation", PALETTE[1], &erp.utilisation)],
        "% of limit",
        Some((100.0, "limit (100 %)")),
    ));
    out.push_str("</section>\n");
}

pub(super) fn orders_section(out: &mut String, report: &Report) {
    let series: Vec<(&str, &str, &[Sample])> = report
        .orders_per_hour
        .iter()
        .zip(PALETTE.iter().cycle())
        .map(|((name, samples), colour)| (name.as_str(), *colour, samples.as_slice()))
        .collect();
    out.push_str("<section>\n<h2>Orders per hour</h2>\n");
    out.push_str(&line_chart(
        "Orders per hour by channel",
        &series,
        "orders / hour",
        None,
    ));
    out.push_str("</section>\n");
}

pub(super) fn warehouses_section(out: &mut String, warehouses: &[WarehouseReport]) {
    out.push_str("<section>\n<h2>Warehouses</h2>\n<div class=\"scroll\"><table>\n");
    out.push_str(
        "<tr><th class=\"l\" rowspan=\"2\">Warehouse</th><th class=\"l\" rowspan=\"2\">Kind</th>\
         <th rowspan=\"2\">Releases</th><th rowspan=\"2\">Shipments</th>\
         <th rowspan=\"2\">Units<br>shipped</th><th rowspan=\"2\">Short-shipped<br>units</th>\
         <th rowspan=\"2\">Refused<br>in outage</th><th colspan=\"2\">Release → ship</th>\
         <th colspan=\"3\">Ship-confirm</th></tr>\n\
         <tr><th>p50</th><th>p95</th><th>p50</th><th>p95</th><th>p99</th></tr>\n",
    );
    if warehouses.is_empty() {
        out.push_str("<tr><td class=\"l\" colspan=\"12\">no warehouses</td></tr>\n");
    }
    for w in warehouses {
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            escape(&w.name),
            escape(&w.kind),
            fmt_count(w.releases),
            fmt_count(w.shipments),
            fmt_count(w.units_shipped),
            fmt_count(w.short_shipped_units),
            fmt_count(w.refused_in_outage),
            q(&w.release_to_ship, |q| q.p50_ms),
            q(&w.release_to_ship, |q| q.p95_ms),
            q(&w.ship_confirm, |q| q.p50_ms),
            q(&w.ship_confirm, |q| q.p95_ms),
            q(&w.ship_confirm, |q| q.p99_ms),
        );
    }
    out.push_str("</table></div>\n");
    let bars: Vec<(&str, Option<i64>)> = warehouses
        .iter()
        .map(|w| {
            let p95 = (w.ship_confirm.count > 0).then_some(w.ship_confirm.p95_ms);
            (w.name.as_str(), p95)
        })
        .collect();
    out.push_str(&bar_chart("Ship-confirm p95 by warehouse", &bars));
    out.push_str("</section>\n");
}

pub(super) fn exceptions_section(out: &mut String, report: &Report) {
    out.push_str("<section>\n<h2>Exceptions by class</h2>\n");
    if report.exceptions.is_empty() {
        out.push_str("<p>none</p>\n</section>\n");
        return;
    }
    out.push_str("<table>\n<tr><th class=\"l\">Class</th><th>Open at end</th></tr>\n");
    for (class, count) in &report.exceptions {
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td></tr>",
            escape(class),
            fmt_count(*count)
        );
    }
    out.push_str("</table>\n</section>\n");
}

pub(super) fn sla_section(out: &mut String, rows: &[SlaRow]) {
    out.push_str("<section>\n<h2>SLA</h2>\n");
    if rows.is_empty() {
        out.push_str("<p>none</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table>\n<tr><th class=\"l\">Flow</th><th class=\"l\">Scope</th>\
         <th class=\"l\">Name</th><th>Target</th><th>Samples</th><th>Breaches</th>\
         <th>Breach %</th></tr>\n",
    );
    for r in rows {
        let class = if r.breaches > 0 {
            " class=\"breach\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<tr{class}><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.flow),
            escape(&r.scope),
            escape(&r.name),
            fmt_ms(r.target_ms),
            fmt_count(r.samples),
            fmt_count(r.breaches),
            breach_pct(r.breaches, r.samples),
        );
    }
    out.push_str("</table>\n</section>\n");
}

/// Rows of a two-column table: a label, then its value.
fn labelled_rows(out: &mut String, rows: impl IntoIterator<Item = (&'static str, String)>) {
    for (label, value) in rows {
        let _ = writeln!(out, "<tr><th class=\"l\">{label}</th><td>{value}</td></tr>");
    }
}
