//! The [`Governor`] of one target, and [`Governor::call`], which passes a
//! call through its three gates in order: the endpoint's breaker, a slot
//! (`slots.rs`), the rate (`rate.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossdock_connectors::ConnectorError;
use serde::Serialize;

use super::options::{GovernorOptions, Priority};
use super::rate::Rate;
use super::slots::Slots;
use crate::breaker::{Admission, BreakerState, Breakers};
use crate::clock::{Clock, SystemClock};
use crate::telemetry;

/// Snapshot of a governor, for `/v1/stats` and the timeline.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GovernorStatus {
    pub account: String,
    pub waiting: usize,
    pub oldest_wait_ms: u64,
    pub breakers: Vec<(String, BreakerState)>,
}

/// The limits of one outbound target (an ERP account, a channel's API),
/// shared by every call to it.
pub struct Governor {
    account: String,
    clock: Arc<dyn Clock>,
    rate: Rate,
    slots: Arc<Slots>,
    /// One per endpoint, made when the endpoint is first called.
    breakers: Breakers<&'static str>,
}

impl Governor {
    pub fn new(account: impl Into<String>, options: &GovernorOptions) -> Result<Self, String> {
        Self::with_clock(account, options, Arc::new(SystemClock))
    }

    /// A governor whose limits run on `clock`. On a manual clock nothing
    /// sleeps: a call the rate limit has no room for fails as
    /// [`ConnectorError::Paced`] and its job comes back when there is room.
    pub fn with_clock(
        account: impl Into<String>,
        options: &GovernorOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        options.validate()?;
        Ok(Self::with_valid_options(account, options, clock))
    }

    /// [`Governor::with_clock`] for options already validated.
    pub(super) fn with_valid_options(
        account: impl Into<String>,
        options: &GovernorOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Governor {
            account: account.into(),
            rate: Rate::new(options, clock.clone()),
            slots: Arc::new(Slots::new(
                options.max_concurrency,
                options.aging_ms,
                clock.clone(),
            )),
            clock,
            breakers: Breakers::new(options.breaker.clone()),
        }
    }

    pub fn status(&self) -> GovernorStatus {
        let (waiting, oldest) = self.slots.waiting();
        let mut breakers: Vec<(String, BreakerState)> = self
            .breakers
            .states()
            .into_iter()
            .map(|(k, state)| (k.to_owned(), state))
            .collect();
        breakers.sort_by(|a, b| a.0.cmp(&b.0));
        GovernorStatus {
            account: self.account.clone(),
            waiting,
            oldest_wait_ms: u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
            breakers,
        }
    }

    fn admit(&self, endpoint: &'static str) -> Result<Admission, ConnectorError> {
        let admitted = self.breakers.with(endpoint, |breaker| {
            let before = breaker.state();
            let admitted = breaker.admit(self.clock.instant());
            if breaker.state() != before {
                telemetry::breaker_state(&self.account, endpoint, breaker.state().gauge());
            }
            admitted
        });
        admitted.map_err(|retry_after| ConnectorError::CircuitOpen {
            endpoint: format!("{}:{endpoint}", self.account),
            retry_after,
        })
    }

    fn record(&self, endpoint: &'static str, admission: Admission, failed: bool) {
        self.breakers.existing(endpoint, |breaker| {
            if let Some(state) = breaker.record(admission, failed, self.clock.instant()) {
                tracing::warn!(account = %self.account, endpoint, ?state, "ERP circuit breaker changed state.");
                telemetry::breaker_state(&self.account, endpoint, state.gauge());
            }
        });
    }

    /// Run `call` through the breaker, a slot and the rate limit.
    ///
    /// When an open breaker's time is up, `probe` (a harmless read) goes
    /// first: only if the target answers it is `call` sent. A failed probe
    /// reopens the breaker and this call fails as `CircuitOpen`: it was
    /// never sent, so the job waits without spending an attempt, and no
    /// job's effect is ever the guinea pig for a sick target.
    // `Instant::now` here times the call for the duration metric only; the
    // gates themselves run on the injected clock.
    #[allow(clippy::disallowed_methods)]
    pub async fn call<T, F, Fut, P, PFut>(
        &self,
        endpoint: &'static str,
        priority: Priority,
        probe: P,
        call: F,
    ) -> Result<T, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
        P: FnOnce() -> PFut,
        PFut: Future<Output = Result<(), ConnectorError>>,
    {
        // Fail fast while open: no slot, no rate token spent on a call
        // that would not be sent.
        self.admit_peek(endpoint)?;
        let _slot = self.slots.acquire(priority, &self.account).await;
        let admission = self.admit(endpoint)?;
        self.rate.pace(&self.account, endpoint).await?;
        if admission == Admission::Probe {
            let started = Instant::now();
            let probed = probe().await;
            let outcome = self.outcome(&probed);
            self.record(endpoint, Admission::Probe, outcome == "failed");
            telemetry::erp_call(&self.account, "probe", outcome, started.elapsed());
            if outcome == "failed" {
                return Err(self.open_error(endpoint));
            }
            self.rate.pace(&self.account, endpoint).await?;
        }
        let started = Instant::now();
        let result = call().await;
        let outcome = self.outcome(&result);
        self.record(endpoint, Admission::Normal, outcome == "failed");
        telemetry::erp_call(&self.account, endpoint, outcome, started.elapsed());
        result
    }

    /// Classify a result for the breaker and the metrics; a 429 also holds
    /// every call of the account for as long as the target asked.
    fn outcome<T>(&self, result: &Result<T, ConnectorError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            // Only a failure to answer says the target is unwell; a
            // refusal is an answer.
            Err(ConnectorError::Transient { .. } | ConnectorError::Unreachable { .. }) => "failed",
            Err(ConnectorError::Throttled { retry_after, .. }) => {
                self.rate.hold(*retry_after);
                "throttled"
            }
            Err(ConnectorError::CircuitOpen { .. }) => "circuit_open",
            Err(ConnectorError::Paced { .. }) => "paced",
            Err(ConnectorError::Rejected { .. } | ConnectorError::Unauthorized { .. }) => "refused",
        }
    }

    fn open_error(&self, endpoint: &'static str) -> ConnectorError {
        let retry_after = self
            .breakers
            .existing(endpoint, |b| b.open_until())
            .flatten()
            .map(|until| until.saturating_duration_since(self.clock.instant()))
            .unwrap_or(Duration::from_millis(self.breakers.options().open_ms));
        ConnectorError::CircuitOpen {
            endpoint: format!("{}:{endpoint}", self.account),
            retry_after,
        }
    }

    /// Like `admit`, without taking the probe: a call that will queue for
    /// a slot should not hold the half-open probe while it waits.
    fn admit_peek(&self, endpoint: &'static str) -> Result<(), ConnectorError> {
        let remaining = self
            .breakers
            .existing(endpoint, |b| b.open_remaining(self.clock.instant()))
            .flatten();
        match remaining {
            Some(retry_after) => Err(ConnectorError::CircuitOpen {
                endpoint: format!("{}:{endpoint}", self.account),
                retry_after,
            }),
            None => Ok(()),
        }
    }
}
