//! The hub against a real Tryton 8.0 ERP (started per test from the cached
//! template by `scripts/tryton/up.sh`), with the simulated channel and
//! warehouses around it:
//!
//! - orders become confirmed Tryton sales with the right customer, lines,
//!   prices and taxes; shipments complete the Tryton shipment and an
//!   invoice is posted; Tryton's stock is the hub's inventory position;
//! - Tryton stopped for 60 s mid-run: the breaker opens, nothing lands in
//!   the exception queue, the backlog drains when Tryton is back, 0 lost,
//!   0 duplicated;
//! - the hub SIGKILLed between "sale created in Tryton" and "result
//!   recorded" (a failpoint parks the step there): exactly one sale per
//!   order in the end;
//! - the hub SIGKILLed after Tryton posted a settlement's journal, before
//!   it recorded it: exactly one posted, balanced move for the reference.
//!
//! `CROSSDOCK_SKIP_TRYTON=1` skips them (they say so on stderr).

#![allow(clippy::print_stderr)]

use crate::support::tryton_server;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use crossdock::config::{Config, ErpSpec, TrytonConfig};
use crossdock_engine::GovernorOptions;
use crossdock_engine::breaker::BreakerOptions;
use crossdock_model::{Order, OrderStatus, order_id_for};
use crossdock_sim::{Estate, SimConfig};
use crossdock_store::{ExceptionFilter, OrderFilter, Store};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tryton_server::{ADMIN_PASSWORD, TrytonServer, decimal_text};

const CHANNEL: &str = "webstore";
const BIN: &str = env!("CARGO_BIN_EXE_crossdock");

fn start_tryton(test: &str) -> Option<TrytonServer> {
    let server = TrytonServer::start();
    if server.is_none() {
        eprintln!("{test}: SKIPPED (CROSSDOCK_SKIP_TRYTON=1)");
    }
    server
}

/// The hub configured for Tryton at `tryton`, the demo estate otherwise,
/// `orders` orders offered at `rate` per second.
fn config_for(tryton: &TrytonServer, data_dir: &Path, orders: u64, rate: f64) -> Config {
    let mut config = Config::demo();
    config.hub.data_dir = data_dir.to_path_buf();
    config
        .use_demo_signing_secret()
        .expect("write the demo signing key");
    config.hub.database_url = None;
    // A Tryton sale with its shipment and invoice takes seconds on two
    // shared cores.
    config.hub.http_timeout_ms = 60_000;
    config.erp.base_url = tryton.url();
    config.erp.spec = ErpSpec::Tryton(TrytonConfig {
        database: tryton.database().to_owned(),
        username: "admin".to_owned(),
        password_env: None,
        password: Some(ADMIN_PASSWORD.to_owned()),
        warehouse_code: "WH".to_owned(),
        location: "east".to_owned(),
        web_shop: "crossdock".to_owned(),
        settlement: Default::default(),
    });
    // Tryton is one single-threaded process: more than two calls at once
    // only queue inside it.
    config.erp.governor = GovernorOptions {
        requests_per_sec: 10.0,
        max_concurrency: 2,
        breaker: BreakerOptions {
            window: 10,
            min_calls: 3,
            failure_ratio: 0.5,
            open_ms: 1_000,
            max_open_ms: 8_000,
            ..BreakerOptions::default()
        },
        ..GovernorOptions::default()
    };
    config.engine.backoff_base_ms = 200;
    config.engine.backoff_max_ms = 5_000;
    config.engine.reconcile_interval_ms = 2_000;
    let sim = config.sim.as_mut().expect("demo has [sim]");
    sim.channel.orders_per_sec = rate;
    sim.channel.duration_secs = 0;
    sim.channel.max_orders = orders;
    sim.channel.duplicate_rate = 0.2;
    sim.channel.cancel_rate = 0.0;
    for w in &mut sim.warehouses {
        w.ship_delay_ms = 200;
        w.partial_ship_rate = 0.0;
    }
    config
}

/// Runs the estate and the hub in this process until every order closed.
struct InProcess {
    hub: crossdock::hub::RunningHub,
    estate: crossdock_sim::EstateHandle,
}

