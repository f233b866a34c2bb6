//! The Shopify channel: webhook verification and envelopes, mapping, and the
//! Admin REST calls against an in-test stand-in for the Admin API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use crossdock_connectors::channel::{ShopifyChannel, ShopifyOptions};
use crossdock_connectors::{
    Channel, ChannelEvent, ConnectorError, HttpClient, HttpClientOptions, InboundEnvelope,
    ShipConfirmation,
};
use crossdock_model::{Shipment, ShipmentLine, Tracking};
use hmac::{Hmac, Mac};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "API_SECRET_KEY";
const TOKEN: &str = "shpat_test_token";
const BIG_ID: &str = "8209829119461545081";
const FIXTURE: &str = "/work/shared/reference/shopify-python-api-fixtures/order.json";
const CURSOR: &str = "eyJkaXJlY3Rpb24iOiJuZXh0In0-_x%3D%3D";

fn http() -> HttpClient {
    HttpClient::new(HttpClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
    })
    .unwrap()
}

fn channel_at(url: &str) -> ShopifyChannel {
    ShopifyChannel::new(ShopifyOptions::new("shopify", url, TOKEN, SECRET), http()).unwrap()
}

fn channel() -> ShopifyChannel {
    channel_at("http://127.0.0.1:9")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

fn headers(signature: Option<&str>, topic: &str, event: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(s) = signature {
        h.insert("x-shopify-hmac-sha256", HeaderValue::from_str(s).unwrap());
    }
    h.insert("x-shopify-topic", HeaderValue::from_str(topic).unwrap());
    if let Some(e) = event {
        h.insert("x-shopify-event-id", HeaderValue::from_str(e).unwrap());
    }
    h
}

/// A small order body with a 19-digit id written as a JSON integer.
fn order_text(id: &str, updated_at: &str, cancelled: bool) -> String {
    let cancel = if cancelled {
        r#""cancelled_at": "2026-11-26T21:00:00-05:00", "cancel_reason": "customer","#
    } else {
        r#""cancelled_at": null, "cancel_reason": null,"#
    };
    format!(
        r#"{{"id": {id}, "created_at": "2026-11-26T15:00:00-05:00", "updated_at": "{updated_at}",
            {cancel}
            "currency": "USD", "email": "b@example.com",
            "line_items": [
              {{"id": 9100000000000000001, "sku": "SKU-A", "name": "A", "quantity": 2, "price": "10.00"}},
              {{"id": 9100000000000000002, "sku": "SKU-B", "name": "B", "quantity": 1, "price": "5.00"}}
            ],
            "total_price": "25.00"}}"#
    )
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn hmac_self_check_vector() {
    let body = std::fs::read(FIXTURE).expect("reference fixture");
    assert_eq!(body.len(), 7647);
    assert_eq!(
        sign(SECRET, &body),
        "wUpYh+ekzj37DTZi1/jh4d1As9G4eJstQDJUGBWMPcU="
    );
    let h = headers(
        Some("wUpYh+ekzj37DTZi1/jh4d1As9G4eJstQDJUGBWMPcU="),
        "orders/updated",
        Some("evt-1"),
    );
    // The fixture is the wrapped REST answer `{"order": {...}}`.
    assert_eq!(
        channel().read_webhook(&h, &body).unwrap(),
        InboundEnvelope {
            message_key: "shopify:evt-1".into(),
            external_order_id: "450789469".into(),
            source_version: ms("2008-01-10T11:00:00-05:00"),
        }
    );
}

#[test]
fn bad_signatures_are_refused_before_parsing() {
    let body = order_text(BIG_ID, "2026-11-26T20:00:00Z", false).into_bytes();
    let good = sign(SECRET, &body);
    let check = |h: HeaderMap, body: &[u8], message: &str| {
        let err = channel().read_webhook(&h, body).unwrap_err();
        assert_eq!(err.path, "X-Shopify-Hmac-Sha256", "{err}");
        assert_eq!(err.message, message);
    };
    let mut tampered = body.clone();
    tampered[body.len() - 3] = b'9';
    check(
        headers(Some(&good), "orders/create", Some("e")),
        &tampered,
        "signature does not match",
    );
    check(
        headers(Some(&sign("other", &body)), "orders/create", Some("e")),
        &body,
        "signature does not match",
    );
    check(
        headers(Some("not base64!"), "orders/create", Some("e")),
        &body,
        "signature does not match",
    );
    check(headers(None, "orders/create", Some("e")), &body, "missing");
    // Not JSON at all, but unsigned: the signature is what is refused.
    check(
        headers(None, "orders/create", Some("e")),
        b"{junk",
        "missing",
    );
}

