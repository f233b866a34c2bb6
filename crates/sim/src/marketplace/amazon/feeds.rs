//! Feeds 2021-06-30: feed documents behind presigned URLs on this server
//! (`/sim/s3/...`) that expire, and `JSON_LISTINGS_FEED` feeds processed
//! after `feed_processing_ms`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::listings::{FULFILLMENT_AVAILABILITY, check_patch_path};
use super::state::{AmazonSim, AmazonState, Document, Feed};
use super::wire::{Refusal, host, invalid_input, iso, s3_error, s3_refusal, sp_error};
use crate::fixtures::uuid;
use crate::wire::lock;

/// Messages one `JSON_LISTINGS_FEED` may carry.
const MAX_FEED_MESSAGES: usize = 10_000;
const LISTINGS_FEED: &str = "JSON_LISTINGS_FEED";

impl AmazonSim {
    /// Processes an uploaded `JSON_LISTINGS_FEED`: the processing report
    /// (listings-feed-processing-report-schema-v2) and the final status.
    fn process_feed(&self, state: &mut AmazonState, feed: &Feed) -> (&'static str, Value) {
        let header = |issues: Vec<Value>, processed: u64, accepted: u64, invalid: u64| {
            let errors = issues.len();
            json!({
                "header": {
                    "sellerId": self.config.seller_id,
                    "version": "2.0",
                    "feedId": feed.id,
                },
                "issues": issues,
                "summary": {
                    "errors": errors, "warnings": 0,
                    "messagesProcessed": processed,
                    "messagesAccepted": accepted,
                    "messagesInvalid": invalid,
                }
            })
        };
        let fatal = |message: String| {
            (
                "FATAL",
                header(
                    vec![json!({ "code": "4000000", "severity": "ERROR", "message": message })],
                    0,
                    0,
                    0,
                ),
            )
        };
        if feed.feed_type != LISTINGS_FEED {
            return fatal(format!(
                "Feed type {} is not supported: XML and flat-file listings feeds were \
                 removed; use JSON_LISTINGS_FEED.",
                feed.feed_type
            ));
        }
        let uploaded = state
            .documents
            .get(&feed.input)
            .and_then(|d| d.content.clone());
        let Some(content) = uploaded else {
            return fatal(format!("Feed document {} was never uploaded.", feed.input));
        };
        let doc: Value = match serde_json::from_slice(&content) {
            Ok(v) => v,
            Err(e) => return fatal(format!("The feed is not valid JSON: {e}")),
        };
        let head = doc.get("header");
        let seller = head.and_then(|h| h.get("sellerId")).and_then(Value::as_str);
        if seller != Some(self.config.seller_id.as_str()) {
            return fatal(format!(
                "header.sellerId {:?} does not match the submitting seller.",
                seller.unwrap_or("")
            ));
        }
        if head.and_then(|h| h.get("version")).and_then(Value::as_str) != Some("2.0") {
            return fatal("header.version must be \"2.0\".".into());
        }
        let Some(messages) = doc.get("messages").and_then(Value::as_array) else {
            return fatal("messages is required and must be an array.".into());
        };
        if messages.is_empty() || messages.len() > MAX_FEED_MESSAGES {
            return fatal(format!(
                "messages must hold 1 to {MAX_FEED_MESSAGES} messages, not {}.",
                messages.len()
            ));
        }
        let mut issues = Vec::new();
        let (mut accepted, mut invalid) = (0u64, 0u64);
        let mut seen = std::collections::HashSet::new();
        for (i, m) in messages.iter().enumerate() {
            let id = m
                .get("messageId")
                .and_then(Value::as_u64)
                .filter(|n| *n >= 1);
            let sku = m
                .get("sku")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let result = read_feed_message(m, i, id, sku, &mut seen).and_then(|(sku, changes)| {
                let mut outcome = Ok(());
                for (op, value) in changes {
                    outcome = Self::apply_availability(state, sku, &op, value.as_ref());
                    if outcome.is_err() {
                        break;
                    }
                }
                outcome
            });
            match result {
                Ok(()) => accepted += 1,
                Err((code, message)) => {
                    invalid += 1;
                    let mut issue =
                        json!({ "code": code, "severity": "ERROR", "message": message });
                    if let Some(id) = id {
                        issue["messageId"] = id.into();
                    }
                    if let Some(sku) = sku {
                        issue["sku"] = sku.into();
                    }
                    issues.push(issue);
                }
            }
        }
        state.counters.feed_messages_accepted += accepted;
        state.counters.feed_messages_rejected += invalid;
        (
            "DONE",
            header(issues, accepted + invalid, accepted, invalid),
        )
    }

