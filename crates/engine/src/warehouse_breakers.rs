//! One circuit breaker per warehouse: when a warehouse counts as down,
//! releases go elsewhere and routing skips it.
//!
//! Steps ask it through their context ([`crate::steps`]) and record how
//! each call went; it is its own small type so the breaker it wraps can be
//! changed without touching the steps.

use std::sync::Arc;

use crate::breaker::{BreakerOptions, BreakerState, Breakers};
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

    /// Whether `warehouse`'s breaker is open now (a release there would not
    /// be sent). When its open period is over, the asking caller takes the
    /// half-open probe.
    pub(crate) fn down(&self, warehouse: &str) -> bool {
        self.breakers
            .with(warehouse.to_owned(), |b| match b.state() {
                BreakerState::Closed => false,
                _ => b.admit(self.clock.instant()).is_err(),
            })
    }

    /// Record how a call to `warehouse` went: `failed` when it got no answer.
    pub(crate) fn outcome(&self, warehouse: &str, failed: bool) {
        // The release that reports was admitted elsewhere (routing asked
        // `down`), so the state says whether it was the probe.
        let changed = self.breakers.with(warehouse.to_owned(), |b| {
            b.record(b.admission_now(), failed, self.clock.instant())
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
