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
//! - **429** is [`ConnectorError::Throttled`] with its `Retry-After`, or
//!   else the time to `X-Next-Replenishment-Time`. `X-Current-Token-Count`
//!   and the replenish time are recorded per operation
//!   ([`WalmartChannel::rate_budget`]); an operation whose budget is known
//!   to be 0 until a future replenish time is refused as `Throttled`
//!   without being sent.

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
    Channel, ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError,
    ShipConfirmation,
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
        self.check_budget(operation)?;
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut headers = self.base_headers();
            headers.insert(ACCESS_TOKEN_HEADER, token.header());
            let (status, answer_headers, answer) = self
                .http
                .exchange_raw(
                    method.clone(),
                    url.clone(),
                    headers,
                    body.clone().map(|b| (JSON, b)),
                )
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
