//! The hub's HTTP surface and workflow, driven from outside like the
//! webstore and the warehouses do (zero2prod-style `spawn_app`): a whole hub
//! in-process on SQLite in a temp dir, in front of the simulated estate.

use std::time::{Duration, Instant};

use crate::support::app::{
    CHANNEL, Reply, TestApp, event_id, order_doc, order_id, spawn_app, spawn_app_with, wait_until,
};
use crossdock_model::ErpAcceptance;
use crossdock_sim::Outage;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn webhook_path() -> String {
    format!("/webhooks/channels/{CHANNEL}")
}

/// The hub's error shape: `{"error":{"code","message"}}`; returns the message.
fn error_message(r: &Reply, code: &str) -> String {
    assert!(r.content_type.starts_with("application/json"), "{r:?}");
    let err = r.body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object: {r:?}"));
    assert_eq!(err["code"], code, "{r:?}");
    err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {r:?}"))
        .to_owned()
}

/// Wait until the order's timeline holds an event matching `pred`.
async fn wait_for_event(
    app: &TestApp,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let found = wait_until(WAIT, || async {
        app.timeline(id).await.into_iter().find(|e| pred(e))
    })
    .await;
    match found {
        Some(e) => e,
        None => panic!("no {what} event on {id}: {:?}", app.timeline(id).await),
    }
}

fn warehouse_total(stats: &Value, key: &str) -> u64 {
    stats["warehouses"]
        .as_object()
        .expect("warehouses")
        .values()
        .map(|w| w[key].as_u64().unwrap_or(0))
        .sum()
}

// ------------------------------------------------------------ 1. happy path

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn happy_path_via_webhook_closes_the_order() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
    }

    let ext = "WS-100001";
    let r = app.post_order(&order_doc(ext, 1), &event_id()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["duplicate"], false, "{r:?}");
    assert!(r.body["inbox_id"].as_i64().is_some(), "{r:?}");
    assert!(
        r.body.get("acceptance").is_none(),
        "async channel answers without acceptance: {r:?}"
    );

    let id = order_id(ext);
    let view = app.wait_for_status(&id, "closed", WAIT).await;
    let order = &view["order"];
    assert_eq!(order["external_id"], ext);
    assert_eq!(order["channel"], CHANNEL);
    let erp_ref = order["erp_ref"].as_str().expect("erp_ref").to_owned();
    assert!(erp_ref.starts_with("SO-"), "{erp_ref}");
    assert_eq!(order["lines"][0]["shipped_quantity"], 2, "{order}");

    // The timeline: received, then every status change forward, in order.
    let events = app.timeline(&id).await;
    assert_eq!(events[0]["kind"], "received", "{events:?}");
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "status_changed")
        .collect();
    let to: Vec<&str> = changes
        .iter()
        .map(|e| e["detail"]["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        [
            "validated",
            "reserved",
            "accepted_by_erp",
            "released_to_warehouse",
            "shipped",
            "confirmed_to_channel",
            "invoiced",
            "closed"
        ],
        "{events:?}"
    );
    let mut previous = "received";
    for c in &changes {
        assert_eq!(c["detail"]["from"], previous, "chained transitions: {c}");
        previous = c["detail"]["to"].as_str().unwrap();
    }
    let ats: Vec<i64> = events.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] <= w[1]),
        "timeline in time order: {ats:?}"
    );

    // Each external effect exactly once.
    let stats = app.estate.stats().await;
    assert_eq!(app.sales_orders_for(ext).await, 1, "{}", stats["erp"]);
    assert_eq!(stats["erp"]["duplicate_sales_orders"], 0);
    assert_eq!(
        stats["erp"]["invoices_per_reference"][format!("{CHANNEL}:{ext}:invoice")],
        1,
        "{}",
        stats["erp"]
    );
    assert_eq!(
        warehouse_total(&stats, "requests"),
        1,
        "{}",
        stats["warehouses"]
    );
    assert_eq!(warehouse_total(&stats, "duplicate_requests"), 0);
    let confirmations = app.channel.confirmations_for(ext);
    assert_eq!(confirmations.len(), 1, "{confirmations:?}");
    assert_eq!(
        confirmations[0]["lines"],
        json!([{ "line_id": "1", "quantity": 2 }])
    );
    let effects = view["effects"].as_array().expect("effects");
    let so = effects
        .iter()
        .find(|e| e["key"] == format!("erp:sales_order:{id}"))
        .expect("sales order effect");
    assert_eq!(so["status"], "applied");
    assert_eq!(so["attempts"], 1);

    // Prometheus text.
    let m = app.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(
        m.content_type.starts_with("text/plain"),
        "{}",
        m.content_type
    );
    let text = m.body.as_str().expect("metrics are text");
    assert!(text.contains("crossdock_step_duration_seconds"), "{text}");
    assert!(text.contains("crossdock_ingest_messages_total"), "{text}");
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "not a sample line: {line:?}");
    }
    app.stop().await;
}

