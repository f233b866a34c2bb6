//! The Admin REST API: orders (with the `page_info` cursor), fulfillment
//! orders and fulfillments, in Shopify's JSON.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64_URL;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::MAX_LIMIT;
use super::state::{
    Address, Fulfillment, FulfillmentOrder, ShopifyOrder, ShopifySim, ShopifyState,
};
use super::wire::{bad_param, gid, money, not_found, rest_error};
use crate::fixtures::form_pairs;
use crate::wire::lock;

/// Shopify's default REST page.
const DEFAULT_LIMIT: usize = 50;

// ---------------------------------------------------------------------------
// The Admin API

impl ShopifySim {
    fn money_set(&self, d: Decimal) -> Value {
        let m = json!({ "amount": money(d), "currency_code": self.config.currency });
        json!({ "shop_money": m, "presentment_money": m })
    }

    fn address_json(&self, a: &Address) -> Value {
        json!({
            "first_name": a.first, "last_name": a.last, "name": format!("{} {}", a.first, a.last),
            "address1": a.line1, "address2": null, "city": a.city, "province": a.province,
            "province_code": a.province, "zip": a.zip, "country": "United States",
            "country_code": "US", "company": null, "phone": null,
            "latitude": null, "longitude": null
        })
    }

    pub(super) fn order_json(&self, o: &ShopifyOrder) -> Value {
        let cur = &self.config.currency;
        let rate = 0.0825;
        let mut subtotal_gross = Decimal::ZERO;
        let mut discounts = Decimal::ZERO;
        let mut tax = Decimal::ZERO;
        let fulfilled = |line_id: u64| -> u32 {
            o.fulfillments
                .iter()
                .flat_map(|f| &f.lines)
                .filter(|(id, _)| *id == line_id)
                .map(|(_, q)| q)
                .sum()
        };
        let line_items: Vec<Value> = o
            .lines
            .iter()
            .map(|l| {
                let v = &self.variants[l.variant];
                let gross = l.price * Decimal::from(l.quantity);
                subtotal_gross += gross;
                discounts += l.discount;
                tax += l.tax;
                let done = fulfilled(l.id);
                let open = if o.cancelled_at.is_some() {
                    0
                } else {
                    l.quantity - done.min(l.quantity)
                };
                let allocations: Vec<Value> = if o.discount_code.is_some() {
                    vec![json!({
                        "amount": money(l.discount), "amount_set": self.money_set(l.discount),
                        "discount_application_index": 0
                    })]
                } else {
                    Vec::new()
                };
                json!({
                    "id": l.id, "admin_graphql_api_id": gid("LineItem", l.id),
                    "variant_id": v.variant_id, "product_id": v.product_id,
                    "sku": v.sku, "title": format!("Item {}", v.sku), "name": format!("Item {}", v.sku),
                    "variant_title": null, "vendor": "Crossdock Sim",
                    "quantity": l.quantity,
                    "current_quantity": if o.cancelled_at.is_some() { 0 } else { l.quantity },
                    "fulfillable_quantity": open,
                    "fulfillment_service": "manual",
                    "fulfillment_status": match done {
                        0 => Value::Null,
                        d if d >= l.quantity => json!("fulfilled"),
                        _ => json!("partial"),
                    },
                    "requires_shipping": true, "taxable": true, "gift_card": false,
                    "grams": v.grams, "product_exists": true,
                    "variant_inventory_management": "shopify",
                    "price": money(l.price), "price_set": self.money_set(l.price),
                    "total_discount": "0.00", "total_discount_set": self.money_set(Decimal::ZERO),
                    "discount_allocations": allocations,
                    "tax_lines": [{
                        "title": "State Tax", "rate": rate, "channel_liable": false,
                        "price": money(l.tax), "price_set": self.money_set(l.tax)
                    }],
                    "properties": [], "duties": []
                })
            })
            .collect();
        let subtotal = subtotal_gross - discounts;
        let total = subtotal + o.shipping + tax;
        let shipping_lines: Vec<Value> = if o.address.is_some() {
            let title = if o.shipping > Decimal::new(500, 2) {
                "Express"
            } else {
                "Standard"
            };
            vec![json!({
                "id": o.id + 1, "title": title, "code": title, "source": "shopify",
                "price": money(o.shipping), "price_set": self.money_set(o.shipping),
                "discounted_price": money(o.shipping),
                "discounted_price_set": self.money_set(o.shipping),
                "discount_allocations": [], "tax_lines": [], "carrier_identifier": null
            })]
        } else {
            Vec::new()
        };
        let all_fulfilled = o.lines.iter().all(|l| fulfilled(l.id) >= l.quantity);
        let any_fulfilled = !o.fulfillments.is_empty();
        let email = format!("buyer{}@example.com", o.customer_no);
        let name = format!("#{}", o.number);
        let mut order = json!({
            "id": o.id,
            "admin_graphql_api_id": gid("Order", o.id),
            "app_id": 580111,
            "browser_ip": "203.0.113.7",
            "buyer_accepts_marketing": false,
            "cancel_reason": o.cancelled_at.map(|_| "customer"),
            "cancelled_at": o.cancelled_at.map(|t| self.time(t)),
            "closed_at": o.closed_at.map(|t| self.time(t)),
            "confirmation_number": o.token[..9].to_uppercase(),
            "confirmed": true,
            "contact_email": email,
            "created_at": self.time(o.created),
            "currency": cur,
            "current_subtotal_price": money(subtotal),
            "current_subtotal_price_set": self.money_set(subtotal),
            "current_total_price": money(total),
            "current_total_price_set": self.money_set(total),
            "current_total_tax": money(tax),
            "current_total_tax_set": self.money_set(tax),
        });
        let middle = json!({
            "customer_locale": "en",
            "email": email,
            "estimated_taxes": false,
            "financial_status": if o.cancelled_at.is_some() { "refunded" } else { "paid" },
            "fulfillment_status": if all_fulfilled { json!("fulfilled") }
                else if any_fulfilled { json!("partial") } else { Value::Null },
            "name": name,
            "note": o.note,
            "note_attributes": [],
            "number": o.number - 1000,
            "order_number": o.number,
            "phone": o.phone,
            "presentment_currency": cur,
            "processed_at": self.time(o.created),
            "source_name": "web",
            "subtotal_price": money(subtotal),
            "subtotal_price_set": self.money_set(subtotal),
            "tags": "",
            "tax_lines": [{ "title": "State Tax", "rate": rate, "channel_liable": false,
                            "price": money(tax), "price_set": self.money_set(tax) }],
            "taxes_included": false,
            "test": false,
            "token": o.token,
        });
        // In parts: one `json!` of every field exceeds the macro's recursion limit.
        let rest = json!({
            "total_discounts": money(discounts),
            "total_discounts_set": self.money_set(discounts),
            "total_line_items_price": money(subtotal_gross),
            "total_line_items_price_set": self.money_set(subtotal_gross),
            "total_outstanding": "0.00",
            "total_price": money(total),
            "total_price_set": self.money_set(total),
            "total_shipping_price_set": self.money_set(o.shipping),
            "total_tax": money(tax),
            "total_tax_set": self.money_set(tax),
            "total_weight": 0,
            "updated_at": self.time(o.updated),
            "billing_address": o.address.as_ref().map(|a| self.address_json(a)),
            "customer": {
                "id": o.customer_id, "email": email, "first_name": "Buyer",
                "last_name": o.customer_no.to_string(), "phone": o.phone,
                "state": "enabled", "verified_email": true, "currency": cur,
                "admin_graphql_api_id": gid("Customer", o.customer_id)
            },
            "discount_applications": if o.discount_code.is_some() { json!([{
                "target_type": "line_item", "type": "discount_code", "value": "10.0",
                "value_type": "percentage", "allocation_method": "across",
                "target_selection": "all", "code": o.discount_code
            }]) } else { json!([]) },
            "discount_codes": match &o.discount_code {
                Some(code) => json!([{ "code": code, "amount": money(discounts), "type": "percentage" }]),
                None => json!([]),
            },
            "fulfillments": o.fulfillments.iter().map(|f| self.fulfillment_json(o, f)).collect::<Vec<_>>(),
            "line_items": line_items,
            "refunds": [],
            "shipping_address": o.address.as_ref().map(|a| self.address_json(a)),
            "shipping_lines": shipping_lines
        });
        if let Value::Object(head) = &mut order {
            for part in [middle, rest] {
                if let Value::Object(part) = part {
                    head.extend(part);
                }
            }
        }
        order
    }

