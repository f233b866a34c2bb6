//! Stock as the authoritative source reported it (`InventoryPosition`) and
//! the hub's own holds against it (`Reservation`). What each channel is
//! shown is computed from these by `crossdock-availability`, not stored here.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Stock of one SKU at one location, as the authoritative source reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryPosition {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    /// Units held by open reservations (maintained by the hub, not the source).
    #[serde(default)]
    pub reserved: i64,
    /// Which system reported `on_hand` ("erp", a warehouse name, …).
    pub source: String,
    pub as_of: DateTime<Utc>,
}

impl InventoryPosition {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Held,
    Released,
    Consumed,
}

/// Units of one order line held against stock so no other order can take them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reservation {
    pub order_id: String,
    pub line_id: String,
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub state: ReservationState,
}
