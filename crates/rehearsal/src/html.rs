//! The report as one self-contained HTML page: inline CSS and inline SVG
//! charts, no script and no external resource, so the file can be mailed,
//! archived next to `report.json` or opened in a headless browser as is.
//!
//! Like `report.json`, the page is a pure function of the report: every
//! number drawn into an SVG goes through a fixed-precision format, so the
//! same report always renders to the same bytes.

use std::fmt::{self, Write as _};

use crate::report::{ChannelReport, Quantiles, Report, Sample, SlaRow, WarehouseReport};

/// Series colours, handed out in `BTreeMap` order so a channel keeps its
/// colour from run to run. Past the tenth series the colours repeat, dashed.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

const MS_PER_MIN: i64 = 60_000;
const MS_PER_HOUR: i64 = 3_600_000;

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

// ---------------------------------------------------------------------------
// Sections

fn invariants_section(out: &mut String, report: &Report) {
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
    out.push_str("</table>\n</section>\n");
}

fn totals_section(out: &mut String, report: &Report) {
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
    for (label, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th class=\"l\">{label}</th><td>{}</td></tr>",
            fmt_count(value)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn channels_section(out: &mut String, channels: &[ChannelReport]) {
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

fn erp_section(out: &mut String, report: &Report) {
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
    for (label, value) in rows {
        let _ = writeln!(out, "<tr><th class=\"l\">{label}</th><td>{value}</td></tr>");
    }
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

fn orders_section(out: &mut String, report: &Report) {
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

fn warehouses_section(out: &mut String, warehouses: &[WarehouseReport]) {
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

fn exceptions_section(out: &mut String, report: &Report) {
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

fn sla_section(out: &mut String, rows: &[SlaRow]) {
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

// ---------------------------------------------------------------------------
// Charts

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const BOTTOM: f64 = 40.0;
const LEGEND_ROW: f64 = 16.0;

/// A line chart over time. Each series is `(name, colour, samples)`; the
/// x axis runs from the start of the day, in hours. `reference` draws a
/// dashed horizontal line at `(value, label)`.
fn line_chart(
    title: &str,
    series: &[(&str, &str, &[Sample])],
    y_label: &str,
    reference: Option<(f64, &str)>,
) -> String {
    // Non-finite values cannot be placed on an axis; leaving them out keeps
    // NaN from leaking into coordinates.
    let series: Vec<Line<'_>> = series
        .iter()
        .map(|(name, colour, samples)| Line {
            name,
            colour,
            points: samples
                .iter()
                .filter(|s| s.value.is_finite())
                .map(|s| (s.at_ms, s.value))
                .collect(),
        })
        .collect();

    let all = series.iter().flat_map(|l| l.points.iter());
    let (mut t_min, mut t_max) = (0_i64, 0_i64);
    let (mut v_min, mut v_max) = (0.0_f64, 0.0_f64);
    let mut has_data = false;
    for &(t, v) in all {
        has_data = true;
        t_min = t_min.min(t);
        t_max = t_max.max(t);
        v_min = v_min.min(v);
        v_max = v_max.max(v);
    }
    if let Some((r, _)) = reference.filter(|(r, _)| r.is_finite()) {
        v_min = v_min.min(r);
        v_max = v_max.max(r);
    }
    let x_axis = TimeAxis::new(t_min, t_max);
    let y_axis = Axis::new(v_min, v_max);

    let mut out = String::new();
    // A single series is named by the chart's title; a legend only repeats it.
    let legend = if series.len() > 1 {
        legend(&series)
    } else {
        (String::new(), 0.0)
    };
    // A very long legend overlaps the plot rather than squeezing it to nothing.
    let top = (30.0 + legend.1 + 8.0).min(H - BOTTOM - 80.0);
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, top, H - BOTTOM);
    let sx = |t: i64| x0 + x_axis.fraction(t) * (x1 - x0);
    let sy = |v: f64| y1 - y_axis.fraction(v) * (y1 - y0);

    svg_open(&mut out, title, W, H);
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"18\" font-size=\"13\" font-weight=\"600\">{}</text>",
        Px(LEFT),
        escape(title)
    );
    out.push_str(&legend.0);

    // Horizontal gridlines with their labels.
    for tick in y_axis.ticks() {
        let y = sy(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e1e4e8\"/>\
             <text x=\"{}\" y=\"{}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>",
            Px(x0),
            Px(y),
            Px(x1),
            Px(y),
            Px(x0 - 6.0),
            Px(y),
            y_axis.label(tick)
        );
    }
    // Time ticks.
    for tick in x_axis.ticks() {
        let x = sx(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#57606a\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            Px(x),
            Px(y1),
            Px(x),
            Px(y1 + 4.0),
            Px(x),
            Px(y1 + 16.0),
            x_axis.label(tick)
        );
    }
    axes_and_labels(&mut out, (x0, x1, y0, y1), y_label, "time from start (h)");

    if let Some((r, label)) = reference.filter(|(r, _)| r.is_finite()) {
        let y = sy(r);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#cf222e\" \
             stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#cf222e\">{}</text>",
            Px(x0),
            Px(y),
            Px(x1),
            Px(y),
            Px(x1 - 2.0),
            Px(y - 4.0),
            escape(label)
        );
    }

    draw_lines(&mut out, &series, &sx, &sy);
    if !has_data {
        no_data(&mut out, f64::midpoint(x0, x1), f64::midpoint(y0, y1));
    }
    out.push_str("</svg>\n");
    out
}

/// One series of a line chart, non-finite values already dropped.
struct Line<'a> {
    name: &'a str,
    colour: &'a str,
    points: Vec<(i64, f64)>,
}

/// Draws each series as a polyline, or a dot when it has a single point.
fn draw_lines(
    out: &mut String,
    series: &[Line<'_>],
    sx: &impl Fn(i64) -> f64,
    sy: &impl Fn(f64) -> f64,
) {
    for (i, line) in series.iter().enumerate() {
        let colour = line.colour;
        let dash = dash_for(i);
        match line.points.as_slice() {
            [] => {}
            // A single point makes an invisible polyline: draw a dot.
            [(t, v)] => {
                let _ = writeln!(
                    out,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{colour}\"/>",
                    Px(sx(*t)),
                    Px(sy(*v))
                );
            }
            _ => {
                let mut coords = String::new();
                for (t, v) in &line.points {
                    if !coords.is_empty() {
                        coords.push(' ');
                    }
                    let _ = write!(coords, "{},{}", Px(sx(*t)), Px(sy(*v)));
                }
                let _ = writeln!(
                    out,
                    "<polyline points=\"{coords}\" fill=\"none\" stroke=\"{colour}\" \
                     stroke-width=\"1.8\" stroke-linejoin=\"round\"{dash}/>"
                );
            }
        }
    }
}

/// Legend entries laid out left to right, wrapping onto further rows under
/// the title. Returns the markup and the height it takes.
fn legend(series: &[Line<'_>]) -> (String, f64) {
    let mut out = String::new();
    let (mut x, mut row) = (LEFT, 0.0_f64);
    for (i, line) in series.iter().enumerate() {
        let colour = line.colour;
        let name = truncate(line.name, 28);
        let width = 30.0 + text_width(&name);
        if x + width > W - RIGHT && x > LEFT {
            x = LEFT;
            row += 1.0;
        }
        let y = 34.0 + row * LEGEND_ROW;
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" \
             stroke-width=\"3\"{}/><text x=\"{}\" y=\"{}\" dy=\"0.32em\">{}</text>",
            Px(x),
            Px(y),
            Px(x + 18.0),
            Px(y),
            dash_for(i),
            Px(x + 22.0),
            Px(y),
            escape(&name)
        );
        x += width + 10.0;
    }
    let height = if series.is_empty() {
        0.0
    } else {
        (row + 1.0) * LEGEND_ROW
    };
    (out, height)
}

/// Second and later rounds through the palette are dashed so colours that
/// repeat can still be told apart.
fn dash_for(index: usize) -> &'static str {
    if index >= PALETTE.len() {
        " stroke-dasharray=\"5 3\""
    } else {
        ""
    }
}

/// A horizontal bar chart of one latency per row; `None` draws no bar.
fn bar_chart(title: &str, bars: &[(&str, Option<i64>)]) -> String {
    const LABEL_W: f64 = 170.0;
    const VALUE_W: f64 = 90.0;
    const TOP: f64 = 34.0;
    const ROW: f64 = 24.0;
    const BAR: f64 = 14.0;

    let max_ms = bars
        .iter()
        .filter_map(|(_, v)| *v)
        .max()
        .unwrap_or(0)
        .max(0);
    // Tick in a unit that suits the largest bar, so labels read "0 s, 5 s,
    // 10 s" rather than raw milliseconds.
    let (unit_ms, unit) = match max_ms {
        m if m < 1_000 => (1, "ms"),
        m if m < MS_PER_MIN => (1_000, "s"),
        m if m < MS_PER_HOUR => (MS_PER_MIN, "min"),
        _ => (MS_PER_HOUR, "h"),
    };
    let scaled = |ms: i64| ms_to_f64(ms.max(0)) / ms_to_f64(unit_ms);
    let axis = Axis::new(0.0, scaled(max_ms));

    let rows = if bars.is_empty() {
        2.0
    } else {
        count_f64(bars.len())
    };
    let height = TOP + rows * ROW + BOTTOM;
    let (x0, x1, y0, y1) = (LABEL_W, W - VALUE_W, TOP, TOP + rows * ROW);
    let sx = |v: f64| x0 + axis.fraction(v) * (x1 - x0);

    let mut out = String::new();
    svg_open(&mut out, title, W, height);
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"18\" font-size=\"13\" font-weight=\"600\">{}</text>",
        Px(LEFT),
        escape(title)
    );
    for tick in axis.ticks() {
        let x = sx(tick);
        let _ = writeln!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e1e4e8\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} {unit}</text>",
            Px(x),
            Px(y0),
            Px(x),
            Px(y1),
            Px(x),
            Px(y1 + 16.0),
            axis.label(tick)
        );
    }
    let mut y = y0;
    for (name, value) in bars {
        let mid = y + ROW / 2.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>",
            Px(x0 - 8.0),
            Px(mid),
            escape(&truncate(name, 24))
        );
        if let Some(ms) = value {
            let end = sx(scaled(*ms));
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\" dy=\"0.32em\">{}</text>",
                Px(x0),
                Px(mid - BAR / 2.0),
                Px(end - x0),
                Px(BAR),
                PALETTE[0],
                Px(end + 4.0),
                Px(mid),
                fmt_ms(*ms)
            );
        } else {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" dy=\"0.32em\" fill=\"#57606a\">no shipments</text>",
                Px(x0 + 4.0),
                Px(mid)
            );
        }
        y += ROW;
    }
    axes_and_labels(&mut out, (x0, x1, y0, y1), "", "ship-confirm p95");
    if bars.is_empty() {
        no_data(&mut out, f64::midpoint(x0, x1), f64::midpoint(y0, y1));
    }
    out.push_str("</svg>\n");
    out
}

