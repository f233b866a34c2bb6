//! `PUT`/`GET /v3/inventory?sku=…`: a SKU's quantity.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::state::WalmartSim;
use super::wire::{bad_request, walmart_error};
use crate::wire::lock;

fn inventory_not_found(sku: &str) -> Response {
    walmart_error(
        StatusCode::NOT_FOUND,
        "CONTENT_NOT_FOUND.GMP_INVENTORY_API",
        "sku",
        format!("Item not found for sku {sku:?}"),
    )
}

fn inventory_json(sku: &str, amount: i64) -> Value {
    json!({ "sku": sku, "quantity": { "unit": "EACH", "amount": amount } })
}

/// An inventory quantity `{unit: "EACH", amount: <whole number ≥ 0>}`, or
/// the field at fault and why.
pub(super) fn read_quantity(at: &str, value: Option<&Value>) -> Result<i64, (String, String)> {
    let Some(q) = value.and_then(Value::as_object) else {
        return Err((at.to_owned(), "required: {unit, amount}".to_owned()));
    };
    if let Some(key) = q.keys().find(|k| !matches!(k.as_str(), "unit" | "amount")) {
        return Err((format!("{at}.{key}"), "unknown field".to_owned()));
    }
    if q.get("unit").and_then(Value::as_str) != Some("EACH") {
        return Err((format!("{at}.unit"), "must be EACH".to_owned()));
    }
    let amount = q.get("amount");
    match amount.and_then(Value::as_i64) {
        Some(n) if n >= 0 => Ok(n),
        Some(_) => Err((format!("{at}.amount"), "must not be negative".to_owned())),
        None => Err((
            format!("{at}.amount"),
            format!(
                "must be a whole number, got {}",
                amount.map_or("nothing".to_owned(), Value::to_string)
            ),
        )),
    }
}

pub(super) async fn get_inventory(
    State(sim): State<Arc<WalmartSim>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(sku) = query.get("sku").filter(|s| !s.trim().is_empty()) else {
        return bad_request(
            "GMP_INVENTORY_API",
            "sku",
            "sku query parameter is required",
        );
    };
    let mut state = lock(&sim.state);
    WalmartSim::settle_feeds(&mut state);
    match state.inventory.get(sku) {
        Some(q) => Json(inventory_json(sku, *q)).into_response(),
        None => inventory_not_found(sku),
    }
}

pub(super) async fn put_inventory(
    State(sim): State<Arc<WalmartSim>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    const API: &str = "GMP_INVENTORY_API";
    let refuse = |sim: &WalmartSim, field: &str, message: String| {
        lock(&sim.state).counters.inventory_refused += 1;
        bad_request(API, field, message)
    };
    let Some(sku) = query.get("sku").filter(|s| !s.trim().is_empty()) else {
        return refuse(&sim, "sku", "sku query parameter is required".to_owned());
    };
    if let Some(key) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "sku" | "shipNode"))
    {
        return refuse(&sim, key, format!("unknown query parameter {key}"));
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(_) => return refuse(&sim, "body", "expected a JSON object".to_owned()),
        Err(e) => return refuse(&sim, "body", format!("invalid JSON: {e}")),
    };
    if let Some(key) = body
        .as_object()
        .and_then(|m| m.keys().find(|k| !matches!(k.as_str(), "sku" | "quantity")))
    {
        return refuse(&sim, key, "unknown field".to_owned());
    }
    if body["sku"].as_str() != Some(sku.as_str()) {
        return refuse(
            &sim,
            "sku",
            format!(
                "body sku {} does not match the query sku {sku:?}",
                body["sku"]
            ),
        );
    }
    let amount = match read_quantity("quantity", body.get("quantity")) {
        Ok(a) => a,
        Err((field, message)) => return refuse(&sim, &field, format!("{field}: {message}")),
    };
    let mut state = lock(&sim.state);
    WalmartSim::settle_feeds(&mut state);
    match state.inventory.get_mut(sku) {
        Some(q) => {
            *q = amount;
            state.counters.inventory_updates += 1;
            Json(inventory_json(sku, amount)).into_response()
        }
        None => {
            state.counters.inventory_refused += 1;
            inventory_not_found(sku)
        }
    }
}