impl InProcess {
    async fn start(mut config: Config) -> InProcess {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut sim: SimConfig = config.sim.clone().expect("[sim]");
        sim.hub_url = format!("http://{}", listener.local_addr().expect("addr"));
        for l in [&mut sim.channel.listen, &mut sim.erp.listen] {
            *l = "127.0.0.1:0".into();
        }
        for w in &mut sim.warehouses {
            w.listen = "127.0.0.1:0".into();
        }
        let estate = Estate::start(sim).await.expect("estate");
        config.channels[0].base_url = estate.channel_url();
        for (name, url) in estate.warehouse_urls() {
            if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
                w.set_base_url(url);
            }
        }
        let hub = crossdock::hub::start(&config, listener)
            .await
            .expect("hub starts");
        InProcess { hub, estate }
    }

    fn store(&self) -> &Store {
        self.hub.engine.store()
    }

    async fn generated(&self) -> Vec<String> {
        let stats = self.estate.stats().await;
        stats["channel"]["generated_order_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `n` orders were generated and every one is closed.
    async fn wait_closed(&self, n: u64, deadline: Duration) -> Vec<Order> {
        let started = Instant::now();
        loop {
            let ids = self.generated().await;
            let mut closed = Vec::new();
            for ext in &ids {
                if let Some(o) = self
                    .store()
                    .order(&order_id_for(CHANNEL, ext))
                    .await
                    .expect("store")
                    && o.status == OrderStatus::Closed
                {
                    closed.push(o);
                }
            }
            if ids.len() as u64 >= n && closed.len() == ids.len() {
                return closed;
            }
            if started.elapsed() > deadline {
                let orders = self
                    .store()
                    .orders(&OrderFilter::default())
                    .await
                    .expect("orders");
                let states: BTreeMap<String, usize> =
                    orders.iter().fold(BTreeMap::new(), |mut m, o| {
                        *m.entry(o.status.as_str().to_owned()).or_default() += 1;
                        m
                    });
                let exceptions = self
                    .store()
                    .exceptions(&ExceptionFilter::default())
                    .await
                    .expect("exceptions");
                panic!(
                    "{}/{} orders closed after {deadline:?}; states {states:?}; exceptions {exceptions:#?}",
                    closed.len(),
                    ids.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn stop(self) {
        self.hub.stop().await.expect("hub stops");
        self.estate.shutdown().await;
    }
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(decimal_text(v)).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// The Tryton sale for `order`, checked against it line by line.
fn check_sale(rpc: &tryton_server::TrytonRpc, server: &TrytonServer, order: &Order) -> Value {
    let reference = format!("{}:{}", order.channel, order.external_id);
    assert_eq!(
        rpc.count_sales(&reference),
        1,
        "exactly one Tryton sale for {reference}"
    );
    let found = rpc.search_read("sale.sale", json!([["reference", "=", reference]]), &["id"]);
    let id = found[0]["id"].as_i64().expect("sale id");
    let sale = rpc.sale(id);
    assert!(
        matches!(sale["state"].as_str(), Some("processing" | "done")),
        "{reference}: sale state {}",
        sale["state"]
    );
    assert_eq!(sale["web_id"], json!(reference));
    let party = rpc.read(
        "party.party",
        sale["party"].as_i64().expect("party"),
        &["name"],
    );
    assert_eq!(party["name"], json!(order.customer.name), "{reference}");

    // Goods lines: product, quantity, net unit price, tax.
    let lines = rpc.sale_lines(id);
    let mut untaxed = Decimal::ZERO;
    let mut tax = Decimal::ZERO;
    for line in &order.lines {
        let product = server.product_id(&line.sku);
        let tl = lines
            .iter()
            .find(|l| l["product"].as_i64() == Some(product))
            .unwrap_or_else(|| panic!("{reference}: no Tryton line for {}", line.sku));
        assert_eq!(
            tl["quantity"].as_f64(),
            Some(f64::from(line.quantity)),
            "{reference} {}",
            line.sku
        );
        let net = line.unit_price.amount * Decimal::from(line.quantity) - line.discount.amount;
        assert_eq!(
            dec(&tl["amount"]),
            net,
            "{reference} {}: line amount",
            line.sku
        );
        untaxed += net;
        tax += line.tax.amount;
    }
    untaxed += order.shipping.amount;
    assert_eq!(
        dec(&sale["untaxed_amount"]),
        untaxed,
        "{reference}: untaxed"
    );
    // Tryton rounds each line's tax half-even, the channel half away from
    // zero: an exact midpoint may differ by a cent per line.
    let tolerance = Decimal::new(order.lines.len() as i64, 2);
    let tax_diff = (dec(&sale["tax_amount"]) - tax).abs();
    assert!(
        tax_diff <= tolerance,
        "{reference}: Tryton tax {} vs channel {tax}",
        sale["tax_amount"]
    );
    assert!(
        (dec(&sale["total_amount"]) - order.total.amount).abs() <= tolerance,
        "{reference}: Tryton total {} vs channel {}",
        sale["total_amount"],
        order.total.amount
    );
    sale
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_become_tryton_sales_shipments_and_invoices() {
    let Some(tryton) = start_tryton("orders_become_tryton_sales_shipments_and_invoices") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    const ORDERS: u64 = 6;
    let config = config_for(&tryton, tmp.path(), ORDERS, 2.0);
    let warehouse = tryton.fixture()["warehouse"].as_i64().expect("warehouse");
    let rpc = tryton.rpc();
    let before: BTreeMap<String, f64> = (1..=20)
        .map(|i| {
            let sku = format!("SKU-{i:03}");
            let q = rpc.product_quantity(&sku, warehouse);
            (sku, q)
        })
        .collect();
    let run = InProcess::start(config).await;

    // Tryton's stock is what the hub starts from.
    let started = Instant::now();
    let positions = loop {
        let p = run.store().positions(None).await.expect("positions");
        if !p.is_empty() || started.elapsed() > Duration::from_secs(60) {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (sku, q) in &before {
        let pos = positions
            .iter()
            .find(|p| &p.sku == sku && p.location == "east")
            .unwrap_or_else(|| panic!("no hub position for {sku} at east: {positions:?}"));
        assert_eq!(pos.on_hand as f64, *q, "{sku}");
        assert_eq!(pos.source, "erp");
    }

    let orders = run.wait_closed(ORDERS, Duration::from_secs(240)).await;
    let mut shipped: BTreeMap<String, u32> = BTreeMap::new();
    for order in &orders {
        let sale = check_sale(&rpc, &tryton, order);
        // The warehouse's shipment completed Tryton's, and the invoice followed.
        let shipments = sale["shipments"].as_array().expect("shipments");
        assert!(!shipments.is_empty(), "{}: no shipment", order.external_id);
        for s in shipments {
            let shipment = rpc.shipment(s.as_i64().expect("id"));
            assert_eq!(shipment["state"], json!("done"), "{}", order.external_id);
        }
        let invoice_ref = format!("{}:{}:invoice", order.channel, order.external_id);
        let invoices = rpc.search_read(
            "account.invoice",
            json!([["reference", "=", invoice_ref]]),
            &["state", "total_amount"],
        );
        assert_eq!(invoices.len(), 1, "{invoice_ref}: {invoices:?}");
        assert!(
            matches!(invoices[0]["state"].as_str(), Some("posted" | "paid")),
            "{invoice_ref}: {}",
            invoices[0]["state"]
        );
        assert_eq!(
            dec(&invoices[0]["total_amount"]),
            dec(&sale["total_amount"]),
            "{invoice_ref}: the invoice covers the whole sale"
        );
        for line in &order.lines {
            *shipped.entry(line.sku.clone()).or_default() += line.shipped_quantity;
        }
    }
    // Stock left Tryton's warehouse as the shipments went out.
    for (sku, units) in &shipped {
        let now = rpc.product_quantity(sku, warehouse);
        assert_eq!(now, before[sku] - f64::from(*units), "{sku}");
    }
    let open = run
        .store()
        .exceptions(&ExceptionFilter::default())
        .await
        .expect("exceptions");
    assert!(open.is_empty(), "no exceptions: {open:#?}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tryton_outage_opens_the_breaker_and_loses_nothing() {
    let Some(mut tryton) = start_tryton("a_tryton_outage_opens_the_breaker_and_loses_nothing")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    const ORDERS: u64 = 10;
    let config = config_for(&tryton, tmp.path(), ORDERS, 1.0);
    let run = InProcess::start(config).await;

    // Let a few orders through, then take Tryton away mid-stream.
    let started = Instant::now();
    while run.generated().await.len() < 3 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stopped_at = Instant::now();
    tokio::task::block_in_place(|| tryton.stop());
    eprintln!("outage: Tryton stopped");
    let mut saw_open = false;
    let mut waiting_orders = 0;
    while stopped_at.elapsed() < Duration::from_secs(60) {
        if let Some(status) = run.hub.engine.erp_governor_status()
            && status.breakers.iter().any(|(_, s)| {
                *s == crossdock_engine::breaker::BreakerState::Open
                    || *s == crossdock_engine::breaker::BreakerState::HalfOpen
            })
        {
            saw_open = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // While Tryton was away, nothing transient was parked.
    let parked = run
        .store()
        .exceptions(&ExceptionFilter::default())
        .await
        .expect("exceptions");
    assert!(
        parked.is_empty(),
        "exceptions during the outage: {parked:#?}"
    );
    for ext in run.generated().await {
        let timeline = run
            .store()
            .timeline(&crossdock_engine::order_entity_key(&order_id_for(
                CHANNEL, &ext,
            )))
            .await
            .expect("timeline");
        if let Some(wait) = timeline.iter().find(|e| e.kind == "waiting_for_target") {
            waiting_orders += 1;
            // The wait says which breaker held it and how the ERP's queue
            // stood.
            let breakers = wait.detail["erp_governor"]["breakers"]
                .as_array()
                .unwrap_or_else(|| panic!("no governor state in {}", wait.detail));
            assert!(
                breakers
                    .iter()
                    .any(|b| b[1] == "open" || b[1] == "half_open"),
                "{}",
                wait.detail
            );
        }
    }
    tokio::task::block_in_place(|| tryton.restart());
    eprintln!("outage: Tryton back after {:?}", stopped_at.elapsed());
    assert!(saw_open, "the ERP breaker opened during the outage");
    assert!(
        waiting_orders > 0,
        "the wait shows on the timeline of the orders it held back"
    );

    let orders = run.wait_closed(ORDERS, Duration::from_secs(400)).await;
    assert_eq!(orders.len() as u64, ORDERS, "0 orders lost");
    let rpc = tryton.rpc();
    for order in &orders {
        check_sale(&rpc, &tryton, order);
    }
    let open = run
        .store()
        .exceptions(&ExceptionFilter::default())
        .await
        .expect("exceptions");
    assert!(open.is_empty(), "no exceptions after the outage: {open:#?}");
    run.stop().await;
}

// ------------------------------------------------------------- SIGKILL run

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `crossdock <subcommand> --config <config>`, logging to `log`, with the
/// failpoints `failpoints` armed (none when `None`).
fn spawn(subcommand: &str, config: &Path, log: &Path, failpoints: Option<&str>) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.arg(subcommand)
        .arg("--config")
        .arg(config)
        .env("CROSSDOCK_LOG", "warn,crossdock=info,crossdock_engine=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"));
    if let Some(failpoints) = failpoints {
        cmd.env("CROSSDOCK_FAILPOINTS", failpoints);
    } else {
        cmd.env_remove("CROSSDOCK_FAILPOINTS");
    }
    Proc(cmd.spawn().expect("spawn crossdock"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

async fn wait_for_line(log: &Path, needle: &str, deadline: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if std::fs::read_to_string(log).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_tryton_create_and_record_leaves_one_sale() {
    let Some(tryton) = start_tryton("sigkill_between_tryton_create_and_record_leaves_one_sale")
    else {
        return;
    };
    const ORDERS: u64 = 6;
    const KILLS: usize = 3;
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut config = config_for(&tryton, &data_dir, ORDERS, 2.0);
    let hub_port = free_port();
    config.hub.listen = format!("127.0.0.1:{hub_port}");
    config.engine.lease_ms = 2_000;
    let sim = config.sim.as_mut().expect("[sim]");
    sim.hub_url = format!("http://127.0.0.1:{hub_port}");
    sim.channel.listen = format!("127.0.0.1:{}", free_port());
    sim.erp.listen = format!("127.0.0.1:{}", free_port());
    for w in &mut sim.warehouses {
        w.listen = format!("127.0.0.1:{}", free_port());
    }
    let channel_url = format!("http://{}", sim.channel.listen);
    let warehouses: Vec<(String, String)> = sim
        .warehouses
        .iter()
        .map(|w| (w.name.clone(), format!("http://{}", w.listen)))
        .collect();
    config.channels[0].base_url = channel_url.clone();
    for w in &mut config.warehouses {
        w.set_base_url(
            warehouses
                .iter()
                .find(|(n, _)| *n == w.name)
                .expect("warehouse")
                .1
                .clone(),
        );
    }
    let config_path = tmp.path().join("crossdock.toml");
    std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("write config");

    let _sim = spawn("sim", &config_path, &tmp.path().join("sim.log"), None);
    for kill in 0..KILLS {
        let log = tmp.path().join(format!("hub-{kill}.log"));
        let mut hub = spawn("serve", &config_path, &log, Some("erp.sales_order.created"));
        assert!(
            wait_for_line(&log, "Failpoint reached", Duration::from_secs(120)).await,
            "run {kill}: the hub never reached the failpoint:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // The sale exists in Tryton; the hub has not recorded it.
        let _ = hub.0.kill();
        let _ = hub.0.wait();
        eprintln!("sigkill {kill}: killed after a Tryton sale was created");
    }
    let log = tmp.path().join("hub-final.log");
    let _hub = spawn("serve", &config_path, &log, None);

    let http = reqwest::Client::new();
    let store_url = format!("sqlite://{}", data_dir.join("crossdock.db").display());
    let started = Instant::now();
    let (ids, closed) = loop {
        let stats: Value = match http.get(format!("{channel_url}/sim/stats")).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let ids: Vec<String> = stats["channel"]["generated_order_ids"]
            .as_array()
            .or_else(|| stats["generated_order_ids"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let store = Store::open(&store_url).await.expect("store");
        let mut closed = Vec::new();
        for ext in &ids {
            if let Some(o) = store
                .order(&order_id_for(CHANNEL, ext))
                .await
                .expect("order")
                && o.status == OrderStatus::Closed
            {
                closed.push(o);
            }
        }
        store.close().await;
        if ids.len() as u64 >= ORDERS && closed.len() == ids.len() {
            break (ids, closed);
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{}/{} closed after the kills; hub log:\n{}",
            closed.len(),
            ids.len(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(ids.len() as u64, ORDERS);
    let rpc = tryton.rpc();
    for order in &closed {
        check_sale(&rpc, &tryton, order);
    }
    // The in-doubt sales were found in Tryton, not created again.
    let all_sales = rpc.search_read("sale.sale", json!([]), &["reference"]);
    assert_eq!(
        all_sales.len() as u64,
        ORDERS,
        "one Tryton sale per order: {all_sales:?}"
    );
    // Each killed run left its parked sale in doubt; the next run found it
    // in Tryton (by reference) instead of creating it again.
    let store = Store::open(&store_url).await.expect("store");
    let mut found_at_tryton = 0;
    for order in &closed {
        let timeline = store
            .timeline(&crossdock_engine::order_entity_key(&order.id))
            .await
            .expect("timeline");
        found_at_tryton += timeline
            .iter()
            .filter(|e| {
                e.kind == "effect"
                    && e.detail["effect"] == "create_sales_order"
                    && e.detail["outcome"] == "found_at_target"
            })
            .count();
    }
    // Every effect ends resolved: the customer upsert each killed run made
    // on the way to its found sale too (it is never run again).
    let mut pending = Vec::new();
    for order in &closed {
        let key = crossdock_engine::order_entity_key(&order.id);
        for e in store.effects_for(&key).await.expect("effects") {
            if e.status == crossdock_store::EffectStatus::Pending {
                pending.push(format!("{} ({})", e.key, e.kind));
            }
        }
    }
    store.close().await;
    assert!(
        pending.is_empty(),
        "effects still pending after a clean drain: {pending:?}"
    );
    assert!(
        found_at_tryton >= KILLS,
        "{found_at_tryton} sales found in doubt after {KILLS} kills"
    );
}

/// A hub SIGKILLed mid-posting a settlement's journal (a failpoint parks the
/// step after Tryton posted the move, before the hub recorded it): the
/// restarted hub finds the move by its reference, so Tryton holds exactly
/// one, posted and balanced, its bank line the deposit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_posting_a_settlement_leaves_one_tryton_move() {
    let Some(tryton) = start_tryton("sigkill_mid_posting_a_settlement_leaves_one_tryton_move")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    // No simulated estate: nothing but the settlement moves here.
    let mut config = config_for(&tryton, &data_dir, 0, 0.0);
    config.hub.listen = format!("127.0.0.1:{}", free_port());
    config.engine.lease_ms = 2_000;
    let config_path = tmp.path().join("crossdock.toml");
    std::fs::write(&config_path, toml::to_string(&config).expect("toml")).expect("write config");

    // An order the hub never saw: its money waits in suspense, beside the
    // fees, the tax pair and the reserve.
    let day = chrono::Utc::now().date_naive();
    let (start, end) = ((day - chrono::Days::new(14)).to_string(), day.to_string());
    let order = "111-0000071-0000071";
    let rows = [
        (
            "Order",
            order,
            "S1",
            "ItemPrice",
            "Principal",
            "80.00",
            "TEE-1",
            "1",
            "",
        ),
        (
            "Order",
            order,
            "S1",
            "ItemPrice",
            "Tax",
            "6.60",
            "TEE-1",
            "",
            "",
        ),
        (
            "Order",
            order,
            "S1",
            "ItemWithheldTax",
            "MarketplaceFacilitatorTax-Principal",
            "-6.60",
            "TEE-1",
            "",
            "",
        ),
        (
            "Order",
            order,
            "S1",
            "ItemFees",
            "Commission",
            "-12.00",
            "TEE-1",
            "",
            "",
        ),
        (
            "other-transaction",
            "",
            "",
            "other-transaction",
            "Current Reserve Amount",
            "-8.00",
            "",
            "",
            "",
        ),
        (
            "other-transaction",
            "",
            "",
            "other-transaction",
            "Subscription Fee",
            "-39.99",
            "",
            "",
            "",
        ),
    ];
    let deposit: Decimal = rows
        .iter()
        .map(|r| Decimal::from_str(r.5).expect("amount"))
        .sum();
    let file = tmp.path().join("settlement.tsv");
    std::fs::write(
        &file,
        crate::settlement::amazon_v2("880000088", &start, &end, &rows, true),
    )
    .expect("write the settlement");
    let import = Command::new(BIN)
        .args([
            "settlement",
            "import",
            "--from",
            "amazon-v2",
            "--json",
            "--config",
        ])
        .arg(&config_path)
        .arg(&file)
        .env_remove("CROSSDOCK_DATABASE_URL")
        .output()
        .expect("run crossdock settlement import");
    assert!(
        import.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&import.stderr)
    );
    let imported: Value = serde_json::from_slice(&import.stdout).expect("JSON");
    assert_eq!(
        imported["deposit_total"].as_str().map(Decimal::from_str),
        Some(Ok(deposit)),
        "{imported:#}"
    );
    // Every row is in the end's month: one journal.
    let reference = format!("settlement:amazon:880000088:{}", &end[..7]);

    let log = tmp.path().join("hub-killed.log");
    let mut hub = spawn("serve", &config_path, &log, Some("erp.journal.posted"));
    assert!(
        wait_for_line(&log, "Failpoint reached", Duration::from_secs(120)).await,
        "the hub never reached the failpoint:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // The move is posted in Tryton; the hub has not recorded it.
    let _ = hub.0.kill();
    let _ = hub.0.wait();
    eprintln!("sigkill: killed after Tryton posted the journal");
    let log = tmp.path().join("hub-final.log");
    let _hub = spawn("serve", &config_path, &log, None);
    let store_url = format!("sqlite://{}", data_dir.join("crossdock.db").display());
    let started = Instant::now();
    loop {
        let store = Store::open(&store_url).await.expect("store");
        let settlement = store
            .settlement("amazon:880000088")
            .await
            .expect("settlement");
        store.close().await;
        if settlement.is_some_and(|s| s.status == crossdock_model::SettlementStatus::Posted) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the settlement was not posted; hub log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let rpc = tryton.rpc();
    let moves = rpc.search_read(
        "account.move",
        json!([["description", "=", reference]]),
        &["state"],
    );
    assert_eq!(moves.len(), 1, "one move for {reference}: {moves:?}");
    assert_eq!(moves[0]["state"], "posted");
    let lines = rpc.search_read(
        "account.move.line",
        json!([["move", "=", moves[0]["id"]]]),
        &["account", "debit", "credit"],
    );
    let debits: Decimal = lines.iter().map(|l| dec(&l["debit"])).sum();
    let credits: Decimal = lines.iter().map(|l| dec(&l["credit"])).sum();
    assert_eq!(debits, credits, "{lines:?}");
    let bank = rpc.search_read("account.account", json!([["code", "=", "1.1.1"]]), &["id"]);
    let bank_line: Decimal = lines
        .iter()
        .filter(|l| l["account"] == bank[0]["id"])
        .map(|l| dec(&l["debit"]) - dec(&l["credit"]))
        .sum();
    assert_eq!(bank_line, deposit);
}