fn svg_open(out: &mut String, title: &str, width: f64, height: f64) {
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
         height=\"{h}\" role=\"img\" aria-label=\"{t}\" font-family=\"sans-serif\" \
         font-size=\"11\" fill=\"#1f2328\"><title>{t}</title>",
        w = Px(width),
        h = Px(height),
        t = escape(title)
    );
}

/// The two axis lines and their captions; `plot` is `(x0, x1, y0, y1)`.
fn axes_and_labels(out: &mut String, plot: (f64, f64, f64, f64), y_label: &str, x_label: &str) {
    let (x0, x1, y0, y1) = plot;
    let _ = writeln!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#57606a\"/>\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#57606a\"/>",
        Px(x0),
        Px(y1),
        Px(x1),
        Px(y1),
        Px(x0),
        Px(y0),
        Px(x0),
        Px(y1),
    );
    if !y_label.is_empty() {
        let _ = writeln!(
            out,
            "<text transform=\"translate(14,{}) rotate(-90)\" text-anchor=\"middle\" \
             fill=\"#57606a\">{}</text>",
            Px(f64::midpoint(y0, y1)),
            escape(y_label)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>",
        Px(f64::midpoint(x0, x1)),
        Px(y1 + 32.0),
        escape(x_label)
    );
}

fn no_data(out: &mut String, x: f64, y: f64) {
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\">no data</text>",
        Px(x),
        Px(y)
    );
}

