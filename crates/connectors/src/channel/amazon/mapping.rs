//! Amazon SP-API Orders v0 (`getOrder` + `getOrderItems`) to the canonical
//! `Order`. Pure: no I/O.
//!
//! Amazon sends no prices, taxes or address while an order is `Pending` or
//! `PendingAvailability` (payment not authorized). Such an order is not
//! refused: it maps to [`AmazonOrder::Pending`], which the caller holds and
//! fetches again once the order moves on. A `Canceled` order maps to
//! [`AmazonOrder::Canceled`].
//!
//! - `ItemPrice` is the line amount (unit price × `QuantityOrdered`); the unit
//!   price is that amount divided by the quantity, which must split exactly.
//! - Line discount = `PromotionDiscount`; line tax = `ItemTax` + `ShippingTax`;
//!   order shipping = Σ `ShippingPrice` − `ShippingDiscount`.
//! - `total` is `OrderTotal` as stated; `source_version` is `LastUpdateDate` in ms.

use crossdock_model::{
    Address, Currency, Customer, InventoryPosition, Money, Order, OrderLine, OrderStatus, Shipment,
    ShipmentLine, TaxTreatment, Tracking, order_id_for,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::InputError;
use crate::input::{
    JsonDecimal, currency, non_empty, parse_json, quantity, timestamp, timestamp_ms, under,
};

/// What an Amazon order maps to.
#[derive(Debug, Clone, PartialEq)]
pub enum AmazonOrder {
    /// Payment authorized: a full canonical order (status `Received`).
    Ready(Box<Order>),
    /// `Pending`/`PendingAvailability`: Amazon withholds prices and address.
    /// Hold it; fetch it again once it is `Unshipped`.
    Pending {
        external_id: String,
        status: String,
        source_version: i64,
    },
    /// Amazon cancelled the order.
    Canceled {
        external_id: String,
        source_version: i64,
    },
}

#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(default)]
    payload: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Payload<T> {
    payload: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderWire {
    amazon_order_id: String,
    purchase_date: String,
    last_update_date: String,
    order_status: String,
    #[serde(default)]
    order_total: Option<MoneyWire>,
    #[serde(default)]
    shipment_service_level_category: Option<String>,
    #[serde(default)]
    ship_service_level: Option<String>,
    #[serde(default)]
    shipping_address: Option<AddressWire>,
    #[serde(default)]
    buyer_info: Option<BuyerWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BuyerWire {
    #[serde(default)]
    buyer_email: Option<String>,
    #[serde(default)]
    buyer_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AddressWire {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address_line1: Option<String>,
    #[serde(default)]
    address_line2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state_or_region: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MoneyWire {
    currency_code: String,
    amount: JsonDecimal,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ItemsWire {
    amazon_order_id: String,
    order_items: Vec<ItemWire>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ItemWire {
    order_item_id: String,
    #[serde(default, rename = "SellerSKU")]
    seller_sku: Option<String>,
    #[serde(default)]
    title: Option<String>,
    quantity_ordered: i64,
    #[serde(default)]
    quantity_shipped: Option<i64>,
    #[serde(default)]
    item_price: Option<MoneyWire>,
    #[serde(default)]
    item_tax: Option<MoneyWire>,
    #[serde(default)]
    shipping_price: Option<MoneyWire>,
    #[serde(default)]
    shipping_tax: Option<MoneyWire>,
    #[serde(default)]
    shipping_discount: Option<MoneyWire>,
    #[serde(default)]
    promotion_discount: Option<MoneyWire>,
}

/// Parses `T` from either the bare object or a `{"payload": T}` API response;
/// returns the path prefix errors further down must carry.
fn parse_payload<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<(T, &'static str), InputError> {
    let probe: Probe = parse_json(body)?;
    if probe.payload.is_some() {
        let p: Payload<T> = parse_json(body)?;
        Ok((p.payload, "payload"))
    } else {
        Ok((parse_json(body)?, ""))
    }
}

/// An order document read up to its status.
enum Stage {
    Done(AmazonOrder),
    NeedsItems(Box<OrderWire>, &'static str, i64),
}

fn read_order(order_json: &[u8]) -> Result<Stage, InputError> {
    let (order, prefix) = parse_payload::<OrderWire>(order_json)?;
    let source_version =
        timestamp_ms("LastUpdateDate", &order.last_update_date).map_err(under(prefix))?;
    match order.order_status.as_str() {
        "Pending" | "PendingAvailability" => Ok(Stage::Done(AmazonOrder::Pending {
            external_id: order.amazon_order_id,
            status: order.order_status,
            source_version,
        })),
        "Canceled" => Ok(Stage::Done(AmazonOrder::Canceled {
            external_id: order.amazon_order_id,
            source_version,
        })),
        "Unshipped" | "PartiallyShipped" | "Shipped" | "InvoiceUnconfirmed" | "Unfulfillable" => {
            Ok(Stage::NeedsItems(Box::new(order), prefix, source_version))
        }
        other => Err(under(prefix)(InputError::new(
            "OrderStatus",
            format!("unknown order status {other:?}"),
        ))),
    }
}

/// Maps an Amazon order. `order_json` is a `getOrder` response (`{"payload":
/// Order}`) or the bare `Order`; `items_json` a `getOrderItems` response or the
/// bare `OrderItemsList`, every page merged (a `NextToken` is refused). Items
/// are not read for a Pending or Canceled order. Error paths are relative to
/// the document they name (`payload.OrderItems[0].ItemPrice.Amount`).
pub fn amazon_order(
    channel: &str,
    order_json: &[u8],
    items_json: &[u8],
) -> Result<AmazonOrder, InputError> {
    match read_order(order_json)? {
        Stage::Done(done) => Ok(done),
        Stage::NeedsItems(order, prefix, version) => {
            finish(channel, *order, prefix, version, items_json, "")
        }
    }
}

/// Maps the `{"order": <getOrder response or Order>, "items": <getOrderItems
/// response or OrderItemsList>}` bundle the CLI reads (`items` may be left out
/// for a Pending or Canceled order). Paths start with `order.` or `items.`.
pub fn amazon_order_bundle(channel: &str, body: &[u8]) -> Result<AmazonOrder, InputError> {
    #[derive(Deserialize)]
    struct Bundle {
        order: Box<RawValue>,
        #[serde(default)]
        items: Option<Box<RawValue>>,
    }
    let bundle: Bundle = parse_json(body)?;
    match read_order(bundle.order.get().as_bytes()).map_err(under("order"))? {
        Stage::Done(done) => Ok(done),
        Stage::NeedsItems(order, prefix, version) => {
            let items = bundle
                .items
                .ok_or_else(|| InputError::new("items", "missing field"))?;
            let prefix = if prefix.is_empty() {
                "order"
            } else {
                "order.payload"
            };
            finish(
                channel,
                *order,
                prefix,
                version,
                items.get().as_bytes(),
                "items",
            )
        }
    }
}

fn finish(
    channel: &str,
    order: OrderWire,
    order_prefix: &str,
    source_version: i64,
    items_json: &[u8],
    items_base: &str,
) -> Result<AmazonOrder, InputError> {
    let (items, items_prefix) =
        parse_payload::<ItemsWire>(items_json).map_err(under(items_base))?;
    let items_prefix = match (items_base, items_prefix) {
        ("", p) => p.to_owned(),
        (b, "") => b.to_owned(),
        (b, p) => format!("{b}.{p}"),
    };
    let items_at = under(&items_prefix);
    if items.amazon_order_id != order.amazon_order_id {
        return Err(items_at(InputError::new(
            "AmazonOrderId",
            format!(
                "items belong to {:?}, not to order {:?}",
                items.amazon_order_id, order.amazon_order_id
            ),
        )));
    }
    if items.next_token.is_some() {
        return Err(items_at(InputError::new(
            "NextToken",
            "more item pages follow: merge every page of getOrderItems first",
        )));
    }
    if items.order_items.is_empty() {
        return Err(items_at(InputError::new(
            "OrderItems",
            "an order needs at least one item",
        )));
    }
    let (mut mapped, currency) =
        map(channel, order, source_version).map_err(under(order_prefix))?;
    mapped.lines =
        map_items(items.order_items, currency, &mut mapped.shipping).map_err(&items_at)?;
    Ok(AmazonOrder::Ready(Box::new(mapped)))
}

fn money_in(path: &str, m: Option<MoneyWire>, currency: Currency) -> Result<Decimal, InputError> {
    let Some(m) = m else {
        return Ok(Decimal::ZERO);
    };
    if m.currency_code != currency.as_str() {
        return Err(InputError::new(
            format!("{path}.CurrencyCode"),
            format!("{} but the order total is in {currency}", m.currency_code),
        ));
    }
    if m.amount.0.is_sign_negative() && !m.amount.0.is_zero() {
        return Err(InputError::new(
            format!("{path}.Amount"),
            "must not be negative",
        ));
    }
    Ok(m.amount.0)
}

fn map(
    channel: &str,
    order: OrderWire,
    source_version: i64,
) -> Result<(Order, Currency), InputError> {
    let placed_at = timestamp("PurchaseDate", &order.purchase_date)?;
    let total = order
        .order_total
        .ok_or_else(|| InputError::new("OrderTotal", "missing field"))?;
    let currency = currency("OrderTotal.CurrencyCode", &total.currency_code)?;
    let total = money_in("OrderTotal", Some(total), currency)?;
    let address = order.shipping_address.map(|a| {
        let phone = a.phone.clone();
        (
            Address {
                name: a.name.unwrap_or_default(),
                line1: a.address_line1.unwrap_or_default(),
                line2: a.address_line2.filter(|l| !l.trim().is_empty()),
                city: a.city.unwrap_or_default(),
                region: a.state_or_region.filter(|r| !r.trim().is_empty()),
                postal_code: a.postal_code.unwrap_or_default(),
                country: a.country_code.unwrap_or_default(),
            },
            phone,
        )
    });
    let buyer = order.buyer_info;
    let name = buyer
        .as_ref()
        .and_then(|b| b.buyer_name.clone())
        .or_else(|| address.as_ref().map(|(a, _)| a.name.clone()))
        .unwrap_or_default();
    let external_id = order.amazon_order_id;
    Ok((
        Order {
            id: order_id_for(channel, &external_id),
            channel: channel.to_owned(),
            external_id,
            source_version,
            placed_at,
            currency,
            customer: Customer {
                external_id: None,
                // Buyer email needs a Restricted Data Token; empty when Amazon withholds it.
                email: buyer.and_then(|b| b.buyer_email).unwrap_or_default(),
                name,
                phone: address.as_ref().and_then(|(_, p)| p.clone()),
            },
            shipping_address: address.map(|(a, _)| a),
            billing_address: None,
            lines: Vec::new(),
            shipping: Money::zero(currency),
            total: Money::new(total, currency),
            tax_treatment: TaxTreatment::MarketplaceFacilitator,
            service_level: order
                .shipment_service_level_category
                .map(|s| s.to_lowercase())
                .unwrap_or_else(|| "standard".to_owned()),
            status: OrderStatus::Received,
            erp_ref: None,
            shipping_method: order.ship_service_level.filter(|s| !s.trim().is_empty()),
            customer_group: None,
            gift: false,
            priority: 0,
            hold: None,
        },
        currency,
    ))
}

fn map_items(
    items: Vec<ItemWire>,
    currency: Currency,
    shipping: &mut Money,
) -> Result<Vec<OrderLine>, InputError> {
    let mut lines = Vec::with_capacity(items.len());
    let mut ship = Decimal::ZERO;
    for (i, item) in items.into_iter().enumerate() {
        let at = |f: &str| format!("OrderItems[{i}].{f}");
        let qty = quantity(&at("QuantityOrdered"), item.quantity_ordered)?;
        let shipped = quantity(&at("QuantityShipped"), item.quantity_shipped.unwrap_or(0))?;
        if item.item_price.is_none() {
            return Err(InputError::new(at("ItemPrice"), "missing field"));
        }
        let line_amount = money_in(&at("ItemPrice"), item.item_price, currency)?;
        let unit = per_unit(&at("ItemPrice.Amount"), line_amount, qty)?;
        let tax = money_in(&at("ItemTax"), item.item_tax, currency)?
            + money_in(&at("ShippingTax"), item.shipping_tax, currency)?;
        ship += money_in(&at("ShippingPrice"), item.shipping_price, currency)?;
        ship -= money_in(&at("ShippingDiscount"), item.shipping_discount, currency)?;
        lines.push(OrderLine {
            line_id: item.order_item_id,
            sku: item.seller_sku.unwrap_or_default(),
            title: item.title.unwrap_or_default(),
            quantity: qty,
            unit_price: Money::new(unit, currency),
            discount: Money::new(
                money_in(&at("PromotionDiscount"), item.promotion_discount, currency)?,
                currency,
            ),
            tax: Money::new(tax, currency),
            shipped_quantity: shipped.min(qty),
            cancelled_quantity: 0,
        });
    }
    if ship.is_sign_negative() && !ship.is_zero() {
        return Err(InputError::new(
            "OrderItems",
            "shipping discounts exceed shipping",
        ));
    }
    *shipping = Money::new(ship, currency);
    Ok(lines)
}

/// A line amount split over its units; refused unless it splits exactly.
pub(crate) fn per_unit(path: &str, line_amount: Decimal, qty: u32) -> Result<Decimal, InputError> {
    if qty <= 1 {
        return Ok(line_amount);
    }
    // A terminating split needs at most a few more places than the amount;
    // the product of a short decimal and the quantity is then exact.
    let mut unit = (line_amount / Decimal::from(qty)).round_dp(line_amount.scale() + 6);
    if unit.checked_mul(Decimal::from(qty)) != Some(line_amount) {
        return Err(InputError::new(
            path,
            format!("{line_amount} does not split evenly over {qty} units"),
        ));
    }
    if unit.scale() < line_amount.scale() {
        unit.rescale(line_amount.scale());
    }
    Ok(unit)
}

// ---- Shipment confirmation (MFN) ---------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfirmationWire {
    package_detail: PackageWire,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackageWire {
    package_reference_id: String,
    carrier_code: String,
    #[serde(default)]
    carrier_name: Option<String>,
    tracking_number: String,
    ship_date: String,
    #[serde(default)]
    ship_from_supply_source_id: Option<String>,
    order_items: Vec<PackageItemWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackageItemWire {
    order_item_id: String,
    quantity: i64,
}

/// Maps a `confirmShipment` body (`{marketplaceId, packageDetail}`) for
/// Amazon order `amazon_order_id` (the path parameter; the body does not
/// carry it) to a canonical `Shipment` keyed
/// `<channel>:<AmazonOrderId>:<packageReferenceId>` — Amazon treats the
/// package reference as the package's identity within its order, so a
/// resend with the same one edits the package rather than adding one.
///
/// - Carrier is `carrierName` when given (required for `carrierCode`
///   "Other"), else `carrierCode`; `warehouse` is `shipFromSupplySourceId`
///   (empty when not sent); lines carry `orderItemId` and no SKU (the body
///   names none); `fulfillment_request_id` is empty.
/// - Error paths start at the body (`packageDetail.shipDate`).
pub fn amazon_shipment_confirmation(
    channel: &str,
    amazon_order_id: &str,
    body: &[u8],
) -> Result<Shipment, InputError> {
    let wire: ConfirmationWire = parse_json(body)?;
    let p = wire.package_detail;
    let at = |f: &str| format!("packageDetail.{f}");
    non_empty("orderId", amazon_order_id)?;
    non_empty(&at("packageReferenceId"), &p.package_reference_id)?;
    non_empty(&at("trackingNumber"), &p.tracking_number)?;
    let shipped_at = timestamp(&at("shipDate"), &p.ship_date)?;
    let carrier = p
        .carrier_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(p.carrier_code);
    non_empty(&at("carrierCode"), &carrier)?;
    if p.order_items.is_empty() {
        return Err(InputError::new(
            at("orderItems"),
            "a package needs at least one item",
        ));
    }
    let lines = p
        .order_items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let item_at = |f: &str| at(&format!("orderItems[{i}].{f}"));
            non_empty(&item_at("orderItemId"), &item.order_item_id)?;
            Ok(ShipmentLine {
                quantity: quantity(&item_at("quantity"), item.quantity)?,
                line_id: item.order_item_id,
                sku: String::new(),
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    Ok(Shipment {
        id: format!("{channel}:{amazon_order_id}:{}", p.package_reference_id),
        order_id: order_id_for(channel, amazon_order_id),
        warehouse: p.ship_from_supply_source_id.unwrap_or_default(),
        external_id: p.package_reference_id,
        fulfillment_request_id: String::new(),
        lines,
        tracking: Tracking {
            carrier,
            number: p.tracking_number,
            url: None,
        },
        shipped_at,
        completes_request: false,
    })
}

/// Maps the `{"orderId": "...", "body": <confirmShipment body>}` bundle the
/// CLI reads; paths start with `body.`.
pub fn amazon_shipment_confirmation_bundle(
    channel: &str,
    bundle: &[u8],
) -> Result<Shipment, InputError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Bundle {
        order_id: String,
        body: Box<RawValue>,
    }
    let bundle: Bundle = parse_json(bundle)?;
    non_empty("orderId", &bundle.order_id)?;
    amazon_shipment_confirmation(channel, &bundle.order_id, bundle.body.get().as_bytes())
        .map_err(under("body"))
}

// ---- Listings feed quantities -------------------------------------------------

#[derive(Debug, Deserialize)]
struct FeedWire {
    messages: Vec<FeedMessageWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedMessageWire {
    sku: String,
    operation_type: String,
    #[serde(default)]
    attributes: Option<FeedAttributesWire>,
    #[serde(default)]
    patches: Vec<FeedPatchWire>,
}

#[derive(Debug, Deserialize)]
struct FeedAttributesWire {
    #[serde(default)]
    fulfillment_availability: Option<Vec<AvailabilityWire>>,
}

#[derive(Debug, Deserialize)]
struct FeedPatchWire {
    op: String,
    path: String,
    #[serde(default)]
    value: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct AvailabilityWire {
    fulfillment_channel_code: String,
    #[serde(default)]
    quantity: Option<i64>,
}

/// Maps a `JSON_LISTINGS_FEED` document to the quantities it sets: one
/// canonical position per `fulfillment_availability` entry (`location` =
/// `fulfillment_channel_code`, `on_hand` = `quantity`), taken from
/// `UPDATE`/`PARTIAL_UPDATE` attributes and from `PATCH` `replace`/`merge`
/// patches of `/attributes/fulfillment_availability`. Messages that set no
/// quantity (a `DELETE`, other attributes) yield none. The feed states no
/// time, so `as_of` is the caller's. Error paths:
/// `messages[1].attributes.fulfillment_availability[0].quantity`.
pub fn amazon_listings_feed_quantities(
    source: &str,
    body: &[u8],
    as_of: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<InventoryPosition>, InputError> {
    let feed: FeedWire = parse_json(body)?;
    let mut out = Vec::new();
    for (i, m) in feed.messages.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        non_empty(&format!("{at}.sku"), &m.sku)?;
        let mut entries: Vec<(String, Vec<AvailabilityWire>)> = Vec::new();
        match m.operation_type.as_str() {
            "UPDATE" | "PARTIAL_UPDATE" => {
                if let Some(list) = m.attributes.and_then(|a| a.fulfillment_availability) {
                    entries.push((format!("{at}.attributes.fulfillment_availability"), list));
                }
            }
            "PATCH" => {
                for (j, p) in m.patches.into_iter().enumerate() {
                    let pat = format!("{at}.patches[{j}]");
                    if p.path != "/attributes/fulfillment_availability" {
                        continue;
                    }
                    match p.op.as_str() {
                        "replace" | "merge" => {}
                        // A deleted availability states no quantity to show.
                        "delete" => continue,
                        other => {
                            return Err(InputError::new(
                                format!("{pat}.op"),
                                format!("unknown patch op {other:?}"),
                            ));
                        }
                    }
                    let value = p
                        .value
                        .ok_or_else(|| InputError::new(format!("{pat}.value"), "missing field"))?;
                    let list: Vec<AvailabilityWire> = parse_json(value.get().as_bytes())
                        .map_err(under(&format!("{pat}.value")))?;
                    entries.push((format!("{pat}.value"), list));
                }
            }
            "DELETE" => {}
            other => {
                return Err(InputError::new(
                    format!("{at}.operationType"),
                    format!("unknown operation type {other:?}"),
                ));
            }
        }
        for (path, list) in entries {
            for (k, a) in list.into_iter().enumerate() {
                let aat = format!("{path}[{k}]");
                non_empty(
                    &format!("{aat}.fulfillment_channel_code"),
                    &a.fulfillment_channel_code,
                )?;
                // Amazon-fulfilled (AFN) entries carry no quantity: Amazon counts those.
                let Some(q) = a.quantity else { continue };
                if q < 0 {
                    return Err(InputError::new(
                        format!("{aat}.quantity"),
                        "must not be negative",
                    ));
                }
                out.push(InventoryPosition {
                    sku: m.sku.clone(),
                    location: a.fulfillment_channel_code,
                    on_hand: q,
                    reserved: 0,
                    source: source.to_owned(),
                    as_of,
                });
            }
        }
    }
    Ok(out)
}
