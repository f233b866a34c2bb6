//! Orders v0: `getOrders` with its `NextToken` paging, `getOrder`,
//! `getOrderItems`, and `confirmShipment`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::MAX_PAGE;
use super::state::{AmazonOrder, AmazonSim, AmazonState, OrderItem, Package, Paging, Status};
use super::wire::{
    Pairs, Refusal, bad_input, invalid_input, iso, money, opaque_token, parse_time, single,
    sp_error, sp_refusal,
};
use crate::wire::lock;

/// `LastUpdatedBefore`/`CreatedBefore` must be at least this long ago.
const SETTLE: chrono::Duration = chrono::Duration::minutes(2);

const ORDERS_PARAMS: [&str; 8] = [
    "MarketplaceIds",
    "CreatedAfter",
    "CreatedBefore",
    "LastUpdatedAfter",
    "LastUpdatedBefore",
    "OrderStatuses",
    "MaxResultsPerPage",
    "NextToken",
];

impl AmazonSim {
    /// The `Order` document Amazon shows (ordersV0.json `Order`): no total,
    /// address or buyer while Pending.
    fn order_doc(&self, o: &AmazonOrder) -> Value {
        let c = &self.config;
        let (shipped, unshipped) = o.units();
        let mut doc = json!({
            "AmazonOrderId": o.id,
            "PurchaseDate": iso(o.purchased),
            "LastUpdateDate": iso(o.updated),
            "OrderStatus": o.status.as_str(),
            "FulfillmentChannel": "MFN",
            "SalesChannel": "Amazon.com",
            "ShipServiceLevel": if o.expedited { "Expedited" } else { "Std US D2D Dom" },
            "NumberOfItemsShipped": shipped,
            "NumberOfItemsUnshipped": unshipped,
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": c.marketplace_id,
            "ShipmentServiceLevelCategory": if o.expedited { "Expedited" } else { "Standard" },
            "OrderType": "StandardOrder",
            "EarliestShipDate": iso(o.purchased + chrono::Duration::days(1)),
            "LatestShipDate": iso(o.purchased + chrono::Duration::days(3)),
            "IsBusinessOrder": false,
            "IsPrime": false,
            "IsPremiumOrder": false,
            "IsGlobalExpressEnabled": false,
            "IsReplacementOrder": false,
            "IsSoldByAB": false,
            "IsISPU": false,
            "IsAccessPointOrder": false,
        });
        if o.status != Status::Pending {
            doc["OrderTotal"] = money(&c.currency, o.total());
            doc["ShippingAddress"] = json!({
                "Name": o.buyer,
                "AddressLine1": format!("{} Main St", o.street),
                "City": o.city.0,
                "StateOrRegion": o.city.1,
                "PostalCode": o.city.2,
                "CountryCode": "US",
                "AddressType": "Residential",
            });
            doc["BuyerInfo"] = json!({
                "BuyerEmail": format!("{}@marketplace.amazon.com", o.id.replace('-', "")),
                "BuyerName": o.buyer,
            });
        }
        doc
    }

    /// An `OrderItem` (ordersV0.json): no prices while Pending.
    fn item_doc(&self, o: &AmazonOrder, i: &OrderItem) -> Value {
        let c = &self.config;
        let mut doc = json!({
            "ASIN": format!("B0{}", &i.id[..8]),
            "SellerSKU": i.sku,
            "OrderItemId": i.id,
            "Title": format!("Item {}", i.sku),
            "QuantityOrdered": i.quantity,
            "QuantityShipped": o.shipped(&i.id),
            "ProductInfo": { "NumberOfItems": "1" },
            "IsGift": "false",
            "IsTransparency": false,
        });
        if o.status != Status::Pending {
            doc["ItemPrice"] = money(&c.currency, i.price);
            doc["ItemTax"] = money(&c.currency, i.tax);
            doc["ShippingPrice"] = money(&c.currency, i.shipping);
            doc["ShippingTax"] = money(&c.currency, Decimal::ZERO);
            doc["ShippingDiscount"] = money(&c.currency, Decimal::ZERO);
            doc["PromotionDiscount"] = money(&c.currency, i.discount);
        }
        doc
    }
}

