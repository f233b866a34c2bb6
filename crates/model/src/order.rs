//! The canonical order: what every channel's order maps into, with its
//! lines, parties and status. `OrderStatus` is the lifecycle's one list of
//! states; its order is the forward direction, so "never move backwards" is
//! a comparison.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};

/// Where an order is in its life. The discriminant order is the forward
/// direction of the workflow; `rank` makes "never move backwards" checkable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Received,
    Validated,
    Reserved,
    AcceptedByErp,
    ReleasedToWarehouse,
    PartiallyShipped,
    Shipped,
    ConfirmedToChannel,
    Invoiced,
    Closed,
    Cancelled,
    OnHold,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 12] = [
        OrderStatus::Received,
        OrderStatus::Validated,
        OrderStatus::Reserved,
        OrderStatus::AcceptedByErp,
        OrderStatus::ReleasedToWarehouse,
        OrderStatus::PartiallyShipped,
        OrderStatus::Shipped,
        OrderStatus::ConfirmedToChannel,
        OrderStatus::Invoiced,
        OrderStatus::Closed,
        OrderStatus::Cancelled,
        OrderStatus::OnHold,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Received => "received",
            OrderStatus::Validated => "validated",
            OrderStatus::Reserved => "reserved",
            OrderStatus::AcceptedByErp => "accepted_by_erp",
            OrderStatus::ReleasedToWarehouse => "released_to_warehouse",
            OrderStatus::PartiallyShipped => "partially_shipped",
            OrderStatus::Shipped => "shipped",
            OrderStatus::ConfirmedToChannel => "confirmed_to_channel",
            OrderStatus::Invoiced => "invoiced",
            OrderStatus::Closed => "closed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::OnHold => "on_hold",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Terminal states take no further workflow steps.
    pub fn is_terminal(&self) -> bool {
        matches!(self, OrderStatus::Closed | OrderStatus::Cancelled)
    }

    /// Whether moving from `self` to `next` is allowed. The workflow only
    /// moves forward; hold and cancel are side exits, and a held order may
    /// resume where it stopped.
    pub fn may_become(&self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        match (self, next) {
            (Closed | Cancelled, _) => false,
            (_, Cancelled) | (_, OnHold) => true,
            (OnHold, _) => true,
            (a, b) => b >= *a,
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the channel's acknowledgement of an order waits for the ERP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErpAcceptance {
    /// Acknowledge once the order is durably in the inbox; post to the ERP later.
    #[default]
    Async,
    /// Hold the acknowledgement until the ERP has accepted (or rejected) the order.
    Sync,
}

/// Who collects and remits sales tax for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxTreatment {
    #[default]
    MerchantCollected,
    MarketplaceFacilitator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

impl Address {
    /// The key orders to one address share: lower-case alphanumerics of
    /// line 1, postal code and country, so "1 Main St." and "1 main st"
    /// match. Empty when any of the three is.
    pub fn match_key(&self) -> String {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let parts = [
            norm(&self.line1),
            norm(&self.postal_code),
            norm(&self.country),
        ];
        if parts.iter().any(String::is_empty) {
            return String::new();
        }
        parts.join("|")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// The channel's id for the buyer, when it shares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub email: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// The channel's line id (string: marketplaces use large or opaque ids).
    pub line_id: String,
    pub sku: String,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Money,
    /// Discount on the whole line (not per unit).
    pub discount: Money,
    /// Tax on the whole line.
    pub tax: Money,
    /// Units already shipped, summed over every shipment of this line.
    #[serde(default)]
    pub shipped_quantity: u32,
    /// Units cancelled (by the buyer, the channel, or a short-ship policy).
    #[serde(default)]
    pub cancelled_quantity: u32,
}

impl OrderLine {
    /// Extended line amount: unit price × quantity − discount + tax.
    pub fn total(&self) -> Result<Money, MoneyError> {
        self.unit_price
            .checked_mul(self.quantity)?
            .checked_sub(self.discount)?
            .checked_add(self.tax)
    }

    /// Units still to ship.
    pub fn open_quantity(&self) -> u32 {
        self.quantity
            .saturating_sub(self.shipped_quantity)
            .saturating_sub(self.cancelled_quantity)
    }
}

/// A channel order in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Order {
    /// The hub's id (see `order_id_for`).
    pub id: String,
    /// Name of the channel connection the order came from.
    pub channel: String,
    /// The channel's order id, kept exactly as sent.
    pub external_id: String,
    /// Source version (sequence or `updated_at` in ms). A message with a lower
    /// version than the stored one is stale and never applied.
    pub source_version: i64,
    pub placed_at: DateTime<Utc>,
    pub currency: Currency,
    pub customer: Customer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub lines: Vec<OrderLine>,
    pub shipping: Money,
    /// Total as the channel stated it; validation checks it against the lines.
    pub total: Money,
    #[serde(default)]
    pub tax_treatment: TaxTreatment,
    /// Requested service level ("standard", "expedited", …).
    #[serde(default = "default_service_level")]
    pub service_level: String,
    pub status: OrderStatus,
    /// The ERP's document id once the sales order exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erp_ref: Option<String>,
    /// The channel's shipping method as it sent it ("Standard Shipping",
    /// "NextDay"), when it names one; enrichment rules may derive
    /// `service_level` from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_method: Option<String>,
    /// The customer's group ("vip", "wholesale"), set by enrichment rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_group: Option<String>,
    /// A gift order (no prices on the packing slip), set by enrichment rules.
    #[serde(default)]
    pub gift: bool,
    /// Higher goes first where priorities apply; set by enrichment rules.
    #[serde(default)]
    pub priority: i64,
    /// A hold placed by an order rule (fraud, manual review): the order
    /// keeps its reservation and goes no further than the ERP step until an
    /// operator releases it or the hold expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<OrderHold>,
}

/// Why and until when an order rule holds an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderHold {
    /// The hold rule's name.
    pub rule: String,
    pub reason: String,
    pub placed_at: DateTime<Utc>,
    /// When the hold lapses by itself; none = only an operator releases it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl OrderHold {
    /// Whether the hold still applies at `now`.
    pub fn applies_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| now < u)
    }
}