#[test]
fn envelope_keys_on_the_event_id_and_keeps_big_ids_exact() {
    let updated = "2026-11-26T20:00:00.250-05:00";
    let body = order_text(BIG_ID, updated, false).into_bytes();
    let sig = sign(SECRET, &body);
    let env = channel()
        .read_webhook(
            &headers(Some(&sig), "orders/create", Some("0192-evt")),
            &body,
        )
        .unwrap();
    assert_eq!(
        env,
        InboundEnvelope {
            message_key: "shopify:0192-evt".into(),
            external_order_id: BIG_ID.into(),
            source_version: ms(updated),
        }
    );
    // Same event id on a redelivery: same key.
    let again = channel()
        .read_webhook(
            &headers(Some(&sig), "orders/create", Some("0192-evt")),
            &body,
        )
        .unwrap();
    assert_eq!(again.message_key, env.message_key);
    // The newer `shopify-*` header names are read too.
    let mut modern = HeaderMap::new();
    modern.insert("shopify-hmac-sha256", HeaderValue::from_str(&sig).unwrap());
    modern.insert("shopify-topic", HeaderValue::from_static("orders/updated"));
    modern.insert("shopify-event-id", HeaderValue::from_static("e2"));
    assert_eq!(
        channel().read_webhook(&modern, &body).unwrap().message_key,
        "shopify:e2"
    );

    let err = channel()
        .read_webhook(&headers(Some(&sig), "orders/create", None), &body)
        .unwrap_err();
    assert_eq!(
        (err.path.as_str(), err.message.as_str()),
        ("X-Shopify-Event-Id", "missing")
    );
    let err = channel()
        .read_webhook(&headers(Some(&sig), "products/update", Some("e")), &body)
        .unwrap_err();
    assert_eq!(err.path, "X-Shopify-Topic");
    assert!(err.message.contains("products/update"), "{err}");
    let bad = br#"{"id": 1, "updated_at": "yesterday"}"#;
    let err = channel()
        .read_webhook(
            &headers(Some(&sign(SECRET, bad)), "orders/updated", Some("e")),
            bad,
        )
        .unwrap_err();
    assert_eq!(err.path, "updated_at");
}

#[test]
fn maps_orders_and_cancellations() {
    let updated = "2026-11-26T20:00:00-05:00";
    let ChannelEvent::Order(order) = channel()
        .map_message(order_text(BIG_ID, updated, false).as_bytes())
        .unwrap()
    else {
        panic!("expected an order")
    };
    assert_eq!(order.external_id, BIG_ID);
    assert_eq!(order.source_version, ms(updated));
    assert_eq!(order.lines[0].line_id, "9100000000000000001");
    assert_eq!(
        channel()
            .map_message(order_text(BIG_ID, updated, true).as_bytes())
            .unwrap(),
        ChannelEvent::Cancelled {
            external_order_id: BIG_ID.into(),
            source_version: ms(updated),
            reason: "customer".into(),
        }
    );
    let wrapped = format!(r#"{{"order": {}}}"#, order_text(BIG_ID, updated, true));
    assert!(matches!(
        channel().map_message(wrapped.as_bytes()).unwrap(),
        ChannelEvent::Cancelled { external_order_id, .. } if external_order_id == BIG_ID
    ));
    let fixture = std::fs::read(FIXTURE).unwrap();
    assert!(matches!(
        channel().map_message(&fixture).unwrap(),
        ChannelEvent::Order(o) if o.external_id == "450789469"
    ));
}

// ---- the Admin API stand-in ----

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    token: Option<String>,
    body: Option<Value>,
}

#[derive(Default)]
struct Shop {
    base: String,
    seen: Vec<Seen>,
    /// order id → fulfillments as GET fulfillments.json lists them.
    fulfillments: HashMap<String, Vec<Value>>,
    next_id: u64,
}

type Shared = Arc<Mutex<Shop>>;

const API: &str = "/admin/api/2025-07";
/// Fulfillment order line id → order line item id.
const FO_LINES: [(&str, &str); 3] = [
    ("7118028439715", "9100000000000000001"),
    ("7118028439716", "9100000000000000002"),
    ("7118028439799", "9100000000000000001"),
];