// -------------------------------------------------------- 2. duplicate event

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_webhook_is_acknowledged_and_dropped() {
    let app = spawn_app().await;
    let ext = "WS-200001";
    let doc = order_doc(ext, 1);
    let event = event_id();
    let first = app.post_order(&doc, &event).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["duplicate"], false);
    let second = app.post_order(&doc, &event).await;
    assert_eq!(second.status, 200, "{second:?}");
    assert_eq!(second.body["duplicate"], true, "{second:?}");
    assert_eq!(second.body["inbox_id"], first.body["inbox_id"]);

    let id = order_id(ext);
    app.wait_for_status(&id, "closed", WAIT).await;
    let counts = app.store.inbox_counts().await.unwrap();
    assert_eq!(counts.duplicates, 1, "{counts:?}");
    let orders = app.get(&format!("/v1/orders?channel={CHANNEL}")).await;
    assert_eq!(
        orders.body["orders"].as_array().map(Vec::len),
        Some(1),
        "{orders:?}"
    );
    assert_eq!(app.sales_orders_for(ext).await, 1);
    assert_eq!(app.erp_stats().await["duplicate_sales_orders"], 0);
    let received = app
        .timeline(&id)
        .await
        .iter()
        .filter(|e| e["kind"] == "received")
        .count();
    assert_eq!(received, 1);
    app.stop().await;
}

