//! Availability sync: keeps what every channel offers equal to what the hub
//! can honour.
//!
//! Three loops, all optional on configuration:
//! - **compute**: after each stock movement (the store reports the SKUs it
//!   touched) recomputes those SKUs for every channel and records, in the
//!   store's availability outbox, each quantity that differs from what the
//!   channel shows or is already owed. A full recompute runs at start (which
//!   also covers changes a crash lost from memory) and on a schedule.
//! - **push**, one per channel: sends owed quantities in the channel's
//!   native format through its connector — urgent ones (sold out, back in
//!   stock, low, fast-selling) at once on the per-item API, the long tail in
//!   bulk batches on a schedule — and settles each SKU by the channel's
//!   per-SKU answer. Throttling and failures back off; nothing owed is
//!   dropped: a row stays owed until acknowledged or refused (kept with the
//!   reason).
//! - **refresh**: re-reads ERP stock on a schedule.
//!
//! Stock reports go through [`Engine::apply_stock_report`], which applies a
//! report only from the location's declared authority and keeps the rest.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossdock_availability::{
    AvailabilityConfig, AvailabilityTable, Cadence, Policies, Position, SkuExplanation, explain_sku,
};
use crossdock_connectors::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityUpdate, Channel, ConnectorError,
};
use crossdock_model::InventoryPosition;
use crossdock_store::{
    AvailabilityRow, AvailabilitySettlement, OwedAvailability, PositionRow, StockChange,
    StockReport, Store,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Inner};
use crate::telemetry;

/// `[inventory]`: where stock comes from and how often availability moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventoryOptions {
    /// Location → the only source whose stock reports are applied there
    /// (`erp`, `warehouse:<name>`). A location not listed takes reports from
    /// any source.
    pub authority: BTreeMap<String, String>,
    /// How often the long tail (batch cadence) is pushed to each channel.
    pub batch_interval_ms: u64,
    /// How often every SKU is recomputed (besides at start); 0 = only at start.
    pub full_recompute_interval_ms: u64,
    /// How often ERP stock is read again; 0 = only when the hub has none.
    pub erp_refresh_interval_ms: u64,
    /// First delay after a failed push; doubles per attempt up to 5 minutes.
    pub retry_ms: u64,
}

impl Default for InventoryOptions {
    fn default() -> Self {
        InventoryOptions {
            authority: BTreeMap::new(),
            batch_interval_ms: 30_000,
            full_recompute_interval_ms: 600_000,
            erp_refresh_interval_ms: 0,
            retry_ms: 2_000,
        }
    }
}

/// What the availability sync runs on: validated policies and options.
#[derive(Debug, Clone)]
pub struct AvailabilityPlan {
    pub policies: Policies,
    pub options: InventoryOptions,
}

impl AvailabilityPlan {
    pub fn new(config: AvailabilityConfig, options: InventoryOptions) -> Result<Self, String> {
        if options.batch_interval_ms == 0 {
            return Err("inventory.batch_interval_ms: must be at least 1".into());
        }
        if options.retry_ms == 0 {
            return Err("inventory.retry_ms: must be at least 1".into());
        }
        let policies = Policies::new(config).map_err(|e| format!("availability.{e}"))?;
        Ok(AvailabilityPlan { policies, options })
    }
}

/// Live state shared by the sync loops and readers (API, benchmarks).
#[derive(Default)]
pub(crate) struct SyncState {
    /// Per channel: wakes its pusher when something urgent was owed (a
    /// permit is kept if the pusher is busy, so no wake-up is lost).
    pushers: Mutex<HashMap<String, Arc<Notify>>>,
    velocity: Mutex<HashMap<String, Velocity>>,
    /// Recent stock change → owed committed latencies, newest last.
    enqueue_latencies: Mutex<Vec<Duration>>,
    /// Per channel: recent change → acknowledged lags (ms) and exposures.
    lags: Mutex<HashMap<String, Vec<(i64, f64)>>>,
}

const RECENT: usize = 10_000;

/// Units reserved per hour, decaying with a one-hour time constant.
#[derive(Debug, Clone, Copy)]
struct Velocity {
    per_hour: f64,
    at: Instant,
}

impl SyncState {
    fn pusher(&self, channel: &str) -> Arc<Notify> {
        self.pushers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(channel.to_owned())
            .or_default()
            .clone()
    }