    fn fulfillment_json(&self, o: &ShopifyOrder, f: &Fulfillment) -> Value {
        let index = o
            .fulfillments
            .iter()
            .position(|x| x.id == f.id)
            .unwrap_or(0);
        let lines: Vec<Value> = f
            .lines
            .iter()
            .filter_map(|(line_id, quantity)| {
                let l = o.lines.iter().find(|l| l.id == *line_id)?;
                let v = &self.variants[l.variant];
                Some(json!({
                    "id": l.id, "variant_id": v.variant_id, "product_id": v.product_id,
                    "sku": v.sku, "title": format!("Item {}", v.sku), "name": format!("Item {}", v.sku),
                    "quantity": quantity, "price": money(l.price), "price_set": self.money_set(l.price),
                    "fulfillment_service": "manual", "fulfillment_status": "fulfilled",
                    "requires_shipping": true, "grams": v.grams
                }))
            })
            .collect();
        json!({
            "id": f.id,
            "admin_graphql_api_id": gid("Fulfillment", f.id),
            "order_id": o.id,
            "name": format!("#{}.{}", o.number, index + 1),
            "status": "success",
            "service": "manual",
            "created_at": self.time(f.created),
            "updated_at": self.time(f.created),
            "location_id": self.locations[f.location].id,
            "origin_address": null,
            "receipt": {},
            "shipment_status": null,
            "tracking_company": f.company,
            "tracking_number": f.tracking_number,
            "tracking_numbers": f.tracking_number.iter().collect::<Vec<_>>(),
            "tracking_url": f.url,
            "tracking_urls": f.url.iter().collect::<Vec<_>>(),
            "line_items": lines
        })
    }

