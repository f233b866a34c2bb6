//! The hub with a Shopify shop connection, end to end: an in-test shop
//! plays the Admin REST API (orders, fulfillment orders, fulfillments,
//! access token required); the simulated ERP and warehouses do the rest.
//! A signed webhook is only a trigger — the hub reads the order again and
//! works the shop's current version; a redelivery is a duplicate; a wrong
//! signature is refused with 401 and kept; an order whose webhook never
//! came is found by the reconciliation poll; the shipment goes back to the
//! shop as fulfillments against its fulfillment orders, every unit once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use crossdock::config::{ChannelSpec, Config, ShopifyConfig};
use crossdock_model::{OrderStatus, order_id_for};
use crossdock_sim::Estate;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "shpss_webhook_secret";
const TOKEN: &str = "shpat_access_token";
const API: &str = "/admin/api/2025-07";
/// Beyond 2^53: kept exact end to end.
const ORDER_ID: &str = "8209829119461545081";
/// An order whose webhook never arrives: the reconciliation poll finds it.
const MISSED_ID: &str = "8209829119461545082";
const CHANNEL: &str = "shop";

fn order_json(updated_at: &str, quantity_b: u32) -> Value {
    order_json_for(ORDER_ID, updated_at, quantity_b)
}

/// A fulfillment order's id: 3 and the last six digits of its order's id.
fn fulfillment_order_id(order_id: &str) -> u64 {
    format!("3{}", &order_id[order_id.len() - 6..])
        .parse()
        .expect("number")
}

fn order_json_for(order_id: &str, updated_at: &str, quantity_b: u32) -> Value {
    let total = 2 * 10 + quantity_b * 5;
    serde_json::from_str(&format!(
        r#"{{"id": {order_id}, "created_at": "2026-11-26T15:00:00-05:00", "updated_at": "{updated_at}",
            "cancelled_at": null, "cancel_reason": null, "currency": "USD", "email": "buyer@example.com",
            "customer": {{"id": 207119551, "email": "buyer@example.com", "first_name": "Bo", "last_name": "Buyer"}},
            "shipping_address": {{"first_name": "Bo", "last_name": "Buyer", "address1": "1 Main St",
                                  "city": "Seattle", "province_code": "WA", "zip": "98101", "country_code": "US"}},
            "line_items": [
              {{"id": 9100000000000000001, "sku": "SKU-001", "name": "A", "quantity": 2, "price": "10.00"}},
              {{"id": 9100000000000000002, "sku": "SKU-002", "name": "B", "quantity": {quantity_b}, "price": "5.00"}}
            ],
            "total_price": "{total}.00"}}"#
    ))
    .expect("order json")
}

#[derive(Default)]
struct Shop {
    /// The shop's current version of each order.
    orders: HashMap<String, Value>,
    /// Fulfillments posted, per order.
    fulfillments: HashMap<String, Vec<Value>>,
    unauthorized: u64,
    refetches: u64,
    next_id: u64,
}

type Shared = Arc<Mutex<Shop>>;

/// One open fulfillment order per order, holding what is not yet fulfilled.
fn fulfillment_orders(shop: &Shop, id: &str) -> Value {
    let order = &shop.orders[id];
    let done = |line: &str| -> u64 {
        shop.fulfillments
            .get(id)
            .into_iter()
            .flatten()
            .flat_map(|f| f["line_items"].as_array().cloned().unwrap_or_default())
            .filter(|l| l["id"].to_string().as_str() == line)
            .map(|l| l["quantity"].as_u64().unwrap_or(0))
            .sum()
    };
    let lines: Vec<Value> = order["line_items"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            let item = l["id"].to_string();
            let qty = l["quantity"].as_u64().unwrap_or(0);
            json!({ "id": format!("7{}", &item[item.len() - 6..]).parse::<u64>().unwrap(),
                    "line_item_id": l["id"], "quantity": qty,
                    "fulfillable_quantity": qty - done(&item) })
        })
        .collect();
    json!({ "fulfillment_orders": [
        { "id": fulfillment_order_id(id), "status": "open", "assigned_location_id": 55896015011u64,
          "line_items": lines }
    ]})
}