    fn wake_pushers(&self) {
        for notify in self
            .pushers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            notify.notify_one();
        }
    }

    fn note_sales(&self, sku: &str, units: i64, at: Instant) -> f32 {
        let mut map = self.velocity.lock().unwrap_or_else(|e| e.into_inner());
        let v = map
            .entry(sku.to_owned())
            .or_insert(Velocity { per_hour: 0.0, at });
        let hours = at.saturating_duration_since(v.at).as_secs_f64() / 3600.0;
        v.per_hour = v.per_hour * (-hours).exp() + units as f64;
        v.at = at;
        v.per_hour as f32
    }

    fn velocity(&self, sku: &str, now: Instant) -> f32 {
        let map = self.velocity.lock().unwrap_or_else(|e| e.into_inner());
        map.get(sku).map_or(0.0, |v| {
            let hours = now.saturating_duration_since(v.at).as_secs_f64() / 3600.0;
            (v.per_hour * (-hours).exp()) as f32
        })
    }

    fn note_enqueued(&self, took: Duration) {
        telemetry::availability_enqueued(took);
        push_recent(
            &mut self
                .enqueue_latencies
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
            took,
        );
    }

    fn note_acknowledged(&self, channel: &str, lag_ms: i64, velocity_per_hour: f32) {
        // Units that could have sold on stale numbers while the change travelled.
        let exposure = f64::from(velocity_per_hour) * lag_ms as f64 / 3_600_000.0;
        telemetry::availability_acknowledged(channel, lag_ms, exposure);
        let mut lags = self.lags.lock().unwrap_or_else(|e| e.into_inner());
        push_recent(
            lags.entry(channel.to_owned()).or_default(),
            (lag_ms, exposure),
        );
    }
}

fn push_recent<T>(v: &mut Vec<T>, item: T) {
    if v.len() >= RECENT {
        v.drain(..RECENT / 2);
    }
    v.push(item);
}

/// Sync lag and exposure of one channel over its recent pushes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelSyncStats {
    pub channel: String,
    /// Recent acknowledged pushes these figures cover.
    pub samples: usize,
    pub lag_p50_ms: i64,
    pub lag_p99_ms: i64,
    pub lag_max_ms: i64,
    /// Largest velocity × lag seen: units that could sell on a stale number.
    pub exposure_max_units: f64,
    /// SKUs owed to the channel and not yet acknowledged.
    pub owed: usize,
    /// Age of the oldest owed change (ms).
    pub oldest_owed_ms: i64,
}

/// One SKU as `crossdock inventory show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkuAvailability {
    pub sku: String,
    pub positions: Vec<PositionRow>,
    /// Locations reporting stock that no policy knows (not counted).
    pub unknown_locations: Vec<String>,
    pub explanation: SkuExplanation,
    pub channels: Vec<AvailabilityRow>,
    /// Units reserved per hour lately (known only to a running hub).
    pub velocity_per_hour: Option<f32>,
    pub unapplied_reports: Vec<StockReport>,
}

/// `sku` as the store and `plan` see it: positions, what each channel shows
/// and is owed, the calculation with its reasons, and stock reports kept
/// unapplied. Used by the API and by `crossdock inventory show`.
/// `velocity_per_hour` is what the SKU sells (it sizes `cover_minutes`);
/// 0 where it is not known.
pub async fn describe_sku(
    store: &Store,
    plan: &AvailabilityPlan,
    sku: &str,
    velocity_per_hour: f32,
) -> anyhow::Result<SkuAvailability> {
    let positions = store.positions(Some(sku)).await?;
    let (arranged, unknown_locations) = arranged(&plan.policies, &positions);
    let mut explanation = explain_sku(&plan.policies, &arranged, velocity_per_hour)?;
    let channels = store.availability(None, Some(&[sku.to_owned()])).await?;
    for c in &mut explanation.channels {
        c.published = channels
            .iter()
            .find(|r| r.channel == c.channel)
            .and_then(|r| r.published);
    }
    Ok(SkuAvailability {
        sku: sku.to_owned(),
        positions,
        unknown_locations,
        explanation,
        channels,
        velocity_per_hour: None,
        unapplied_reports: store.stock_reports(sku, 20).await?,
    })
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    telemetry::nearest_rank(sorted, p).unwrap_or(0)
}

fn cadence_name(cadence: Cadence) -> &'static str {
    match cadence {
        Cadence::Urgent(_) => "urgent",
        Cadence::Batch => "batch",
    }
}

