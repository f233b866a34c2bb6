//! A rehearsal of the peak-season scenario, shortened to a couple of hours
//! that hold a peak and an ERP outage: the invariants hold, every order
//! placed is accounted for, and the same seed gives the same bytes.

use std::path::Path;

use crossdock_rehearsal::{Report, Scenario, rehearse};

/// The shipped scenario, cut to three hours: normal demand, then a peak
/// (three times normal) from 1:30 to 2:30 with the ERP down from 2:00 for
/// 20 minutes. Warehouses pick and batch faster so the run drains sooner.
fn short_peak() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/peak-season.toml");
    let text = std::fs::read_to_string(&path).expect("the shipped scenario");
    let text = text
        .replace("duration = \"24h\"", "duration = \"3h\"")
        .replace(
            "{ from = \"00:00\", to = \"07:00\", multiplier = 0.3 }, ",
            "",
        )
        .replace(
            "{ from = \"10:00\", to = \"16:00\", multiplier = 3.0 }",
            "{ from = \"01:30\", to = \"02:30\", multiplier = 3.0 }",
        )
        .replace("from = \"13:10\"", "from = \"02:00\"")
        .replace("pick_time = \"90m\"", "pick_time = \"20m\"")
        .replace("pick_time = \"2h\"", "pick_time = \"30m\"")
        .replace("batch_every = \"1h\"", "batch_every = \"20m\"");
    assert!(text.contains("from = \"01:30\""), "the peak was moved");
    assert!(text.contains("pick_time = \"30m\""), "the 3PL picks faster");
    Scenario::from_toml("short-peak.toml", &text).expect("valid")
}

async fn run(seed: u64) -> Report {
    rehearse(short_peak(), seed, &mut |_| {})
        .await
        .expect("the rehearsal runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_peak_keeps_every_promise_and_replays_byte_for_byte() {
    let first = run(11).await;
    let inv = &first.invariants;
    assert_eq!(inv.oversold_units, 0, "{inv:?}");
    assert_eq!(inv.duplicates.total(), 0, "{inv:?}");
    assert_eq!(inv.lost_orders, 0, "{inv:?}");

    let t = &first.totals;
    assert!(t.orders_placed > 100, "a peak has orders: {t:?}");
    assert_eq!(
        t.orders_ingested, t.orders_placed,
        "every order reached the hub"
    );
    assert!(
        t.orders_shipped * 10 >= t.orders_placed * 9,
        "nearly every order shipped (the rest cancelled or held): {t:?}"
    );
    assert_eq!(t.jobs_open_at_end, 0, "the hub drained: {t:?}");
    // The ERP was down: calls failed and the governor held the rest back
    // without the ERP ever refusing one for its limit.
    assert!(
        first.erp.failed_in_outage > 0,
        "{:?}",
        first.erp.failed_in_outage
    );
    assert_eq!(first.erp.throttled, 0, "the ERP's limit was never exceeded");
    assert!(first.erp.peak_backlog > 0);
    assert!(
        first.channels.iter().all(|c| c.throttled == 0),
        "no channel limit exceeded"
    );
    // Webhook faults happened and changed nothing.
    let faults: u64 = first
        .channels
        .iter()
        .map(|c| c.webhooks_duplicated + c.webhooks_lost + c.webhooks_reordered)
        .sum();
    assert!(faults > 0, "the scenario's faults fired");
    // Shipments reached the channels from both warehouses.
    assert!(first.warehouses.iter().all(|w| w.ship_confirm.count > 0));

    let again = run(11).await;
    let bytes = |r: &Report| serde_json::to_vec_pretty(r).expect("json");
    assert!(
        bytes(&first) == bytes(&again),
        "the same seed must give the same report"
    );
    let other = run(12).await;
    assert_ne!(bytes(&first), bytes(&other), "another seed, another day");
}
