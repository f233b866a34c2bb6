use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::ShopifySimConfig;
use super::graphql::search_skus;
use super::rest::Cursor;
use crate::wire::lock;
use crate::{Estate, SimConfig};

#[test]
fn cursors_round_trip_and_garbage_is_refused() {
    let cursor = Cursor {
        status: "any".into(),
        updated_min: Some(1),
        after: u64::MAX,
    };
    let text = cursor.encode();
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{text}: URL-safe, unpadded"
    );
    let back = Cursor::decode(&text).unwrap();
    assert_eq!((back.status.as_str(), back.after), ("any", u64::MAX));
    assert!(Cursor::decode("not!base64").is_none());
}

/// Webhooks the stand-in hub received: (headers, raw body).
type Inbox = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

#[tokio::test]
async fn delivered_webhooks_carry_a_verifiable_hmac() {
    let inbox: Inbox = Arc::default();
    let app = Router::new()
        .route(
            "/webhooks/channels/{name}",
            post(
                |State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes| async move {
                    lock(&inbox).push((headers, body.to_vec()));
                    StatusCode::OK
                },
            ),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut sim = SimConfig::demo(&hub);
    sim.channel.orders_per_sec = 0.0;
    let config = ShopifySimConfig {
        orders_per_sec: 50.0,
        max_orders: 3,
        ..ShopifySimConfig::default()
    };
    let secret = config.webhook_secret.clone();
    sim.shopify = Some(config);
    let estate = Estate::start(sim).await.unwrap();
    for _ in 0..200 {
        if lock(&inbox).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = lock(&inbox).clone();
    assert_eq!(received.len(), 3);
    for (headers, body) in &received {
        assert_eq!(headers["x-shopify-topic"], "orders/create");
        let given = BASE64
            .decode(headers["x-shopify-hmac-sha256"].as_bytes())
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        mac.clone().verify_slice(&given).unwrap();
        // Signed over the exact bytes: one byte more and it fails.
        mac.update(b" ");
        assert!(mac.verify_slice(&given).is_err());
    }
    estate.shutdown().await;
}

#[test]
fn reads_sku_searches() {
    assert_eq!(search_skus(""), None);
    assert_eq!(
        search_skus(r#"sku:"A-1" OR sku:'B 2' OR sku:C"#),
        Some(vec!["A-1".to_owned(), "B 2".to_owned(), "C".to_owned()])
    );
    assert_eq!(search_skus("title:x"), Some(vec![]));
}

#[test]
fn config_refuses_bad_values() {
    ShopifySimConfig::default().validate().unwrap();
    let bad = ShopifySimConfig {
        drop_rate: 2.0,
        ..ShopifySimConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("drop_rate")
    );
    let bad = ShopifySimConfig {
        api_version: "latest".into(),
        ..ShopifySimConfig::default()
    };
    assert!(bad.validate().is_err());
}

async fn shop(config: ShopifySimConfig) -> (crate::EstateHandle, String) {
    let mut sim = SimConfig::demo("http://127.0.0.1:9");
    sim.channel.orders_per_sec = 0.0;
    sim.shopify = Some(config);
    let estate = Estate::start(sim).await.unwrap();
    let url = estate.shopify_url().unwrap();
    (estate, url)
}

#[tokio::test]
async fn admin_api_is_as_strict_as_shopify() {
    let (estate, url) = shop(ShopifySimConfig {
        orders_per_sec: 50.0,
        max_orders: 5,
        max_page_size: 2,
        ..ShopifySimConfig::default()
    })
    .await;
    while !estate.generation_done() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = reqwest::Client::new();
    let api = format!("{url}/admin/api/2025-07");
    let get = |path: String, token: &'static str| {
        client
            .get(format!("{api}/{path}"))
            .header("x-shopify-access-token", token)
            .send()
    };
    let token = "shpat_sim_access_token";
    let r = get("orders.json".into(), "wrong").await.unwrap();
    assert_eq!(r.status(), 401);
    let r = get(
        "orders.json?status=any&updated_at_min=2000-01-01T00:00:00Z&limit=250".into(),
        token,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-shopify-shop-api-call-limit"]
            .to_str()
            .unwrap(),
        "1/40",
        "a refused token costs nothing"
    );
    let link = r.headers()["link"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["orders"].as_array().unwrap().len(), 2);
    let first = &body["orders"][0];
    assert!(first["id"].as_u64().unwrap() > 1 << 53);
    assert!(first["total_price"].is_string());
    let page_info = link
        .split("page_info=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    // A cursor carries its filters; another filter beside it is refused.
    let r = get(
        format!("orders.json?page_info={page_info}&status=any"),
        token,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"]["page_info"]
            .as_str()
            .unwrap()
            .contains("status"),
        "{body}"
    );
    let r = get(
        format!("orders.json?limit=250&page_info={page_info}"),
        token,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = get("orders.json?page_info=garbage!".into(), token)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = get("orders.json?updated_at_min=yesterday".into(), token)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = get("orders/12.json".into(), token).await.unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .post(format!("{api}/fulfillments.json"))
        .header("x-shopify-access-token", token)
        .json(&json!({ "fulfilment": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["errors"]["fulfillment"].is_string(), "{body}");
    estate.shutdown().await;
}

#[tokio::test]
async fn a_full_bucket_answers_429_with_retry_after() {
    let (estate, url) = shop(ShopifySimConfig {
        orders_per_sec: 0.0,
        bucket_size: 3,
        leak_per_sec: 0.5,
        ..ShopifySimConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = client
            .get(format!("{url}/admin/api/2025-07/orders.json"))
            .header("x-shopify-access-token", "shpat_sim_access_token")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(r.headers()["retry-after"], "2.0");
            assert_eq!(r.headers()["x-shopify-shop-api-call-limit"], "3/3");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    assert_eq!(estate.stats().await["shopify"]["throttled_429"], 1);
    estate.shutdown().await;
}
