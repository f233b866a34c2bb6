//! `crossdock bench availability-sync`: how long one stock change takes to
//! become an owed channel update in the running hub — the report applied,
//! the SKU recomputed for every channel, the change committed to the
//! availability outbox. Target: p99 ≤ 50 ms.
//!
//! The hub runs against the simulated estate with a simulated Walmart
//! taking the pushes (so the outbox is drained as in production and the
//! store sees the pushers' writes too); stock changes arrive one at a time
//! at a steady rate, as ERP or 3PL reports of single SKUs would.

use std::time::{Duration, Instant};

use clap::Args;
use crossdock_availability::{AvailabilityConfig, ChannelPolicy, LocationPolicy};
use crossdock_model::InventoryPosition;
use crossdock_sim::{Estate, SimConfig, StockSeed, WalmartSimConfig};
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::config::{ChannelSpec, Config, WalmartConfig};

#[derive(Debug, Clone, Args)]
pub struct AvailabilitySyncArgs {
    /// SKUs in the catalogue (each at two locations).
    #[arg(long, default_value_t = 2_000)]
    pub skus: usize,
    /// Stock changes to measure.
    #[arg(long, default_value_t = 1_000)]
    pub changes: usize,
    /// Stock changes per second.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// PostgreSQL URL instead of a fresh embedded store.
    #[arg(long)]
    pub database_url: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct AvailabilitySyncReport {
    pub backend: String,
    pub skus: usize,
    pub changes: usize,
    pub measured: usize,
    pub rate_per_sec: f64,
    /// Applying the report: authority check and the positions' commit.
    pub apply_p50_ms: f64,
    pub apply_p99_ms: f64,
    /// From that commit to the owed update's commit: the SKU recomputed for
    /// every channel and written to the outbox.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Upper bound of the whole path, report received → update owed:
    /// the two p99s added.
    pub total_p99_ms_bound: f64,
    /// Owed updates the channel acknowledged during the run.
    pub acknowledged: usize,
}

pub async fn run(args: &AvailabilitySyncArgs) -> anyhow::Result<()> {
    let report = measure(args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "stock change → channel update owed ({}, {} SKUs, {} changes at {}/s)\n  \
             apply report:           p50 {:.2} ms  p99 {:.2} ms\n  \
             recompute + outbox:     p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms ({} measured)\n  \
             whole path, p99 bound:  {:.2} ms (target 50 ms)\n  \
             pushes acknowledged by the channel meanwhile: {}",
            report.backend,
            report.skus,
            report.changes,
            report.rate_per_sec,
            report.apply_p50_ms,
            report.apply_p99_ms,
            report.p50_ms,
            report.p99_ms,
            report.max_ms,
            report.measured,
            report.total_p99_ms_bound,
            report.acknowledged
        );
    }
    Ok(())
}

