//! The Amazon channel against the simulated SP-API (`crossdock_sim`'s
//! `[sim.amazon]`) over real HTTP: notifications, Pending orders, paging,
//! shipment confirmation, rate limits, and availability by
//! `patchListingsItem` and `JSON_LISTINGS_FEED`; and the `patchListingsItem`
//! request against Prism mocking Amazon's own `listingsItems_2021-08-01.json`
//! (`CROSSDOCK_SKIP_PRISM=1` skips that one, with a message).
#![allow(clippy::print_stderr)]

use crate::support::recording_hub;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{SecondsFormat, Utc};
use crossdock_connectors::channel::{AmazonChannel, AmazonOptions};
use crossdock_connectors::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityUpdate, Channel, ChannelEvent,
    ConnectorError, HttpClient, HttpClientOptions, ShipConfirmation,
};
use crossdock_model::{Shipment, ShipmentLine, Tracking};
use crossdock_sim::{AmazonSimConfig, Estate, EstateHandle, SimConfig};
use recording_hub::{Inbox, start_hub};
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn received(inbox: &Inbox) -> Vec<Vec<u8>> {
    recording_hub::received(inbox, "amazon")
        .into_iter()
        .map(|d| d.body)
        .collect()
}

/// Fast rates and no orders unless the test asks for them.
fn amazon_config() -> AmazonSimConfig {
    AmazonSimConfig {
        rate_multiplier: 100.0,
        pending_secs: 0.3,
        feed_processing_ms: 300,
        ..AmazonSimConfig::default()
    }
}

async fn start(amazon: AmazonSimConfig) -> (EstateHandle, Inbox, AmazonChannel) {
    let (hub_url, inbox) = start_hub().await;
    let mut config = SimConfig::demo(&hub_url);
    config.channel.orders_per_sec = 0.0;
    config.amazon = Some(amazon.clone());
    let estate = Estate::start(config).await.unwrap();
    let base = estate.amazon_url().expect("amazon simulator started");
    let channel = AmazonChannel::new(
        AmazonOptions {
            name: "amazon".into(),
            endpoint: base.clone(),
            lwa_url: format!("{base}/auth/o2/token"),
            client_id: amazon.client_id.clone(),
            client_secret: amazon.client_secret.clone(),
            refresh_token: amazon.refresh_token.clone(),
            marketplace_id: amazon.marketplace_id.clone(),
        },
        HttpClient::new(HttpClientOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
        })
        .unwrap(),
    )
    .unwrap()
    .with_seller_id(amazon.seller_id.clone())
    .with_feed_polling(Duration::from_millis(100), Duration::from_secs(20));
    (estate, inbox, channel)
}

/// Waits until the Amazon simulator's stats satisfy `done`.
async fn wait_for(estate: &EstateHandle, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    recording_hub::wait_for(estate, "amazon", Duration::from_millis(50), what, done).await
}

fn count(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

fn unshipped(stats: &Value) -> u64 {
    count(&stats["orders_by_status"], "Unshipped")
}

/// The order ids the notifications received so far are about.
fn notified_orders(channel: &AmazonChannel, inbox: &Inbox) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for body in received(inbox) {
        let envelope = channel.read_webhook(&HeaderMap::new(), &body).unwrap();
        if !ids.contains(&envelope.external_order_id) {
            ids.push(envelope.external_order_id);
        }
    }
    ids
}

async fn sim_post(estate: &EstateHandle, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", estate.amazon_url().unwrap());
    let answer = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer.json().await.unwrap()
}