/// A value axis from a "nice" rounded lower bound to a "nice" upper bound,
/// always including zero, in steps of 1, 2 or 5 × 10ⁿ.
struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
    decimals: usize,
}

impl Axis {
    fn new(min: f64, max: f64) -> Self {
        const FALLBACK: Axis = Axis {
            lo: 0.0,
            hi: 4.0,
            step: 1.0,
            decimals: 0,
        };
        let min = if min.is_finite() { min.min(0.0) } else { 0.0 };
        let max = if max.is_finite() { max.max(0.0) } else { 0.0 };
        if max - min <= 0.0 {
            // All zero (or nothing): a 0..4 axis reads as "nothing happened"
            // without dividing by a zero span.
            return FALLBACK;
        }
        let step = nice_step((max - min) / 4.0);
        let lo = (min / step).floor() * step;
        let hi = (max / step).ceil() * step;
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return FALLBACK;
        }
        let mut decimals = 0;
        let mut s = step;
        while s < 0.999_999 && decimals < 6 {
            s *= 10.0;
            decimals += 1;
        }
        Axis {
            lo,
            hi,
            step,
            decimals,
        }
    }

    fn fraction(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }

    fn ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut k = 0.0;
        // Bounded: the span is a whole number of steps, a handful at most.
        while ticks.len() < 50 {
            let t = self.lo + k * self.step;
            if t > self.hi + self.step * 1e-6 {
                break;
            }
            ticks.push(t);
            k += 1.0;
        }
        ticks
    }

    fn label(&self, v: f64) -> String {
        // `+ 0.0` turns -0.0 into 0.0 so no tick reads "-0".
        format!("{:.*}", self.decimals, v + 0.0)
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let base = 10_f64.powf(raw.log10().floor());
    let f = raw / base;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * base
}

