//! What the availability sync owns: the systems it reads and writes, its
//! plan, and its live state (velocity, lags, wake-ups). A leaf shared by
//! the sync's parts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossdock_connectors::{Channel, Erp};
use crossdock_model::Authority;
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
    /// Whose stock reports apply at each location (`[authority].stock`).
    pub authority: Arc<Authority>,
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

/// Units reserved per hour, as two decaying sums: `slow` with a one-hour
/// time constant (Σ units × e^(−age in hours), the rate in steady state)
/// and `fast` with a quarter of an hour (Σ units × e^(−4 × age)). The
/// velocity is the larger rate: when a peak starts the hour-long sum still
/// remembers the lull (after 30 minutes of three times the sales it shows
/// under twice), and `cover_minutes` held back too little exactly when
/// slow listings sell fastest; the quarter-hour sum catches up within
/// minutes, and the hour-long one keeps the cover through a short lull.
#[derive(Debug, Clone, Copy)]
struct Velocity {
    slow: f64,
    fast: f64,
    at: Instant,
}

/// Time constant of the fast sum, in hours.
const FAST_HOURS: f64 = 0.25;

impl Velocity {
    fn new(at: Instant) -> Self {
        Velocity {
            slow: 0.0,
            fast: 0.0,
            at,
        }
    }

    /// Both sums decayed to `now` (no earlier than their last sale).
    fn decayed(&self, now: Instant) -> (f64, f64) {
        let hours = now.saturating_duration_since(self.at).as_secs_f64() / 3600.0;
        (
            self.slow * (-hours).exp(),
            self.fast * (-hours / FAST_HOURS).exp(),
        )
    }

    fn per_hour((slow, fast): (f64, f64)) -> f64 {
        slow.max(fast / FAST_HOURS)
    }
}

/// A sale of `units` `age_hours` ago, as it weighs now in the slow and the
/// fast sum (see [`Velocity`]).
pub(crate) fn decayed_sale(units: i64, age_hours: f64) -> (f64, f64) {
    let units = units as f64;
    (
        units * (-age_hours).exp(),
        units * (-age_hours / FAST_HOURS).exp(),
    )
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
        let v = map.entry(sku.to_owned()).or_insert(Velocity::new(at));
        let (slow, fast) = v.decayed(at);
        v.slow = slow + units as f64;
        v.fast = fast + units as f64;
        v.at = v.at.max(at);
        Velocity::per_hour((v.slow, v.fast)) as f32
    }

    /// Add sales already decayed to `now` (summed [`decayed_sale`]s): the
    /// velocity rebuilt from the store after a restart. The decay is
    /// exponential, so a sale older than the SKU's last one adds the same
    /// as if it had been noted at its time.
    pub(crate) fn add_decayed_sales(&self, sku: &str, (slow, fast): (f64, f64), now: Instant) {
        let mut map = self.velocity.lock().unwrap_or_else(|e| e.into_inner());
        let v = map.entry(sku.to_owned()).or_insert(Velocity::new(now));
        if v.at > now {
            let hours = v.at.duration_since(now).as_secs_f64() / 3600.0;
            let (s, f) = decayed_sale(1, hours);
            v.slow += slow * s;
            v.fast += fast * f;
        } else {
            let (s, f) = v.decayed(now);
            v.slow = s + slow;
            v.fast = f + fast;
            v.at = now;
        }
    }

    pub(crate) fn velocity(&self, sku: &str, now: Instant) -> f32 {
        let map = self.velocity.lock().unwrap_or_else(|e| e.into_inner());
        map.get(sku)
            .map_or(0.0, |v| Velocity::per_hour(v.decayed(now)) as f32)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    /// An hour at 20 units an hour, then 20 minutes at three times that:
    /// the velocity that sizes `cover_minutes` must already show most of
    /// the peak, or the slow channels are offered the best sellers in full
    /// when they sell fastest.
    #[test]
    fn velocity_catches_up_with_a_peak_within_minutes() {
        let state = SyncState::default();
        let mut at = ManualClock::new(0).instant();
        // 20 an hour for two hours: a unit every 3 minutes.
        for _ in 0..40 {
            at += Duration::from_secs(180);
            state.note_sales("A", 1, at);
        }
        let before = state.velocity("A", at);
        assert!((17.0..=23.0).contains(&before), "steady: {before}");
        // Then 60 an hour: a unit a minute for 20 minutes.
        for _ in 0..20 {
            at += Duration::from_secs(60);
            state.note_sales("A", 1, at);
        }
        let peak = state.velocity("A", at);
        assert!(
            peak >= 45.0,
            "20 minutes into a peak of 60 units an hour the velocity is {peak}"
        );
        // A lull falls back to the hour-long memory, not to nothing.
        let later = state.velocity("A", at + Duration::from_secs(1800));
        assert!((15.0..peak).contains(&later), "{later} vs {peak}");
    }
}
