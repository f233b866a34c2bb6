//! The system-of-record registry (`[authority]`): an update from a system
//! that is not the record of its data is kept, visible (`/v1/authority`,
//! the exception queue, the order's timeline), counted
//! (`crossdock_authority_rejected_total`) and not applied — for the ERP's
//! stock at a 3PL's location, a channel moving an order the hub owns, and a
//! warehouse reporting a shipment of another warehouse's order. Plus
//! `crossdock authority show` and `config check`'s refusal of an entry
//! naming a system the hub does not have.

use crate::support::crossdock;
use std::time::Duration;

use chrono::Utc;
use crossdock_model::{InventoryPosition, Owner};
use serde_json::{Value, json};

use crate::support::app::{
    CHANNEL, TestApp, event_id, order_doc, order_id, spawn_app_with, wait_until,
};

const WAIT: Duration = Duration::from_secs(20);

/// The hub's counter line for `kind` and `source`, if `/metrics` has one.
async fn rejected_metric(app: &TestApp, kind: &str, source: &str) -> Option<f64> {
    let text = app.get("/metrics").await.body;
    let text = text.as_str().expect("metrics are text").to_owned();
    text.lines()
        .find(|l| {
            l.starts_with("crossdock_authority_rejected_total{")
                && l.contains(&format!("kind=\"{kind}\""))
                && l.contains(&format!("source=\"{source}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `GET /v1/authority`.
async fn authority(app: &TestApp) -> Value {
    let r = app.get("/v1/authority").await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

/// A hub whose warehouses take their time to ship (the order stays
/// released, so only the test's messages move it), with `tweak` applied.
async fn slow_warehouses_app(tweak: impl FnOnce(&mut crossdock::config::Config)) -> TestApp {
    spawn_app_with(|sim, config| {
        for w in &mut sim.warehouses {
            w.ship_delay_ms = 600_000;
        }
        tweak(config);
    })
    .await
}

/// (a) West is a 3PL's location whose stock is the 3PL's word: the ERP's
/// report of it is kept, visible and counted, not applied; the ERP's word
/// on east applies, and so does the 3PL's on west.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_erps_stock_report_for_a_3pl_location_is_kept_not_applied() {
    let app = spawn_app_with(|_, config| {
        config.authority.stock.default = Some(Owner::parse("erp").unwrap());
        config
            .authority
            .stock
            .scoped
            .insert("west".into(), Owner::parse("warehouse:west").unwrap());
    })
    .await;
    let sku = "SKU-AUTH-A";
    let r = app
        .client
        .post(format!("{}/sim/stock", app.estate.erp_url()))
        .json(&json!({ "positions": [
            { "sku": sku, "location": "east", "on_hand": 9 },
            { "sku": sku, "location": "west", "on_hand": 70 },
        ] }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{r:?}");
    app.engine.availability().refresh_stock_from_erp().await;

    let positions = app.store.positions(Some(sku)).await.unwrap();
    let at = |l: &str| positions.iter().find(|p| p.location == l).cloned();
    assert_eq!(
        at("east").map(|p| (p.on_hand, p.source)),
        Some((9, "erp".into()))
    );
    assert!(
        at("west").is_none(),
        "the ERP's west was applied: {positions:?}"
    );

    let kept = app.store.stock_reports(sku, 10).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (
            kept[0].location.as_str(),
            kept[0].source.as_str(),
            kept[0].on_hand
        ),
        ("west", "erp", 70)
    );
    assert!(kept[0].note.contains("warehouse:west"), "{:?}", kept[0]);

    let seen = authority(&app).await;
    assert_eq!(
        seen["registry"]["stock"]["west"], "warehouse:west",
        "{seen}"
    );
    assert_eq!(seen["registry"]["stock"]["default"], "erp", "{seen}");
    assert!(
        seen["unapplied"]["stock"]["by_source"]["erp"].as_i64() >= Some(1),
        "{seen}"
    );
    assert!(
        seen["recent_stock_reports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["sku"] == sku && r["location"] == "west" && r["on_hand"] == 70),
        "{seen}"
    );
    assert!(rejected_metric(&app, "stock", "erp").await >= Some(1.0));

    // The 3PL's own report of west is the one that applies.
    let (applied, kept) = app
        .engine
        .availability()
        .apply_stock_report(
            "warehouse:west",
            &[InventoryPosition {
                sku: sku.into(),
                location: "west".into(),
                on_hand: 12,
                reserved: 0,
                source: "warehouse:west".into(),
                as_of: Utc::now(),
            }],
        )
        .await
        .unwrap();
    assert_eq!((applied, kept), (1, 0));
    let west = app.store.positions(Some(sku)).await.unwrap();
    assert!(
        west.iter().any(|p| p.location == "west" && p.on_hand == 12),
        "{west:?}"
    );
    app.stop().await;
}

/// (b) The hub owns order status: the channel's cancellation of an order
/// the hub has released is kept (an `authority` exception, a kept update on
/// the timeline and in `/v1/authority`), counted, and not applied — nothing
/// is cancelled at the warehouse or the ERP.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_channels_cancellation_of_an_order_the_hub_owns_is_kept_not_applied() {
    let app = slow_warehouses_app(|config| {
        config.authority.order_status.default = Some(Owner::parse("hub").unwrap());
    })
    .await;
    let ext = "WS-AUTH-B1";
    let id = order_id(ext);
    assert_eq!(
        app.post_order(&order_doc(ext, 1), &event_id()).await.status,
        200
    );
    app.wait_for_status(&id, "released_to_warehouse", WAIT)
        .await;

    let mut cancelled = order_doc(ext, 2);
    cancelled["status"] = json!("cancelled");
    assert_eq!(app.post_order(&cancelled, &event_id()).await.status, 200);
    let ex = wait_until(WAIT, || async {
        app.exceptions("?class=authority").await.into_iter().next()
    })
    .await
    .expect("an authority exception");
    assert_eq!(ex["step"], "channel_message", "{ex}");
    let reason = ex["reason"].as_str().unwrap();
    assert!(reason.contains("[authority].order_status"), "{reason}");
    assert!(reason.contains("released_to_warehouse"), "{reason}");

    // Not applied: still released, nothing cancelled anywhere.
    assert_eq!(
        app.order_status(&id).await.as_deref(),
        Some("released_to_warehouse")
    );
    let timeline = app.timeline(&id).await;
    assert!(
        !timeline.iter().any(|e| e["kind"] == "warehouse_cancel"),
        "{timeline:?}"
    );
    let kept = timeline
        .iter()
        .find(|e| e["kind"] == "update_not_applied")
        .unwrap_or_else(|| panic!("no kept update on the timeline: {timeline:?}"));
    assert_eq!(kept["detail"]["data"], "order_status");
    assert_eq!(kept["detail"]["source"], format!("channel:{CHANNEL}"));
    assert_eq!(kept["detail"]["authority"], "hub");
    let erp = app.erp_stats().await;
    assert_eq!(erp["sales_orders_cancelled"], 0, "{erp}");

    let seen = authority(&app).await;
    assert_eq!(seen["registry"]["order_status"], "hub", "{seen}");
    assert_eq!(seen["unapplied"]["order_status"]["total"], 1, "{seen}");
    assert_eq!(
        seen["unapplied"]["order_status"]["by_source"][format!("channel:{CHANNEL}")],
        1,
        "{seen}"
    );
    let recent = &seen["recent"][0];
    assert_eq!(recent["kind"], "order_status", "{seen}");
    assert_eq!(recent["entity_key"], format!("order:{id}"), "{seen}");
    assert!(recent["inbox_id"].is_i64(), "{seen}");
    assert!(
        rejected_metric(&app, "order_status", &format!("channel:{CHANNEL}")).await >= Some(1.0)
    );
    app.stop().await;
}

/// (c) An order released to one warehouse: another warehouse's shipment
/// report for it is kept, visible, counted and not applied (no units
/// consumed, nothing confirmed to the channel); the right warehouse's
/// report then ships it, and the channel hears of one shipment, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warehouses_shipment_of_another_warehouses_order_is_kept_not_applied() {
    let app = slow_warehouses_app(|_| {}).await;
    let ext = "WS-AUTH-C1";
    let id = order_id(ext);
    assert_eq!(
        app.post_order(&order_doc(ext, 1), &event_id()).await.status,
        200
    );
    let view = app
        .wait_for_status(&id, "released_to_warehouse", WAIT)
        .await;
    let released = view["reservations"][0]["location"]
        .as_str()
        .expect("a reservation's location")
        .to_owned();
    let other = if released == "east" { "west" } else { "east" };
    let shipment = |warehouse: &str, n: u32| {
        serde_json::to_vec(&json!({
            "shipment_id": format!("SH-{warehouse}-{n}"),
            "request_id": format!("{id}:{warehouse}"),
            "order_id": id,
            "carrier": "UPS",
            "tracking_number": format!("1Z-{warehouse}-{n}"),
            "shipped_at": "2026-11-27T10:00:00Z",
            "lines": [{ "line_id": "1", "sku": "SKU-001", "quantity": 2 }]
        }))
        .unwrap()
    };

    let r = app
        .post_signed(
            &format!("/webhooks/warehouses/{other}"),
            "wrong-warehouse-1",
            shipment(other, 1),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let ex = wait_until(WAIT, || async {
        app.exceptions("?class=authority").await.into_iter().next()
    })
    .await
    .expect("an authority exception");
    assert_eq!(ex["step"], "warehouse_shipment", "{ex}");
    let reason = ex["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("warehouse:{other}")), "{reason}");
    assert!(
        reason.contains(&format!("warehouse:{released}'s")),
        "{reason}"
    );

    let view = app.order_view(&id).await.unwrap();
    assert_eq!(view["order"]["status"], "released_to_warehouse", "{view}");
    assert_eq!(view["shipments"], json!([]), "{view}");
    assert_eq!(view["order"]["lines"][0]["shipped_quantity"], 0, "{view}");
    assert!(app.channel.confirmations_for(ext).is_empty());
    let seen = authority(&app).await;
    assert_eq!(seen["unapplied"]["shipments"]["total"], 1, "{seen}");
    assert_eq!(
        seen["unapplied"]["shipments"]["by_source"][format!("warehouse:{other}")],
        1,
        "{seen}"
    );
    assert_eq!(
        seen["recent"][0]["authority"],
        format!("warehouse:{released}")
    );
    assert!(rejected_metric(&app, "shipments", &format!("warehouse:{other}")).await >= Some(1.0));

    // The warehouse of record ships it: applied once, confirmed once.
    let r = app
        .post_signed(
            &format!("/webhooks/warehouses/{released}"),
            "right-warehouse-1",
            shipment(&released, 1),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let view = app.wait_for_status(&id, "closed", WAIT).await;
    let shipments = view["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 1, "{view}");
    assert_eq!(
        shipments[0]["shipment"]["warehouse"],
        released.as_str(),
        "{view}"
    );
    assert_eq!(view["order"]["lines"][0]["shipped_quantity"], 2, "{view}");
    assert_eq!(app.channel.confirmations_for(ext).len(), 1);
    // The kept report is still one kept report.
    assert_eq!(authority(&app).await["unapplied"]["shipments"]["total"], 1);
    app.stop().await;
}

/// `authority show` prints the effective registry (human and JSON), the
/// deprecated `[inventory.authority]` is read into it with a warning, and
/// `config check` refuses an entry naming a system the hub does not have,
/// with its key path.
#[test]
fn authority_show_prints_the_registry_and_config_check_refuses_unknown_systems() {
    let dir = tempfile::tempdir().unwrap();
    let printed = crossdock()
        .args(["demo", "--print-config"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    // The demo prints its (effective) registry; take it out for ours.
    let mut base = String::new();
    let mut in_authority = false;
    for l in text.lines() {
        if l.starts_with('[') {
            in_authority = l.starts_with("[authority]") || l.starts_with("[authority.");
        }
        if !in_authority {
            base.push_str(l);
            base.push('\n');
        }
    }
    assert_ne!(base, text, "the demo prints [authority]");
    let path = dir.path().join("hub.toml");
    let write = |authority: &str| {
        std::fs::write(&path, format!("{base}\n{authority}\n")).unwrap();
    };

    write(
        "[authority]\norder_status = \"hub\"\nstock = { default = \"erp\", west = \"warehouse:west\" }\n",
    );
    let out = crossdock()
        .args(["authority", "show", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let human = String::from_utf8(out.stdout).unwrap();
    let line = |kind: &str| {
        human
            .lines()
            .find(|l| l.starts_with(&format!("{kind} ")))
            .unwrap_or_else(|| panic!("no {kind} line in:\n{human}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("order_status"), "order_status hub");
    assert_eq!(line("stock"), "stock erp west = warehouse:west");
    assert_eq!(line("shipments"), "shipments warehouse-of-record");
    assert_eq!(line("customer"), "customer channel");
    let out = crossdock()
        .args(["authority", "show", "--json", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["order_status"], "hub");
    assert_eq!(
        json["stock"],
        json!({ "default": "erp", "west": "warehouse:west" })
    );
    assert_eq!(json["shipments"], "warehouse-of-record");

    // The old table is read into [authority].stock, with a warning.
    let old = base.replacen(
        "[inventory]\n",
        "[inventory]\nauthority = { west = \"warehouse:west\" }\n",
        1,
    );
    assert_ne!(old, base, "the demo prints an [inventory] table");
    std::fs::write(&path, &old).unwrap();
    let out = crossdock()
        .args(["authority", "show", "--json", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stock"]["west"], "warehouse:west");
    let warning = String::from_utf8(out.stderr).unwrap();
    assert!(
        warning.contains("[inventory.authority] is deprecated"),
        "{warning}"
    );

    // An entry naming a warehouse, a channel or a location the hub lacks.
    for (entry, key, named) in [
        (
            "stock = { west = \"warehouse:tpl\" }",
            "authority.stock.west",
            "\"tpl\"",
        ),
        (
            "shipments = \"warehouse:nowhere\"",
            "authority.shipments.default",
            "\"nowhere\"",
        ),
        (
            "customer = { webstore = \"channel:amazon\" }",
            "authority.customer.webstore",
            "\"amazon\"",
        ),
        (
            "order_status = { amazon = \"hub\" }",
            "authority.order_status.amazon",
            "\"amazon\"",
        ),
    ] {
        write(&format!("[authority]\n{entry}\n"));
        let out = crossdock()
            .args(["config", "check"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{entry} was accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(&format!("key {key}")), "{entry}: {err}");
        assert!(err.contains(named), "{entry}: {err}");
    }
    // A misspelt owner is refused with its line.
    write("[authority]\nprices = \"warehous:east\"\n");
    let out = crossdock()
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("names no system"), "{err}");
}
