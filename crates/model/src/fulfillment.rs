//! What the hub asks a warehouse to ship (`FulfillmentRequest`) and what
//! the warehouse reports it shipped (`Shipment`). Lines are matched by the
//! order's `line_id`, so a partial shipment names exactly what left.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::order::Address;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FulfillmentLine {
    pub line_id: String,
    pub sku: String,
    pub quantity: u32,
}

/// What the hub asks a warehouse or 3PL to ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FulfillmentRequest {
    /// The hub's id for the request; the warehouse echoes it on shipments and
    /// it is the key for asking "do you already hold this request?".
    pub id: String,
    pub order_id: String,
    pub channel: String,
    pub channel_order_id: String,
    pub warehouse: String,
    pub service_level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<Address>,
    pub lines: Vec<FulfillmentLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tracking {
    pub carrier: String,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShipmentLine {
    pub line_id: String,
    pub sku: String,
    pub quantity: u32,
}

/// Units that left a warehouse, reported by the warehouse. One fulfilment
/// request may produce several shipments (partial shipments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Shipment {
    /// The hub's id, derived from the warehouse and its shipment id.
    pub id: String,
    pub order_id: String,
    pub warehouse: String,
    /// The warehouse's id for the shipment.
    pub external_id: String,
    pub fulfillment_request_id: String,
    pub lines: Vec<ShipmentLine>,
    pub tracking: Tracking,
    pub shipped_at: DateTime<Utc>,
    /// The warehouse's last word on its request: units of it still open
    /// after this shipment will not ship from there (a 945's W12-03 below
    /// W12-02). The hub then re-routes or cancels them per channel policy.
    #[serde(default)]
    pub completes_request: bool,
}
