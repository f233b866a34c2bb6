//! What the availability sync owns: the systems it reads and writes, its
//! plan, and its live state (velocity, lags, wake-ups). A leaf shared by
//! the sync's parts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossdock_connectors::{Channel, Erp};
use crossdock_store::Store;
use tokio::sync::Notify;

use super::plan::AvailabilityPlan;
use crate::clock::Clock;
use crate::telemetry;

/// Everything the sync's loops and its handle share.
pub(crate) struct Shared {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub erp: Arc<dyn Erp>,
    /// The channels' connectors, by channel name.
    pub channels: HashMap<String, Arc<dyn Channel>>,
    /// `None`: no availability policies (stock reports are still applied).
    pub plan: Option<AvailabilityPlan>,
    pub state: SyncState,
}

impl Shared {
    /// The plan; the loops run only when there is one.
    pub(crate) fn plan(&self) -> &AvailabilityPlan {
        self.plan
            .as_ref()
            .expect("the availability loops run only with a plan")
    }
}

/// Live state shared by the sync loops and readers (API, benchmarks).
#[derive(Default)]
pub(crate) struct SyncState {
    /// Per channel: wakes its pusher when something urgent was owed (a
    /// permit is kept if the pusher is busy, so no wake-up is lost).
    pushers: Mutex<HashMap<String, Arc<Notify>>>,
    velocity: Mutex<HashMap<String, Velocity>>,
    /// Set once the velocity was rebuilt from the store's recent sales
    /// (at the first recompute), so a restart does not forget it.
    pub(crate) velocity_rebuilt: tokio::sync::OnceCell<()>,
    /// Recent stock change → owed committed latencies, newest last.
    pub(crate) enqueue_latencies: Mutex<Vec<Duration>>,
    /// Per channel: recent change → acknowledged lags (ms) and exposures.
    pub(crate) lags: Mutex<HashMap<String, Vec<(i64, f64)>>>,
}

const RECENT: usize = 10_000;

/// Units reserved per hour, decaying with a one-hour time constant.
#[derive(Debug, Clone, Copy)]
struct Velocity {
    per_hour: f64,
    at: Instant,
}

impl SyncState {
    pub(crate) fn pusher(&self, channel: &str) -> Arc<Notify> {
        self.pushers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(channel.to_owned())
            .or_default()
            .clone()
    }

    pub(crate) fn wake_pushers(&self) {
        for notify in self
            .pushers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            notify.notify_one();
        }
    }

    pub(crate) fn note_sales(&self, sku: &str, units: i64, at: Instant) -> f32 {
        let mut map = self.velocity.lock().unwrap_or_else(|e| e.into_inner());
        let v = map
            .entry(sku.to_owned())
            .or_insert(Velocity { per_hour: 0.0, at });
        let hours = at.saturating_duration_since(v.at).as_secs_f64() / 3600.0;
        v.per_hour = v.per_hour * (-hours).exp() + units as f64;
        v.at = at;
        v.per_hour as f32
    }

    /// Add sales already decayed to `now` (`per_hour` = Σ units × e^(−age
    /// in hours)): the velocity rebuilt from the store after a restart.
    /// The decay is exponential, so a sale older than the SKU's last one
    /// adds the same as if it had been noted at its time.
    pub(crate) fn add_decayed_sales(&self, sku: &str, per_hour: f64, now: Instant) {
        let mut map = self.velocity.lock().unwrap_or_else(|e| e.into_inner());
        let v = map.entry(sku.to_owned()).or_insert(Velocity {
            per_hour: 0.0,
            at: now,
        });
        if v.at > now {
            let hours = v.at.duration_since(now).as_secs_f64() / 3600.0;
            v.per_hour += per_hour * (-hours).exp();
        } else {
            let hours = now.duration_since(v.at).as_secs_f64() / 3600.0;
            v.per_hour = v.per_hour * (-hours).exp() + per_hour;
            v.at = now;
        }
    }

    pub(crate) fn velocity(&self, sku: &str, now: Instant) -> f32 {
        let map = self.velocity.lock().unwrap_or_else(|e| e.into_inner());
        map.get(sku).map_or(0.0, |v| {
            let hours = now.saturating_duration_since(v.at).as_secs_f64() / 3600.0;
            (v.per_hour * (-hours).exp()) as f32
        })
    }

    pub(crate) fn note_enqueued(&self, took: Duration) {
        telemetry::availability_enqueued(took);
        push_recent(
            &mut self
                .enqueue_latencies
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
            took,
        );
    }

    pub(crate) fn note_acknowledged(&self, channel: &str, lag_ms: i64, velocity_per_hour: f32) {
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
