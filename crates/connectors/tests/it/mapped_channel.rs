//! The mapped channel driven by `config/channels/regional.toml` against the
//! simulated webstore over real HTTP, and compared with the hand-written
//! `WebstoreChannel` on the same payloads.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::Utc;
use crossdock_connectors::channel::WebstoreChannel;
use crossdock_connectors::channel::mapped::{ChannelMapping, MappedChannel, map_payload};
use crossdock_connectors::{
    Channel, ChannelEvent, HttpClient, HttpClientOptions, ShipConfirmation,
};
use crossdock_sim::{Estate, EstateHandle, SimConfig};
use tokio::sync::mpsc;

use crate::support::signing::{sim_signing, verifier};

const NAME: &str = "regional";

fn mapping() -> ChannelMapping {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/channels/regional.toml"
    );
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn http() -> HttpClient {
    HttpClient::new(HttpClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
    })
    .unwrap()
}

/// A stand-in hub that hands over every webhook it receives.
async fn hub() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/webhooks/{kind}/{name}",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

async fn estate(hub_url: &str, cancel_rate: f64) -> EstateHandle {
    let mut config = SimConfig::demo(hub_url);
    config.channel.orders_per_sec = 50.0;
    config.channel.max_orders = 1;
    config.channel.duplicate_rate = 0.0;
    config.channel.cancel_rate = cancel_rate;
    config.sign_webhooks_with(&sim_signing());
    Estate::start(config).await.unwrap()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(HeaderMap, Vec<u8>)>) -> (HeaderMap, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(8), rx.recv())
        .await
        .expect("a webhook in time")
        .expect("hub open")
}

#[tokio::test]
async fn reads_polls_and_confirms_against_the_simulated_webstore() {
    let (hub_url, mut rx) = hub().await;
    let estate = estate(&hub_url, 0.0).await;
    let mapped = MappedChannel::new(NAME, &estate.channel_url(), &mapping(), http()).unwrap();
    let webstore = WebstoreChannel::new(NAME, &estate.channel_url(), http(), verifier()).unwrap();

    // Webhook: the same envelope and the same canonical order as the
    // hand-written connector.
    let (headers, body) = next(&mut rx).await;
    let envelope = mapped.read_webhook(&headers, &body).unwrap();
    assert_eq!(envelope, webstore.read_webhook(&headers, &body).unwrap());
    let event = mapped.map_message(&body).unwrap();
    assert_eq!(event, webstore.map_message(&body).unwrap());
    let ChannelEvent::Order(order) = event else {
        panic!("expected an order")
    };
    assert_eq!(order.computed_total().unwrap(), order.total);

    // Poll: the order comes back, mapped the same.
    let polled = mapped.poll_updated_since(0).await.unwrap();
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].0.external_order_id, order.external_id);
    assert_eq!(
        mapped.map_message(&polled[0].1).unwrap(),
        ChannelEvent::Order(order.clone())
    );
    let later = Utc::now().timestamp_millis() + 60_000;
    assert!(mapped.poll_updated_since(later).await.unwrap().is_empty());

    // Ship confirmation, once, then found by its package id.
    let line = &order.lines[0];
    let confirmation = ShipConfirmation {
        package_id: "pkg-1".into(),
        external_order_id: order.external_id.clone(),
        shipment: crossdock_model::Shipment {
            id: "east:SH-1".into(),
            order_id: order.id.clone(),
            warehouse: "east".into(),
            external_id: "SH-1".into(),
            fulfillment_request_id: "fr-1".into(),
            lines: vec![crossdock_model::ShipmentLine {
                line_id: line.line_id.clone(),
                sku: line.sku.clone(),
                quantity: 1,
            }],
            tracking: crossdock_model::Tracking {
                carrier: "UPS".into(),
                number: "1Z1".into(),
                url: None,
            },
            shipped_at: Utc::now(),
            completes_request: false,
        },
    };
    let find =
        |package: &'static str| mapped.find_shipment_confirmation(&order.external_id, package);
    assert_eq!(find("pkg-1").await.unwrap(), None);
    let id = mapped.confirm_shipment(&confirmation).await.unwrap();
    assert!(id.starts_with("SC-"), "{id}");
    assert_eq!(find("pkg-1").await.unwrap(), Some(id.clone()));
    assert_eq!(find("pkg-2").await.unwrap(), None);
    assert_eq!(
        mapped
            .find_shipment_confirmation("WS-999999", "pkg-1")
            .await
            .unwrap(),
        None,
        "an unknown order (404) holds no confirmation"
    );
    // The webstore connector sees the confirmation the mapped one made.
    assert_eq!(
        webstore
            .find_shipment_confirmation(&order.external_id, "pkg-1")
            .await
            .unwrap(),
        Some(id)
    );
    let stats = estate.stats().await;
    assert_eq!(stats["channel"]["ship_confirmations"], 1);
    assert_eq!(stats["channel"]["duplicate_ship_confirmations"], 0);
    estate.shutdown().await;
}

