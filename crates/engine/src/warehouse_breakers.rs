//! One circuit breaker per warehouse: when a warehouse counts as down,
//! releases go elsewhere and routing skips it.
//!
//! Steps ask it through their context ([`crate::steps`]) and record how
//! each call went; it is its own small type so the breaker it wraps can be
//! changed without touching the steps.

use std::sync::Arc;

use crate::breaker::{Admission, BreakerOptions, Breakers};
use crate::clock::Clock;
use crate::telemetry;

/// The breakers of every warehouse, created on first use.
pub(crate) struct WarehouseBreakers {
    clock: Arc<dyn Clock>,
    breakers: Breakers<String>,
}

impl WarehouseBreakers {
    pub(crate) fn new(options: BreakerOptions, clock: Arc<dyn Clock>) -> Self {
        WarehouseBreakers {
            clock,
            breakers: Breakers::new(options),
        }
    }

    /// Whether `warehouse` counts as down now: a release there would not be
    /// sent. Asks only, for routing and for choosing where an order may
    /// move: when the open period is over the answer is "up", and the
    /// half-open probe is left to the release that goes there.
    pub(crate) fn down(&self, warehouse: &str) -> bool {
        let now = self.clock.instant();
        self.breakers
            .existing(warehouse, |b| !b.admits(now))
            .unwrap_or(false)
    }

    /// Let a release to `warehouse` go now (the probe, when the breaker is
    /// half open), or `None` while it is down. The release reports how it
    /// went with [`WarehouseBreakers::outcome`] and this admission.
    pub(crate) fn admit(&self, warehouse: &str) -> Option<Admission> {
        let now = self.clock.instant();
        self.breakers
            .with(warehouse.to_owned(), |b| b.admit(now).ok())
    }

    /// Record how a release to `warehouse`, let go as `admission`, went:
    /// `failed` when it got no answer.
    pub(crate) fn outcome(&self, warehouse: &str, admission: Admission, failed: bool) {
        let changed = self.breakers.with(warehouse.to_owned(), |b| {
            b.record(admission, failed, self.clock.instant())
        });
        if let Some(state) = changed {
            tracing::warn!(
                warehouse,
                ?state,
                "Warehouse circuit breaker changed state."
            );
            telemetry::breaker_state(warehouse, "warehouse.release", state.gauge());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn opened() -> (WarehouseBreakers, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(0));
        let options = BreakerOptions::default();
        let breakers = WarehouseBreakers::new(options.clone(), clock.clone());
        for _ in 0..options.min_calls {
            breakers.outcome("east", Admission::Normal, true);
        }
        assert!(breakers.down("east"), "open");
        clock.advance(options.open_ms as i64);
        (breakers, clock)
    }

    #[test]
    fn a_routing_question_leaves_the_half_open_probe_to_the_release() {
        let (breakers, _clock) = opened();
        // Routing asks about every warehouse for every order it ranks.
        assert!(!breakers.down("east"), "its open period is over");
        assert!(
            !breakers.down("east"),
            "asking again: the first question took nothing"
        );
        // The release takes the probe; while it is out, east is down.
        assert_eq!(breakers.admit("east"), Some(Admission::Probe));
        assert!(breakers.down("east"), "the probe is out");
        assert_eq!(breakers.admit("east"), None, "one probe at a time");
        breakers.outcome("east", Admission::Probe, false);
        assert!(!breakers.down("east"), "the probe's success closed it");
        assert_eq!(breakers.admit("east"), Some(Admission::Normal));
    }

    #[test]
    fn a_warehouse_never_asked_about_is_up_and_gets_no_breaker() {
        let clock = Arc::new(ManualClock::new(0));
        let breakers = WarehouseBreakers::new(BreakerOptions::default(), clock);
        assert!(!breakers.down("west"));
        assert!(breakers.breakers.states().is_empty());
    }
}
