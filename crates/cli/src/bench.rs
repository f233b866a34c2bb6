//! Benchmarks. Figures go to README's Performance section with the command
//! that produced them; nothing here is a timed test. The load generator
//! runs in the same process as the hub, on the same cores: the figures are
//! for the machine as a whole, hub and client together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use crossdock_engine::{Engine, SystemClock};
use crossdock_model::OrderStatus;
use crossdock_server::ServerOptions;
use crossdock_sim::{Estate, SimConfig};
use crossdock_store::Store;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

pub mod availability;
pub mod availability_sync;
pub mod http;
pub mod x12;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable ingest: webhooks acknowledged only after their inbox commit.
    Ingest {
        /// Webhooks to send.
        #[arg(long, default_value_t = 50_000)]
        requests: usize,
        /// Connections sending at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// PostgreSQL URL; the embedded SQLite store in a temp dir by default.
        #[arg(long)]
        database_url: Option<String>,
        /// Send nothing: serve the webhook endpoint for this long for an
        /// external load generator (wrk), then report what was committed.
        #[arg(long, value_parser = humantime::parse_duration)]
        serve_for: Option<Duration>,
    },
    /// The whole simulated lifecycle: channel → hub → ERP → warehouse → channel → invoice → closed.
    Lifecycle {
        #[arg(long, default_value_t = 5_000)]
        orders: u64,
        /// Order rate the simulated channel offers.
        #[arg(long, default_value_t = 2_000.0)]
        orders_per_sec: f64,
        #[arg(long)]
        database_url: Option<String>,
        /// Give up after this long.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "300s")]
        timeout: Duration,
    },
    /// The ERP governor against a simulated ERP that refuses anything over
    /// its limits: orders offered at a multiple of what the ERP can take.
    Governor {
        #[arg(long, default_value_t = 300)]
        orders: u64,
        /// The ERP's limit (requests per second); the hub is told the same.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// The ERP's concurrent-request limit; the hub is told the same.
        #[arg(long, default_value_t = 5)]
        max_concurrent: u32,
        /// Offered ERP work as a multiple of the limit.
        #[arg(long, default_value_t = 3.0)]
        load: f64,
        /// The simulated ERP's latency per request: at 200 ms, 20 requests
        /// per second keep about four in flight, so both limits bind.
        #[arg(long, default_value_t = 200)]
        latency_ms: u64,
        #[arg(long, value_parser = humantime::parse_duration, default_value = "300s")]
        timeout: Duration,
    },
    /// Any HTTP endpoint: exactly N POSTs of one body (templated) at a fixed
    /// concurrency, keep-alive; the load generator of `bench/peers/run.sh`.
    Http(http::HttpArgs),
    /// Available-to-promise: full recompute and diff of a synthetic
    /// catalogue (SKUs × channels × locations), time and peak memory.
    Availability(availability::AvailabilityArgs),
    /// One stock change to an owed channel update in the running hub
    /// (recompute + outbox commit), latency percentiles.
    AvailabilitySync(availability_sync::AvailabilitySyncArgs),
    /// The X12 reader: strict parse, typed 945/846 reading and canonical
    /// mapping of a synthetic in-memory corpus, throughput and latency.
    X12(x12::X12Args),
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest {
            requests,
            concurrency,
            database_url,
            serve_for,
        } => {
            let report = ingest(requests, concurrency, database_url, serve_for).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Lifecycle {
            orders,
            orders_per_sec,
            database_url,
            timeout,
        } => {
            let report = lifecycle(orders, orders_per_sec, database_url, timeout).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Governor {
            orders,
            limit,
            max_concurrent,
            load,
            latency_ms,
            timeout,
        } => {
            let report =
                governor_bench(orders, limit, max_concurrent, load, latency_ms, timeout).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        BenchCommand::Http(args) => http::run(args).await?,
        BenchCommand::Availability(args) => availability::run(&args)?,
        BenchCommand::AvailabilitySync(args) => availability_sync::run(&args).await?,
        BenchCommand::X12(args) => x12::run(&args)?,
    }
    Ok(())
}

pub(crate) fn backend_name(url: &str) -> String {
    if url.starts_with("sqlite") {
        "sqlite".into()
    } else {
        "postgres".into()
    }
}

pub(crate) fn temp_store_url() -> (std::path::PathBuf, String) {
    let dir =
        std::env::temp_dir().join(format!("crossdock-bench-{}", uuid::Uuid::now_v7().simple()));
    let url = format!("sqlite://{}", dir.join("crossdock.db").display());
    (dir, url)
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub backend: String,
    pub requests: usize,
    pub concurrency: usize,
    pub errors: usize,
    pub elapsed_secs: f64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Inbox rows found committed after the run (must equal `requests`).
    pub committed: i64,
}

fn webstore_order(n: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "order_id": format!("BENCH-{n:08}"),
        "sequence": 1,
        "status": "open",
        "updated_at": "2026-11-26T20:00:00Z",
        "created_at": "2026-11-26T20:00:00Z",
        "currency": "USD",
        "buyer": { "id": format!("B-{n}"), "email": format!("b{n}@example.com"), "name": "Bench Buyer", "phone": null },
        "ship_to": { "name": "Bench Buyer", "line1": "1 Main St", "line2": null, "city": "Springfield",
                     "region": "IL", "postal_code": "62701", "country": "US" },
        "items": [ { "line_id": "1", "sku": "SKU-001", "title": "Widget", "quantity": 2,
                     "unit_price": "19.99", "discount": "0.00", "tax": "3.20" } ],
        "shipping": "4.99",
        "total": "48.17",
        "service_level": "standard"
    }))
    .unwrap_or_default()
}

