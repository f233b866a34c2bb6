//! Fulfilment end to end with two kinds of warehouse: `east` on REST with
//! immediate shipment webhooks, and `west`, a 3PL on EDI X12 that reads
//! 940s from a folder and answers with 945s in batches (a second instead
//! of an hour), some lines short. `east` goes down for a while: orders
//! routed while its breaker is open go to the 3PL, and orders routed to it
//! whose release finds it down fall back to the 3PL; a short ship sends the
//! remainder elsewhere (or cancels it). In the end: every order closed,
//! every unit shipped or cancelled, nothing lost, no fulfilment request or
//! ship confirmation duplicated.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossdock::config::{Config, WarehouseConfig, WarehouseSpec, X12WarehouseConfig};
use crossdock_engine::ShortShipPolicy;
use crossdock_engine::breaker::BreakerOptions;
use crossdock_model::{Order, OrderStatus, order_id_for};
use crossdock_sim::{Estate, Outage, TplSimConfig};
use crossdock_store::{ExceptionFilter, Store};
use serde_json::Value;

const CHANNEL: &str = "webstore";
const ORDERS: u64 = 60;

async fn closed_orders(store: &Store, ids: &[String]) -> Vec<Order> {
    let mut closed = Vec::new();
    for ext in ids {
        if let Some(o) = store
            .order(&order_id_for(CHANNEL, ext))
            .await
            .expect("store")
            && o.status == OrderStatus::Closed
        {
            closed.push(o);
        }
    }
    closed
}

