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
}
