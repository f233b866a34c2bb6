//! The webstore's order JSON to the canonical `Order`. Pure: no I/O.

use crossdock_model::{
    Address, Customer, Order, OrderLine, OrderStatus, TaxTreatment, order_id_for,
};
use serde::Deserialize;

use crate::InputError;
use crate::input::{WireDecimal, currency, money, non_empty, quantity, timestamp};

#[derive(Debug, Deserialize)]
pub(super) struct OrderWire {
    pub(super) order_id: String,
    pub(super) sequence: i64,
    pub(super) status: String,
    pub(super) created_at: String,
    pub(super) currency: String,
    pub(super) buyer: BuyerWire,
    #[serde(default)]
    pub(super) ship_to: Option<AddressWire>,
    pub(super) items: Vec<ItemWire>,
    pub(super) shipping: WireDecimal,
    pub(super) total: WireDecimal,
    #[serde(default)]
    pub(super) service_level: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct BuyerWire {
    #[serde(default)]
    pub(super) id: Option<String>,
    pub(super) email: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) phone: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AddressWire {
    pub(super) name: String,
    pub(super) line1: String,
    #[serde(default)]
    pub(super) line2: Option<String>,
    pub(super) city: String,
    #[serde(default)]
    pub(super) region: Option<String>,
    pub(super) postal_code: String,
    pub(super) country: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ItemWire {
    pub(super) line_id: String,
    pub(super) sku: String,
    #[serde(default)]
    pub(super) title: String,
    pub(super) quantity: i64,
    pub(super) unit_price: WireDecimal,
    pub(super) discount: WireDecimal,
    pub(super) tax: WireDecimal,
}

pub(super) fn map_address(a: AddressWire) -> Result<Address, InputError> {
    non_empty("ship_to.line1", &a.line1)?;
    non_empty("ship_to.country", &a.country)?;
    Ok(Address {
        name: a.name,
        line1: a.line1,
        line2: a.line2.filter(|l| !l.trim().is_empty()),
        city: a.city,
        region: a.region.filter(|r| !r.trim().is_empty()),
        postal_code: a.postal_code,
        country: a.country,
    })
}

/// The webstore order `wire` as the canonical order of `channel`.
pub(super) fn map_order(channel: &str, wire: OrderWire) -> Result<Order, InputError> {
    let currency = currency("currency", &wire.currency)?;
    let placed_at = timestamp("created_at", &wire.created_at)?;
    non_empty("buyer.email", &wire.buyer.email)?;
    if wire.items.is_empty() {
        return Err(InputError::new("items", "an order needs at least one item"));
    }
    let lines = wire
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |field: &str| format!("items[{i}].{field}");
            non_empty(&at("line_id"), &item.line_id)?;
            non_empty(&at("sku"), &item.sku)?;
            Ok(OrderLine {
                quantity: quantity(&at("quantity"), item.quantity)?,
                unit_price: money(&at("unit_price"), item.unit_price, currency)?,
                discount: money(&at("discount"), item.discount, currency)?,
                tax: money(&at("tax"), item.tax, currency)?,
                line_id: item.line_id,
                sku: item.sku,
                title: item.title,
                shipped_quantity: 0,
                cancelled_quantity: 0,
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    Ok(Order {
        id: order_id_for(channel, &wire.order_id),
        channel: channel.to_owned(),
        external_id: wire.order_id,
        source_version: wire.sequence,
        placed_at,
        currency,
        customer: Customer {
            external_id: wire.buyer.id,
            email: wire.buyer.email,
            name: wire.buyer.name,
            phone: wire.buyer.phone,
        },
        shipping_address: wire.ship_to.map(map_address).transpose()?,
        billing_address: None,
        lines,
        shipping: money("shipping", wire.shipping, currency)?,
        total: money("total", wire.total, currency)?,
        // The webstore is the merchant of record: it never collects tax on our behalf.
        tax_treatment: TaxTreatment::MerchantCollected,
        service_level: wire.service_level.unwrap_or_else(|| "standard".to_owned()),
        status: OrderStatus::Received,
        erp_ref: None,
        shipping_method: None,
        customer_group: None,
        gift: false,
        priority: 0,
        hold: None,
    })
}
