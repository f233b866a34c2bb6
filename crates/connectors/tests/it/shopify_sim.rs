//! The Shopify channel against the simulated shop (`crossdock_sim`'s
//! `[sim.shopify]`) over real HTTP: signed webhooks (duplicated, reordered,
//! dropped), the `page_info` poll, fulfillments, the call budget's 429, and
//! availability by `inventorySetQuantities` with `@idempotent` and
//! `changeFromQuantity`.

use crate::support::recording_hub;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use crossdock_connectors::channel::{ShopifyChannel, ShopifyOptions};
use crossdock_connectors::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, HttpClient, HttpClientOptions, ShipConfirmation,
};
use crossdock_model::{Order, Shipment, ShipmentLine, Tracking};
use crossdock_sim::{Estate, EstateHandle, ShopifySimConfig, SimConfig};
use recording_hub::{Delivery, Inbox, start_hub};
use serde_json::{Value, json};

fn received(inbox: &Inbox) -> Vec<Delivery> {
    recording_hub::received(inbox, "shopify")
}

fn http() -> HttpClient {
    HttpClient::new(HttpClientOptions {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
    })
    .unwrap()
}

/// No orders unless the test asks for them.
fn shop() -> ShopifySimConfig {
    ShopifySimConfig {
        orders_per_sec: 0.0,
        ..ShopifySimConfig::default()
    }
}

async fn start(shopify: ShopifySimConfig) -> (EstateHandle, Inbox, ShopifyChannel) {
    let (hub_url, inbox) = start_hub().await;
    let mut config = SimConfig::demo(&hub_url);
    config.channel.orders_per_sec = 0.0;
    config.shopify = Some(shopify.clone());
    let estate = Estate::start(config).await.unwrap();
    let url = estate.shopify_url().expect("shopify simulator started");
    let channel = ShopifyChannel::new(
        ShopifyOptions::new(
            shopify.name.clone(),
            url,
            shopify.access_token.clone(),
            shopify.webhook_secret.clone(),
        ),
        http(),
    )
    .unwrap();
    (estate, inbox, channel)
}

async fn shop_stats(estate: &EstateHandle) -> Value {
    estate.stats().await["shopify"].clone()
}

/// Waits until the Shopify simulator's stats satisfy `done`.
async fn wait_for(estate: &EstateHandle, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    recording_hub::wait_for(estate, "shopify", Duration::from_millis(20), what, done).await
}

/// Every order placed and every webhook owed delivered (or dropped).
async fn settled(estate: &EstateHandle) -> Value {
    wait_for(estate, "generation done and no webhook pending", |s| {
        s["generation_done"] == true && count(s, "webhook_deliveries_pending") == 0
    })
    .await
}

