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
    Address, Currency, Customer, InventoryPosition, Money, Order, OrderLine, OrderStatus, Refund,
    RefundLine, Shipment, ShipmentLine, TaxTreatment, Tracking, order_id_for,
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
    title: Option<String>,
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
    let shipping_method = wire
        .shipping_lines
        .iter()
        .find_map(|l| l.title.clone().filter(|t| !t.trim().is_empty()));
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
        shipping_method,
        customer_group: None,
        gift: false,
        priority: 0,
        hold: None,
    })
}

// ---- Refunds ----------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct RefundProbe {
    #[serde(default)]
    refund: Option<IgnoredAny>,
    #[serde(default)]
    refund_line_items: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct WrappedRefund {
    refund: RefundWire,
}

#[derive(Debug, Deserialize)]
struct RefundWire {
    id: JsonId,
    order_id: JsonId,
    created_at: String,
    #[serde(default)]
    processed_at: Option<String>,
    #[serde(default)]
    note: Option<String>,
    /// Pre-2019 refunds say whether to restock for the whole refund.
    #[serde(default)]
    restock: Option<bool>,
    #[serde(default)]
    refund_line_items: Vec<RefundLineWire>,
    #[serde(default)]
    refund_shipping_lines: Vec<RefundShippingLineWire>,
    #[serde(default)]
    transactions: Vec<TransactionWire>,
}

#[derive(Debug, Deserialize)]
struct RefundLineWire {
    line_item_id: JsonId,
    quantity: i64,
    #[serde(default)]
    restock_type: Option<String>,
    #[serde(default)]
    subtotal: Option<JsonDecimal>,
    #[serde(default)]
    subtotal_set: Option<MoneySet>,
    #[serde(default)]
    total_tax: Option<JsonDecimal>,
    #[serde(default)]
    total_tax_set: Option<MoneySet>,
    #[serde(default)]
    line_item: Option<RefundedItemWire>,
}

#[derive(Debug, Deserialize)]
struct RefundedItemWire {
    #[serde(default)]
    sku: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RefundShippingLineWire {
    subtotal_amount_set: MoneySet,
}

#[derive(Debug, Deserialize)]
struct TransactionWire {
    kind: String,
    #[serde(default)]
    status: Option<String>,
    amount: JsonDecimal,
    currency: String,
}

/// Maps a Shopify refund (`refunds/create` webhook body, or `{"refund":
/// {...}}` from `GET orders/{id}/refunds/{id}.json`) to the canonical
/// `Refund`. Error paths are relative to the document given.
///
/// - `amount` is the money that went back: Σ `transactions` of kind `refund`
///   with status `success`. It is not recomputed from the lines, because
///   Shopify refunds shipping, duties and adjustments besides them (and a
///   refund may restock goods without paying anything back).
/// - `lines` are `refund_line_items` in shop money (`subtotal_set.shop_money`,
///   else `subtotal`, a JSON number or string read exactly); `restock` is
///   `restock_type != "no_restock"`, or the refund's legacy `restock` flag.
/// - `shipping` is Σ `refund_shipping_lines[].subtotal_amount_set.shop_money`.
///   `order_adjustments` of kind `shipping_refund` restate the same money
///   for older clients and are not added again.
/// - A transaction in a currency other than the shop's (a presentment
///   currency refund) is refused: the canonical refund is in one currency
///   and nothing here converts.
/// - A `refunds/calculate.json` answer has no `id`: it is a proposal, not a
///   refund, and is refused at `id`.
pub fn shopify_refund(channel: &str, body: &[u8]) -> Result<Refund, InputError> {
    let probe: RefundProbe = parse_json(body)?;
    if probe.refund.is_some() && probe.refund_line_items.is_none() {
        let id: WrappedIdProbe = parse_json(body)?;
        refuse_calculation(&id.refund).map_err(under("refund"))?;
        let wrapped: WrappedRefund = parse_json(body)?;
        map_refund(channel, wrapped.refund).map_err(under("refund"))
    } else {
        refuse_calculation(&parse_json(body)?)?;
        map_refund(channel, parse_json(body)?)
    }
}

#[derive(Debug, Deserialize)]
struct IdProbe {
    #[serde(default)]
    id: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct WrappedIdProbe {
    refund: IdProbe,
}

/// Checked before anything else, so a calculation is named for what it is
/// rather than for whichever field it happens to lack first.
fn refuse_calculation(probe: &IdProbe) -> Result<(), InputError> {
    if probe.id.is_none() {
        return Err(InputError::new(
            "id",
            "missing field (a refunds/calculate answer is a proposal, not a refund)",
        ));
    }
    Ok(())
}

/// The shop currency a refund speaks: its transactions' (all must agree), else
/// the first line's shop money, else the first shipping line's.
fn refund_currency(wire: &RefundWire) -> Result<Currency, InputError> {
    if let Some(t) = wire.transactions.first() {
        return currency("transactions[0].currency", &t.currency);
    }
    let from_lines = wire
        .refund_line_items
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            l.subtotal_set.as_ref().map(|s| {
                (
                    format!("refund_line_items[{i}].subtotal_set.shop_money.currency_code"),
                    s.shop_money.currency_code.clone(),
                )
            })
        });
    let from_shipping = wire.refund_shipping_lines.first().map(|s| {
        (
            "refund_shipping_lines[0].subtotal_amount_set.shop_money.currency_code".to_owned(),
            s.subtotal_amount_set.shop_money.currency_code.clone(),
        )
    });
    match from_lines.or(from_shipping) {
        Some((path, code)) => currency(&path, &code),
        None => Err(InputError::new(
            "transactions",
            "no transaction, line or shipping line states the refund's currency",
        )),
    }
}