async fn ingest(
    requests: usize,
    concurrency: usize,
    database_url: Option<String>,
    serve_for: Option<Duration>,
) -> anyhow::Result<IngestReport> {
    let (dir, default_url) = temp_store_url();
    let url = database_url.unwrap_or(default_url);
    let store = Store::open(&url).await?;
    // Connectors are built but never called: the job runner is not
    // started, so this measures the door alone (verify, commit, answer).
    let config = Config::demo();
    let engine = Engine::new(
        store.clone(),
        crate::hub::connections(&config).await?.connections,
        Arc::new(SystemClock),
        config.engine.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!(
        "http://{}/webhooks/channels/webstore",
        listener.local_addr()?
    );
    let shutdown = CancellationToken::new();
    let ready = CancellationToken::new();
    ready.cancel();
    let router = crossdock_server::router(engine, ServerOptions::default(), ready);
    let server = tokio::spawn(crossdock_server::serve(listener, router, shutdown.clone()));
    if let Some(d) = serve_for {
        eprintln!(
            "crossdock bench: POST webhooks to {base} for {}",
            humantime::format_duration(d)
        );
        tokio::time::sleep(d).await;
        shutdown.cancel();
        server.await??;
        let committed = store.inbox_counts().await?.accepted;
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(IngestReport {
            backend: backend_name(&url),
            requests: 0,
            concurrency: 0,
            errors: 0,
            elapsed_secs: d.as_secs_f64(),
            per_sec: committed as f64 / d.as_secs_f64(),
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
            committed,
        });
    }

    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..requests).map(webstore_order).collect());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let load = http::drive(
        requests,
        concurrency,
        move |i| {
            client
                .post(&base)
                .header("content-type", "application/json")
                .header("x-webstore-event-id", format!("bench-{i}"))
                .body(bodies[i].clone())
        },
        None,
    )
    .await?;
    shutdown.cancel();
    server.await??;
    let committed = store.inbox_counts().await?.accepted;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(IngestReport {
        backend: backend_name(&url),
        requests,
        concurrency,
        errors: load.errors(),
        elapsed_secs: load.elapsed.as_secs_f64(),
        per_sec: load.latencies.len() as f64 / load.elapsed.as_secs_f64(),
        p50_ms: load.percentile_ms(0.50),
        p95_ms: load.percentile_ms(0.95),
        p99_ms: load.percentile_ms(0.99),
        max_ms: load.percentile_ms(1.0),
        committed,
    })
}

#[derive(Debug, Serialize)]
pub struct LifecycleReport {
    pub backend: String,
    pub orders: u64,
    pub closed: u64,
    pub elapsed_secs: f64,
    /// Orders taken from channel webhook to Closed per second of wall clock.
    pub closed_per_sec: f64,
    pub duplicates_at_erp: u64,
    pub duplicate_shipments: u64,
    pub lost: u64,
    pub exceptions: u64,
    /// Per order, channel webhook → ERP accepted the sales order.
    pub ingest_to_erp: IngestToErp,
}

/// Per order, from its channel webhook at the hub's door to the ERP's
/// acceptance of its sales order, read back from the store after the run.
/// The start is the inbox row's `received_at`, stamped as the webhook
/// arrives; it is answered right after that row's group commit. The hub
/// stamps an order's audit events with the start of the step that wrote
/// them, so the moment of acceptance is bracketed, not seen: it lies
/// between the two figures below.
#[derive(Debug, Default, Serialize)]
pub struct IngestToErp {
    /// Orders with both a channel webhook and an ERP acceptance on record.
    pub orders: usize,
    /// Until the step that calls the ERP started. A lower bound: the wait
    /// for the ERP governor, the ERP calls and the commit come after.
    pub erp_step_started_p50_ms: f64,
    pub erp_step_started_p99_ms: f64,
    /// Until the order's next step (release to the warehouse) started,
    /// which the hub runs only once the acceptance is committed. An upper
    /// bound: it includes that step's wait to be claimed.
    pub acceptance_recorded_p50_ms: f64,
    pub acceptance_recorded_p99_ms: f64,
}

