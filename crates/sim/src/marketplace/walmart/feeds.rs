//! `POST /v3/feeds?feedType=inventory` (multipart, part `file`) and
//! `GET /v3/feeds/{feedId}`: bulk inventory applied after
//! `feed_processing_ms`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use rand::RngCore;
use serde_json::{Value, json};

use super::inventory::read_quantity;
use super::state::{Feed, FeedItem, WalmartSim};
use super::wire::{bad_request, header_str, now_ms, walmart_error};
use crate::wire::lock;

/// `getFeedItemStatus` returns at most 50 item details per call.
const MAX_FEED_DETAIL_LIMIT: usize = 50;

/// The `file` part of a `multipart/form-data` body.
pub(super) fn multipart_file<'b>(content_type: &str, body: &'b [u8]) -> Result<&'b [u8], String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or("multipart/form-data needs a boundary")?;
    let delimiter = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or("no multipart boundary in the body")?;
    loop {
        let start = at + delimiter.len();
        if body.get(start..start + 2) == Some(b"--") {
            return Err("no part named file".to_owned());
        }
        let next = find(body, delimiter.as_bytes(), start).ok_or("unterminated multipart body")?;
        let part = &body[start..next];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n", 0).ok_or("multipart part without headers")?;
        let headers = String::from_utf8_lossy(&part[..split]).to_ascii_lowercase();
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let is_file = headers.lines().any(|h| {
            h.starts_with("content-disposition:")
                && h.contains("form-data")
                && h.contains("name=\"file\"")
        });
        if is_file {
            return Ok(content);
        }
        at = next;
    }
}

pub(super) async fn submit_feed(
    State(sim): State<Arc<WalmartSim>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const API: &str = "GMP_FEED_API";
    match query.get("feedType").map(String::as_str) {
        Some("inventory") => {}
        Some("MP_INVENTORY") => {
            return bad_request(
                API,
                "feedType",
                "MP_INVENTORY (multi-node) feeds are not enabled for this seller",
            );
        }
        Some(other) => {
            return bad_request(API, "feedType", format!("unsupported feedType {other:?}"));
        }
        None => return bad_request(API, "feedType", "feedType query parameter is required"),
    }
    let content_type = header_str(&headers, header::CONTENT_TYPE.as_str()).unwrap_or_default();
    if !content_type.starts_with("multipart/form-data") {
        return walmart_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_REQUEST_HEADER.GMP_FEED_API",
            "Content-Type",
            "a feed is uploaded as multipart/form-data with a part named file",
        );
    }
    let file = match multipart_file(content_type, &body) {
        Ok(f) => f,
        Err(e) => return bad_request(API, "file", e),
    };
    let feed: Value = match serde_json::from_slice(file) {
        Ok(v) => v,
        Err(e) => return bad_request(API, "file", format!("the feed file is not JSON: {e}")),
    };
    if feed["InventoryHeader"]["version"].as_str() != Some("1.4") {
        return bad_request(
            API,
            "InventoryHeader.version",
            "an inventory feed needs InventoryHeader.version 1.4",
        );
    }
    let Some(items) = feed["Inventory"].as_array().filter(|a| !a.is_empty()) else {
        return bad_request(API, "Inventory", "must be a non-empty array");
    };
    if items.len() > sim.config.max_feed_items {
        return walmart_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQUEST_ENTITY_TOO_LARGE.GMP_FEED_API",
            "Inventory",
            format!(
                "{} items; a feed takes at most {}",
                items.len(),
                sim.config.max_feed_items
            ),
        );
    }
    let mut state = lock(&sim.state);
    WalmartSim::settle_feeds(&mut state);
    // Per-item problems are not refused here: Walmart takes the file and
    // reports them per item once the feed is processed.
    let parsed: Vec<FeedItem> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let sku = item["sku"].as_str().unwrap_or_default().to_owned();
            let outcome = if sku.trim().is_empty() {
                Err(format!("Inventory[{i}].sku: required"))
            } else if !state.inventory.contains_key(&sku) {
                Err(format!(
                    "The SKU {sku:?} was not found in the seller's catalog"
                ))
            } else {
                read_quantity(&format!("Inventory[{i}].quantity"), item.get("quantity"))
                    .map_err(|(field, message)| format!("{field}: {message}"))
            };
            FeedItem { sku, outcome }
        })
        .collect();
    let mut raw = [0u8; 16];
    lock(&sim.base.rng).fill_bytes(&mut raw);
    let feed_id = format!(
        "{}@AQYBAAA",
        raw.iter().map(|b| format!("{b:02X}")).collect::<String>()
    );
    let now = Instant::now();
    let processing = Duration::from_millis(sim.config.feed_processing_ms);
    state.feeds.push(Feed {
        feed_id: feed_id.clone(),
        submitted_ms: now_ms(),
        due: now + processing,
        received_until: now + processing / 3,
        processed: false,
        items: parsed,
    });
    state.counters.feeds_received += 1;
    Json(json!({ "feedId": feed_id })).into_response()
}

