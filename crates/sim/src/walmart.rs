//! The simulated Walmart Marketplace US v3 seller account: as strict as
//! Walmart, so a connector cannot tell it from Walmart except by its base
//! URL and credentials.
//!
//! - **Auth**: `POST /v3/token` (HTTP Basic client id and secret, form body
//!   `grant_type=client_credentials`, `WM_SVC.NAME` and
//!   `WM_QOS.CORRELATION_ID` required) issues a token for `token_ttl_secs`.
//!   Every other `/v3` call needs `WM_SEC.ACCESS_TOKEN`, `WM_SVC.NAME`,
//!   `WM_QOS.CORRELATION_ID` and `Accept: application/json`, or is refused
//!   with Walmart's `{"errors":{"error":[…]}}` body.
//! - **Orders**: purchase orders generated at `orders_per_sec`, visible after
//!   `visibility_delay_ms`. Each line's quantity is split into statuses
//!   (Created → Acknowledged → Shipped / Cancelled), so one line may be part
//!   shipped and part cancelled. `GET /v3/orders` pages with `meta.nextCursor`
//!   (a query string to send verbatim) and answers 404 when nothing matches,
//!   as Walmart does.
//! - **Shipping** is never deduplicated: `duplicate_shipments` counts a
//!   tracking number sent again for the same line, which is how a test
//!   catches a hub that confirms twice.
//! - **Rate limits**: a token bucket per endpoint group; every `/v3` answer
//!   carries `x-current-token-count` and `x-next-replenishment-time` (epoch
//!   ms); an empty bucket answers 429. `force_throttle` or
//!   `POST /sim/throttle {"count": N}` forces the next N calls to 429.
//! - **Inventory**: `PUT`/`GET /v3/inventory?sku=…` and the bulk feed
//!   `POST /v3/feeds?feedType=inventory` (multipart, part `file`, as the
//!   spec has it), reported by `GET /v3/feeds/{feedId}` after
//!   `feed_processing_ms`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::delivery::Deliverer;
use crate::faults::{FaultGate, Faults, gate};
use crate::wire::describe_path_error;
use crate::wire::lock;

/// Walmart serves orders created in the last 180 days.
const ORDER_WINDOW_MS: i64 = 180 * 24 * 3_600 * 1_000;
/// `createdStartDate` when none is given: now − 7 days (the spec's default).
const DEFAULT_CREATED_WINDOW_MS: i64 = 7 * 24 * 3_600 * 1_000;
const DEFAULT_PAGE_LIMIT: usize = 100;
const MAX_PAGE_LIMIT: usize = 200;
/// `getFeedItemStatus` returns at most 50 item details per call.
const MAX_FEED_DETAIL_LIMIT: usize = 50;
const CARRIERS: [&str; 12] = [
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
    "FEDEXSP",
    "Canada Post",
];
const METHOD_CODES: [&str; 6] = [
    "Standard",
    "Express",
    "OneDay",
    "Freight",
    "WhiteGlove",
    "Value",
];
const CANCELLATION_REASONS: [&str; 5] = [
    "CUSTOMER_REQUESTED_SELLER_TO_CANCEL",
    "SELLER_CANCEL_PRICING_ERROR",
    "SELLER_CANCEL_OUT_OF_STOCK",
    "SELLER_CANCEL_FRAUD_STOP_SHIPMENT",
    "SELLER_CANCEL_ADDRESS_NOT_SERVICEABLE",
];
/// The reason Walmart shows on units the buyer cancelled.
const BUYER_CANCEL_REASON: &str = "CUSTOMER_CANCEL";
const CITIES: [(&str, &str, &str); 6] = [
    ("Springfield", "IL", "62701"),
    ("Albany", "NY", "12207"),
    ("Bentonville", "AR", "72712"),
    ("Miami", "FL", "33101"),
    ("Seattle", "WA", "98101"),
    ("Austin", "TX", "73301"),
];

/// One endpoint group's token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalmartRateLimit {
    /// Calls that may be made at once (the bucket's size).
    pub burst: u32,
    /// Tokens added back per second.
    pub per_sec: f64,
}

impl WalmartRateLimit {
    const fn new(burst: u32, per_sec: f64) -> Self {
        WalmartRateLimit { burst, per_sec }
    }
}

/// Token buckets per endpoint group (Walmart limits each API separately).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalmartRateLimits {
    /// `POST /v3/token`.
    pub token: WalmartRateLimit,
    /// `GET /v3/orders`, `GET /v3/orders/{po}`.
    pub orders: WalmartRateLimit,
    /// Acknowledge, shipping and cancel of a PO.
    pub order_updates: WalmartRateLimit,
    /// `PUT`/`GET /v3/inventory`.
    pub inventory: WalmartRateLimit,
    /// `POST /v3/feeds` (bulk uploads are the scarcest).
    pub feeds: WalmartRateLimit,
    /// `GET /v3/feeds/{feedId}`.
    pub feed_status: WalmartRateLimit,
}

impl Default for WalmartRateLimits {
    fn default() -> Self {
        WalmartRateLimits {
            token: WalmartRateLimit::new(20, 5.0),
            orders: WalmartRateLimit::new(20, 20.0),
            order_updates: WalmartRateLimit::new(20, 20.0),
            inventory: WalmartRateLimit::new(10, 10.0),
            feeds: WalmartRateLimit::new(10, 0.1),
            feed_status: WalmartRateLimit::new(20, 10.0),
        }
    }
}

impl WalmartRateLimits {
    fn all(&self) -> [(Bucket, WalmartRateLimit); 6] {
        [
            (Bucket::Token, self.token),
            (Bucket::Orders, self.orders),
            (Bucket::OrderUpdates, self.order_updates),
            (Bucket::Inventory, self.inventory),
            (Bucket::Feeds, self.feeds),
            (Bucket::FeedStatus, self.feed_status),
        ]
    }
}