    fn fulfillment_order_json(&self, o: &ShopifyOrder, fo: &FulfillmentOrder) -> Value {
        let location = &self.locations[fo.location];
        let open = matches!(fo.status, "open" | "in_progress");
        json!({
            "id": fo.id,
            "shop_id": self.shop_id,
            "order_id": o.id,
            "assigned_location_id": location.id,
            "assigned_location": { "name": location.name, "country_code": "US" },
            "request_status": "unsubmitted",
            "status": fo.status,
            "supported_actions": if open { json!(["create_fulfillment", "move"]) } else { json!([]) },
            "destination": o.address.as_ref().map(|a| json!({
                "first_name": a.first, "last_name": a.last, "address1": a.line1,
                "city": a.city, "province": a.province, "zip": a.zip, "country": "United States"
            })),
            "delivery_method": { "method_type": if o.address.is_some() { "shipping" } else { "none" } },
            "fulfill_at": self.time(o.created),
            "fulfill_by": null,
            "fulfillment_holds": [],
            "international_duties": null,
            "merchant_requests": [],
            "created_at": self.time(o.created),
            "updated_at": self.time(o.updated),
            "line_items": fo.lines.iter().map(|l| {
                let line = o.lines.iter().find(|x| x.id == l.line_item_id);
                let v = line.map(|x| &self.variants[x.variant]);
                json!({
                    "id": l.id, "shop_id": self.shop_id, "fulfillment_order_id": fo.id,
                    "line_item_id": l.line_item_id, "quantity": l.quantity,
                    "fulfillable_quantity": l.fulfillable,
                    "inventory_item_id": v.map(|v| v.inventory_item_id),
                    "variant_id": v.map(|v| v.variant_id)
                })
            }).collect::<Vec<_>>()
        })
    }
}

