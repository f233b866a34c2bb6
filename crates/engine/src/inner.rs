//! The state one engine shares between its front door ([`crate::Engine`])
//! and its job runner ([`crate::runner`]).
//!
//! A leaf: both sides read it, it reads neither. Steps never see it; they
//! get a [`crate::steps::context::StepCx`] cut from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crossdock_store::Store;
use rand::rngs::SmallRng;
use serde::Serialize;
use tokio::sync::{Notify, oneshot};

use crate::availability::AvailabilitySync;
use crate::clock::Clock;
use crate::connections::Connections;
use crate::ingest::{Completer, Ingestor};
use crate::options::EngineOptions;
use crate::warehouse_breakers::WarehouseBreakers;

/// What a sync-acceptance webhook learns about its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AcceptanceOutcome {
    Accepted { erp_ref: String },
    Refused { reason: String },
}

pub(crate) struct Inner {
    pub store: Store,
    pub connections: Connections,
    pub clock: Arc<dyn Clock>,
    pub options: EngineOptions,
    /// Jitter of retry delays (seeded: a rehearsal replays them).
    pub rng: Mutex<SmallRng>,
    /// Wakes the dispatcher when new work was committed in this process.
    pub work_ready: Arc<Notify>,
    pub ingestor: Ingestor,
    /// Group-commits finished steps.
    pub completer: Completer,
    /// This process's name on the job leases it holds.
    pub owner: String,
    /// Sync-acceptance webhooks waiting for their order's ERP answer.
    pub waiters: Mutex<HashMap<String, Vec<oneshot::Sender<AcceptanceOutcome>>>>,
    /// Per warehouse: when it counts as down, releases go elsewhere.
    pub warehouses: WarehouseBreakers,
    /// The availability sync (its loops run on their own; callers reach
    /// it through its handle).
    pub availability: AvailabilitySync,
}

impl Inner {
    /// Answer every webhook waiting on `order_id`.
    pub(crate) fn notify_waiters(&self, order_id: &str, outcome: AcceptanceOutcome) {
        let waiting = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(order_id);
        for tx in waiting.into_iter().flatten() {
            let _ = tx.send(outcome.clone());
        }
    }
}