#[tokio::test]
async fn cancellations_map_like_the_webstore_connector() {
    let (hub_url, mut rx) = hub().await;
    let estate = estate(&hub_url, 1.0).await;
    let mapped = MappedChannel::new(NAME, &estate.channel_url(), &mapping(), http()).unwrap();
    let webstore = WebstoreChannel::new(NAME, &estate.channel_url(), http(), verifier()).unwrap();
    let _placed = next(&mut rx).await;
    let (headers, body) = next(&mut rx).await;
    let event = mapped.map_message(&body).unwrap();
    assert!(
        matches!(
            event,
            ChannelEvent::Cancelled {
                source_version: 2,
                ..
            }
        ),
        "{event:?}"
    );
    assert_eq!(event, webstore.map_message(&body).unwrap());
    assert_eq!(
        mapped.read_webhook(&headers, &body).unwrap(),
        webstore.read_webhook(&headers, &body).unwrap()
    );
    estate.shutdown().await;
}

fn sample() -> serde_json::Value {
    serde_json::json!({
        "order_id": "WS-000123", "sequence": 1, "status": "open",
        "updated_at": "2026-11-26T20:00:00Z", "created_at": "2026-11-26T20:00:00Z",
        "currency": "USD",
        "buyer": { "id": "B-42", "email": "b42@example.com", "name": "Buyer 42", "phone": null },
        "ship_to": { "name": "Buyer 42", "line1": "1 Main St", "line2": null, "city": "Springfield",
                     "region": "IL", "postal_code": "62701", "country": "US" },
        "items": [
            { "line_id": "1", "sku": "SKU-001", "title": "Widget", "quantity": 2,
              "unit_price": "19.99", "discount": "0.00", "tax": "3.20" },
            { "line_id": "2", "sku": "SKU-002", "title": "Gadget", "quantity": 1,
              "unit_price": "5.00", "discount": "0.50", "tax": "0.37" }
        ],
        "shipping": "4.99", "total": "53.04", "service_level": "standard"
    })
}

fn map(body: &serde_json::Value) -> Result<ChannelEvent, crossdock_connectors::InputError> {
    let mapped = MappedChannel::new(NAME, "http://127.0.0.1:9", &mapping(), http()).unwrap();
    mapped.map_message(&serde_json::to_vec(body).unwrap())
}

/// Breaks a valid payload in one place.
type Breakage = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn a_payload_that_does_not_map_names_the_field() {
    let cases: Vec<(&str, Breakage, &str)> = vec![
        (
            "items[1].unit_price",
            Box::new(|b| b["items"][1]["unit_price"] = "abc".into()),
            "expected decimal",
        ),
        (
            "items[0].quantity",
            Box::new(|b| b["items"][0]["quantity"] = (-1).into()),
            "must not be negative",
        ),
        (
            "items[1].sku",
            Box::new(|b| {
                b["items"][1].as_object_mut().unwrap().remove("sku");
            }),
            "missing field",
        ),
        (
            "currency",
            Box::new(|b| b["currency"] = "usd".into()),
            "ISO 4217",
        ),
        (
            "created_at",
            Box::new(|b| b["created_at"] = "yesterday".into()),
            "RFC 3339",
        ),
        (
            "buyer.email",
            Box::new(|b| {
                b["buyer"].as_object_mut().unwrap().remove("email");
            }),
            "missing field",
        ),
        (
            "ship_to.line1",
            Box::new(|b| b["ship_to"]["line1"] = "".into()),
            "must not be empty",
        ),
        (
            "order_id",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("order_id");
            }),
            "missing field",
        ),
        (
            "items",
            Box::new(|b| b["items"] = serde_json::json!([])),
            "at least one",
        ),
        (
            "shipping",
            Box::new(|b| b["shipping"] = serde_json::Value::Null),
            "expected decimal",
        ),
    ];
    for (path, mutate, message) in cases {
        let mut body = sample();
        mutate(&mut body);
        let err = map(&body).unwrap_err();
        assert_eq!(err.path, path, "{err}");
        assert!(err.message.contains(message), "{path}: {err}");
    }
    let err = map_payload(NAME, &mapping(), b"{not json").unwrap_err();
    assert!(err.to_string().starts_with("body: not valid JSON"), "{err}");
}