// ------------------------------------------------------------ 3. versions

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn older_version_is_recorded_stale_and_not_applied() {
    let app = spawn_app().await;
    let ext = "WS-300001";
    let mut newer = order_doc(ext, 2);
    newer["buyer"]["name"] = json!("Buyer Renamed");
    newer["ship_to"]["name"] = json!("Buyer Renamed");
    let older = order_doc(ext, 1);
    let newer_event = event_id();
    let older_event = event_id();
    assert_eq!(app.post_order(&newer, &newer_event).await.status, 200);
    let r = app.post_order(&older, &older_event).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["duplicate"], false,
        "a different event is not a duplicate: {r:?}"
    );

    let id = order_id(ext);
    let stale = wait_until(WAIT, || async {
        let msgs = app.store.inbox_messages(Some("stale"), 10).await.unwrap();
        msgs.into_iter().find(|m| m.message_key == older_event)
    })
    .await
    .expect("sequence 1 recorded as stale");
    assert_eq!(stale.source_version, Some(1));
    assert_eq!(
        stale.entity_key.as_deref(),
        Some(format!("order:{id}").as_str())
    );
    let ignored = wait_for_event(&app, &id, "stale_message_ignored", |e| {
        e["kind"] == "stale_message_ignored"
    })
    .await;
    assert_eq!(ignored["detail"]["version"], 1, "{ignored}");
    assert_eq!(ignored["detail"]["applied"], 2, "{ignored}");

    let view = app.order_view(&id).await.expect("order");
    assert_eq!(view["order"]["source_version"], 2, "{view}");
    assert_eq!(view["order"]["customer"]["name"], "Buyer Renamed", "{view}");
    assert_eq!(app.store.inbox_counts().await.unwrap().stale, 1);
    app.wait_for_status(&id, "closed", WAIT).await;
    assert_eq!(app.sales_orders_for(ext).await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellation_overtaking_its_order_keeps_it_from_the_erp() {
    let app = spawn_app().await;
    let ext = "WS-300002";
    let mut cancelled = order_doc(ext, 2);
    cancelled["status"] = json!("cancelled");
    let r = app.post_order(&cancelled, &event_id()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = app.post_order(&order_doc(ext, 1), &event_id()).await;
    assert_eq!(r.status, 200, "{r:?}");

    let id = order_id(ext);
    let view = app.wait_for_status(&id, "cancelled", WAIT).await;
    assert_eq!(view["order"]["source_version"], 2, "{view}");
    assert!(view["order"].get("erp_ref").is_none(), "{view}");
    let events = app.timeline(&id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"cancelled_before_received"), "{kinds:?}");
    assert!(kinds.contains(&"received_after_cancellation"), "{kinds:?}");
    // Nothing more is scheduled for it; give a stray job time to show itself anyway.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        app.store
            .open_jobs(&format!("order:{id}"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.order_status(&id).await.as_deref(), Some("cancelled"));
    assert_eq!(app.sales_orders_for(ext).await, 0);
    let stats = app.estate.stats().await;
    assert_eq!(stats["erp"]["sales_orders"], 0, "{}", stats["erp"]);
    assert_eq!(warehouse_total(&stats, "requests"), 0);
    app.stop().await;
}

/// A buyer cancels after the hub released the order: the hub stops the
/// warehouse first, then cancels the ERP sales order, then the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellation_after_release_stops_the_warehouse_and_the_erp_order() {
    let app = spawn_app_with(|sim, _| {
        for w in &mut sim.warehouses {
            w.ship_delay_ms = 60_000;
        }
    })
    .await;
    let ext = "WS-300003";
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
    let view = app.wait_for_status(&id, "cancelled", WAIT).await;
    for line in view["order"]["lines"].as_array().unwrap() {
        assert_eq!(line["cancelled_quantity"], line["quantity"], "{line}");
        assert_eq!(line["shipped_quantity"], 0, "{line}");
    }
    let stats = app.estate.stats().await;
    assert_eq!(
        stats["erp"]["sales_orders_cancelled"], 1,
        "{}",
        stats["erp"]
    );
    assert_eq!(warehouse_total(&stats, "cancellations"), 1);
    assert_eq!(warehouse_total(&stats, "shipments_after_cancel"), 0);
    let kinds: Vec<String> = app
        .timeline(&id)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.iter().any(|k| k == "warehouse_cancel"), "{kinds:?}");
    assert!(
        kinds.iter().any(|k| k == "erp_sales_order_cancelled"),
        "{kinds:?}"
    );
    // The reservation went back to stock.
    let held: i64 = app
        .store
        .reservations(&id)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.state == "held")
        .map(|r| r.quantity)
        .sum();
    assert_eq!(held, 0);
    assert!(app.exceptions("?status=open").await.is_empty());
    app.stop().await;
}

/// A cancellation after units shipped cannot be honoured by the hub: it is
/// an exception for operations (return or refund), and the order keeps its
/// shipped state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellation_after_shipment_is_an_authority_exception() {
    let app = spawn_app().await;
    let ext = "WS-300004";
    let id = order_id(ext);
    assert_eq!(
        app.post_order(&order_doc(ext, 1), &event_id()).await.status,
        200
    );
    app.wait_for_status(&id, "closed", WAIT).await;
    let mut cancelled = order_doc(ext, 2);
    cancelled["status"] = json!("cancelled");
    assert_eq!(app.post_order(&cancelled, &event_id()).await.status, 200);
    let ex = wait_until(WAIT, || async {
        app.exceptions("?class=authority").await.into_iter().next()
    })
    .await
    .expect("an authority exception");
    assert_eq!(ex["step"], "channel_message", "{ex}");
    assert!(ex["reason"].as_str().unwrap().contains("shipped"), "{ex}");
    assert_eq!(app.order_status(&id).await.as_deref(), Some("closed"));
    let stats = app.estate.stats().await;
    assert_eq!(
        stats["erp"]["sales_orders_cancelled"], 0,
        "{}",
        stats["erp"]
    );
    app.stop().await;
}