fn generated(stats: &Value) -> Vec<String> {
    stats["channel"]["generated_order_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What one run varies.
struct Scenario {
    short_ship: ShortShipPolicy,
    /// Stock of SKU-001..010 only at east, SKU-011..020 only at the 3PL,
    /// and splitting allowed: most orders need both warehouses. No outage.
    split: bool,
    /// East's daily capacity in the routing profile.
    east_capacity: Option<u32>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_falls_back_to_the_3pl_and_short_ships_are_rerouted() {
    let (rerouted, cancelled) = run(Scenario {
        short_ship: ShortShipPolicy::Reroute,
        split: false,
        east_capacity: None,
    })
    .await;
    assert!(rerouted > 0, "short-shipped units went out from east");
    assert_eq!(cancelled, 0, "east was back and had the stock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_ships_are_cancelled_when_the_channel_says_so() {
    let (rerouted, cancelled) = run(Scenario {
        short_ship: ShortShipPolicy::Cancel,
        split: false,
        // Full after 10 requests: later orders go to the 3PL while east is
        // up, so (with the outage) it gets most of them.
        east_capacity: Some(10),
    })
    .await;
    assert_eq!(rerouted, 0);
    assert!(cancelled > 0, "short-shipped units were cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_no_single_warehouse_can_serve_are_split() {
    // East has none of the 3PL's SKUs: a short ship there is cancelled.
    let (rerouted, _) = run(Scenario {
        short_ship: ShortShipPolicy::Reroute,
        split: true,
        east_capacity: None,
    })
    .await;
    assert_eq!(rerouted, 0, "no other warehouse has the 3PL's SKUs");
}

/// One run; returns how many short ships were re-routed and cancelled.
async fn run(scenario: Scenario) -> (usize, usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let edi_root = tmp.path().join("edi-west");
    let mut config = Config::demo();
    config.hub.data_dir = tmp.path().join("data");
    config
        .use_demo_signing_secret()
        .expect("write the demo signing key");
    config.hub.database_url = None;
    config.channels[0].short_ship = scenario.short_ship;
    config.channels[0].split = crossdock_engine::SplitPolicy {
        allowed: scenario.split,
        max_shipments: 2,
    };
    config.engine.reconcile_interval_ms = 0;
    config.engine.backoff_base_ms = 100;
    config.engine.backoff_max_ms = 1_000;
    config.engine.warehouse_breaker = BreakerOptions {
        window: 4,
        min_calls: 2,
        failure_ratio: 0.5,
        open_ms: 500,
        max_open_ms: 1_000,
        ..BreakerOptions::default()
    };
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
    // East is cheaper; expedited orders stay off the 3PL's batches when
    // they can.
    config.routing = toml::from_str(
        r#"
        [[warehouses]]
        name = "east"
        cost = 1
        [[warehouses]]
        name = "west"
        cost = 2
        [[rules]]
        name = "cheapest"
        score = "warehouse.cost"
        [[rules]]
        name = "expedited-not-batched"
        when = "order.service_level == 'expedited'"
        score = "warehouse.name == 'west' ? 50 : 0"
        "#,
    )
    .expect("routing rules");
    config.routing.warehouses[0].daily_capacity = scenario.east_capacity;
    config.validate("test").expect("valid config");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mut sim = config.sim.clone().expect("[sim]");
    sim.hub_url = format!("http://{}", listener.local_addr().expect("addr"));
    sim.channel.listen = "127.0.0.1:0".into();
    sim.channel.orders_per_sec = 6.0;
    sim.channel.max_orders = ORDERS;
    sim.channel.duplicate_rate = 0.1;
    sim.channel.cancel_rate = 0.0;
    sim.channel.max_quantity = 3;
    sim.erp.listen = "127.0.0.1:0".into();
    for s in &mut sim.erp.stock {
        s.on_hand = 10_000;
        if scenario.split {
            let n: u32 = s.sku.trim_start_matches("SKU-").parse().expect("SKU-nnn");
            let home = if n <= 10 { "east" } else { "west" };
            if s.location != home {
                s.on_hand = 0;
            }
        }
    }
    sim.warehouses.retain(|w| w.name == "east");
    let east = &mut sim.warehouses[0];
    east.listen = "127.0.0.1:0".into();
    east.ship_delay_ms = 100;
    east.partial_ship_rate = 0.0;
    if !scenario.split {
        east.faults.outages = vec![Outage {
            start_secs: 2.0,
            end_secs: 7.0,
        }];
    }
    sim.tpl = Some(TplSimConfig {
        name: "west".into(),
        root: edi_root.clone(),
        batch_interval_ms: 1_000,
        poll_interval_ms: 100,
        short_ship_rate: 0.4,
        ship_delay_ms: 0,
        outages: Vec::new(),
    });
    let estate = Estate::start(sim).await.expect("estate");
    config.channels[0].base_url = estate.channel_url();
    config.erp.base_url = estate.erp_url();
    for (name, url) in estate.warehouse_urls() {
        if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
            w.set_base_url(url);
        }
    }
    let hub = crossdock::hub::start(&config, listener).await.expect("hub");
    let store = hub.engine.store().clone();

    let started = Instant::now();
    let (ids, orders) = loop {
        let stats = estate.stats().await;
        let ids = generated(&stats);
        let closed = closed_orders(&store, &ids).await;
        if ids.len() as u64 >= ORDERS && closed.len() == ids.len() {
            break (ids, closed);
        }
        if started.elapsed() > Duration::from_secs(180) {
            let exceptions = store
                .exceptions(&ExceptionFilter::default())
                .await
                .expect("exceptions");
            let mut states: BTreeMap<String, usize> = BTreeMap::new();
            for ext in &ids {
                if let Some(o) = store
                    .order(&order_id_for(CHANNEL, ext))
                    .await
                    .expect("order")
                {
                    *states.entry(o.status.as_str().to_owned()).or_default() += 1;
                }
            }
            panic!(
                "{}/{} closed; states {states:?}; exceptions {exceptions:#?}; stats {}",
                closed.len(),
                ids.len(),
                serde_json::to_string(&estate.tpl_stats()).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(ids.len() as u64, ORDERS, "0 orders lost");

    // Every unit shipped or cancelled, never more than ordered.
    let mut fell_back = 0;
    let mut routed_around = 0;
    let mut short_rerouted = 0;
    let mut short_cancelled = 0;
    let mut split = 0;
    let mut east_full = 0;
    for o in &orders {
        for l in &o.lines {
            assert_eq!(
                l.shipped_quantity + l.cancelled_quantity,
                l.quantity,
                "order {} line {}",
                o.id,
                l.line_id
            );
        }
        let timeline = store
            .timeline(&crossdock_engine::order_entity_key(&o.id))
            .await
            .expect("timeline");
        // Every order was routed by the rules, and the decision says why.
        let decisions: Vec<&Value> = timeline
            .iter()
            .filter(|e| e.kind == "routing_decision")
            .map(|e| &e.detail)
            .collect();
        assert!(!decisions.is_empty(), "order {}: no routing decision", o.id);
        for d in &decisions {
            if d["decision"]["ranking"]
                .as_array()
                .expect("ranking")
                .iter()
                .any(|r| {
                    r["warehouse"] == "east"
                        && r["reasons"].as_array().is_some_and(|rs| {
                            rs.iter()
                                .any(|x| x.as_str().is_some_and(|x| x.contains("capacity")))
                        })
                })
            {
                east_full += 1;
            }
            assert!(
                d["decision"]["reason"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "{d}"
            );
            let ranking = d["decision"]["ranking"].as_array().expect("ranking");
            assert_eq!(ranking.len(), 2, "{d}");
            // Asking whether east is down takes nothing from its breaker:
            // while it is open, routing sends the order to the 3PL itself.
            let east_down = d["input"]["candidates"]
                .as_array()
                .expect("candidates")
                .iter()
                .any(|c| c["name"] == "east" && c["down"] == true);
            if east_down && d["decision"]["order"][0] == "west" {
                routed_around += 1;
            }
            if d["input"]["candidates"]
                .as_array()
                .expect("candidates")
                .iter()
                .all(|c| c["down"] == false && c["can_serve_all"] == true)
                && !d["decision"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("capacity"))
            {
                assert_eq!(d["decision"]["order"][0], "east", "cheapest first: {d}");
            }
        }
        for e in &timeline {
            match e.kind.as_str() {
                "rerouted" if e.detail["reason"] == "short ship" => short_rerouted += 1,
                "rerouted" if e.detail["from"] == "east" => fell_back += 1,
                "remainder_cancelled" => short_cancelled += 1,
                "split" => split += 1,
                _ => {}
            }
        }
    }

    let stats = estate.stats().await;
    let tpl = &stats["tpl"];
    if scenario.split {
        assert!(split > 0, "some orders were split across the warehouses");
    } else {
        assert_eq!(split, 0, "splitting is off");
    }
    if let Some(capacity) = scenario.east_capacity {
        assert!(
            east_full > 0,
            "east's daily capacity sent later orders to the 3PL"
        );
        // However many orders were routed at once, east got no more
        // requests today than its capacity.
        let today = crossdock_engine::routing::capacity_day(chrono::Utc::now().timestamp_millis());
        let released = store.releases_since(today).await.expect("releases");
        let east = released
            .iter()
            .find(|(w, _)| w == "east")
            .map_or(0, |(_, n)| *n);
        assert!(
            east <= i64::from(capacity),
            "east released {east} of a capacity of {capacity}"
        );
    } else {
        assert_eq!(east_full, 0, "no capacity limit in this scenario");
    }
    if !scenario.split && scenario.east_capacity.is_none() {
        assert!(
            fell_back + routed_around > 0,
            "some orders went to the 3PL instead of east during its outage \
             (routed there while east's breaker was open, or moved there \
             when their release found it down)"
        );
    }
    assert!(
        tpl["shipments_sent"].as_u64().unwrap_or(0) > 0,
        "the 3PL shipped: {tpl}"
    );
    let short_lines = tpl["short_shipped_lines"].as_u64().unwrap_or(0);
    assert!(short_lines > 0, "the 3PL short-shipped some lines: {tpl}");
    assert!(
        short_rerouted + short_cancelled > 0,
        "short ships were followed up"
    );
    assert_eq!(tpl["duplicate_requests"], 0, "no 940 sent twice: {tpl}");
    for (name, w) in stats["warehouses"].as_object().expect("warehouses") {
        assert_eq!(w["duplicate_requests"], 0, "{name}: no request twice");
    }
    assert_eq!(
        stats["channel"]["duplicate_ship_confirmations"], 0,
        "no ship confirmation twice"
    );
    assert_eq!(stats["erp"]["duplicate_sales_orders"], 0);
    assert_eq!(stats["erp"]["duplicate_invoices"], 0);
    let open = store
        .exceptions(&ExceptionFilter::default())
        .await
        .expect("exceptions");
    assert!(open.is_empty(), "no exceptions: {open:#?}");
    // The EDI exchange left its trail: 940s out, 997s for every 945 batch.
    let outbound: Vec<String> = std::fs::read_dir(edi_root.join("archive"))
        .into_iter()
        .flatten()
        .chain(
            std::fs::read_dir(edi_root.join("outbound"))
                .into_iter()
                .flatten(),
        )
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert!(
        outbound.iter().any(|n| n.starts_with("997")),
        "997s sent: {outbound:?}"
    );
    eprintln!(
        "fulfilment: {fell_back} fallbacks, {routed_around} routed around east, {split} split, {short_lines} short lines, {short_rerouted} rerouted, {short_cancelled} cancelled"
    );
    hub.stop().await.expect("stop");
    estate.shutdown().await;
    (short_rerouted, short_cancelled)
}