/// `GET orders.json`
pub(super) async fn list_orders(
    State(sim): State<Arc<ShopifySim>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let base = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_default();
    sim.list_orders(&version, query.as_deref(), &base)
}

/// `GET orders/{id}.json`: the route table cannot hold the `.json` after
/// the id (axum captures whole segments), so the handler takes it off.
pub(super) async fn get_order(
    State(sim): State<Arc<ShopifySim>>,
    Path((_version, file)): Path<(String, String)>,
) -> Response {
    let Some(id) = file.strip_suffix(".json").and_then(|f| f.parse().ok()) else {
        return not_found();
    };
    let state = lock(&sim.state);
    match state.orders.get(&id) {
        Some(o) => Json(json!({ "order": sim.order_json(o) })).into_response(),
        None => not_found(),
    }
}

/// `GET orders/{id}/fulfillment_orders.json`
pub(super) async fn fulfillment_orders(
    State(sim): State<Arc<ShopifySim>>,
    Path((_version, id)): Path<(String, String)>,
) -> Response {
    let state = lock(&sim.state);
    match id.parse().ok().and_then(|id: u64| state.orders.get(&id)) {
        Some(o) => Json(json!({ "fulfillment_orders": o.fulfillment_orders.iter()
            .map(|fo| sim.fulfillment_order_json(o, fo)).collect::<Vec<_>>() }))
        .into_response(),
        None => not_found(),
    }
}

/// `GET orders/{id}/fulfillments.json`
pub(super) async fn fulfillments(
    State(sim): State<Arc<ShopifySim>>,
    Path((_version, id)): Path<(String, String)>,
) -> Response {
    let state = lock(&sim.state);
    match id.parse().ok().and_then(|id: u64| state.orders.get(&id)) {
        Some(o) => Json(json!({ "fulfillments": o.fulfillments.iter()
            .map(|f| sim.fulfillment_json(o, f)).collect::<Vec<_>>() }))
        .into_response(),
        None => not_found(),
    }
}

/// `POST fulfillments.json`
pub(super) async fn create_fulfillment(
    State(sim): State<Arc<ShopifySim>>,
    body: Bytes,
) -> Response {
    sim.create_fulfillment(&body)
}

/// Any other Admin API path or method: Shopify's 404, after the call was
/// authenticated and paid for like any other.
pub(super) async fn unknown() -> Response {
    not_found()
}

