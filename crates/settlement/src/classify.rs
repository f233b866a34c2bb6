//! The settlement taxonomy: every row of every format gets one `Category`,
//! and a `Role` that says how reconciliation matches and posts it. Keys
//! the taxonomy does not list are kept as `other`, unmapped, and become
//! residuals (`unmapped_type`); nothing is guessed from a partial match.
//!
//! Amazon, on (transaction-type, amount-type, amount-description):
//! - `reserve`: description `Previous Reserve Amount Balance` (released) or
//!   `Current Reserve Amount` (held), whatever the transaction type;
//! - `refunds`: transaction type `Refund`, all its rows (fee refunds too);
//! - on `Order` rows: `ItemPrice/Principal` → `principal`,
//!   `ItemPrice/Shipping` → `shipping`, `ItemPrice/{Tax,ShippingTax,GiftWrapTax}`
//!   and `ItemWithheldTax/*` → `tax`, `ItemFees/*` → `fees`, `Promotion/*`
//!   → `promotions`, `ItemPrice/GiftWrap` → `other`;
//! - the account-level keys in `AMAZON_KNOWN_OTHER` (subscription, storage,
//!   inbound transport, labels, reimbursements, advertising, FBA fees,
//!   retrocharges) → `other`, itemised by key; any other key → `other`,
//!   unmapped.
//!
//! Shopify, on the balance transaction's `type`: `charge` → `charges`,
//! `refund` → `refunds`, `dispute` → `disputes`, `adjustment` →
//! `adjustments`, `reserve` → `reserve`, `credit`/`debit` → `other`; each
//! transaction's fee → `fees`. Walmart, on (`Transaction Type`,
//! `Amount Type`): `Sale` rows split into `principal`, `shipping`, `tax`,
//! `fees` by the amount types in `walmart`; `Refund` → `refunds`,
//! `Adjustment` → `adjustments`, `Dispute Settlement` → `disputes`,
//! `Reserve`/`Release Reserve` → `reserve`.

use crossdock_model::{Category, SettlementFormat};

/// How a row is matched and posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Money the buyer paid or got back for an order (price, shipping,
    /// promotion, refund, dispute): settles the order's receivable.
    OrderMoney,
    /// Tax the marketplace collected from the buyer, part of the receivable.
    TaxCollected,
    /// Tax the marketplace withheld as facilitator.
    TaxWithheld,
    /// A marketplace fee (or its refund), by type.
    Fee,
    /// Reserve released from the last settlement (+).
    ReservePrevious,
    /// Reserve held back (−).
    ReserveCurrent,
    /// Account-level income or expense, by key.
    Other,
    /// A Shopify transaction whose `net` is not `amount − fee`: the gap.
    NetDifference,
}

/// A row's place in the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub category: Category,
    /// False: the key is not in the taxonomy (a residual until mapped).
    pub mapped: bool,
    pub role: Role,
}

const fn known(category: Category, role: Role) -> Classification {
    Classification {
        category,
        mapped: true,
        role,
    }
}

const UNMAPPED: Classification = Classification {
    category: Category::Other,
    mapped: false,
    role: Role::Other,
};

/// Amazon's reserve descriptions, recognised whatever the transaction type.
pub const AMAZON_RESERVE_RELEASED: &str = "Previous Reserve Amount Balance";
pub const AMAZON_RESERVE_HELD: &str = "Current Reserve Amount";

/// The component Shopify rows carry in `amount_type`.
pub const SHOPIFY_AMOUNT: &str = "amount";
pub const SHOPIFY_FEE: &str = "fee";
pub const SHOPIFY_NET_DIFFERENCE: &str = "net_difference";

/// Classify a row of the given format by its raw key.
pub fn classify(
    format: SettlementFormat,
    transaction_type: &str,
    amount_type: &str,
    description: &str,
) -> Classification {
    match format {
        SettlementFormat::AmazonV2 => amazon(transaction_type, amount_type, description),
        SettlementFormat::ShopifyPayout => shopify(transaction_type, amount_type),
        SettlementFormat::WalmartRecon => walmart(transaction_type, amount_type),
    }
}

/// Whether a row with an order id is a sale of that order (what
/// `orders_count` counts), as opposed to a refund or fee of it.
pub fn is_sale(format: SettlementFormat, transaction_type: &str) -> bool {
    match format {
        SettlementFormat::AmazonV2 => transaction_type == "Order",
        SettlementFormat::ShopifyPayout => transaction_type == "charge",
        SettlementFormat::WalmartRecon => transaction_type == "Sale",
    }
}

