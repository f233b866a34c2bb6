//! The Walmart Marketplace US v3 channel (`https://marketplace.walmartapis.com`).
//!
//! - **Auth**: OAuth2 client credentials as Walmart's `tokenAPI` wants it
//!   (`POST /v3/token`, HTTP Basic `client_id:client_secret`, form body
//!   `grant_type=client_credentials`, headers `WM_SVC.NAME`,
//!   `WM_QOS.CORRELATION_ID`, `Accept: application/json`). The token is
//!   cached until a tenth of its life (at most a minute) is left, refreshed
//!   once for all callers that find it stale, and dropped when the API
//!   answers 401 (the call is then made once more with a new token). Every
//!   API call sends `WM_SEC.ACCESS_TOKEN`, `WM_SVC.NAME` and a fresh
//!   `WM_QOS.CORRELATION_ID` (a random-looking UUID v4 per request).
//!   `auth::TokenSource` does not fit: it cannot send Walmart's headers on
//!   the token request, and hands tokens out as `Authorization: Bearer`.
//! - **Ids**: the external order id is the `purchaseOrderId`; a canonical
//!   line id is the PO's `lineNumber` (as `walmart_mapping` maps it).
//! - **Poll**: `GET /v3/orders?createdStartDate=…&lastModifiedStartDate=…&limit=100`,
//!   then `meta.nextCursor`, a ready-made query string sent verbatim on
//!   `/v3/orders` of our own endpoint. Walmart answers 404 when nothing
//!   matches: an empty page. `createdStartDate` is `since` − 180 days
//!   (Walmart serves only orders created in the last 180 days and defaults
//!   it to now − 7 days, which would hide older orders modified since).
//!   A polled order's dedupe key is `walmart:poll:<purchaseOrderId>:<version>`
//!   where the version is the latest of `orderDate` and the lines'
//!   `statusDate` (epoch ms; the PO carries no last-modified field), the
//!   same `source_version` `walmart_mapping` gives.
//! - **Webhooks**: the reference shows the `ORDER` event types `PO_CREATED`
//!   and `PO_LINE_AUTOCANCELLED` but no payload, so a notification
//!   `{"eventType", "eventId", "purchaseOrderId"[, "eventTime"]}` is read
//!   as a trigger (dedupe key `walmart:event:<eventId>`) and
//!   [`Channel::refetch`] reads the PO (`GET /v3/orders/{purchaseOrderId}`).
//!   When [`WalmartOptions::webhook_authorization`] is set, the delivery's
//!   `Authorization` header (Walmart's `BASIC_AUTH` destination auth) must
//!   equal it (compared in constant time).
//! - **Ship confirmation**: `POST /v3/orders/{id}/shipping` with one
//!   `Shipped` status per line carrying `trackingInfo`. Walmart keeps no id
//!   of ours on a shipment, so a package is recognised by its tracking
//!   number: a package without one is sent with our package id as its
//!   tracking number. `confirm_shipment` first reads the PO and does not
//!   send again units already shipped under the same tracking number on the
//!   same line (a resend); `find_shipment_confirmation` finds a line status
//!   whose tracking number is the package id (i.e. untracked packages; a
//!   tracked one is recognised by the resend check instead).
//! - **Availability**: [`AvailabilityCadence::Urgent`] is one
//!   `PUT /v3/inventory?sku=…` (`{sku, quantity: {unit: "EACH", amount}}`)
//!   per SKU, at most [`URGENT_BATCH_LIMIT`] per call; Walmart's refusal of
//!   one SKU (404 unknown item, 400 invalid) is that SKU's `Rejected`.
//!   [`AvailabilityCadence::Batch`] is one bulk inventory feed
//!   (`POST /v3/feeds?feedType=inventory`, the spec's multipart upload with
//!   a JSON file `{InventoryHeader: {version: "1.4"}, Inventory: […]}`, at
//!   most [`FEED_BATCH_LIMIT`] SKUs), then `GET /v3/feeds/{feedId}?includeDetails=true`
//!   until it is PROCESSED (for at most [`WalmartOptions::feed_wait`]),
//!   paging the item details 50 at a time; each item's `ingestionStatus` is
//!   its SKU's result (matched by `index`). A feed still in progress at the
//!   deadline is `Transient` (quantities are absolute: sending again is
//!   harmless). Before each call, when the operation's budget is known to
//!   be 0 until a replenish time at most [`MAX_PACING_WAIT`] away, the push
//!   waits for it instead of being turned away.
//! - **429** is [`ConnectorError::Throttled`] with its `Retry-After`, or
//!   else the time to `X-Next-Replenishment-Time`. `X-Current-Token-Count`
//!   and the replenish time are recorded per operation
//!   ([`WalmartChannel::rate_budget`]); an operation whose budget is known
//!   to be 0 until a future replenish time is refused as `Throttled`
//!   without being sent.

pub mod config;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::auth::{AccessToken, TokenCache};
use crate::channel::polled_order;
use crate::channel::walmart_mapping::walmart_order;
use crate::http::{base_url, check, endpoint};
use crate::input::parse_json;
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

/// Walmart's production API.
pub const DEFAULT_ENDPOINT: &str = "https://marketplace.walmartapis.com";
/// Sent as `WM_SVC.NAME` when none is configured.
pub const DEFAULT_SERVICE_NAME: &str = "Walmart Marketplace";

