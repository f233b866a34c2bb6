//! What order rules see: [`RuleFacts`], built from the canonical order, the
//! customer's history as the hub saw it, the catalogue and the channel.
//! Stored on the timeline beside the outcome, so `rules explain` and
//! `rules what-if` read exactly what the rules saw. Pure: the caller reads
//! the store and hands the rows in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use crossdock_model::{Address, Order, OrderStatus};
use serde::{Deserialize, Serialize};

/// Everything a rule can read: `order`, `customer`, `address`, `channel`.
/// Money is in integer minor units of the order's currency (as in routing),
/// absent strings are empty and absent numbers are -1 where 0 would mean
/// something.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFacts {
    pub order: OrderRuleFacts,
    pub customer: CustomerFacts,
    pub address: AddressFacts,
    pub channel: ChannelFacts,
}

/// The order (`order` in CEL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRuleFacts {
    pub id: String,
    pub channel: String,
    pub external_id: String,
    pub currency: String,
    /// RFC 3339, UTC.
    pub placed_at: String,
    pub total_minor: i64,
    pub shipping_minor: i64,
    pub units: i64,
    pub line_count: i64,
    pub service_level: String,
    pub shipping_method: String,
    pub customer_group: String,
    pub gift: bool,
    pub priority: i64,
    pub email: String,
    pub has_ship_to: bool,
    pub ship_to: AddressFact,
    pub has_bill_to: bool,
    pub bill_to: AddressFact,
    pub lines: Vec<LineFacts>,
    /// SKUs of the lines, in line order, without repeats.
    pub skus: Vec<String>,
    /// Categories of the lines' SKUs (`[rules.categories]`), sorted, without repeats.
    pub categories: Vec<String>,
}

/// A postal address; every field a string, empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFact {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// One order line, with what the catalogue knows of its SKU.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineFacts {
    pub line_id: String,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    /// The SKU has a stock position somewhere.
    pub known: bool,
    /// `[rules.categories]`: the category of the longest matching SKU prefix; empty if none.
    pub category: String,
    /// Units on hand over every location (-1 when the SKU is unknown).
    pub on_hand: i64,
}

/// The customer's history as the hub saw it (`customer` in CEL): orders
/// with the same e-mail placed before this one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFacts {
    pub email: String,
    /// Earlier orders (any channel).
    pub orders: i64,
    /// Earlier orders placed within the hour before this one.
    pub orders_last_hour: i64,
    /// Earlier orders placed within the day before this one.
    pub orders_last_day: i64,
    /// Earlier orders cancelled.
    pub cancelled: i64,
    /// Totals of earlier orders in this order's currency, minor units.
    pub spent_minor: i64,
    /// Whole days since the first earlier order; -1 for a new customer.
    pub days_since_first_order: i64,
}

/// Orders to the same shipping address (`address` in CEL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFacts {
    /// The shipping address's `Address::match_key`; empty without one.
    pub key: String,
    /// Other orders to this address placed within the hour before this one.
    pub orders_last_hour: i64,
}

/// The channel the order came from (`channel` in CEL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelFacts {
    pub name: String,
    /// The connector kind (`shopify`, `amazon`, `walmart`, `webstore`, `mapped`).
    pub kind: String,
    /// `[rules.facilitator]` lists the ship-to country or country-region:
    /// the marketplace collects and remits sales tax for this order.
    pub facilitator: bool,
}

/// An earlier order of the same customer or to the same address, as the
/// store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastOrder {
    pub id: String,
    pub status: OrderStatus,
    pub placed_at_ms: i64,
    /// Total in minor units when in the same currency as the order judged.
    pub total_minor_same_currency: Option<i64>,
}

/// The store's view of one SKU, for line facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkuStock {
    pub on_hand: i64,
}

fn address_fact(a: Option<&Address>) -> AddressFact {
    a.map(|a| AddressFact {
        name: a.name.clone(),
        line1: a.line1.clone(),
        line2: a.line2.clone().unwrap_or_default(),
        city: a.city.clone(),
        region: a.region.clone().unwrap_or_default(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
    })
    .unwrap_or_default()
}

/// The category of `sku`: the longest prefix of `categories` it starts with.
pub fn category_of(sku: &str, categories: &BTreeMap<String, String>) -> String {
    categories
        .iter()
        .filter(|(prefix, _)| sku.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, c)| c.clone())
        .unwrap_or_default()
}

fn minor(m: crossdock_model::Money) -> i64 {
    m.minor_units().unwrap_or(i64::MAX)
}

