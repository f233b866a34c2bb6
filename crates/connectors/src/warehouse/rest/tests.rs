use crossdock_model::{ShipmentLine, Tracking};
use reqwest::header::HeaderMap;

use super::client::RestWarehouse;
use crate::signature::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSecret, WebhookVerifier, sign,
};
use crate::{AuthCheck, HttpClient, ShipmentEnvelope, Warehouse};
use reqwest::header::HeaderValue;

use crate::HttpClientOptions;
use serde_json::{Value, json};

type Mutation = Box<dyn Fn(&mut Value)>;

const SECRET: &str = "whsec_cmVzdCB3YXJlaG91c2UgdW5pdCB0ZXN0IGtleSEhIQ==";
const NOW_SECS: i64 = 1_764_000_000;

fn warehouse() -> RestWarehouse {
    let verifier = WebhookVerifier::new(WebhookSecret::parse(SECRET).unwrap());
    RestWarehouse::new(
        "east",
        "http://127.0.0.1:9",
        HttpClient::new(HttpClientOptions::default()).unwrap(),
        verifier,
    )
    .unwrap()
    .with_clock(std::sync::Arc::new(
        crossdock_model::clock::ManualClock::new(NOW_SECS * 1000),
    ))
}

/// The headers the warehouse sends with `body`, signed now.
fn signed(body: &[u8]) -> HeaderMap {
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let mut h = HeaderMap::new();
    h.insert(ID_HEADER, HeaderValue::from_static("msg_1"));
    h.insert(TIMESTAMP_HEADER, HeaderValue::from(NOW_SECS));
    let signature = sign(&secret, "msg_1", NOW_SECS, body);
    h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).unwrap());
    h
}

fn message() -> Value {
    json!({
        "shipment_id": "SH-EAST-000001", "request_id": "fr-1", "order_id": "o-1",
        "carrier": "UPS", "tracking_number": "1Z999", "shipped_at": "2026-11-27T10:00:00Z",
        "lines": [ { "line_id": "1", "sku": "SKU-001", "quantity": 2 } ]
    })
}

#[test]
fn maps_a_shipment() {
    let shipment = warehouse()
        .map_shipment(&serde_json::to_vec(&message()).unwrap())
        .unwrap();
    assert_eq!(shipment.id, "east:SH-EAST-000001");
    assert_eq!(shipment.external_id, "SH-EAST-000001");
    assert_eq!(shipment.warehouse, "east");
    assert_eq!(shipment.order_id, "o-1");
    assert_eq!(shipment.fulfillment_request_id, "fr-1");
    assert_eq!(
        shipment.lines,
        vec![ShipmentLine {
            line_id: "1".into(),
            sku: "SKU-001".into(),
            quantity: 2
        }]
    );
    assert_eq!(
        shipment.tracking,
        Tracking {
            carrier: "UPS".into(),
            number: "1Z999".into(),
            url: None
        }
    );
    assert_eq!(
        shipment.shipped_at.to_rfc3339(),
        "2026-11-27T10:00:00+00:00"
    );
    let body = serde_json::to_vec(&message()).unwrap();
    let envelope = warehouse().read_webhook(&signed(&body), &body).unwrap();
    assert_eq!(
        envelope,
        ShipmentEnvelope {
            message_key: "east:SH-EAST-000001".into(),
            order_id: "o-1".into()
        }
    );
}

#[test]
fn bad_shipments_name_the_field() {
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "lines[0].quantity",
            Box::new(|m| m["lines"][0]["quantity"] = json!(-2)),
        ),
        (
            "lines[0].quantity",
            Box::new(|m| m["lines"][0]["quantity"] = json!("2")),
        ),
        (
            "lines[0].sku",
            Box::new(|m| {
                m["lines"][0].as_object_mut().unwrap().remove("sku");
            }),
        ),
        ("shipped_at", Box::new(|m| m["shipped_at"] = json!("soon"))),
        (
            "tracking_number",
            Box::new(|m| m["tracking_number"] = json!("")),
        ),
        (
            "request_id",
            Box::new(|m| {
                m.as_object_mut().unwrap().remove("request_id");
            }),
        ),
        ("lines", Box::new(|m| m["lines"] = json!([]))),
    ];
    for (path, mutate) in cases {
        let mut m = message();
        mutate(&mut m);
        let err = warehouse()
            .map_shipment(&serde_json::to_vec(&m).unwrap())
            .unwrap_err();
        assert_eq!(err.path, path, "{err}");
    }
    let body = br#"{"order_id":"o-1"}"#;
    let err = warehouse().read_webhook(&signed(body), body).unwrap_err();
    assert_eq!(err.path, "shipment_id");
    assert_eq!(
        warehouse()
            .read_webhook(&signed(b"["), b"[")
            .unwrap_err()
            .path,
        "body"
    );
    // Unsigned, the same body is refused as unauthenticated, not malformed.
    let err = warehouse()
        .read_webhook(&HeaderMap::new(), body)
        .unwrap_err();
    assert_eq!(err.auth_check, Some(AuthCheck::Missing));
}