const ACCESS_TOKEN_HEADER: HeaderName = HeaderName::from_static("wm_sec.access_token");
const SERVICE_NAME_HEADER: HeaderName = HeaderName::from_static("wm_svc.name");
const CORRELATION_ID_HEADER: HeaderName = HeaderName::from_static("wm_qos.correlation_id");
const TOKEN_COUNT_HEADER: &str = "x-current-token-count";
const REPLENISH_HEADERS: [&str; 2] = ["x-next-replenishment-time", "x-next-replenish-time"];
const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
/// The order event types Walmart's notifications API lists.
const EVENT_TYPES: [&str; 2] = ["PO_CREATED", "PO_LINE_AUTOCANCELLED"];
const PAGE_LIMIT: &str = "100";
/// Walmart serves orders created in the last 180 days.
const CREATED_WINDOW_MS: i64 = 180 * 24 * 3_600 * 1_000;
/// Walmart fetches at most 20 000 orders per query (200 pages of 100).
const MAX_PAGES: usize = 1_000;
/// Used when a 429 carries neither `Retry-After` nor a replenish time.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// SKUs one urgent push sends (one `PUT /v3/inventory` each).
pub const URGENT_BATCH_LIMIT: usize = 10;
/// SKUs one bulk inventory feed carries.
pub const FEED_BATCH_LIMIT: usize = 5_000;
/// How long a batch push waits for its feed to be processed by default.
pub const DEFAULT_FEED_WAIT: Duration = Duration::from_secs(120);
/// The longest a push waits for a spent budget to replenish before it
/// gives up as `Throttled`.
pub const MAX_PACING_WAIT: Duration = Duration::from_secs(5);
/// `getFeedItemStatus` returns at most 50 item details per call.
const FEED_DETAIL_PAGE: usize = 50;
const FEED_POLL_FIRST: Duration = Duration::from_millis(250);
const FEED_POLL_MAX: Duration = Duration::from_secs(5);
/// Our own multipart boundary: a fixed one, checked not to occur in the file.
const FEED_BOUNDARY: &str = "crossdock-walmart-inventory-feed-5f0c2b7e9d41";
const FEED_CONTENT_TYPE: &str =
    "multipart/form-data; boundary=crossdock-walmart-inventory-feed-5f0c2b7e9d41";
/// `methodCode` values `TrackingInfoType` accepts.
const METHOD_CODES: [&str; 6] = [
    "Standard",
    "Express",
    "OneDay",
    "Freight",
    "WhiteGlove",
    "Value",
];
/// `CarrierNameType.carrier` values (the code where the spec adds a name).
const CARRIERS: [&str; 56] = [
    "UPS",
    "USPS",
    "FedEx",
    "Airborne",
    "OnTrac",
    "DHL Ecommerce - US",
    "LS",
    "UDS",
    "UPSMI",
    "FDX",
    "PILOT",
    "ESTES",
    "SAIA",
    "FDS Express",
    "Seko Worldwide",
    "HIT Delivery",
    "FEDEXSP",
    "RL Carriers",
    "Metropolitan Warehouse & Delivery",
    "China Post",
    "YunExpress",
    "Yellow Freight Sys",
    "AIT Worldwide Logistics",
    "Chukou1",
    "Sendle",
    "Landmark Global",
    "Sunyou",
    "Yanwen",
    "4PX",
    "GLS",
    "OSM Worldwide",
    "FIRST MILE",
    "AM Trucking",
    "CEVA",
    "India Post",
    "SF Express",
    "CNE",
    "TForce Freight",
    "AxleHire",
    "LSO",
    "Royal Mail",
    "ABF Freight System",
    "WanB",
    "Roadrunner Freight",
    "Meyer Distribution",
    "AAA Cooper",
    "Canada Post",
    "Southeastern Freight Lines",
    "Japan Post",
    "Correos de Mexico",
    "XPO Logistics",
    "JD Logistics",
    "YDH",
    "JCEX",
    "Flyt",
    "Deutsche Post",
];

/// How to reach one Walmart seller account.
#[derive(Clone)]
pub struct WalmartOptions {
    /// The channel's name in the hub.
    pub name: String,
    /// [`DEFAULT_ENDPOINT`], or a mock; `/v3/…` is appended.
    pub endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    /// Sent as `WM_SVC.NAME`.
    pub service_name: String,
    /// The exact `Authorization` header value webhook deliveries must carry
    /// (the destination's `BASIC_AUTH`); `None` accepts any delivery.
    pub webhook_authorization: Option<String>,
    /// How long a batch availability push waits for its inventory feed to
    /// be processed ([`DEFAULT_FEED_WAIT`]).
    pub feed_wait: Duration,
}

impl WalmartOptions {
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        WalmartOptions {
            name: name.into(),
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            webhook_authorization: None,
            feed_wait: DEFAULT_FEED_WAIT,
        }
    }
}

impl fmt::Debug for WalmartOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalmartOptions")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("service_name", &self.service_name)
            .field(
                "webhook_authorization",
                &self.webhook_authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("feed_wait", &self.feed_wait)
            .finish()
    }
}

/// What Walmart last said about an operation's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateBudget {
    /// `X-Current-Token-Count`: calls left.
    pub remaining: Option<u64>,
    /// `X-Next-Replenishment-Time`, epoch ms.
    pub replenish_at_ms: Option<i64>,
}

pub struct WalmartChannel {
    name: String,
    api: Url,
    http: HttpClient,
    client_id: String,
    client_secret: String,
    service_name: HeaderValue,
    webhook_authorization: Option<Vec<u8>>,
    token: TokenCache,
    budgets: std::sync::Mutex<HashMap<&'static str, RateBudget>>,
    feed_wait: Duration,
}