/// The time axis, in whole milliseconds so ticks land exactly on the hour.
struct TimeAxis {
    lo: i64,
    hi: i64,
    step: i64,
}

impl TimeAxis {
    fn new(min_ms: i64, max_ms: i64) -> Self {
        const STEPS_MIN: [i64; 12] = [5, 10, 15, 30, 60, 120, 180, 240, 360, 480, 720, 1440];
        let min_ms = min_ms.min(0);
        let max_ms = max_ms.max(0);
        let span = max_ms.saturating_sub(min_ms).max(1);
        let mut step = STEPS_MIN
            .iter()
            .map(|m| m * MS_PER_MIN)
            .find(|s| span / s <= 8)
            .unwrap_or(24 * MS_PER_HOUR);
        while span / step > 8 {
            step = step.saturating_mul(2);
        }
        let lo = min_ms.div_euclid(step) * step;
        let mut hi = max_ms.div_euclid(step) * step;
        if hi < max_ms {
            hi = hi.saturating_add(step);
        }
        if hi <= lo {
            hi = lo.saturating_add(step);
        }
        TimeAxis { lo, hi, step }
    }

    fn fraction(&self, t: i64) -> f64 {
        ms_to_f64(t - self.lo) / ms_to_f64(self.hi - self.lo)
    }