/// `[sim.walmart]`: a simulated Walmart account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalmartSimConfig {
    pub name: String,
    pub listen: String,
    /// The client credentials `POST /v3/token` accepts.
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of an issued token.
    pub token_ttl_secs: u64,
    /// Purchase orders placed per second; 0 = none.
    pub orders_per_sec: f64,
    /// Stop generating after this many orders; 0 = no limit.
    pub max_orders: u64,
    /// Stop generating after this many seconds; 0 = no limit.
    pub duration_secs: u64,
    /// The seller's catalogue: SKUs orders carry and inventory accepts.
    pub skus: Vec<String>,
    pub max_lines: u32,
    pub min_quantity: u32,
    pub max_quantity: u32,
    pub currency: String,
    /// Probability that the buyer cancels a line's unshipped units
    /// `buyer_cancel_after_ms` after placing the order.
    pub cancel_rate: f64,
    pub buyer_cancel_after_ms: u64,
    /// A new order shows in the API only this long after it is placed.
    pub visibility_delay_ms: u64,
    /// Walmart refuses to ship units not yet acknowledged.
    pub require_acknowledgement: bool,
    /// Inventory each SKU starts with.
    pub initial_quantity: i64,
    /// A feed is RECEIVED, then INPROGRESS, then PROCESSED this long after
    /// submission (its quantities apply then).
    pub feed_processing_ms: u64,
    /// Most items one inventory feed may carry (more: 413).
    pub max_feed_items: usize,
    pub rate_limits: WalmartRateLimits,
    /// The first N rate-limited calls answer 429 regardless of the buckets.
    pub force_throttle: u32,
    /// How far ahead a forced 429 puts `x-next-replenishment-time`.
    pub force_throttle_ms: u64,
    pub faults: Faults,
}

impl Default for WalmartSimConfig {
    fn default() -> Self {
        WalmartSimConfig {
            name: "walmart".to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            client_id: "walmart-sim-client".to_owned(),
            client_secret: "walmart-sim-secret".to_owned(),
            token_ttl_secs: 900,
            orders_per_sec: 1.0,
            max_orders: 0,
            duration_secs: 0,
            skus: (1..=20).map(|i| format!("SKU-{i:03}")).collect(),
            max_lines: 3,
            min_quantity: 1,
            max_quantity: 3,
            currency: "USD".to_owned(),
            cancel_rate: 0.0,
            buyer_cancel_after_ms: 2_000,
            visibility_delay_ms: 0,
            require_acknowledgement: true,
            initial_quantity: 0,
            feed_processing_ms: 1_000,
            max_feed_items: 10_000,
            rate_limits: WalmartRateLimits::default(),
            force_throttle: 0,
            force_throttle_ms: 1_000,
            faults: Faults::default(),
        }
    }
}

impl WalmartSimConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        let at = "sim.walmart";
        anyhow::ensure!(!self.name.trim().is_empty(), "{at}.name must not be empty");
        anyhow::ensure!(
            !self.client_id.is_empty() && !self.client_secret.is_empty(),
            "{at}: client_id and client_secret must not be empty"
        );
        anyhow::ensure!(
            self.orders_per_sec.is_finite() && self.orders_per_sec >= 0.0,
            "{at}.orders_per_sec must be a number ≥ 0"
        );
        crate::config::ensure_probabilities(at, &[("cancel_rate", self.cancel_rate)])?;
        anyhow::ensure!(
            self.orders_per_sec == 0.0 || !self.skus.is_empty(),
            "{at}.skus must not be empty when orders are generated"
        );
        let mut seen = HashSet::new();
        for sku in &self.skus {
            anyhow::ensure!(!sku.trim().is_empty(), "{at}.skus: empty SKU");
            anyhow::ensure!(seen.insert(sku), "{at}.skus: {sku:?} listed twice");
        }
        anyhow::ensure!(self.max_lines >= 1, "{at}.max_lines must be ≥ 1");
        anyhow::ensure!(
            self.min_quantity >= 1 && self.max_quantity >= self.min_quantity,
            "{at}: need 1 ≤ min_quantity ≤ max_quantity"
        );
        anyhow::ensure!(
            self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase()),
            "{at}.currency must be an ISO 4217 code"
        );
        anyhow::ensure!(
            self.initial_quantity >= 0,
            "{at}.initial_quantity must be ≥ 0"
        );
        anyhow::ensure!(self.max_feed_items >= 1, "{at}.max_feed_items must be ≥ 1");
        anyhow::ensure!(self.token_ttl_secs >= 1, "{at}.token_ttl_secs must be ≥ 1");
        for (bucket, limit) in self.rate_limits.all() {
            anyhow::ensure!(
                limit.burst >= 1 && limit.per_sec.is_finite() && limit.per_sec > 0.0,
                "{at}.rate_limits.{}: burst must be ≥ 1 and per_sec > 0",
                bucket.key()
            );
        }
        self.faults.validate(at)
    }
}

/// The endpoint groups Walmart rate-limits separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Bucket {
    Token,
    Orders,
    OrderUpdates,
    Inventory,
    Feeds,
    FeedStatus,
}

impl Bucket {
    fn key(self) -> &'static str {
        match self {
            Bucket::Token => "token",
            Bucket::Orders => "orders",
            Bucket::OrderUpdates => "order_updates",
            Bucket::Inventory => "inventory",
            Bucket::Feeds => "feeds",
            Bucket::FeedStatus => "feed_status",
        }
    }

    fn of(method: &Method, path: &str) -> Option<Bucket> {
        let rest = path.strip_prefix("/v3/")?;
        let first = rest.split('/').next().unwrap_or_default();
        Some(match (first, method) {
            ("token", _) => Bucket::Token,
            ("orders", &Method::GET) => Bucket::Orders,
            ("orders", _) => Bucket::OrderUpdates,
            ("inventory", _) => Bucket::Inventory,
            ("feeds", &Method::POST) => Bucket::Feeds,
            ("feeds", _) => Bucket::FeedStatus,
            _ => return None,
        })
    }
}

