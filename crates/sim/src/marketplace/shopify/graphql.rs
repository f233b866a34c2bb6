//! The Admin GraphQL API: `productVariants` and `inventorySetQuantities`
//! with `@idempotent` and compare-and-set, and its cost bucket.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use chrono::{SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::config::{MAX_LIMIT, MAX_QUERY_COST};
use super::graphql_parser::{self, Field};
use super::state::{IdempotentResult, ShopifySim};
use super::wire::{gid, parse_gid};
use crate::wire::lock;

/// GraphQL inventory inputs take `changeFromQuantity` and `@idempotent` from here on.
const CHANGE_FROM_VERSION: &str = "2026-01";
/// From here on `changeFromQuantity` and `@idempotent` are mandatory.
const MANDATORY_VERSION: &str = "2026-04";
/// Requested cost of one `inventorySetQuantities`.
const MUTATION_COST: f64 = 10.0;
/// `inventorySetQuantities` takes these reasons (InventoryAdjustQuantities docs).
const REASONS: [&str; 17] = [
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_canceled",
    "movement_created",
    "movement_received",
    "movement_updated",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
];
/// Shopify's bound on a set quantity.
const MAX_QUANTITY: i64 = 1_000_000_000;

// ---------------------------------------------------------------------------
// GraphQL

fn graphql_error(message: impl Into<String>, code: &str) -> Value {
    json!({ "message": message.into(), "extensions": { "code": code } })
}

/// `POST graphql.json`
pub(super) async fn graphql(
    State(sim): State<Arc<ShopifySim>>,
    Path(version): Path<String>,
    body: Bytes,
) -> Response {
    sim.graphql(&version, &body)
}