    fn ticks(&self) -> Vec<i64> {
        let mut ticks = Vec::new();
        let mut t = self.lo;
        while t <= self.hi && ticks.len() < 50 {
            ticks.push(t);
            t = t.saturating_add(self.step);
        }
        ticks
    }

    fn label(&self, t: i64) -> String {
        if self.step % MS_PER_HOUR == 0 {
            format!("{} h", t / MS_PER_HOUR)
        } else {
            let sign = if t < 0 { "-" } else { "" };
            let minutes = t.unsigned_abs() / 60_000;
            format!("{sign}{}:{:02}", minutes / 60, minutes % 60)
        }
    }
}

/// A coordinate written into SVG: always one decimal, never NaN or "-0.0",
/// so the output is byte-stable.
struct Px(f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() {
            self.0 + 0.0
        } else {
            0.0
        };
        write!(f, "{v:.1}")
    }
}

/// Rough width of sans-serif text at 11 px, enough to lay out a legend.
fn text_width(s: &str) -> f64 {
    s.chars().fold(0.0, |w, _| w + 6.5)
}

// Chart coordinates only: precision loss past 2^53 ms (~285,000 years) or
// 2^53 bars cannot happen, and would only blur a pixel if it did.
#[allow(clippy::cast_precision_loss)]
fn ms_to_f64(ms: i64) -> f64 {
    ms as f64
}

#[allow(clippy::cast_precision_loss)]
fn count_f64(n: usize) -> f64 {
    n as f64
}

// ---------------------------------------------------------------------------
// Text

/// Escapes text for HTML element content and attribute values alike.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Shortens long names for chart labels; tables show them in full.
fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn badge(value: u64) -> &'static str {
    if value == 0 {
        "<span class=\"badge pass\">PASS</span>"
    } else {
        "<span class=\"badge fail\">FAIL</span>"
    }
}

/// One quantile cell; a flow with no samples has no latency to show.
fn q(quantiles: &Quantiles, pick: impl Fn(&Quantiles) -> i64) -> String {
    if quantiles.count == 0 {
        "–".to_owned()
    } else {
        fmt_ms(pick(quantiles))
    }
}

/// A latency for humans: "850 ms", "12.4 s", "3 min 20 s", "1 h 05 min".
fn fmt_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    // Each unit rounds to its own precision; a value that rounds up into the
    // next unit is shown in that unit ("60.0 s" becomes "1 min 00 s").
    if ms < 1_000 {
        return format!("{sign}{ms} ms");
    }
    let tenths = ms.saturating_add(50) / 100;
    if tenths < 600 {
        return format!("{sign}{}.{} s", tenths / 10, tenths % 10);
    }
    let secs = ms.saturating_add(500) / 1_000;
    if secs < 3_600 {
        return format!("{sign}{} min {:02} s", secs / 60, secs % 60);
    }
    let mins = ms.saturating_add(30_000) / 60_000;
    format!("{sign}{} h {:02} min", mins / 60, mins % 60)
}

/// A span of simulated time, dropping zero parts: "24 h", "1 h 30 min".
fn fmt_span(ms: i64) -> String {
    if ms <= 0 {
        return "0 s".to_owned();
    }
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    let secs = ms.unsigned_abs().saturating_add(500) / 1_000;
    let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// An offset from the start as HH:MM (hours may pass 24 on a long run).
fn fmt_offset(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let minutes = ms.unsigned_abs() / 60_000;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A count with thousands separators: 12,345.
fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A configured rate such as 5 or 2.5, without trailing zeros.
fn fmt_decimal(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let s = format!("{:.2}", v + 0.0);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn fmt_pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1} %", v + 0.0)
    } else {
        "–".to_owned()
    }
}