fn map_refund(channel: &str, wire: RefundWire) -> Result<Refund, InputError> {
    let currency = refund_currency(&wire)?;
    let refunded_at = match &wire.processed_at {
        Some(t) => timestamp("processed_at", t)?,
        None => timestamp("created_at", &wire.created_at)?,
    };
    let mut amount = Decimal::ZERO;
    for (i, t) in wire.transactions.iter().enumerate() {
        if t.currency != currency.as_str() {
            return Err(InputError::new(
                format!("transactions[{i}].currency"),
                format!(
                    "refunded in {} but the refund is in {currency}: a refund in \
                     several currencies is not supported",
                    t.currency
                ),
            ));
        }
        // Failed, errored and pending transactions moved no money (yet).
        if t.kind == "refund" && t.status.as_deref() == Some("success") {
            amount +=
                non_negative(format!("transactions[{i}].amount"), t.amount.0, currency)?.amount;
        }
    }
    let legacy_restock = wire.restock.unwrap_or(false);
    let mut lines = Vec::with_capacity(wire.refund_line_items.len());
    for (i, line) in wire.refund_line_items.into_iter().enumerate() {
        let at = format!("refund_line_items[{i}].");
        let optional = |field: &str, plain, set| match shop_amount(&at, field, plain, set, currency)
        {
            Ok(d) => non_negative(format!("{at}{field}"), d, currency).map(Some),
            Err(e) if e.message == "missing field" => Ok(None),
            Err(e) => Err(e),
        };
        let subtotal = optional("subtotal", line.subtotal, line.subtotal_set)?;
        let tax = optional("total_tax", line.total_tax, line.total_tax_set)?;
        lines.push(RefundLine {
            line_id: line.line_item_id.0,
            sku: line.line_item.and_then(|l| text(l.sku)).unwrap_or_default(),
            quantity: quantity(&format!("{at}quantity"), line.quantity)?,
            amount: subtotal,
            tax,
            restock: match line.restock_type.as_deref() {
                Some("no_restock") => false,
                Some(_) => true,
                None => legacy_restock,
            },
        });
    }
    let mut shipping: Option<Money> = None;
    for (i, line) in wire.refund_shipping_lines.into_iter().enumerate() {
        let at = format!("refund_shipping_lines[{i}].");
        let value = shop_amount(
            &at,
            "subtotal_amount",
            None,
            Some(line.subtotal_amount_set),
            currency,
        )?;
        let value = non_negative(format!("{at}subtotal_amount_set"), value, currency)?;
        shipping = Some(match shipping {
            None => value,
            Some(sum) => Money::new(sum.amount + value.amount, currency),
        });
    }
    let external_id = wire.id.0;
    Ok(Refund {
        id: format!("{channel}:{external_id}"),
        order_id: order_id_for(channel, &wire.order_id.0),
        channel: channel.to_owned(),
        external_id,
        return_id: None,
        amount: Money::new(amount, currency),
        reason: text(wire.note).unwrap_or_default(),
        refunded_at,
        lines,
        shipping,
    })
}