pub(super) async fn get_orders(State(sim): State<Arc<AmazonSim>>, Query(pairs): Pairs) -> Response {
    match list_orders(&sim, &pairs) {
        Ok(v) => v,
        Err(r) => r.into_response(),
    }
}

fn list_orders(sim: &AmazonSim, pairs: &[(String, String)]) -> Result<Response, Refusal> {
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !ORDERS_PARAMS.contains(&k.as_str()))
    {
        return Err(bad_input(format!("Unknown parameter {k}")));
    }
    sim.check_marketplace(pairs, "MarketplaceIds")?;
    let mut state = lock(&sim.state);
    let paging_key = if let Some(token) = single(pairs, "NextToken")? {
        if !state.pages.contains_key(token) {
            state.counters.bad_next_tokens += 1;
            return Err(bad_input(format!(
                "Invalid NextToken: We could not decode your NextToken {token:?}"
            )));
        }
        token.to_owned()
    } else {
        let real_now = Utc::now();
        let latest = sim.now().min(real_now - SETTLE);
        let time = |k: &str| single(pairs, k)?.map(|v| parse_time(k, v)).transpose();
        let (created_after, created_before) = (time("CreatedAfter")?, time("CreatedBefore")?);
        let (updated_after, updated_before) =
            (time("LastUpdatedAfter")?, time("LastUpdatedBefore")?);
        let by_update = match (created_after, updated_after) {
            (Some(_), Some(_)) => {
                return Err(bad_input(
                    "CreatedAfter and LastUpdatedAfter cannot both be given",
                ));
            }
            (None, None) => {
                return Err(bad_input(
                    "One of CreatedAfter or LastUpdatedAfter is required",
                ));
            }
            (Some(_), None) if updated_before.is_some() => {
                return Err(bad_input(
                    "LastUpdatedBefore cannot be combined with CreatedAfter",
                ));
            }
            (None, Some(_)) if created_before.is_some() => {
                return Err(bad_input(
                    "CreatedBefore cannot be combined with LastUpdatedAfter",
                ));
            }
            (_, u) => u.is_some(),
        };
        let (after, before, names) = if by_update {
            (
                updated_after,
                updated_before,
                ("LastUpdatedAfter", "LastUpdatedBefore"),
            )
        } else {
            (
                created_after,
                created_before,
                ("CreatedAfter", "CreatedBefore"),
            )
        };
        let after = after.unwrap_or_default();
        // Amazon's clock is `sim.now()`; its "two minutes ago" is on the real clock.
        if let Some(b) = before {
            if b > real_now - SETTLE {
                return Err(bad_input(format!(
                    "Invalid Input: {} must be at least two minutes before the current time",
                    names.1
                )));
            }
            if b < after {
                return Err(bad_input(format!("{} must be after {}", names.1, names.0)));
            }
        }
        let before = before.unwrap_or(latest);
        let statuses: Option<Vec<&str>> =
            single(pairs, "OrderStatuses")?.map(|s| s.split(',').map(str::trim).collect());
        let page_size = match single(pairs, "MaxResultsPerPage")? {
            None => MAX_PAGE,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(bad_input(format!(
                        "Invalid MaxResultsPerPage {v:?}: must be 1 to 100"
                    )));
                }
            },
        }
        .min(sim.config.orders_page_size);
        let now = Instant::now();
        let mut matched: Vec<(&AmazonOrder, DateTime<Utc>)> = state
            .orders
            .values()
            .filter(|o| o.visible_at <= now)
            .filter(|o| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.contains(&o.status.as_str()))
            })
            .filter_map(|o| {
                let t = if by_update { o.updated } else { o.purchased };
                (t >= after && t <= before).then_some((o, t))
            })
            .collect();
        matched.sort_by_key(|(o, t)| (*t, o.id.clone()));
        let ids = matched.into_iter().map(|(o, _)| o.id.clone()).collect();
        let key = opaque_token(&mut lock(&sim.base.rng));
        state.pages.insert(
            key.clone(),
            Paging {
                ids,
                offset: 0,
                page_size,
            },
        );
        key
    };
    let Some(paging) = state.pages.remove(&paging_key) else {
        return Err(bad_input("Invalid NextToken"));
    };
    let end = (paging.offset + paging.page_size).min(paging.ids.len());
    let orders: Vec<Value> = paging.ids[paging.offset..end]
        .iter()
        .filter_map(|id| state.orders.get(id).map(|o| sim.order_doc(o)))
        .collect();
    let mut payload = json!({ "Orders": orders, "LastUpdatedBefore": iso(Utc::now() - SETTLE) });
    if end < paging.ids.len() {
        let next = opaque_token(&mut lock(&sim.base.rng));
        payload["NextToken"] = next.clone().into();
        state.pages.insert(
            next,
            Paging {
                offset: end,
                ..paging
            },
        );
    }
    Ok(Json(json!({ "payload": payload })).into_response())
}

