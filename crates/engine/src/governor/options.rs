//! What a governor is told: the priority classes of calls, and the limits
//! of one target.

use serde::{Deserialize, Serialize};

use crate::breaker::BreakerOptions;

/// Priority classes of outbound work, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Sales orders, customers, cancellations: a customer is waiting.
    Acceptance,
    /// Shipment completion and invoices.
    Update,
    /// Availability reads.
    StockRead,
    /// Reconciliation and other bulk work.
    Bulk,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Acceptance,
        Priority::Update,
        Priority::StockRead,
        Priority::Bulk,
    ];

    pub(super) fn rank(self) -> u64 {
        match self {
            Priority::Acceptance => 0,
            Priority::Update => 1,
            Priority::StockRead => 2,
            Priority::Bulk => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Acceptance => "acceptance",
            Priority::Update => "update",
            Priority::StockRead => "stock_read",
            Priority::Bulk => "bulk",
        }
    }
}

/// Limits of one target (an ERP account, a channel's API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernorOptions {
    /// Calls per second at most (fractions allowed: 0.5 = one call every
    /// two seconds); 0 = no rate limit.
    pub requests_per_sec: f64,
    /// Calls that may go back to back after an idle spell. 1 spaces every
    /// call evenly, which is what a limit counted over a sliding second needs.
    pub burst: u32,
    /// Percent of the rate left unused, so that calls bunched up on their
    /// way (timer and network jitter) still arrive within the target's limit.
    pub headroom_pct: u32,
    /// Calls in flight at most.
    pub max_concurrency: usize,
    /// How long a waiting call takes to climb one priority class.
    pub aging_ms: u64,
    pub breaker: BreakerOptions,
}

impl Default for GovernorOptions {
    fn default() -> Self {
        GovernorOptions {
            requests_per_sec: 0.0,
            burst: 1,
            headroom_pct: 2,
            max_concurrency: 8,
            aging_ms: 5_000,
            breaker: BreakerOptions::default(),
        }
    }
}

impl GovernorOptions {
    pub fn validate(&self) -> Result<(), String> {
        let b = &self.breaker;
        let checks = [
            (
                !(self.requests_per_sec >= 0.0 && self.requests_per_sec.is_finite()),
                "requests_per_sec must be a number of at least 0",
            ),
            (self.burst == 0, "burst must be at least 1"),
            (self.headroom_pct >= 100, "headroom_pct must be below 100"),
            (
                self.max_concurrency == 0,
                "max_concurrency must be at least 1",
            ),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, msg)) => Err((*msg).to_owned()),
            None => b.validate("breaker."),
        }
    }
}
