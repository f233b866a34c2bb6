//! Listings Items 2021-08-01: `patchListingsItem` sets a listing's
//! `fulfillment_availability`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::state::{AmazonSim, AmazonState};
use super::wire::{ACCESS_DENIED, Pairs, invalid_input, sp_error};
use crate::fixtures::uuid;
use crate::wire::lock;

const PATCH_PARAMS: [&str; 4] = ["marketplaceIds", "includedData", "mode", "issueLocale"];
pub(super) const FULFILLMENT_AVAILABILITY: &str = "/attributes/fulfillment_availability";
/// Amazon's issue for a SKU the seller has no listing for.
const UNKNOWN_SKU_CODE: &str = "4000001";

impl AmazonSim {
    /// Sets a listing's quantity from one `fulfillment_availability` patch
    /// or attribute value; `Err` is Amazon's issue message.
    pub(super) fn apply_availability(
        state: &mut AmazonState,
        sku: &str,
        op: &str,
        value: Option<&Value>,
    ) -> Result<(), (String, String)> {
        if !state.quantities.contains_key(sku) {
            return Err((
                UNKNOWN_SKU_CODE.into(),
                format!(
                    "The SKU '{sku}' does not exist in the seller's catalog. \
                     Create the listing before updating it."
                ),
            ));
        }
        if op == "delete" {
            state.quantities.insert(sku.to_owned(), None);
            return Ok(());
        }
        let entries = value.and_then(Value::as_array).ok_or_else(|| {
            (
                "99022".to_owned(),
                "The attribute 'fulfillment_availability' must be an array of values.".to_owned(),
            )
        })?;
        let mut quantity = None;
        for (i, entry) in entries.iter().enumerate() {
            let code = entry
                .get("fulfillment_channel_code")
                .and_then(Value::as_str);
            if code.is_none_or(str::is_empty) {
                return Err((
                    "90220".into(),
                    format!(
                        "'fulfillment_availability[{i}].fulfillment_channel_code' \
                         is required but not supplied."
                    ),
                ));
            }
            if code != Some("DEFAULT") {
                // Amazon-fulfilled channels take no seller quantity; ignored here.
                continue;
            }
            match entry.get("quantity") {
                Some(q) => match q.as_i64().filter(|q| *q >= 0) {
                    Some(q) => quantity = Some(q),
                    None => {
                        return Err((
                            "99300".into(),
                            format!(
                                "The value '{q}' for 'fulfillment_availability[{i}].quantity' \
                                 is not a non-negative integer."
                            ),
                        ));
                    }
                },
                None => {
                    return Err((
                        "90220".into(),
                        format!(
                            "'fulfillment_availability[{i}].quantity' is required but not supplied."
                        ),
                    ));
                }
            }
        }
        if let Some(q) = quantity {
            state.quantities.insert(sku.to_owned(), Some(q));
        }
        Ok(())
    }
}

/// Only top-level attributes can be patched (listingsItems_2021-08-01.json).
pub(super) fn check_patch_path(path: &str) -> Result<(), String> {
    match path.strip_prefix("/attributes/") {
        Some(name) if !name.is_empty() && !name.contains('/') => Ok(()),
        _ => Err(format!(
            "{path:?} is not a top-level attribute path (/attributes/<name>)"
        )),
    }
}

pub(super) async fn patch_listings_item(
    State(sim): State<Arc<AmazonSim>>,
    Path((seller_id, sku)): Path<(String, String)>,
    Query(pairs): Pairs,
    body: Bytes,
) -> Response {
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !PATCH_PARAMS.contains(&k.as_str()))
    {
        return invalid_input(format!("Unknown parameter {k}"));
    }
    if let Err(r) = sim.check_marketplace(&pairs, "marketplaceIds") {
        return r.into_response();
    }
    if seller_id != sim.config.seller_id {
        return sp_error(StatusCode::FORBIDDEN, "Unauthorized", ACCESS_DENIED);
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return invalid_input("The request body is not valid JSON");
    };
    let product_type = request
        .get("productType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if product_type.is_empty() {
        return invalid_input("productType is required");
    }
    let patches = request.get("patches").and_then(Value::as_array);
    let Some(patches) = patches.filter(|p| !p.is_empty()) else {
        return invalid_input("patches is required and must hold at least one patch");
    };
    let mut changes = Vec::new();
    for (j, p) in patches.iter().enumerate() {
        let op = p.get("op").and_then(Value::as_str).unwrap_or("");
        let path = p.get("path").and_then(Value::as_str).unwrap_or("");
        if !matches!(op, "add" | "replace" | "merge" | "delete") {
            return invalid_input(format!(
                "patches[{j}].op {op:?} is not add, replace, merge or delete"
            ));
        }
        if let Err(e) = check_patch_path(path) {
            return invalid_input(format!("patches[{j}].path: {e}"));
        }
        if path == FULFILLMENT_AVAILABILITY {
            changes.push((op.to_owned(), p.get("value").cloned()));
        }
    }
    let mut state = lock(&sim.state);
    let mut issue = None;
    if !state.quantities.contains_key(&sku) {
        issue = AmazonSim::apply_availability(&mut state, &sku, "replace", None).err();
    }
    for (op, value) in &changes {
        if issue.is_some() {
            break;
        }
        issue = AmazonSim::apply_availability(&mut state, &sku, op, value.as_ref()).err();
    }
    let submission = uuid(&mut lock(&sim.base.rng));
    match issue {
        None => {
            state.counters.listing_patches += 1;
            Json(json!({
                "sku": sku, "status": "ACCEPTED", "submissionId": submission, "issues": [],
            }))
            .into_response()
        }
        Some((code, message)) => {
            state.counters.listing_patches_rejected += 1;
            Json(json!({
                "sku": sku, "status": "INVALID", "submissionId": submission,
                "issues": [{
                    "code": code, "message": message, "severity": "ERROR",
                    "attributeNames": ["fulfillment_availability"],
                }]
            }))
            .into_response()
        }
    }
}