impl ShopifySim {
    fn graphql(&self, version: &str, body: &[u8]) -> Response {
        #[derive(Deserialize)]
        struct Request {
            query: String,
            #[serde(default)]
            variables: Option<Map<String, Value>>,
        }
        let request: Request = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "errors": [graphql_error(format!("body: {e}"), "BAD_REQUEST")] })),
                )
                    .into_response();
            }
        };
        let variables = request.variables.unwrap_or_default();
        let errors = |list: Vec<Value>| Json(json!({ "errors": list })).into_response();
        let document = match graphql_parser::parse(&request.query, &variables) {
            Ok(d) => d,
            Err(e) => return errors(vec![graphql_error(e, "PARSE_ERROR")]),
        };
        let mutation = document.mutation;
        let mut cost = 0.0;
        for field in &document.fields {
            cost += match (mutation, field.name.as_str()) {
                (false, "productVariants") => {
                    2.0 + field
                        .args
                        .get("first")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0)
                }
                (true, "inventorySetQuantities") => MUTATION_COST,
                (false, name) => {
                    return errors(vec![graphql_error(
                        format!("Field '{name}' doesn't exist on type 'QueryRoot'"),
                        "undefinedField",
                    )]);
                }
                (true, name) => {
                    return errors(vec![graphql_error(
                        format!("Field '{name}' doesn't exist on type 'Mutation'"),
                        "undefinedField",
                    )]);
                }
            };
        }
        if cost > MAX_QUERY_COST {
            return errors(vec![graphql_error(
                format!(
                    "Query cost is {cost}, which exceeds the single query max cost limit (1000)."
                ),
                "MAX_COST_EXCEEDED",
            )]);
        }
        let max = f64::from(self.config.graphql_bucket);
        let restore = self.config.graphql_restore_per_sec;
        let available = {
            let mut bucket = lock(&self.graphql_bucket);
            if !bucket.take(cost, Instant::now()) {
                let available = bucket.tokens();
                lock(&self.state).counters.graphql_throttled += 1;
                let extensions = json!({ "cost": {
                    "requestedQueryCost": cost, "actualQueryCost": null,
                    "throttleStatus": { "maximumAvailable": max,
                        "currentlyAvailable": available.floor(), "restoreRate": restore } } });
                return Json(json!({
                    "errors": [{ "message": "Throttled", "extensions": {
                        "code": "THROTTLED",
                        "documentation": "https://shopify.dev/api/usage/rate-limits" } }],
                    "extensions": extensions
                }))
                .into_response();
            }
            bucket.tokens()
        };
        let mut data = Map::new();
        let mut errs = Vec::new();
        for field in &document.fields {
            let answer = match field.name.as_str() {
                "productVariants" => self.product_variants(field),
                _ => self.inventory_set_quantities(version, field),
            };
            match answer {
                Ok(v) => {
                    data.insert(field.alias.clone(), v);
                }
                Err(e) => {
                    data.insert(field.alias.clone(), Value::Null);
                    errs.push(e);
                }
            }
        }
        let mut out = json!({
            "data": data,
            "extensions": { "cost": {
                "requestedQueryCost": cost, "actualQueryCost": cost,
                "throttleStatus": { "maximumAvailable": max,
                    "currentlyAvailable": available.floor(), "restoreRate": restore } } }
        });
        if !errs.is_empty() {
            out["errors"] = Value::Array(errs);
        }
        Json(out).into_response()
    }

    fn product_variants(&self, field: &Field) -> Result<Value, Value> {
        let first = match field.args.get("first") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => {
                return Err(graphql_error(
                    "productVariants: you must provide one of first or last",
                    "argumentLiteralsIncompatible",
                ));
            }
        };
        if !(1..=MAX_LIMIT as u64).contains(&first) {
            return Err(graphql_error(
                "productVariants.first: must be from 1 to 250",
                "argumentLiteralsIncompatible",
            ));
        }
        let query = field
            .args
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("");
        let skus = search_skus(query);
        let state = lock(&self.state);
        let nodes: Vec<Value> = self
            .variants
            .iter()
            .enumerate()
            .filter(|(_, v)| skus.as_ref().is_none_or(|s| s.contains(&v.sku)))
            .take(first as usize)
            .map(|(i, v)| {
                let location = &self.locations[v.location];
                let available = state.available.get(&(i, v.location)).copied().unwrap_or(0);
                json!({
                    "id": gid("ProductVariant", v.variant_id),
                    "sku": v.sku,
                    "product": { "id": gid("Product", v.product_id) },
                    "inventoryItem": {
                        "id": gid("InventoryItem", v.inventory_item_id),
                        "tracked": true,
                        "inventoryLevels": { "nodes": [{
                            "location": { "id": gid("Location", location.id), "name": location.name },
                            "quantities": [{ "name": "available", "quantity": available }]
                        }] }
                    }
                })
            })
            .collect();
        Ok(json!({ "nodes": nodes, "pageInfo": { "hasNextPage": false, "endCursor": null } }))
    }

    fn inventory_set_quantities(&self, version: &str, field: &Field) -> Result<Value, Value> {
        let key = field
            .directives
            .iter()
            .find(|(name, _)| name == "idempotent")
            .map(|(_, args)| args.get("key").cloned());
        let key = match key {
            Some(_) if version < CHANGE_FROM_VERSION => {
                return Err(graphql_error(
                    format!("Directive 'idempotent' is not defined in API version {version}"),
                    "undefinedDirective",
                ));
            }
            Some(Some(Value::String(k))) if !k.trim().is_empty() && k.len() <= 255 => Some(k),
            Some(_) => {
                return Err(graphql_error(
                    "@idempotent: key must be a non-empty string of at most 255 characters",
                    "BAD_REQUEST",
                ));
            }
            None if version >= MANDATORY_VERSION => {
                return Err(graphql_error(
                    "inventorySetQuantities requires the @idempotent(key:) directive",
                    "BAD_REQUEST",
                ));
            }
            None => None,
        };
        let input = field.args.get("input").cloned().unwrap_or(Value::Null);
        if let Some(key) = &key {
            let state = lock(&self.state);
            if let Some(done) = state.idempotent.get(key) {
                if done.request != input {
                    return Err(graphql_error(
                        "The idempotency key was already used with a different request",
                        "IDEMPOTENCY_KEY_REUSED",
                    ));
                }
                let answer = done.answer.clone();
                drop(state);
                lock(&self.state).counters.idempotent_replays += 1;
                return Ok(answer);
            }
        }
        let quantities = self.check_input(version, &input)?;
        let mut state = lock(&self.state);
        // A concurrent request with the same key may have finished meanwhile.
        if let Some(done) = key.as_ref().and_then(|k| state.idempotent.get(k)) {
            let answer = done.answer.clone();
            state.counters.idempotent_replays += 1;
            return Ok(answer);
        }
        let mut user_errors = Vec::new();
        for (i, q) in quantities.iter().enumerate() {
            let at = |name: &str| json!(["input", "quantities", i.to_string(), name]);
            let Some(variant) = self
                .variants
                .iter()
                .position(|v| v.inventory_item_id == q.item)
            else {
                user_errors.push(json!({ "field": at("inventoryItemId"),
                    "message": "The specified inventory item could not be found.",
                    "code": "INVALID_INVENTORY_ITEM" }));
                continue;
            };
            let Some(location) = self.locations.iter().position(|l| l.id == q.location) else {
                user_errors.push(json!({ "field": at("locationId"),
                    "message": "The specified location could not be found.",
                    "code": "INVALID_LOCATION" }));
                continue;
            };
            let Some(current) = state.available.get(&(variant, location)).copied() else {
                user_errors.push(json!({ "field": at("locationId"),
                    "message": "The specified inventory item is not stocked at the location.",
                    "code": "ITEM_NOT_STOCKED_AT_LOCATION" }));
                continue;
            };
            if q.quantity.abs() > MAX_QUANTITY {
                user_errors.push(json!({ "field": at("quantity"),
                    "message": "The quantity can't be higher than 1,000,000,000.",
                    "code": "INVALID_QUANTITY_TOO_HIGH" }));
                continue;
            }
            if let Some(expected) = q.change_from
                && expected != current
            {
                user_errors.push(json!({ "field": at(q.change_from_field),
                    "message": "The specified compare quantity does not match the current quantity.",
                    "code": if q.change_from_field == "compareQuantity" { "COMPARE_QUANTITY_STALE" }
                            else { "CHANGE_FROM_QUANTITY_STALE" } }));
            }
        }
        let reason = input["reason"].as_str().unwrap_or_default();
        if !REASONS.contains(&reason) {
            user_errors.push(json!({ "field": ["input", "reason"],
                "message": "The specified reason is invalid.", "code": "INVALID_REASON" }));
        }
        if input["name"].as_str() != Some("available") {
            user_errors.push(json!({ "field": ["input", "name"],
                "message": "The quantity name must be available.", "code": "INVALID_NAME" }));
        }
        // All or nothing: one refused quantity refuses the whole mutation.
        let answer = if user_errors.is_empty() {
            let mut changes = Vec::new();
            for q in &quantities {
                let variant = self
                    .variants
                    .iter()
                    .position(|v| v.inventory_item_id == q.item)
                    .expect("checked");
                let location = self
                    .locations
                    .iter()
                    .position(|l| l.id == q.location)
                    .expect("checked");
                let slot = state.available.entry((variant, location)).or_default();
                let delta = q.quantity - *slot;
                *slot = q.quantity;
                changes.push(json!({
                    "name": "available", "delta": delta, "quantityAfterChange": q.quantity,
                    "item": { "id": gid("InventoryItem", q.item), "sku": self.variants[variant].sku },
                    "location": { "id": gid("Location", q.location) }
                }));
            }
            state.counters.inventory_mutations_applied += 1;
            json!({
                "inventoryAdjustmentGroup": {
                    "createdAt": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                    "reason": reason,
                    "referenceDocumentUri": input.get("referenceDocumentUri").cloned().unwrap_or(Value::Null),
                    "changes": changes
                },
                "userErrors": []
            })
        } else {
            let stale = user_errors
                .iter()
                .filter(|e| e["code"].as_str().is_some_and(|c| c.ends_with("_STALE")))
                .count() as u64;
            state.counters.stale_refusals += stale;
            state.counters.inventory_user_errors += user_errors.len() as u64 - stale;
            json!({ "inventoryAdjustmentGroup": null, "userErrors": user_errors })
        };
        if let Some(key) = key {
            state.idempotent.insert(
                key,
                IdempotentResult {
                    request: input,
                    answer: answer.clone(),
                },
            );
        }
        Ok(answer)
    }

    /// Coerces the mutation's input as GraphQL does its variables: a
    /// missing or mistyped field is a top-level error naming its path.
    fn check_input(&self, version: &str, input: &Value) -> Result<Vec<SetQuantity>, Value> {
        let problem = |path: Vec<Value>, explanation: &str| {
            let dotted = path
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".");
            json!({
                "message": format!("Variable $input of type InventorySetQuantitiesInput! was provided invalid value for {dotted} ({explanation})"),
                "extensions": { "code": "INVALID_VARIABLE",
                    "problems": [{ "path": path, "explanation": explanation }] }
            })
        };
        let Some(object) = input.as_object() else {
            return Err(problem(vec![], "Expected value to not be null"));
        };
        for key in object.keys() {
            if !matches!(
                key.as_str(),
                "name" | "reason" | "quantities" | "referenceDocumentUri" | "ignoreCompareQuantity"
            ) {
                return Err(problem(
                    vec![json!(key)],
                    "Field is not defined on InventorySetQuantitiesInput",
                ));
            }
        }
        for key in ["name", "reason"] {
            if !object.get(key).is_some_and(Value::is_string) {
                return Err(problem(vec![json!(key)], "Expected value to be a String"));
            }
        }
        let ignore_compare = object.get("ignoreCompareQuantity").and_then(Value::as_bool);
        if ignore_compare.is_some() && version >= MANDATORY_VERSION {
            return Err(problem(
                vec![json!("ignoreCompareQuantity")],
                "Field is not defined on InventorySetQuantitiesInput",
            ));
        }
        let Some(list) = object.get("quantities").and_then(Value::as_array) else {
            return Err(problem(
                vec![json!("quantities")],
                "Expected value to be a list",
            ));
        };
        if list.is_empty() || list.len() > MAX_LIMIT {
            return Err(problem(
                vec![json!("quantities")],
                "Expected 1 to 250 items",
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, q) in list.iter().enumerate() {
            let at = |name: &str| vec![json!("quantities"), json!(i), json!(name)];
            let Some(q) = q.as_object() else {
                return Err(problem(
                    vec![json!("quantities"), json!(i)],
                    "Expected an object",
                ));
            };
            for key in q.keys() {
                let known = match key.as_str() {
                    "inventoryItemId" | "locationId" | "quantity" => true,
                    "changeFromQuantity" => version >= CHANGE_FROM_VERSION,
                    "compareQuantity" => version < MANDATORY_VERSION,
                    _ => false,
                };
                if !known {
                    return Err(problem(
                        at(key),
                        "Field is not defined on InventoryQuantityInput",
                    ));
                }
            }
            let Some(item) = q
                .get("inventoryItemId")
                .and_then(Value::as_str)
                .and_then(|v| parse_gid("InventoryItem", v))
            else {
                return Err(problem(
                    at("inventoryItemId"),
                    "Expected a gid://shopify/InventoryItem/ ID",
                ));
            };
            let Some(location) = q
                .get("locationId")
                .and_then(Value::as_str)
                .and_then(|v| parse_gid("Location", v))
            else {
                return Err(problem(
                    at("locationId"),
                    "Expected a gid://shopify/Location/ ID",
                ));
            };
            let Some(quantity) = q.get("quantity").and_then(Value::as_i64) else {
                return Err(problem(at("quantity"), "Expected value to be an Int"));
            };
            let (change_from_field, change_from) = if version >= CHANGE_FROM_VERSION
                && (q.contains_key("changeFromQuantity") || version >= MANDATORY_VERSION)
            {
                match q.get("changeFromQuantity") {
                    None => {
                        return Err(problem(
                            at("changeFromQuantity"),
                            "Expected value to be present (null opts out of the comparison)",
                        ));
                    }
                    Some(Value::Null) => ("changeFromQuantity", None),
                    Some(v) => match v.as_i64() {
                        Some(n) => ("changeFromQuantity", Some(n)),
                        None => {
                            return Err(problem(
                                at("changeFromQuantity"),
                                "Expected value to be an Int",
                            ));
                        }
                    },
                }
            } else {
                match (q.get("compareQuantity"), ignore_compare) {
                    (_, Some(true)) => ("compareQuantity", None),
                    (Some(v), _) => match v.as_i64() {
                        Some(n) => ("compareQuantity", Some(n)),
                        None => {
                            return Err(problem(
                                at("compareQuantity"),
                                "Expected value to be an Int",
                            ));
                        }
                    },
                    (None, _) => {
                        return Err(problem(
                            at("compareQuantity"),
                            "Expected a compareQuantity, or ignoreCompareQuantity: true",
                        ));
                    }
                }
            };
            out.push(SetQuantity {
                item,
                location,
                quantity,
                change_from,
                change_from_field,
            });
        }
        Ok(out)
    }
}

struct SetQuantity {
    item: u64,
    location: u64,
    quantity: i64,
    change_from: Option<i64>,
    change_from_field: &'static str,
}

/// The SKUs of a search like `sku:"A-1" OR sku:'B-2' OR sku:C`; `None` for
/// an empty search (everything). Any other term matches nothing, as an
/// unknown SKU would.
pub(super) fn search_skus(query: &str) -> Option<Vec<String>> {
    let query = query.trim();
    if query.is_empty() {
        return None;
    }
    let mut skus = Vec::new();
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        let Some(after) = rest.strip_prefix("sku:") else {
            return Some(skus);
        };
        let (value, tail) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut value = String::new();
                let mut chars = after[1..].char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                value.push(e);
                            }
                        }
                        c if c == q => {
                            end = Some(i + 2);
                            break;
                        }
                        c => value.push(c),
                    }
                }
                let Some(end) = end else { return Some(skus) };
                (value, &after[end..])
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (after[..end].to_owned(), &after[end..])
            }
        };
        skus.push(value);
        let tail = tail.trim_start();
        match tail.strip_prefix("OR ") {
            Some(t) => rest = t,
            None => return Some(skus),
        }
    }
}