fn polled(id: u64, updated: &str) -> String {
    order_text(&id.to_string(), updated, false)
}

fn fulfillment_orders() -> Value {
    json!({ "fulfillment_orders": [
        // closed: must not be used although it holds line A
        { "id": 2558888935500u64, "status": "closed", "assigned_location_id": 10,
          "line_items": [ { "id": 7118028439799u64, "line_item_id": 9100000000000000001u64,
                            "quantity": 2, "fulfillable_quantity": 2 } ] },
        { "id": 2558888935587u64, "status": "open", "assigned_location_id": 55896015011u64,
          "line_items": [ { "id": 7118028439715u64, "line_item_id": 9100000000000000001u64,
                            "quantity": 2, "fulfillable_quantity": 2 } ] },
        { "id": 2558888935588u64, "status": "open", "assigned_location_id": 55896015012u64,
          "line_items": [ { "id": 7118028439716u64, "line_item_id": 9100000000000000002u64,
                            "quantity": 1, "fulfillable_quantity": 1 } ] }
    ]})
}

async fn admin(
    State(shop): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = shop.lock().unwrap();
    let path = uri.path().strip_prefix(API).unwrap_or("").to_owned();
    s.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        token: headers
            .get("x-shopify-access-token")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: (!body.is_empty()).then(|| serde_json::from_slice(&body).unwrap()),
    });
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["orders.json"]) => {
            if uri.query().is_some_and(|q| q.contains("page_info")) {
                let page = format!(r#"{{"orders": [{}]}}"#, polled(2, "2026-11-26T20:05:00Z"));
                return ([(header::CONTENT_TYPE, "application/json")], page).into_response();
            }
            let page = format!(
                r#"{{"orders": [{}, {{"id": 3}}]}}"#,
                order_text(BIG_ID, "2026-11-26T20:01:00Z", false)
            );
            let link = format!(
                "<{}{API}/orders.json?limit=250&page_info={CURSOR}>; rel=\"next\"",
                s.base
            );
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                    (header::LINK, link),
                ],
                page,
            )
                .into_response()
        }
        ("GET", ["orders", "429.json"]) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "7")],
            r#"{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}"#,
        )
            .into_response(),
        ("GET", ["orders", file]) if *file == format!("{BIG_ID}.json") => (
            [(header::CONTENT_TYPE, "application/json")],
            format!(
                r#"{{"order": {}}}"#,
                order_text(BIG_ID, "2026-11-26T20:00:00Z", false)
            ),
        )
            .into_response(),
        ("GET", ["orders", _, "fulfillment_orders.json"]) => {
            axum::Json(fulfillment_orders()).into_response()
        }
        ("GET", ["orders", id, "fulfillments.json"]) if *id != "404" => {
            let list = s.fulfillments.get(*id).cloned().unwrap_or_default();
            axum::Json(json!({ "fulfillments": list })).into_response()
        }
        ("POST", ["fulfillments.json"]) => {
            let request: Value = serde_json::from_slice(&body).unwrap();
            let f = &request["fulfillment"];
            // The stand-in keeps which order a fulfillment order belongs to simple:
            // the test passes it as the first path element it fetched.
            let order = s
                .seen
                .iter()
                .rev()
                .find(|x| x.path.ends_with("fulfillment_orders.json"))
                .map(|x| x.path.split('/').nth(2).unwrap().to_owned())
                .unwrap();
            let mut lines = Vec::new();
            for group in f["line_items_by_fulfillment_order"].as_array().unwrap() {
                for l in group["fulfillment_order_line_items"].as_array().unwrap() {
                    let fo_line = l["id"].as_u64().unwrap().to_string();
                    let (_, item) = FO_LINES.iter().find(|(fl, _)| *fl == fo_line).unwrap();
                    lines.push(json!({ "id": item.parse::<u64>().unwrap(), "quantity": l["quantity"] }));
                }
            }
            s.next_id += 1;
            let id = 5_000_000_000_000u64 + s.next_id;
            let number = f["tracking_info"]["number"].clone();
            s.fulfillments.entry(order).or_default().push(json!({
                "id": id, "status": "success", "tracking_number": number,
                "tracking_numbers": [number], "line_items": lines
            }));
            (
                StatusCode::CREATED,
                axum::Json(json!({ "fulfillment": { "id": id, "status": "success" } })),
            )
                .into_response()
        }
        _ => (StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#).into_response(),
    }
}

