//! The hub's one source of time. Time is injected so a simulation can run a
//! day in a minute, and so tests can move time past a lease or a backoff
//! without sleeping. It lives in the model, below the connectors and the
//! engine, so that both take time from the same `Clock` (a pure trait: no
//! I/O beyond reading the time).

// The one module that reads the wall clock: `SystemClock` is what
// everything else is handed (crates that forbid wall-clock reads in their
// clippy.toml point here).
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// The same moment as a date-time, for the parts that stamp or compare
    /// dates (`as_of`, envelope dates, poll windows).
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }

    /// The same moment as a monotonic instant, for the parts that measure
    /// spans (breakers, rate limits, holds).
    fn instant(&self) -> Instant {
        Instant::now()
    }

    /// Whether time moves only when told to. Then nothing may wait on a
    /// timer for it: a wait is handed back to whoever moves the clock.
    fn is_manual(&self) -> bool {
        false
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }

    /// Full precision: what a direct `Utc::now()` gave before time was
    /// taken from here.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How far before its start a manual clock's instants can go.
const ORIGIN_HEADROOM: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
    /// The instant that stands for `origin_ms`; later readings are offset
    /// from it, so spans measured in instants are spans of manual time.
    origin: Instant,
    origin_ms: i64,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock {
            ms: Arc::new(AtomicI64::new(start_ms)),
            // Far enough ahead that a clock set back before its start still
            // maps to an instant (instants cannot go before the machine's boot).
            origin: Instant::now() + ORIGIN_HEADROOM,
            origin_ms: start_ms,
        }
    }

    pub fn advance(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }

    fn instant(&self) -> Instant {
        let offset = self.now_ms() - self.origin_ms;
        let span = Duration::from_millis(offset.unsigned_abs()).min(ORIGIN_HEADROOM);
        if offset >= 0 {
            self.origin + span
        } else {
            self.origin - span
        }
    }

    fn is_manual(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_instants_move_with_manual_time() {
        let clock = ManualClock::new(1_000_000);
        let before = clock.instant();
        clock.advance(90_000);
        assert_eq!(clock.instant() - before, Duration::from_secs(90));
        // Set back before its start: instants go back with it.
        clock.set(1_000_000 - 3_600_000);
        assert_eq!(before - clock.instant(), Duration::from_secs(3_600));
    }
}