pub(super) async fn feed_status(
    State(sim): State<Arc<WalmartSim>>,
    Path(feed_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    const API: &str = "GMP_FEED_API";
    let include = match query.get("includeDetails").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return bad_request(
                API,
                "includeDetails",
                format!("expected true or false, got {other:?}"),
            );
        }
    };
    // `(field, message)` of a bad number; answered below.
    let number = |key: &'static str, default: usize| match query.get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse::<usize>()
            .map_err(|_| (key, format!("{key} must be a whole number, got {raw:?}"))),
    };
    let offset = match number("offset", 0) {
        Ok(n) => n,
        Err((field, message)) => return bad_request(API, field, message),
    };
    let limit = match number("limit", MAX_FEED_DETAIL_LIMIT) {
        Ok(n) if (1..=MAX_FEED_DETAIL_LIMIT).contains(&n) => n,
        Ok(n) => {
            return bad_request(
                API,
                "limit",
                format!("limit must be within 1..={MAX_FEED_DETAIL_LIMIT}, got {n}"),
            );
        }
        Err((field, message)) => return bad_request(API, field, message),
    };
    let mut state = lock(&sim.state);
    WalmartSim::settle_feeds(&mut state);
    let Some(feed) = state.feeds.iter().find(|f| f.feed_id == feed_id) else {
        return walmart_error(
            StatusCode::NOT_FOUND,
            "CONTENT_NOT_FOUND.GMP_FEED_API",
            "feedId",
            format!("Feed not found for feedId {feed_id}"),
        );
    };
    let status = if feed.processed {
        "PROCESSED"
    } else if Instant::now() < feed.received_until {
        "RECEIVED"
    } else {
        "INPROGRESS"
    };
    let received = feed.items.len();
    let failed = feed.items.iter().filter(|i| i.outcome.is_err()).count();
    let (succeeded, failed, processing) = if feed.processed {
        (received - failed, failed, 0)
    } else {
        (0, 0, received)
    };
    let mut body = json!({
        "feedId": feed.feed_id,
        "feedStatus": status,
        "feedSubmissionDate": feed.submitted_ms,
        "itemsReceived": received,
        "itemsSucceeded": succeeded,
        "itemsFailed": failed,
        "itemsProcessing": processing,
        "offset": offset,
        "limit": limit,
    });
    if include {
        let details: Vec<Value> = feed
            .items
            .iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(index, item)| {
                let mut d = json!({ "martId": 0, "sku": item.sku, "index": index });
                match (&item.outcome, feed.processed) {
                    (_, false) => d["ingestionStatus"] = json!("INPROGRESS"),
                    (Ok(_), true) => d["ingestionStatus"] = json!("SUCCESS"),
                    (Err(e), true) => {
                        d["ingestionStatus"] = json!("DATA_ERROR");
                        d["ingestionErrors"] = json!({ "ingestionError": [ {
                            "type": "DATA_ERROR",
                            "code": "ERR_EXT_DATA_0801001",
                            "description": e,
                        } ] });
                    }
                }
                d
            })
            .collect();
        body["itemDetails"] = json!({ "itemIngestionStatus": details });
    }
    Json(body).into_response()
}