impl fmt::Debug for WalmartChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalmartChannel")
            .field("name", &self.name)
            .field("api", &self.api.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ListAnswer {
    list: ListWire,
}

#[derive(Deserialize)]
struct ListWire {
    #[serde(default)]
    meta: Option<MetaWire>,
    #[serde(default)]
    elements: Option<ElementsWire>,
}

#[derive(Deserialize)]
struct MetaWire {
    #[serde(default, rename = "nextCursor")]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ElementsWire {
    #[serde(default)]
    order: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct OrderAnswer {
    order: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeWire {
    purchase_order_id: String,
    order_date: i64,
    #[serde(default)]
    order_lines: Option<EnvelopeLines>,
}

#[derive(Deserialize)]
struct EnvelopeLines {
    #[serde(default, rename = "orderLine")]
    order_line: Vec<EnvelopeLine>,
}

#[derive(Deserialize)]
struct EnvelopeLine {
    #[serde(default, rename = "statusDate")]
    status_date: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationWire {
    event_type: String,
    event_id: String,
    purchase_order_id: String,
    #[serde(default)]
    event_time: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationProbe {
    #[serde(default)]
    event_type: Option<serde_json::Value>,
    #[serde(default)]
    order_lines: Option<serde_json::Value>,
    #[serde(default)]
    order: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdWire {
    purchase_order_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoWire {
    #[serde(default)]
    shipping_info: Option<PoShippingInfo>,
    order_lines: PoLines,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoShippingInfo {
    #[serde(default)]
    method_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoLines {
    #[serde(default)]
    order_line: Vec<PoLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoLine {
    line_number: String,
    #[serde(default)]
    order_line_statuses: Option<PoStatuses>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoStatuses {
    #[serde(default)]
    order_line_status: Vec<PoStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoStatus {
    status: String,
    #[serde(default)]
    status_quantity: Option<PoQuantity>,
    #[serde(default)]
    tracking_info: Option<PoTracking>,
}

#[derive(Deserialize)]
struct PoQuantity {
    amount: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoTracking {
    #[serde(default)]
    tracking_number: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShippingRequest<'a> {
    order_shipment: LinesOf<ShipLine<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinesOf<L> {
    order_lines: OrderLineList<L>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderLineList<L> {
    order_line: Vec<L>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShipLine<'a> {
    line_number: &'a str,
    order_line_statuses: StatusList<ShipStatus<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusList<S> {
    order_line_status: Vec<S>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShipStatus<'a> {
    status: &'static str,
    status_quantity: Quantity,
    tracking_info: TrackingInfo<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Quantity {
    unit_of_measurement: &'static str,
    amount: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrackingInfo<'a> {
    ship_date_time: i64,
    carrier_name: CarrierName<'a>,
    method_code: &'static str,
    tracking_number: &'a str,
    #[serde(rename = "trackingURL", skip_serializing_if = "Option::is_none")]
    tracking_url: Option<&'a str>,
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
enum CarrierName<'a> {
    Carrier(&'static str),
    OtherCarrier(&'a str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelRequest<'a> {
    order_cancellation: LinesOf<CancelLine<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelLine<'a> {
    line_number: &'a str,
    order_line_statuses: StatusList<CancelStatus<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelStatus<'a> {
    status: &'static str,
    cancellation_reason: &'a str,
    status_quantity: Quantity,
}

#[derive(Serialize)]
struct InventoryItem<'a> {
    sku: &'a str,
    quantity: InventoryQuantity,
}

#[derive(Serialize)]
struct InventoryQuantity {
    unit: &'static str,
    amount: i64,
}

/// The bulk inventory feed file (`InventoryHeader` spec 1.4).
#[derive(Serialize)]
struct InventoryFeed<'a> {
    #[serde(rename = "InventoryHeader")]
    header: InventoryHeader,
    #[serde(rename = "Inventory")]
    inventory: Vec<InventoryItem<'a>>,
}

#[derive(Serialize)]
struct InventoryHeader {
    version: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedIdAnswer {
    feed_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedStatusAnswer {
    feed_status: String,
    #[serde(default)]
    items_received: Option<u64>,
    #[serde(default)]
    ingestion_errors: Option<IngestionErrorsWire>,
    #[serde(default)]
    item_details: Option<ItemDetailsWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemDetailsWire {
    #[serde(default)]
    item_ingestion_status: Vec<ItemStatusWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemStatusWire {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    index: Option<usize>,
    ingestion_status: String,
    #[serde(default)]
    ingestion_errors: Option<IngestionErrorsWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngestionErrorsWire {
    #[serde(default)]
    ingestion_error: Vec<IngestionErrorWire>,
}

#[derive(Deserialize)]
struct IngestionErrorWire {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl IngestionErrorsWire {
    fn describe(&self) -> Option<String> {
        let parts: Vec<String> = self
            .ingestion_error
            .iter()
            .map(|e| match (&e.code, &e.description) {
                (Some(c), Some(d)) => format!("{c}: {d}"),
                (None, Some(d)) => d.clone(),
                (Some(c), None) => c.clone(),
                (None, None) => "unspecified error".to_owned(),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// The descriptions of Walmart's error body (`{"errors":{"error":[…]}}`
/// or `{"error":[…]}`), or the body's text.
fn walmart_message(status: StatusCode, body: &[u8]) -> String {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(300)
            .collect::<String>()
    };
    let described = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let list = v
                .pointer("/errors/error")
                .or_else(|| v.get("error"))
                .and_then(serde_json::Value::as_array)?
                .iter()
                .filter_map(|e| {
                    let description = e.get("description")?.as_str()?;
                    Some(match e.get("code").and_then(serde_json::Value::as_str) {
                        Some(code) => format!("{code}: {description}"),
                        None => description.to_owned(),
                    })
                })
                .collect::<Vec<_>>();
            (!list.is_empty()).then(|| list.join("; "))
        });
    format!(
        "Walmart HTTP {}: {}",
        status.as_u16(),
        described.unwrap_or_else(text)
    )
}

/// An update the hub should never send: refused before any call.
fn invalid_update(update: &AvailabilityUpdate) -> Option<AvailabilityResult> {
    let reason = if update.sku.trim().is_empty() {
        "sku must not be empty".to_owned()
    } else if update.quantity < 0 {
        format!("quantity must not be negative, got {}", update.quantity)
    } else {
        return None;
    };
    Some(AvailabilityResult {
        sku: update.sku.clone(),
        outcome: AvailabilityOutcome::Rejected { reason },
    })
}

/// A fresh `WM_QOS.CORRELATION_ID`: a UUID v4 from a hash of the time, the
/// process and a counter (unique per call; not a secret).
fn correlation_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hash = Sha256::new();
    hash.update(std::process::id().to_le_bytes());
    hash.update(nanos.to_le_bytes());
    hash.update(n.to_le_bytes());
    hash.update((&COUNTER as *const AtomicU64 as usize).to_le_bytes());
    let digest = hash.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An epoch time in ms, given in ms or in seconds.
fn epoch_ms(value: i64) -> i64 {
    if value.abs() < 100_000_000_000 {
        value.saturating_mul(1_000)
    } else {
        value
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn replenish_at(headers: &HeaderMap) -> Option<i64> {
    REPLENISH_HEADERS
        .iter()
        .find_map(|h| header_str(headers, h)?.parse::<i64>().ok())
        .map(epoch_ms)
}

fn unreadable(url: &Url, e: impl fmt::Display) -> ConnectorError {
    // A 2xx we cannot read: in doubt, as HttpClient treats it.
    ConnectorError::transient(format!("unreadable answer from {url}: {e}"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `(purchaseOrderId, version)` of a bare purchase order.
fn read_envelope(body: &[u8]) -> Result<(String, i64), InputError> {
    let wire: EnvelopeWire = parse_json(body)?;
    if wire.purchase_order_id.trim().is_empty() {
        return Err(InputError::new("purchaseOrderId", "must not be empty"));
    }
    let version = wire
        .order_lines
        .iter()
        .flat_map(|l| &l.order_line)
        .filter_map(|l| l.status_date)
        .fold(wire.order_date, i64::max);
    Ok((wire.purchase_order_id, version))
}

/// Walmart's spelling of a carrier it knows, or `None` (sent as `otherCarrier`).
fn known_carrier(name: &str) -> Option<&'static str> {
    let name = name.trim();
    let alias = match name.to_ascii_lowercase().as_str() {
        "fedex" | "fed ex" | "federal express" => Some("FedEx"),
        "dhl" | "dhl ecommerce" => Some("DHL Ecommerce - US"),
        "lasership" => Some("LS"),
        "ups mail innovations" => Some("UPSMI"),
        "fedex smartpost" => Some("FEDEXSP"),
        _ => None,
    };
    alias.or_else(|| {
        CARRIERS
            .iter()
            .copied()
            .find(|c| c.eq_ignore_ascii_case(name))
    })
}

fn method_code(po_method: Option<&str>) -> &'static str {
    po_method
        .and_then(|m| {
            METHOD_CODES
                .iter()
                .copied()
                .find(|c| c.eq_ignore_ascii_case(m.trim()))
        })
        .unwrap_or("Standard")
}

fn is_shipped(status: &str) -> bool {
    matches!(status, "Shipped" | "Delivered")
}

/// Units of `line` shipped under tracking number `number`.
fn shipped_under(line: &PoLine, number: &str) -> u32 {
    line.order_line_statuses
        .iter()
        .flat_map(|s| &s.order_line_status)
        .filter(|s| {
            is_shipped(&s.status)
                && s.tracking_info
                    .as_ref()
                    .and_then(|t| t.tracking_number.as_deref())
                    .is_some_and(|t| t.trim() == number)
        })
        .map(|s| {
            s.status_quantity
                .as_ref()
                .and_then(|q| q.amount.trim().parse::<u32>().ok())
                .unwrap_or(0)
        })
        .sum()
}

impl WalmartChannel {
    pub fn new(options: WalmartOptions, http: HttpClient) -> Result<Self, ConnectorError> {
        let WalmartOptions {
            name,
            endpoint,
            client_id,
            client_secret,
            service_name,
            webhook_authorization,
            feed_wait,
        } = options;
        if client_id.is_empty() || client_secret.is_empty() {
            return Err(ConnectorError::rejected(
                "Walmart client_id and client_secret must not be empty",
            ));
        }
        let service_name = HeaderValue::from_str(&service_name).map_err(|_| {
            ConnectorError::rejected("Walmart service name is not a valid header value")
        })?;
        if webhook_authorization.as_deref().is_some_and(str::is_empty) {
            return Err(ConnectorError::rejected(
                "Walmart webhook authorization must not be empty when given",
            ));
        }
        Ok(WalmartChannel {
            name,
            api: base_url(&endpoint)?,
            http,
            client_id,
            client_secret,
            service_name,
            webhook_authorization: webhook_authorization.map(String::into_bytes),
            token: TokenCache::default(),
            budgets: std::sync::Mutex::new(HashMap::new()),
            feed_wait,
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        endpoint(&self.api, segments)
    }

    /// What Walmart's last answer to `operation` (`getAllOrders`,
    /// `getAnOrder`, `acknowledgeOrders`, `shippingUpdates`,
    /// `cancelOrderLines`, `tokenAPI`) said about its rate limit.
    pub fn rate_budget(&self, operation: &str) -> Option<RateBudget> {
        self.budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(operation)
            .copied()
    }

    fn record_budget(&self, operation: &'static str, headers: &HeaderMap) {
        let remaining = header_str(headers, TOKEN_COUNT_HEADER).and_then(|v| v.parse().ok());
        let replenish_at_ms = replenish_at(headers);
        if remaining.is_none() && replenish_at_ms.is_none() {
            return;
        }
        tracing::debug!(channel = %self.name, operation, ?remaining, ?replenish_at_ms, "Walmart rate budget");
        self.budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                operation,
                RateBudget {
                    remaining,
                    replenish_at_ms,
                },
            );
    }

    /// Refuses, unsent, a call whose budget is known spent until later.
    fn check_budget(&self, operation: &'static str) -> Result<(), ConnectorError> {
        let Some(budget) = self.rate_budget(operation) else {
            return Ok(());
        };
        if let (Some(0), Some(at)) = (budget.remaining, budget.replenish_at_ms) {
            let wait = at - now_ms();
            if wait > 0 {
                return Err(ConnectorError::Throttled {
                    reason: format!(
                        "Walmart {operation}: no calls left until {at} (X-Next-Replenishment-Time); not sent"
                    ),
                    retry_after: Duration::from_millis(wait.unsigned_abs()),
                });
            }
        }
        Ok(())
    }

    fn base_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SERVICE_NAME_HEADER, self.service_name.clone());
        headers.insert(
            CORRELATION_ID_HEADER,
            HeaderValue::from_str(&correlation_id()).expect("a UUID is a header value"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static(JSON));
        headers
    }

    /// A token fresh enough to send: the cached one, or a newly fetched one.
    async fn token(&self) -> Result<AccessToken, ConnectorError> {
        self.token.get(&self.name, || self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<(HeaderValue, Option<Duration>), ConnectorError> {
        let url = self.url(&["v3", "token"]);
        let about = |reason: String| format!("Walmart token endpoint {url}: {reason}");
        let mut headers = self.base_headers();
        let basic = BASE64.encode(format!("{}:{}", self.client_id, self.client_secret));
        let mut auth = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
            ConnectorError::rejected("Walmart client credentials do not fit a header")
        })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let (status, answer_headers, body) = self
            .http
            .exchange_raw(
                Method::POST,
                url.clone(),
                headers,
                Some((FORM, b"grant_type=client_credentials".to_vec())),
            )
            .await?;
        self.record_budget("tokenAPI", &answer_headers);
        if matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(ConnectorError::Unauthorized {
                reason: about(format!(
                    "refused the client credentials: HTTP {}: {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                )),
            });
        }
        let body = self.finish(status, &answer_headers, body)?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| ConnectorError::transient(about(format!("unreadable answer: {e}"))))?;
        if answer.access_token.is_empty() {
            return Err(ConnectorError::Unauthorized {
                reason: about("issued an empty access token".into()),
            });
        }
        let mut value = HeaderValue::from_str(&answer.access_token).map_err(|_| {
            ConnectorError::Unauthorized {
                reason: about("issued an access token that cannot be sent in a header".into()),
            }
        })?;
        value.set_sensitive(true);
        let lifetime = match &answer.expires_in {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        }
        .map(Duration::from_secs);
        if answer.expires_in.is_some() && lifetime.is_none() {
            return Err(ConnectorError::transient(about(
                "answered an unreadable expires_in".into(),
            )));
        }
        Ok((value, lifetime))
    }

    /// One API call with Walmart's headers; a 401 drops the token and the
    /// call is made once more with a new one. Every answer comes back as is.
    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        self.call_typed(operation, method, url, body.map(|b| (JSON, b)))
            .await
    }

    /// [`Self::call`] with a body of any content type.
    async fn call_typed(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        self.check_budget(operation)?;
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut headers = self.base_headers();
            headers.insert(ACCESS_TOKEN_HEADER, token.header());
            let (status, answer_headers, answer) = self
                .http
                .exchange_raw(method.clone(), url.clone(), headers, body.clone())
                .await?;
            self.record_budget(operation, &answer_headers);
            if status == StatusCode::UNAUTHORIZED && !retried {
                self.token.refused(&self.name, &token).await;
                retried = true;
                continue;
            }
            return Ok((status, answer_headers, answer));
        }
    }

    /// A 2xx body, or the error the status means; a 429 without
    /// `Retry-After` waits for the replenish time.
    fn finish(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, ConnectorError> {
        check(status, Some(headers), body).map_err(|e| match e {
            ConnectorError::Throttled {
                reason,
                retry_after,
            } if headers.get(RETRY_AFTER).is_none() => ConnectorError::Throttled {
                reason,
                retry_after: replenish_at(headers)
                    .map(|at| at - now_ms())
                    .filter(|wait| *wait > 0)
                    .map_or(retry_after.max(DEFAULT_RETRY_AFTER), |w| {
                        Duration::from_millis(w.unsigned_abs())
                    }),
            },
            other => other,
        })
    }

    async fn call_ok(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let (status, headers, answer) = self.call(operation, method, url, body).await?;
        self.finish(status, &headers, answer)
    }

    /// The current purchase order (`GET /v3/orders/{purchaseOrderId}`): the
    /// raw bytes of its `order` object, which [`Channel::map_message`]
    /// accepts. `None` when Walmart does not know it (404).
    pub async fn fetch_order(
        &self,
        purchase_order_id: &str,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let url = self.url(&["v3", "orders", purchase_order_id]);
        let (status, headers, body) = self.call("getAnOrder", Method::GET, &url, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = self.finish(status, &headers, body)?;
        let answer: OrderAnswer = serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
        Ok(Some(answer.order.get().as_bytes().to_vec()))
    }

    async fn fetch_po(&self, purchase_order_id: &str) -> Result<Option<PoWire>, ConnectorError> {
        let Some(raw) = self.fetch_order(purchase_order_id).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&raw).map(Some).map_err(|e| {
            ConnectorError::transient(format!("unreadable Walmart PO {purchase_order_id}: {e}"))
        })
    }

    /// Acknowledges the PO (`POST /v3/orders/{id}/acknowledge`), required
    /// before shipping. Idempotent on Walmart's side.
    pub async fn acknowledge(&self, purchase_order_id: &str) -> Result<(), ConnectorError> {
        let url = self.url(&["v3", "orders", purchase_order_id, "acknowledge"]);
        self.call_ok("acknowledgeOrders", Method::POST, &url, None)
            .await
            .map(drop)
    }

    /// Cancels units of PO lines (`POST /v3/orders/{id}/cancel`): each entry
    /// is `(lineNumber, quantity, cancellationReason)`, the reason one of
    /// Walmart's (`SELLER_CANCEL_OUT_OF_STOCK`, …).
    pub async fn cancel_lines(
        &self,
        purchase_order_id: &str,
        lines: &[(&str, u32, &str)],
    ) -> Result<(), ConnectorError> {
        if lines.is_empty() {
            return Err(ConnectorError::rejected("no lines to cancel"));
        }
        if let Some((line, _, _)) = lines.iter().find(|(_, qty, _)| *qty == 0) {
            return Err(ConnectorError::rejected(format!(
                "cancel of line {line}: quantity must be positive"
            )));
        }
        let request = CancelRequest {
            order_cancellation: LinesOf {
                order_lines: OrderLineList {
                    order_line: lines
                        .iter()
                        .map(|(line, qty, reason)| CancelLine {
                            line_number: line,
                            order_line_statuses: StatusList {
                                order_line_status: vec![CancelStatus {
                                    status: "Cancelled",
                                    cancellation_reason: reason,
                                    status_quantity: Quantity {
                                        unit_of_measurement: "EACH",
                                        amount: qty.to_string(),
                                    },
                                }],
                            },
                        })
                        .collect(),
                },
            },
        };
        let body = serde_json::to_vec(&request).expect("serializable");
        let url = self.url(&["v3", "orders", purchase_order_id, "cancel"]);
        self.call_ok("cancelOrderLines", Method::POST, &url, Some(body))
            .await
            .map(drop)
    }
}

impl WalmartChannel {
    /// Waits for `operation`'s budget when Walmart said it is spent until a
    /// replenish time at most [`MAX_PACING_WAIT`] away; a longer wait is
    /// left to [`Self::check_budget`], which refuses as `Throttled`.
    async fn pace(&self, operation: &'static str) {
        let Some(RateBudget {
            remaining: Some(0),
            replenish_at_ms: Some(at),
        }) = self.rate_budget(operation)
        else {
            return;
        };
        let wait = at - now_ms();
        if wait > 0 {
            let wait = Duration::from_millis(wait.unsigned_abs());
            if wait <= MAX_PACING_WAIT {
                tracing::debug!(channel = %self.name, operation, ?wait, "waiting for Walmart's rate budget");
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// One SKU by `PUT /v3/inventory?sku=…`: its result, or the call's failure.
    async fn put_inventory(
        &self,
        update: &AvailabilityUpdate,
    ) -> Result<AvailabilityResult, ConnectorError> {
        const OPERATION: &str = "updateInventoryForAnItem";
        let mut url = self.url(&["v3", "inventory"]);
        url.query_pairs_mut().append_pair("sku", &update.sku);
        let body = serde_json::to_vec(&InventoryItem {
            sku: &update.sku,
            quantity: InventoryQuantity {
                unit: "EACH",
                amount: update.quantity,
            },
        })
        .expect("serializable");
        self.pace(OPERATION).await;
        let (status, headers, answer) = self.call(OPERATION, Method::PUT, &url, Some(body)).await?;
        let outcome = if status.is_success() {
            AvailabilityOutcome::Accepted
        } else if status.is_client_error()
            && !matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
            )
        {
            // Walmart's word on this SKU (unknown item, invalid quantity).
            AvailabilityOutcome::Rejected {
                reason: walmart_message(status, &answer),
            }
        } else {
            self.finish(status, &headers, answer)?;
            unreachable!("finish refuses every status that is not a success")
        };
        Ok(AvailabilityResult {
            sku: update.sku.clone(),
            outcome,
        })
    }

    /// Uploads one bulk inventory feed (spec 1.4); returns its `feedId`.
    async fn submit_inventory_feed(
        &self,
        updates: &[&AvailabilityUpdate],
    ) -> Result<String, ConnectorError> {
        const OPERATION: &str = "updateBulkInventory";
        let feed = InventoryFeed {
            header: InventoryHeader { version: "1.4" },
            inventory: updates
                .iter()
                .map(|u| InventoryItem {
                    sku: &u.sku,
                    quantity: InventoryQuantity {
                        unit: "EACH",
                        amount: u.quantity,
                    },
                })
                .collect(),
        };
        let file = serde_json::to_vec(&feed).expect("serializable");
        if file
            .windows(FEED_BOUNDARY.len())
            .any(|w| w == FEED_BOUNDARY.as_bytes())
        {
            return Err(ConnectorError::rejected(
                "a SKU in the inventory feed contains the multipart boundary",
            ));
        }
        let mut body = Vec::with_capacity(file.len() + 256);
        body.extend_from_slice(
            format!(
                "--{FEED_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"inventory.json\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&file);
        body.extend_from_slice(format!("\r\n--{FEED_BOUNDARY}--\r\n").as_bytes());
        let mut url = self.url(&["v3", "feeds"]);
        url.query_pairs_mut().append_pair("feedType", "inventory");
        self.pace(OPERATION).await;
        let (status, headers, answer) = self
            .call_typed(
                OPERATION,
                Method::POST,
                &url,
                Some((FEED_CONTENT_TYPE, body)),
            )
            .await?;
        let answer = self.finish(status, &headers, answer)?;
        let id: FeedIdAnswer = serde_json::from_slice(&answer).map_err(|e| unreadable(&url, e))?;
        if id.feed_id.trim().is_empty() {
            return Err(unreadable(&url, "empty feedId"));
        }
        Ok(id.feed_id)
    }

    /// One page of a feed's status with item details. A 429 whose wait
    /// fits before `deadline` is waited out and the page asked again.
    async fn feed_page(
        &self,
        feed_id: &str,
        offset: usize,
        deadline: tokio::time::Instant,
    ) -> Result<FeedStatusAnswer, ConnectorError> {
        const OPERATION: &str = "getFeedItemStatus";
        let mut url = self.url(&["v3", "feeds", feed_id]);
        url.query_pairs_mut()
            .append_pair("includeDetails", "true")
            .append_pair("offset", &offset.to_string())
            .append_pair("limit", &FEED_DETAIL_PAGE.to_string());
        loop {
            self.pace(OPERATION).await;
            match self.call_ok(OPERATION, Method::GET, &url, None).await {
                Ok(body) => {
                    return serde_json::from_slice(&body).map_err(|e| unreadable(&url, e));
                }
                Err(ConnectorError::Throttled { retry_after, .. })
                    if tokio::time::Instant::now() + retry_after < deadline =>
                {
                    tokio::time::sleep(retry_after).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits (bounded by `feed_wait`) for the feed to be processed and
    /// returns every item's status.
    async fn await_feed(
        &self,
        feed_id: &str,
        items: usize,
    ) -> Result<(String, Option<String>, Vec<ItemStatusWire>), ConnectorError> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.feed_wait;
        let mut delay = FEED_POLL_FIRST;
        let first = loop {
            tokio::time::sleep(delay).await;
            let page = self.feed_page(feed_id, 0, deadline).await?;
            if matches!(page.feed_status.as_str(), "PROCESSED" | "ERROR") {
                break page;
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(ConnectorError::transient(format!(
                    "Walmart inventory feed {feed_id} still {} after {:?}",
                    page.feed_status,
                    started.elapsed()
                )));
            }
            delay = (delay * 2).min(FEED_POLL_MAX);
        };
        let feed_error = first
            .ingestion_errors
            .as_ref()
            .and_then(IngestionErrorsWire::describe);
        let received = first
            .items_received
            .map_or(items, |n| usize::try_from(n).unwrap_or(items));
        let mut details = first
            .item_details
            .map(|d| d.item_ingestion_status)
            .unwrap_or_default();
        let mut offset = FEED_DETAIL_PAGE;
        while offset < received && details.len() < received {
            let page = self.feed_page(feed_id, offset, deadline).await?;
            let more = page
                .item_details
                .map(|d| d.item_ingestion_status)
                .unwrap_or_default();
            if more.is_empty() {
                break;
            }
            details.extend(more);
            offset += FEED_DETAIL_PAGE;
        }
        Ok((first.feed_status, feed_error, details))
    }

    async fn publish_feed(
        &self,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut results: Vec<Option<AvailabilityResult>> =
            updates.iter().map(invalid_update).collect();
        // Feed index → update index, for the updates actually sent.
        let sent: Vec<usize> = (0..updates.len())
            .filter(|i| results[*i].is_none())
            .collect();
        if !sent.is_empty() {
            let batch: Vec<&AvailabilityUpdate> = sent.iter().map(|i| &updates[*i]).collect();
            let feed_id = self.submit_inventory_feed(&batch).await?;
            let (status, feed_error, details) = self.await_feed(&feed_id, batch.len()).await?;
            for (n, detail) in details.iter().enumerate() {
                // Matched by the feed's index; by SKU when Walmart omits it.
                let position = detail
                    .index
                    .filter(|i| *i < sent.len())
                    .or_else(|| {
                        let sku = detail.sku.as_deref()?;
                        sent.iter()
                            .position(|i| updates[*i].sku == sku && results[*i].is_none())
                    })
                    .unwrap_or(n);
                let Some(&index) = sent.get(position) else {
                    continue;
                };
                let outcome = if detail.ingestion_status == "SUCCESS" {
                    AvailabilityOutcome::Accepted
                } else {
                    AvailabilityOutcome::Rejected {
                        reason: format!(
                            "Walmart feed {feed_id}: {}",
                            detail
                                .ingestion_errors
                                .as_ref()
                                .and_then(IngestionErrorsWire::describe)
                                .unwrap_or_else(|| detail.ingestion_status.clone())
                        ),
                    }
                };
                results[index] = Some(AvailabilityResult {
                    sku: updates[index].sku.clone(),
                    outcome,
                });
            }
            for &index in &sent {
                if results[index].is_none() {
                    let reason = match (&feed_error, status.as_str()) {
                        (Some(e), _) => format!("Walmart feed {feed_id} failed: {e}"),
                        (None, "ERROR") => format!("Walmart feed {feed_id} failed"),
                        _ => format!("Walmart feed {feed_id} reported nothing for this SKU"),
                    };
                    results[index] = Some(AvailabilityResult {
                        sku: updates[index].sku.clone(),
                        outcome: AvailabilityOutcome::Rejected { reason },
                    });
                }
            }
        }
        Ok(results.into_iter().flatten().collect())
    }
}

#[async_trait]
impl Channel for WalmartChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        if let Some(expected) = &self.webhook_authorization {
            let given = headers
                .get(AUTHORIZATION)
                .map(HeaderValue::as_bytes)
                .ok_or_else(|| InputError::unauthenticated("Authorization", "missing"))?;
            if !constant_time_eq(given, expected) {
                return Err(InputError::unauthenticated(
                    "Authorization",
                    "does not match",
                ));
            }
        }
        let wire: NotificationWire = parse_json(body)?;
        if !EVENT_TYPES.contains(&wire.event_type.as_str()) {
            return Err(InputError::new(
                "eventType",
                format!(
                    "{:?} is not one of {}",
                    wire.event_type,
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        for (path, value) in [
            ("eventId", &wire.event_id),
            ("purchaseOrderId", &wire.purchase_order_id),
        ] {
            if value.trim().is_empty() {
                return Err(InputError::new(path, "must not be empty"));
            }
        }
        let source_version = match &wire.event_time {
            None | Some(serde_json::Value::Null) => 0,
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .map(epoch_ms)
                .ok_or_else(|| InputError::new("eventTime", "not a whole number"))?,
            Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.timestamp_millis())
                .map_err(|e| InputError::new("eventTime", format!("{s:?}: {e}")))?,
            Some(_) => return Err(InputError::new("eventTime", "expected a time")),
        };
        Ok(InboundEnvelope {
            message_key: format!("walmart:event:{}", wire.event_id.trim()),
            external_order_id: wire.purchase_order_id.trim().to_owned(),
            source_version,
        })
    }

    /// A purchase order (bare, as polled or refetched, or `{"order": …}`).
    /// A PO whose every unit is cancelled is [`ChannelEvent::Cancelled`].
    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let probe: NotificationProbe = parse_json(body)?;
        if probe.event_type.is_some() && probe.order_lines.is_none() && probe.order.is_none() {
            return Err(InputError::new(
                "body",
                "a Walmart notification is only a trigger; the purchase order must be refetched",
            ));
        }
        let order = walmart_order(&self.name, body)?;
        if order
            .lines
            .iter()
            .all(|l| l.cancelled_quantity >= l.quantity)
        {
            return Ok(ChannelEvent::Cancelled {
                external_order_id: order.external_id,
                source_version: order.source_version,
                reason: "every line cancelled on Walmart".to_owned(),
            });
        }
        Ok(ChannelEvent::Order(Box::new(order)))
    }

    /// A notification is a trigger: the PO is read from the API. A PO
    /// Walmart does not know is refused.
    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        let id: IdWire = parse_json(delivered)
            .map_err(|e| ConnectorError::rejected(format!("stored Walmart notification: {e}")))?;
        match self.fetch_order(id.purchase_order_id.trim()).await? {
            Some(order) => Ok(Some(order)),
            None => Err(ConnectorError::rejected(format!(
                "Walmart does not know purchase order {}",
                id.purchase_order_id
            ))),
        }
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let iso = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| ConnectorError::rejected(format!("poll time {ms} out of range")))
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        };
        let since = iso(since_ms)?;
        let created = iso(since_ms.saturating_sub(CREATED_WINDOW_MS))?;
        let list = self.url(&["v3", "orders"]);
        let mut url = list.clone();
        url.query_pairs_mut().extend_pairs([
            ("createdStartDate", created.as_str()),
            ("lastModifiedStartDate", since.as_str()),
            ("limit", PAGE_LIMIT),
        ]);
        let mut out = Vec::new();
        let mut seen_cursors: Vec<String> = Vec::new();
        for _ in 0..MAX_PAGES {
            let (status, headers, body) =
                self.call("getAllOrders", Method::GET, &url, None).await?;
            // Walmart answers 404 when no order matches.
            if status == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            let body = self.finish(status, &headers, body)?;
            let page: ListAnswer =
                serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
            let orders = page.list.elements.map(|e| e.order).unwrap_or_default();
            out.extend(orders.iter().filter_map(|order| {
                let raw = order.get().as_bytes().to_vec();
                polled_order(&self.name, "walmart", raw, read_envelope)
            }));
            let Some(cursor) = page
                .list
                .meta
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.trim().is_empty())
            else {
                return Ok(out);
            };
            if seen_cursors.contains(&cursor) {
                return Err(ConnectorError::rejected(format!(
                    "Walmart repeated the order cursor {cursor:?}"
                )));
            }
            // A ready-made query string: sent as given, on our own endpoint.
            url = list.clone();
            url.set_query(Some(cursor.strip_prefix('?').unwrap_or(&cursor)));
            seen_cursors.push(cursor);
        }
        Err(ConnectorError::rejected(format!(
            "Walmart order pagination did not end after {MAX_PAGES} pages"
        )))
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let po_id = confirmation.external_order_id.as_str();
        let tracking = &confirmation.shipment.tracking;
        let tracked = !tracking.number.trim().is_empty();
        let number = if tracked {
            tracking.number.trim()
        } else {
            confirmation.package_id.as_str()
        };
        let po = self.fetch_po(po_id).await?.ok_or_else(|| {
            ConnectorError::rejected(format!("Walmart does not know purchase order {po_id}"))
        })?;
        let mut needed: Vec<(&str, u32)> = Vec::new();
        for line in &confirmation.shipment.lines {
            match needed.iter_mut().find(|(id, _)| *id == line.line_id) {
                Some((_, q)) => *q += line.quantity,
                None => needed.push((&line.line_id, line.quantity)),
            }
        }
        let mut resent = false;
        for (line_id, qty) in &mut needed {
            let line = po
                .order_lines
                .order_line
                .iter()
                .find(|l| l.line_number == *line_id)
                .ok_or_else(|| {
                    ConnectorError::rejected(format!(
                        "purchase order {po_id} has no line {line_id}"
                    ))
                })?;
            let already = shipped_under(line, number);
            resent |= already > 0;
            *qty = qty.saturating_sub(already);
        }
        needed.retain(|(_, q)| *q > 0);
        if needed.is_empty() {
            if resent {
                return Ok(po_id.to_owned());
            }
            return Err(ConnectorError::rejected(format!(
                "shipment {} confirms no units",
                confirmation.package_id
            )));
        }
        // Walmart takes shipping updates only for acknowledged units. The
        // hub acknowledges when it ships rather than at ingest: by then the
        // ERP has accepted the order and a warehouse has it, which is what
        // an acknowledgement promises; acknowledging twice is harmless.
        let unacknowledged = po.order_lines.order_line.iter().any(|l| {
            l.order_line_statuses
                .iter()
                .flat_map(|s| &s.order_line_status)
                .any(|s| s.status == "Created")
        });
        if unacknowledged {
            self.acknowledge(po_id).await?;
        }
        let carrier = tracking.carrier.trim();
        let carrier_name = match known_carrier(carrier) {
            Some(c) => CarrierName::Carrier(c),
            None => CarrierName::OtherCarrier(if carrier.is_empty() { "Other" } else { carrier }),
        };
        let tracking_url = tracking
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let method = method_code(
            po.shipping_info
                .as_ref()
                .and_then(|s| s.method_code.as_deref()),
        );
        let ship_date_time = confirmation.shipment.shipped_at.timestamp_millis();
        let request = ShippingRequest {
            order_shipment: LinesOf {
                order_lines: OrderLineList {
                    order_line: needed
                        .iter()
                        .map(|(line, qty)| ShipLine {
                            line_number: line,
                            order_line_statuses: StatusList {
                                order_line_status: vec![ShipStatus {
                                    status: "Shipped",
                                    status_quantity: Quantity {
                                        unit_of_measurement: "EACH",
                                        amount: qty.to_string(),
                                    },
                                    tracking_info: TrackingInfo {
                                        ship_date_time,
                                        carrier_name,
                                        method_code: method,
                                        tracking_number: number,
                                        tracking_url,
                                    },
                                }],
                            },
                        })
                        .collect(),
                },
            },
        };
        let body = serde_json::to_vec(&request).expect("serializable");
        let url = self.url(&["v3", "orders", po_id, "shipping"]);
        self.call_ok("shippingUpdates", Method::POST, &url, Some(body))
            .await?;
        Ok(po_id.to_owned())
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(po) = self.fetch_po(external_order_id).await? else {
            return Ok(None);
        };
        let found = po
            .order_lines
            .order_line
            .iter()
            .any(|l| shipped_under(l, package_id) > 0);
        Ok(found.then(|| external_order_id.to_owned()))
    }

    fn availability_batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        match cadence {
            AvailabilityCadence::Urgent => URGENT_BATCH_LIMIT,
            AvailabilityCadence::Batch => FEED_BATCH_LIMIT,
        }
    }

    /// Urgent: one `PUT /v3/inventory` per SKU. Batch: one bulk inventory
    /// feed, awaited. A 429, an auth failure or a transport error fails the
    /// call (quantities are absolute: the whole batch may be sent again).
    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let limit = self.availability_batch_limit(cadence);
        if updates.len() > limit {
            return Err(ConnectorError::rejected(format!(
                "{} availability updates; Walmart takes at most {limit} per {cadence:?} push",
                updates.len()
            )));
        }
        match cadence {
            AvailabilityCadence::Urgent => {
                let mut results = Vec::with_capacity(updates.len());
                for update in updates {
                    match invalid_update(update) {
                        Some(refused) => results.push(refused),
                        None => results.push(self.put_inventory(update).await?),
                    }
                }
                Ok(results)
            }
            AvailabilityCadence::Batch => self.publish_feed(updates).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_unique_uuids() {
        let a = correlation_id();
        let b = correlation_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4", "{a}");
        assert!(HeaderValue::from_str(&a).is_ok());
    }

    #[test]
    fn carriers_and_methods_use_walmart_spelling() {
        assert_eq!(known_carrier("fedex"), Some("FedEx"));
        assert_eq!(known_carrier(" ups "), Some("UPS"));
        assert_eq!(known_carrier("DHL"), Some("DHL Ecommerce - US"));
        assert_eq!(known_carrier("Acme Couriers"), None);
        assert_eq!(method_code(Some("VALUE")), "Value");
        assert_eq!(method_code(Some("drone")), "Standard");
        assert_eq!(method_code(None), "Standard");
    }

    #[test]
    fn replenish_times_read_in_ms_or_seconds() {
        assert_eq!(epoch_ms(1_700_000_000), 1_700_000_000_000);
        assert_eq!(epoch_ms(1_700_000_000_000), 1_700_000_000_000);
    }
}
