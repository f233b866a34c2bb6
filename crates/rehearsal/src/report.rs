//! What a rehearsal reports. Everything here is a function of the scenario
//! and the seed: no wall-clock figure goes into `report.json`, so two runs
//! with the same seed write the same bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Latency distribution of one flow (milliseconds of virtual time).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50_ms: i64,
    pub p95_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
}

/// One point of a time series: `at_ms` is the offset from the scenario's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: i64,
    pub value: f64,
}

/// The rehearsal's findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    /// Virtual start of the day (RFC 3339).
    pub start: String,
    /// Length of the simulated day; orders are placed only within it.
    pub duration_ms: i64,
    /// Virtual time the run went on after the day so work in flight could
    /// finish (bounded by the scenario's drain limit).
    pub drained_ms: i64,
    pub totals: Totals,
    pub invariants: Invariants,
    pub channels: Vec<ChannelReport>,
    pub erp: ErpReport,
    pub warehouses: Vec<WarehouseReport>,
    /// Open exceptions at the end, by class (`validation`, `transient`, …).
    pub exceptions: BTreeMap<String, u64>,
    pub sla: Vec<SlaRow>,
    /// Orders placed per hour, per channel (`value` = orders in that hour).
    pub orders_per_hour: BTreeMap<String, Vec<Sample>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub orders_placed: u64,
    pub orders_ingested: u64,
    pub orders_shipped: u64,
    pub orders_cancelled: u64,
    /// Ingested orders neither shipped nor cancelled when the run ended.
    pub orders_open_at_end: u64,
    /// Hub jobs still waiting when the run ended (0 when it drained).
    pub jobs_open_at_end: u64,
    pub units_shipped: u64,
    pub buyer_cancellations: u64,
    pub webhooks_delivered: u64,
    pub polls: u64,
    pub availability_updates: u64,
}

/// The product's promises. All must be zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invariants {
    /// Units sold on a channel that no warehouse had to ship.
    pub oversold_units: u64,
    pub oversold_orders: u64,
    pub duplicates: Duplicates,
    /// Orders placed on a channel the hub never took in.
    pub lost_orders: u64,
    /// Each oversold line and why it happened, in the order found.
    pub oversold: Vec<OversoldLine>,
}

/// One oversold line: units a channel sold that could not be shipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OversoldLine {
    pub order_id: String,
    /// `short_at_pick`: released to a warehouse whose floor did not hold
    /// the units; `no_stock_at_reservation`: the channel took the order
    /// and no location had the units free when the hub reserved.
    pub cause: String,
    pub sku: String,
    /// The warehouse that came up short (`None`: none was found).
    pub location: Option<String>,
    pub units: u64,
    /// Offset from the scenario's start.
    pub at_ms: i64,
    /// What the estate saw then, for the analysis: the floor, the ERP's
    /// late view of it, units released there and not yet picked, units
    /// the floor shipped within the ERP's lag.
    pub detail: String,
}

/// Effects applied more than once, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Duplicates {
    pub sales_orders: u64,
    pub invoices: u64,
    pub shipment_requests: u64,
    pub ship_confirmations: u64,
}

impl Duplicates {
    pub fn total(&self) -> u64 {
        self.sales_orders + self.invoices + self.shipment_requests + self.ship_confirmations
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelReport {
    pub name: String,
    /// `webhook` or `poll`.
    pub ingest: String,
    pub orders_placed: u64,
    pub orders_ingested: u64,
    /// Placed on the channel → committed by the hub.
    pub ingest_latency: Quantiles,
    /// Committed by the hub → sales order accepted by the ERP.
    pub erp_acceptance: Quantiles,
    /// Shipped by the warehouse → confirmed to the channel.
    pub ship_confirm: Quantiles,
    /// The hub learnt of a stock change → the channel shows it.
    pub inventory_sync: Quantiles,
    pub webhooks_duplicated: u64,
    pub webhooks_reordered: u64,
    pub webhooks_lost: u64,
    pub availability_updates: u64,
    /// Calls the channel refused for its rate limit.
    pub throttled: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErpReport {
    pub requests_per_sec: f64,
    pub max_concurrency: u32,
    pub calls: u64,
    /// Calls answered, by operation (`sales_order.create`, `invoice.post`, …).
    pub calls_by_operation: BTreeMap<String, u64>,
    /// Calls the ERP refused for its rate or concurrency limit (429).
    pub throttled: u64,
    /// Calls that found the ERP down.
    pub failed_in_outage: u64,
    pub peak_backlog: u64,
    pub peak_backlog_at_ms: i64,
    /// From the backlog's peak until it was empty again; `None` when it
    /// never emptied before the run ended.
    pub drain_time_ms: Option<i64>,
    /// Calls per second over the limit, in percent: mean over the day and
    /// the busiest sample interval.
    pub utilisation_mean_pct: f64,
    pub utilisation_peak_pct: f64,
    /// ERP steps (acceptance, invoices, cancellations) waiting, sampled.
    pub backlog: Vec<Sample>,
    /// Utilisation per sample interval, in percent of the limit.
    pub utilisation: Vec<Sample>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WarehouseReport {
    pub name: String,
    /// `wms` (confirms each shipment) or `3pl` (confirms in batches).
    pub kind: String,
    pub releases: u64,
    pub shipments: u64,
    pub units_shipped: u64,
    pub short_shipped_units: u64,
    pub refused_in_outage: u64,
    /// Released by the hub → shipped by the warehouse.
    pub release_to_ship: Quantiles,
    /// Shipped by the warehouse → confirmed to the channel.
    pub ship_confirm: Quantiles,
}

/// SLA breaches of one flow in one scope (a channel or a warehouse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaRow {
    /// `order_ingest`, `erp_acceptance`, `ship_confirm`, `inventory_sync`.
    pub flow: String,
    /// `channel` or `warehouse`.
    pub scope: String,
    pub name: String,
    pub target_ms: i64,
    pub samples: u64,
    pub breaches: u64,
}
