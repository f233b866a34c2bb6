//! One run of the hub against the simulated estate until every order
//! closed, and the per-order latencies read back from the store after it:
//! what `bench lifecycle` and `bench governor` both measure with.

use std::time::{Duration, Instant};

use anyhow::Context;
use crossdock_model::OrderStatus;
use crossdock_sim::{Estate, SimConfig};
use crossdock_store::Store;
use crossdock_store::events::TimelineEvent;
use serde::Serialize;

use super::common::{backend_name, quantile_ms, temp_store_url};
use crate::config::Config;

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
            matches!(e.event(), Ok(TimelineEvent::StatusChanged { to, .. })
                if to == OrderStatus::AcceptedByErp)
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

/// One run of the hub against the simulated estate until every order closed.
pub(super) struct EstateRun {
    pub backend: String,
    pub closed: u64,
    pub elapsed: Duration,
    pub summary: crate::demo::Summary,
    /// The simulators' `/sim/stats` at the end.
    pub stats: serde_json::Value,
    pub ingest_to_erp: IngestToErp,
}

/// Run `orders` orders offered at `rate` per second through the hub and
/// the simulated estate (no duplicates, cancellations or partial
/// shipments), after `tweak` adjusted the estate and the hub.
pub(super) async fn run_estate(
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
    let secret = config.use_demo_signing_secret()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut sim = SimConfig::demo(&format!("http://{}", listener.local_addr()?));
    sim.sign_webhooks_with(&crossdock_sim::SigningSimConfig::from_file(secret));
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