pub(crate) use crossdock_engine::nearest_rank;

/// Nearest-rank quantile (0..=1) of sorted millisecond spans.
fn quantile_ms(sorted: &[i64], p: f64) -> f64 {
    nearest_rank(sorted, p).map_or(0.0, |ms| ms as f64)
}

async fn ingest_to_erp(store: &Store) -> anyhow::Result<IngestToErp> {
    // The first channel webhook of each order (the bench sends no
    // duplicates or updates, but a redelivery would not restart the clock).
    let mut arrived: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for message in store.inbox_messages(None, i64::MAX).await? {
        if let (true, Some(key)) = (message.source.starts_with("channel:"), message.entity_key) {
            let at = arrived.entry(key).or_insert(message.received_at);
            *at = (*at).min(message.received_at);
        }
    }
    let mut started = Vec::with_capacity(arrived.len());
    let mut recorded = Vec::with_capacity(arrived.len());
    for (entity_key, received_at) in &arrived {
        let events = store.timeline(entity_key).await?;
        let Some(i) = events.iter().position(|e| {
            e.kind == "status_changed"
                && e.detail["to"].as_str() == Some(OrderStatus::AcceptedByErp.as_str())
        }) else {
            continue;
        };
        started.push(events[i].at - received_at);
        // The transition is the last event of its step (one running job
        // per order), so the next one is from a later step.
        if let Some(next) = events.get(i + 1) {
            recorded.push(next.at - received_at);
        }
    }
    started.sort_unstable();
    recorded.sort_unstable();
    Ok(IngestToErp {
        orders: started.len(),
        erp_step_started_p50_ms: quantile_ms(&started, 0.50),
        erp_step_started_p99_ms: quantile_ms(&started, 0.99),
        acceptance_recorded_p50_ms: quantile_ms(&recorded, 0.50),
        acceptance_recorded_p99_ms: quantile_ms(&recorded, 0.99),
    })
}

async fn lifecycle(
    orders: u64,
    rate: f64,
    database_url: Option<String>,
    timeout: Duration,
) -> anyhow::Result<LifecycleReport> {
    let run = run_estate(orders, rate, database_url, timeout, |_, _| {}).await?;
    Ok(LifecycleReport {
        backend: run.backend,
        orders,
        closed: run.closed,
        elapsed_secs: run.elapsed.as_secs_f64(),
        closed_per_sec: run.closed as f64 / run.elapsed.as_secs_f64(),
        duplicates_at_erp: run.summary.duplicates_at_erp,
        duplicate_shipments: run.summary.duplicate_shipments,
        lost: run.summary.lost,
        exceptions: run.summary.exceptions,
        ingest_to_erp: run.ingest_to_erp,
    })
}

/// One run of the hub against the simulated estate until every order closed.
struct EstateRun {
    backend: String,
    closed: u64,
    elapsed: Duration,
    summary: crate::demo::Summary,
    /// The simulators' `/sim/stats` at the end.
    stats: serde_json::Value,
    ingest_to_erp: IngestToErp,
}

/// Run `orders` orders offered at `rate` per second through the hub and
/// the simulated estate (no duplicates, cancellations or partial
/// shipments), after `tweak` adjusted the estate and the hub.
async fn run_estate(
    orders: u64,
    rate: f64,
    database_url: Option<String>,
    timeout: Duration,
    tweak: impl FnOnce(&mut SimConfig, &mut Config),
) -> anyhow::Result<EstateRun> {
    let (dir, default_url) = temp_store_url();
    let url = database_url.unwrap_or(default_url);
    let mut config = Config::demo();
    config.hub.data_dir = dir.clone();
    config.hub.database_url = Some(url.clone());
    config.engine.reconcile_interval_ms = 0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut sim = SimConfig::demo(&format!("http://{}", listener.local_addr()?));
    sim.channel.orders_per_sec = rate;
    sim.channel.max_orders = orders;
    sim.channel.duplicate_rate = 0.0;
    sim.channel.cancel_rate = 0.0;
    for w in &mut sim.warehouses {
        w.ship_delay_ms = 0;
        w.partial_ship_rate = 0.0;
    }
    for s in &mut sim.erp.stock {
        s.on_hand = 1_000_000;
    }
    tweak(&mut sim, &mut config);
    let channel = sim.channel.name.clone();
    let estate = Estate::start(sim).await?;
    config.channels[0].base_url = estate.channel_url();
    config.erp.base_url = estate.erp_url();
    for (name, u) in estate.warehouse_urls() {
        if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
            w.set_base_url(u);
        }
    }
    let started = Instant::now();
    let hub = crate::hub::start(&config, listener).await?;
    let store = hub.engine.store().clone();
    let closed = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let counts = store.order_status_counts().await?;
        let closed = counts
            .iter()
            .find(|(s, _)| s == OrderStatus::Closed.as_str())
            .map(|(_, n)| *n as u64)
            .unwrap_or(0);
        if closed >= orders || started.elapsed() > timeout {
            break closed;
        }
    };
    let elapsed = started.elapsed();
    let summary = crate::demo::summarize(&store, &estate, &channel, elapsed, &dir, &hub.url)
        .await
        .context("summarising")?;
    let stats = estate.stats().await;
    // Read after the clock stopped, so the queries do not count in `elapsed`.
    let ingest_to_erp = ingest_to_erp(&store)
        .await
        .context("ingest → ERP latencies")?;
    hub.stop().await?;
    estate.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(EstateRun {
        backend: backend_name(&url),
        closed,
        elapsed,
        summary,
        stats,
        ingest_to_erp,
    })
}

