//! The Shopify Admin REST channel (API version pinned per shop, default
//! `2025-07`).
//!
//! - **Webhooks** (`orders/create`, `orders/updated`, `orders/cancelled`) are
//!   verified against `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(webhook
//!   secret, raw body)) in constant time before the body is read. The dedupe
//!   key is `shopify:<X-Shopify-Event-Id>`. Shopify retries carry the original
//!   payload, so a webhook is a trigger: [`ShopifyChannel::fetch_order`]
//!   reads the current order.
//! - **Ids** stay the JSON text Shopify sent (they exceed 2^53).
//! - **Poll**: `orders.json?status=any&updated_at_min=…&limit=250`, then the
//!   `Link: <…>; rel="next"` cursor. Only its `page_info` is taken (verbatim),
//!   and the next page is asked of our own shop URL, so the access token never
//!   goes to a host named by a response.
//! - **Shipment confirmations** are fulfillments of the order's open
//!   fulfillment orders, one `POST fulfillments.json` per location. Shopify
//!   keeps no external id on a fulfillment, so a package is recognised by what
//!   it carries:
//!   - the tracking number is the carrier's; a package without one is sent
//!     with our package id as its tracking number (no carrier is named);
//!   - `confirm_shipment` first reads `orders/{id}/fulfillments.json`: units
//!     already fulfilled under the same tracking number are not sent again
//!     (a resend after a lost answer, or after one location of several went
//!     through), and when nothing is left it returns the existing ids;
//!   - `find_shipment_confirmation` finds fulfillments whose tracking number is
//!     the package id, i.e. untracked packages. A tracked package is not found
//!     there; the engine then resends and the resend is recognised above.
//!
//!   Limit: two packages of ours with the same tracking number and the same
//!   lines look like one resend; the second is then not confirmed.
//! - A 429 comes back as [`ConnectorError::Throttled`] with its `Retry-After`.

pub mod config;

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat};
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LINK};
use reqwest::{Method, StatusCode, Url};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::channel::polled_order;
use crate::channel::shopify_mapping::shopify_order;
use crate::http::{base_url, check, endpoint};
use crate::input::{JsonId, parse_json, timestamp, timestamp_ms, under};
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

/// The Admin API version used when none is configured.
pub const DEFAULT_API_VERSION: &str = "2025-07";

const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
const EVENT_ID_HEADER: &str = "X-Shopify-Event-Id";
const TOPIC_HEADER: &str = "X-Shopify-Topic";
const ACCESS_TOKEN_HEADER: &str = "x-shopify-access-token";
const TOPICS: [&str; 3] = ["orders/create", "orders/updated", "orders/cancelled"];
/// Shopify's largest page.
const PAGE_LIMIT: &str = "250";
/// Shopify stops paginating at 25 000 objects (100 pages of 250); a cursor
/// that runs past this is broken.
const MAX_PAGES: usize = 1_000;
/// Fulfillment order statuses that accept a fulfillment.
const FULFILLABLE: [&str; 2] = ["open", "in_progress"];
/// Fulfillment statuses that did not (or no longer) fulfil anything.
const DEAD_FULFILLMENT: [&str; 3] = ["cancelled", "error", "failure"];
/// `inventorySetQuantities` takes `changeFromQuantity` and `@idempotent`
/// (both mandatory) from this version on; inventory calls use it (or the
/// shop's version when newer) whatever version the REST calls pin.
const INVENTORY_API_VERSION: &str = "2026-04";
/// SKUs per `inventorySetQuantities` on the schedule (Shopify takes 250).
const BATCH_LIMIT: usize = 50;
/// SKUs per call for a hot SKU: small, so one slow SKU does not hold others.
const URGENT_LIMIT: usize = 5;
/// Leak rate of the REST bucket on a Standard plan; the header says how
/// full it is, not how fast it drains, so the slowest plan's rate is assumed.
const REST_LEAK_PER_SEC: f64 = 2.0;
/// Calls kept free in the REST bucket for other clients of the same app.
const REST_MARGIN: f64 = 2.0;
/// Requested cost of one inventory call, kept free in the GraphQL bucket.
const GRAPHQL_CALL_COST: f64 = 60.0;
/// Never sleep longer than this before a call: past it, let Shopify say 429.
/// Long enough for a full Standard bucket to drain, so a burst of work
/// queues here instead of earning 429s.
const MAX_PACING_WAIT: Duration = Duration::from_secs(30);
/// The REST bucket of a Standard plan, assumed until the first answer says.
const REST_BUCKET_SIZE: f64 = 40.0;
/// Rounds of `inventorySetQuantities` per push: the mutation is all or
/// nothing, so each round drops the SKUs Shopify refused and resends the rest.
const MAX_ROUNDS: usize = 4;

/// How to reach one shop.
#[derive(Clone)]
pub struct ShopifyOptions {
    /// The channel's name in the hub.
    pub name: String,
    /// e.g. `https://my-shop.myshopify.com`; the Admin API is under
    /// `{shop_url}/admin/api/{api_version}/`.
    pub shop_url: String,
    pub api_version: String,
    /// Sent as `X-Shopify-Access-Token`.
    pub access_token: String,
    /// The app's client secret, which signs webhooks.
    pub webhook_secret: String,
}