/// The order as rules see it.
pub fn order_facts(
    order: &Order,
    stock: &BTreeMap<String, SkuStock>,
    categories: &BTreeMap<String, String>,
) -> OrderRuleFacts {
    let mut skus: Vec<String> = Vec::new();
    let mut cats = BTreeSet::new();
    let lines = order
        .lines
        .iter()
        .map(|l| {
            if !skus.contains(&l.sku) {
                skus.push(l.sku.clone());
            }
            let category = category_of(&l.sku, categories);
            if !category.is_empty() {
                cats.insert(category.clone());
            }
            let s = stock.get(&l.sku);
            LineFacts {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                title: l.title.clone(),
                quantity: i64::from(l.quantity),
                unit_price_minor: minor(l.unit_price),
                discount_minor: minor(l.discount),
                tax_minor: minor(l.tax),
                known: s.is_some(),
                category,
                on_hand: s.map_or(-1, |s| s.on_hand),
            }
        })
        .collect::<Vec<_>>();
    OrderRuleFacts {
        id: order.id.clone(),
        channel: order.channel.clone(),
        external_id: order.external_id.clone(),
        currency: order.currency.as_str().to_owned(),
        placed_at: order.placed_at.to_rfc3339(),
        total_minor: minor(order.total),
        shipping_minor: minor(order.shipping),
        units: i64::from(order.units_ordered()),
        line_count: lines.len() as i64,
        service_level: order.service_level.clone(),
        shipping_method: order.shipping_method.clone().unwrap_or_default(),
        customer_group: order.customer_group.clone().unwrap_or_default(),
        gift: order.gift,
        priority: order.priority,
        email: order.customer.email.clone(),
        has_ship_to: order.shipping_address.is_some(),
        ship_to: address_fact(order.shipping_address.as_ref()),
        has_bill_to: order.billing_address.is_some(),
        bill_to: address_fact(order.billing_address.as_ref()),
        lines,
        skus,
        categories: cats.into_iter().collect(),
    }
}

/// The customer's history from their earlier orders (the store's rows,
/// this order excluded by the caller or here).
pub fn customer_facts(order: &Order, earlier: &[PastOrder]) -> CustomerFacts {
    let at = order.placed_at.timestamp_millis();
    let before: Vec<&PastOrder> = earlier
        .iter()
        .filter(|p| p.id != order.id && p.placed_at_ms <= at)
        .collect();
    let within = |ms: i64| before.iter().filter(|p| at - p.placed_at_ms <= ms).count() as i64;
    let first = before.iter().map(|p| p.placed_at_ms).min();
    CustomerFacts {
        email: order.customer.email.clone(),
        orders: before.len() as i64,
        orders_last_hour: within(3_600_000),
        orders_last_day: within(86_400_000),
        cancelled: before
            .iter()
            .filter(|p| p.status == OrderStatus::Cancelled)
            .count() as i64,
        spent_minor: before
            .iter()
            .filter(|p| p.status != OrderStatus::Cancelled)
            .filter_map(|p| p.total_minor_same_currency)
            .fold(0_i64, i64::saturating_add),
        days_since_first_order: first.map_or(-1, |f| (at - f) / 86_400_000),
    }
}

/// Orders to the order's shipping address within the hour before it.
pub fn address_facts(order: &Order, same_address: &[PastOrder]) -> AddressFacts {
    let key = order.ship_to_key();
    let at = order.placed_at.timestamp_millis();
    let orders_last_hour = if key.is_empty() {
        0
    } else {
        same_address
            .iter()
            .filter(|p| {
                p.id != order.id && p.placed_at_ms <= at && at - p.placed_at_ms <= 3_600_000
            })
            .count() as i64
    };
    AddressFacts {
        key,
        orders_last_hour,
    }
}

/// Whether `facilitator` (country or `country-region` codes) covers the
/// order's ship-to.
pub fn facilitator_covers(facilitator: &[String], ship_to: &AddressFact) -> bool {
    if ship_to.country.is_empty() {
        return false;
    }
    let region = format!("{}-{}", ship_to.country, ship_to.region);
    facilitator
        .iter()
        .any(|f| f.eq_ignore_ascii_case(&ship_to.country) || f.eq_ignore_ascii_case(&region))
}

/// A full set of facts for checking rules at configuration time: every
/// field present, one line, plausible values.
pub fn sample_facts() -> RuleFacts {
    let address = AddressFact {
        name: "Sam Sample".into(),
        line1: "1 Main St".into(),
        line2: "Apt 2".into(),
        city: "Springfield".into(),
        region: "IL".into(),
        postal_code: "62701".into(),
        country: "US".into(),
    };
    RuleFacts {
        order: OrderRuleFacts {
            id: "ord-sample".into(),
            channel: "webstore".into(),
            external_id: "1001".into(),
            currency: "USD".into(),
            placed_at: DateTime::<Utc>::UNIX_EPOCH.to_rfc3339(),
            total_minor: 2_500,
            shipping_minor: 500,
            units: 2,
            line_count: 1,
            service_level: "standard".into(),
            shipping_method: "Standard".into(),
            customer_group: "retail".into(),
            gift: false,
            priority: 0,
            email: "sam@example.com".into(),
            has_ship_to: true,
            ship_to: address.clone(),
            has_bill_to: true,
            bill_to: address,
            lines: vec![LineFacts {
                line_id: "1".into(),
                sku: "SKU-001".into(),
                title: "Sample".into(),
                quantity: 2,
                unit_price_minor: 1_000,
                discount_minor: 0,
                tax_minor: 0,
                known: true,
                category: "general".into(),
                on_hand: 10,
            }],
            skus: vec!["SKU-001".into()],
            categories: vec!["general".into()],
        },
        customer: CustomerFacts {
            email: "sam@example.com".into(),
            orders: 1,
            orders_last_hour: 0,
            orders_last_day: 0,
            cancelled: 0,
            spent_minor: 1_000,
            days_since_first_order: 3,
        },
        address: AddressFacts {
            key: "1mainst|62701|us".into(),
            orders_last_hour: 0,
        },
        channel: ChannelFacts {
            name: "webstore".into(),
            kind: "webstore".into(),
            facilitator: false,
        },
    }
}
