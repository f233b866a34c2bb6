//! `WalmartChannel` against the simulated Walmart Marketplace of the
//! simulated estate (`crossdock_sim`), which is as strict as Walmart.

use std::time::{Duration, Instant};

use chrono::Utc;
use crossdock_connectors::channel::{WalmartChannel, WalmartOptions};
use crossdock_connectors::{
    Acknowledgement, AvailabilityCadence, AvailabilityOutcome, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, HttpClient, HttpClientOptions, ShipConfirmation,
};
use crossdock_model::{Shipment, ShipmentLine, Tracking};
use crossdock_sim::{Estate, EstateHandle, SimConfig, WalmartSimConfig};
use serde_json::{Value, json};

/// An estate whose only generator is Walmart's, with its orders placed.
async fn estate(walmart: WalmartSimConfig) -> (EstateHandle, WalmartChannel) {
    let mut config = SimConfig::demo("http://127.0.0.1:9");
    config.channel.orders_per_sec = 0.0;
    config.walmart = Some(walmart.clone());
    let estate = Estate::start(config).await.unwrap();
    for _ in 0..500 {
        if estate.generation_done() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        estate.generation_done(),
        "Walmart orders not placed in time"
    );
    let http = HttpClient::new(HttpClientOptions::default()).unwrap();
    let mut options = WalmartOptions::new(
        "walmart",
        estate.walmart_url().unwrap(),
        &walmart.client_id,
        &walmart.client_secret,
    );
    options.feed_wait = Duration::from_secs(10);
    let channel = WalmartChannel::new(options, http).unwrap();
    (estate, channel)
}

fn orders(n: u64) -> WalmartSimConfig {
    WalmartSimConfig {
        orders_per_sec: 500.0,
        max_orders: n,
        ..WalmartSimConfig::default()
    }
}

fn no_orders() -> WalmartSimConfig {
    WalmartSimConfig {
        orders_per_sec: 0.0,
        ..WalmartSimConfig::default()
    }
}

async fn stats(estate: &EstateHandle) -> Value {
    estate.stats().await["walmart"].clone()
}

fn hour_ago() -> i64 {
    Utc::now().timestamp_millis() - 3_600_000
}

fn confirmation(po: &str, package: &str, number: &str, lines: &[(&str, u32)]) -> ShipConfirmation {
    ShipConfirmation {
        package_id: package.into(),
        external_order_id: po.into(),
        shipment: Shipment {
            id: format!("shp-{package}"),
            order_id: "ord-1".into(),
            warehouse: "wh-east".into(),
            external_id: format!("wh-{package}"),
            fulfillment_request_id: "fr-1".into(),
            lines: lines
                .iter()
                .map(|(l, q)| ShipmentLine {
                    line_id: (*l).into(),
                    sku: "SKU".into(),
                    quantity: *q,
                })
                .collect(),
            tracking: Tracking {
                carrier: "UPS".into(),
                number: number.into(),
                url: None,
            },
            shipped_at: Utc::now(),
            completes_request: false,
        },
    }
}

fn update(sku: &str, quantity: i64) -> AvailabilityUpdate {
    AvailabilityUpdate {
        sku: sku.into(),
        quantity,
        previous: None,
        idempotency_key: format!("{sku}:{quantity}"),
        changed_at: 0,
    }
}

/// The POs' ids and their lines `(lineNumber, quantity)` as the connector polls them.
async fn polled(ch: &WalmartChannel) -> Vec<(String, Vec<(String, u32)>)> {
    let mut out = Vec::new();
    for (envelope, body) in ch.poll_updated_since(hour_ago()).await.unwrap() {
        let ChannelEvent::Order(order) = ch.map_message(&body).unwrap() else {
            panic!("expected an order");
        };
        assert_eq!(order.external_id, envelope.external_order_id);
        let lines = order
            .lines
            .iter()
            .map(|l| (l.line_id.clone(), l.quantity))
            .collect();
        out.push((envelope.external_order_id, lines));
    }
    out
}

