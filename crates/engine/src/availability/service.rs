//! The sync as a service: [`AvailabilitySync`] owns the sync's state and
//! starts its loops; [`Handle`] is the cheap, clonable way in for the
//! engine and its callers (stock reports, one-shot rounds, statistics).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossdock_connectors::{Channel, Erp};
use crossdock_model::{Authority, InventoryPosition};
use crossdock_store::Store;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::compute::{
    SkuAvailability, describe_sku, full_recompute, rebuild_velocity_once, recompute_changed,
};
use super::plan::AvailabilityPlan;
use super::push::{push_owed, run_push};
use super::reports;
use super::state::Shared;
use crate::clock::Clock;
use crate::telemetry;

/// Sync lag and exposure of one channel over its recent pushes.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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

/// The availability sync: owns its state; its loops run from [`AvailabilitySync::start`].
pub struct AvailabilitySync {
    shared: Arc<Shared>,
}

/// A cheap handle on an [`AvailabilitySync`].
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl AvailabilitySync {
    /// A sync over `store` for `channels` (by name), reading stock from
    /// `erp`; with no `plan` it only applies stock reports, each row only
    /// from its location's system of record in `authority`.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        erp: Arc<dyn Erp>,
        channels: HashMap<String, Arc<dyn Channel>>,
        plan: Option<AvailabilityPlan>,
        authority: Arc<Authority>,
    ) -> Self {
        AvailabilitySync {
            shared: Arc::new(Shared {
                store,
                clock,
                erp,
                channels,
                plan,
                authority,
                state: Default::default(),
            }),
        }
    }

    pub fn handle(&self) -> Handle {
        Handle {
            shared: self.shared.clone(),
        }
    }

    /// Start the sync loops on `tracker` (none without a plan).
    pub fn start(&self, tracker: &TaskTracker, cancel: &CancellationToken) {
        let Some(plan) = &self.shared.plan else {
            return;
        };
        tracker.spawn(run_compute(self.shared.clone(), cancel.clone()));
        for policy in plan.policies.channels() {
            match self.shared.channels.get(&policy.channel) {
                Some(conn) => {
                    tracker.spawn(run_push(
                        self.shared.clone(),
                        policy.channel.clone(),
                        conn.clone(),
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
                self.handle(),
                Duration::from_millis(plan.options.erp_refresh_interval_ms),
                cancel.clone(),
            ));
        }
    }
}

// Real-time loop, like the pushers: only `serve` runs it (a manual-clock
// rehearsal steps the sync itself), and it sleeps on tokio's timer.
#[allow(clippy::disallowed_methods)]
async fn run_compute(shared: Arc<Shared>, cancel: CancellationToken) {
    let full_every = match shared.plan().options.full_recompute_interval_ms {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let mut next_full = Instant::now();
    loop {
        if let Err(e) = rebuild_velocity_once(&shared).await {
            tracing::warn!(error = %e, "Could not rebuild sales velocity from the store; tried again at the next recompute.");
        }
        if Instant::now() >= next_full {
            // Changes recorded from here on are recomputed again below; a
            // SKU computed twice owes nothing the second time.
            shared.store.take_stock_changes();
            if let Err(e) = full_recompute(&shared).await {
                tracing::warn!(error = %e, "Full availability recompute failed; tried again shortly.");
                next_full = Instant::now() + Duration::from_secs(5);
            } else {
                next_full = full_every.map_or(far_future(), |every| Instant::now() + every);
            }
        }
        let changes = shared.store.take_stock_changes();
        if !changes.is_empty() {
            if let Err(e) = recompute_changed(&shared, changes).await {
                tracing::warn!(error = %e, "Availability recompute failed; a full recompute follows.");
                next_full = Instant::now();
            }
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = shared.store.stock_changed() => {}
            _ = tokio::time::sleep_until(next_full.into()) => {}
        }
    }
}

#[allow(clippy::disallowed_methods)] // a deadline for tokio's real-time timer
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 24 * 3600)
}

async fn run_erp_refresh(sync: Handle, every: Duration, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        sync.refresh_stock_from_erp().await;
    }
}

impl Handle {
    /// Apply a stock report from `source` (`erp`, `warehouse:<name>`): rows
    /// for locations whose system of record (`[authority].stock`) is another source are kept
    /// as unapplied reports, never applied and never dropped. Returns
    /// (applied, kept).
    pub async fn apply_stock_report(
        &self,
        source: &str,
        positions: &[InventoryPosition],
    ) -> anyhow::Result<(usize, usize)> {
        reports::apply_stock_report(&self.shared, source, positions).await
    }

    /// Read the ERP's stock and apply it; a failure is logged and the next
    /// refresh tries again.
    pub async fn refresh_stock_from_erp(&self) {
        match self.shared.erp.read_stock().await {
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
    pub async fn sync_once(&self, full: bool, bulk: bool) -> anyhow::Result<Option<i64>> {
        let shared = &self.shared;
        let Some(plan) = &shared.plan else {
            return Ok(None);
        };
        rebuild_velocity_once(shared).await?;
        if full {
            shared.store.take_stock_changes();
            full_recompute(shared).await?;
        }
        let changes = shared.store.take_stock_changes();
        let moved = !changes.is_empty();
        if moved {
            recompute_changed(shared, changes).await?;
        }
        if !(full || moved || bulk) {
            return Ok(None);
        }
        let mut next: Option<i64> = None;
        for policy in plan.policies.channels() {
            if let Some(conn) = shared.channels.get(&policy.channel) {
                loop {
                    let round =
                        push_owed(shared, &policy.channel, conn.as_ref(), !bulk, &plan.options)
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

    /// Positions, reservations and what each channel is offered for `sku`,
    /// with the reasons; `None` when the hub has no availability policies.
    pub async fn sku(&self, sku: &str) -> anyhow::Result<Option<SkuAvailability>> {
        let Some(plan) = &self.shared.plan else {
            return Ok(None);
        };
        let velocity = self.shared.state.velocity(sku, self.shared.clock.instant());
        let mut described = describe_sku(&self.shared.store, plan, sku, velocity).await?;
        described.velocity_per_hour = Some(velocity);
        Ok(Some(described))
    }

    /// Sync lag and exposure per channel that takes availability.
    pub async fn stats(&self) -> anyhow::Result<Vec<ChannelSyncStats>> {
        let Some(plan) = &self.shared.plan else {
            return Ok(Vec::new());
        };
        let now = self.shared.clock.now_ms();
        let mut out = Vec::new();
        for policy in plan.policies.channels() {
            let channel = &policy.channel;
            let (owed, oldest) = self.shared.store.owed_summary(channel).await?;
            let (mut lags, exposure_max) = {
                let map = self
                    .shared
                    .state
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
    pub fn enqueue_latencies(&self) -> Vec<Duration> {
        self.shared
            .state
            .enqueue_latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    telemetry::nearest_rank(sorted, p).unwrap_or(0)
}