#[tokio::test]
async fn notifications_arrive_duplicated_and_reordered_and_are_read() {
    let (estate, inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 10,
        duplicate_rate: 0.5,
        max_delivery_delay_ms: 300,
        ..amazon_config()
    })
    .await;
    let stats = wait_for(&estate, "every order Unshipped and notified", |s| {
        unshipped(s) == 10 && count(s, "webhook_deliveries_pending") == 0
    })
    .await;
    let bodies = received(&inbox);
    let sent = count(&stats, "notifications_sent");
    let duplicated = count(&stats, "notifications_duplicated");
    assert_eq!(
        sent, 20,
        "one for the new order, one for Unshipped: {stats}"
    );
    assert!(duplicated > 0, "{stats}");
    assert_eq!(bodies.len() as u64, sent + duplicated);

    let mut keys = HashSet::new();
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for body in &bodies {
        let envelope = channel.read_webhook(&HeaderMap::new(), body).unwrap();
        assert!(envelope.message_key.starts_with("amazon:notification:"));
        keys.insert(envelope.message_key);
        versions
            .entry(envelope.external_order_id)
            .or_default()
            .push(envelope.source_version);
    }
    assert_eq!(
        keys.len() as u64,
        sent,
        "duplicates share their NotificationId"
    );
    assert_eq!(versions.len(), 10);
    // Each order was notified twice (Pending, then Unshipped) with rising versions.
    for (order, v) in &versions {
        let distinct: HashSet<_> = v.iter().collect();
        assert_eq!(distinct.len(), 2, "{order}: {v:?}");
    }

    // A notification is a trigger: the order read again is now Unshipped, with prices.
    for body in bodies.iter().take(4) {
        let bundle = channel.refetch(body).await.unwrap().expect("a bundle");
        match channel.map_message(&bundle).unwrap() {
            ChannelEvent::Order(order) => {
                assert!(order.total.amount > Decimal::ZERO);
                assert!(order.shipping_address.is_some());
                assert!(
                    order
                        .lines
                        .iter()
                        .all(|l| l.unit_price.amount > Decimal::ZERO)
                );
            }
            other => panic!("expected an order, got {other:?}"),
        }
    }
    estate.shutdown().await;
}

#[tokio::test]
async fn pending_orders_are_not_mapped_until_unshipped() {
    let (estate, inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 1,
        pending_secs: 2.0,
        ..amazon_config()
    })
    .await;
    wait_for(&estate, "the first notification", |s| {
        count(s, "webhooks_delivered") >= 1
    })
    .await;
    let order_id = notified_orders(&channel, &inbox).remove(0);
    let first = received(&inbox).remove(0);

    let bundle = channel.fetch_order(&order_id).await.unwrap().unwrap();
    let raw: Value = serde_json::from_slice(&bundle).unwrap();
    assert_eq!(raw["order"]["OrderStatus"], "Pending");
    assert!(raw["order"].get("OrderTotal").is_none(), "{raw}");
    assert!(raw["order"].get("ShippingAddress").is_none(), "{raw}");
    assert!(
        matches!(
            channel.map_message(&bundle).unwrap(),
            ChannelEvent::NotYet { ref external_order_id, .. } if *external_order_id == order_id
        ),
        "a Pending order is not taken"
    );
    let again = channel.refetch(&first).await.unwrap().expect("read again");
    assert!(matches!(
        channel.map_message(&again).unwrap(),
        ChannelEvent::NotYet { .. }
    ));

    wait_for(&estate, "Unshipped", |s| unshipped(s) == 1).await;
    let bundle = channel.fetch_order(&order_id).await.unwrap().unwrap();
    let ChannelEvent::Order(order) = channel.map_message(&bundle).unwrap() else {
        panic!("expected an order");
    };
    assert_eq!(order.external_id, order_id);
    assert!(order.total.amount > Decimal::ZERO);
    assert!(
        order
            .lines
            .iter()
            .all(|l| l.unit_price.amount > Decimal::ZERO)
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn poll_finds_dropped_orders_across_next_token_pages() {
    let (estate, inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 7,
        drop_rate: 1.0,
        orders_page_size: 3,
        items_page_size: 1,
        max_lines: 3,
        visibility_delay_ms: 200,
        // Amazon refuses LastUpdatedBefore within two minutes of now.
        backdate_secs: 180,
        ..amazon_config()
    })
    .await;
    let stats = wait_for(&estate, "every order Unshipped", |s| unshipped(s) == 7).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(count(&stats, "notifications_sent"), 0, "{stats}");
    assert!(received(&inbox).is_empty());

    let since = (Utc::now() - chrono::Duration::hours(1)).timestamp_millis();
    let polled = channel.poll_updated_since(since).await.unwrap();
    let ids: HashSet<_> = polled
        .iter()
        .map(|(e, _)| e.external_order_id.clone())
        .collect();
    assert_eq!(ids.len(), 7, "{ids:?}");
    for (envelope, body) in &polled {
        assert!(envelope.message_key.starts_with("amazon:poll:"));
        let ChannelEvent::Order(order) = channel.map_message(body).unwrap() else {
            panic!("expected an order");
        };
        assert_eq!(order.external_id, envelope.external_order_id);
    }
    let stats = estate.stats().await["amazon"].clone();
    assert!(
        count(&stats["requests_by_operation"], "getOrders") >= 3,
        "three pages of three: {stats}"
    );
    assert_eq!(count(&stats, "bad_next_tokens"), 0, "{stats}");
    assert_eq!(count(&stats, "throttled"), 0, "{stats}");
    estate.shutdown().await;
}

