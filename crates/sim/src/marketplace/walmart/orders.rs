//! Purchase orders: `GET /v3/orders` with its `nextCursor` paging,
//! `GET /v3/orders/{po}` and acknowledging a PO.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::state::{LineState, WalmartOrder, WalmartSim, WalmartState};
use super::wire::{
    bad_request, encode_query, iso, money, now_ms, parse_time, quantity, walmart_error,
};
use crate::wire::lock;

/// Walmart serves orders created in the last 180 days.
const ORDER_WINDOW_MS: i64 = 180 * 24 * 3_600 * 1_000;
/// `createdStartDate` when none is given: now − 7 days (the spec's default).
const DEFAULT_CREATED_WINDOW_MS: i64 = 7 * 24 * 3_600 * 1_000;
const DEFAULT_PAGE_LIMIT: usize = 100;
const MAX_PAGE_LIMIT: usize = 200;

impl WalmartSim {
    pub(super) fn order_json(&self, o: &WalmartOrder) -> Value {
        let currency = self.config.currency.as_str();
        let lines: Vec<Value> = o
            .lines
            .iter()
            .map(|l| {
                let mut charges = vec![json!({
                    "chargeType": "PRODUCT",
                    "chargeName": "ItemPrice",
                    "chargeAmount": money(currency, l.amount),
                    "tax": { "taxName": "Tax1", "taxAmount": money(currency, l.tax) }
                })];
                if let Some((fee, tax)) = l.shipping {
                    charges.push(json!({
                        "chargeType": "SHIPPING",
                        "chargeName": "Shipping",
                        "chargeAmount": money(currency, fee),
                        "tax": { "taxName": "Tax1", "taxAmount": money(currency, tax) }
                    }));
                }
                let mut statuses = Vec::new();
                let open = l.open_units();
                if open > 0 {
                    let status = match l.open_state {
                        LineState::Created => "Created",
                        LineState::Acknowledged => "Acknowledged",
                    };
                    statuses.push(json!({ "status": status, "statusQuantity": quantity(open) }));
                }
                for s in &l.shipped {
                    statuses.push(json!({
                        "status": "Shipped",
                        "statusQuantity": quantity(s.quantity),
                        "trackingInfo": s.tracking,
                    }));
                }
                for c in &l.cancelled {
                    statuses.push(json!({
                        "status": "Cancelled",
                        "statusQuantity": quantity(c.quantity),
                        "cancellationReason": c.reason,
                    }));
                }
                json!({
                    "lineNumber": l.line_number,
                    "item": { "productName": format!("Item {}", l.sku), "sku": l.sku },
                    "charges": { "charge": charges },
                    "orderLineQuantity": quantity(l.quantity),
                    "statusDate": l.status_date,
                    "orderLineStatuses": { "orderLineStatus": statuses },
                    "fulfillment": {
                        "fulfillmentOption": "S2H",
                        "shipMethod": o.method_code.to_ascii_uppercase(),
                        "pickUpDateTime": o.order_date + 2 * 86_400_000
                    }
                })
            })
            .collect();
        json!({
            "purchaseOrderId": o.purchase_order_id,
            "customerOrderId": o.customer_order_id,
            "customerEmailId": o.customer_email_id,
            "orderType": "REGULAR",
            "orderDate": o.order_date,
            "shippingInfo": {
                "phone": o.phone,
                "estimatedDeliveryDate": o.order_date + 5 * 86_400_000,
                "estimatedShipDate": o.order_date + 86_400_000,
                "methodCode": o.method_code,
                "postalAddress": {
                    "name": o.name,
                    "address1": o.address1,
                    "city": o.city,
                    "state": o.state,
                    "postalCode": o.postal_code,
                    "country": "USA",
                    "addressType": "RESIDENTIAL"
                }
            },
            "orderLines": { "orderLine": lines }
        })
    }
}

fn no_orders() -> Response {
    walmart_error(
        StatusCode::NOT_FOUND,
        "CONTENT_NOT_FOUND.GMP_ORDER_API",
        "data",
        "No Orders found",
    )
}

/// The query keys `GET /v3/orders` takes (Walmart refuses others).
const ORDER_QUERY_KEYS: [&str; 21] = [
    "sku",
    "customerOrderId",
    "purchaseOrderId",
    "status",
    "createdStartDate",
    "createdEndDate",
    "fromExpectedShipDate",
    "toExpectedShipDate",
    "lastModifiedStartDate",
    "lastModifiedEndDate",
    "limit",
    "productInfo",
    "shipNodeType",
    "shippingProgramType",
    "replacementInfo",
    "orderType",
    "hasMoreElements",
    "soIndex",
    "poIndex",
    "partnerId",
    "sellerId",
];

pub(super) async fn list_orders(
    State(sim): State<Arc<WalmartSim>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match list_orders_inner(&sim, &query) {
        Ok(r) | Err(r) => r,
    }
}