fn arranged(policies: &Policies, rows: &[PositionRow]) -> (Vec<Position>, Vec<String>) {
    let arranged = policies.arrange(
        rows.iter()
            .map(|p| (p.location.as_str(), Position::new(p.on_hand, p.reserved))),
    );
    (arranged.positions, arranged.unknown_locations)
}

impl Engine {
    /// Apply a stock report from `source` (`erp`, `warehouse:<name>`): rows
    /// for locations whose declared authority is another source are kept
    /// as unapplied reports, never applied and never dropped. Returns
    /// (applied, kept).
    pub async fn apply_stock_report(
        &self,
        source: &str,
        positions: &[InventoryPosition],
    ) -> anyhow::Result<(usize, usize)> {
        let now = self.inner.clock.now_ms();
        let authority = self
            .inner
            .connections
            .availability
            .as_ref()
            .map(|p| &p.options.authority);
        let mut applied = Vec::new();
        let mut kept = Vec::new();
        let left_since = self.units_left_after(positions).await?;
        for p in positions {
            match authority.and_then(|a| a.get(&p.location)) {
                Some(owner) if owner != source => kept.push(StockReport {
                    sku: p.sku.clone(),
                    location: p.location.clone(),
                    source: source.to_owned(),
                    on_hand: p.on_hand,
                    as_of: p.as_of.timestamp_millis(),
                    received_at: now,
                    note: format!("{} takes stock from {owner}, not {source}", p.location),
                }),
                _ => applied.push(PositionRow {
                    sku: p.sku.clone(),
                    location: p.location.clone(),
                    // A report as of an earlier moment still counts what has
                    // shipped since; the hub already took those units off.
                    on_hand: (p.on_hand
                        - left_since
                            .get(&(
                                p.sku.as_str(),
                                p.location.as_str(),
                                p.as_of.timestamp_millis(),
                            ))
                            .copied()
                            .unwrap_or(0))
                    .max(0),
                    reserved: 0,
                    source: source.to_owned(),
                    as_of: p.as_of.timestamp_millis(),
                }),
            }
        }
        if !kept.is_empty() {
            tracing::warn!(
                source,
                kept = kept.len(),
                "Stock report for locations with another authority kept, not applied."
            );
            telemetry::stock_reports_kept(source, kept.len());
        }
        self.inner.store.record_stock_reports(&kept).await?;
        self.inner.store.set_positions(&applied).await?;
        Ok((applied.len(), kept.len()))
    }

