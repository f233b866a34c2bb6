//! Stock moves at the source and every marketplace follows, each under its
//! own policy: the ERP is the authority for `east` (re-read on a schedule),
//! the 3PL for `west` (846 advice files). Shopify sells from both with a
//! buffer, Walmart gets half, Amazon sells only from the hub's own network
//! (the 3PL's stock is not its to offer). A report from a source that is not
//! the location's authority is kept and not applied.

use crossdock_model::Owner;
use std::time::{Duration, Instant};

use crate::support::marketplaces::{marketplace_channels, policy, shown};
use crossdock::config::{Config, WarehouseConfig, WarehouseSpec, X12WarehouseConfig};
use crossdock_availability::{AvailabilityConfig, LocationPolicy};
use crossdock_sim::{
    AmazonSimConfig, Estate, ShopifySimConfig, StockSeed, TplSimConfig, WalmartSimConfig,
};
use serde_json::json;

const SKUS: [&str; 3] = ["SKU-001", "SKU-002", "SKU-003"];

/// Waits until every marketplace shows `expected` (channel, sku, quantity).
async fn wait_for_shown(
    estate: &crossdock_sim::EstateHandle,
    hub: &crossdock::hub::RunningHub,
    expected: &[(&str, &str, i64)],
) {
    let started = Instant::now();
    loop {
        let stats = estate.stats().await;
        let owed: usize = hub
            .engine
            .availability()
            .stats()
            .await
            .expect("stats")
            .iter()
            .map(|c| c.owed)
            .sum();
        let wrong: Vec<String> = expected
            .iter()
            .filter(|(c, sku, q)| shown(&stats, c, sku) != Some(*q))
            .map(|(c, sku, q)| format!("{c}/{sku}: {:?}, want {q}", shown(&stats, c, sku)))
            .collect();
        if wrong.is_empty() && owed == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "marketplaces did not follow: {wrong:?} (owed {owed})"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_changes_at_the_source_reach_every_marketplace_under_its_policy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let edi_root = tmp.path().join("edi-west");
    let mut config = Config::demo();
    config.hub.data_dir = tmp.path().join("data");
    config
        .use_demo_signing_secret()
        .expect("write the demo signing key");
    config.hub.database_url = None;
    config.engine.reconcile_interval_ms = 0;
    config.inventory.batch_interval_ms = 500;
    config.inventory.erp_refresh_interval_ms = 500;
    config.authority.stock.scoped = [("east", "erp"), ("west", "warehouse:west")]
        .map(|(l, s)| (l.to_owned(), Owner::parse(s).expect("an owner")))
        .into();
    let west = config
        .warehouses
        .iter_mut()
        .find(|w| w.name == "west")
        .expect("west");
    *west = WarehouseConfig {
        name: "west".into(),
        spec: WarehouseSpec::X12Files(X12WarehouseConfig {
            root: edi_root.clone(),
            partner_id: None,
            sender_id: "CROSSDOCK".into(),
            batch_interval_ms: 500,
            poll_interval_ms: 200,
            usage: 'T',
        }),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut sim = config.sim.clone().expect("[sim]");
    sim.hub_url = format!("http://{}", listener.local_addr().expect("addr"));
    sim.channel.listen = "127.0.0.1:0".into();
    sim.channel.orders_per_sec = 0.0;
    sim.erp.listen = "127.0.0.1:0".into();
    // The ERP also books stock at west; west's authority is the 3PL.
    sim.erp.stock = SKUS
        .iter()
        .flat_map(|sku| {
            [("east", 40), ("west", 100)].map(|(location, on_hand)| StockSeed {
                sku: (*sku).to_owned(),
                location: location.to_owned(),
                on_hand,
            })
        })
        .collect();
    sim.warehouses.retain(|w| w.name == "east");
    sim.warehouses[0].listen = "127.0.0.1:0".into();
    sim.tpl = Some(TplSimConfig {
        name: "west".into(),
        root: edi_root,
        batch_interval_ms: 1_000,
        poll_interval_ms: 100,
        short_ship_rate: 0.0,
        ship_delay_ms: 0,
        outages: Vec::new(),
    });
    let skus: Vec<String> = SKUS.map(str::to_owned).to_vec();
    sim.shopify = Some(ShopifySimConfig {
        listen: "127.0.0.1:0".into(),
        orders_per_sec: 0.0,
        skus: skus.clone(),
        ..ShopifySimConfig::default()
    });
    sim.walmart = Some(WalmartSimConfig {
        listen: "127.0.0.1:0".into(),
        orders_per_sec: 0.0,
        skus: skus.clone(),
        ..WalmartSimConfig::default()
    });
    sim.amazon = Some(AmazonSimConfig {
        listen: "127.0.0.1:0".into(),
        orders_per_sec: 0.0,
        skus,
        rate_multiplier: 30.0,
        ..AmazonSimConfig::default()
    });
    let estate = Estate::start(sim).await.expect("estate");
    config.channels = marketplace_channels(&estate);
    config.erp.base_url = estate.erp_url();
    for (name, url) in estate.warehouse_urls() {
        if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
            w.set_base_url(url);
        }
    }
    let mut shopify = policy("shopify", &["own", "3pl"]);
    shopify.buffer = 2;
    let mut walmart = policy("walmart", &["own", "3pl"]);
    walmart.allocation_percent = 50;
    let amazon = policy("amazon", &["own"]);
    config.availability = Some(AvailabilityConfig {
        locations: vec![
            LocationPolicy {
                name: "east".into(),
                network: "own".into(),
                safety_stock: 0,
            },
            LocationPolicy {
                name: "west".into(),
                network: "3pl".into(),
                safety_stock: 0,
            },
        ],
        channels: vec![shopify, walmart, amazon],
    });
    config.sim = None;
    config.validate("test").expect("valid config");
    let hub = crossdock::hub::start(&config, listener).await.expect("hub");

    // At start: east's 40 from the ERP; west has no advice yet (the ERP's
    // 100 at west is not the ERP's to report).
    let mut expected: Vec<(&str, &str, i64)> = Vec::new();
    for sku in SKUS {
        expected.extend([
            ("shopify", sku, 38),
            ("walmart", sku, 20),
            ("amazon", sku, 40),
        ]);
    }
    wait_for_shown(&estate, &hub, &expected).await;
    let described = hub
        .engine
        .availability()
        .sku("SKU-001")
        .await
        .expect("describe")
        .expect("policies");
    assert!(
        described
            .unapplied_reports
            .iter()
            .any(|r| r.location == "west" && r.source == "erp" && r.on_hand == 100),
        "the ERP's west stock is kept, not applied: {:?}",
        described.unapplied_reports
    );
    assert!(
        described.positions.iter().all(|p| p.location != "west"),
        "{:?}",
        described.positions
    );

    // The 3PL counts 30 of SKU-001: Shopify and Walmart sell it, Amazon
    // does not (the 3PL is not in its network).
    estate
        .tpl()
        .expect("3pl")
        .advise_stock(&[("SKU-001", 30)])
        .await
        .expect("846");
    expected.retain(|(_, sku, _)| *sku != "SKU-001");
    expected.extend([
        ("shopify", "SKU-001", 68),
        ("walmart", "SKU-001", 35),
        ("amazon", "SKU-001", 40),
    ]);
    wait_for_shown(&estate, &hub, &expected).await;

    // The ERP receives goods... and counts fewer: SKU-002 at east is 10.
    reqwest::Client::new()
        .post(format!("{}/sim/stock", estate.erp_url()))
        .json(&json!({ "positions": [{ "sku": "SKU-002", "location": "east", "on_hand": 10 }] }))
        .send()
        .await
        .expect("erp stock")
        .error_for_status()
        .expect("accepted");
    expected.retain(|(_, sku, _)| *sku != "SKU-002");
    expected.extend([
        ("shopify", "SKU-002", 8),
        ("walmart", "SKU-002", 5),
        ("amazon", "SKU-002", 10),
    ]);
    wait_for_shown(&estate, &hub, &expected).await;

    // What an operator sees for SKU-001: every number with its reason.
    let described = hub
        .engine
        .availability()
        .sku("SKU-001")
        .await
        .expect("describe")
        .expect("policies");
    let text = crossdock::inventory::render(&described);
    for needle in [
        "east 40 + west 30 = pool 70; buffer 2 → 68",
        "50% → 35",
        "(excluded: west [3pl])",
        "west takes stock from warehouse:west, not erp",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    let stats = hub.engine.availability().stats().await.expect("stats");
    assert_eq!(stats.len(), 3);
    for c in &stats {
        assert!(c.samples > 0 && c.owed == 0, "{c:?}");
    }
    let key = crate::support::app::admin_key(&hub.keys, "test-admin").await;
    let http: serde_json::Value = crate::support::app::keyed_client(&key)
        .get(format!("{}/v1/availability/SKU-001", hub.url))
        .send()
        .await
        .expect("api")
        .json()
        .await
        .expect("json");
    assert_eq!(http["sku"], "SKU-001", "{http}");
    assert_eq!(http["explanation"]["channels"][0]["quantity"], 68, "{http}");

    hub.stop().await.expect("stop");
    estate.shutdown().await;
}