/// Amazon `transaction-type`s whose `order-id` is not an order (FBA
/// shipment ids, models#5353).
pub fn amazon_order_id_is_not_an_order(transaction_type: &str, order_id: &str) -> bool {
    transaction_type == "FBAFees"
        || (order_id.starts_with("FBA") && order_id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Account-level Amazon keys the taxonomy knows: (transaction-type,
/// amount-type, description), `*` matching anything.
const AMAZON_KNOWN_OTHER: &[(&str, &str, &str)] = &[
    ("other-transaction", "other-transaction", "Subscription Fee"),
    ("other-transaction", "other-transaction", "Storage Fee"),
    (
        "other-transaction",
        "other-transaction",
        "Shipping label purchase",
    ),
    (
        "other-transaction",
        "other-transaction",
        "Shipping label purchase for return",
    ),
    (
        "other-transaction",
        "other-transaction",
        "Shipping Services Refund",
    ),
    (
        "other-transaction",
        "other-transaction",
        "FBA Inbound Transportation Fee",
    ),
    ("*", "FBA Inventory Reimbursement", "*"),
    (
        "ServiceFee",
        "Cost of Advertising",
        "TransactionTotalAmount",
    ),
    (
        "Cost of Advertising",
        "Cost of Advertising",
        "TransactionTotalAmount",
    ),
    ("FBAFees", "*", "Base fee"),
    ("FBAFees", "*", "Discount on Fee"),
    ("Order_Retrocharge", "ItemPrice", "*"),
    ("Order_Retrocharge", "ItemWithheldTax", "*"),
    ("Refund_Retrocharge", "ItemPrice", "*"),
    ("Refund_Retrocharge", "ItemWithheldTax", "*"),
];

fn amazon(tt: &str, at: &str, desc: &str) -> Classification {
    use Category as C;
    if desc == AMAZON_RESERVE_RELEASED {
        return known(C::Reserve, Role::ReservePrevious);
    }
    if desc == AMAZON_RESERVE_HELD {
        return known(C::Reserve, Role::ReserveCurrent);
    }
    let is_tax = matches!(desc, "Tax" | "ShippingTax" | "GiftWrapTax");
    match (tt, at) {
        ("Refund", "ItemFees") => known(C::Refunds, Role::Fee),
        ("Refund", "ItemWithheldTax") => known(C::Refunds, Role::TaxWithheld),
        ("Refund", "ItemPrice") if is_tax => known(C::Refunds, Role::TaxCollected),
        ("Refund", _) => known(C::Refunds, Role::OrderMoney),
        ("Order", "ItemPrice") => match desc {
            "Principal" => known(C::Principal, Role::OrderMoney),
            "Shipping" => known(C::Shipping, Role::OrderMoney),
            _ if is_tax => known(C::Tax, Role::TaxCollected),
            "GiftWrap" => known(C::Other, Role::OrderMoney),
            _ => UNMAPPED,
        },
        ("Order", "ItemWithheldTax") => known(C::Tax, Role::TaxWithheld),
        ("Order", "ItemFees") => known(C::Fees, Role::Fee),
        ("Order", "Promotion") => known(C::Promotions, Role::OrderMoney),
        _ => {
            let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            let listed = AMAZON_KNOWN_OTHER
                .iter()
                .any(|(t, a, d)| matches(t, tt) && matches(a, at) && matches(d, desc));
            if listed {
                known(C::Other, Role::Other)
            } else {
                UNMAPPED
            }
        }
    }
}

fn shopify(kind: &str, component: &str) -> Classification {
    use Category as C;
    match component {
        SHOPIFY_FEE => return known(C::Fees, Role::Fee),
        SHOPIFY_NET_DIFFERENCE => {
            return Classification {
                category: C::Other,
                mapped: false,
                role: Role::NetDifference,
            };
        }
        _ => {}
    }
    match kind {
        "charge" => known(C::Charges, Role::OrderMoney),
        "refund" => known(C::Refunds, Role::OrderMoney),
        "dispute" => known(C::Disputes, Role::OrderMoney),
        "adjustment" => known(C::Adjustments, Role::Other),
        "reserve" => known(C::Reserve, Role::ReserveCurrent),
        "credit" | "debit" => known(C::Other, Role::Other),
        _ => UNMAPPED,
    }
}

fn walmart(tt: &str, at: &str) -> Classification {
    use Category as C;
    // Walmart writes the same amount type in several cases (`Product tax`
    // in its reports, `Product Tax` in some of its documentation).
    let at = at.to_ascii_lowercase();
    let money_role = match at.as_str() {
        "product tax" | "shipping tax" => Some(Role::TaxCollected),
        "product tax withheld" | "shipping tax withheld" => Some(Role::TaxWithheld),
        "commission on product" | "commission on shipping" | "fee/reimbursement" => Some(Role::Fee),
        "product price" | "shipping price" | "shipping" => Some(Role::OrderMoney),
        _ => None,
    };
    match (tt, money_role) {
        ("Sale", Some(role)) => {
            let category = match (role, at.as_str()) {
                (Role::TaxCollected | Role::TaxWithheld, _) => C::Tax,
                (Role::Fee, _) => C::Fees,
                (_, "product price") => C::Principal,
                _ => C::Shipping,
            };
            known(category, role)
        }
        ("Refund", role) => known(C::Refunds, role.unwrap_or(Role::OrderMoney)),
        ("Adjustment", _) => known(C::Adjustments, Role::Other),
        ("Dispute Settlement", _) => known(C::Disputes, Role::OrderMoney),
        ("Reserve", _) => known(C::Reserve, Role::ReserveCurrent),
        ("Release Reserve", _) => known(C::Reserve, Role::ReservePrevious),
        _ => UNMAPPED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SettlementFormat::AmazonV2;

    #[test]
    fn walmart_amount_types_are_read_in_any_case() {
        for (amount_type, role) in [
            ("Product tax", Role::TaxCollected),
            ("Product Tax", Role::TaxCollected),
            ("Shipping tax withheld", Role::TaxWithheld),
            ("Product Tax Withheld", Role::TaxWithheld),
        ] {
            let c = classify(
                SettlementFormat::WalmartRecon,
                "Sale",
                amount_type,
                "Purchase",
            );
            assert_eq!((c.category, c.role, c.mapped), (Category::Tax, role, true));
        }
        let price = classify(SettlementFormat::WalmartRecon, "Sale", "Product Price", "");
        assert_eq!(price.category, Category::Principal);
    }

    #[test]
    fn amazon_keys_follow_the_documented_taxonomy() {
        let cat = |t, a, d| classify(AmazonV2, t, a, d);
        assert_eq!(
            cat("Order", "ItemPrice", "Principal").category,
            Category::Principal
        );
        assert_eq!(
            cat("Order", "ItemPrice", "GiftWrapTax").category,
            Category::Tax
        );
        let withheld = cat(
            "Order",
            "ItemWithheldTax",
            "MarketplaceFacilitatorTax-Principal",
        );
        assert_eq!(
            (withheld.category, withheld.role),
            (Category::Tax, Role::TaxWithheld)
        );
        assert_eq!(
            cat("Refund", "ItemFees", "Commission").category,
            Category::Refunds
        );
        let held = cat(
            "other-transaction",
            "other-transaction",
            AMAZON_RESERVE_HELD,
        );
        assert_eq!(
            (held.category, held.role),
            (Category::Reserve, Role::ReserveCurrent)
        );
        // Reserves are recognised by description whatever the transaction type.
        let released = cat(
            "Previous Reserve Amount Balance",
            "",
            AMAZON_RESERVE_RELEASED,
        );
        assert_eq!(released.role, Role::ReservePrevious);
        let storage = cat("other-transaction", "other-transaction", "Storage Fee");
        assert!(storage.mapped && storage.category == Category::Other);
        let unknown = cat("other-transaction", "other-transaction", "Galactic Fee");
        assert!(!unknown.mapped && unknown.category == Category::Other);
        assert!(!cat("Order", "ItemPrice", "Mystery").mapped);
    }

    #[test]
    fn fba_shipment_ids_are_not_orders() {
        assert!(amazon_order_id_is_not_an_order("FBAFees", "anything"));
        assert!(amazon_order_id_is_not_an_order(
            "other-transaction",
            "FBA19CD9HGQ8"
        ));
        assert!(!amazon_order_id_is_not_an_order(
            "Order",
            "112-8095165-5463447"
        ));
    }
}