    /// Units the hub has recorded leaving each position after the moment
    /// its report is as of, keyed by (SKU, location, as-of). A source that
    /// reports late (an ERP whose stock lags the floor) would otherwise put
    /// back units that already shipped, and they would be sold again.
    async fn units_left_after<'a>(
        &self,
        positions: &'a [InventoryPosition],
    ) -> anyhow::Result<HashMap<(&'a str, &'a str, i64), i64>> {
        let now = self.inner.clock.now_ms();
        let Some(earliest) = positions
            .iter()
            .map(|p| p.as_of.timestamp_millis())
            .filter(|as_of| *as_of < now)
            .min()
        else {
            return Ok(HashMap::new());
        };
        // Each shipped line once, by position: a report can cover the
        // whole catalogue.
        let mut shipped: HashMap<(String, String), Vec<(i64, i64)>> = HashMap::new();
        for s in self.inner.store.shipments_recorded_after(earliest).await? {
            let at = s.shipped_at.timestamp_millis();
            for l in s.lines {
                shipped
                    .entry((l.sku, s.warehouse.clone()))
                    .or_default()
                    .push((at, i64::from(l.quantity)));
            }
        }
        let mut left = HashMap::new();
        if shipped.is_empty() {
            return Ok(left);
        }
        for p in positions {
            let as_of = p.as_of.timestamp_millis();
            if as_of >= now {
                continue;
            }
            let units: i64 = shipped
                .get(&(p.sku.clone(), p.location.clone()))
                .map_or(0, |lines| {
                    lines
                        .iter()
                        .filter(|(at, _)| *at > as_of)
                        .map(|(_, q)| q)
                        .sum()
                });
            if units > 0 {
                left.insert((p.sku.as_str(), p.location.as_str(), as_of), units);
            }
        }
        Ok(left)
    }

    /// Positions, reservations and what each channel is offered for `sku`,
    /// with the reasons; `None` when the hub has no availability policies.
    pub async fn sku_availability(&self, sku: &str) -> anyhow::Result<Option<SkuAvailability>> {
        let Some(plan) = &self.inner.connections.availability else {
            return Ok(None);
        };
        let velocity = self
            .inner
            .availability_state
            .velocity(sku, self.inner.clock.instant());
        let mut described = describe_sku(&self.inner.store, plan, sku, velocity).await?;
        described.velocity_per_hour = Some(velocity);
        Ok(Some(described))
    }

    /// Sync lag and exposure per channel that takes availability.
    pub async fn availability_stats(&self) -> anyhow::Result<Vec<ChannelSyncStats>> {
        let Some(plan) = &self.inner.connections.availability else {
            return Ok(Vec::new());
        };
        let now = self.inner.clock.now_ms();
        let mut out = Vec::new();
        for policy in plan.policies.channels() {
            let channel = &policy.channel;
            let (owed, oldest) = self.inner.store.owed_summary(channel).await?;
            let (mut lags, exposure_max) = {
                let map = self
                    .inner
                    .availability_state
                    .lags
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let recent = map.get(channel).map(Vec::as_slice).unwrap_or_default();
                (
                    recent.iter().map(|(lag, _)| *lag).collect::<Vec<_>>(),
                    recent.iter().map(|(_, e)| *e).fold(0.0, f64::max),
                )
            };
            lags.sort_unstable();
            out.push(ChannelSyncStats {
                channel: channel.clone(),
                samples: lags.len(),
                lag_p50_ms: percentile(&lags, 0.50),
                lag_p99_ms: percentile(&lags, 0.99),
                lag_max_ms: lags.last().copied().unwrap_or(0),
                exposure_max_units: exposure_max,
                owed: owed as usize,
                oldest_owed_ms: oldest.map_or(0, |at| now - at),
            });
        }
        Ok(out)
    }

    /// Recent stock change → owed committed latencies (for benchmarks).
    pub fn availability_enqueue_latencies(&self) -> Vec<Duration> {
        self.inner
            .availability_state
            .enqueue_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Starts the sync loops for `plan` on `tracker`.
pub(crate) fn spawn(
    engine: &Engine,
    plan: &AvailabilityPlan,
    tracker: &tokio_util::task::TaskTracker,
    cancel: &CancellationToken,
) {
    tracker.spawn(run_compute(engine.inner.clone(), cancel.clone()));
    for policy in plan.policies.channels() {
        match engine.inner.connections.channels.get(&policy.channel) {
            Some(conn) => {
                tracker.spawn(run_push(
                    engine.inner.clone(),
                    policy.channel.clone(),
                    conn.connector.clone(),
                    cancel.clone(),
                ));
            }
            None => tracing::warn!(
                channel = %policy.channel,
                "An availability policy names a channel the hub does not have; nothing is pushed for it."
            ),
        }
    }
    if plan.options.erp_refresh_interval_ms > 0 {
        tracker.spawn(run_erp_refresh(
            engine.clone(),
            Duration::from_millis(plan.options.erp_refresh_interval_ms),
            cancel.clone(),
        ));
    }
}

fn plan(inner: &Inner) -> &AvailabilityPlan {
    inner
        .connections
        .availability
        .as_ref()
        .expect("the availability loops run only with a plan")
}

async fn run_compute(inner: Arc<Inner>, cancel: CancellationToken) {
    let full_every = match plan(&inner).options.full_recompute_interval_ms {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let mut next_full = Instant::now();
    loop {
        if Instant::now() >= next_full {
            // Changes recorded from here on are recomputed again below; a
            // SKU computed twice owes nothing the second time.
            inner.store.take_stock_changes();
            if let Err(e) = full_recompute(&inner).await {
                tracing::warn!(error = %e, "Full availability recompute failed; tried again shortly.");
                next_full = Instant::now() + Duration::from_secs(5);
            } else {
                next_full = full_every.map_or(far_future(), |every| Instant::now() + every);
            }
        }
        let changes = inner.store.take_stock_changes();
        if !changes.is_empty() {
            if let Err(e) = recompute_changed(&inner, changes).await {
                tracing::warn!(error = %e, "Availability recompute failed; a full recompute follows.");
                next_full = Instant::now();
            }
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = inner.store.stock_changed() => {}
            _ = tokio::time::sleep_until(next_full.into()) => {}
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

/// What each channel should be shown for `sku` given its positions, the
/// channel rows known for it, and its velocity: the owed rows that differ.
fn owed_for_sku(
    policies: &Policies,
    sku: &str,
    positions: &[PositionRow],
    rows: &[&AvailabilityRow],
    velocity: f32,
    changed_at: i64,
) -> anyhow::Result<Vec<OwedAvailability>> {
    let (arranged, _) = arranged(policies, positions);
    let explanation = explain_sku(policies, &arranged, velocity)?;
    let mut owed = Vec::new();
    for (i, c) in explanation.channels.iter().enumerate() {
        let row = rows.iter().find(|r| r.channel == c.channel);
        let published = row.and_then(|r| r.published);
        let current = row.and_then(|r| r.target.or(r.published));
        if current == Some(c.quantity) {
            continue;
        }
        let cadence = policies
            .classify(i, published, c.quantity, velocity)
            .unwrap_or(Cadence::Batch);
        owed.push(OwedAvailability {
            channel: c.channel.clone(),
            sku: sku.to_owned(),
            target: c.quantity,
            cadence: cadence_name(cadence).to_owned(),
            changed_at,
        });
    }
    Ok(owed)
}

async fn recompute_changed(
    inner: &Inner,
    changes: HashMap<String, StockChange>,
) -> anyhow::Result<()> {
    let policies = &plan(inner).policies;
    let state = &inner.availability_state;
    let now = inner.clock.instant();
    let skus: Vec<String> = changes.keys().cloned().collect();
    // Grouped by SKU once: a batch can hold every SKU (the first stock load).
    let mut positions: HashMap<String, Vec<PositionRow>> = HashMap::new();
    for p in inner.store.positions_of(&skus).await? {
        positions.entry(p.sku.clone()).or_default().push(p);
    }
    let rows = inner.store.availability(None, Some(&skus)).await?;
    let mut known: HashMap<&str, Vec<&AvailabilityRow>> = HashMap::new();
    for r in &rows {
        known.entry(r.sku.as_str()).or_default().push(r);
    }
    let changed_at = inner.clock.now_ms();
    let mut owed = Vec::new();
    let mut urgent = false;
    for (sku, change) in &changes {
        let velocity = if change.units_reserved > 0 {
            state.note_sales(sku, change.units_reserved, now)
        } else {
            state.velocity(sku, now)
        };
        let here = positions.get(sku).map(Vec::as_slice).unwrap_or_default();
        let rows = known
            .get(sku.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let sku_owed = owed_for_sku(policies, sku, here, rows, velocity, changed_at)?;
        urgent |= sku_owed.iter().any(|o| o.cadence == "urgent");
        owed.extend(sku_owed);
    }
    inner.store.owe_availability(&owed).await?;
    for change in changes.values() {
        state.note_enqueued(change.first_at.elapsed());
    }
    if urgent {
        state.wake_pushers();
    }
    Ok(())
}

/// Recompute every SKU against what channels show and are owed, with the
/// columnar table (the path the 1M-SKU benchmark measures).
async fn full_recompute(inner: &Inner) -> anyhow::Result<()> {
    let policies = &plan(inner).policies;
    let started = Instant::now();
    let positions = inner.store.positions(None).await?;
    let rows = inner.store.availability(None, None).await?;
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    for sku in positions
        .iter()
        .map(|p| p.sku.as_str())
        .chain(rows.iter().map(|r| r.sku.as_str()))
    {
        index.entry(sku).or_insert_with(|| {
            names.push(sku);
            names.len() - 1
        });
    }
    let mut table = AvailabilityTable::new(policies.clone(), names.len())?;
    for p in &positions {
        if let Some(location) = policies.location_index(&p.location)
            && let Some(slots) = table.positions_mut(index[p.sku.as_str()])
        {
            slots[location].on_hand += p.on_hand;
            slots[location].reserved += p.reserved;
        }
    }
    for r in &rows {
        if let Some(channel) = policies.channel_index(&r.channel)
            && let Some(current) = r.target.or(r.published)
        {
            table.record_published(index[r.sku.as_str()], channel, Some(current))?;
        }
    }
    let now = inner.clock.instant();
    for (i, sku) in names.iter().enumerate() {
        table.set_velocity(i, inner.availability_state.velocity(sku, now))?;
    }
    let changed_at = inner.clock.now_ms();
    let owed: Vec<OwedAvailability> = table
        .recompute()
        .into_iter()
        .map(|c| OwedAvailability {
            channel: policies.channels()[usize::from(c.channel)].channel.clone(),
            sku: names[c.sku as usize].to_owned(),
            target: c.new,
            cadence: cadence_name(c.cadence).to_owned(),
            changed_at,
        })
        .collect();
    inner.store.owe_availability(&owed).await?;
    tracing::info!(
        skus = names.len(),
        owed = owed.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "Recomputed availability for every SKU."
    );
    if !owed.is_empty() {
        inner.availability_state.wake_pushers();
    }
    Ok(())
}

async fn run_push(
    inner: Arc<Inner>,
    channel: String,
    connector: Arc<dyn Channel>,
    cancel: CancellationToken,
) {
    let options = plan(&inner).options.clone();
    let batch_every = Duration::from_millis(options.batch_interval_ms);
    let wake_up = inner.availability_state.pusher(&channel);
    let mut next_batch = Instant::now() + batch_every;
    loop {
        let batch_due = Instant::now() >= next_batch;
        let pushed = push_owed(&inner, &channel, connector.as_ref(), !batch_due, &options).await;
        if batch_due {
            next_batch = Instant::now() + batch_every;
        }
        match pushed {
            // More may be waiting behind a full batch: go again at once.
            Ok(round) if round.more => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%channel, error = %e, "Availability push failed; tried again shortly.")
            }
        }
        let wake = next_batch.min(Instant::now() + Duration::from_millis(options.retry_ms));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = wake_up.notified() => {}
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

/// What one round of pushes to a channel came to.
struct PushRound {
    /// A full batch went out: more may be owed.
    more: bool,
    /// The channel (or its governor) put the batch off until then (ms).
    put_off_until: Option<i64>,
}

/// One round of pushes to `channel`: urgent rows on the per-item API, or —
/// when the batch is due — everything owed in bulk.
async fn push_owed(
    inner: &Inner,
    channel: &str,
    connector: &dyn Channel,
    urgent_only: bool,
    options: &InventoryOptions,
) -> anyhow::Result<PushRound> {
    let cadence = if urgent_only {
        AvailabilityCadence::Urgent
    } else {
        AvailabilityCadence::Batch
    };
    let limit = connector.availability_batch_limit(cadence).max(1);
    let now = inner.clock.now_ms();
    let owed = inner
        .store
        .owed_availability(channel, urgent_only, now, limit)
        .await?;
    if owed.is_empty() {
        return Ok(PushRound {
            more: false,
            put_off_until: None,
        });
    }
    let updates: Vec<AvailabilityUpdate> = owed
        .iter()
        .filter_map(|r| {
            let target = r.target?;
            Some(AvailabilityUpdate {
                sku: r.sku.clone(),
                quantity: target,
                previous: r.published,
                // The same owed change keeps its key across retries, so a
                // channel that honours keys applies a resend once.
                idempotency_key: format!(
                    "{channel}:{}:{}:{target}",
                    r.sku,
                    r.changed_at.unwrap_or_default()
                ),
                changed_at: r.changed_at.unwrap_or(now),
            })
        })
        .collect();
    let result = connector.publish_availability(&updates, cadence).await;
    let at = inner.clock.now_ms();
    let backoff = |attempts: i64| {
        let ms = options
            .retry_ms
            .saturating_mul(1 << attempts.clamp(0, 16) as u32);
        at + ms.min(300_000) as i64
    };
    let settlements: Vec<AvailabilitySettlement> = match result {
        Ok(results) => owed
            .iter()
            .zip(&updates)
            .map(|(row, update)| {
                match results.iter().find(|r| r.sku == update.sku).map(|r| &r.outcome) {
                    Some(AvailabilityOutcome::Accepted) => {
                        let lag = at - row.changed_at.unwrap_or(at);
                        inner.availability_state.note_acknowledged(
                            channel,
                            lag,
                            inner
                                .availability_state
                                .velocity(&update.sku, inner.clock.instant()),
                        );
                        AvailabilitySettlement::Acknowledged {
                            sku: update.sku.clone(),
                            quantity: update.quantity,
                            at,
                        }
                    }
                    Some(AvailabilityOutcome::Stale { current }) => AvailabilitySettlement::Stale {
                        sku: update.sku.clone(),
                        current: *current,
                        retry_at: at,
                    },
                    Some(AvailabilityOutcome::Rejected { reason }) => {
                        telemetry::availability_refused(channel);
                        tracing::warn!(%channel, sku = %update.sku, %reason, "Channel refused an availability update.");
                        AvailabilitySettlement::Refused {
                            sku: update.sku.clone(),
                            reason: reason.clone(),
                            at,
                        }
                    }
                    None => AvailabilitySettlement::Failed {
                        sku: update.sku.clone(),
                        reason: "the channel's answer had no result for this SKU".into(),
                        retry_at: backoff(row.attempts),
                    },
                }
            })
            .collect(),
        Err(error) => {
            let (reason, wait) = match &error {
                ConnectorError::Throttled { retry_after, .. }
                | ConnectorError::CircuitOpen { retry_after, .. }
                | ConnectorError::Paced { retry_after, .. } => {
                    (error.to_string(), Some(*retry_after))
                }
                ConnectorError::Transient { retry_after, .. } => (error.to_string(), *retry_after),
                ConnectorError::Unreachable { .. } => (error.to_string(), None),
                ConnectorError::Rejected { .. } | ConnectorError::Unauthorized { .. } => {
                    (error.to_string(), None)
                }
            };
            tracing::warn!(%channel, skus = owed.len(), %reason, "Availability push failed.");
            owed.iter()
                .map(|row| AvailabilitySettlement::Failed {
                    sku: row.sku.clone(),
                    reason: reason.clone(),
                    retry_at: wait.map_or_else(
                        || backoff(row.attempts),
                        |w| at + w.as_millis() as i64,
                    ),
                })
                .collect()
        }
    };
    inner
        .store
        .settle_availability(channel, &settlements)
        .await?;
    Ok(PushRound {
        more: owed.len() == limit
            && settlements
                .iter()
                .any(|s| matches!(s, AvailabilitySettlement::Acknowledged { .. })),
        put_off_until: settlements
            .iter()
            .filter_map(|s| match s {
                AvailabilitySettlement::Failed { retry_at, .. } => Some(*retry_at),
                _ => None,
            })
            .min(),
    })
}

async fn run_erp_refresh(engine: Engine, every: Duration, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        engine.refresh_stock_from_erp().await;
    }
}

impl Engine {
    /// Read the ERP's stock and apply it; a failure is logged and the next
    /// refresh tries again.
    pub async fn refresh_stock_from_erp(&self) {
        match self.inner.connections.erp.read_stock().await {
            Ok(positions) => {
                if let Err(e) = self.apply_stock_report("erp", &positions).await {
                    tracing::warn!(error = %e, "Could not apply ERP stock; read again next time.");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Could not read ERP stock; read again next time."),
        }
    }

    /// One round of the availability sync, for a caller that moves a manual
    /// clock instead of running the background loops: a full recompute when
    /// `full`, then the SKUs whose stock moved, then each channel's owed
    /// rows — urgent ones only, or everything when `bulk`.
    ///
    /// Returns when the earliest row still owed may be tried again (a
    /// channel's rate limit or a failure put it off), so the caller can
    /// come back then with `bulk`.
    pub async fn sync_availability_once(
        &self,
        full: bool,
        bulk: bool,
    ) -> anyhow::Result<Option<i64>> {
        let inner = &self.inner;
        let Some(plan) = &inner.connections.availability else {
            return Ok(None);
        };
        if full {
            inner.store.take_stock_changes();
            full_recompute(inner).await?;
        }
        let changes = inner.store.take_stock_changes();
        let moved = !changes.is_empty();
        if moved {
            recompute_changed(inner, changes).await?;
        }
        if !(full || moved || bulk) {
            return Ok(None);
        }
        let mut next: Option<i64> = None;
        for policy in plan.policies.channels() {
            if let Some(conn) = inner.connections.channels.get(&policy.channel) {
                loop {
                    let round = push_owed(
                        inner,
                        &policy.channel,
                        conn.connector.as_ref(),
                        !bulk,
                        &plan.options,
                    )
                    .await?;
                    if let Some(at) = round.put_off_until {
                        next = Some(next.map_or(at, |n| n.min(at)));
                    }
                    if !round.more {
                        break;
                    }
                }
            }
        }
        Ok(next)
    }
}