// Both arms are answers to send; `?` keeps the checks readable.
#[allow(clippy::result_large_err)]
fn list_orders_inner(
    sim: &WalmartSim,
    query: &HashMap<String, String>,
) -> Result<Response, Response> {
    if let Some(key) = query
        .keys()
        .find(|k| !ORDER_QUERY_KEYS.contains(&k.as_str()))
    {
        return Err(bad_request(
            "GMP_ORDER_API",
            key,
            format!("unknown query parameter {key}"),
        ));
    }
    let time = |key: &str| query.get(key).map(|v| parse_time(key, v)).transpose();
    let now = now_ms();
    let created_start = time("createdStartDate")
        .map_err(|r| *r)?
        .unwrap_or(now - DEFAULT_CREATED_WINDOW_MS)
        .max(now - ORDER_WINDOW_MS);
    // Pinned on the first page and carried in the cursor, so orders placed
    // while a client pages do not shift the pages.
    let created_end = time("createdEndDate").map_err(|r| *r)?.unwrap_or(now);
    let modified_start = time("lastModifiedStartDate").map_err(|r| *r)?;
    let modified_end = time("lastModifiedEndDate").map_err(|r| *r)?;
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE_LIMIT,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
            _ => {
                return Err(bad_request(
                    "GMP_ORDER_API",
                    "limit",
                    format!(
                        "limit must be a whole number within 1..={MAX_PAGE_LIMIT}, got {raw:?}"
                    ),
                ));
            }
        },
    };
    let offset = match query.get("poIndex") {
        None => 0,
        Some(raw) => raw.trim().parse::<usize>().map_err(|_| {
            bad_request(
                "GMP_ORDER_API",
                "poIndex",
                format!("invalid cursor index {raw:?}"),
            )
        })?,
    };
    let status = query.get("status").map(String::as_str);
    let mut state = lock(&sim.state);
    state.expire_unacknowledged();
    let mut matching: Vec<&WalmartOrder> = state
        .orders
        .values()
        .filter(|o| o.visible_at <= now)
        .filter(|o| o.order_date >= created_start && o.order_date <= created_end)
        .filter(|o| modified_start.is_none_or(|s| o.last_modified() >= s))
        .filter(|o| modified_end.is_none_or(|e| o.last_modified() <= e))
        .filter(|o| {
            query
                .get("purchaseOrderId")
                .is_none_or(|id| &o.purchase_order_id == id)
        })
        .filter(|o| {
            query
                .get("customerOrderId")
                .is_none_or(|id| &o.customer_order_id == id)
        })
        .filter(|o| {
            query
                .get("sku")
                .is_none_or(|s| o.lines.iter().any(|l| &l.sku == s))
        })
        .filter(|o| {
            status.is_none_or(|s| {
                sim.order_json(o)["orderLines"]["orderLine"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|l| {
                        l["orderLineStatuses"]["orderLineStatus"]
                            .as_array()
                            .into_iter()
                            .flatten()
                    })
                    .any(|st| st["status"] == s)
            })
        })
        .collect();
    // Newest first, as Walmart lists them; the PO id breaks ties.
    matching.sort_by(|a, b| {
        b.order_date
            .cmp(&a.order_date)
            .then_with(|| a.purchase_order_id.cmp(&b.purchase_order_id))
    });
    let total = matching.len();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| sim.order_json(o))
        .collect();
    if page.is_empty() {
        return Ok(no_orders());
    }
    let mut meta = json!({ "totalCount": total, "limit": limit });
    let next = offset + page.len();
    if next < total {
        let mut cursor = format!(
            "?limit={limit}&hasMoreElements=true&soIndex={total}&poIndex={next}&partnerId=100009&sellerId=8&createdStartDate={}&createdEndDate={}",
            encode_query(&iso(created_start)),
            encode_query(&iso(created_end)),
        );
        for (key, value) in [
            ("lastModifiedStartDate", modified_start),
            ("lastModifiedEndDate", modified_end),
        ] {
            if let Some(v) = value {
                cursor.push_str(&format!("&{key}={}", encode_query(&iso(v))));
            }
        }
        for key in ["status", "sku", "purchaseOrderId", "customerOrderId"] {
            if let Some(v) = query.get(key) {
                cursor.push_str(&format!("&{key}={}", encode_query(v)));
            }
        }
        meta["nextCursor"] = Value::String(cursor);
    }
    Ok(Json(json!({ "list": { "meta": meta, "elements": { "order": page } } })).into_response())
}

pub(super) fn order_not_found(po: &str) -> Response {
    walmart_error(
        StatusCode::NOT_FOUND,
        "CONTENT_NOT_FOUND.GMP_ORDER_API",
        "purchaseOrderId",
        format!("Order not found for purchaseOrderId {po}"),
    )
}

/// The PO if it exists and is visible yet, its acknowledgement deadline
/// applied.
pub(super) fn visible<'s>(state: &'s mut WalmartState, po: &str) -> Option<&'s mut WalmartOrder> {
    let now = now_ms();
    let order = state.orders.get_mut(po).filter(|o| o.visible_at <= now)?;
    state.counters.unacknowledged_cancelled_units += order.expire_unacknowledged(now);
    Some(order)
}

pub(super) async fn get_order(
    State(sim): State<Arc<WalmartSim>>,
    Path(po): Path<String>,
) -> Response {
    let mut state = lock(&sim.state);
    match visible(&mut state, &po) {
        Some(o) => Json(json!({ "order": sim.order_json(o) })).into_response(),
        None => order_not_found(&po),
    }
}

pub(super) async fn acknowledge(
    State(sim): State<Arc<WalmartSim>>,
    Path(po): Path<String>,
) -> Response {
    let mut state = lock(&sim.state);
    let Some(order) = visible(&mut state, &po) else {
        return order_not_found(&po);
    };
    let now = now_ms();
    for line in &mut order.lines {
        if line.open_state == LineState::Created && line.open_units() > 0 {
            line.open_state = LineState::Acknowledged;
            line.status_date = now;
        }
    }
    let body = json!({ "order": sim.order_json(order) });
    state.counters.acknowledgements += 1;
    Json(body).into_response()
}