impl ShopifyOptions {
    /// Options with the default API version.
    pub fn new(
        name: impl Into<String>,
        shop_url: impl Into<String>,
        access_token: impl Into<String>,
        webhook_secret: impl Into<String>,
    ) -> Self {
        ShopifyOptions {
            name: name.into(),
            shop_url: shop_url.into(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            access_token: access_token.into(),
            webhook_secret: webhook_secret.into(),
        }
    }
}

impl fmt::Debug for ShopifyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyOptions")
            .field("name", &self.name)
            .field("shop_url", &self.shop_url)
            .field("api_version", &self.api_version)
            .field("access_token", &"<redacted>")
            .field("webhook_secret", &"<redacted>")
            .finish()
    }
}

pub struct ShopifyChannel {
    name: String,
    /// `{shop_url}/admin/api/{api_version}`.
    api: Url,
    /// `{shop_url}/admin/api/{graphql version}/graphql.json`, for inventory.
    graphql: Url,
    http: HttpClient,
    /// `X-Shopify-Access-Token`, sent with every Admin API call.
    token: HeaderValue,
    webhook_secret: Vec<u8>,
    /// What the last REST answer said of the call bucket, to wait before
    /// a call that would overflow it instead of earning a 429.
    rest_budget: Mutex<Option<Budget>>,
    /// The same for the GraphQL cost bucket.
    graphql_budget: Mutex<Option<Budget>>,
    /// SKU → where its `available` quantity is set. Filled on first use;
    /// a SKU Shopify does not know is looked up again next time.
    inventory_targets: Mutex<HashMap<String, InventoryTarget>>,
}

/// A leaky bucket as last reported: `used` of `size` at `at`, draining at
/// `per_sec`.
#[derive(Debug, Clone, Copy)]
struct Budget {
    used: f64,
    size: f64,
    per_sec: f64,
    at: Instant,
}

impl Budget {
    fn used_now(&self, now: Instant) -> f64 {
        (self.used - now.saturating_duration_since(self.at).as_secs_f64() * self.per_sec).max(0.0)
    }

    /// Takes `cost` from the bucket for a call about to be made and returns
    /// how long to wait first so it fits while keeping `margin` free. The
    /// cost is counted at once, so concurrent callers queue behind each
    /// other instead of all seeing the same free room.
    fn reserve(&mut self, cost: f64, margin: f64) -> Duration {
        let now = Instant::now();
        let used = self.used_now(now);
        let over = used + cost + margin - self.size;
        self.used = used + cost;
        self.at = now;
        if over <= 0.0 || self.per_sec <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(over / self.per_sec).min(MAX_PACING_WAIT)
    }

    /// What Shopify reported: it cannot count calls still on their way, so
    /// the fuller of its word and our own reckoning stands.
    fn observe(&mut self, used: f64, size: f64, per_sec: f64) {
        let now = Instant::now();
        self.used = used.max(self.used_now(now));
        self.size = size;
        self.per_sec = per_sec;
        self.at = now;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct InventoryTarget {
    inventory_item_id: String,
    location_id: String,
}

impl fmt::Debug for ShopifyChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyChannel")
            .field("name", &self.name)
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct EnvelopeWire {
    id: JsonId,
    updated_at: String,
}

#[derive(Debug, Deserialize)]
struct StateWire {
    id: JsonId,
    updated_at: String,
    #[serde(default)]
    cancelled_at: Option<String>,
    #[serde(default)]
    cancel_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WrapProbe {
    #[serde(default)]
    order: Option<Box<RawValue>>,
    #[serde(default)]
    line_items: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct OrderResponse {
    order: Box<RawValue>,
}

#[derive(Debug, Deserialize)]
struct OrdersPage {
    orders: Vec<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentOrdersWire {
    fulfillment_orders: Vec<FulfillmentOrderWire>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentOrderWire {
    id: JsonId,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    assigned_location_id: Option<JsonId>,
    #[serde(default)]
    line_items: Vec<FulfillmentOrderLineWire>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentOrderLineWire {
    id: JsonId,
    line_item_id: JsonId,
    #[serde(default)]
    fulfillable_quantity: i64,
}

#[derive(Debug, Deserialize)]
struct FulfillmentsWire {
    fulfillments: Vec<FulfillmentWire>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentWire {
    id: JsonId,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    tracking_number: Option<String>,
    #[serde(default)]
    tracking_numbers: Vec<String>,
    #[serde(default)]
    line_items: Vec<FulfilledLineWire>,
}

#[derive(Debug, Deserialize)]
struct FulfilledLineWire {
    /// The order's line item id.
    id: JsonId,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
struct CreatedFulfillmentWire {
    fulfillment: CreatedFulfillment,
}

#[derive(Debug, Deserialize)]
struct CreatedFulfillment {
    id: JsonId,
}

#[derive(Debug, Serialize)]
struct FulfillmentRequest<'a> {
    fulfillment: FulfillmentBody<'a>,
}

#[derive(Debug, Serialize)]
struct FulfillmentBody<'a> {
    line_items_by_fulfillment_order: Vec<ByFulfillmentOrder>,
    tracking_info: TrackingInfo<'a>,
    notify_customer: bool,
}

#[derive(Debug, Serialize)]
struct ByFulfillmentOrder {
    fulfillment_order_id: Box<RawValue>,
    fulfillment_order_line_items: Vec<FulfillmentOrderLineItem>,
}

#[derive(Debug, Serialize)]
struct FulfillmentOrderLineItem {
    id: Box<RawValue>,
    quantity: u32,
}

#[derive(Debug, Serialize)]
struct TrackingInfo<'a> {
    number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

/// A Shopify id back in JSON: a whole number as a number (exact, from its
/// text), anything else as a string.
fn id_json(id: &str) -> Box<RawValue> {
    let text = if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        id.to_owned()
    } else {
        serde_json::Value::String(id.to_owned()).to_string()
    };
    RawValue::from_string(text).expect("valid JSON")
}

/// A webhook header under its `X-Shopify-` name or the newer `Shopify-` one.
fn shopify_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, InputError> {
    let short = name.trim_start_matches("X-");
    let Some(value) = headers.get(name).or_else(|| headers.get(short)) else {
        return Ok(None);
    };
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| InputError::new(name, "not visible ASCII"))
}

fn required_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, InputError> {
    match shopify_header(headers, name)? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(InputError::new(name, "missing")),
    }
}

/// Reads the order object of a bare order (webhook body) or of
/// `{"order": {...}}` (REST answer); errors in the latter read `order.<field>`.
/// Returns the path prefix for errors found in the object later.
fn order_part<T: DeserializeOwned>(body: &[u8]) -> Result<(T, &'static str), InputError> {
    let probe: WrapProbe = parse_json(body)?;
    match probe.order {
        Some(order) if probe.line_items.is_none() => parse_json(order.get().as_bytes())
            .map(|t| (t, "order"))
            .map_err(under("order")),
        _ => parse_json(body).map(|t| (t, "")),
    }
}

fn read_envelope(body: &[u8]) -> Result<(String, i64), InputError> {
    let (wire, at): (EnvelopeWire, _) = order_part(body)?;
    let version = timestamp_ms("updated_at", &wire.updated_at).map_err(under(at))?;
    Ok((wire.id.0, version))
}

/// `page_info` of the `rel="next"` entry of `Link` headers, verbatim.
fn next_page_info(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(text) = value.to_str() else { continue };
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>').map(|c| open + c) else {
                break;
            };
            let target = &rest[open + 1..close];
            let params_end = rest[close..].find('<').map_or(rest.len(), |n| close + n);
            let params = &rest[close + 1..params_end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.strip_prefix("rel=")
                    .map(|r| r.trim_matches('"').split_whitespace().any(|r| r == "next"))
                    .unwrap_or(false)
            });
            if is_next {
                let query = target.split_once('?')?.1;
                let query = query.split('#').next().unwrap_or(query);
                return query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("page_info="))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned);
            }
            rest = &rest[params_end..];
        }
    }
    None
}