#[tokio::test]
async fn one_token_polls_every_cursor_page_and_a_404_is_an_empty_page() {
    let config = WalmartSimConfig {
        max_lines: 1,
        ..orders(230)
    };
    let (estate, ch) = estate(config).await;
    let polled = polled(&ch).await;
    assert_eq!(polled.len(), 230);
    let mut ids: Vec<&String> = polled.iter().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 230, "a PO came twice across pages");
    assert!(
        ids.iter()
            .all(|id| id.len() == 13 && id.bytes().all(|b| b.is_ascii_digit()))
    );
    // Nothing modified since: Walmart's 404, read as an empty page.
    let future = Utc::now().timestamp_millis() + 60_000;
    assert!(ch.poll_updated_since(future).await.unwrap().is_empty());
    let s = stats(&estate).await;
    assert_eq!(s["tokens_issued"], 1, "{s}");
    assert_eq!(s["auth_refusals"], 0, "{s}");
    assert_eq!(s["header_refusals"], 0, "{s}");
    assert_eq!(s["correlation_id_reuses"], 0, "{s}");
    estate.shutdown().await;
}

#[tokio::test]
async fn the_simulator_refuses_like_walmart() {
    let config = no_orders();
    let (estate, _ch) = estate(config.clone()).await;
    let url = estate.walmart_url().unwrap();
    let client = reqwest::Client::new();
    let wm = |r: reqwest::RequestBuilder| {
        r.header("WM_SVC.NAME", "test")
            .header("WM_QOS.CORRELATION_ID", format!("{:?}", Instant::now()))
            .header("Accept", "application/json")
    };
    // No token: 401 in Walmart's error shape, with the rate headers.
    let r = wm(client.get(format!("{url}/v3/orders")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("x-current-token-count"));
    assert!(r.headers().contains_key("x-next-replenishment-time"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"]["error"][0]["code"],
        "UNAUTHORIZED.GMP_GATEWAY_API"
    );
    // Wrong secret.
    let r = wm(client.post(format!("{url}/v3/token")))
        .basic_auth(&config.client_id, Some("nope"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = wm(client.post(format!("{url}/v3/token")))
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["expires_in"], 900);
    let token = token["access_token"].as_str().unwrap().to_owned();
    let put = |body: Value| {
        wm(client.put(format!("{url}/v3/inventory?sku=SKU-001")))
            .header("WM_SEC.ACCESS_TOKEN", &token)
            .json(&body)
            .send()
    };
    for (amount, field) in [
        (json!(1.5), "quantity.amount"),
        (json!(-2), "quantity.amount"),
    ] {
        let r = put(json!({ "sku": "SKU-001", "quantity": { "unit": "EACH", "amount": amount } }))
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"]["error"][0]["field"], field, "{body}");
    }
    // Missing WM_SVC.NAME.
    let r = client
        .get(format!("{url}/v3/inventory?sku=SKU-001"))
        .header("WM_SEC.ACCESS_TOKEN", &token)
        .header("WM_QOS.CORRELATION_ID", "c-1")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"]["error"][0]["field"], "WM_SVC.NAME");
    estate.shutdown().await;
}

#[tokio::test]
async fn acknowledges_ships_once_and_recognises_the_resend() {
    let (estate, ch) = estate(orders(1)).await;
    let polled = polled(&ch).await;
    let (po, lines) = &polled[0];
    let all: Vec<(&str, u32)> = lines.iter().map(|(l, q)| (l.as_str(), *q)).collect();
    // An untracked package: our package id goes as the tracking number.
    let c = confirmation(po, "pkg-1", "", &all);
    // Walmart refuses to ship what is not acknowledged: the connector
    // acknowledges the PO first, once.
    assert_eq!(ch.confirm_shipment(&c).await.unwrap(), *po);
    let first = stats(&estate).await;
    assert_eq!(first["acknowledgements"], 1, "{first}");
    assert_eq!(first["shipping_refused"], 0, "{first}");
    // A resend is recognised from the PO and not sent again.
    assert_eq!(ch.confirm_shipment(&c).await.unwrap(), *po);
    assert_eq!(
        ch.find_shipment_confirmation(po, "pkg-1").await.unwrap(),
        Some(po.clone())
    );
    assert_eq!(
        ch.find_shipment_confirmation(po, "pkg-2").await.unwrap(),
        None
    );
    let s = stats(&estate).await;
    assert_eq!(s["shipments_recorded"], lines.len(), "{s}");
    assert_eq!(s["duplicate_shipments"], 0, "{s}");
    assert_eq!(s["acknowledgements"], 1, "{s}");
    estate.shutdown().await;
}

/// Walmart cancels a PO its seller leaves unacknowledged past the
/// deadline; the connector acknowledges one and finds the acknowledgement
/// by reading the PO back (the engine's lookup after a crash).
#[tokio::test]
async fn an_acknowledged_po_is_found_and_an_unacknowledged_one_is_cancelled_at_the_deadline() {
    let within = Duration::from_millis(3_000);
    let config = WalmartSimConfig {
        acknowledge_within_ms: within.as_millis() as u64,
        ..orders(2)
    };
    let placed = Instant::now();
    let (estate, ch) = estate(config).await;
    assert!(ch.acknowledges_orders());
    let polled = polled(&ch).await;
    let (kept, left) = (&polled[0].0, &polled[1].0);
    assert_eq!(ch.find_acknowledgement(kept).await.unwrap(), None);
    assert_eq!(
        ch.acknowledge_order(kept).await.unwrap(),
        Acknowledgement::Acknowledged
    );
    assert_eq!(
        ch.find_acknowledgement(kept).await.unwrap(),
        Some(Acknowledgement::Acknowledged)
    );
    assert_eq!(ch.find_acknowledgement(left).await.unwrap(), None);
    assert_eq!(
        ch.find_acknowledgement("0000000000000").await.unwrap(),
        None
    );
    assert!(
        placed.elapsed() < within,
        "acknowledged too late for the test"
    );
    // The simulator dates its POs after `placed`: a margin past the
    // deadline, so the read is not on its very edge.
    tokio::time::sleep(within.saturating_sub(placed.elapsed()) + Duration::from_millis(300)).await;

    let read = |po: &str| {
        let ch = &ch;
        let po = po.to_owned();
        async move {
            ch.map_message(&ch.fetch_order(&po).await.unwrap().unwrap())
                .unwrap()
        }
    };
    assert!(
        matches!(read(left).await, ChannelEvent::Cancelled { .. }),
        "the unacknowledged PO is cancelled"
    );
    let ChannelEvent::Order(order) = read(kept).await else {
        panic!("the acknowledged PO stands");
    };
    assert!(order.lines.iter().all(|l| l.cancelled_quantity == 0));
    let s = stats(&estate).await;
    assert_eq!(s["acknowledgements"], 1, "{s}");
    let left_units: u32 = polled[1].1.iter().map(|(_, q)| q).sum();
    assert_eq!(s["unacknowledged_cancelled_units"], left_units, "{s}");
    estate.shutdown().await;
}

#[tokio::test]
async fn a_part_shipped_part_cancelled_line_maps_both_quantities() {
    let config = WalmartSimConfig {
        max_lines: 1,
        min_quantity: 3,
        max_quantity: 3,
        ..orders(1)
    };
    let (estate, ch) = estate(config).await;
    let po = polled(&ch).await[0].0.clone();
    ch.acknowledge(&po).await.unwrap();
    ch.confirm_shipment(&confirmation(
        &po,
        "pkg-1",
        "1Z999AA10123456784",
        &[("1", 1)],
    ))
    .await
    .unwrap();
    ch.cancel_lines(&po, &[("1", 1, "SELLER_CANCEL_OUT_OF_STOCK")])
        .await
        .unwrap();
    // Two more units than are open: refused by Walmart's quantity check.
    let err = ch
        .confirm_shipment(&confirmation(
            &po,
            "pkg-2",
            "1Z999AA10123456785",
            &[("1", 2)],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    let raw = ch.fetch_order(&po).await.unwrap().unwrap();
    let ChannelEvent::Order(order) = ch.map_message(&raw).unwrap() else {
        panic!("a part-cancelled PO is still an order");
    };
    let line = &order.lines[0];
    assert_eq!(line.quantity, 3);
    assert_eq!(line.shipped_quantity, 1);
    assert_eq!(line.cancelled_quantity, 1);
    let s = stats(&estate).await;
    assert_eq!(s["over_shipments"], 1, "{s}");
    assert_eq!(s["seller_cancelled_units"], 1, "{s}");
    estate.shutdown().await;
}

#[tokio::test]
async fn a_forced_429_is_throttled_and_the_next_push_waits_for_replenishment() {
    let config = WalmartSimConfig {
        force_throttle_ms: 1_500,
        ..no_orders()
    };
    let (estate, ch) = estate(config).await;
    let urgent = AvailabilityCadence::Urgent;
    // Fetches the token first, so the forced 429 meets the inventory call.
    let ok = ch
        .publish_availability(&[update("SKU-001", 5)], urgent)
        .await
        .unwrap();
    assert_eq!(ok[0].outcome, AvailabilityOutcome::Accepted);
    let r = reqwest::Client::new()
        .post(format!("{}/sim/throttle", estate.walmart_url().unwrap()))
        .json(&json!({ "count": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let err = ch
        .publish_availability(&[update("SKU-001", 6)], urgent)
        .await
        .unwrap_err();
    match err {
        ConnectorError::Throttled { retry_after, .. } => assert!(
            retry_after > Duration::from_millis(1_000)
                && retry_after <= Duration::from_millis(1_500),
            "{retry_after:?}"
        ),
        other => panic!("expected Throttled, got {other:?}"),
    }
    // The budget is known spent: the next push waits for the replenish time.
    let started = Instant::now();
    let ok = ch
        .publish_availability(&[update("SKU-001", 6)], urgent)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ok[0].outcome, AvailabilityOutcome::Accepted);
    let s = stats(&estate).await;
    assert_eq!(s["throttled"], 1, "{s}");
    assert_eq!(ch.throttled_responses(), 1, "the 429 is counted");
    assert_eq!(s["inventory"]["SKU-001"], 6, "{s}");
    estate.shutdown().await;
}

#[tokio::test]
async fn urgent_updates_and_a_bulk_feed_set_quantities_per_sku() {
    let config = WalmartSimConfig {
        feed_processing_ms: 300,
        ..no_orders()
    };
    let (estate, ch) = estate(config).await;
    assert_eq!(ch.availability_batch_limit(AvailabilityCadence::Urgent), 10);
    let results = ch
        .publish_availability(
            &[
                update("SKU-001", 7),
                update("SKU-002", 0),
                update("NOT-LISTED", 3),
                update("SKU-003", -1),
            ],
            AvailabilityCadence::Urgent,
        )
        .await
        .unwrap();
    let outcomes: Vec<(&str, &AvailabilityOutcome)> = results
        .iter()
        .map(|r| (r.sku.as_str(), &r.outcome))
        .collect();
    assert_eq!(outcomes[0], ("SKU-001", &AvailabilityOutcome::Accepted));
    assert_eq!(outcomes[1], ("SKU-002", &AvailabilityOutcome::Accepted));
    assert!(
        matches!(outcomes[2], ("NOT-LISTED", AvailabilityOutcome::Rejected { reason }) if reason.contains("Item not found")),
        "{outcomes:?}"
    );
    assert!(matches!(
        outcomes[3],
        ("SKU-003", AvailabilityOutcome::Rejected { .. })
    ));

    // 20 listed SKUs and 40 unknown ones: more than one page of details.
    let mut batch: Vec<AvailabilityUpdate> = (1..=20)
        .map(|i| update(&format!("SKU-{i:03}"), 100 + i))
        .collect();
    batch.extend((1..=40).map(|i| update(&format!("GHOST-{i}"), 1)));
    let results = ch
        .publish_availability(&batch, AvailabilityCadence::Batch)
        .await
        .unwrap();
    assert_eq!(results.len(), 60);
    for (u, r) in batch.iter().zip(&results) {
        assert_eq!(u.sku, r.sku);
        if u.sku.starts_with("SKU-") {
            assert_eq!(r.outcome, AvailabilityOutcome::Accepted, "{r:?}");
        } else {
            assert!(
                matches!(&r.outcome, AvailabilityOutcome::Rejected { reason } if reason.contains("not found in the seller's catalog")),
                "{r:?}"
            );
        }
    }
    let s = stats(&estate).await;
    assert_eq!(s["inventory"]["SKU-001"], 101, "{s}");
    assert_eq!(s["inventory"]["SKU-020"], 120, "{s}");
    assert_eq!(s["feeds_processed"], 1, "{s}");
    assert_eq!(s["feed_items_accepted"], 20, "{s}");
    assert_eq!(s["feed_items_rejected"], 40, "{s}");
    estate.shutdown().await;
}
