//! Shopify Admin REST order (webhook body or `GET orders/{id}.json`) to the
//! canonical `Order`. Pure: no I/O.
//!
//! - Ids (`id`, `line_items[].id`, `customer.id`) are JSON integers beyond
//!   2^53; they are read from their JSON text, never through a float.
//! - Money is the shop's: `*_set.shop_money` when present (its currency must be
//!   the order's `currency`), else the plain field, which Shopify also states
//!   in shop currency. Presentment money is ignored.
//! - Line discount = sum of `discount_allocations` (else `total_discount`);
//!   line tax = sum of `tax_lines`; shipping = sum over `shipping_lines` of
//!   price − their discount allocations + their tax lines (the canonical order
//!   has no separate shipping tax, so it rides on `shipping`).
//! - `total` is `total_price` as Shopify states it; `source_version` is
//!   `updated_at` in ms.

use crossdock_model::{
    Address, Currency, Customer, Money, Order, OrderLine, OrderStatus, TaxTreatment, order_id_for,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::InputError;
use crate::input::{
    JsonDecimal, JsonId, currency, parse_json, quantity, timestamp, timestamp_ms, under,
};

#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(default)]
    order: Option<IgnoredAny>,
    #[serde(default)]
    line_items: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Wrapped {
    order: OrderWire,
}

#[derive(Debug, Deserialize)]
struct OrderWire {
    id: JsonId,
    created_at: String,
    updated_at: String,
    currency: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    customer: Option<CustomerWire>,
    #[serde(default)]
    shipping_address: Option<AddressWire>,
    #[serde(default)]
    billing_address: Option<AddressWire>,
    line_items: Vec<LineWire>,
    #[serde(default)]
    shipping_lines: Vec<ShippingLineWire>,
    #[serde(default)]
    total_price: Option<JsonDecimal>,
    #[serde(default)]
    total_price_set: Option<MoneySet>,
}

#[derive(Debug, Deserialize)]
struct CustomerWire {
    #[serde(default)]
    id: Option<JsonId>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AddressWire {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    address1: Option<String>,
    #[serde(default)]
    address2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    province_code: Option<String>,
    #[serde(default)]
    zip: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LineWire {
    id: JsonId,
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    quantity: i64,
    #[serde(default)]
    price: Option<JsonDecimal>,
    #[serde(default)]
    price_set: Option<MoneySet>,
    #[serde(default)]
    total_discount: Option<JsonDecimal>,
    #[serde(default)]
    total_discount_set: Option<MoneySet>,
    #[serde(default)]
    discount_allocations: Option<Vec<AllocationWire>>,
    #[serde(default)]
    tax_lines: Vec<TaxLineWire>,
}

#[derive(Debug, Deserialize)]
struct ShippingLineWire {
    #[serde(default)]
    price: Option<JsonDecimal>,
    #[serde(default)]
    price_set: Option<MoneySet>,
    #[serde(default)]
    discount_allocations: Vec<AllocationWire>,
    #[serde(default)]
    tax_lines: Vec<TaxLineWire>,
}

#[derive(Debug, Deserialize)]
struct AllocationWire {
    #[serde(default)]
    amount: Option<JsonDecimal>,
    #[serde(default)]
    amount_set: Option<MoneySet>,
}

#[derive(Debug, Deserialize)]
struct TaxLineWire {
    #[serde(default)]
    price: Option<JsonDecimal>,
    #[serde(default)]
    price_set: Option<MoneySet>,
}

#[derive(Debug, Deserialize)]
struct MoneySet {
    shop_money: ShopMoney,
}

#[derive(Debug, Deserialize)]
struct ShopMoney {
    amount: JsonDecimal,
    currency_code: String,
}

/// Maps a Shopify order: the bare order (webhook body) or `{"order": {...}}`
/// (REST response). Error paths are relative to the document given, so a
/// wrapped order's errors read `order.line_items[3].price`.
pub fn shopify_order(channel: &str, body: &[u8]) -> Result<Order, InputError> {
    let probe: Probe = parse_json(body)?;
    if probe.order.is_some() && probe.line_items.is_none() {
        let wrapped: Wrapped = parse_json(body)?;
        map(channel, wrapped.order).map_err(under("order"))
    } else {
        map(channel, parse_json(body)?)
    }
}

/// The shop-currency amount of a field: `<field>_set.shop_money` if sent, else `<field>`.
fn shop_amount(
    path: &str,
    field: &str,
    plain: Option<JsonDecimal>,
    set: Option<MoneySet>,
    currency: Currency,
) -> Result<Decimal, InputError> {
    if let Some(set) = set {
        if set.shop_money.currency_code != currency.as_str() {
            return Err(InputError::new(
                format!("{path}{field}_set.shop_money.currency_code"),
                format!(
                    "shop money in {} but the order's currency is {currency}",
                    set.shop_money.currency_code
                ),
            ));
        }
        return Ok(set.shop_money.amount.0);
    }
    plain
        .map(|d| d.0)
        .ok_or_else(|| InputError::new(format!("{path}{field}"), "missing field"))
}

fn non_negative(path: String, amount: Decimal, currency: Currency) -> Result<Money, InputError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(InputError::new(path, "must not be negative"));
    }
    Ok(Money::new(amount, currency))
}

fn sum_tax(path: &str, lines: Vec<TaxLineWire>, currency: Currency) -> Result<Decimal, InputError> {
    let mut sum = Decimal::ZERO;
    for (j, t) in lines.into_iter().enumerate() {
        sum += shop_amount(
            &format!("{path}tax_lines[{j}]."),
            "price",
            t.price,
            t.price_set,
            currency,
        )?;
    }
    Ok(sum)
}

fn sum_allocations(
    path: &str,
    lines: Vec<AllocationWire>,
    currency: Currency,
) -> Result<Decimal, InputError> {
    let mut sum = Decimal::ZERO;
    for (j, a) in lines.into_iter().enumerate() {
        sum += shop_amount(
            &format!("{path}discount_allocations[{j}]."),
            "amount",
            a.amount,
            a.amount_set,
            currency,
        )?;
    }
    Ok(sum)
}

fn text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn full_name(first: Option<String>, last: Option<String>) -> Option<String> {
    let joined = [text(first), text(last)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    text(Some(joined))
}

fn map_address(a: AddressWire) -> Address {
    Address {
        name: text(a.name)
            .or_else(|| full_name(a.first_name, a.last_name))
            .unwrap_or_default(),
        line1: a.address1.unwrap_or_default(),
        line2: text(a.address2),
        city: a.city.unwrap_or_default(),
        region: text(a.province_code),
        postal_code: a.zip.unwrap_or_default(),
        country: a.country_code.unwrap_or_default(),
    }
}

fn map(channel: &str, wire: OrderWire) -> Result<Order, InputError> {
    let currency = currency("currency", &wire.currency)?;
    let placed_at = timestamp("created_at", &wire.created_at)?;
    let source_version = timestamp_ms("updated_at", &wire.updated_at)?;
    if wire.line_items.is_empty() {
        return Err(InputError::new(
            "line_items",
            "an order needs at least one line item",
        ));
    }
    let mut lines = Vec::with_capacity(wire.line_items.len());
    for (i, item) in wire.line_items.into_iter().enumerate() {
        let at = format!("line_items[{i}].");
        let unit = shop_amount(&at, "price", item.price, item.price_set, currency)?;
        let discount = match item.discount_allocations {
            Some(allocations) => sum_allocations(&at, allocations, currency)?,
            None => shop_amount(
                &at,
                "total_discount",
                item.total_discount,
                item.total_discount_set,
                currency,
            )
            .or_else(|e| {
                if e.message == "missing field" {
                    Ok(Decimal::ZERO)
                } else {
                    Err(e)
                }
            })?,
        };
        let tax = sum_tax(&at, item.tax_lines, currency)?;
        lines.push(OrderLine {
            line_id: item.id.0,
            // Shopify allows a line without a SKU (custom items); validation flags it.
            sku: item.sku.unwrap_or_default(),
            title: text(item.name).or(text(item.title)).unwrap_or_default(),
            quantity: quantity(&format!("{at}quantity"), item.quantity)?,
            unit_price: non_negative(format!("{at}price"), unit, currency)?,
            discount: non_negative(format!("{at}discount_allocations"), discount, currency)?,
            tax: non_negative(format!("{at}tax_lines"), tax, currency)?,
            shipped_quantity: 0,
            cancelled_quantity: 0,
        });
    }
    let mut shipping = Decimal::ZERO;
    for (i, line) in wire.shipping_lines.into_iter().enumerate() {
        let at = format!("shipping_lines[{i}].");
        shipping += shop_amount(&at, "price", line.price, line.price_set, currency)?;
        shipping -= sum_allocations(&at, line.discount_allocations, currency)?;
        shipping += sum_tax(&at, line.tax_lines, currency)?;
    }
    let total = shop_amount(
        "",
        "total_price",
        wire.total_price,
        wire.total_price_set,
        currency,
    )?;
    let customer = wire.customer;
    let email = text(wire.email)
        .or(text(wire.contact_email))
        .or_else(|| customer.as_ref().and_then(|c| text(c.email.clone())))
        .unwrap_or_default();
    let shipping_address = wire.shipping_address.map(map_address);
    let billing_address = wire.billing_address.map(map_address);
    let name = customer
        .as_ref()
        .and_then(|c| full_name(c.first_name.clone(), c.last_name.clone()))
        .or_else(|| {
            shipping_address
                .as_ref()
                .and_then(|a| text(Some(a.name.clone())))
        })
        .or_else(|| {
            billing_address
                .as_ref()
                .and_then(|a| text(Some(a.name.clone())))
        })
        .unwrap_or_default();
    let external_id = wire.id.0;
    Ok(Order {
        id: order_id_for(channel, &external_id),
        channel: channel.to_owned(),
        external_id,
        source_version,
        placed_at,
        currency,
        customer: Customer {
            external_id: customer.as_ref().and_then(|c| c.id.clone()).map(|id| id.0),
            email,
            name,
            phone: text(wire.phone).or_else(|| customer.and_then(|c| text(c.phone))),
        },
        shipping_address,
        billing_address,
        lines,
        shipping: non_negative("shipping_lines".to_owned(), shipping, currency)?,
        total: non_negative("total_price".to_owned(), total, currency)?,
        tax_treatment: TaxTreatment::MerchantCollected,
        service_level: "standard".to_owned(),
        status: OrderStatus::Received,
        erp_ref: None,
    })
}