/// `X-Shopify-Shop-Api-Call-Limit: 12/40` as `(12, 40)`.
fn call_limit(headers: &HeaderMap) -> Option<(f64, f64)> {
    let text = headers
        .get("x-shopify-shop-api-call-limit")?
        .to_str()
        .ok()?;
    let (used, size) = text.trim().split_once('/')?;
    let used: f64 = used.trim().parse().ok()?;
    let size: f64 = size.trim().parse().ok()?;
    (size > 0.0).then_some((used, size))
}

// ---- GraphQL (inventory) ----

const VARIANTS_QUERY: &str = "query InventoryTargets($query: String!, $first: Int!) { \
    productVariants(first: $first, query: $query) { nodes { sku inventoryItem { id \
    inventoryLevels(first: 10) { nodes { location { id } \
    quantities(names: [\"available\"]) { name quantity } } } } } } }";

const SET_MUTATION: &str = "mutation SetAvailable($input: InventorySetQuantitiesInput!, $key: String!) { \
    inventorySetQuantities(input: $input) @idempotent(key: $key) { \
    inventoryAdjustmentGroup { createdAt } userErrors { field message code } } }";

#[derive(Debug, Deserialize)]
struct GraphqlAnswer<T> {
    #[serde(default = "none")]
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
    #[serde(default)]
    extensions: Option<GraphqlExtensions>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Debug, Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(default)]
    extensions: Option<GraphqlErrorExtensions>,
}