struct TokenBucket {
    limit: WalmartRateLimit,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(limit: WalmartRateLimit) -> Self {
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst),
            refilled: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let gained = now.duration_since(self.refilled).as_secs_f64() * self.limit.per_sec;
        self.tokens = (self.tokens + gained).min(f64::from(self.limit.burst));
        self.refilled = now;
    }

    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// `(x-current-token-count, x-next-replenishment-time in epoch ms)`.
    fn headers(&mut self, now: Instant) -> (u64, i64) {
        self.refill(now);
        let whole = self.tokens.floor();
        let wait_secs = if self.tokens >= f64::from(self.limit.burst) {
            0.0
        } else {
            (whole + 1.0 - self.tokens) / self.limit.per_sec
        };
        let at = Utc::now().timestamp_millis() + (wait_secs * 1_000.0).ceil() as i64;
        (whole as u64, at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    Created,
    Acknowledged,
}

#[derive(Debug, Clone)]
struct ShippedUnits {
    quantity: u32,
    /// `trackingInfo` as the seller sent it (validated).
    tracking: Value,
    tracking_number: String,
}

#[derive(Debug, Clone)]
struct CancelledUnits {
    quantity: u32,
    reason: String,
}

#[derive(Debug, Clone)]
struct PoLine {
    line_number: String,
    sku: String,
    quantity: u32,
    /// The `PRODUCT` charge: the line's amount for all its units.
    amount: Decimal,
    tax: Decimal,
    /// A `SHIPPING` charge and its tax, on the first line only.
    shipping: Option<(Decimal, Decimal)>,
    open_state: LineState,
    shipped: Vec<ShippedUnits>,
    cancelled: Vec<CancelledUnits>,
    status_date: i64,
}

impl PoLine {
    fn shipped_units(&self) -> u32 {
        self.shipped.iter().map(|s| s.quantity).sum()
    }

    fn cancelled_units(&self) -> u32 {
        self.cancelled.iter().map(|c| c.quantity).sum()
    }

    /// Units neither shipped nor cancelled.
    fn open_units(&self) -> u32 {
        self.quantity
            .saturating_sub(self.shipped_units() + self.cancelled_units())
    }
}

#[derive(Debug, Clone)]
struct PurchaseOrder {
    purchase_order_id: String,
    customer_order_id: String,
    customer_email_id: String,
    order_date: i64,
    visible_at: i64,
    method_code: &'static str,
    name: String,
    phone: String,
    address1: String,
    city: &'static str,
    state: &'static str,
    postal_code: &'static str,
    lines: Vec<PoLine>,
}

impl PurchaseOrder {
    fn last_modified(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.status_date)
            .fold(self.order_date, i64::max)
    }
}

#[derive(Debug, Clone)]
struct FeedItem {
    sku: String,
    /// The quantity to set, or why the item is refused.
    outcome: Result<i64, String>,
}

#[derive(Debug, Clone)]
struct Feed {
    feed_id: String,
    submitted_ms: i64,
    due: Instant,
    received_until: Instant,
    processed: bool,
    items: Vec<FeedItem>,
}

#[derive(Default)]
struct Counters {
    tokens_issued: u64,
    token_refusals: u64,
    auth_refusals: u64,
    header_refusals: u64,
    correlation_id_reuses: u64,
    throttled: BTreeMap<&'static str, u64>,
    forced_throttles: u64,
    orders_generated: u64,
    acknowledgements: u64,
    shipments_recorded: u64,
    units_shipped: u64,
    duplicate_shipments: u64,
    shipping_refused: u64,
    over_shipments: u64,
    seller_cancelled_units: u64,
    buyer_cancelled_units: u64,
    inventory_updates: u64,
    inventory_refused: u64,
    feeds_received: u64,
    feeds_processed: u64,
    feed_items_accepted: u64,
    feed_items_rejected: u64,
}

struct WalmartState {
    tokens: HashMap<String, Instant>,
    correlation_ids: HashSet<String>,
    buckets: HashMap<Bucket, TokenBucket>,
    forced_throttles_left: u32,
    orders: BTreeMap<String, PurchaseOrder>,
    generated: Vec<String>,
    inventory: BTreeMap<String, i64>,
    feeds: Vec<Feed>,
    counters: Counters,
}

pub(crate) struct WalmartSim {
    config: WalmartSimConfig,
    rng: Arc<Mutex<SmallRng>>,
    prices: HashMap<String, Decimal>,
    state: Mutex<WalmartState>,
    gate: Arc<FaultGate>,
    cancel: CancellationToken,
    stop: CancellationToken,
    generation_done: AtomicBool,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Walmart's error body: `{"errors":{"error":[{code, field, description, …}]}}`.
fn walmart_error(
    status: StatusCode,
    code: &str,
    field: &str,
    description: impl Into<String>,
) -> Response {
    let category = if status.is_server_error() {
        "SYSTEM"
    } else if status == StatusCode::NOT_FOUND {
        "APPLICATION"
    } else {
        "DATA"
    };
    let severity = if status == StatusCode::NOT_FOUND {
        "INFO"
    } else {
        "ERROR"
    };
    let info = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({ "errors": { "error": [ {
            "code": code,
            "field": field,
            "description": description.into(),
            "info": info,
            "severity": severity,
            "category": category,
            "causes": [],
            "errorIdentifiers": {}
        } ] } })),
    )
        .into_response()
}

fn bad_request(api: &str, field: &str, description: impl Into<String>) -> Response {
    walmart_error(
        StatusCode::BAD_REQUEST,
        &format!("INVALID_REQUEST_CONTENT.{api}"),
        field,
        description,
    )
}

/// Parses a JSON body strictly, naming the first bad field in Walmart's shape.
fn parse_json<T: DeserializeOwned>(api: &str, body: &[u8]) -> Result<T, Box<Response>> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let (field, message) = describe_path_error(&e);
        Box::new(bad_request(api, &field, format!("{field}: {message}")))
    })
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Standard base64 with padding (for comparing HTTP Basic credentials).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A Walmart amount: a JSON number (Walmart sends money as numbers). The
/// number is written from the decimal's own text; two-decimal amounts come
/// back exactly from their shortest representation.
fn money(currency: &str, amount: Decimal) -> Value {
    let number = serde_json::from_str::<Value>(&amount.normalize().to_string())
        .unwrap_or_else(|_| Value::from(0));
    json!({ "currency": currency, "amount": number })
}

fn quantity(amount: u32) -> Value {
    json!({ "unitOfMeasurement": "EACH", "amount": amount.to_string() })
}