impl ShopifySim {
    fn list_orders(&self, version: &str, query: Option<&str>, base: &str) -> Response {
        let pairs: Vec<(String, String)> = match query {
            None => Vec::new(),
            Some(q) => match form_pairs(q) {
                Some(p) => p,
                None => return bad_param(StatusCode::BAD_REQUEST, "query", "malformed"),
            },
        };
        let mut limit = DEFAULT_LIMIT;
        let mut page_info = None;
        let mut filters: Vec<(&str, &str)> = Vec::new();
        for (key, value) in &pairs {
            match key.as_str() {
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                    _ => {
                        return bad_param(
                            StatusCode::BAD_REQUEST,
                            "limit",
                            "must be a whole number from 1 to 250",
                        );
                    }
                },
                "page_info" => page_info = Some(value.as_str()),
                // Shopify allows `fields` with a cursor; the simulator answers every field.
                "fields" => {}
                _ => filters.push((key.as_str(), value.as_str())),
            }
        }
        let cursor = match page_info {
            Some(token) => {
                if let Some((field, _)) = filters.first() {
                    return bad_param(
                        StatusCode::BAD_REQUEST,
                        "page_info",
                        format!(
                            "cannot be combined with {field}: a request with page_info takes only limit and fields"
                        ),
                    );
                }
                match Cursor::decode(token) {
                    Some(c) => c,
                    None => {
                        return bad_param(StatusCode::BAD_REQUEST, "page_info", "Invalid value.");
                    }
                }
            }
            None => {
                let mut c = Cursor {
                    status: "open".to_owned(),
                    updated_min: None,
                    after: 0,
                };
                for (field, value) in filters {
                    match field {
                        "status" => {
                            if !matches!(value, "open" | "closed" | "cancelled" | "any") {
                                return bad_param(
                                    StatusCode::BAD_REQUEST,
                                    "status",
                                    format!("{value:?} is not one of open, closed, cancelled, any"),
                                );
                            }
                            c.status = value.to_owned();
                        }
                        "updated_at_min" => match DateTime::parse_from_rfc3339(value) {
                            Ok(t) => c.updated_min = Some(t.timestamp()),
                            Err(_) => {
                                return bad_param(
                                    StatusCode::BAD_REQUEST,
                                    "updated_at_min",
                                    format!("{value:?} is not an ISO 8601 time"),
                                );
                            }
                        },
                        other => {
                            return bad_param(
                                StatusCode::BAD_REQUEST,
                                other,
                                "filter not supported by the simulator",
                            );
                        }
                    }
                }
                c
            }
        };
        let size = limit.min(self.config.max_page_size);
        let now = Instant::now();
        let state = lock(&self.state);
        let mut matching = state
            .orders
            .range(cursor.after + 1..)
            .map(|(_, o)| o)
            .filter(|o| o.listed_from <= now)
            .filter(|o| {
                cursor
                    .updated_min
                    .is_none_or(|m| o.updated.timestamp() >= m)
            })
            .filter(|o| match cursor.status.as_str() {
                "open" => o.is_open(),
                "closed" => o.closed_at.is_some(),
                "cancelled" => o.cancelled_at.is_some(),
                _ => true,
            });
        let page: Vec<&ShopifyOrder> = matching.by_ref().take(size).collect();
        let more = matching.next().is_some();
        let orders: Vec<Value> = page.iter().map(|o| self.order_json(o)).collect();
        let mut response = Json(json!({ "orders": orders })).into_response();
        if more && let Some(last) = page.last() {
            let next = Cursor {
                after: last.id,
                ..cursor
            }
            .encode();
            let link = format!(
                "<{base}/admin/api/{version}/orders.json?limit={limit}&page_info={next}>; rel=\"next\""
            );
            if let Ok(v) = HeaderValue::from_str(&link) {
                response.headers_mut().insert(header::LINK, v);
            }
        }
        response
    }

    fn create_fulfillment(&self, body: &[u8]) -> Response {
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad_param(StatusCode::BAD_REQUEST, "body", format!("not JSON: {e}")),
        };
        let Some(f) = request.get("fulfillment").filter(|f| f.is_object()) else {
            return bad_param(
                StatusCode::BAD_REQUEST,
                "fulfillment",
                "Required parameter missing or invalid",
            );
        };
        let Some(groups) = f
            .get("line_items_by_fulfillment_order")
            .and_then(Value::as_array)
            .filter(|g| !g.is_empty())
        else {
            return bad_param(
                StatusCode::BAD_REQUEST,
                "line_items_by_fulfillment_order",
                "Required parameter missing or invalid",
            );
        };
        // A tracking field: absent, null or a string; anything else names itself.
        let text = |v: Option<&Value>,
                    field: &'static str|
         -> Result<Option<String>, &'static str> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
                Some(_) => Err(field),
            }
        };
        let tracking = f.get("tracking_info");
        let (number, company, url) = match (
            text(
                tracking.and_then(|t| t.get("number")),
                "tracking_info.number",
            ),
            text(
                tracking.and_then(|t| t.get("company")),
                "tracking_info.company",
            ),
            text(tracking.and_then(|t| t.get("url")), "tracking_info.url"),
        ) {
            (Ok(n), Ok(c), Ok(u)) => (n, c, u),
            (Err(field), _, _) | (_, Err(field), _) | (_, _, Err(field)) => {
                return bad_param(StatusCode::BAD_REQUEST, field, "expected a string");
            }
        };
        // (fulfillment order id, Some([(fo line id, quantity)]) or None = all)
        let mut asked: Vec<(u64, Option<FoLineQuantities>)> = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let at = format!("line_items_by_fulfillment_order[{i}]");
            let Some(fo_id) = g.get("fulfillment_order_id").and_then(json_id) else {
                return bad_param(
                    StatusCode::BAD_REQUEST,
                    &format!("{at}.fulfillment_order_id"),
                    "Required parameter missing or invalid",
                );
            };
            let lines = match g.get("fulfillment_order_line_items") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => {
                    let mut lines = Vec::new();
                    for (j, item) in items.iter().enumerate() {
                        let id = item.get("id").and_then(json_id);
                        let quantity = item
                            .get("quantity")
                            .and_then(Value::as_u64)
                            .and_then(|q| u32::try_from(q).ok())
                            .filter(|q| *q > 0);
                        match (id, quantity) {
                            (Some(id), Some(q)) => lines.push((id, q)),
                            _ => {
                                return bad_param(
                                    StatusCode::BAD_REQUEST,
                                    &format!("{at}.fulfillment_order_line_items[{j}]"),
                                    "needs an id and a positive quantity",
                                );
                            }
                        }
                    }
                    Some(lines)
                }
                Some(_) => {
                    return bad_param(
                        StatusCode::BAD_REQUEST,
                        &format!("{at}.fulfillment_order_line_items"),
                        "expected an array",
                    );
                }
            };
            asked.push((fo_id, lines));
        }
        let mut state = lock(&self.state);
        let state = &mut *state;
        let refuse = |state: &mut ShopifyState, message: String| {
            state.counters.fulfillments_refused += 1;
            rest_error(StatusCode::UNPROCESSABLE_ENTITY, json!([message]))
        };
        // Which order holds the fulfillment orders.
        let Some(order_id) = state
            .orders
            .values()
            .find(|o| o.fulfillment_orders.iter().any(|fo| fo.id == asked[0].0))
            .map(|o| o.id)
        else {
            return refuse(
                state,
                format!("Fulfillment order {} does not exist.", asked[0].0),
            );
        };
        let order = state.orders.get(&order_id).expect("found above");
        let mut location = None;
        // (fo index, fo line index, quantity)
        let mut plan: Vec<(usize, usize, u32)> = Vec::new();
        for (fo_id, lines) in &asked {
            let Some(fo_index) = order.fulfillment_orders.iter().position(|f| f.id == *fo_id)
            else {
                return refuse(
                    state,
                    format!("Fulfillment order {fo_id} does not exist on this order."),
                );
            };
            let fo = &order.fulfillment_orders[fo_index];
            if !matches!(fo.status, "open" | "in_progress") {
                return refuse(
                    state,
                    format!(
                        "Fulfillment order {fo_id} has an unfulfillable status= {}.",
                        fo.status
                    ),
                );
            }
            if location.is_some_and(|l| l != fo.location) {
                return refuse(
                    state,
                    "All fulfillment orders must be assigned to a single location.".to_owned(),
                );
            }
            location = Some(fo.location);
            match lines {
                None => plan.extend(
                    fo.lines
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| l.fulfillable > 0)
                        .map(|(j, l)| (fo_index, j, l.fulfillable)),
                ),
                Some(lines) => {
                    for (line_id, quantity) in lines {
                        let Some(j) = fo.lines.iter().position(|l| l.id == *line_id) else {
                            return refuse(
                                state,
                                format!(
                                    "Fulfillment order line item {line_id} does not belong to fulfillment order {fo_id}."
                                ),
                            );
                        };
                        let already: u32 = plan
                            .iter()
                            .filter(|(f, l, _)| *f == fo_index && *l == j)
                            .map(|(_, _, q)| q)
                            .sum();
                        if already + quantity > fo.lines[j].fulfillable {
                            state.counters.over_fulfillment_refusals += 1;
                            return refuse(
                                state,
                                "Invalid fulfillment order line item quantity requested."
                                    .to_owned(),
                            );
                        }
                        plan.push((fo_index, j, *quantity));
                    }
                }
            }
        }
        if plan.is_empty() {
            return refuse(
                state,
                "Invalid fulfillment order line item quantity requested.".to_owned(),
            );
        }
        let mut rng = lock(&self.base.rng);
        let id = state.id(&mut rng);
        drop(rng);
        let order = state.orders.get_mut(&order_id).expect("found above");
        let mut lines: Vec<(u64, u32)> = Vec::new();
        for (f, j, q) in &plan {
            let fo_line = &mut order.fulfillment_orders[*f].lines[*j];
            fo_line.fulfillable -= q;
            match lines.iter_mut().find(|(id, _)| *id == fo_line.line_item_id) {
                Some((_, n)) => *n += q,
                None => lines.push((fo_line.line_item_id, *q)),
            }
        }
        for fo in &mut order.fulfillment_orders {
            if matches!(fo.status, "open" | "in_progress") {
                let left: u32 = fo.lines.iter().map(|l| l.fulfillable).sum();
                let total: u32 = fo.lines.iter().map(|l| l.quantity).sum();
                fo.status = if left == 0 {
                    "closed"
                } else if left < total {
                    "in_progress"
                } else {
                    "open"
                };
            }
        }
        // Never deduplicated: a second package under the same tracking number
        // over the same lines is counted, so a test sees a hub that resends.
        let duplicate = number.as_ref().is_some_and(|n| {
            order.fulfillments.iter().any(|f| {
                f.tracking_number.as_ref() == Some(n)
                    && f.lines
                        .iter()
                        .any(|(l, _)| lines.iter().any(|(m, _)| m == l))
            })
        });
        if duplicate {
            state.counters.duplicate_fulfillments += 1;
        }
        state.counters.fulfillments_created += 1;
        let now = Utc::now();
        order.fulfillments.push(Fulfillment {
            id,
            created: now,
            location: location.unwrap_or(0),
            tracking_number: number,
            company,
            url,
            lines,
        });
        if order
            .fulfillment_orders
            .iter()
            .all(|fo| fo.status == "closed")
        {
            // Shops archive fully fulfilled orders by default.
            order.closed_at = Some(now);
        }
        order.touch();
        let order = &state.orders[&order_id];
        let created = order.fulfillments.last().expect("just pushed");
        (
            StatusCode::CREATED,
            Json(json!({ "fulfillment": self.fulfillment_json(order, created) })),
        )
            .into_response()
    }
}

/// `(fulfillment order line id, quantity)` asked of one fulfillment order.
type FoLineQuantities = Vec<(u64, u32)>;

/// A Shopify id in a request: a whole number, or a string of digits.
fn json_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// What a `page_info` cursor carries: the first request's filters and the
/// last id served. Opaque to clients (base64url of JSON), like Shopify's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Cursor {
    #[serde(rename = "s")]
    pub(super) status: String,
    #[serde(rename = "u")]
    pub(super) updated_min: Option<i64>,
    #[serde(rename = "a")]
    pub(super) after: u64,
}

impl Cursor {
    pub(super) fn encode(&self) -> String {
        BASE64_URL.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(super) fn decode(token: &str) -> Option<Cursor> {
        serde_json::from_slice(&BASE64_URL.decode(token).ok()?).ok()
    }
}
