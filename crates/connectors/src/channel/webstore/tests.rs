use crossdock_model::{OrderStatus, order_id_for};
use reqwest::header::HeaderMap;

use super::client::WebstoreChannel;
use crate::signature::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSecret, WebhookVerifier, sign,
};
use crate::{AuthCheck, Channel, ChannelEvent, HttpClient, InboundEnvelope, InputError};

use crate::HttpClientOptions;
use reqwest::header::HeaderValue;
use rust_decimal::Decimal;
use serde_json::{Value, json};

type Mutation = Box<dyn Fn(&mut Value)>;

/// 32 key bytes, the size a webstore issues.
const SECRET: &str = "whsec_d2Vic3RvcmUgdW5pdCB0ZXN0IHNpZ25pbmcga2V5ISE=";
const NOW_SECS: i64 = 1_764_000_000;

fn channel() -> WebstoreChannel {
    let verifier = WebhookVerifier::new(WebhookSecret::parse(SECRET).unwrap());
    WebstoreChannel::new(
        "webstore",
        "http://127.0.0.1:9",
        HttpClient::new(HttpClientOptions::default()).unwrap(),
        verifier,
    )
    .unwrap()
    .with_clock(std::sync::Arc::new(
        crossdock_model::clock::ManualClock::new(NOW_SECS * 1000),
    ))
}

/// The headers the webstore sends with `body`, signed now.
fn signed(id: &str, body: &[u8]) -> HeaderMap {
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let mut h = HeaderMap::new();
    h.insert(ID_HEADER, HeaderValue::from_str(id).unwrap());
    h.insert(TIMESTAMP_HEADER, HeaderValue::from(NOW_SECS));
    let signature = sign(&secret, id, NOW_SECS, body);
    h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
    h
}

fn order() -> Value {
    json!({
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

fn map(body: &Value) -> Result<ChannelEvent, InputError> {
    channel().map_message(&serde_json::to_vec(body).unwrap())
}

fn map_err(body: &Value) -> InputError {
    map(body).unwrap_err()
}

#[test]
fn maps_an_open_order() {
    let ChannelEvent::Order(order) = map(&order()).unwrap() else {
        panic!("expected an order")
    };
    assert_eq!(order.id, order_id_for("webstore", "WS-000123"));
    assert_eq!(order.external_id, "WS-000123");
    assert_eq!(order.channel, "webstore");
    assert_eq!(order.source_version, 1);
    assert_eq!(order.status, OrderStatus::Received);
    assert_eq!(order.currency.as_str(), "USD");
    assert_eq!(order.customer.external_id.as_deref(), Some("B-42"));
    assert_eq!(
        order.shipping_address.as_ref().unwrap().region.as_deref(),
        Some("IL")
    );
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.lines[0].quantity, 2);
    assert_eq!(order.lines[0].unit_price.amount, Decimal::new(1999, 2));
    assert_eq!(order.lines[1].discount.amount, Decimal::new(50, 2));
    assert_eq!(order.total.amount, Decimal::new(5304, 2));
    assert_eq!(
        order.computed_total().unwrap(),
        order.total,
        "fixture total is exact"
    );
}

#[test]
fn maps_a_cancellation() {
    let mut body = order();
    body["status"] = json!("cancelled");
    body["sequence"] = json!(2);
    assert_eq!(
        map(&body).unwrap(),
        ChannelEvent::Cancelled {
            external_order_id: "WS-000123".into(),
            source_version: 2,
            reason: "cancelled on the webstore".into()
        }
    );
}

#[test]
fn bad_payloads_name_the_field() {
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "items[1].unit_price",
            Box::new(|b| b["items"][1]["unit_price"] = json!("abc")),
            "expected decimal",
        ),
        (
            "items[1].unit_price",
            Box::new(|b| b["items"][1]["unit_price"] = json!(5.0)),
            "expected decimal",
        ),
        (
            "items[0].quantity",
            Box::new(|b| b["items"][0]["quantity"] = json!(-1)),
            "must not be negative",
        ),
        (
            "items[0].tax",
            Box::new(|b| b["items"][0]["tax"] = json!("-0.01")),
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
            Box::new(|b| b["currency"] = json!("usd")),
            "ISO 4217",
        ),
        (
            "created_at",
            Box::new(|b| b["created_at"] = json!("yesterday")),
            "RFC 3339",
        ),
        (
            "status",
            Box::new(|b| b["status"] = json!("lost")),
            "unknown status",
        ),
        (
            "buyer.email",
            Box::new(|b| {
                b["buyer"].as_object_mut().unwrap().remove("email");
            }),
            "missing field",
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
            Box::new(|b| b["items"] = json!([])),
            "at least one",
        ),
        (
            "shipping",
            Box::new(|b| b["shipping"] = json!(null)),
            "expected decimal",
        ),
    ];
    for (path, mutate, message) in cases {
        let mut body = order();
        mutate(&mut body);
        let err = map_err(&body);
        assert_eq!(err.path, path, "{err}");
        assert!(err.message.contains(message), "{path}: {err}");
    }
    let err = channel().map_message(b"{not json").unwrap_err();
    assert_eq!(err.path, "body");
}

#[test]
fn a_signed_webhook_is_keyed_by_its_webhook_id() {
    let body = serde_json::to_vec(&order()).unwrap();
    let envelope = channel()
        .read_webhook(&signed("0190-evt", &body), &body)
        .unwrap();
    assert_eq!(
        envelope,
        InboundEnvelope {
            message_key: "0190-evt".into(),
            external_order_id: "WS-000123".into(),
            source_version: 1
        }
    );
    for (bad, path) in [
        (&br#"{"sequence":1}"#[..], "order_id"),
        (br#"{"order_id":"A","sequence":"x"}"#, "sequence"),
        (b"", "body"),
    ] {
        let err = channel().read_webhook(&signed("e", bad), bad).unwrap_err();
        assert_eq!(err.path, path);
        assert!(!err.unauthenticated, "signed, only malformed: 400");
    }
}

#[test]
fn an_unsigned_webhook_is_refused_before_its_body_is_read() {
    let err = channel()
        .read_webhook(&HeaderMap::new(), b"not even json")
        .unwrap_err();
    assert!(err.unauthenticated);
    assert_eq!(err.auth_check, Some(AuthCheck::Missing));
    assert_eq!(err.path, "headers.webhook-id");
}