async fn admin(
    State(shop): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = shop.lock().expect("shop");
    if headers
        .get("x-shopify-access-token")
        .is_none_or(|t| t != TOKEN)
    {
        s.unauthorized += 1;
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"errors":"[API] Invalid API key or access token"}"#,
        )
            .into_response();
    }
    let path = uri.path().strip_prefix(API).unwrap_or("").to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["orders.json"]) => {
            let list: Vec<Value> = s.orders.values().cloned().collect();
            axum::Json(json!({ "orders": list })).into_response()
        }
        ("GET", ["orders", file]) if file.ends_with(".json") => {
            let id = file.trim_end_matches(".json");
            s.refetches += 1;
            match s.orders.get(id) {
                Some(o) => axum::Json(json!({ "order": o })).into_response(),
                None => (StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#).into_response(),
            }
        }
        ("GET", ["orders", id, "fulfillment_orders.json"]) => {
            axum::Json(fulfillment_orders(&s, id)).into_response()
        }
        ("GET", ["orders", id, "fulfillments.json"]) => {
            let list = s.fulfillments.get(*id).cloned().unwrap_or_default();
            axum::Json(json!({ "fulfillments": list })).into_response()
        }
        ("POST", ["fulfillments.json"]) => {
            let request: Value = serde_json::from_slice(&body).expect("json");
            let f = &request["fulfillment"];
            // Fulfillment order line ids are 7 + the line item id's last six digits.
            let mut lines = Vec::new();
            let groups = f["line_items_by_fulfillment_order"]
                .as_array()
                .expect("groups");
            // One location here, so one fulfillment order and one order.
            let fo = groups[0]["fulfillment_order_id"]
                .as_u64()
                .expect("fulfillment order id");
            let order_id = s
                .orders
                .keys()
                .find(|o| fulfillment_order_id(o) == fo)
                .cloned()
                .expect("a known fulfillment order");
            for group in groups {
                for l in group["fulfillment_order_line_items"]
                    .as_array()
                    .expect("lines")
                {
                    let fo_line = l["id"].to_string();
                    let item = s.orders[&order_id]["line_items"]
                        .as_array()
                        .expect("lines")
                        .iter()
                        .find(|i| {
                            let id = i["id"].to_string();
                            format!("7{}", &id[id.len() - 6..]) == fo_line
                        })
                        .map(|i| i["id"].clone())
                        .expect("a line of the order");
                    lines.push(json!({ "id": item, "quantity": l["quantity"] }));
                }
            }
            s.next_id += 1;
            let id = 5_000_000_000_000u64 + s.next_id;
            let number = f["tracking_info"]["number"].clone();
            // Filed under the order its fulfillment order belongs to: the
            // polled order's fulfillments are not the webhook order's.
            s.fulfillments.entry(order_id).or_default().push(
                json!({ "id": id, "status": "success", "tracking_number": number,
                              "tracking_numbers": [number], "line_items": lines }),
            );
            (
                StatusCode::CREATED,
                axum::Json(json!({ "fulfillment": { "id": id, "status": "success" } })),
            )
                .into_response()
        }
        _ => (StatusCode::NOT_FOUND, r#"{"errors":"Not Found"}"#).into_response(),
    }
}