async fn serve() -> (String, Shared) {
    let shop: Shared = Arc::default();
    let app = Router::new().fallback(admin).with_state(shop.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    shop.lock().unwrap().base = url.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, shop)
}

fn seen(shop: &Shared) -> Vec<Seen> {
    shop.lock().unwrap().seen.clone()
}

#[tokio::test]
async fn fetches_an_order_and_a_missing_one() {
    let (url, shop) = serve().await;
    let ch = channel_at(&url);
    let raw = ch.fetch_order(BIG_ID).await.unwrap().expect("order");
    let text = String::from_utf8(raw.clone()).unwrap();
    assert!(text.starts_with(&format!(r#"{{"id": {BIG_ID},"#)), "{text}");
    let ChannelEvent::Order(order) = ch.map_message(&raw).unwrap() else {
        panic!("expected an order")
    };
    assert_eq!(order.external_id, BIG_ID);
    assert_eq!(ch.fetch_order("404").await.unwrap(), None);
    let seen = seen(&shop);
    assert_eq!(seen[0].path, format!("/orders/{BIG_ID}.json"));
    assert!(seen.iter().all(|s| s.token.as_deref() == Some(TOKEN)));
}

#[tokio::test]
async fn polls_two_pages_through_the_link_cursor() {
    let (url, shop) = serve().await;
    let ch = channel_at(&url);
    let since = ms("2026-11-26T20:00:00.750Z");
    let got = ch.poll_updated_since(since).await.unwrap();
    let keys: Vec<(&str, &str, i64)> = got
        .iter()
        .map(|(e, _)| {
            (
                e.message_key.as_str(),
                e.external_order_id.as_str(),
                e.source_version,
            )
        })
        .collect();
    let v1 = ms("2026-11-26T20:01:00Z");
    let v2 = ms("2026-11-26T20:05:00Z");
    let k1 = format!("shopify:poll:{BIG_ID}:{v1}");
    let k2 = format!("shopify:poll:2:{v2}");
    // `{"id": 3}` has no updated_at: skipped, not fatal.
    assert_eq!(
        keys,
        vec![(k1.as_str(), BIG_ID, v1), (k2.as_str(), "2", v2)]
    );
    assert!(
        matches!(ch.map_message(&got[0].1).unwrap(), ChannelEvent::Order(o) if o.external_id == BIG_ID)
    );
    let seen = seen(&shop);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/orders.json");
    assert_eq!(
        seen[0].query.as_deref(),
        Some("status=any&updated_at_min=2026-11-26T20%3A00%3A00Z&limit=250")
    );
    assert_eq!(seen[1].path, "/orders.json");
    assert_eq!(
        seen[1].query.as_deref(),
        Some(format!("limit=250&page_info={CURSOR}").as_str()),
        "page_info verbatim, nothing else but limit"
    );
}

fn shipment(number: &str, carrier: &str, url: Option<&str>) -> Shipment {
    Shipment {
        id: "SHP-1".into(),
        order_id: "o".into(),
        warehouse: "wh".into(),
        external_id: "W-1".into(),
        fulfillment_request_id: "fr".into(),
        lines: vec![
            ShipmentLine {
                line_id: "9100000000000000001".into(),
                sku: "SKU-A".into(),
                quantity: 2,
            },
            ShipmentLine {
                line_id: "9100000000000000002".into(),
                sku: "SKU-B".into(),
                quantity: 1,
            },
        ],
        tracking: Tracking {
            carrier: carrier.into(),
            number: number.into(),
            url: url.map(str::to_owned),
        },
        shipped_at: Utc::now(),
        completes_request: true,
    }
}

#[tokio::test]
async fn confirms_a_tracked_shipment_per_location_and_recognises_a_resend() {
    let (url, shop) = serve().await;
    let ch = channel_at(&url);
    let confirmation = ShipConfirmation {
        package_id: "wh:SHP-1".into(),
        external_order_id: BIG_ID.into(),
        shipment: shipment(
            "1Z999AA10123456784",
            "UPS",
            Some("https://ups.example/t/1Z"),
        ),
    };
    assert_eq!(
        ch.find_shipment_confirmation(BIG_ID, "wh:SHP-1")
            .await
            .unwrap(),
        None
    );
    let id = ch.confirm_shipment(&confirmation).await.unwrap();
    assert_eq!(id, "5000000000001,5000000000002");
    let posts: Vec<Value> = seen(&shop)
        .into_iter()
        .filter(|s| s.method == Method::POST)
        .map(|s| {
            assert_eq!(s.path, "/fulfillments.json");
            assert_eq!(s.token.as_deref(), Some(TOKEN));
            s.body.unwrap()
        })
        .collect();
    let tracking = json!({ "number": "1Z999AA10123456784", "company": "UPS",
                           "url": "https://ups.example/t/1Z" });
    assert_eq!(
        posts,
        vec![
            json!({ "fulfillment": {
                "line_items_by_fulfillment_order": [{
                    "fulfillment_order_id": 2558888935587u64,
                    "fulfillment_order_line_items": [{ "id": 7118028439715u64, "quantity": 2 }]
                }],
                "tracking_info": tracking, "notify_customer": false } }),
            json!({ "fulfillment": {
                "line_items_by_fulfillment_order": [{
                    "fulfillment_order_id": 2558888935588u64,
                    "fulfillment_order_line_items": [{ "id": 7118028439716u64, "quantity": 1 }]
                }],
                "tracking_info": tracking, "notify_customer": false } }),
        ]
    );
    // A tracked package is not found by its package id (Shopify keeps no
    // external id); the resend is recognised by tracking number and lines.
    let before = seen(&shop).len();
    assert_eq!(
        ch.confirm_shipment(&confirmation).await.unwrap(),
        "5000000000001,5000000000002"
    );
    let resend = &seen(&shop)[before..];
    assert!(resend.iter().all(|s| s.method == Method::GET), "{resend:?}");
}

#[tokio::test]
async fn an_untracked_package_carries_its_id_and_is_found() {
    let (url, shop) = serve().await;
    let ch = channel_at(&url);
    let confirmation = ShipConfirmation {
        package_id: "wh:SHP-2".into(),
        external_order_id: "5001".into(),
        shipment: shipment("", "", None),
    };
    let id = ch.confirm_shipment(&confirmation).await.unwrap();
    assert_eq!(id, "5000000000001,5000000000002");
    let post = seen(&shop)
        .into_iter()
        .find(|s| s.method == Method::POST)
        .unwrap();
    assert_eq!(
        post.body.unwrap()["fulfillment"]["tracking_info"],
        json!({ "number": "wh:SHP-2" })
    );
    assert_eq!(
        ch.find_shipment_confirmation("5001", "wh:SHP-2")
            .await
            .unwrap()
            .as_deref(),
        Some("5000000000001,5000000000002")
    );
    assert_eq!(
        ch.find_shipment_confirmation("5001", "wh:SHP-9")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        ch.find_shipment_confirmation("404", "wh:SHP-2")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn refuses_units_no_open_fulfillment_order_holds() {
    let (url, shop) = serve().await;
    let ch = channel_at(&url);
    let mut s = shipment("1Z1", "UPS", None);
    s.lines[0].quantity = 3;
    let err = ch
        .confirm_shipment(&ShipConfirmation {
            package_id: "p".into(),
            external_order_id: "77".into(),
            shipment: s,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Rejected { reason } if reason.contains("9100000000000000001")),
        "{err:?}"
    );
    assert!(seen(&shop).iter().all(|s| s.method == Method::GET));
}

#[tokio::test]
async fn a_429_is_throttled_with_its_retry_after() {
    let (url, _shop) = serve().await;
    let err = channel_at(&url).fetch_order("429").await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Throttled { retry_after, .. } if retry_after == Duration::from_secs(7)),
        "{err:?}"
    );
}

#[test]
fn errors_in_a_wrapped_order_name_the_field_under_order() {
    let body =
        br#"{"order": {"id": 1, "updated_at": "2026-11-26T20:00:00Z", "cancelled_at": "soon"}}"#;
    let err = channel().map_message(body).unwrap_err();
    assert_eq!(err.path, "order.cancelled_at");
    let body = br#"{"order": {"id": 1, "updated_at": "later"}}"#;
    let h = headers(Some(&sign(SECRET, body)), "orders/updated", Some("e"));
    assert_eq!(
        channel().read_webhook(&h, body).unwrap_err().path,
        "order.updated_at"
    );
}