/// Breaches as a percentage of samples, in integer arithmetic so it cannot
/// be NaN and rounds the same everywhere.
fn breach_pct(breaches: u64, samples: u64) -> String {
    if samples == 0 {
        return "–".to_owned();
    }
    let samples = u128::from(samples);
    let basis_points = (u128::from(breaches) * 10_000 + samples / 2) / samples;
    format!("{}.{:02} %", basis_points / 100, basis_points % 100)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::{Duplicates, ErpReport, Invariants, Totals};

    fn quantiles(p50: i64, p95: i64, p99: i64) -> Quantiles {
        Quantiles {
            count: 100,
            p50_ms: p50,
            p95_ms: p95,
            p99_ms: p99,
            max_ms: p99 + 1,
        }
    }

    fn series(values: &[f64]) -> Vec<Sample> {
        values
            .iter()
            .zip(0_i64..)
            .map(|(v, i)| Sample {
                at_ms: i * MS_PER_HOUR,
                value: *v,
            })
            .collect()
    }

    const EVIL: &str = "mkt<script>alert('x')</script>";

    fn sample_report() -> Report {
        let web = ChannelReport {
            name: "web".into(),
            ingest: "webhook".into(),
            orders_placed: 1_200,
            orders_ingested: 1_200,
            ingest_latency: quantiles(850, 12_400, 200_000),
            erp_acceptance: quantiles(1_500, 45_000, 3_900_000),
            ship_confirm: quantiles(60_000, 600_000, 900_000),
            inventory_sync: quantiles(2_000, 30_000, 60_000),
            webhooks_duplicated: 3,
            webhooks_reordered: 2,
            webhooks_lost: 1,
            availability_updates: 40,
            throttled: 5,
        };
        let evil = ChannelReport {
            name: EVIL.into(),
            ingest: "poll".into(),
            orders_placed: 300,
            orders_ingested: 300,
            ..ChannelReport::default()
        };
        let mut orders_per_hour = BTreeMap::new();
        orders_per_hour.insert("web".to_owned(), series(&[10.0, 80.0, 120.0, 40.0]));
        orders_per_hour.insert(EVIL.to_owned(), series(&[5.0, 7.0, 9.0, 3.0]));
        let mut exceptions = BTreeMap::new();
        exceptions.insert("transient".to_owned(), 2);
        exceptions.insert("<b>odd</b>".to_owned(), 1);
        Report {
            scenario: "black-friday & <co>".into(),
            seed: 42,
            start: "2025-11-28T00:00:00Z".into(),
            duration_ms: 24 * MS_PER_HOUR,
            drained_ms: 90 * MS_PER_MIN,
            totals: Totals {
                orders_placed: 1_500,
                orders_ingested: 1_500,
                ..Totals::default()
            },
            invariants: Invariants::default(),
            channels: vec![web, evil],
            erp: ErpReport {
                requests_per_sec: 2.5,
                max_concurrency: 4,
                calls: 4_000,
                calls_by_operation: BTreeMap::from([("sales_order.create".to_owned(), 1_500)]),
                throttled: 12,
                failed_in_outage: 7,
                peak_backlog: 250,
                peak_backlog_at_ms: 11 * MS_PER_HOUR + 45 * MS_PER_MIN,
                drain_time_ms: Some(200_000),
                utilisation_mean_pct: 61.25,
                utilisation_peak_pct: 100.0,
                backlog: series(&[0.0, 120.0, 250.0, 10.0]),
                utilisation: series(&[20.0, 90.0, 100.0, 35.0]),
            },
            warehouses: vec![WarehouseReport {
                name: "leeds".into(),
                kind: "3pl".into(),
                releases: 1_400,
                shipments: 1_390,
                units_shipped: 2_100,
                short_shipped_units: 3,
                refused_in_outage: 0,
                release_to_ship: quantiles(3_600_000, 7_200_000, 9_000_000),
                ship_confirm: quantiles(600_000, 1_800_000, 2_400_000),
            }],
            exceptions,
            sla: vec![
                SlaRow {
                    flow: "order_ingest".into(),
                    scope: "channel".into(),
                    name: "web".into(),
                    target_ms: 60_000,
                    samples: 1_200,
                    breaches: 0,
                },
                SlaRow {
                    flow: "ship_confirm".into(),
                    scope: "warehouse".into(),
                    name: "leeds".into(),
                    target_ms: 1_800_000,
                    samples: 1_390,
                    breaches: 37,
                },
            ],
            orders_per_hour,
        }
    }

    fn assert_clean(html: &str) {
        assert!(!html.contains("NaN"), "NaN in output");
        assert!(!html.contains("inf"), "inf in output");
        assert!(!html.contains("-0.0"), "negative zero in output");
    }

    #[test]
    fn renders_a_complete_document() {
        let html = render(&sample_report());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 4);
        assert_eq!(html.matches("</svg>").count(), 4);
        assert!(html.contains("Crossdock peak-day rehearsal — black-friday &amp; &lt;co&gt;"));
        assert!(html.contains("24 h"));
        assert!(html.contains("1 h 30 min"));
        for title in [
            "ERP backlog over time",
            "ERP utilisation (% of limit)",
            "Orders per hour by channel",
            "Ship-confirm p95 by warehouse",
        ] {
            assert!(html.contains(title), "missing chart {title}");
        }
        // The reference line on the utilisation chart.
        assert!(html.contains("stroke-dasharray=\"6 4\""));
        // One polyline per channel plus backlog and utilisation.
        assert_eq!(html.matches("<polyline").count(), 4);
        assert!(html.contains("2.5 requests/s, 4 concurrent"));
        assert!(html.contains("250 at 11:45 from start"));
        assert!(html.contains("3 min 20 s"));
        assert!(html.contains("1,200"));
        assert_clean(&html);
    }

    #[test]
    fn escapes_names_from_the_report() {
        let html = render(&sample_report());
        assert!(html.contains("mkt&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;b&gt;odd&lt;/b&gt;"));
        assert!(!html.contains("<b>odd"));
        assert_eq!(escape("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&#39;");
    }

    #[test]
    fn invariant_badges_follow_the_counts() {
        let mut report = sample_report();
        let html = render(&report);
        assert!(html.contains("PASS"));
        assert!(!html.contains("FAIL"));

        report.invariants.lost_orders = 1;
        let html = render(&report);
        assert!(html.contains("FAIL"));
        assert_eq!(
            html.matches("FAIL").count(),
            2,
            "verdict and the lost-orders row"
        );

        report.invariants = Invariants {
            duplicates: Duplicates {
                invoices: 2,
                ..Duplicates::default()
            },
            ..Invariants::default()
        };
        let html = render(&report);
        // The invoices row, the total row and the verdict.
        assert_eq!(html.matches("FAIL").count(), 3);
    }

    #[test]
    fn highlights_breached_sla_rows_only() {
        let html = render(&sample_report());
        assert_eq!(html.matches("<tr class=\"breach\">").count(), 1);
        assert!(html.contains("2.66 %"));
        assert!(html.contains("0.00 %"));
    }

    #[test]
    fn empty_and_flat_series_render() {
        let empty: &[Sample] = &[];
        let chart = line_chart("empty", &[("a", PALETTE[0], empty)], "y", None);
        assert!(chart.starts_with("<svg"));
        assert!(chart.contains("no data"));
        assert_clean(&chart);

        let chart = line_chart("nothing", &[], "y", Some((100.0, "limit")));
        assert!(chart.contains("no data"));
        assert_clean(&chart);

        let zeros = series(&[0.0, 0.0, 0.0]);
        let chart = line_chart("zeros", &[("a", PALETTE[0], &zeros)], "y", None);
        assert!(chart.contains("<polyline"));
        assert!(!chart.contains("no data"));
        assert_clean(&chart);

        let one = series(&[3.0]);
        let chart = line_chart("one", &[("a", PALETTE[0], &one)], "y", None);
        assert!(chart.contains("<circle"));
        assert_clean(&chart);

        let odd = vec![
            Sample {
                at_ms: 0,
                value: f64::NAN,
            },
            Sample {
                at_ms: MS_PER_HOUR,
                value: f64::INFINITY,
            },
            Sample {
                at_ms: 2 * MS_PER_HOUR,
                value: 1.0,
            },
        ];
        let chart = line_chart("odd", &[("a", PALETTE[0], &odd)], "y", None);
        assert_clean(&chart);

        let bars = bar_chart("bars", &[]);
        assert!(bars.contains("no data"));
        assert_clean(&bars);
        let bars = bar_chart("bars", &[("a", Some(0)), ("b", None)]);
        assert!(bars.contains("no shipments"));
        assert_clean(&bars);
    }

    #[test]
    fn renders_an_empty_report() {
        let report = Report {
            scenario: String::new(),
            seed: 0,
            start: String::new(),
            duration_ms: 0,
            drained_ms: 0,
            totals: Totals::default(),
            invariants: Invariants::default(),
            channels: Vec::new(),
            erp: ErpReport {
                utilisation_mean_pct: f64::NAN,
                drain_time_ms: None,
                ..ErpReport::default()
            },
            warehouses: Vec::new(),
            exceptions: BTreeMap::new(),
            sla: Vec::new(),
            orders_per_hour: BTreeMap::new(),
        };
        let html = render(&report);
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(html.contains("did not drain"));
        assert!(html.contains("<p>none</p>"));
        assert_clean(&html);
    }

    #[test]
    fn many_channels_get_distinct_styles() {
        let mut report = sample_report();
        for i in 0..12 {
            report
                .orders_per_hour
                .insert(format!("ch{i:02}"), series(&[1.0, 2.0]));
        }
        let html = render(&report);
        // Series 11 onwards reuse colours but are dashed.
        assert!(html.contains("stroke-dasharray=\"5 3\""));
        assert_clean(&html);
    }

    #[test]
    fn output_is_stable() {
        assert_eq!(render(&sample_report()), render(&sample_report()));
    }

    #[test]
    fn formats_times_for_humans() {
        assert_eq!(fmt_ms(850), "850 ms");
        assert_eq!(fmt_ms(12_400), "12.4 s");
        assert_eq!(fmt_ms(59_960), "1 min 00 s");
        assert_eq!(fmt_ms(200_000), "3 min 20 s");
        assert_eq!(fmt_ms(3_900_000), "1 h 05 min");
        assert_eq!(fmt_ms(-850), "-850 ms");
        assert_eq!(fmt_span(24 * MS_PER_HOUR), "24 h");
        assert_eq!(fmt_span(90 * MS_PER_MIN), "1 h 30 min");
        assert_eq!(fmt_span(0), "0 s");
        assert_eq!(fmt_offset(11 * MS_PER_HOUR + 45 * MS_PER_MIN), "11:45");
        assert_eq!(fmt_offset(26 * MS_PER_HOUR), "26:00");
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_decimal(2.5), "2.5");
        assert_eq!(fmt_decimal(50.0), "50");
        assert_eq!(breach_pct(1, 3), "33.33 %");
    }

    #[test]
    fn axes_use_round_ticks() {
        let axis = Axis::new(0.0, 250.0);
        assert_eq!(axis.ticks(), vec![0.0, 100.0, 200.0, 300.0]);
        let axis = Axis::new(0.0, 0.0);
        assert_eq!(axis.ticks().len(), 5);
        let axis = Axis::new(0.0, 0.3);
        assert_eq!(axis.label(axis.step), "0.1");
        let time = TimeAxis::new(0, 24 * MS_PER_HOUR);
        assert_eq!(time.step, 3 * MS_PER_HOUR);
        assert_eq!(time.label(6 * MS_PER_HOUR), "6 h");
        let time = TimeAxis::new(0, 40 * MS_PER_MIN);
        assert_eq!(time.label(30 * MS_PER_MIN), "0:30");
    }
}
