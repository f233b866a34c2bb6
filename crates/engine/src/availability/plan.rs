//! `[inventory]` options and the validated plan the availability sync runs
//! on. A leaf: the engine's connections carry the plan.

use std::collections::BTreeMap;

use crossdock_availability::{AvailabilityConfig, Policies};
use serde::{Deserialize, Serialize};

/// `[inventory]`: how often availability moves (whose stock applies is
/// `[authority].stock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventoryOptions {
    /// Deprecated: location → source, read into `[authority].stock` (the
    /// system-of-record registry, `crossdock_model::Authority`) by the
    /// configuration's check with a deprecation warning, and emptied there;
    /// the sync never reads it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub authority: BTreeMap<String, String>,
    /// How often the long tail (batch cadence) is pushed to each channel.
    pub batch_interval_ms: u64,
    /// How often every SKU is recomputed (besides at start); 0 = only at start.
    pub full_recompute_interval_ms: u64,
    /// How often ERP stock is read again; 0 = only when the hub has none.
    pub erp_refresh_interval_ms: u64,
    /// First delay after a failed push; doubles per attempt up to 5 minutes.
    pub retry_ms: u64,
}

impl Default for InventoryOptions {
    fn default() -> Self {
        InventoryOptions {
            authority: BTreeMap::new(),
            batch_interval_ms: 30_000,
            full_recompute_interval_ms: 600_000,
            erp_refresh_interval_ms: 0,
            retry_ms: 2_000,
        }
    }
}

/// What the availability sync runs on: validated policies and options.
#[derive(Debug, Clone)]
pub struct AvailabilityPlan {
    pub policies: Policies,
    pub options: InventoryOptions,
}

impl AvailabilityPlan {
    pub fn new(config: AvailabilityConfig, options: InventoryOptions) -> Result<Self, String> {
        if options.batch_interval_ms == 0 {
            return Err("inventory.batch_interval_ms: must be at least 1".into());
        }
        if options.retry_ms == 0 {
            return Err("inventory.retry_ms: must be at least 1".into());
        }
        let policies = Policies::new(config).map_err(|e| format!("availability.{e}"))?;
        Ok(AvailabilityPlan { policies, options })
    }
}