// ---- Fulfillments -----------------------------------------------------------

/// What a Shopify fulfillment maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum ShopifyFulfillment {
    /// Status `success`: the units left, as a canonical shipment.
    Shipped(Box<Shipment>),
    /// Any other status (`pending`, `open`, `cancelled`, `error`,
    /// `failure`): nothing shipped, or the shipment was withdrawn.
    NotShipped {
        external_id: String,
        external_order_id: String,
        status: String,
    },
}

#[derive(Debug, Deserialize)]
struct FulfillmentProbe {
    #[serde(default)]
    fulfillment: Option<IgnoredAny>,
    #[serde(default)]
    line_items: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct WrappedFulfillment {
    fulfillment: FulfillmentWire,
}

#[derive(Debug, Deserialize)]
struct FulfillmentWire {
    id: JsonId,
    order_id: JsonId,
    status: String,
    created_at: String,
    #[serde(default)]
    location_id: Option<JsonId>,
    #[serde(default)]
    tracking_company: Option<String>,
    #[serde(default)]
    tracking_number: Option<String>,
    #[serde(default)]
    tracking_url: Option<String>,
    line_items: Vec<FulfilledItemWire>,
}

#[derive(Debug, Deserialize)]
struct FulfilledItemWire {
    id: JsonId,
    #[serde(default)]
    sku: Option<String>,
    quantity: i64,
}

/// Maps a Shopify fulfillment (`fulfillments/create` webhook body, or
/// `{"fulfillment": {...}}`) to a canonical `Shipment` keyed
/// `<channel>:<fulfillment id>`. Error paths are relative to the document.
///
/// - `warehouse` is the fulfillment's `location_id` (empty when not sent);
///   `fulfillment_request_id` is empty: the channel shipped it, the hub did
///   not request it.
/// - Lines are the order's `line_items` ids with the fulfilled `quantity`.
/// - Tracking is `tracking_company` / `tracking_number` / `tracking_url`,
///   each empty when Shopify sends `null` (a fulfillment without tracking).
/// - `shipped_at` is `created_at`.
pub fn shopify_fulfillment(channel: &str, body: &[u8]) -> Result<ShopifyFulfillment, InputError> {
    let probe: FulfillmentProbe = parse_json(body)?;
    if probe.fulfillment.is_some() && probe.line_items.is_none() {
        let wrapped: WrappedFulfillment = parse_json(body)?;
        map_fulfillment(channel, wrapped.fulfillment).map_err(under("fulfillment"))
    } else {
        map_fulfillment(channel, parse_json(body)?)
    }
}

fn map_fulfillment(channel: &str, wire: FulfillmentWire) -> Result<ShopifyFulfillment, InputError> {
    let shipped_at = timestamp("created_at", &wire.created_at)?;
    if wire.status != "success" {
        return Ok(ShopifyFulfillment::NotShipped {
            external_id: wire.id.0,
            external_order_id: wire.order_id.0,
            status: wire.status,
        });
    }
    if wire.line_items.is_empty() {
        return Err(InputError::new(
            "line_items",
            "a fulfillment needs at least one line item",
        ));
    }
    let lines = wire
        .line_items
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(ShipmentLine {
                quantity: quantity(&format!("line_items[{i}].quantity"), l.quantity)?,
                line_id: l.id.0,
                sku: text(l.sku).unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    let external_id = wire.id.0;
    Ok(ShopifyFulfillment::Shipped(Box::new(Shipment {
        id: format!("{channel}:{external_id}"),
        order_id: order_id_for(channel, &wire.order_id.0),
        warehouse: wire.location_id.map(|l| l.0).unwrap_or_default(),
        external_id,
        fulfillment_request_id: String::new(),
        lines,
        tracking: Tracking {
            carrier: text(wire.tracking_company).unwrap_or_default(),
            // Kept as sent (Shopify's own examples carry line breaks in one).
            number: wire.tracking_number.unwrap_or_default(),
            url: text(wire.tracking_url),
        },
        shipped_at,
        completes_request: false,
    })))
}

// ---- Inventory levels -------------------------------------------------------

#[derive(Debug, Deserialize)]
struct LevelsProbe {
    #[serde(default)]
    inventory_level: Option<IgnoredAny>,
    #[serde(default)]
    inventory_levels: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct WrappedLevel {
    inventory_level: LevelWire,
}

#[derive(Debug, Deserialize)]
struct WrappedLevels {
    inventory_levels: Vec<LevelWire>,
}

#[derive(Debug, Deserialize)]
struct LevelWire {
    inventory_item_id: JsonId,
    location_id: JsonId,
    /// `null` when the item's inventory is not tracked at the location.
    available: Option<i64>,
    updated_at: String,
}

/// Maps Shopify inventory levels — the bare level (`inventory_levels/update`
/// webhook body), `{"inventory_level": {...}}` (`set`/`adjust`/`connect`)
/// or `{"inventory_levels": [...]}` (`GET inventory_levels.json`) — to
/// canonical positions with `source = channel`. Error paths are relative to
/// the document (`inventory_levels[2].available`).
///
/// Shopify stocks inventory items, not SKUs: `sku` carries the
/// `inventory_item_id` exactly (the SKU is on the variant, which the level
/// does not name); the caller resolves it the way `ShopifyChannel` looks SKUs
/// up. `on_hand` is `available` (already net of Shopify's committed units);
/// an untracked level (`available: null`) is refused.
pub fn shopify_inventory_levels(
    channel: &str,
    body: &[u8],
) -> Result<Vec<InventoryPosition>, InputError> {
    let probe: LevelsProbe = parse_json(body)?;
    if probe.inventory_levels.is_some() {
        let wrapped: WrappedLevels = parse_json(body)?;
        wrapped
            .inventory_levels
            .into_iter()
            .enumerate()
            .map(|(i, l)| map_level(channel, l).map_err(under(&format!("inventory_levels[{i}]"))))
            .collect()
    } else if probe.inventory_level.is_some() {
        let wrapped: WrappedLevel = parse_json(body)?;
        Ok(vec![
            map_level(channel, wrapped.inventory_level).map_err(under("inventory_level"))?,
        ])
    } else {
        Ok(vec![map_level(channel, parse_json(body)?)?])
    }
}

fn map_level(channel: &str, wire: LevelWire) -> Result<InventoryPosition, InputError> {
    let as_of = timestamp("updated_at", &wire.updated_at)?;
    let on_hand = wire.available.ok_or_else(|| {
        InputError::new(
            "available",
            "null: inventory is not tracked for this item at this location",
        )
    })?;
    Ok(InventoryPosition {
        sku: wire.inventory_item_id.0,
        location: wire.location_id.0,
        on_hand,
        reserved: 0,
        source: channel.to_owned(),
        as_of,
    })
}
