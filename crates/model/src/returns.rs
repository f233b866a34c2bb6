//! Returns and refunds in the canonical shape: goods coming back
//! (`Return`) and money going back (`Refund`), each tied to the order's
//! lines.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::Money;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReturnLine {
    pub line_id: String,
    pub sku: String,
    pub quantity: u32,
    pub reason: String,
}

/// Goods coming back from a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Return {
    pub id: String,
    pub order_id: String,
    pub channel: String,
    pub external_id: String,
    pub lines: Vec<ReturnLine>,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
}

/// Money going back to a customer, with or without a return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Refund {
    pub id: String,
    pub order_id: String,
    pub channel: String,
    pub external_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_id: Option<String>,
    pub amount: Money,
    pub reason: String,
    pub refunded_at: DateTime<Utc>,
    /// The order lines the refund itemises, when the channel itemises them.
    /// Their sum need not equal `amount`: a channel may refund more (or less)
    /// than the goods, e.g. shipping, a goodwill adjustment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RefundLine>,
    /// Shipping refunded with it, when the channel states it separately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Money>,
}

/// One order line's part of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefundLine {
    /// The channel's id of the order line refunded (`OrderLine::line_id`).
    pub line_id: String,
    #[serde(default)]
    pub sku: String,
    pub quantity: u32,
    /// The line's refunded amount before tax; absent when the channel does
    /// not state it (older Shopify API versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<Money>,
    /// Whether the units go back into stock.
    #[serde(default)]
    pub restock: bool,
}
