use serde::{Deserialize, Serialize};

use crate::breaker::BreakerOptions;

/// Tuning of the job runner and the ingest path. Defaults suit the embedded
/// store on a small machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineOptions {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// Jobs claimed per store round trip.
    pub claim_batch: usize,
    /// How long a claimed job is held before another worker may take it.
    /// A running step renews it every third of this, so it bounds how long
    /// the work of a hub that died stays frozen (a restarted hub with the
    /// same `hub_id` takes its own back at once).
    pub lease_ms: i64,
    /// Attempts before a step goes to the exception queue.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt, with jitter.
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// Idle poll of the job table (new work in this process wakes it at once).
    pub poll_interval_ms: u64,
    /// Inbound messages committed per transaction at most (group commit).
    pub ingest_batch: usize,
    /// How long a sync-acceptance webhook waits for the ERP before answering 202.
    pub sync_acceptance_timeout_ms: u64,
    /// Reconciliation poll period per channel; 0 turns polling off.
    pub reconcile_interval_ms: u64,
    /// How far back each poll reaches before the last cursor, so an order
    /// updated while the previous poll ran is not missed.
    pub reconcile_overlap_ms: i64,
    /// Settlement fetch period per channel (each fetch imports the
    /// settlements the channel issued since the last, less the overlap);
    /// 0 turns fetching off.
    pub settlement_poll_ms: u64,
    /// Seed of the jitter source, for reproducible simulations.
    pub seed: u64,
    /// When a warehouse counts as down: releases then go to the next
    /// warehouse that can serve the order.
    pub warehouse_breaker: BreakerOptions,
    /// This hub's name on the job leases it holds. It stays the same across
    /// restarts, so a restarted hub takes back at once the steps its killed
    /// run held. Several hubs on one store need different names. Unset: a
    /// name of its own per run (`serve` sets host name and listen address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub_id: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            concurrency: 64,
            claim_batch: 32,
            lease_ms: 10_000,
            max_attempts: 8,
            backoff_base_ms: 250,
            backoff_max_ms: 60_000,
            poll_interval_ms: 200,
            ingest_batch: 512,
            sync_acceptance_timeout_ms: 10_000,
            reconcile_interval_ms: 30_000,
            reconcile_overlap_ms: 120_000,
            settlement_poll_ms: 3_600_000,
            seed: 0,
            warehouse_breaker: BreakerOptions::default(),
            hub_id: None,
        }
    }
}

impl EngineOptions {
    /// Reject settings that would make the engine misbehave.
    pub fn validate(&self) -> Result<(), String> {
        let checks = [
            (self.concurrency == 0, "concurrency must be at least 1"),
            (self.claim_batch == 0, "claim_batch must be at least 1"),
            (self.lease_ms < 1_000, "lease_ms must be at least 1000"),
            (self.max_attempts < 1, "max_attempts must be at least 1"),
            (
                self.backoff_base_ms < 1,
                "backoff_base_ms must be at least 1",
            ),
            (
                self.backoff_max_ms < self.backoff_base_ms,
                "backoff_max_ms must be >= backoff_base_ms",
            ),
            (self.ingest_batch == 0, "ingest_batch must be at least 1"),
            (
                self.reconcile_overlap_ms < 0,
                "reconcile_overlap_ms must not be negative",
            ),
        ];
        if let Some(id) = &self.hub_id
            && (id.is_empty() || id.contains(['/', '#']))
        {
            return Err(format!(
                "hub_id {id:?} must be non-empty and contain neither '/' nor '#' (they separate the hub, its run and its claims on a lease)"
            ));
        }
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, msg)) => Err((*msg).to_owned()),
            None => self.warehouse_breaker.validate("warehouse_breaker."),
        }
    }
}