#[derive(Debug, Deserialize)]
struct GraphqlErrorExtensions {
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GraphqlExtensions {
    #[serde(default)]
    cost: Option<QueryCost>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryCost {
    #[serde(default)]
    requested_query_cost: Option<f64>,
    #[serde(default)]
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThrottleStatus {
    maximum_available: f64,
    currently_available: f64,
    restore_rate: f64,
}

#[derive(Debug, Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantsData {
    product_variants: Nodes<VariantNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantNode {
    #[serde(default)]
    sku: Option<String>,
    inventory_item: InventoryItemNode,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InventoryItemNode {
    id: String,
    inventory_levels: Nodes<LevelNode>,
}

#[derive(Debug, Deserialize)]
struct LevelNode {
    location: IdNode,
    #[serde(default)]
    quantities: Vec<QuantityNode>,
}

#[derive(Debug, Deserialize)]
struct IdNode {
    id: String,
}

#[derive(Debug, Deserialize)]
struct QuantityNode {
    name: String,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetData {
    inventory_set_quantities: Option<SetPayload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPayload {
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
struct UserError {
    #[serde(default)]
    field: Option<Vec<String>>,
    message: String,
    #[serde(default)]
    code: Option<String>,
}

/// What a lookup found for one SKU: where to set it and what it shows, or
/// why it cannot be set.
type Found = Result<(InventoryTarget, Option<i64>), String>;

/// A Shopify search term matching exactly `sku`.
fn sku_term(sku: &str) -> String {
    let escaped = sku.replace('\\', "\\\\").replace('"', "\\\"");
    format!("sku:\"{escaped}\"")
}

/// The `@idempotent` key of one round: the update's own key when it goes
/// alone, else a digest of the keys of the SKUs in the call, so a resend of
/// the same batch carries the same key and a different batch never does.
fn round_key(keys: &[&str]) -> String {
    if let [only] = keys
        && !only.is_empty()
        && only.len() <= 255
    {
        return (*only).to_owned();
    }
    let mut digest = Sha256::new();
    for key in keys {
        digest.update(key.as_bytes());
        digest.update(b"\n");
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("crossdock-batch-{hex}")
}

impl ShopifyChannel {
    /// One GraphQL call; top-level errors are call failures (`THROTTLED`
    /// is [`ConnectorError::Throttled`], with the wait the cost bucket implies).
    async fn graphql<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<T, ConnectorError> {
        let url = self.graphql.clone();
        let request = serde_json::json!({ "query": query, "variables": variables });
        let (_, body) = self.send(Method::POST, &url, Some(&request)).await?;
        let answer: GraphqlAnswer<T> =
            serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
        let cost = answer.extensions.and_then(|e| e.cost);
        let requested = cost.as_ref().and_then(|c| c.requested_query_cost);
        let status = cost.and_then(|c| c.throttle_status);
        if let Some(t) = &status {
            let used = t.maximum_available - t.currently_available;
            let mut budget = self
                .graphql_budget
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match budget.as_mut() {
                Some(b) => b.observe(used, t.maximum_available, t.restore_rate),
                None => {
                    *budget = Some(Budget {
                        used,
                        size: t.maximum_available,
                        per_sec: t.restore_rate,
                        at: Instant::now(),
                    })
                }
            }
        }
        if !answer.errors.is_empty() {
            let throttled = answer.errors.iter().any(|e| {
                e.extensions.as_ref().and_then(|x| x.code.as_deref()) == Some("THROTTLED")
            });
            let messages: Vec<&str> = answer.errors.iter().map(|e| e.message.as_str()).collect();
            let reason = format!("Shopify GraphQL: {}", messages.join("; "));
            if throttled {
                let wait = match (&status, requested) {
                    (Some(t), Some(r)) if t.restore_rate > 0.0 => ((r - t.currently_available)
                        / t.restore_rate)
                        .ceil()
                        .max(1.0),
                    _ => 1.0,
                };
                return Err(ConnectorError::Throttled {
                    reason,
                    retry_after: Duration::from_secs_f64(wait),
                });
            }
            return Err(ConnectorError::rejected(reason));
        }
        answer
            .data
            .ok_or_else(|| unreadable(&url, "no data and no errors"))
    }

    /// Where each SKU's `available` is set, and what it shows now. A SKU
    /// must be on exactly one variant stocked at exactly one location: the
    /// hub publishes one number per SKU and cannot split it.
    async fn lookup(&self, skus: &[&str]) -> Result<HashMap<String, Found>, ConnectorError> {
        let mut out = HashMap::new();
        for chunk in skus.chunks(BATCH_LIMIT) {
            let query: Vec<String> = chunk.iter().map(|s| sku_term(s)).collect();
            let data: VariantsData = self
                .graphql(
                    VARIANTS_QUERY,
                    serde_json::json!({ "query": query.join(" OR "), "first": 250 }),
                )
                .await?;
            for sku in chunk {
                let variants: Vec<&VariantNode> = data
                    .product_variants
                    .nodes
                    .iter()
                    .filter(|v| v.sku.as_deref().map(str::trim) == Some(*sku))
                    .collect();
                let found = match variants.as_slice() {
                    [] => Err("no variant with this SKU on Shopify".to_owned()),
                    [v] => match v.inventory_item.inventory_levels.nodes.as_slice() {
                        [level] => Ok((
                            InventoryTarget {
                                inventory_item_id: v.inventory_item.id.clone(),
                                location_id: level.location.id.clone(),
                            },
                            level
                                .quantities
                                .iter()
                                .find(|q| q.name == "available")
                                .map(|q| q.quantity),
                        )),
                        levels => Err(format!(
                            "stocked at {} locations on Shopify; one is needed",
                            levels.len()
                        )),
                    },
                    many => Err(format!("{} variants carry this SKU on Shopify", many.len())),
                };
                out.insert((*sku).to_owned(), found);
            }
        }
        Ok(out)
    }
}

fn unreadable(url: &Url, e: impl fmt::Display) -> ConnectorError {
    // A 2xx we cannot read: in doubt, as HttpClient treats it.
    ConnectorError::transient(format!("unreadable answer from {url}: {e}"))
}

impl ShopifyChannel {
    pub fn new(options: ShopifyOptions, http: HttpClient) -> Result<Self, ConnectorError> {
        let ShopifyOptions {
            name,
            shop_url,
            api_version,
            access_token,
            webhook_secret,
        } = options;
        if api_version.trim().is_empty() || api_version.contains('/') {
            return Err(ConnectorError::rejected(format!(
                "bad Shopify API version {api_version:?}"
            )));
        }
        if webhook_secret.is_empty() {
            return Err(ConnectorError::rejected("Shopify webhook secret is empty"));
        }
        let token = HeaderValue::from_str(&access_token).map_err(|_| {
            ConnectorError::rejected("Shopify access token is not a valid header value")
        })?;
        let base = base_url(&shop_url)?;
        let api = endpoint(&base, &["admin", "api", &api_version]);
        // Versions are `YYYY-MM`, so text order is time order.
        let graphql_version = if api_version.as_str() > INVENTORY_API_VERSION {
            api_version.as_str()
        } else {
            INVENTORY_API_VERSION
        };
        let graphql = endpoint(&base, &["admin", "api", graphql_version, "graphql.json"]);
        let mut token = token;
        token.set_sensitive(true);
        Ok(ShopifyChannel {
            name,
            api,
            graphql,
            http,
            token,
            webhook_secret: webhook_secret.into_bytes(),
            rest_budget: Mutex::new(Some(Budget {
                used: 0.0,
                size: REST_BUCKET_SIZE,
                per_sec: REST_LEAK_PER_SEC,
                at: Instant::now(),
            })),
            graphql_budget: Mutex::new(None),
            inventory_targets: Mutex::new(HashMap::new()),
        })
    }

    /// One Admin API call: waits if the bucket is nearly full, sends the
    /// token and records what the answer says of the bucket. Every answer
    /// comes back; the caller decides what a status means (`check` reads
    /// Shopify's fractional `Retry-After`, `2.0`, as whole seconds up).
    async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        let graphql = url == self.graphql;
        let wait = {
            let budget = if graphql {
                &self.graphql_budget
            } else {
                &self.rest_budget
            };
            let mut budget = budget.lock().unwrap_or_else(|p| p.into_inner());
            match budget.as_mut() {
                Some(b) if graphql => b.reserve(GRAPHQL_CALL_COST, 0.0),
                Some(b) => b.reserve(1.0, REST_MARGIN),
                None => Duration::ZERO,
            }
        };
        if !wait.is_zero() {
            tracing::debug!(channel = %self.name, ?wait, "pacing Shopify calls to the call budget");
            tokio::time::sleep(wait).await;
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(ACCESS_TOKEN_HEADER),
            self.token.clone(),
        );
        let body = match body {
            Some(b) => Some((
                "application/json",
                serde_json::to_vec(b).map_err(|e| {
                    ConnectorError::rejected(format!("cannot encode a Shopify request: {e}"))
                })?,
            )),
            None => None,
        };
        let (status, headers, answer) = self.http.exchange_raw(method, url, headers, body).await?;
        if let Some((used, size)) = call_limit(&headers) {
            let mut budget = self.rest_budget.lock().unwrap_or_else(|p| p.into_inner());
            match budget.as_mut() {
                Some(b) => b.observe(used, size, REST_LEAK_PER_SEC),
                None => {
                    *budget = Some(Budget {
                        used,
                        size,
                        per_sec: REST_LEAK_PER_SEC,
                        at: Instant::now(),
                    })
                }
            }
        }
        Ok((status, headers, answer))
    }

    /// `GET url`: the body of a 2xx, `None` for a 404, else the usual error.
    async fn get_opt(&self, url: &Url) -> Result<Option<(HeaderMap, Vec<u8>)>, ConnectorError> {
        let (status, headers, body) = self.call(Method::GET, url.clone(), None::<&()>).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check(status, Some(&headers), body).map(|body| Some((headers, body)))
    }

    async fn get_json_opt<T: DeserializeOwned>(
        &self,
        url: &Url,
    ) -> Result<Option<T>, ConnectorError> {
        match self.get_opt(url).await? {
            Some((_, body)) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| unreadable(url, e)),
            None => Ok(None),
        }
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&B>,
    ) -> Result<(HeaderMap, Vec<u8>), ConnectorError> {
        let (status, headers, answer) = self.call(method, url.clone(), body).await?;
        check(status, Some(&headers), answer).map(|answer| (headers, answer))
    }

    fn url(&self, segments: &[&str]) -> Url {
        endpoint(&self.api, segments)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), InputError> {
        let given = required_header(headers, HMAC_HEADER)
            .map_err(|e| InputError::unauthenticated(e.path, e.message))?;
        let mismatch = || InputError::unauthenticated(HMAC_HEADER, "signature does not match");
        let given = BASE64.decode(given).map_err(|_| mismatch())?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.webhook_secret)
            .expect("HMAC takes a key of any length");
        mac.update(body);
        mac.verify_slice(&given).map_err(|_| mismatch())
    }

    /// The current order (`GET orders/{id}.json`): the raw bytes of its
    /// `order` object, which [`Channel::map_message`] accepts. `None` when
    /// Shopify does not know the order (404).
    pub async fn fetch_order(
        &self,
        external_order_id: &str,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let url = self.url(&["orders", &format!("{external_order_id}.json")]);
        let answer: Option<OrderResponse> = self.get_json_opt(&url).await?;
        Ok(answer.map(|a| a.order.get().as_bytes().to_vec()))
    }

    /// The order's fulfillments that stand (not cancelled or failed).
    async fn live_fulfillments(
        &self,
        external_order_id: &str,
    ) -> Result<Option<Vec<FulfillmentWire>>, ConnectorError> {
        let url = self.url(&["orders", external_order_id, "fulfillments.json"]);
        let answer: Option<FulfillmentsWire> = self.get_json_opt(&url).await?;
        Ok(answer.map(|a| {
            a.fulfillments
                .into_iter()
                .filter(|f| {
                    !f.status
                        .as_deref()
                        .is_some_and(|s| DEAD_FULFILLMENT.contains(&s))
                })
                .collect()
        }))
    }

    async fn post_fulfillments(
        &self,
        external_order_id: &str,
        needed: &[(String, u32)],
        tracking: &TrackingInfo<'_>,
    ) -> Result<Vec<String>, ConnectorError> {
        let url = self.url(&["orders", external_order_id, "fulfillment_orders.json"]);
        let (_, body) = self.send(Method::GET, &url, None::<&()>).await?;
        let orders: FulfillmentOrdersWire =
            serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
        // (location, [(fulfillment order id, [(fulfillment order line id, quantity)])])
        type Plan = Vec<(String, Vec<(String, Vec<(String, u32)>)>)>;
        let mut plan: Plan = Vec::new();
        let mut taken: HashMap<String, i64> = HashMap::new();
        for (line_id, quantity) in needed {
            let mut remaining = i64::from(*quantity);
            for fo in &orders.fulfillment_orders {
                if remaining == 0 {
                    break;
                }
                if !fo
                    .status
                    .as_deref()
                    .is_some_and(|s| FULFILLABLE.contains(&s))
                {
                    continue;
                }
                for item in fo
                    .line_items
                    .iter()
                    .filter(|i| i.line_item_id.0 == *line_id)
                {
                    let used = taken.entry(item.id.0.clone()).or_default();
                    let free = (item.fulfillable_quantity - *used).max(0);
                    let take = free.min(remaining);
                    if take == 0 {
                        continue;
                    }
                    *used += take;
                    remaining -= take;
                    let location = fo
                        .assigned_location_id
                        .as_ref()
                        .map(|l| l.0.clone())
                        .unwrap_or_default();
                    let at = match plan.iter().position(|(l, _)| *l == location) {
                        Some(at) => at,
                        None => {
                            plan.push((location, Vec::new()));
                            plan.len() - 1
                        }
                    };
                    let group = &mut plan[at].1;
                    let at = match group.iter().position(|(f, _)| *f == fo.id.0) {
                        Some(at) => at,
                        None => {
                            group.push((fo.id.0.clone(), Vec::new()));
                            group.len() - 1
                        }
                    };
                    let lines = &mut group[at].1;
                    let take = u32::try_from(take).unwrap_or(u32::MAX);
                    match lines.iter_mut().find(|(id, _)| *id == item.id.0) {
                        Some((_, q)) => *q += take,
                        None => lines.push((item.id.0.clone(), take)),
                    }
                    if remaining == 0 {
                        break;
                    }
                }
            }
            if remaining > 0 {
                return Err(ConnectorError::rejected(format!(
                    "line item {line_id}: {remaining} of {quantity} units are not open for \
                     fulfillment on Shopify order {external_order_id}"
                )));
            }
        }
        let url = self.url(&["fulfillments.json"]);
        let mut ids = Vec::with_capacity(plan.len());
        // One fulfillment per location: Shopify refuses fulfillment orders of
        // several locations in one request.
        for (_, group) in plan {
            let body = FulfillmentRequest {
                fulfillment: FulfillmentBody {
                    line_items_by_fulfillment_order: group
                        .into_iter()
                        .map(|(fo, lines)| ByFulfillmentOrder {
                            fulfillment_order_id: id_json(&fo),
                            fulfillment_order_line_items: lines
                                .into_iter()
                                .map(|(id, quantity)| FulfillmentOrderLineItem {
                                    id: id_json(&id),
                                    quantity,
                                })
                                .collect(),
                        })
                        .collect(),
                    tracking_info: TrackingInfo {
                        number: tracking.number,
                        company: tracking.company,
                        url: tracking.url,
                    },
                    notify_customer: false,
                },
            };
            let (_, answer) = self.send(Method::POST, &url, Some(&body)).await?;
            let created: CreatedFulfillmentWire =
                serde_json::from_slice(&answer).map_err(|e| unreadable(&url, e))?;
            ids.push(created.fulfillment.id.0);
        }
        Ok(ids)
    }
}

#[async_trait]
impl Channel for ShopifyChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        self.verify(headers, body)?;
        let topic = required_header(headers, TOPIC_HEADER)?;
        if !TOPICS.contains(&topic) {
            return Err(InputError::new(
                TOPIC_HEADER,
                format!("topic {topic:?} is not one of {}", TOPICS.join(", ")),
            ));
        }
        let event_id = required_header(headers, EVENT_ID_HEADER)?;
        let (external_order_id, source_version) = read_envelope(body)?;
        Ok(InboundEnvelope {
            message_key: format!("shopify:{event_id}"),
            external_order_id,
            source_version,
        })
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let (state, at): (StateWire, _) = order_part(body)?;
        match state.cancelled_at.filter(|c| !c.trim().is_empty()) {
            Some(cancelled_at) => {
                timestamp("cancelled_at", &cancelled_at).map_err(under(at))?;
                Ok(ChannelEvent::Cancelled {
                    external_order_id: state.id.0,
                    source_version: timestamp_ms("updated_at", &state.updated_at)
                        .map_err(under(at))?,
                    reason: state
                        .cancel_reason
                        .filter(|r| !r.trim().is_empty())
                        .unwrap_or_else(|| "cancelled on Shopify".to_owned()),
                })
            }
            None => Ok(ChannelEvent::Order(Box::new(shopify_order(
                &self.name, body,
            )?))),
        }
    }

    /// A Shopify webhook is a trigger: its payload may be a retry carrying
    /// the state of hours ago, so the order is read again from the Admin
    /// API. An order Shopify no longer knows is processed as delivered.
    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        let (id, _) = read_envelope(delivered)
            .map_err(|e| ConnectorError::rejected(format!("stored Shopify webhook: {e}")))?;
        self.fetch_order(&id).await
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let since = DateTime::from_timestamp_millis(since_ms)
            .ok_or_else(|| ConnectorError::rejected(format!("poll time {since_ms} out of range")))?
            // Whole seconds, rounded down: Shopify's times have no fraction,
            // and at-or-after must not lose the order updated in that second.
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let list = self.url(&["orders.json"]);
        let mut url = list.clone();
        url.query_pairs_mut().extend_pairs([
            ("status", "any"),
            ("updated_at_min", since.as_str()),
            ("limit", PAGE_LIMIT),
        ]);
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let (headers, body) = self.send(Method::GET, &url, None::<&()>).await?;
            let page: OrdersPage =
                serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
            out.extend(page.orders.iter().filter_map(|order| {
                let raw = order.get().as_bytes().to_vec();
                polled_order(&self.name, "shopify", raw, read_envelope)
            }));
            let Some(page_info) = next_page_info(&headers) else {
                return Ok(out);
            };
            // The cursor carries the filters; Shopify allows only `limit` beside it.
            url = list.clone();
            url.set_query(Some(&format!("limit={PAGE_LIMIT}&page_info={page_info}")));
        }
        Err(ConnectorError::rejected(format!(
            "Shopify order pagination did not end after {MAX_PAGES} pages"
        )))
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let order_id = &confirmation.external_order_id;
        let tracking = &confirmation.shipment.tracking;
        let tracked = !tracking.number.trim().is_empty();
        let info = TrackingInfo {
            number: if tracked {
                tracking.number.trim()
            } else {
                &confirmation.package_id
            },
            company: Some(tracking.carrier.trim()).filter(|c| tracked && !c.is_empty()),
            url: tracking
                .url
                .as_deref()
                .map(str::trim)
                .filter(|u| tracked && !u.is_empty()),
        };
        // Units per line still to confirm, less what a fulfillment under the
        // same tracking number already holds (an earlier send of this package).
        let mut needed: Vec<(String, u32)> = Vec::new();
        for line in &confirmation.shipment.lines {
            match needed.iter_mut().find(|(id, _)| *id == line.line_id) {
                Some((_, q)) => *q += line.quantity,
                None => needed.push((line.line_id.clone(), line.quantity)),
            }
        }
        let mut ids = Vec::new();
        let existing = self.live_fulfillments(order_id).await?.ok_or_else(|| {
            ConnectorError::rejected(format!("Shopify does not know order {order_id}"))
        })?;
        for f in existing.iter().filter(|f| carries(f, info.number)) {
            let mut ours = false;
            for fl in &f.line_items {
                if let Some((_, q)) = needed.iter_mut().find(|(id, _)| *id == fl.id.0) {
                    *q = q.saturating_sub(u32::try_from(fl.quantity.max(0)).unwrap_or(u32::MAX));
                    ours = true;
                }
            }
            if ours {
                ids.push(f.id.0.clone());
            }
        }
        needed.retain(|(_, q)| *q > 0);
        if !needed.is_empty() {
            ids.extend(self.post_fulfillments(order_id, &needed, &info).await?);
        }
        if ids.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "shipment {} confirms no units",
                confirmation.package_id
            )));
        }
        Ok(ids.join(","))
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(existing) = self.live_fulfillments(external_order_id).await? else {
            return Ok(None);
        };
        let ids: Vec<String> = existing
            .into_iter()
            .filter(|f| carries(f, package_id))
            .map(|f| f.id.0)
            .collect();
        Ok((!ids.is_empty()).then(|| ids.join(",")))
    }

    fn availability_batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        match cadence {
            AvailabilityCadence::Batch => BATCH_LIMIT,
            AvailabilityCadence::Urgent => URGENT_LIMIT,
        }
    }

    /// `inventorySetQuantities` of `available` with `previous` as
    /// `changeFromQuantity` (compare-and-set) under an `@idempotent` key.
    /// Shopify applies a call all or nothing, so SKUs it refuses are
    /// reported and the rest resent in another round with their own key.
    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        _cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut outcomes: Vec<Option<AvailabilityOutcome>> = vec![None; updates.len()];
        let mut targets: Vec<Option<InventoryTarget>> = vec![None; updates.len()];
        let mut missing: Vec<&str> = Vec::new();
        {
            let cache = self
                .inventory_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (i, u) in updates.iter().enumerate() {
                if u.quantity < 0 {
                    outcomes[i] = Some(AvailabilityOutcome::Rejected {
                        reason: format!("negative quantity {}", u.quantity),
                    });
                } else if let Some(t) = cache.get(&u.sku) {
                    targets[i] = Some(t.clone());
                } else if !missing.contains(&u.sku.as_str()) {
                    missing.push(&u.sku);
                }
            }
        }
        if !missing.is_empty() {
            let found = self.lookup(&missing).await?;
            let mut cache = self
                .inventory_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (i, u) in updates.iter().enumerate() {
                match found.get(&u.sku) {
                    Some(Ok((t, _))) => {
                        cache.insert(u.sku.clone(), t.clone());
                        targets[i] = Some(t.clone());
                    }
                    Some(Err(reason)) if outcomes[i].is_none() => {
                        outcomes[i] = Some(AvailabilityOutcome::Rejected {
                            reason: reason.clone(),
                        });
                    }
                    _ => {}
                }
            }
        }
        for _ in 0..MAX_ROUNDS {
            let pending: Vec<usize> = (0..updates.len())
                .filter(|i| outcomes[*i].is_none() && targets[*i].is_some())
                .collect();
            if pending.is_empty() {
                break;
            }
            let keys: Vec<&str> = pending
                .iter()
                .map(|i| updates[*i].idempotency_key.as_str())
                .collect();
            let quantities: Vec<serde_json::Value> = pending
                .iter()
                .filter_map(|i| {
                    let t = targets[*i].as_ref()?;
                    Some(serde_json::json!({
                        "inventoryItemId": t.inventory_item_id,
                        "locationId": t.location_id,
                        "quantity": updates[*i].quantity,
                        "changeFromQuantity": updates[*i].previous,
                    }))
                })
                .collect();
            let input = serde_json::json!({
                "name": "available",
                "reason": "correction",
                "quantities": quantities,
            });
            let data: SetData = self
                .graphql(
                    SET_MUTATION,
                    serde_json::json!({ "input": input, "key": round_key(&keys) }),
                )
                .await?;
            let payload = data.inventory_set_quantities.ok_or_else(|| {
                ConnectorError::transient("Shopify answered inventorySetQuantities with null")
            })?;
            if payload.user_errors.is_empty() {
                for i in pending {
                    outcomes[i] = Some(AvailabilityOutcome::Accepted);
                }
                break;
            }
            let mut progressed = false;
            for e in &payload.user_errors {
                let code = e.code.as_deref().unwrap_or("");
                let at = e.field.as_deref().and_then(|f| match f {
                    [input, quantities, n, ..]
                        if input == "input" && quantities == "quantities" =>
                    {
                        n.parse::<usize>()
                            .ok()
                            .and_then(|n| pending.get(n).copied())
                    }
                    _ => None,
                });
                let Some(i) = at else { continue };
                if outcomes[i].is_some() {
                    continue;
                }
                progressed = true;
                outcomes[i] = Some(if code.ends_with("_STALE") {
                    AvailabilityOutcome::Stale { current: None }
                } else {
                    if matches!(
                        code,
                        "INVALID_INVENTORY_ITEM"
                            | "INVALID_LOCATION"
                            | "ITEM_NOT_STOCKED_AT_LOCATION"
                    ) {
                        // The listing moved: look it up afresh next time.
                        self.inventory_targets
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&updates[i].sku);
                    }
                    AvailabilityOutcome::Rejected {
                        reason: format!("{code}: {}", e.message),
                    }
                });
            }
            if !progressed {
                // An error about the whole call (reason, name): nothing of
                // it can pass, and another round would say the same.
                let reason: Vec<String> = payload
                    .user_errors
                    .iter()
                    .map(|e| format!("{}: {}", e.code.as_deref().unwrap_or("ERROR"), e.message))
                    .collect();
                for i in pending {
                    outcomes[i] = Some(AvailabilityOutcome::Rejected {
                        reason: reason.join("; "),
                    });
                }
                break;
            }
        }
        // What Shopify holds for the stale SKUs, so the hub can recompute;
        // best effort: the refusal stands without it.
        let stale: Vec<&str> = updates
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Some(AvailabilityOutcome::Stale { .. })))
            .map(|(u, _)| u.sku.as_str())
            .collect();
        if !stale.is_empty()
            && let Ok(found) = self.lookup(&stale).await
        {
            for (u, o) in updates.iter().zip(outcomes.iter_mut()) {
                if let (Some(AvailabilityOutcome::Stale { current }), Some(Ok((_, now)))) =
                    (o.as_mut(), found.get(&u.sku))
                {
                    *current = *now;
                }
            }
        }
        Ok(updates
            .iter()
            .zip(outcomes)
            .map(|(u, o)| AvailabilityResult {
                sku: u.sku.clone(),
                outcome: o.unwrap_or_else(|| AvailabilityOutcome::Rejected {
                    reason: format!("not applied after {MAX_ROUNDS} rounds of refusals"),
                }),
            })
            .collect())
    }
}

