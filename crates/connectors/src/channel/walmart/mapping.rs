//! Walmart Marketplace v3 purchase order (`GET /v3/orders/{purchaseOrderId}`)
//! to the canonical `Order`. Pure: no I/O.
//!
//! - The external id is `purchaseOrderId` (what is acknowledged, shipped and
//!   cancelled); `customerOrderId` may span several POs.
//! - Money arrives as JSON numbers and is read from the number's text.
//!   A `PRODUCT` charge is taken as the line's amount for `orderLineQuantity`
//!   units (every reference line has one unit) and split exactly per unit;
//!   its tax is the line tax. `SHIPPING` charges add to the order's shipping,
//!   their tax to the line tax.
//! - Walmart has no order status: each line carries `orderLineStatuses`, a
//!   split of its quantity. `Cancelled` units become `cancelled_quantity`,
//!   `Shipped`/`Delivered` units `shipped_quantity`.
//! - Walmart states no order total: `total` is the sum of every charge and
//!   its tax. `source_version` is the latest of `orderDate` and the lines'
//!   `statusDate` (epoch ms).

use crossdock_model::{
    Address, Currency, Customer, InventoryPosition, Money, Order, OrderLine, OrderStatus,
    TaxTreatment, order_id_for,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::InputError;
use crate::channel::amazon::mapping::per_unit;
use crate::input::{JsonDecimal, currency, non_empty, parse_json, under};

#[derive(Debug, Deserialize)]
struct Probe {
    #[serde(default)]
    order: Option<IgnoredAny>,
    #[serde(default, rename = "purchaseOrderId")]
    purchase_order_id: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct Wrapped {
    order: OrderWire,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderWire {
    purchase_order_id: String,
    #[serde(default)]
    customer_email_id: Option<String>,
    order_date: i64,
    #[serde(default)]
    shipping_info: Option<ShippingInfoWire>,
    order_lines: OrderLinesWire,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShippingInfoWire {
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    method_code: Option<String>,
    #[serde(default)]
    postal_address: Option<AddressWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressWire {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address1: Option<String>,
    #[serde(default)]
    address2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderLinesWire {
    order_line: Vec<LineWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineWire {
    line_number: String,
    item: ItemWire,
    #[serde(default)]
    charges: Option<ChargesWire>,
    order_line_quantity: QuantityWire,
    #[serde(default)]
    status_date: Option<i64>,
    #[serde(default)]
    order_line_statuses: Option<StatusesWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemWire {
    #[serde(default)]
    product_name: Option<String>,
    sku: String,
}

#[derive(Debug, Deserialize)]
struct ChargesWire {
    #[serde(default)]
    charge: Vec<ChargeWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChargeWire {
    charge_type: String,
    charge_amount: AmountWire,
    #[serde(default)]
    tax: Option<TaxWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaxWire {
    tax_amount: AmountWire,
}

#[derive(Debug, Deserialize)]
struct AmountWire {
    currency: String,
    amount: JsonDecimal,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuantityWire {
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusesWire {
    #[serde(default)]
    order_line_status: Vec<StatusWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusWire {
    status: String,
    status_quantity: QuantityWire,
}

/// Maps a Walmart purchase order: the bare order or `{"order": {...}}` (the
/// getAnOrder response). Error paths are relative to the document given.
pub fn walmart_order(channel: &str, body: &[u8]) -> Result<Order, InputError> {
    let probe: Probe = parse_json(body)?;
    if probe.order.is_some() && probe.purchase_order_id.is_none() {
        let wrapped: Wrapped = parse_json(body)?;
        map(channel, wrapped.order).map_err(under("order"))
    } else {
        map(channel, parse_json(body)?)
    }
}

/// Walmart quantities are strings (`"amount": "1"`).
fn units(path: &str, q: &QuantityWire) -> Result<u32, InputError> {
    q.amount
        .trim()
        .parse::<u32>()
        .map_err(|_| InputError::new(path, format!("expected a whole number, got {:?}", q.amount)))
}

fn amount(path: &str, a: &AmountWire, currency: Currency) -> Result<Decimal, InputError> {
    if a.currency != currency.as_str() {
        return Err(InputError::new(
            format!("{path}.currency"),
            format!("{} but the order is in {currency}", a.currency),
        ));
    }
    if a.amount.0.is_sign_negative() && !a.amount.0.is_zero() {
        return Err(InputError::new(
            format!("{path}.amount"),
            "must not be negative",
        ));
    }
    Ok(a.amount.0)
}

/// Walmart US sends ISO 3166 alpha-3 countries; the canonical model uses alpha-2.
fn country_alpha2(code: &str) -> String {
    match code.trim() {
        "USA" => "US",
        "CAN" => "CA",
        "MEX" => "MX",
        "PRI" => "PR",
        other => other,
    }
    .to_owned()
}

fn ms(path: &str, value: i64) -> Result<chrono::DateTime<chrono::Utc>, InputError> {
    chrono::DateTime::from_timestamp_millis(value).ok_or_else(|| {
        InputError::new(path, format!("{value} is not a time in epoch milliseconds"))
    })
}

fn map(channel: &str, wire: OrderWire) -> Result<Order, InputError> {
    let placed_at = ms("orderDate", wire.order_date)?;
    if wire.order_lines.order_line.is_empty() {
        return Err(InputError::new(
            "orderLines.orderLine",
            "an order needs at least one line",
        ));
    }
    // The order's currency is the first charge's; every other must match.
    let first_currency = wire
        .order_lines
        .order_line
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            l.charges
                .as_ref()
                .and_then(|c| c.charge.first())
                .map(|c| (i, c.charge_amount.currency.clone()))
        })
        .ok_or_else(|| InputError::new("orderLines.orderLine", "no line has a charge"))?;
    let currency = currency(
        &format!(
            "orderLines.orderLine[{}].charges.charge[0].chargeAmount.currency",
            first_currency.0
        ),
        &first_currency.1,
    )?;
    let mut source_version = wire.order_date;
    let mut shipping = Decimal::ZERO;
    let mut lines = Vec::with_capacity(wire.order_lines.order_line.len());
    for (i, line) in wire.order_lines.order_line.into_iter().enumerate() {
        let at = format!("orderLines.orderLine[{i}]");
        if line.line_number.trim().is_empty() {
            return Err(InputError::new(
                format!("{at}.lineNumber"),
                "must not be empty",
            ));
        }
        if line.item.sku.trim().is_empty() {
            return Err(InputError::new(
                format!("{at}.item.sku"),
                "must not be empty",
            ));
        }
        if let Some(d) = line.status_date {
            ms(&format!("{at}.statusDate"), d)?;
            source_version = source_version.max(d);
        }
        let qty = units(
            &format!("{at}.orderLineQuantity.amount"),
            &line.order_line_quantity,
        )?;
        let mut product = Decimal::ZERO;
        let mut tax = Decimal::ZERO;
        for (j, charge) in line
            .charges
            .map(|c| c.charge)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let cat = format!("{at}.charges.charge[{j}]");
            let value = amount(
                &format!("{cat}.chargeAmount"),
                &charge.charge_amount,
                currency,
            )?;
            match charge.charge_type.as_str() {
                "PRODUCT" => product += value,
                "SHIPPING" => shipping += value,
                other => {
                    return Err(InputError::new(
                        format!("{cat}.chargeType"),
                        format!("unknown charge type {other:?}"),
                    ));
                }
            }
            if let Some(t) = &charge.tax {
                tax += amount(&format!("{cat}.tax.taxAmount"), &t.tax_amount, currency)?;
            }
        }
        let (mut shipped, mut cancelled, mut accounted) = (0u32, 0u32, 0u32);
        let statuses = line
            .order_line_statuses
            .map(|s| s.order_line_status)
            .unwrap_or_default();
        for (j, st) in statuses.iter().enumerate() {
            let sat = format!("{at}.orderLineStatuses.orderLineStatus[{j}]");
            let n = units(&format!("{sat}.statusQuantity.amount"), &st.status_quantity)?;
            match st.status.as_str() {
                "Created" | "Acknowledged" => {}
                "Shipped" | "Delivered" => shipped += n,
                "Cancelled" => cancelled += n,
                // A refund follows a shipment; its units are already counted as shipped.
                "Refund" => continue,
                other => {
                    return Err(InputError::new(
                        format!("{sat}.status"),
                        format!("unknown line status {other:?}"),
                    ));
                }
            }
            accounted += n;
        }
        if accounted > qty {
            return Err(InputError::new(
                format!("{at}.orderLineStatuses"),
                format!("statuses cover {accounted} units but the line has {qty}"),
            ));
        }
        lines.push(OrderLine {
            line_id: line.line_number,
            sku: line.item.sku,
            title: line.item.product_name.unwrap_or_default(),
            quantity: qty,
            unit_price: Money::new(per_unit(&format!("{at}.charges"), product, qty)?, currency),
            discount: Money::zero(currency),
            tax: Money::new(tax, currency),
            shipped_quantity: shipped,
            cancelled_quantity: cancelled,
        });
    }
    let shipping = Money::new(shipping, currency);
    let mut order = Order {
        id: order_id_for(channel, &wire.purchase_order_id),
        channel: channel.to_owned(),
        external_id: wire.purchase_order_id,
        source_version,
        placed_at,
        currency,
        customer: Customer {
            external_id: None,
            email: wire.customer_email_id.unwrap_or_default(),
            name: wire
                .shipping_info
                .as_ref()
                .and_then(|s| s.postal_address.as_ref())
                .and_then(|a| a.name.clone())
                .unwrap_or_default(),
            phone: wire.shipping_info.as_ref().and_then(|s| s.phone.clone()),
        },
        shipping_address: None,
        billing_address: None,
        lines,
        shipping,
        total: shipping,
        tax_treatment: TaxTreatment::MarketplaceFacilitator,
        service_level: "standard".to_owned(),
        status: OrderStatus::Received,
        erp_ref: None,
        shipping_method: None,
        customer_group: None,
        gift: false,
        priority: 0,
        hold: None,
    };
    if let Some(info) = wire.shipping_info {
        if let Some(code) = info.method_code.filter(|c| !c.trim().is_empty()) {
            order.service_level = code.to_lowercase();
            order.shipping_method = Some(code);
        }
        order.shipping_address = info.postal_address.map(|a| Address {
            name: a.name.unwrap_or_default(),
            line1: a.address1.unwrap_or_default(),
            line2: a.address2.filter(|l| !l.trim().is_empty()),
            city: a.city.unwrap_or_default(),
            region: a.state.filter(|r| !r.trim().is_empty()),
            postal_code: a.postal_code.unwrap_or_default(),
            country: country_alpha2(a.country.as_deref().unwrap_or_default()),
        });
    }
    order.total = order
        .computed_total()
        .map_err(|e| InputError::new("orderLines", e.to_string()))?;
    Ok(order)
}

// ---- Inventory ----------------------------------------------------------------

/// The ship node a single-node payload (`/v3/inventory`, the 1.4 bulk feed)
/// applies to: the seller's default node, which those payloads do not name.
pub const WALMART_DEFAULT_NODE: &str = "default";

#[derive(Debug, Deserialize)]
struct InventoryProbe {
    #[serde(default)]
    sku: Option<IgnoredAny>,
    #[serde(default, rename = "Inventory")]
    feed_v14: Option<IgnoredAny>,
    #[serde(default)]
    inventory: Option<IgnoredAny>,
    #[serde(default)]
    elements: Option<IgnoredAny>,
    #[serde(default)]
    nodes: Option<IgnoredAny>,
}

/// `{unit, amount}`: inventory amounts are JSON integers (unlike order
/// quantities, which are strings).
#[derive(Debug, Deserialize)]
struct InventoryQtyWire {
    unit: String,
    amount: i64,
}

#[derive(Debug, Deserialize)]
struct SingleNodeWire {
    sku: String,
    quantity: InventoryQtyWire,
}

#[derive(Debug, Deserialize)]
struct FeedV14Wire {
    #[serde(rename = "Inventory")]
    inventory: Vec<SingleNodeWire>,
}

#[derive(Debug, Deserialize)]
struct FeedV15Wire {
    inventory: Vec<FeedItemWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedItemWire {
    sku: String,
    ship_nodes: Vec<FeedNodeWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedNodeWire {
    ship_node: String,
    quantity: InventoryQtyWire,
}

#[derive(Debug, Deserialize)]
struct MultiNodeWire {
    sku: String,
    nodes: Vec<NodeWire>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeWire {
    ship_node: String,
    input_qty: InventoryQtyWire,
}

#[derive(Debug, Deserialize)]
struct InventoriesPageWire {
    elements: InventoriesWire,
}

#[derive(Debug, Deserialize)]
struct InventoriesWire {
    inventories: Vec<MultiNodeWire>,
}

/// Maps a Walmart inventory payload to canonical positions (`source` as
/// given). Accepted shapes, all from Walmart's inventory API:
///
/// - `{sku, quantity: {unit, amount}}` (`GET`/`PUT /v3/inventory`): one
///   position at [`WALMART_DEFAULT_NODE`];
/// - the bulk feed `{InventoryHeader, Inventory: [...]}` (1.4, default node)
///   or `{inventoryHeader, inventory: [{sku, shipNodes: [...]}]}` (1.5);
/// - multi-node `{sku, nodes: [...]}` (`GET /v3/inventories/{sku}`) and its
///   page `{meta, elements: {inventories: [...]}}`: `on_hand` is
///   `inputQty` (what the seller stated); Walmart's `reservedQty` is left
///   out, since `reserved` is the hub's own count.
///
/// `unit` must be `EACH`. The payloads state no time: `as_of` is the
/// caller's. Error paths name the field (`Inventory[1].quantity.amount`).
pub fn walmart_inventory(
    source: &str,
    body: &[u8],
    as_of: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<InventoryPosition>, InputError> {
    let probe: InventoryProbe = parse_json(body)?;
    // `at` is the item's path prefix (for `sku`), `qty_at` the quantity's.
    let position = |at: &str, sku: &str, node: &str, qty_at: &str, q: &InventoryQtyWire| {
        if sku.trim().is_empty() {
            return Err(InputError::new(format!("{at}sku"), "must not be empty"));
        }
        Ok(InventoryPosition {
            sku: sku.to_owned(),
            location: node.to_owned(),
            on_hand: each(qty_at, q)?,
            reserved: 0,
            source: source.to_owned(),
            as_of,
        })
    };
    let multi = |at: &str, item: &MultiNodeWire| -> Result<Vec<InventoryPosition>, InputError> {
        item.nodes
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let nat = format!("{at}nodes[{j}].");
                non_empty(&format!("{nat}shipNode"), &n.ship_node)?;
                position(
                    at,
                    &item.sku,
                    &n.ship_node,
                    &format!("{nat}inputQty"),
                    &n.input_qty,
                )
            })
            .collect()
    };
    if probe.feed_v14.is_some() {
        let feed: FeedV14Wire = parse_json(body)?;
        feed.inventory
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("Inventory[{i}].");
                let qty_at = format!("{at}quantity");
                position(
                    &at,
                    &item.sku,
                    WALMART_DEFAULT_NODE,
                    &qty_at,
                    &item.quantity,
                )
            })
            .collect()
    } else if probe.inventory.is_some() {
        let feed: FeedV15Wire = parse_json(body)?;
        let mut out = Vec::new();
        for (i, item) in feed.inventory.iter().enumerate() {
            for (j, n) in item.ship_nodes.iter().enumerate() {
                let nat = format!("inventory[{i}].shipNodes[{j}].");
                non_empty(&format!("{nat}shipNode"), &n.ship_node)?;
                out.push(position(
                    &format!("inventory[{i}]."),
                    &item.sku,
                    &n.ship_node,
                    &format!("{nat}quantity"),
                    &n.quantity,
                )?);
            }
        }
        Ok(out)
    } else if probe.elements.is_some() {
        let page: InventoriesPageWire = parse_json(body)?;
        let mut out = Vec::new();
        for (i, item) in page.elements.inventories.iter().enumerate() {
            out.extend(multi(&format!("elements.inventories[{i}]."), item)?);
        }
        Ok(out)
    } else if probe.nodes.is_some() {
        let item: MultiNodeWire = parse_json(body)?;
        multi("", &item)
    } else if probe.sku.is_some() {
        let item: SingleNodeWire = parse_json(body)?;
        Ok(vec![position(
            "",
            &item.sku,
            WALMART_DEFAULT_NODE,
            "quantity",
            &item.quantity,
        )?])
    } else {
        Err(InputError::new(
            "body",
            "not a Walmart inventory payload: expected sku, nodes, Inventory, inventory \
             or elements.inventories",
        ))
    }
}

/// Units of an `EACH` quantity; any other unit is refused (nothing here converts).
fn each(path: &str, q: &InventoryQtyWire) -> Result<i64, InputError> {
    if q.unit != "EACH" {
        return Err(InputError::new(
            format!("{path}.unit"),
            format!("unit {:?}: only EACH is supported", q.unit),
        ));
    }
    if q.amount < 0 {
        return Err(InputError::new(
            format!("{path}.amount"),
            "must not be negative",
        ));
    }
    Ok(q.amount)
}