async fn measure(args: &AvailabilitySyncArgs) -> anyhow::Result<AvailabilitySyncReport> {
    anyhow::ensure!(
        args.skus > 0 && args.changes > 0 && args.rate > 0.0,
        "nothing to measure"
    );
    let (dir, default_url) = super::common::temp_store_url();
    let url = args.database_url.clone().unwrap_or(default_url);
    let skus: Vec<String> = (1..=args.skus).map(|i| format!("SKU-{i:06}")).collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut sim = SimConfig::demo(&format!("http://{}", listener.local_addr()?));
    sim.channel.orders_per_sec = 0.0;
    sim.erp.skus = skus.clone();
    sim.erp.stock = skus
        .iter()
        .flat_map(|sku| {
            ["east", "west"].map(|location| StockSeed {
                sku: sku.clone(),
                location: location.to_owned(),
                on_hand: 100,
            })
        })
        .collect();
    sim.walmart = Some(WalmartSimConfig {
        listen: "127.0.0.1:0".into(),
        orders_per_sec: 0.0,
        skus: skus.clone(),
        ..WalmartSimConfig::default()
    });
    for w in &mut sim.warehouses {
        w.listen = "127.0.0.1:0".into();
    }
    sim.channel.listen = "127.0.0.1:0".into();
    sim.erp.listen = "127.0.0.1:0".into();
    let estate = Estate::start(sim).await?;

    let mut config = Config::demo();
    config.hub.data_dir = dir.clone();
    config.use_demo_signing_secret()?;
    config.hub.database_url = Some(url.clone());
    config.engine.reconcile_interval_ms = 0;
    config.inventory.batch_interval_ms = 1_000;
    let walmart = WalmartSimConfig::default();
    let mut channel = config.channels[0].clone();
    channel.name = "walmart".into();
    channel.base_url = estate.walmart_url().unwrap_or_default();
    channel.poll = false;
    channel.spec = ChannelSpec::Walmart(WalmartConfig {
        client_id: walmart.client_id,
        client_secret: Some(walmart.client_secret),
        client_secret_env: None,
        webhook_authorization: None,
    });
    config.channels = vec![channel];
    config.erp.base_url = estate.erp_url();
    for (name, u) in estate.warehouse_urls() {
        if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
            w.set_base_url(u);
        }
    }
    config.availability = Some(AvailabilityConfig {
        locations: ["east", "west"]
            .map(|name| LocationPolicy {
                name: name.into(),
                network: "own".into(),
                safety_stock: 0,
            })
            .to_vec(),
        channels: vec![ChannelPolicy {
            low_stock_at: 5,
            ..ChannelPolicy::for_networks("walmart", &["own"])
        }],
    });
    config.sim = None;
    config.validate("bench")?;
    let hub = crate::hub::start(&config, listener).await?;
    let engine = hub.engine.clone();

    // Let the start-up recompute and first pushes settle.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(60) {
        let owed: usize = engine
            .availability()
            .stats()
            .await?
            .iter()
            .map(|c| c.owed)
            .sum();
        if owed == 0 && !engine.availability().enqueue_latencies().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = engine.availability().enqueue_latencies().len();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(args.seed);
    let every = Duration::from_secs_f64(1.0 / args.rate);
    let started = Instant::now();
    let mut applied = Vec::with_capacity(args.changes);
    for i in 0..args.changes {
        let due = started + every.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let sku = &skus[rng.random_range(0..skus.len())];
        let position = InventoryPosition {
            sku: sku.clone(),
            location: if rng.random_bool(0.5) { "east" } else { "west" }.to_owned(),
            on_hand: rng.random_range(0..200),
            reserved: 0,
            source: "erp".into(),
            as_of: chrono::Utc::now(),
        };
        let t = Instant::now();
        engine
            .availability()
            .apply_stock_report("erp", &[position])
            .await?;
        applied.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    applied.sort_by(f64::total_cmp);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = engine.availability().enqueue_latencies();
    let mut measured: Vec<f64> = all
        .get(before..)
        .unwrap_or_default()
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    measured.sort_by(f64::total_cmp);
    let pick = |sorted: &[f64], p: f64| super::common::nearest_rank(sorted, p).unwrap_or(0.0);
    let acknowledged = engine
        .availability()
        .stats()
        .await?
        .iter()
        .map(|c| c.samples)
        .sum();
    let report = AvailabilitySyncReport {
        backend: super::common::backend_name(&url),
        skus: args.skus,
        changes: args.changes,
        measured: measured.len(),
        rate_per_sec: args.rate,
        apply_p50_ms: pick(&applied, 0.50),
        apply_p99_ms: pick(&applied, 0.99),
        p50_ms: pick(&measured, 0.50),
        p99_ms: pick(&measured, 0.99),
        max_ms: measured.last().copied().unwrap_or(0.0),
        total_p99_ms_bound: pick(&applied, 0.99) + pick(&measured, 0.99),
        acknowledged,
    };
    hub.stop().await?;
    estate.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}