    /// A presigned URL on this server for a document.
    fn presign(
        &self,
        state: &mut AmazonState,
        host: &str,
        content_type: &str,
        content: Option<Vec<u8>>,
    ) -> (String, String) {
        let (id, signature) = {
            let mut rng = lock(&self.base.rng);
            let mut sig = [0u8; 16];
            rng.fill_bytes(&mut sig);
            let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
            (format!("amzn1.tortuga.4.na.{}", uuid(&mut rng)), sig)
        };
        let signature = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={}&X-Amz-Signature={signature}",
            self.config.document_url_ttl_secs
        );
        state.documents.insert(
            id.clone(),
            Document {
                content_type: content_type.to_owned(),
                signature: signature.clone(),
                expires: Instant::now() + Duration::from_secs(self.config.document_url_ttl_secs),
                content,
            },
        );
        let url = format!("http://{host}/sim/s3/{id}?{signature}");
        (id, url)
    }

    /// A fresh presigned URL to document `id` each time it is asked for, as
    /// Amazon does (feed and report documents alike).
    pub(super) fn sign_document(
        &self,
        state: &mut AmazonState,
        id: &str,
        headers: &HeaderMap,
    ) -> String {
        let mut sig = [0u8; 16];
        lock(&self.base.rng).fill_bytes(&mut sig);
        let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        let signature = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={}&X-Amz-Signature={sig}",
            self.config.document_url_ttl_secs
        );
        let ttl = Duration::from_secs(self.config.document_url_ttl_secs);
        if let Some(doc) = state.documents.get_mut(id) {
            doc.signature = signature.clone();
            doc.expires = Instant::now() + ttl;
        }
        format!("http://{}/sim/s3/{id}?{signature}", host(headers))
    }

    /// Processes a feed once its time is up (spawned by `createFeed`).
    fn finish_feed(self: &Arc<Self>, feed_id: String) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.base.shutdown().cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(this.config.feed_processing_ms)) => {}
            }
            let mut state = lock(&this.state);
            let Some(feed) = state.feeds.get(&feed_id).cloned() else {
                return;
            };
            let (status, report) = this.process_feed(&mut state, &feed);
            let bytes = serde_json::to_vec(&report).unwrap_or_default();
            // The result document's URL is made when it is asked for.
            let result_id = format!("amzn1.tortuga.4.na.{}", uuid(&mut lock(&this.base.rng)));
            state.documents.insert(
                result_id.clone(),
                Document {
                    content_type: "application/json".into(),
                    signature: String::new(),
                    expires: Instant::now(),
                    content: Some(bytes),
                },
            );
            state.counters.feeds_processed += 1;
            if status == "FATAL" {
                state.counters.feeds_fatal += 1;
            }
            if let Some(f) = state.feeds.get_mut(&feed_id) {
                f.outcome = Some((status, result_id));
            }
        });
    }
}

