//! The external systems the engine works with, and the per-channel
//! policies that say how the hub treats their orders.
//!
//! A leaf: the engine, the steps and the runner all read these, and this
//! module reads none of them. The availability plan is the one thing it
//! takes from elsewhere (a plain configuration value).

use std::collections::HashMap;
use std::sync::Arc;

use crossdock_connectors::{Channel, Erp, Warehouse};
use crossdock_model::{Authority, ErpAcceptance};
use serde::Serialize;

use crate::availability::AvailabilityPlan;
use crate::governor::{ChannelPacing, Governor};
use crate::routing::Router;

/// A channel connection: the connector plus how the hub treats its orders.
#[derive(Clone)]
pub struct ChannelConnection {
    pub connector: Arc<dyn Channel>,
    pub acceptance: ErpAcceptance,
    /// Reconciliation polling for this channel.
    pub poll: bool,
    /// What happens to units a warehouse says it will not ship.
    pub short_ship: ShortShipPolicy,
    /// Whether an order may ship from several warehouses.
    pub split: SplitPolicy,
    /// The hub's own pacing of calls to this channel; `None` = calls go
    /// straight to the connector. Applied by `Engine::new`.
    pub pacing: Option<ChannelPacing>,
}

/// Whether a channel's orders may be split across warehouses when no single
/// one can serve every line, and into how many shipments at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitPolicy {
    pub allowed: bool,
    /// Warehouses (so fulfilment requests, and at least as many shipments)
    /// an order may be split into.
    pub max_shipments: u32,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        SplitPolicy {
            allowed: false,
            max_shipments: 2,
        }
    }
}

/// What the hub does with the units of a short shipment (the warehouse's
/// final word on a request left some open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShortShipPolicy {
    /// Send them from another warehouse that has them; cancel them if none has.
    #[default]
    Reroute,
    /// Cancel them.
    Cancel,
}

/// A part of the configuration a running hub replaces on reload (SIGHUP):
/// every clone of the [`Connections`] sees the new value at once. A step
/// takes one snapshot (`load_full`, one atomic increment, no lock), so a
/// step decides under one version from its start to its end.
pub type Live<T> = Arc<arc_swap::ArcSwap<T>>;

/// `value` as a [`Live`] part.
pub fn live<T>(value: T) -> Live<T> {
    Arc::new(arc_swap::ArcSwap::from_pointee(value))
}

/// The external systems the engine works with.
#[derive(Clone)]
pub struct Connections {
    pub channels: HashMap<String, ChannelConnection>,
    pub erp: Arc<dyn Erp>,
    /// The governor `erp` is behind, when it is (its state is reported).
    pub erp_governor: Option<Arc<Governor>>,
    /// Candidates for routing; configuration order breaks ties.
    pub warehouses: Vec<Arc<dyn Warehouse>>,
    /// Fulfilment routing rules over the order and its candidate warehouses.
    pub router: Live<Router>,
    /// Order rules (validation, enrichment, holds, tax treatment) the
    /// validate step applies.
    pub rules: Live<crate::rules::Rules>,
    /// Availability policies and sync options; `None` = no availability sync.
    pub availability: Option<AvailabilityPlan>,
    /// The system of record for each kind of data (`[authority]`, made
    /// effective): asked before a report from another system is applied.
    pub authority: Arc<Authority>,
}