#[tokio::test]
async fn get_orders_is_as_strict_as_amazon() {
    let config = AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 3,
        orders_page_size: 1,
        backdate_secs: 180,
        ..amazon_config()
    };
    let (estate, _inbox, _channel) = start(config.clone()).await;
    wait_for(&estate, "orders", |s| count(s, "orders_generated") == 3).await;
    let base = estate.amazon_url().unwrap();
    let http = reqwest::Client::new();
    let orders = format!("{base}/orders/v0/orders");

    let denied = http.get(&orders).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "Unauthorized", "{body}");

    let mut form = reqwest::Url::parse("http://form.invalid/").unwrap();
    form.query_pairs_mut().extend_pairs([
        ("grant_type", "refresh_token"),
        ("refresh_token", config.refresh_token.as_str()),
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.as_str()),
    ]);
    let token: Value = http
        .post(format!("{base}/auth/o2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.query().unwrap().to_owned())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let get = |query: Vec<(&'static str, String)>| {
        http.get(reqwest::Url::parse_with_params(&orders, &query).unwrap())
            .header("x-amz-access-token", &token)
            .send()
    };
    let iso = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let after = iso(Utc::now() - chrono::Duration::hours(1));
    let market = config.marketplace_id.clone();

    let too_late = get(vec![
        ("MarketplaceIds", market.clone()),
        ("LastUpdatedAfter", after.clone()),
        ("LastUpdatedBefore", iso(Utc::now())),
    ])
    .await
    .unwrap();
    assert_eq!(too_late.status(), 400);
    assert!(too_late.headers().contains_key("x-amzn-ratelimit-limit"));
    let body: Value = too_late.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "InvalidInput", "{body}");

    let no_market = get(vec![("LastUpdatedAfter", after.clone())])
        .await
        .unwrap();
    assert_eq!(no_market.status(), 400);

    let first = get(vec![
        ("MarketplaceIds", market.clone()),
        ("LastUpdatedAfter", after.clone()),
        ("MaxResultsPerPage", "100".into()),
    ])
    .await
    .unwrap();
    assert_eq!(first.status(), 200);
    let page: Value = first.json().await.unwrap();
    assert_eq!(page["payload"]["Orders"].as_array().unwrap().len(), 1);
    let next = page["payload"]["NextToken"].as_str().unwrap().to_owned();
    assert!(next.contains('+') && next.contains('/'), "{next}");

    // Sent unencoded, `+` reads as a space: Amazon cannot decode it.
    let mangled = http
        .get(format!("{orders}?MarketplaceIds={market}&NextToken={next}"))
        .header("x-amz-access-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(mangled.status(), 400);
    let body: Value = mangled.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("NextToken"),
        "{body}"
    );
    let second = get(vec![
        ("MarketplaceIds", market.clone()),
        ("NextToken", next),
    ])
    .await
    .unwrap();
    assert_eq!(second.status(), 200);
    estate.shutdown().await;
}

fn confirmation(order_id: &str, package: &str, lines: &[(String, u32)]) -> ShipConfirmation {
    ShipConfirmation {
        package_id: package.into(),
        external_order_id: order_id.into(),
        shipment: Shipment {
            id: "s-1".into(),
            order_id: "o-1".into(),
            warehouse: "east".into(),
            external_id: "wh-s-1".into(),
            fulfillment_request_id: "fr-1".into(),
            lines: lines
                .iter()
                .map(|(id, q)| ShipmentLine {
                    line_id: id.clone(),
                    sku: "SKU".into(),
                    quantity: *q,
                })
                .collect(),
            tracking: Tracking {
                carrier: "UPS".into(),
                number: "1Z999AA10123456784".into(),
                url: None,
            },
            shipped_at: Utc::now(),
            completes_request: true,
        },
    }
}

