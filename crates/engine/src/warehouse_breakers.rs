//! One circuit breaker per warehouse: when a warehouse counts as down,
//! releases go elsewhere and routing skips it.
//!
//! Steps ask it through their context ([`crate::steps`]) and record how
//! each call went; it is its own small type so the breaker it wraps can be
//! changed without touching the steps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::governor::{Admission, Breaker, BreakerOptions, BreakerState};
use crate::telemetry;

/// The breakers of every warehouse, created on first use.
pub(crate) struct WarehouseBreakers {
    options: BreakerOptions,
    clock: Arc<dyn Clock>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

impl WarehouseBreakers {
    pub(crate) fn new(options: BreakerOptions, clock: Arc<dyn Clock>) -> Self {
        WarehouseBreakers {
            options,
            clock,
            breakers: Mutex::new(HashMap::new()),
        }
    }

    fn with_breaker<R>(&self, warehouse: &str, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        f(breakers
            .entry(warehouse.to_owned())
            .or_insert_with(|| Breaker::new(self.options.clone())))
    }

    /// Whether `warehouse`'s breaker is open now (a release there would not
    /// be sent). When its open period is over, the asking caller takes the
    /// half-open probe.
    pub(crate) fn down(&self, warehouse: &str) -> bool {
        self.with_breaker(warehouse, |b| match b.state() {
            BreakerState::Closed => false,
            _ => b.admit(self.clock.instant()).is_err(),
        })
    }

    /// Record how a call to `warehouse` went: `failed` when it got no answer.
    pub(crate) fn outcome(&self, warehouse: &str, failed: bool) {
        let changed = self.with_breaker(warehouse, |b| {
            let admission = if b.state() == BreakerState::HalfOpen {
                Admission::Probe
            } else {
                Admission::Normal
            };
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