/// A time query parameter: RFC 3339, a bare date, or epoch ms.
fn parse_time(field: &str, raw: &str) -> Result<i64, Box<Response>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_millis());
    }
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    Err(Box::new(bad_request(
        "GMP_ORDER_API",
        field,
        format!("{field}: {raw:?} is not a date-time (ISO 8601)"),
    )))
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Percent-encodes a query value (unreserved characters stay).
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl WalmartSim {
    pub(crate) fn new(
        config: WalmartSimConfig,
        _hub_url: &str,
        rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
    ) -> Arc<Self> {
        let rng = Arc::new(Mutex::new(rng));
        let prices = crate::catalogue::price_list(&config.skus, &rng, 299..=19_999);
        let gate = Arc::new(FaultGate::new(config.faults.clone(), started, rng.clone()));
        let buckets = config
            .rate_limits
            .all()
            .into_iter()
            .map(|(b, l)| (b, TokenBucket::new(l)))
            .collect();
        let inventory = config
            .skus
            .iter()
            .map(|s| (s.clone(), config.initial_quantity))
            .collect();
        let state = WalmartState {
            tokens: HashMap::new(),
            correlation_ids: HashSet::new(),
            buckets,
            forced_throttles_left: config.force_throttle,
            orders: BTreeMap::new(),
            generated: Vec::new(),
            inventory,
            feeds: Vec::new(),
            counters: Counters::default(),
        };
        let cancel = deliverer.cancel;
        Arc::new(WalmartSim {
            stop: cancel.child_token(),
            cancel,
            config,
            rng,
            prices,
            state: Mutex::new(state),
            gate,
            generation_done: AtomicBool::new(false),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn config_listen(&self) -> String {
        self.config.listen.clone()
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v3/token", post(issue_token))
            .route("/v3/orders", get(list_orders))
            .route("/v3/orders/{po}", get(get_order))
            .route("/v3/orders/{po}/acknowledge", post(acknowledge))
            .route("/v3/orders/{po}/shipping", post(ship_lines))
            .route("/v3/orders/{po}/cancel", post(cancel_lines))
            .route("/v3/inventory", get(get_inventory).put(put_inventory))
            .route("/v3/feeds", post(submit_feed))
            .route("/v3/feeds/{feed_id}", get(feed_status))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                walmart_gate,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.gate.clone(),
                gate,
            ))
            .route(
                "/sim/stats",
                get(|State(sim): State<Arc<WalmartSim>>| async move { Json(sim.stats()) }),
            )
            .route("/sim/throttle", post(force_throttle))
            .route("/sim/health", get(|| async { Json(json!({ "ok": true })) }))
            .with_state(self.clone())
    }

    /// Places orders until the configured limit or `stop`; spawned by the estate.
    pub(crate) async fn generate(self: Arc<Self>) {
        let c = &self.config;
        let pace = crate::catalogue::OrderPace {
            orders_per_sec: c.orders_per_sec,
            max_orders: c.max_orders,
            duration_secs: c.duration_secs,
        };
        crate::catalogue::place_orders(pace, &self.stop, &self.generation_done, |_| {
            self.place_order();
        })
        .await;
    }

    pub(crate) fn generation_done(&self) -> bool {
        self.generation_done.load(Ordering::SeqCst)
    }

    pub(crate) fn stop_generating(&self) {
        self.stop.cancel();
    }

    fn place_order(self: &Arc<Self>) {
        let (order, buyer_cancel) = {
            let mut rng = lock(&self.rng);
            let order = self.new_order(&mut rng);
            let cancel_line = rng
                .random_bool(self.config.cancel_rate)
                .then(|| rng.random_range(0..order.lines.len()));
            (order, cancel_line)
        };
        let po = order.purchase_order_id.clone();
        {
            let mut state = lock(&self.state);
            state.generated.push(po.clone());
            state.counters.orders_generated += 1;
            state.orders.insert(po.clone(), order);
        }
        if let Some(line) = buyer_cancel {
            let this = self.clone();
            let delay = Duration::from_millis(self.config.buyer_cancel_after_ms);
            tokio::spawn(async move {
                tokio::select! {
                    _ = this.cancel.cancelled() => {}
                    _ = tokio::time::sleep(delay) => this.buyer_cancels(&po, line),
                }
            });
        }
    }

    /// The buyer cancels the units of a line not shipped yet.
    fn buyer_cancels(&self, po: &str, line: usize) {
        let mut state = lock(&self.state);
        let Some(line) = state.orders.get_mut(po).and_then(|o| o.lines.get_mut(line)) else {
            return;
        };
        let open = line.open_units();
        if open == 0 {
            return;
        }
        line.cancelled.push(CancelledUnits {
            quantity: open,
            reason: BUYER_CANCEL_REASON.to_owned(),
        });
        line.status_date = now_ms();
        state.counters.buyer_cancelled_units += u64::from(open);
    }

    /// A numeric id of `digits` digits, as Walmart's PO and customer order ids are.
    fn numeric_id(rng: &mut SmallRng, digits: u32) -> String {
        let low = 10u64.pow(digits - 1);
        rng.random_range(low..low * 10).to_string()
    }

    fn new_order(&self, rng: &mut SmallRng) -> PurchaseOrder {
        let c = &self.config;
        let now = now_ms();
        let mut purchase_order_id = Self::numeric_id(rng, 13);
        {
            let state = lock(&self.state);
            while state.orders.contains_key(&purchase_order_id) {
                purchase_order_id = Self::numeric_id(rng, 13);
            }
        }
        let line_count = rng.random_range(1..=c.max_lines.min(c.skus.len() as u32)) as usize;
        let picked = rand::seq::index::sample(rng, c.skus.len(), line_count);
        let method_code = *["Value", "Standard", "Express"]
            .choose(rng)
            .unwrap_or(&"Value");
        let round =
            |d: Decimal| d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        let tax_rate = Decimal::new(825, 4);
        let lines = picked
            .iter()
            .enumerate()
            .map(|(i, sku_index)| {
                let sku = c.skus[sku_index].clone();
                let quantity = rng.random_range(c.min_quantity..=c.max_quantity);
                let unit = self
                    .prices
                    .get(&sku)
                    .copied()
                    .unwrap_or(Decimal::new(999, 2));
                let amount = unit * Decimal::from(quantity);
                let shipping = (i == 0 && method_code != "Value").then(|| {
                    let fee = if method_code == "Express" {
                        Decimal::new(1499, 2)
                    } else {
                        Decimal::new(599, 2)
                    };
                    (fee, round(fee * tax_rate))
                });
                PoLine {
                    line_number: (i + 1).to_string(),
                    sku,
                    quantity,
                    amount,
                    tax: round(amount * tax_rate),
                    shipping,
                    open_state: LineState::Created,
                    shipped: Vec::new(),
                    cancelled: Vec::new(),
                    status_date: now,
                }
            })
            .collect();
        let (city, state, postal_code) = *CITIES.choose(rng).unwrap_or(&CITIES[0]);
        let mut email = [0u8; 16];
        rng.fill_bytes(&mut email);
        let email: String = email.iter().map(|b| format!("{b:02X}")).collect();
        PurchaseOrder {
            customer_order_id: Self::numeric_id(rng, 13),
            customer_email_id: format!("{email}@relay.walmart.com"),
            order_date: now,
            visible_at: now + i64::try_from(c.visibility_delay_ms).unwrap_or(i64::MAX / 2),
            method_code,
            name: format!("Buyer {}", rng.random_range(1..=500u32)),
            phone: format!("555{:07}", rng.random_range(0..10_000_000u32)),
            address1: format!("{} Main St", rng.random_range(1..=999u32)),
            city,
            state,
            postal_code,
            lines,
            purchase_order_id,
        }
    }

    fn order_json(&self, o: &PurchaseOrder) -> Value {
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

    /// Applies every feed whose processing time has come, in submission order.
    fn settle_feeds(state: &mut WalmartState) {
        let now = Instant::now();
        let WalmartState {
            feeds,
            inventory,
            counters,
            ..
        } = state;
        for feed in feeds.iter_mut().filter(|f| !f.processed && f.due <= now) {
            feed.processed = true;
            counters.feeds_processed += 1;
            for item in &feed.items {
                match item.outcome {
                    Ok(q) => {
                        inventory.insert(item.sku.clone(), q);
                        counters.feed_items_accepted += 1;
                    }
                    Err(_) => counters.feed_items_rejected += 1,
                }
            }
        }
    }

    pub(crate) fn stats(&self) -> Value {
        let mut state = lock(&self.state);
        Self::settle_feeds(&mut state);
        let c = &state.counters;
        let mut out = Map::new();
        out.insert("name".into(), self.name().into());
        for (key, value) in [
            ("orders_generated", c.orders_generated),
            ("tokens_issued", c.tokens_issued),
            ("token_refusals", c.token_refusals),
            ("auth_refusals", c.auth_refusals),
            ("header_refusals", c.header_refusals),
            ("correlation_id_reuses", c.correlation_id_reuses),
            ("forced_throttles", c.forced_throttles),
            ("acknowledgements", c.acknowledgements),
            ("shipments_recorded", c.shipments_recorded),
            ("units_shipped", c.units_shipped),
            ("duplicate_shipments", c.duplicate_shipments),
            ("shipping_refused", c.shipping_refused),
            ("over_shipments", c.over_shipments),
            ("seller_cancelled_units", c.seller_cancelled_units),
            ("buyer_cancelled_units", c.buyer_cancelled_units),
            ("inventory_updates", c.inventory_updates),
            ("inventory_refused", c.inventory_refused),
            ("feeds_received", c.feeds_received),
            ("feeds_processed", c.feeds_processed),
            ("feed_items_accepted", c.feed_items_accepted),
            ("feed_items_rejected", c.feed_items_rejected),
        ] {
            out.insert(key.to_owned(), value.into());
        }
        out.insert("throttled".into(), c.throttled.values().sum::<u64>().into());
        out.insert("throttled_per_bucket".into(), json!(c.throttled));
        out.insert(
            "forced_throttles_left".into(),
            state.forced_throttles_left.into(),
        );
        out.insert("inventory".into(), json!(state.inventory));
        out.insert("generated_po_ids".into(), json!(state.generated));
        out.insert("generation_done".into(), self.generation_done().into());
        self.gate.write_stats(&mut out);
        Value::Object(out)
    }
}

/// Walmart's gateway: headers, token and rate limit, before any handler;
/// the rate-limit headers go on every answer.
async fn walmart_gate(
    State(sim): State<Arc<WalmartSim>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let Some(bucket) = Bucket::of(request.method(), &path) else {
        return walmart_error(
            StatusCode::NOT_FOUND,
            "CONTENT_NOT_FOUND.GMP_GATEWAY_API",
            "path",
            format!("no resource at {path}"),
        );
    };
    let refusal = admit(&sim, bucket, request.headers());
    let mut response = match refusal {
        Some(r) => r,
        None => next.run(request).await,
    };
    let (count, at) = {
        let mut state = lock(&sim.state);
        match state.buckets.get_mut(&bucket) {
            Some(b) => b.headers(Instant::now()),
            None => (0, now_ms()),
        }
    };
    let forced = response.extensions().get::<ForcedReplenish>().map(|f| f.0);
    let (count, at) = match forced {
        Some(at) => (0, at),
        None => (count, at),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-current-token-count", count.to_string()),
        ("x-next-replenishment-time", at.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// Marks a forced 429: its replenish time is the forced one, not the bucket's.
#[derive(Clone, Copy)]
struct ForcedReplenish(i64);

/// `None` when the call may go on; otherwise Walmart's refusal.
fn admit(sim: &WalmartSim, bucket: Bucket, headers: &HeaderMap) -> Option<Response> {
    let mut state = lock(&sim.state);
    for name in ["WM_SVC.NAME", "WM_QOS.CORRELATION_ID"] {
        if header_str(headers, name).is_none() {
            state.counters.header_refusals += 1;
            return Some(walmart_error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
                name,
                format!("{name} header is required"),
            ));
        }
    }
    if let Some(id) = header_str(headers, "WM_QOS.CORRELATION_ID")
        && !state.correlation_ids.insert(id.to_owned())
    {
        // Walmart does not refuse a reused id; it is counted as a client bug.
        state.counters.correlation_id_reuses += 1;
    }
    let accepts_json = header_str(headers, header::ACCEPT.as_str())
        .is_some_and(|a| a.contains("application/json"));
    if !accepts_json {
        state.counters.header_refusals += 1;
        return Some(walmart_error(
            StatusCode::NOT_ACCEPTABLE,
            "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
            "Accept",
            "Accept must be application/json",
        ));
    }
    if bucket != Bucket::Token {
        let valid = header_str(headers, "WM_SEC.ACCESS_TOKEN")
            .and_then(|t| state.tokens.get(t))
            .is_some_and(|expires| *expires > Instant::now());
        if !valid {
            state.counters.auth_refusals += 1;
            return Some(walmart_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED.GMP_GATEWAY_API",
                "WM_SEC.ACCESS_TOKEN",
                "Unauthorized token or invalid service name",
            ));
        }
    }
    let throttled = |state: &mut WalmartState| {
        *state.counters.throttled.entry(bucket.key()).or_default() += 1;
        walmart_error(
            StatusCode::TOO_MANY_REQUESTS,
            "REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API",
            "",
            "Too many requests: the rate limit for this API is exceeded",
        )
    };
    if state.forced_throttles_left > 0 {
        state.forced_throttles_left -= 1;
        state.counters.forced_throttles += 1;
        let mut response = throttled(&mut state);
        let at = now_ms() + i64::try_from(sim.config.force_throttle_ms).unwrap_or(i64::MAX / 2);
        response.extensions_mut().insert(ForcedReplenish(at));
        return Some(response);
    }
    let admitted = state
        .buckets
        .get_mut(&bucket)
        .is_none_or(|b| b.take(Instant::now()));
    if !admitted {
        return Some(throttled(&mut state));
    }
    None
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleBody {
    count: u32,
}

async fn force_throttle(State(sim): State<Arc<WalmartSim>>, body: Bytes) -> Response {
    let body: ThrottleBody = match parse_json("SIM", &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut state = lock(&sim.state);
    state.forced_throttles_left = body.count;
    Json(json!({ "forced_throttles_left": body.count })).into_response()
}

async fn issue_token(
    State(sim): State<Arc<WalmartSim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refuse = |sim: &WalmartSim, field: &str, description: &str| {
        lock(&sim.state).counters.token_refusals += 1;
        walmart_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED.GMP_GATEWAY_API",
            field,
            description,
        )
    };
    let expected = format!(
        "Basic {}",
        base64(format!("{}:{}", sim.config.client_id, sim.config.client_secret).as_bytes())
    );
    let given = header_str(&headers, header::AUTHORIZATION.as_str()).unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return refuse(&sim, "Authorization", "Invalid client credentials");
    }
    let form = header_str(&headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return bad_request(
            "GMP_GATEWAY_API",
            "Content-Type",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let body = String::from_utf8_lossy(&body);
    let grant = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "grant_type")
        .map(|(_, v)| v);
    if grant != Some("client_credentials") {
        return bad_request(
            "GMP_GATEWAY_API",
            "grant_type",
            "grant_type must be client_credentials",
        );
    }
    let mut bytes = [0u8; 24];
    lock(&sim.rng).fill_bytes(&mut bytes);
    let token = format!(
        "eyJ{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let ttl = sim.config.token_ttl_secs;
    {
        let mut state = lock(&sim.state);
        let now = Instant::now();
        state.tokens.retain(|_, expires| *expires > now);
        state
            .tokens
            .insert(token.clone(), now + Duration::from_secs(ttl));
        state.counters.tokens_issued += 1;
    }
    Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl }))
        .into_response()
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

async fn list_orders(
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
    let state = lock(&sim.state);
    let mut matching: Vec<&PurchaseOrder> = state
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

fn order_not_found(po: &str) -> Response {
    walmart_error(
        StatusCode::NOT_FOUND,
        "CONTENT_NOT_FOUND.GMP_ORDER_API",
        "purchaseOrderId",
        format!("Order not found for purchaseOrderId {po}"),
    )
}

/// The PO if it exists and is visible yet.
fn visible<'s>(state: &'s mut WalmartState, po: &str) -> Option<&'s mut PurchaseOrder> {
    state
        .orders
        .get_mut(po)
        .filter(|o| o.visible_at <= now_ms())
}

async fn get_order(State(sim): State<Arc<WalmartSim>>, Path(po): Path<String>) -> Response {
    let mut state = lock(&sim.state);
    match visible(&mut state, &po) {
        Some(o) => Json(json!({ "order": sim.order_json(o) })).into_response(),
        None => order_not_found(&po),
    }
}

async fn acknowledge(State(sim): State<Arc<WalmartSim>>, Path(po): Path<String>) -> Response {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct QuantityWire {
    unit_of_measurement: String,
    amount: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinesWire<L> {
    order_lines: OrderLineListWire<L>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OrderLineListWire<L> {
    order_line: Vec<L>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusesWire<S> {
    order_line_status: Vec<S>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShippingWire {
    order_shipment: LinesWire<ShipLineWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShipLineWire {
    line_number: String,
    #[serde(default)]
    seller_order_id: Option<String>,
    #[serde(default)]
    intent_to_cancel_override: Option<bool>,
    order_line_statuses: StatusesWire<ShipStatusWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShipStatusWire {
    status: String,
    status_quantity: QuantityWire,
    tracking_info: TrackingWire,
    #[serde(default)]
    return_center_address: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TrackingWire {
    ship_date_time: i64,
    carrier_name: CarrierWire,
    method_code: String,
    tracking_number: String,
    #[serde(default, rename = "trackingURL")]
    tracking_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CarrierWire {
    #[serde(default)]
    carrier: Option<String>,
    #[serde(default)]
    other_carrier: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CancelWire {
    order_cancellation: LinesWire<CancelLineWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CancelLineWire {
    line_number: String,
    order_line_statuses: StatusesWire<CancelStatusWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CancelStatusWire {
    status: String,
    cancellation_reason: String,
    status_quantity: QuantityWire,
}

/// A `statusQuantity`: `EACH` units as a whole number in a string.
fn units(field: &str, q: &QuantityWire) -> Result<u32, String> {
    if !matches!(q.unit_of_measurement.as_str(), "EACH" | "EA") {
        return Err(format!(
            "{field}.unitOfMeasurement: expected EACH, got {:?}",
            q.unit_of_measurement
        ));
    }
    match q.amount.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{field}.amount: expected a positive whole number, got {:?}",
            q.amount
        )),
    }
}

async fn ship_lines(
    State(sim): State<Arc<WalmartSim>>,
    Path(po): Path<String>,
    body: Bytes,
) -> Response {
    const API: &str = "GMP_ORDER_API";
    let request: ShippingWire = match parse_json(API, &body) {
        Ok(r) => r,
        Err(r) => {
            lock(&sim.state).counters.shipping_refused += 1;
            return *r;
        }
    };
    let mut state = lock(&sim.state);
    let state = &mut *state;
    let require_ack = sim.config.require_acknowledgement;
    let Some(order) = visible(state, &po) else {
        return order_not_found(&po);
    };
    let lines = &request.order_shipment.order_lines.order_line;
    let mut refusal: Option<(String, String)> = None;
    let mut duplicates = 0u64;
    let mut over = false;
    // Units this request ships per line, to check the total against what is open.
    let mut asked: HashMap<&str, u32> = HashMap::new();
    let mut accepted: Vec<(usize, u32, Value, String)> = Vec::new();
    'lines: for (i, line) in lines.iter().enumerate() {
        let at = format!("orderShipment.orderLines.orderLine[{i}]");
        let Some(index) = order
            .lines
            .iter()
            .position(|l| l.line_number == line.line_number)
        else {
            refusal = Some((
                format!("{at}.lineNumber"),
                format!("purchase order {po} has no line {:?}", line.line_number),
            ));
            break;
        };
        let po_line = &order.lines[index];
        let _ = (&line.seller_order_id, line.intent_to_cancel_override);
        if line.order_line_statuses.order_line_status.is_empty() {
            refusal = Some((
                format!("{at}.orderLineStatuses.orderLineStatus"),
                "must not be empty".to_owned(),
            ));
            break;
        }
        for (j, st) in line
            .order_line_statuses
            .order_line_status
            .iter()
            .enumerate()
        {
            let sat = format!("{at}.orderLineStatuses.orderLineStatus[{j}]");
            let _ = &st.return_center_address;
            if st.status != "Shipped" {
                refusal = Some((
                    format!("{sat}.status"),
                    format!("expected Shipped, got {:?}", st.status),
                ));
                break 'lines;
            }
            let qty = match units(&format!("{sat}.statusQuantity"), &st.status_quantity) {
                Ok(q) => q,
                Err(e) => {
                    refusal = Some((format!("{sat}.statusQuantity"), e));
                    break 'lines;
                }
            };
            let t = &st.tracking_info;
            let tat = format!("{sat}.trackingInfo");
            let number = t.tracking_number.trim();
            let problem = if number.is_empty() {
                Some(("trackingNumber", "must not be empty".to_owned()))
            } else if !METHOD_CODES.contains(&t.method_code.as_str()) {
                Some((
                    "methodCode",
                    format!(
                        "{:?} is not one of {}",
                        t.method_code,
                        METHOD_CODES.join(", ")
                    ),
                ))
            } else if DateTime::from_timestamp_millis(t.ship_date_time).is_none()
                || t.ship_date_time <= 0
            {
                Some((
                    "shipDateTime",
                    "must be a time in epoch milliseconds".to_owned(),
                ))
            } else {
                match (&t.carrier_name.carrier, &t.carrier_name.other_carrier) {
                    (Some(c), None) if CARRIERS.contains(&c.as_str()) || c.len() > 1 => None,
                    (None, Some(o)) if o.trim().is_empty() => {
                        Some(("carrierName.otherCarrier", "must not be empty".to_owned()))
                    }
                    (None, Some(_))
                        if t.tracking_url
                            .as_deref()
                            .is_none_or(|u| u.trim().is_empty()) =>
                    {
                        Some(("trackingURL", "required with otherCarrier".to_owned()))
                    }
                    (None, Some(_)) => None,
                    _ => Some((
                        "carrierName",
                        "exactly one of carrier and otherCarrier is required".to_owned(),
                    )),
                }
            };
            if let Some((field, message)) = problem {
                refusal = Some((format!("{tat}.{field}"), message));
                break 'lines;
            }
            // Never deduplicated: the same tracking number again on a line
            // is the client's bug, counted, and applied if units are open.
            if po_line.shipped.iter().any(|s| s.tracking_number == number)
                || accepted
                    .iter()
                    .any(|(l, _, _, n)| *l == index && n == number)
            {
                duplicates += 1;
            }
            if require_ack && po_line.open_state == LineState::Created {
                refusal = Some((
                    format!("{at}.lineNumber"),
                    format!(
                        "line {} of purchase order {po} must be acknowledged before it is shipped",
                        po_line.line_number
                    ),
                ));
                break 'lines;
            }
            let total = asked.entry(po_line.line_number.as_str()).or_default();
            *total += qty;
            if *total > po_line.open_units() {
                over = true;
                refusal = Some((
                    format!("{sat}.statusQuantity.amount"),
                    format!(
                        "ships {} units of line {} but only {} are open ({} ordered, {} shipped, {} cancelled)",
                        *total,
                        po_line.line_number,
                        po_line.open_units(),
                        po_line.quantity,
                        po_line.shipped_units(),
                        po_line.cancelled_units()
                    ),
                ));
                break 'lines;
            }
            let mut tracking = json!({
                "shipDateTime": t.ship_date_time,
                "carrierName": match (&t.carrier_name.carrier, &t.carrier_name.other_carrier) {
                    (Some(c), _) => json!({ "carrier": c }),
                    (_, o) => json!({ "otherCarrier": o }),
                },
                "methodCode": t.method_code,
                "trackingNumber": number,
            });
            if let Some(url) = &t.tracking_url {
                tracking["trackingURL"] = Value::String(url.clone());
            }
            accepted.push((index, qty, tracking, number.to_owned()));
        }
    }
    if lines.is_empty() && refusal.is_none() {
        refusal = Some((
            "orderShipment.orderLines.orderLine".to_owned(),
            "must not be empty".to_owned(),
        ));
    }
    state.counters.duplicate_shipments += duplicates;
    if let Some((field, message)) = refusal {
        state.counters.shipping_refused += 1;
        if over {
            state.counters.over_shipments += 1;
        }
        return bad_request(API, &field, message);
    }
    let now = now_ms();
    let shipped = accepted.len() as u64;
    let mut units_shipped = 0u64;
    let Some(order) = visible(state, &po) else {
        return order_not_found(&po);
    };
    for (index, qty, tracking, number) in accepted {
        let line = &mut order.lines[index];
        line.shipped.push(ShippedUnits {
            quantity: qty,
            tracking,
            tracking_number: number,
        });
        line.status_date = now;
        units_shipped += u64::from(qty);
    }
    let body = json!({ "order": sim.order_json(order) });
    state.counters.shipments_recorded += shipped;
    state.counters.units_shipped += units_shipped;
    Json(body).into_response()
}

async fn cancel_lines(
    State(sim): State<Arc<WalmartSim>>,
    Path(po): Path<String>,
    body: Bytes,
) -> Response {
    const API: &str = "GMP_ORDER_API";
    let request: CancelWire = match parse_json(API, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let mut state = lock(&sim.state);
    let state = &mut *state;
    let Some(order) = visible(state, &po) else {
        return order_not_found(&po);
    };
    let lines = &request.order_cancellation.order_lines.order_line;
    if lines.is_empty() {
        return bad_request(
            API,
            "orderCancellation.orderLines.orderLine",
            "must not be empty",
        );
    }
    let mut asked: HashMap<usize, u32> = HashMap::new();
    let mut accepted: Vec<(usize, u32, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let at = format!("orderCancellation.orderLines.orderLine[{i}]");
        let Some(index) = order
            .lines
            .iter()
            .position(|l| l.line_number == line.line_number)
        else {
            return bad_request(
                API,
                &format!("{at}.lineNumber"),
                format!("purchase order {po} has no line {:?}", line.line_number),
            );
        };
        for (j, st) in line
            .order_line_statuses
            .order_line_status
            .iter()
            .enumerate()
        {
            let sat = format!("{at}.orderLineStatuses.orderLineStatus[{j}]");
            if st.status != "Cancelled" {
                return bad_request(
                    API,
                    &format!("{sat}.status"),
                    format!("expected Cancelled, got {:?}", st.status),
                );
            }
            if !CANCELLATION_REASONS.contains(&st.cancellation_reason.as_str()) {
                return bad_request(
                    API,
                    &format!("{sat}.cancellationReason"),
                    format!(
                        "{:?} is not one of {}",
                        st.cancellation_reason,
                        CANCELLATION_REASONS.join(", ")
                    ),
                );
            }
            let qty = match units(&format!("{sat}.statusQuantity"), &st.status_quantity) {
                Ok(q) => q,
                Err(e) => return bad_request(API, &format!("{sat}.statusQuantity"), e),
            };
            let total = asked.entry(index).or_default();
            *total += qty;
            let open = order.lines[index].open_units();
            if *total > open {
                return bad_request(
                    API,
                    &format!("{sat}.statusQuantity.amount"),
                    format!(
                        "cancels {} units of line {} but only {open} are open",
                        *total, line.line_number
                    ),
                );
            }
            accepted.push((index, qty, st.cancellation_reason.clone()));
        }
    }
    let now = now_ms();
    let mut cancelled = 0u64;
    for (index, qty, reason) in accepted {
        let line = &mut order.lines[index];
        line.cancelled.push(CancelledUnits {
            quantity: qty,
            reason,
        });
        line.status_date = now;
        cancelled += u64::from(qty);
    }
    let body = json!({ "order": sim.order_json(order) });
    state.counters.seller_cancelled_units += cancelled;
    Json(body).into_response()
}

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
fn read_quantity(at: &str, value: Option<&Value>) -> Result<i64, (String, String)> {
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

async fn get_inventory(
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

async fn put_inventory(
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

/// The `file` part of a `multipart/form-data` body.
fn multipart_file<'b>(content_type: &str, body: &'b [u8]) -> Result<&'b [u8], String> {
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

async fn submit_feed(
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
    lock(&sim.rng).fill_bytes(&mut raw);
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

async fn feed_status(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"id:s/e+c"), "aWQ6cy9lK2M=");
    }

    #[test]
    fn multipart_finds_the_file_part() {
        let body = b"--b1\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--b1--\r\n";
        assert_eq!(
            multipart_file("multipart/form-data; boundary=b1", body).unwrap(),
            b"{\"a\":1}"
        );
        assert!(multipart_file("multipart/form-data", body).is_err());
        assert!(multipart_file("multipart/form-data; boundary=zz", body).is_err());
    }

    #[test]
    fn quantities_name_the_bad_field() {
        let q = |v: Value| read_quantity("quantity", Some(&v));
        assert_eq!(q(json!({ "unit": "EACH", "amount": 4 })), Ok(4));
        assert_eq!(
            q(json!({ "unit": "EACH", "amount": -1 })).unwrap_err().0,
            "quantity.amount"
        );
        assert_eq!(
            q(json!({ "unit": "EACH", "amount": 1.5 })).unwrap_err().0,
            "quantity.amount"
        );
        assert_eq!(
            q(json!({ "unit": "EACH", "amount": "3" })).unwrap_err().0,
            "quantity.amount"
        );
        assert_eq!(
            q(json!({ "unit": "LB", "amount": 3 })).unwrap_err().0,
            "quantity.unit"
        );
    }

    #[test]
    fn config_validation_refuses_bad_values() {
        WalmartSimConfig::default().validate().unwrap();
        let c = WalmartSimConfig {
            cancel_rate: 2.0,
            ..WalmartSimConfig::default()
        };
        assert!(c.validate().is_err());
        let mut c = WalmartSimConfig::default();
        c.rate_limits.feeds.per_sec = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("feeds"));
        let c = WalmartSimConfig {
            min_quantity: 4,
            ..WalmartSimConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn a_bucket_reports_its_count_and_next_token() {
        let mut b = TokenBucket::new(WalmartRateLimit::new(2, 1.0));
        let now = Instant::now();
        assert!(b.take(now));
        assert!(b.take(now));
        assert!(!b.take(now));
        let (count, at) = b.headers(now);
        assert_eq!(count, 0);
        assert!(at > now_ms() + 500, "{at}");
    }
}
