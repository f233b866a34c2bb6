//! [`RuleFacts`] as CEL values, built field by field rather than through
//! serde: judging an order used to serialize its facts into `cel::Value`s
//! (a copy of every string) and convert those again into shared values (a
//! second copy). Here strings borrow the facts, and maps and lists are
//! shared ([`crate::cel_env::shared`]) so a comprehension's copy of a line
//! is a reference count.
//!
//! Each builder destructures its struct, so a field added to the facts
//! without a CEL value does not compile; a test checks every value equals
//! what the serde path gives.

use std::collections::HashMap;

use cel::common::types::{CelBool, CelInt, CelList, CelMap, CelMapKey, CelString};
use cel::common::value::Val;

use super::facts::{
    AddressFact, AddressFacts, ChannelFacts, CustomerFacts, LineFacts, OrderRuleFacts,
};
use crate::cel_env::shared;

/// A CEL value borrowing facts for `'f`.
pub(crate) type FactVal<'f> = Box<dyn Val + 'f>;

fn string(s: &str) -> FactVal<'_> {
    Box::new(CelString::from(s))
}

fn int(i: i64) -> FactVal<'static> {
    Box::new(CelInt::from(i))
}

fn bool(b: bool) -> FactVal<'static> {
    Box::new(CelBool::from(b))
}

fn map<'f, const N: usize>(entries: [(&'static str, FactVal<'f>); N]) -> FactVal<'f> {
    let entries: HashMap<CelMapKey<'f>, FactVal<'f>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    shared(CelMap::from(entries))
}

fn list<'f>(items: impl Iterator<Item = FactVal<'f>>) -> FactVal<'f> {
    shared(CelList::from(items.collect::<Vec<_>>()))
}

fn strings(items: &[String]) -> FactVal<'_> {
    list(items.iter().map(|s| string(s)))
}

/// `order` in CEL.
pub(crate) fn order_val(o: &OrderRuleFacts) -> FactVal<'_> {
    let OrderRuleFacts {
        id,
        channel,
        external_id,
        currency,
        placed_at,
        total_minor,
        shipping_minor,
        units,
        line_count,
        service_level,
        shipping_method,
        customer_group,
        gift,
        priority,
        email,
        has_ship_to,
        ship_to,
        has_bill_to,
        bill_to,
        lines,
        skus,
        categories,
    } = o;
    map([
        ("id", string(id)),
        ("channel", string(channel)),
        ("external_id", string(external_id)),
        ("currency", string(currency)),
        ("placed_at", string(placed_at)),
        ("total_minor", int(*total_minor)),
        ("shipping_minor", int(*shipping_minor)),
        ("units", int(*units)),
        ("line_count", int(*line_count)),
        ("service_level", string(service_level)),
        ("shipping_method", string(shipping_method)),
        ("customer_group", string(customer_group)),
        ("gift", bool(*gift)),
        ("priority", int(*priority)),
        ("email", string(email)),
        ("has_ship_to", bool(*has_ship_to)),
        ("ship_to", address_val(ship_to)),
        ("has_bill_to", bool(*has_bill_to)),
        ("bill_to", address_val(bill_to)),
        ("lines", list(lines.iter().map(line_val))),
        ("skus", strings(skus)),
        ("categories", strings(categories)),
    ])
}

fn address_val(a: &AddressFact) -> FactVal<'_> {
    let AddressFact {
        name,
        line1,
        line2,
        city,
        region,
        postal_code,
        country,
    } = a;
    map([
        ("name", string(name)),
        ("line1", string(line1)),
        ("line2", string(line2)),
        ("city", string(city)),
        ("region", string(region)),
        ("postal_code", string(postal_code)),
        ("country", string(country)),
    ])
}

fn line_val(l: &LineFacts) -> FactVal<'_> {
    let LineFacts {
        line_id,
        sku,
        title,
        quantity,
        unit_price_minor,
        discount_minor,
        tax_minor,
        known,
        category,
        on_hand,
    } = l;
    map([
        ("line_id", string(line_id)),
        ("sku", string(sku)),
        ("title", string(title)),
        ("quantity", int(*quantity)),
        ("unit_price_minor", int(*unit_price_minor)),
        ("discount_minor", int(*discount_minor)),
        ("tax_minor", int(*tax_minor)),
        ("known", bool(*known)),
        ("category", string(category)),
        ("on_hand", int(*on_hand)),
    ])
}

/// `customer` in CEL.
pub(crate) fn customer_val(c: &CustomerFacts) -> FactVal<'_> {
    let CustomerFacts {
        email,
        orders,
        orders_last_hour,
        orders_last_day,
        cancelled,
        spent_minor,
        days_since_first_order,
    } = c;
    map([
        ("email", string(email)),
        ("orders", int(*orders)),
        ("orders_last_hour", int(*orders_last_hour)),
        ("orders_last_day", int(*orders_last_day)),
        ("cancelled", int(*cancelled)),
        ("spent_minor", int(*spent_minor)),
        ("days_since_first_order", int(*days_since_first_order)),
    ])
}

/// `address` in CEL.
pub(crate) fn address_facts_val(a: &AddressFacts) -> FactVal<'_> {
    let AddressFacts {
        key,
        orders_last_hour,
    } = a;
    map([
        ("key", string(key)),
        ("orders_last_hour", int(*orders_last_hour)),
    ])
}

/// `channel` in CEL.
pub(crate) fn channel_val(c: &ChannelFacts) -> FactVal<'_> {
    let ChannelFacts {
        name,
        kind,
        facilitator,
    } = c;
    map([
        ("name", string(name)),
        ("kind", string(kind)),
        ("facilitator", bool(*facilitator)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::facts::sample_facts;
    use cel::Value;

    /// The serde path this module replaces: it defines what rules see.
    fn via_serde<T: serde::Serialize>(facts: &T) -> Value {
        cel::to_value(facts).expect("facts serialize to CEL")
    }

    fn direct(val: &FactVal<'_>) -> Value {
        val.as_ref().try_into().expect("a CEL value")
    }

    #[test]
    fn every_fact_is_the_value_serde_gives() {
        let mut facts = sample_facts();
        // Two lines, more than one SKU and category, and empty strings, so
        // every list and scalar kind is compared.
        let mut second = facts.order.lines[0].clone();
        second.sku = "SKU-002".into();
        second.known = false;
        second.on_hand = -1;
        second.category = String::new();
        facts.order.lines.push(second);
        facts.order.skus.push("SKU-002".into());
        facts.order.categories.push("restricted".into());
        facts.order.bill_to.line2 = String::new();
        facts.order.gift = true;
        facts.channel.facilitator = true;
        facts.customer.days_since_first_order = -1;
        assert_eq!(direct(&order_val(&facts.order)), via_serde(&facts.order));
        assert_eq!(
            direct(&customer_val(&facts.customer)),
            via_serde(&facts.customer)
        );
        assert_eq!(
            direct(&address_facts_val(&facts.address)),
            via_serde(&facts.address)
        );
        assert_eq!(
            direct(&channel_val(&facts.channel)),
            via_serde(&facts.channel)
        );
    }
}