fn count(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

fn ids(stats: &Value, key: &str) -> Vec<String> {
    serde_json::from_value(stats[key].clone()).unwrap()
}

fn header(d: &Delivery, name: &str) -> String {
    d.headers[name].to_str().unwrap().to_owned()
}

async fn sim_post(estate: &EstateHandle, path: &str, body: Value) -> Value {
    let url = format!("{}{path}", estate.shopify_url().unwrap());
    let answer = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
    answer.json().await.unwrap()
}

async fn order(channel: &ShopifyChannel, id: &str) -> Order {
    let body = channel.fetch_order(id).await.unwrap().expect("known order");
    match channel.map_message(&body).unwrap() {
        ChannelEvent::Order(order) => *order,
        other => panic!("expected an order, got {other:?}"),
    }
}

/// A shipment of every unit of `order`.
fn everything(order: &Order, number: &str, carrier: &str) -> Shipment {
    Shipment {
        id: "SHP-1".into(),
        order_id: order.id.clone(),
        warehouse: "east".into(),
        external_id: "W-1".into(),
        fulfillment_request_id: "fr-1".into(),
        lines: order
            .lines
            .iter()
            .map(|l| ShipmentLine {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                quantity: l.quantity,
            })
            .collect(),
        tracking: Tracking {
            carrier: carrier.into(),
            number: number.into(),
            url: None,
        },
        shipped_at: Utc::now(),
        completes_request: true,
    }
}

#[tokio::test]
async fn delivered_webhooks_verify_and_a_tampered_body_is_unauthenticated() {
    let (estate, inbox, channel) = start(ShopifySimConfig {
        orders_per_sec: 50.0,
        max_orders: 5,
        ..shop()
    })
    .await;
    let stats = settled(&estate).await;
    let generated = ids(&stats, "generated_order_ids");
    let deliveries = received(&inbox);
    assert_eq!(deliveries.len(), 5, "{stats}");
    for d in &deliveries {
        let envelope = channel.read_webhook(&d.headers, &d.body).unwrap();
        assert_eq!(
            envelope.message_key,
            format!("shopify:{}", header(d, "x-shopify-event-id"))
        );
        assert!(generated.contains(&envelope.external_order_id));
        let ChannelEvent::Order(order) = channel.map_message(&d.body).unwrap() else {
            panic!("expected an order");
        };
        assert_eq!(order.external_id, envelope.external_order_id);
        assert_eq!(order.source_version, envelope.source_version);
    }

    // One changed byte of the signed body: refused as unauthenticated.
    let d = &deliveries[0];
    let text = String::from_utf8(d.body.clone()).unwrap();
    assert!(text.contains("\"note\":null"), "{text}");
    let tampered = text.replacen("\"note\":null", "\"note\":\"x\"", 1);
    let refused = channel
        .read_webhook(&d.headers, tampered.as_bytes())
        .unwrap_err();
    assert!(refused.unauthenticated, "{refused}");
    assert_eq!(refused.path, "X-Shopify-Hmac-Sha256");

    // The right body under another app's secret, or without a signature.
    let other = ShopifyChannel::new(
        ShopifyOptions::new(
            "shopify",
            estate.shopify_url().unwrap(),
            "token",
            "another_secret",
        ),
        http(),
    )
    .unwrap();
    assert!(
        other
            .read_webhook(&d.headers, &d.body)
            .unwrap_err()
            .unauthenticated
    );
    let mut unsigned = d.headers.clone();
    unsigned.remove("x-shopify-hmac-sha256");
    assert!(
        channel
            .read_webhook(&unsigned, &d.body)
            .unwrap_err()
            .unauthenticated
    );
    estate.shutdown().await;
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries_share_the_event_id() {
    let (estate, inbox, channel) = start(ShopifySimConfig {
        orders_per_sec: 100.0,
        max_orders: 10,
        duplicate_rate: 0.5,
        reorder: true,
        max_delivery_delay_ms: 200,
        ..shop()
    })
    .await;
    let stats = settled(&estate).await;
    let events = count(&stats, "webhook_events");
    let duplicated = count(&stats, "duplicates_sent");
    let deliveries = received(&inbox);
    assert_eq!(events, 10, "{stats}");
    assert!(duplicated > 0, "{stats}");
    assert_eq!(deliveries.len() as u64, events + duplicated, "{stats}");
    // Each delivery waits a random 0..=200 ms, so later ones overtake.
    let delayed = count(&stats, "deliveries_delayed");
    assert!(delayed > 0 && delayed <= deliveries.len() as u64, "{stats}");

    // event id → (message keys, bodies, webhook ids) of its deliveries
    type Seen = (Vec<String>, Vec<Vec<u8>>, HashSet<String>);
    let mut by_event: HashMap<String, Seen> = HashMap::new();
    for d in &deliveries {
        let envelope = channel.read_webhook(&d.headers, &d.body).unwrap();
        let seen = by_event.entry(header(d, "x-shopify-event-id")).or_default();
        seen.0.push(envelope.message_key);
        seen.1.push(d.body.clone());
        seen.2.insert(header(d, "x-shopify-webhook-id"));
    }
    assert_eq!(by_event.len() as u64, events);
    let twice: Vec<&Seen> = by_event.values().filter(|s| s.0.len() == 2).collect();
    assert_eq!(twice.len() as u64, duplicated);
    for (keys, bodies, webhook_ids) in twice {
        assert_eq!(keys[0], keys[1], "one event, one message key");
        assert_eq!(bodies[0], bodies[1]);
        assert_eq!(webhook_ids.len(), 2, "each delivery is its own webhook");
    }
    estate.shutdown().await;
}

#[tokio::test]
async fn the_poll_finds_orders_whose_webhook_was_dropped_across_pages() {
    let since = Utc::now().timestamp_millis();
    let (estate, inbox, channel) = start(ShopifySimConfig {
        orders_per_sec: 100.0,
        max_orders: 12,
        drop_rate: 0.5,
        max_page_size: 3,
        ..shop()
    })
    .await;
    let stats = settled(&estate).await;
    let generated = ids(&stats, "generated_order_ids");
    let dropped = ids(&stats, "dropped_order_ids");
    assert_eq!(generated.len(), 12);
    assert!(!dropped.is_empty(), "{stats}");
    let notified: HashSet<String> = received(&inbox)
        .iter()
        .map(|d| {
            channel
                .read_webhook(&d.headers, &d.body)
                .unwrap()
                .external_order_id
        })
        .collect();
    assert_eq!(notified.len() + dropped.len(), 12);
    assert!(dropped.iter().all(|id| !notified.contains(id)));

    let polled = channel.poll_updated_since(since).await.unwrap();
    let polled_ids: Vec<&str> = polled
        .iter()
        .map(|(e, _)| e.external_order_id.as_str())
        .collect();
    let distinct: HashSet<&str> = polled_ids.iter().copied().collect();
    assert_eq!(polled_ids.len(), 12, "four pages of three: {polled_ids:?}");
    assert_eq!(distinct.len(), 12, "no order twice: {polled_ids:?}");
    for id in &dropped {
        assert!(distinct.contains(id.as_str()), "{id} not polled");
    }
    for (envelope, body) in &polled {
        let ChannelEvent::Order(order) = channel.map_message(body).unwrap() else {
            panic!("expected an order");
        };
        assert_eq!(order.external_id, envelope.external_order_id);
    }
    let later = (Utc::now() + chrono::Duration::hours(1)).timestamp_millis();
    assert!(channel.poll_updated_since(later).await.unwrap().is_empty());
    assert_eq!(count(&shop_stats(&estate).await, "throttled_429"), 0);
    estate.shutdown().await;
}

#[tokio::test]
async fn a_resent_shipment_is_recognised_and_not_fulfilled_twice() {
    let (estate, _inbox, channel) = start(ShopifySimConfig {
        orders_per_sec: 100.0,
        max_orders: 2,
        max_lines: 3,
        // SKUs stocked at two locations: one fulfillment per location.
        locations: 2,
        ..shop()
    })
    .await;
    let stats = settled(&estate).await;
    let generated = ids(&stats, "generated_order_ids");

    // A tracked package, sent twice (the answer to the first was "lost").
    let tracked = order(&channel, &generated[0]).await;
    let confirmation = ShipConfirmation {
        package_id: "east:SHP-1".into(),
        external_order_id: generated[0].clone(),
        shipment: everything(&tracked, "1Z999AA10123456784", "UPS"),
    };
    let first = channel.confirm_shipment(&confirmation).await.unwrap();
    let created = count(&shop_stats(&estate).await, "fulfillments_created");
    assert_eq!(created, first.split(',').count() as u64);
    let again = channel.confirm_shipment(&confirmation).await.unwrap();
    assert_eq!(again, first, "the resend finds the fulfillments it made");

    // An untracked package goes under its package id, which finds it.
    let untracked = order(&channel, &generated[1]).await;
    let package = "east:SHP-2";
    assert_eq!(
        channel
            .find_shipment_confirmation(&generated[1], package)
            .await
            .unwrap(),
        None
    );
    let confirmation = ShipConfirmation {
        package_id: package.into(),
        external_order_id: generated[1].clone(),
        shipment: everything(&untracked, "", ""),
    };
    let sent = channel.confirm_shipment(&confirmation).await.unwrap();
    let found = channel
        .find_shipment_confirmation(&generated[1], package)
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some(sent.as_str()));
    assert_eq!(channel.confirm_shipment(&confirmation).await.unwrap(), sent);

    let stats = shop_stats(&estate).await;
    assert_eq!(count(&stats, "duplicate_fulfillments"), 0, "{stats}");
    assert_eq!(
        count(&stats, "fulfillments_created"),
        (first.split(',').count() + sent.split(',').count()) as u64,
        "{stats}"
    );
    assert_eq!(count(&stats, "fulfillments_refused"), 0, "{stats}");
    assert_eq!(count(&stats, "over_fulfillment_refusals"), 0, "{stats}");
    // Both orders are fulfilled in full.
    for id in &generated {
        let fulfilled = order(&channel, id).await;
        let body = channel.fetch_order(id).await.unwrap().unwrap();
        let raw: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(raw["fulfillment_status"], "fulfilled", "{}", fulfilled.id);
    }
    estate.shutdown().await;
}

#[tokio::test]
async fn a_forced_throttle_comes_back_throttled_with_the_retry_after() {
    let (estate, _inbox, channel) = start(shop()).await;
    let update = AvailabilityUpdate {
        sku: "SKU-001".into(),
        quantity: 5,
        previous: None,
        idempotency_key: "shopify:SKU-001:1".into(),
        changed_at: 0,
    };

    // GraphQL: the inventory lookup is turned away.
    let left = sim_post(&estate, "/sim/throttle", json!({ "count": 1 })).await;
    assert_eq!(left["forced_throttles_left"], 1);
    match channel
        .publish_availability(std::slice::from_ref(&update), AvailabilityCadence::Urgent)
        .await
    {
        Err(ConnectorError::Throttled { retry_after, .. }) => {
            // The sim sends `Retry-After: 2.0`.
            assert_eq!(retry_after, Duration::from_secs(2));
        }
        other => panic!("expected Throttled, got {other:?}"),
    }

    // REST: the poll is turned away.
    sim_post(&estate, "/sim/throttle", json!({ "count": 1 })).await;
    match channel.poll_updated_since(0).await {
        Err(ConnectorError::Throttled { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(2));
        }
        other => panic!("expected Throttled, got {other:?}"),
    }

    // Nothing was applied; the next calls pass.
    let stats = shop_stats(&estate).await;
    assert_eq!(count(&stats, "forced_throttles_served"), 2, "{stats}");
    assert_eq!(count(&stats, "inventory_mutations_applied"), 0, "{stats}");
    assert_eq!(
        channel
            .publish_availability(&[update], AvailabilityCadence::Urgent)
            .await
            .unwrap(),
        [AvailabilityResult {
            sku: "SKU-001".into(),
            outcome: AvailabilityOutcome::Accepted
        }]
    );
    assert!(channel.poll_updated_since(0).await.unwrap().is_empty());
    let stats = shop_stats(&estate).await;
    assert_eq!(stats["available"]["SKU-001"], 5, "{stats}");
    assert_eq!(count(&stats, "forced_throttles_served"), 2, "{stats}");
    estate.shutdown().await;
}

fn update(sku: &str, quantity: i64, previous: Option<i64>, key: &str) -> AvailabilityUpdate {
    AvailabilityUpdate {
        sku: sku.into(),
        quantity,
        previous,
        idempotency_key: key.into(),
        changed_at: 0,
    }
}

fn outcomes(results: &[AvailabilityResult]) -> Vec<(&str, &AvailabilityOutcome)> {
    results
        .iter()
        .map(|r| (r.sku.as_str(), &r.outcome))
        .collect()
}

#[tokio::test]
async fn availability_is_set_replayed_compared_and_refused() {
    let (estate, _inbox, channel) = start(ShopifySimConfig {
        initial_available: 100,
        ..shop()
    })
    .await;
    let batch = AvailabilityCadence::Batch;
    let accepted = AvailabilityOutcome::Accepted;

    // Set two SKUs in one call.
    let first = [
        update("SKU-001", 7, Some(100), "k-001-1"),
        update("SKU-002", 0, None, "k-002-1"),
    ];
    let results = channel.publish_availability(&first, batch).await.unwrap();
    assert_eq!(
        outcomes(&results),
        [("SKU-001", &accepted), ("SKU-002", &accepted)]
    );
    let stats = shop_stats(&estate).await;
    assert_eq!(stats["available"]["SKU-001"], 7, "{stats}");
    assert_eq!(stats["available"]["SKU-002"], 0, "{stats}");
    assert_eq!(count(&stats, "inventory_mutations_applied"), 1, "{stats}");

    // A later change, then a resend of the first call (its answer was
    // "lost"): a replay, which does not set SKU-001 back to 7.
    let results = channel
        .publish_availability(&[update("SKU-001", 9, Some(7), "k-001-2")], batch)
        .await
        .unwrap();
    assert_eq!(outcomes(&results), [("SKU-001", &accepted)]);
    let results = channel.publish_availability(&first, batch).await.unwrap();
    assert_eq!(
        outcomes(&results),
        [("SKU-001", &accepted), ("SKU-002", &accepted)]
    );
    let stats = shop_stats(&estate).await;
    assert_eq!(count(&stats, "idempotent_replays"), 1, "{stats}");
    assert_eq!(count(&stats, "inventory_mutations_applied"), 2, "{stats}");
    assert_eq!(stats["available"]["SKU-001"], 9, "applied once: {stats}");

    // A wrong `previous`: stale, with what the shop holds.
    let results = channel
        .publish_availability(&[update("SKU-003", 5, Some(42), "k-003-1")], batch)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&results),
        [(
            "SKU-003",
            &AvailabilityOutcome::Stale { current: Some(100) }
        )]
    );
    let stats = shop_stats(&estate).await;
    assert_eq!(count(&stats, "stale_refusals"), 1, "{stats}");
    assert_eq!(stats["available"]["SKU-003"], 100, "{stats}");

    // Stale and unknown SKUs beside good ones: the mutation is all or
    // nothing, so the good ones go again in another round.
    let results = channel
        .publish_availability(
            &[
                update("NOPE-1", 3, None, "k-nope-1"),
                update("SKU-005", 1, Some(99), "k-005-1"),
                update("SKU-006", 2, Some(100), "k-006-1"),
            ],
            batch,
        )
        .await
        .unwrap();
    assert!(
        matches!(results[0].outcome, AvailabilityOutcome::Rejected { .. }),
        "{results:?}"
    );
    assert_eq!(
        outcomes(&results[1..]),
        [
            (
                "SKU-005",
                &AvailabilityOutcome::Stale { current: Some(100) }
            ),
            ("SKU-006", &accepted)
        ]
    );
    let stats = shop_stats(&estate).await;
    assert_eq!(stats["available"]["SKU-005"], 100, "{stats}");
    assert_eq!(stats["available"]["SKU-006"], 2, "{stats}");
    assert!(stats["available"].get("NOPE-1").is_none(), "{stats}");
    assert_eq!(count(&stats, "inventory_mutations_applied"), 3, "{stats}");
    estate.shutdown().await;
}