fn sign(body: &[u8]) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_order_is_refetched_worked_and_fulfilled_once() {
    let shop: Shared = Arc::default();
    // The shop already holds a newer version than the webhook will carry:
    // the buyer changed line B from 1 to 3 units.
    {
        let mut s = shop.lock().expect("shop");
        s.orders
            .insert(ORDER_ID.to_owned(), order_json("2026-11-26T20:05:00Z", 3));
        s.orders.insert(
            MISSED_ID.to_owned(),
            order_json_for(MISSED_ID, "2026-11-26T20:06:00Z", 1),
        );
    }
    let app = Router::new().fallback(admin).with_state(shop.clone());
    let shop_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let shop_url = format!("http://{}", shop_listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(shop_listener, app).await.expect("serve") });

    let tmp = tempfile::tempdir().expect("tempdir");
    let mut config = Config::demo();
    config.hub.data_dir = tmp.path().join("data");
    config
        .use_demo_signing_secret()
        .expect("write the demo signing key");
    config.hub.database_url = None;
    config.engine.reconcile_interval_ms = 500;
    let channel = &mut config.channels[0];
    channel.name = CHANNEL.into();
    channel.base_url = shop_url.clone();
    channel.poll = true;
    channel.spec = ChannelSpec::Shopify(ShopifyConfig {
        access_token: Some(TOKEN.into()),
        access_token_env: None,
        webhook_secret: Some(SECRET.into()),
        webhook_secret_env: None,
        webhook_secret_file: None,
        api_version: "2025-07".into(),
    });
    config.validate("test").expect("valid config");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hub_url = format!("http://{}", listener.local_addr().expect("addr"));
    let mut sim = config.sim.clone().expect("[sim]");
    sim.hub_url = hub_url.clone();
    // The simulated webstore places no orders here.
    sim.channel.orders_per_sec = 0.0;
    sim.channel.listen = "127.0.0.1:0".into();
    sim.erp.listen = "127.0.0.1:0".into();
    for w in &mut sim.warehouses {
        w.listen = "127.0.0.1:0".into();
        w.ship_delay_ms = 100;
        w.partial_ship_rate = 1.0;
    }
    let estate = Estate::start(sim).await.expect("estate");
    config.erp.base_url = estate.erp_url();
    for (name, url) in estate.warehouse_urls() {
        if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
            w.set_base_url(url);
        }
    }
    let hub = crossdock::hub::start(&config, listener).await.expect("hub");
    let http = reqwest::Client::new();
    let webhook = format!("{hub_url}/webhooks/channels/{CHANNEL}");
    // The delivered payload: the older version.
    let old = serde_json::to_vec(&order_json("2026-11-26T20:00:00Z", 1)).expect("json");
    let post = |signature: String, event: &'static str| {
        http.post(&webhook)
            .header("content-type", "application/json")
            .header("x-shopify-topic", "orders/create")
            .header("x-shopify-event-id", event)
            .header("x-shopify-hmac-sha256", signature)
            .body(old.clone())
            .send()
    };

    // A forged delivery: 401, recorded as rejected, nothing worked.
    let forged = post(sign(b"something else"), "evt-forged")
        .await
        .expect("post");
    assert_eq!(forged.status(), 401);
    let err: Value = forged.json().await.expect("json");
    assert_eq!(err["error"]["code"], "CD-IN-0401", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("X-Shopify-Hmac-Sha256")),
        "{err}"
    );

    let first = post(sign(&old), "evt-1").await.expect("post");
    assert_eq!(first.status(), 200);
    let again = post(sign(&old), "evt-1").await.expect("post");
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["duplicate"], true, "{again}");

    let store = hub.engine.store().clone();
    let id = order_id_for(CHANNEL, ORDER_ID);
    let started = Instant::now();
    let order = loop {
        if let Some(o) = store.order(&id).await.expect("store")
            && o.status == OrderStatus::Closed
        {
            break o;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "order not closed: {:?}",
            store.order(&id).await.expect("store").map(|o| o.status)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The shop's version was worked, not the stale payload.
    assert_eq!(order.external_id, ORDER_ID);
    assert_eq!(order.lines[1].quantity, 3, "{order:?}");
    assert_eq!(order.total.amount.to_string(), "35.00");

    let (refetches, unauthorized, fulfillments) = {
        let s = shop.lock().expect("shop");
        (
            s.refetches,
            s.unauthorized,
            s.fulfillments[ORDER_ID].clone(),
        )
    };
    assert!(refetches >= 1, "the webhook triggered a read of the order");
    assert_eq!(unauthorized, 0, "the access token went with every call");
    let mut shipped: HashMap<String, u64> = HashMap::new();
    for f in &fulfillments {
        assert!(f["tracking_number"].is_string(), "{f}");
        for l in f["line_items"].as_array().expect("lines") {
            *shipped.entry(l["id"].to_string()).or_default() += l["quantity"].as_u64().unwrap();
        }
    }
    assert_eq!(
        shipped,
        HashMap::from([
            ("9100000000000000001".to_owned(), 2),
            ("9100000000000000002".to_owned(), 3)
        ]),
        "every unit fulfilled once: {fulfillments:?}"
    );
    // The order whose webhook never came was found by the poll and worked.
    let missed = order_id_for(CHANNEL, MISSED_ID);
    let started = Instant::now();
    loop {
        let status = store.order(&missed).await.expect("store").map(|o| o.status);
        if status == Some(OrderStatus::Closed) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "missed order: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let inbox = store.inbox_counts().await.expect("inbox");
    assert_eq!(inbox.rejected, 1, "the forged delivery is kept: {inbox:?}");
    assert!(
        inbox.duplicates >= 1,
        "the redelivery was counted: {inbox:?}"
    );
    hub.stop().await.expect("stop");
    estate.shutdown().await;
}