pub(super) async fn get_order(
    State(sim): State<Arc<AmazonSim>>,
    Path(order_id): Path<String>,
) -> Response {
    let state = lock(&sim.state);
    match state.orders.get(&order_id) {
        Some(o) => Json(json!({ "payload": sim.order_doc(o) })).into_response(),
        None => sp_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Order {order_id} not found"),
        ),
    }
}

pub(super) async fn get_order_items(
    State(sim): State<Arc<AmazonSim>>,
    Path(order_id): Path<String>,
    Query(pairs): Pairs,
) -> Response {
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "NextToken") {
        return invalid_input(format!("Unknown parameter {k}"));
    }
    let mut state = lock(&sim.state);
    let offset = match single(&pairs, "NextToken") {
        Err(r) => return r.into_response(),
        Ok(None) => 0,
        Ok(Some(token)) => match state.item_pages.get(token) {
            Some((id, offset)) if *id == order_id => *offset,
            _ => {
                state.counters.bad_next_tokens += 1;
                return invalid_input(format!(
                    "Invalid NextToken: We could not decode your NextToken {token:?}"
                ));
            }
        },
    };
    let Some(o) = state.orders.get(&order_id) else {
        return sp_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Order {order_id} not found"),
        );
    };
    let end = (offset + sim.config.items_page_size).min(o.items.len());
    let items: Vec<Value> = o.items[offset.min(end)..end]
        .iter()
        .map(|i| sim.item_doc(o, i))
        .collect();
    let more = end < o.items.len();
    let mut payload = json!({ "AmazonOrderId": order_id, "OrderItems": items });
    if more {
        let token = opaque_token(&mut lock(&sim.base.rng));
        payload["NextToken"] = token.clone().into();
        state.item_pages.insert(token, (order_id.clone(), end));
    }
    Json(json!({ "payload": payload })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfirmShipmentBody {
    marketplace_id: String,
    package_detail: PackageDetailBody,
    #[serde(default)]
    cod_collection_method: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PackageDetailBody {
    package_reference_id: String,
    carrier_code: String,
    #[serde(default)]
    carrier_name: Option<String>,
    #[serde(default)]
    shipping_method: Option<String>,
    tracking_number: String,
    ship_date: String,
    #[serde(default)]
    ship_from_supply_source_id: Option<String>,
    order_items: Vec<ConfirmItemBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfirmItemBody {
    order_item_id: String,
    quantity: i64,
    #[serde(default)]
    transparency_codes: Option<Vec<String>>,
}

pub(super) async fn confirm_shipment(
    State(sim): State<Arc<AmazonSim>>,
    Path(order_id): Path<String>,
    body: Bytes,
) -> Response {
    match apply_confirmation(&sim, &order_id, &body) {
        Ok(r) => r,
        Err(r) => r.into_response(),
    }
}

fn apply_confirmation(
    sim: &Arc<AmazonSim>,
    order_id: &str,
    body: &[u8],
) -> Result<Response, Refusal> {
    let request: ConfirmShipmentBody = {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let (field, message) = crate::wire::describe_path_error(&e);
            invalid_input(format!("Invalid request body: {field}: {message}"))
        })?
    };
    let _ = (
        &request.cod_collection_method,
        &request.package_detail.shipping_method,
        &request.package_detail.ship_from_supply_source_id,
    );
    let p = &request.package_detail;
    if request.marketplace_id != sim.config.marketplace_id {
        return Err(bad_input(format!(
            "Invalid marketplaceId {:?}",
            request.marketplace_id
        )));
    }
    let reference = p.package_reference_id.trim();
    if reference.is_empty()
        || !reference.bytes().all(|b| b.is_ascii_digit())
        || reference.bytes().all(|b| b == b'0')
    {
        return Err(bad_input(format!(
            "packageDetail.packageReferenceId {reference:?} must be a positive number"
        )));
    }
    if p.carrier_code.trim().is_empty() {
        return Err(bad_input("packageDetail.carrierCode is required"));
    }
    if p.carrier_code == "Other"
        && p.carrier_name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
    {
        return Err(bad_input(
            "packageDetail.carrierName is required when carrierCode is Other",
        ));
    }
    if p.tracking_number.trim().is_empty() {
        return Err(bad_input("packageDetail.trackingNumber is required"));
    }
    parse_time("packageDetail.shipDate", &p.ship_date)?;
    if p.order_items.is_empty() {
        return Err(bad_input("packageDetail.orderItems must not be empty"));
    }
    let mut state = lock(&sim.state);
    let Some(order) = state.orders.get(order_id) else {
        return Err(sp_refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Order {order_id} not found"),
        ));
    };
    let edit = order.packages.contains_key(reference);
    let refuse = |state: &mut AmazonState, message: String, duplicate: bool| {
        state.counters.confirmations_refused += 1;
        if duplicate {
            state.counters.duplicate_packages += 1;
        }
        Err(bad_input(message))
    };
    // A Shipped order takes edits of its packages; a new package on it
    // necessarily exceeds the ordered units and is refused below.
    if matches!(order.status, Status::Pending | Status::Canceled) {
        let status = order.status.as_str();
        return refuse(
            &mut state,
            format!("Order {order_id} is {status} and cannot be confirmed"),
            false,
        );
    }
    let mut items: BTreeMap<String, u32> = BTreeMap::new();
    for (i, item) in p.order_items.iter().enumerate() {
        let Some(line) = order.items.iter().find(|l| l.id == item.order_item_id) else {
            let id = &item.order_item_id;
            return refuse(
                &mut state,
                format!(
                    "packageDetail.orderItems[{i}].orderItemId {id:?} is not in order {order_id}"
                ),
                false,
            );
        };
        let _ = &item.transparency_codes;
        let quantity = match u32::try_from(item.quantity) {
            Ok(q) if q >= 1 => q,
            _ => {
                return refuse(
                    &mut state,
                    format!("packageDetail.orderItems[{i}].quantity must be at least 1"),
                    false,
                );
            }
        };
        *items.entry(line.id.clone()).or_default() += quantity;
    }
    // Units in the other packages plus this one must not exceed what was ordered.
    for (item_id, quantity) in &items {
        let ordered = order
            .items
            .iter()
            .find(|l| &l.id == item_id)
            .map_or(0, |l| l.quantity);
        let elsewhere: u32 = order
            .packages
            .iter()
            .filter(|(r, _)| r.as_str() != reference)
            .filter_map(|(_, p)| p.items.get(item_id))
            .sum();
        if elsewhere + quantity > ordered {
            return refuse(
                &mut state,
                format!(
                    "Item {item_id}: {quantity} more units would exceed the {ordered} ordered \
                     ({elsewhere} already confirmed in other packages)"
                ),
                !edit,
            );
        }
    }
    let now = sim.now();
    let notice = {
        let Some(order) = state.orders.get_mut(order_id) else {
            return Err(sp_refusal(
                StatusCode::NOT_FOUND,
                "NotFound",
                "Order not found",
            ));
        };
        order
            .packages
            .insert(reference.to_owned(), Package { items });
        let (_, unshipped) = order.units();
        let status = if unshipped == 0 {
            Status::Shipped
        } else {
            Status::PartiallyShipped
        };
        let changed = status != order.status;
        order.status = status;
        order.updated = now;
        changed.then(|| sim.notification(order, "OrderStatusChange", "Shipment confirmed"))
    };
    if edit {
        state.counters.package_edits += 1;
    } else {
        state.counters.shipments_confirmed += 1;
    }
    drop(state);
    if let Some(notice) = notice {
        sim.notify(notice);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