/// The ERP is down when the hub starts: stock cannot be read, so the first
/// orders are held for unknown SKUs. Once the ERP answers, the hub loads
/// stock and validates the held orders again; they close, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_held_while_the_erp_was_down_at_start_close_once_it_answers() {
    let app = spawn_app_with(|sim, _| {
        sim.erp.faults.outages = vec![Outage {
            start_secs: 0.0,
            end_secs: 2.0,
        }];
    })
    .await;
    let ext = "WS-300005";
    let id = order_id(ext);
    assert_eq!(
        app.post_order(&order_doc(ext, 1), &event_id()).await.status,
        200
    );
    let view = app
        .wait_for_status(&id, "closed", Duration::from_secs(30))
        .await;
    assert!(view["order"]["erp_ref"].is_string(), "{view}");
    assert_eq!(app.sales_orders_for(ext).await, 1);
    assert!(!app.store.positions(None).await.unwrap().is_empty());
    // Whether the order was held first depends on timing; if it was, the
    // exception was replayed by the hub itself, and the replay is audited.
    for ex in app.exceptions("?class=validation").await {
        assert_eq!(ex["status"], "replayed", "{ex}");
    }
    app.stop().await;
}

// ------------------------------------------------------------ 4. bad input

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_json_is_refused_and_kept_as_rejected() {
    let app = spawn_app().await;
    let body = br#"{"order_id": "WS-400001", "sequence": 1, "items": ["#.to_vec();
    let r = app.post_signed(&webhook_path(), "e-1", body.clone()).await;
    assert_eq!(r.status, 400, "{r:?}");
    let message = error_message(&r, "CD-IN-0400");
    assert!(message.starts_with("body:"), "{message}");
    assert!(message.contains("not valid JSON"), "{message}");

    let rejected = app
        .store
        .inbox_messages(Some("rejected"), 10)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].source, format!("channel:{CHANNEL}"));
    assert_eq!(rejected[0].body, body);
    assert!(
        rejected[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("not valid JSON"),
        "{:?}",
        rejected[0].note
    );
    assert_eq!(app.store.inbox_counts().await.unwrap().rejected, 1);
    assert!(app.order_view(&order_id("WS-400001")).await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_body_is_refused_with_413_and_kept_as_rejected() {
    let app = spawn_app_with(|_, c| c.hub.max_body_bytes = 4096).await;
    let mut doc = order_doc("WS-400002", 1);
    doc["items"][0]["title"] = json!("x".repeat(5000));
    let r = app.post_order(&doc, &event_id()).await;
    assert_eq!(r.status, 413, "{r:?}");
    let message = error_message(&r, "CD-IN-0413");
    assert!(message.contains("4096"), "{message}");

    let rejected = app
        .store
        .inbox_messages(Some("rejected"), 10)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].source, format!("channel:{CHANNEL}"));
    assert!(
        rejected[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("exceeds 4096 bytes"),
        "{:?}",
        rejected[0].note
    );
    assert!(app.order_view(&order_id("WS-400002")).await.is_none());

    // Just under the limit is fine.
    let r = app
        .post_order(&order_doc("WS-400003", 1), &event_id())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    app.stop().await;
}

/// A field error is not the door's business (the envelope is): the message
/// is kept, acknowledged, and the mapping step parks it in the exception
/// queue naming the field, where an operator can see and replay it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn field_error_past_the_door_is_parked_as_mapping_exception_naming_the_field() {
    let app = spawn_app().await;
    let mut doc = order_doc("WS-400005", 1);
    doc["items"][0]["unit_price"] = json!("abc");
    let r = app.post_order(&doc, &event_id()).await;
    assert_eq!(r.status, 200, "{r:?}");
    let ex = wait_until(WAIT, || async {
        app.exceptions("?class=mapping").await.into_iter().next()
    })
    .await
    .expect("a mapping exception");
    assert_eq!(ex["step"], "channel_message", "{ex}");
    assert!(
        ex["reason"]
            .as_str()
            .unwrap()
            .contains("items[0].unit_price"),
        "{ex}"
    );
    let failed = app.store.inbox_messages(Some("failed"), 10).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(app.order_view(&order_id("WS-400005")).await.is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_sources_and_routes_are_json_404s() {
    let app = spawn_app().await;
    let r = app
        .post_json("/webhooks/channels/nosuch", &[], &order_doc("WS-400006", 1))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(error_message(&r, "CD-IN-0404").contains("nosuch"));
    let r = app
        .post_json("/webhooks/warehouses/nosuch", &[], &json!({}))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(error_message(&r, "CD-IN-0404").contains("nosuch"));
    let r = app.get("/v1/orders/no-such-order").await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(error_message(&r, "CD-API-0404").contains("no-such-order"));
    let r = app.get("/v1/nothing-here").await;
    assert_eq!(r.status, 404, "{r:?}");
    error_message(&r, "CD-API-0404");
    let r = app
        .post_json("/v1/exceptions/no-such-exception/replay", &[], &json!({}))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    error_message(&r, "CD-API-0404");
    let r = app
        .post_raw("/v1/exceptions/replay", &[], b"{oops".to_vec())
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(error_message(&r, "CD-API-0400").contains("replay filter"));
    assert!(app.store.order_status_counts().await.unwrap().is_empty());
    app.stop().await;
}

// ------------------------------------------- 5. validation exception, replay

/// The channel corrects a held order (a newer version with the right
/// total): the hub takes the new content and validates it again, and the
/// order goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrected_version_of_a_held_order_is_validated_again() {
    let app = spawn_app().await;
    let ext = "WS-500002";
    let id = order_id(ext);
    let mut wrong = order_doc(ext, 1);
    wrong["total"] = json!("50.00");
    assert_eq!(app.post_order(&wrong, &event_id()).await.status, 200);
    app.wait_for_status(&id, "on_hold", WAIT).await;
    assert_eq!(
        app.post_order(&order_doc(ext, 2), &event_id()).await.status,
        200
    );
    let view = app.wait_for_status(&id, "closed", WAIT).await;
    assert_eq!(view["order"]["source_version"], 2, "{view}");
    assert_eq!(view["order"]["total"]["amount"], "48.17", "{view}");
    assert_eq!(app.sales_orders_for(ext).await, 1);
    // The hold the correction answered is resolved, not left for a replay.
    assert!(app.exceptions("?status=open").await.is_empty());
    let resolved = app.exceptions("?status=resolved").await;
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_total_goes_on_hold_and_replay_fails_again_with_audit() {
    let app = spawn_app().await;
    let ext = "WS-500001";
    let mut doc = order_doc(ext, 1);
    doc["total"] = json!("50.00"); // lines and shipping add up to 48.17
    let r = app.post_order(&doc, &event_id()).await;
    // Not refused at the door: the connector reads amounts, validation checks them.
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["duplicate"], false);

    let id = order_id(ext);
    app.wait_for_status(&id, "on_hold", WAIT).await;
    let listed = app.exceptions("?class=validation").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let first = &listed[0];
    assert_eq!(first["entity_key"], format!("order:{id}"));
    assert_eq!(first["step"], "validate");
    assert_eq!(first["class"], "validation");
    // The catalogue's code rides along: docs/errors/CD-EX-0001.md.
    assert_eq!(first["code"], "CD-EX-0001");
    assert_eq!(first["status"], "open");
    assert_eq!(first["channel"], CHANNEL);
    assert_eq!(first["replay_count"], 0);
    let reason = first["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("total:") && reason.contains("50.00") && reason.contains("48.17"),
        "{reason}"
    );
    assert!(app.exceptions("?class=transient").await.is_empty());
    let first_id = first["id"].as_str().unwrap().to_owned();

    let r = app
        .post_json(
            &format!("/v1/exceptions/{first_id}/replay"),
            &[("x-crossdock-actor", "alice")],
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["replayed"], 1, "{r:?}");
    assert_eq!(r.body["exceptions"][0]["id"], first_id.as_str());

    // The data is still wrong: the step fails again, into a new exception.
    let second = wait_until(WAIT, || async {
        app.exceptions("?class=validation&status=open")
            .await
            .into_iter()
            .find(|e| e["id"] != first_id.as_str())
    })
    .await
    .expect("a second validation exception after the replay");
    assert_eq!(second["step"], "validate");
    assert_eq!(second["reason"], first["reason"]);
    assert_eq!(second["replay_count"], 0);
    let all = app.exceptions("?class=validation").await;
    assert_eq!(all.len(), 2, "{all:?}");
    let replayed = all.iter().find(|e| e["id"] == first_id.as_str()).unwrap();
    assert_eq!(replayed["status"], "replayed", "{replayed}");
    assert_eq!(replayed["replay_count"], 1, "{replayed}");
    assert!(
        replayed.get("replayed_at").is_some_and(|v| !v.is_null()),
        "{replayed}"
    );

    let events = app.timeline(&id).await;
    let audit: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "exception_replayed")
        .collect();
    assert_eq!(audit.len(), 1, "{events:?}");
    assert_eq!(audit[0]["detail"]["actor"], "api:test-admin/alice");
    assert_eq!(audit[0]["detail"]["exception_id"], first_id.as_str());
    assert_eq!(audit[0]["detail"]["step"], "validate");
    assert_eq!(
        events.iter().filter(|e| e["kind"] == "exception").count(),
        2,
        "{events:?}"
    );

    // The replayed exception is closed to further replays; the order never reached the ERP.
    let r = app
        .post_json(
            &format!("/v1/exceptions/{first_id}/replay"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(app.order_status(&id).await.as_deref(), Some("on_hold"));
    assert_eq!(app.sales_orders_for(ext).await, 0);
    app.stop().await;
}

// ---------------------------------------- 6. replay skips applied effects

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn release_parked_by_warehouse_outage_replays_without_repeating_the_sales_order() {
    let started = Instant::now();
    // Two back-to-back windows: the first refusal's Retry-After lands the
    // retry in the second window, so both attempts fail and the step parks.
    let app = spawn_app_with(|sim, c| {
        for w in &mut sim.warehouses {
            w.faults.outages = vec![
                Outage {
                    start_secs: 0.0,
                    end_secs: 2.0,
                },
                Outage {
                    start_secs: 2.0,
                    end_secs: 5.0,
                },
            ];
        }
        c.engine.max_attempts = 2;
    })
    .await;
    let ext = "WS-600001";
    let id = order_id(ext);
    assert_eq!(
        app.post_order(&order_doc(ext, 1), &event_id()).await.status,
        200
    );

    let ex = wait_until(WAIT, || async {
        app.exceptions("?step=release").await.into_iter().next()
    })
    .await
    .expect("release parked in the exception queue");
    assert_eq!(ex["class"], "transient", "{ex}");
    assert_eq!(ex["code"], "CD-EX-0004", "{ex}");
    assert_eq!(ex["entity_key"], format!("order:{id}"));
    assert!(
        ex["reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempts"),
        "{ex}"
    );
    assert_eq!(
        app.order_status(&id).await.as_deref(),
        Some("accepted_by_erp")
    );
    assert_eq!(app.sales_orders_for(ext).await, 1);
    let stats = app.estate.stats().await;
    assert!(
        warehouse_total(&stats, "outage_refusals") >= 2,
        "{}",
        stats["warehouses"]
    );

    // After the outage, replay by step.
    let outage_over = Duration::from_millis(5_300);
    if let Some(left) = outage_over.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let r = app
        .post_json(
            "/v1/exceptions/replay",
            &[("x-crossdock-actor", "ops")],
            &json!({ "step": "release" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["replayed"], 1, "{r:?}");

    let view = app.wait_for_status(&id, "closed", WAIT).await;
    assert_eq!(
        app.sales_orders_for(ext).await,
        1,
        "the sales order is not created again"
    );
    let effects = view["effects"].as_array().expect("effects");
    let so = effects
        .iter()
        .find(|e| e["key"] == format!("erp:sales_order:{id}"))
        .expect("sales order effect");
    assert_eq!(so["status"], "applied", "{so}");
    assert_eq!(so["attempts"], 1, "{so}");
    let release = effects
        .iter()
        .find(|e| e["kind"] == "release")
        .expect("release effect");
    assert_eq!(release["status"], "applied", "{release}");
    let stats = app.estate.stats().await;
    assert_eq!(
        warehouse_total(&stats, "duplicate_requests"),
        0,
        "{}",
        stats["warehouses"]
    );
    assert_eq!(stats["erp"]["duplicate_sales_orders"], 0);
    let audit = app
        .timeline(&id)
        .await
        .into_iter()
        .find(|e| e["kind"] == "exception_replayed")
        .expect("replay audited");
    assert_eq!(audit["detail"]["actor"], "api:test-admin/ops");
    assert_eq!(audit["detail"]["step"], "release");
    app.stop().await;
}

// ------------------------------------------------ 7. sync ERP acceptance

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_channel_answers_with_the_erp_outcome() {
    let app = spawn_app_with(|_, c| c.channels[0].erp_acceptance = ErpAcceptance::Sync).await;
    let ext = "WS-700001";
    let event = event_id();
    let r = app.post_order(&order_doc(ext, 1), &event).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["acceptance"]["outcome"], "accepted", "{r:?}");
    let erp_ref = r.body["acceptance"]["erp_ref"]
        .as_str()
        .expect("erp_ref")
        .to_owned();
    assert!(erp_ref.starts_with("SO-"), "{erp_ref}");
    let view = app.order_view(&order_id(ext)).await.expect("order");
    assert_eq!(view["order"]["erp_ref"], erp_ref.as_str());
    assert_eq!(app.sales_orders_for(ext).await, 1);

    // A redelivery is answered from the store with the same outcome.
    let again = app.post_order(&order_doc(ext, 1), &event).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(
        again.body["acceptance"],
        json!({ "outcome": "accepted", "erp_ref": erp_ref })
    );

    let bad = "WS-700002";
    let mut doc = order_doc(bad, 1);
    doc["items"][0]["sku"] = json!("SKU-999");
    let r = app.post_order(&doc, &event_id()).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.body["acceptance"]["outcome"], "refused", "{r:?}");
    assert!(
        r.body["acceptance"]["reason"]
            .as_str()
            .unwrap()
            .contains("SKU-999"),
        "{r:?}"
    );
    assert_eq!(
        app.order_status(&order_id(bad)).await.as_deref(),
        Some("on_hold")
    );
    assert_eq!(app.sales_orders_for(bad).await, 0);
    app.stop().await;
}

// ---------------------------------------------- 8. Retry-After is honoured

async fn rate_limited_erp_accepts_all(rate_limit_per_sec: u32) {
    // Backoff alone (10 ms doubling to 100 ms over 8 attempts) would give up
    // within a second; only waiting out Retry-After gets every order through.
    let app = spawn_app_with(|sim, c| {
        sim.erp.faults.rate_limit_per_sec = rate_limit_per_sec;
        c.engine.backoff_base_ms = 10;
        c.engine.backoff_max_ms = 100;
        c.engine.max_attempts = 8;
    })
    .await;
    let exts = ["WS-800001", "WS-800002", "WS-800003"];
    let replies = futures::future::join_all(exts.iter().map(|ext| {
        let doc = order_doc(ext, 1);
        let app = &app;
        async move { app.post_order(&doc, &event_id()).await }
    }))
    .await;
    for r in &replies {
        assert_eq!(r.status, 200, "{r:?}");
    }
    for ext in exts {
        let id = order_id(ext);
        wait_for_event(&app, &id, "accepted_by_erp", |e| {
            e["kind"] == "status_changed" && e["detail"]["to"] == "accepted_by_erp"
        })
        .await;
    }
    let erp = app.erp_stats().await;
    assert!(erp["rate_limited"].as_u64().unwrap() > 0, "{erp}");
    for ext in exts {
        assert_eq!(app.sales_orders_for(ext).await, 1, "{erp}");
    }
    assert_eq!(erp["duplicate_sales_orders"], 0);
    let exceptions = app.exceptions("").await;
    assert!(exceptions.is_empty(), "{exceptions:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_honours_retry_after_from_a_rate_limited_erp() {
    rate_limited_erp_accepts_all(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_honours_retry_after_at_one_request_per_second() {
    rate_limited_erp_accepts_all(1).await;
}
