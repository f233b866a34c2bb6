//! Marketplace settlements: one line per amount a payout report lists
//! (principal, tax, fees, refunds, reserves), in exact money.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementLineKind {
    Principal,
    Tax,
    Shipping,
    Fee,
    Refund,
    Adjustment,
    Reserve,
    Other,
}

/// One line of a marketplace settlement report or payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementLine {
    pub settlement_id: String,
    pub channel: String,
    pub kind: SettlementLineKind,
    /// The channel order the line belongs to, when it belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// The report's own description of the amount ("Commission", "FBAPerUnitFulfillmentFee", …).
    pub description: String,
    pub amount: Money,
    pub posted_at: DateTime<Utc>,
}