/// One feed message's SKU and its availability changes `(op, value)`, or
/// the issue `(code, message)` that refuses it.
#[allow(clippy::type_complexity)]
pub(super) fn read_feed_message<'a>(
    m: &'a Value,
    index: usize,
    id: Option<u64>,
    sku: Option<&'a str>,
    seen: &mut std::collections::HashSet<u64>,
) -> Result<(&'a str, Vec<(String, Option<Value>)>), (String, String)> {
    let bad = |message: String| ("4000003".to_owned(), message);
    let Some(id) = id else {
        return Err(bad(format!(
            "messages[{index}].messageId is required and must be a positive integer."
        )));
    };
    if !seen.insert(id) {
        return Err(bad(format!(
            "messageId {id} is not unique within the feed."
        )));
    }
    let Some(sku) = sku else {
        return Err(bad(format!("messages[{index}].sku is required.")));
    };
    let operation = m.get("operationType").and_then(Value::as_str).unwrap_or("");
    let product_type = m.get("productType").and_then(Value::as_str).unwrap_or("");
    match operation {
        "PATCH" | "PARTIAL_UPDATE" if product_type.is_empty() => Err(bad(format!(
            "messages[{index}].productType is required for {operation}."
        ))),
        "PATCH" => {
            let Some(patches) = m
                .get("patches")
                .and_then(Value::as_array)
                .filter(|p| !p.is_empty())
            else {
                return Err(bad(format!(
                    "messages[{index}].patches is required for PATCH."
                )));
            };
            let mut changes = Vec::new();
            for (j, p) in patches.iter().enumerate() {
                let op = p.get("op").and_then(Value::as_str).unwrap_or("");
                let path = p.get("path").and_then(Value::as_str).unwrap_or("");
                if !matches!(op, "add" | "replace" | "merge" | "delete") {
                    return Err(bad(format!(
                        "messages[{index}].patches[{j}].op {op:?} is not add, replace, \
                         merge or delete."
                    )));
                }
                check_patch_path(path)
                    .map_err(|e| bad(format!("messages[{index}].patches[{j}].path: {e}")))?;
                if path == FULFILLMENT_AVAILABILITY {
                    changes.push((op.to_owned(), p.get("value").cloned()));
                }
            }
            Ok((sku, changes))
        }
        "PARTIAL_UPDATE" => {
            let Some(attributes) = m.get("attributes").and_then(Value::as_object) else {
                return Err(bad(format!(
                    "messages[{index}].attributes is required for PARTIAL_UPDATE."
                )));
            };
            Ok((
                sku,
                attributes
                    .get("fulfillment_availability")
                    .map(|v| vec![("replace".to_owned(), Some(v.clone()))])
                    .unwrap_or_default(),
            ))
        }
        "UPDATE" | "DELETE" => Err(bad(format!(
            "messages[{index}].operationType {operation} would replace or delete the \
             whole listing; the simulator takes PATCH and PARTIAL_UPDATE only."
        ))),
        other => Err(bad(format!(
            "messages[{index}].operationType {other:?} is not UPDATE, PARTIAL_UPDATE, \
             PATCH or DELETE."
        ))),
    }
}

pub(super) async fn create_feed_document(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return invalid_input("The request body is not valid JSON");
    };
    let Some(content_type) = request
        .get("contentType")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
    else {
        return invalid_input("contentType is required");
    };
    let mut state = lock(&sim.state);
    state.counters.feed_documents_created += 1;
    let (id, url) = sim.presign(&mut state, &host(&headers), content_type, None);
    (
        StatusCode::CREATED,
        Json(json!({ "feedDocumentId": id, "url": url })),
    )
        .into_response()
}