fn default_service_level() -> String {
    "standard".to_owned()
}

impl Order {
    /// Sum of line totals plus shipping.
    pub fn computed_total(&self) -> Result<Money, MoneyError> {
        self.lines
            .iter()
            .try_fold(self.shipping, |acc, l| acc.checked_add(l.total()?))
    }

    pub fn units_ordered(&self) -> u32 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    /// True when every unit is either shipped or cancelled.
    pub fn fully_resolved(&self) -> bool {
        self.lines.iter().all(|l| l.open_quantity() == 0)
    }

    pub fn any_shipped(&self) -> bool {
        self.lines.iter().any(|l| l.shipped_quantity > 0)
    }

    /// The customer's e-mail as history is matched on: trimmed, lower-case.
    pub fn customer_key(&self) -> String {
        self.customer.email.trim().to_lowercase()
    }

    /// [`Address::match_key`] of the shipping address; empty without one.
    pub fn ship_to_key(&self) -> String {
        self.shipping_address
            .as_ref()
            .map(Address::match_key)
            .unwrap_or_default()
    }

    pub fn line(&self, line_id: &str) -> Option<&OrderLine> {
        self.lines.iter().find(|l| l.line_id == line_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_moves_only_forward() {
        use OrderStatus::*;
        assert!(Received.may_become(Validated));
        assert!(Shipped.may_become(ConfirmedToChannel));
        assert!(!Shipped.may_become(ReleasedToWarehouse));
        assert!(Reserved.may_become(OnHold));
        assert!(OnHold.may_become(Reserved));
        assert!(!Closed.may_become(Cancelled));
        assert!(!Cancelled.may_become(Received));
    }

    #[test]
    fn status_names_round_trip() {
        for st in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(st.as_str()), Some(st));
            assert_eq!(serde_json::to_value(st).unwrap(), st.as_str());
        }
    }
}
