use std::collections::BTreeMap;

use super::axis::{Axis, TimeAxis};
use super::charts::{PALETTE, bar_chart, line_chart};
use super::format::{
    MS_PER_HOUR, MS_PER_MIN, breach_pct, escape, fmt_count, fmt_decimal, fmt_ms, fmt_offset,
    fmt_span,
};
use super::render;
use crate::report::{ChannelReport, Quantiles, Report, Sample, SlaRow, WarehouseReport};
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