/// Checks a presigned URL: the signature it was issued with, and its expiry.
fn check_presigned(state: &mut AmazonState, id: &str, query: Option<&str>) -> Result<(), Refusal> {
    let Some(doc) = state.documents.get(id) else {
        return Err(s3_refusal("NoSuchKey", "The specified key does not exist."));
    };
    if doc.signature.is_empty() || query != Some(doc.signature.as_str()) {
        return Err(s3_refusal(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    if doc.expires <= Instant::now() {
        state.counters.expired_document_urls += 1;
        return Err(s3_refusal("AccessDenied", "Request has expired"));
    }
    Ok(())
}

pub(super) async fn upload_document(
    State(sim): State<Arc<AmazonSim>>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = lock(&sim.state);
    if let Err(r) = check_presigned(&mut state, &id, uri.query()) {
        return r.into_response();
    }
    let sent_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(doc) = state.documents.get_mut(&id) else {
        return s3_error("NoSuchKey", "The specified key does not exist.");
    };
    // The URL is signed for the declared content type.
    if !sent_type.eq_ignore_ascii_case(&doc.content_type) {
        return s3_error(
            "SignatureDoesNotMatch",
            "Content-Type does not match the contentType the document was created with.",
        );
    }
    doc.content = Some(body.to_vec());
    state.counters.feed_documents_uploaded += 1;
    StatusCode::OK.into_response()
}

pub(super) async fn download_document(
    State(sim): State<Arc<AmazonSim>>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let mut state = lock(&sim.state);
    if let Err(r) = check_presigned(&mut state, &id, uri.query()) {
        return r.into_response();
    }
    let Some(doc) = state.documents.get(&id) else {
        return s3_error("NoSuchKey", "The specified key does not exist.");
    };
    let content_type = doc.content_type.clone();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        doc.content.clone().unwrap_or_default(),
    )
        .into_response()
}

pub(super) async fn get_feed_document(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = lock(&sim.state);
    if !state.documents.contains_key(&id) {
        return sp_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Feed document {id} not found"),
        );
    }
    let url = sim.sign_document(&mut state, &id, &headers);
    Json(json!({ "feedDocumentId": id, "url": url })).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateFeedBody {
    feed_type: String,
    marketplace_ids: Vec<String>,
    input_feed_document_id: String,
    #[serde(default)]
    feed_options: Option<BTreeMap<String, String>>,
}

pub(super) async fn create_feed(State(sim): State<Arc<AmazonSim>>, body: Bytes) -> Response {
    let request: CreateFeedBody = {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        match serde_path_to_error::deserialize(de) {
            Ok(r) => r,
            Err(e) => {
                let (field, message) = crate::wire::describe_path_error(&e);
                return invalid_input(format!("Invalid request body: {field}: {message}"));
            }
        }
    };
    let _ = &request.feed_options;
    if request.marketplace_ids.is_empty() || request.marketplace_ids.len() > 25 {
        return invalid_input("marketplaceIds must hold 1 to 25 marketplace ids");
    }
    if !request.marketplace_ids.contains(&sim.config.marketplace_id) {
        return invalid_input(format!(
            "Invalid marketplaceIds {:?}",
            request.marketplace_ids
        ));
    }
    let mut state = lock(&sim.state);
    if !state
        .documents
        .contains_key(&request.input_feed_document_id)
    {
        return invalid_input(format!(
            "Invalid inputFeedDocumentId {:?}",
            request.input_feed_document_id
        ));
    }
    state.next_feed += 1;
    let id = format!("{}", 50_000_000_000u64 + state.next_feed);
    state.feeds.insert(
        id.clone(),
        Feed {
            id: id.clone(),
            feed_type: request.feed_type,
            marketplace_ids: request.marketplace_ids,
            input: request.input_feed_document_id,
            created: sim.now(),
            created_at: Instant::now(),
            outcome: None,
        },
    );
    state.counters.feeds_created += 1;
    drop(state);
    sim.finish_feed(id.clone());
    (StatusCode::ACCEPTED, Json(json!({ "feedId": id }))).into_response()
}

pub(super) async fn get_feed(
    State(sim): State<Arc<AmazonSim>>,
    Path(id): Path<String>,
) -> Response {
    let state = lock(&sim.state);
    let Some(feed) = state.feeds.get(&id) else {
        return sp_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Feed {id} not found"),
        );
    };
    let elapsed = feed.created_at.elapsed().as_millis() as u64;
    let mut doc = json!({
        "feedId": feed.id,
        "feedType": feed.feed_type,
        "marketplaceIds": feed.marketplace_ids,
        "createdTime": iso(feed.created),
    });
    let queued_ms = sim.config.feed_processing_ms / 3;
    let started = feed.created + chrono::Duration::milliseconds(queued_ms as i64);
    match &feed.outcome {
        Some((status, result)) => {
            doc["processingStatus"] = (*status).into();
            doc["processingStartTime"] = iso(started).into();
            doc["processingEndTime"] =
                iso(feed.created
                    + chrono::Duration::milliseconds(sim.config.feed_processing_ms as i64))
                .into();
            doc["resultFeedDocumentId"] = result.clone().into();
        }
        None if elapsed < queued_ms => doc["processingStatus"] = "IN_QUEUE".into(),
        None => {
            doc["processingStatus"] = "IN_PROGRESS".into();
            doc["processingStartTime"] = iso(started).into();
        }
    }
    Json(doc).into_response()
}