#[test]
fn jq_computed_fields_are_named_by_their_canonical_field() {
    let mut m = mapping();
    m.order.line.unit_price = ".unit_price | ascii_downcase".into();
    let mut body = sample();
    body["items"][1]["unit_price"] = "ABC".into();
    let err = match map_payload(NAME, &m, &serde_json::to_vec(&body).unwrap()) {
        Err(crossdock_connectors::channel::mapped::MappingError::Input(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(err.path, "lines[1].unit_price", "{err}");
    assert!(err.message.contains("source path unknown"), "{err}");
}

#[test]
fn numbers_are_exact_and_totals_computed_in_rust() {
    let mut m = mapping();
    m.order.total = None;
    let mut body = sample();
    body["items"][0]["unit_price"] = serde_json::from_str("19.99").unwrap();
    let ChannelEvent::Order(order) =
        map_payload(NAME, &m, &serde_json::to_vec(&body).unwrap()).unwrap()
    else {
        panic!("an order")
    };
    assert_eq!(order.lines[0].unit_price.amount.to_string(), "19.99");
    assert_eq!(order.total.amount.to_string(), "53.04");
}

#[test]
fn unknown_versions_and_bad_programs_are_refused_by_name() {
    let mut m = mapping();
    m.version = 2;
    assert!(m.validate().unwrap_err().starts_with("version: 2"));
    let mut m = mapping();
    m.order.line.sku = ".sku |".into();
    assert!(
        m.validate()
            .unwrap_err()
            .starts_with("order.line.sku: jq syntax error")
    );
    let mut m = mapping();
    m.confirm_shipment.as_mut().unwrap().path = "orders/{order}/shipments".into();
    assert!(
        m.validate()
            .unwrap_err()
            .contains("unknown placeholder {order}")
    );
}

#[test]
fn signed_webhooks_are_checked_in_constant_time() {
    use hmac::{Hmac, Mac};
    let mut m = mapping();
    m.webhook.signature = Some(crossdock_connectors::channel::mapped::SignatureMapping {
        header: "x-signature".into(),
        secret: Some("s3cret".into()),
        secret_env: None,
        secret_file: None,
        encoding: Default::default(),
        prefix: Some("sha256=".into()),
    });
    let channel = MappedChannel::new(NAME, "http://127.0.0.1:9", &m, http()).unwrap();
    let body = serde_json::to_vec(&sample()).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut headers = HeaderMap::new();
    let err = channel.read_webhook(&headers, &body).unwrap_err();
    assert!(err.unauthenticated, "{err}");
    headers.insert("x-signature", format!("sha256={hex}").parse().unwrap());
    let envelope = channel.read_webhook(&headers, &body).unwrap();
    assert_eq!(envelope.message_key, "WS-000123:1");
    headers.insert("x-signature", "sha256=00".parse().unwrap());
    assert!(
        channel
            .read_webhook(&headers, &body)
            .unwrap_err()
            .unauthenticated
    );
}

/// A regional channel's stock API: `PUT /stock` takes a batch and answers
/// per SKU (an unknown SKU is refused); `PUT /stock/{sku}` takes one.
async fn stock_api() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use axum::extract::{Path, State};
    use axum::routing::put;
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>;
    let seen: Seen = Default::default();
    let app = Router::new()
        .route(
            "/stock",
            put(
                |State(seen): State<Seen>, axum::Json(body): axum::Json<serde_json::Value>| async move {
                    let results: Vec<serde_json::Value> = body["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| {
                            let known = i["sku"] != "NOPE";
                            serde_json::json!({
                                "sku": i["sku"],
                                "status": if known { "ok" } else { "unknown_sku" },
                            })
                        })
                        .collect();
                    seen.lock().unwrap().push(body);
                    axum::Json(serde_json::json!({ "results": results }))
                },
            ),
        )
        .route(
            "/stock/{sku}",
            put(
                |State(seen): State<Seen>,
                 Path(sku): Path<String>,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    seen.lock()
                        .unwrap()
                        .push(serde_json::json!({ "path_sku": sku, "body": body }));
                    "{}"
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn update(sku: &str, quantity: i64) -> crossdock_connectors::AvailabilityUpdate {
    crossdock_connectors::AvailabilityUpdate {
        sku: sku.into(),
        quantity,
        previous: None,
        idempotency_key: format!("k-{sku}-{quantity}"),
        changed_at: 0,
    }
}

#[tokio::test]
async fn availability_goes_out_in_the_channels_own_shape_with_per_sku_results() {
    use crossdock_connectors::{AvailabilityCadence, AvailabilityOutcome};
    let (url, seen) = stock_api().await;
    // Batch: one call, results read per SKU.
    let mut m = mapping();
    m.availability = Some(
        toml::from_str(
            r#"
        path = "stock"
        body = '{items: [.updates[] | {sku, quantity, key: .idempotency_key}]}'
        results = '.results | map({sku, ok: (.status == "ok"), error: .status})'
        batch_limit = 50
        "#,
        )
        .unwrap(),
    );
    let batch = MappedChannel::new(NAME, &url, &m, http()).unwrap();
    assert_eq!(
        batch.availability_batch_limit(AvailabilityCadence::Batch),
        50
    );
    let results = batch
        .publish_availability(
            &[update("SKU-001", 7), update("NOPE", 1)],
            AvailabilityCadence::Batch,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].sku, "SKU-001");
    assert_eq!(results[0].outcome, AvailabilityOutcome::Accepted);
    assert!(
        matches!(&results[1].outcome, AvailabilityOutcome::Rejected { reason } if reason.contains("unknown_sku")),
        "{results:?}"
    );
    let sent = seen.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![serde_json::json!({ "items": [
            { "sku": "SKU-001", "quantity": 7, "key": "k-SKU-001-7" },
            { "sku": "NOPE", "quantity": 1, "key": "k-NOPE-1" },
        ]})]
    );

    // Per SKU: the path names the SKU, one call each, a 2xx accepts it.
    m.availability = Some(
        toml::from_str(
            r#"
        path = "stock/{sku}"
        body = '.updates[0] | {available: .quantity}'
        "#,
        )
        .unwrap(),
    );
    let single = MappedChannel::new(NAME, &url, &m, http()).unwrap();
    let results = single
        .publish_availability(
            &[update("SKU-002", 3), update("SKU/3", 0)],
            AvailabilityCadence::Urgent,
        )
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.outcome == AvailabilityOutcome::Accepted)
    );
    let sent = seen.lock().unwrap().clone();
    assert_eq!(
        sent[1..],
        [
            serde_json::json!({ "path_sku": "SKU-002", "body": { "available": 3 } }),
            serde_json::json!({ "path_sku": "SKU/3", "body": { "available": 0 } }),
        ]
    );

    // A channel whose mapping has no availability says so, naming the key.
    let none = MappedChannel::new(NAME, &url, &mapping(), http()).unwrap();
    let err = none
        .publish_availability(&[update("SKU-001", 1)], AvailabilityCadence::Batch)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("availability"), "{err}");
    // And a bad method is refused when the mapping is built.
    m.availability =
        Some(toml::from_str("method = \"DELETE\"\npath = \"stock\"\nbody = '.'").unwrap());
    let refused = MappedChannel::new(NAME, &url, &m, http()).unwrap_err();
    assert!(
        refused.to_string().contains("availability.method"),
        "{refused}"
    );
}