/// Whether a fulfillment carries `number` as a tracking number.
fn carries(f: &FulfillmentWire, number: &str) -> bool {
    f.tracking_number.as_deref().map(str::trim) == Some(number)
        || f.tracking_numbers.iter().any(|n| n.trim() == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(LINK, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn reads_the_next_cursor_verbatim() {
        let both = "<https://s.myshopify.com/admin/api/2025-07/orders.json?limit=250&page_info=prev%3D>; rel=\"previous\", \
                    <https://s.myshopify.com/admin/api/2025-07/orders.json?limit=250&page_info=eyJ-_x%3D%3D>; rel=\"next\"";
        assert_eq!(next_page_info(&link(both)).as_deref(), Some("eyJ-_x%3D%3D"));
        let prev_only =
            "<https://s/admin/api/2025-07/orders.json?page_info=abc&limit=250>; rel=\"previous\"";
        assert_eq!(next_page_info(&link(prev_only)), None);
        assert_eq!(next_page_info(&HeaderMap::new()), None);
        let first = "<http://127.0.0.1:1/orders.json?page_info=abc&limit=250>; rel=next";
        assert_eq!(next_page_info(&link(first)).as_deref(), Some("abc"));
    }

    #[test]
    fn ids_go_back_exactly() {
        assert_eq!(id_json("820982911946154508").get(), "820982911946154508");
        assert_eq!(id_json("gid://x").get(), "\"gid://x\"");
    }
}