#[derive(Debug, Serialize)]
pub struct GovernorReport {
    pub erp_limit_per_sec: u32,
    pub erp_max_concurrent: u32,
    /// Order rate offered, as a multiple of what the ERP can take.
    pub offered_load: f64,
    pub orders: u64,
    pub closed: u64,
    pub elapsed_secs: f64,
    pub erp_requests: u64,
    /// Refused by the ERP for its rate or concurrency limit: must be 0.
    pub erp_429s: u64,
    /// Most requests the ERP admitted within any one second: must be ≤ the limit.
    pub erp_peak_per_second: u64,
    pub erp_peak_in_flight: u64,
    /// Seconds during which the hub held ERP work back (the whole seconds
    /// between the first and the last ERP request, ends excluded).
    pub backlog_secs: usize,
    /// Requests per second the ERP admitted during those seconds, over its limit.
    pub utilisation: f64,
    /// The lowest single second of those, over the limit.
    pub worst_second: f64,
    pub duplicates_at_erp: u64,
    pub lost: u64,
    pub exceptions: u64,
}

async fn governor_bench(
    orders: u64,
    limit: u32,
    max_concurrent: u32,
    load: f64,
    latency_ms: u64,
    timeout: Duration,
) -> anyhow::Result<GovernorReport> {
    // ERP calls per order on the happy path: customer, sales order, invoice.
    const ERP_CALLS_PER_ORDER: f64 = 3.0;
    let rate = load * f64::from(limit) / ERP_CALLS_PER_ORDER;
    let run = run_estate(orders, rate, None, timeout, |sim, config| {
        sim.erp.faults.rate_limit_per_sec = limit;
        sim.erp.faults.max_concurrent = max_concurrent;
        sim.erp.faults.latency_ms = latency_ms;
        config.erp.governor.requests_per_sec = f64::from(limit);
        config.erp.governor.max_concurrency = max_concurrent as usize;
    })
    .await?;
    let erp = &run.stats["erp"];
    let n = |k: &str| erp[k].as_u64().unwrap_or(0);
    let per_second: Vec<u64> = erp["admitted_per_second"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    let first = per_second.iter().position(|n| *n > 0).unwrap_or(0);
    let last = per_second.iter().rposition(|n| *n > 0).unwrap_or(0);
    let inner = per_second
        .get(first + 1..last)
        .map(<[u64]>::to_vec)
        .unwrap_or_default();
    let limit_f = f64::from(limit);
    let utilisation = if inner.is_empty() {
        0.0
    } else {
        inner.iter().sum::<u64>() as f64 / (limit_f * inner.len() as f64)
    };
    let worst_second = inner.iter().min().map_or(0.0, |n| *n as f64 / limit_f);
    Ok(GovernorReport {
        erp_limit_per_sec: limit,
        erp_max_concurrent: max_concurrent,
        offered_load: load,
        orders,
        closed: run.closed,
        elapsed_secs: run.elapsed.as_secs_f64(),
        erp_requests: n("requests"),
        erp_429s: n("rate_limited") + n("concurrency_limited"),
        erp_peak_per_second: n("peak_per_second"),
        erp_peak_in_flight: n("peak_in_flight"),
        backlog_secs: inner.len(),
        utilisation,
        worst_second,
        duplicates_at_erp: run.summary.duplicates_at_erp,
        lost: run.summary.lost,
        exceptions: run.summary.exceptions,
    })
}