#[tokio::test]
async fn confirm_shipment_once_and_a_resend_is_an_edit() {
    let (estate, inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 1,
        ..amazon_config()
    })
    .await;
    wait_for(&estate, "Unshipped", |s| {
        unshipped(s) == 1 && count(s, "webhooks_delivered") >= 1
    })
    .await;
    let order_id = notified_orders(&channel, &inbox).remove(0);
    let bundle = channel.fetch_order(&order_id).await.unwrap().unwrap();
    let ChannelEvent::Order(order) = channel.map_message(&bundle).unwrap() else {
        panic!("expected an order");
    };
    let lines: Vec<(String, u32)> = order
        .lines
        .iter()
        .map(|l| (l.line_id.clone(), l.quantity))
        .collect();
    let package = confirmation(&order_id, "pkg-east-000001", &lines);
    let first = channel.confirm_shipment(&package).await.unwrap();
    let again = channel.confirm_shipment(&package).await.unwrap();
    assert_eq!(
        first, again,
        "the packageReferenceId is the confirmation id"
    );
    let stats = estate.stats().await["amazon"].clone();
    assert_eq!(count(&stats, "shipments_confirmed"), 1, "{stats}");
    assert_eq!(count(&stats, "package_edits"), 1, "{stats}");
    assert_eq!(count(&stats, "duplicate_packages"), 0, "{stats}");
    assert_eq!(count(&stats["orders_by_status"], "Shipped"), 1, "{stats}");

    // The same units again under another package: Amazon refuses them.
    let other = confirmation(&order_id, "pkg-east-000002", &lines);
    match channel.confirm_shipment(&other).await {
        Err(ConnectorError::Rejected { reason }) => assert!(reason.contains("exceed"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let stats = estate.stats().await["amazon"].clone();
    assert_eq!(count(&stats, "duplicate_packages"), 1, "{stats}");
    estate.shutdown().await;
}

#[tokio::test]
async fn a_forced_429_is_throttled_and_an_expired_token_is_renewed() {
    let (estate, inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 1,
        ..amazon_config()
    })
    .await;
    wait_for(&estate, "a notification", |s| {
        count(s, "webhooks_delivered") >= 1
    })
    .await;
    let order_id = notified_orders(&channel, &inbox).remove(0);
    channel.fetch_order(&order_id).await.unwrap().unwrap();

    sim_post(&estate, "/sim/throttle", json!({ "count": 1 })).await;
    match channel.fetch_order(&order_id).await {
        Err(ConnectorError::Throttled { retry_after, .. }) => {
            assert!(retry_after > Duration::ZERO)
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    channel.fetch_order(&order_id).await.unwrap().unwrap();
    let stats = estate.stats().await["amazon"].clone();
    assert_eq!(count(&stats, "throttled"), 1, "{stats}");
    assert_eq!(channel.throttled_responses(), 1, "the 429 is counted");

    sim_post(&estate, "/sim/expire-tokens", json!({})).await;
    channel.fetch_order(&order_id).await.unwrap().unwrap();
    assert_eq!(channel.token_requests(), 2);
    estate.shutdown().await;
}

#[tokio::test]
async fn a_steady_run_at_the_documented_rates_never_sees_a_429() {
    let (estate, inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 2,
        // getOrder and getOrderItems at 5/s, burst 30.
        rate_multiplier: 10.0,
        ..amazon_config()
    })
    .await;
    wait_for(&estate, "Unshipped", |s| {
        unshipped(s) == 2 && count(s, "webhooks_delivered") >= 2
    })
    .await;
    let ids = notified_orders(&channel, &inbox);
    let channel = Arc::new(channel);
    let mut tasks = Vec::new();
    // 40 getOrder + 40 getOrderItems from 4 callers: past the burst, so
    // the client must pace itself at the rate the simulator announces.
    for worker in 0..4 {
        let channel = channel.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let id = &ids[(worker + i) % ids.len()];
                channel.fetch_order(id).await.unwrap().unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = estate.stats().await["amazon"].clone();
    assert_eq!(count(&stats, "throttled"), 0, "{stats}");
    assert_eq!(count(&stats["requests_by_operation"], "getOrder"), 40);
    estate.shutdown().await;
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

#[tokio::test]
async fn urgent_patches_and_a_batch_feed_set_quantities_per_sku() {
    let (estate, _inbox, channel) = start(amazon_config()).await;
    assert_eq!(
        channel.availability_batch_limit(AvailabilityCadence::Urgent),
        5
    );
    let results = channel
        .publish_availability(
            &[
                update("SKU-001", 7),
                update("SKU-002", 0),
                update("NO-SUCH-SKU", 3),
            ],
            AvailabilityCadence::Urgent,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].outcome, AvailabilityOutcome::Accepted);
    assert_eq!(results[1].outcome, AvailabilityOutcome::Accepted);
    assert_eq!(results[2].sku, "NO-SUCH-SKU");
    match &results[2].outcome {
        AvailabilityOutcome::Rejected { reason } => {
            assert!(reason.contains("does not exist"), "{reason}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let stats = estate.stats().await["amazon"].clone();
    assert_eq!(stats["quantities"]["SKU-001"], 7, "{stats}");
    assert_eq!(stats["quantities"]["SKU-002"], 0, "{stats}");
    assert_eq!(count(&stats, "listing_patches"), 2, "{stats}");

    let too_many: Vec<_> = (1..=6).map(|i| update(&format!("SKU-{i:03}"), 1)).collect();
    assert!(matches!(
        channel
            .publish_availability(&too_many, AvailabilityCadence::Urgent)
            .await,
        Err(ConnectorError::Rejected { .. })
    ));

    let mut batch: Vec<_> = (1..=10)
        .map(|i| update(&format!("SKU-{i:03}"), 100 + i))
        .collect();
    batch.insert(4, update("UNKNOWN-42", 5));
    let results = channel
        .publish_availability(&batch, AvailabilityCadence::Batch)
        .await
        .unwrap();
    assert_eq!(results.len(), 11);
    for (sent, result) in batch.iter().zip(&results) {
        assert_eq!(sent.sku, result.sku);
        if sent.sku == "UNKNOWN-42" {
            match &result.outcome {
                AvailabilityOutcome::Rejected { reason } => {
                    assert!(reason.contains("does not exist"), "{reason}")
                }
                other => panic!("expected Rejected, got {other:?}"),
            }
        } else {
            assert_eq!(
                result.outcome,
                AvailabilityOutcome::Accepted,
                "{}",
                sent.sku
            );
        }
    }
    let stats = estate.stats().await["amazon"].clone();
    for i in 1..=10 {
        assert_eq!(
            stats["quantities"][format!("SKU-{i:03}")],
            100 + i,
            "{stats}"
        );
    }
    assert_eq!(count(&stats, "feeds_processed"), 1, "{stats}");
    assert_eq!(count(&stats, "feed_messages_accepted"), 10, "{stats}");
    assert_eq!(count(&stats, "feed_messages_rejected"), 1, "{stats}");
    assert_eq!(count(&stats, "throttled"), 0, "{stats}");
    estate.shutdown().await;
}

#[tokio::test]
async fn availability_needs_a_seller_id() {
    let (estate, _inbox, _) = start(amazon_config()).await;
    let base = estate.amazon_url().unwrap();
    let config = amazon_config();
    let channel = AmazonChannel::new(
        AmazonOptions {
            name: "amazon".into(),
            endpoint: base.clone(),
            lwa_url: format!("{base}/auth/o2/token"),
            client_id: config.client_id,
            client_secret: config.client_secret,
            refresh_token: config.refresh_token,
            marketplace_id: config.marketplace_id,
        },
        HttpClient::new(HttpClientOptions {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
        })
        .unwrap(),
    )
    .unwrap();
    match channel
        .publish_availability(&[update("SKU-001", 1)], AvailabilityCadence::Urgent)
        .await
    {
        Err(ConnectorError::Rejected { reason }) => {
            assert!(reason.contains("seller id"), "{reason}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    estate.shutdown().await;
}

#[tokio::test]
async fn buyer_cancellations_map_to_cancelled() {
    let (estate, inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 50.0,
        max_orders: 3,
        cancel_rate: 1.0,
        pending_secs: 1.0,
        ..amazon_config()
    })
    .await;
    wait_for(&estate, "every order cancelled and notified", |s| {
        count(s, "orders_cancelled") == 3 && count(s, "webhook_deliveries_pending") == 0
    })
    .await;
    let ids = notified_orders(&channel, &inbox);
    assert_eq!(ids.len(), 3);
    for id in ids {
        let bundle = channel.fetch_order(&id).await.unwrap().unwrap();
        match channel.map_message(&bundle).unwrap() {
            ChannelEvent::Cancelled {
                external_order_id, ..
            } => assert_eq!(external_order_id, id),
            other => panic!("expected a cancellation, got {other:?}"),
        }
    }
    estate.shutdown().await;
}

const LISTINGS_MODEL: &str = "/work/shared/reference/amazon-sp-api-models/models/\
                              listings-items-api-model/listingsItems_2021-08-01.json";

/// A Prism mock started by `scripts/prism.sh`, stopped by its PID on drop.
struct Prism {
    pid: u32,
    url: String,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
    }
}

fn start_prism(model: &str) -> Prism {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/prism.sh");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(port.to_string())
        .arg(model)
        .output()
        .expect("run scripts/prism.sh");
    assert!(
        out.status.success(),
        "scripts/prism.sh failed (set CROSSDOCK_SKIP_PRISM=1 to skip the Prism test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("prism.sh prints the PID");
    Prism {
        pid,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_requests_satisfy_the_listings_items_model_under_prism() {
    if std::env::var("CROSSDOCK_SKIP_PRISM").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED: CROSSDOCK_SKIP_PRISM=1, the Prism test against listingsItems did not run"
        );
        return;
    }
    let prism = tokio::task::spawn_blocking(|| start_prism(LISTINGS_MODEL))
        .await
        .unwrap();
    // The simulator answers LWA; Prism (request validation on) the Listings API.
    let (estate, _inbox, _) = start(amazon_config()).await;
    let config = amazon_config();
    let channel = AmazonChannel::new(
        AmazonOptions {
            name: "amazon".into(),
            endpoint: prism.url.clone(),
            lwa_url: format!("{}/auth/o2/token", estate.amazon_url().unwrap()),
            client_id: config.client_id,
            client_secret: config.client_secret,
            refresh_token: config.refresh_token,
            marketplace_id: config.marketplace_id,
        },
        HttpClient::new(HttpClientOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
        })
        .unwrap(),
    )
    .unwrap()
    .with_seller_id(config.seller_id);
    let results = channel
        .publish_availability(
            &[update("SKU-001", 3), update("SKU 002/b+c", 0)],
            AvailabilityCadence::Urgent,
        )
        .await
        .unwrap();
    for result in results {
        assert_eq!(
            result.outcome,
            AvailabilityOutcome::Accepted,
            "Prism refused the request for {}",
            result.sku
        );
    }
    estate.shutdown().await;
}

/// Polls over an overlap window that keeps every order in it: items are
/// read once per order state (`AmazonOrderId` + `LastUpdateDate`), never
/// again for an order the poll saw unchanged.
#[tokio::test]
async fn repeated_polls_read_items_only_for_new_or_changed_orders() {
    let (estate, _inbox, channel) = start(AmazonSimConfig {
        orders_per_sec: 4.0,
        max_orders: 6,
        drop_rate: 1.0,
        pending_secs: 0.5,
        // Amazon refuses LastUpdatedBefore within two minutes of now.
        backdate_secs: 180,
        ..amazon_config()
    })
    .await;
    let since = (Utc::now() - chrono::Duration::hours(1)).timestamp_millis();
    // Order states whose items a poll answered with.
    let mut read: HashSet<(String, i64)> = HashSet::new();
    let mut polls = 0;
    let mut settled_polls = 0;
    while settled_polls < 3 {
        let settled = unshipped(&estate.stats().await["amazon"]) == 6;
        let polled = channel.poll_updated_since(since).await.unwrap();
        polls += 1;
        for (envelope, body) in &polled {
            let bundle: Value = serde_json::from_slice(body).unwrap();
            if bundle.get("items").is_some_and(|i| !i.is_null()) {
                read.insert((envelope.external_order_id.clone(), envelope.source_version));
            }
        }
        if settled {
            assert_eq!(polled.len(), 6, "every order is in the window");
            settled_polls += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = estate.stats().await["amazon"].clone();
    let item_reads = count(&stats["requests_by_operation"], "getOrderItems");
    assert_eq!(read.len(), 6, "each order read once Unshipped: {read:?}");
    assert_eq!(
        item_reads,
        read.len() as u64,
        "getOrderItems once per new or changed order over {polls} polls: {stats}"
    );
    assert_eq!(count(&stats, "throttled"), 0, "{stats}");
    estate.shutdown().await;
}
