//! Simulated Amazon: Login with Amazon plus the parts of the Selling Partner
//! API the hub uses (Orders v0, Listings Items 2021-08-01, Feeds 2021-06-30),
//! as strict as Amazon: a connector should not be able to tell it from the
//! real thing except by base URL and credentials.
//!
//! - **LWA** `POST /auth/o2/token` (refresh-token grant). Every SP-API call
//!   needs `x-amz-access-token`; a missing, unknown or expired token is a 403
//!   `Unauthorized` in SP-API's error shape.
//! - **Rate limits**: a token bucket per operation with the documented rate
//!   (× `rate_multiplier`) and burst; every SP-API response carries
//!   `x-amzn-RateLimit-Limit`, an empty bucket is a 429 `QuotaExceeded`.
//!   `force_throttle` (or `POST /sim/throttle {"count": n}`) turns the next
//!   n SP-API calls away with a 429.
//! - **Orders** start `Pending` (no prices, no address), turn `Unshipped`
//!   after `pending_secs`, may be cancelled by the buyer before shipment,
//!   and move to `PartiallyShipped`/`Shipped` as packages are confirmed. A
//!   resend of a `packageReferenceId` edits that package; units beyond the
//!   ordered quantity under a new `packageReferenceId` are refused and
//!   counted as `duplicate_packages`.
//! - **ORDER_CHANGE** notifications are POSTed to
//!   `{hub_url}/webhooks/channels/{name}`, duplicated, delayed (so
//!   reordered) or dropped as configured.
//! - **Listings**: `patchListingsItem` and `JSON_LISTINGS_FEED` feeds set
//!   `fulfillment_availability` quantities per SKU. Feed documents live
//!   behind presigned URLs on this server (`/sim/s3/...`) that expire.
//!
//! `backdate_secs` shifts every Amazon timestamp into the past: Amazon
//! refuses `LastUpdatedBefore` later than two minutes ago, so without it a
//! test could not see an order it placed a moment ago.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, patch, post};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::delivery::{Deliverer, DeliveryCounters};
use crate::faults::{FaultGate, Faults, gate};
use crate::wire::lock;

const ACCESS_DENIED: &str = "Access to requested resource is denied.";
const PATCH_PARAMS: [&str; 4] = ["marketplaceIds", "includedData", "mode", "issueLocale"];
const RATE_LIMIT_HEADER: &str = "x-amzn-ratelimit-limit";
const ACCESS_TOKEN_HEADER: &str = "x-amz-access-token";
/// `LastUpdatedBefore`/`CreatedBefore` must be at least this long ago.
const SETTLE: chrono::Duration = chrono::Duration::minutes(2);
/// Amazon's cap on `MaxResultsPerPage`.
const MAX_PAGE: usize = 100;
/// Messages one `JSON_LISTINGS_FEED` may carry.
const MAX_FEED_MESSAGES: usize = 10_000;
const LISTINGS_FEED: &str = "JSON_LISTINGS_FEED";
const FULFILLMENT_AVAILABILITY: &str = "/attributes/fulfillment_availability";
/// Amazon's issue for a SKU the seller has no listing for.
const UNKNOWN_SKU_CODE: &str = "4000001";

const CITIES: [(&str, &str, &str); 6] = [
    ("Springfield", "IL", "62701"),
    ("Albany", "NY", "12207"),
    ("Boston", "MA", "02108"),
    ("Seattle", "WA", "98101"),
    ("Denver", "CO", "80202"),
    ("Austin", "TX", "73301"),
];

/// `[sim.amazon]`: a simulated Amazon seller account in one marketplace.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmazonSimConfig {
    /// Channel name in the hub: notifications go to `/webhooks/channels/{name}`.
    pub name: String,
    pub listen: String,
    pub seller_id: String,
    pub marketplace_id: String,
    /// LWA credentials the simulator accepts.
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// Lifetime of an LWA access token (`expires_in`).
    pub token_lifetime_secs: u64,
    /// SKUs with a listing; orders are drawn from them and only they take quantities.
    pub skus: Vec<String>,
    /// Quantity each listing starts with.
    pub initial_quantity: i64,
    pub currency: String,
    /// 0 = no orders are generated.
    pub orders_per_sec: f64,
    /// 0 = no limit.
    pub max_orders: u64,
    /// 0 = no limit.
    pub duration_secs: u64,
    pub max_lines: u32,
    pub max_quantity: u32,
    /// How long an order stays `Pending` before it becomes `Unshipped`.
    pub pending_secs: f64,
    /// Probability (0..1) that the buyer cancels before shipment.
    pub cancel_rate: f64,
    /// A new order shows in `getOrders` only this long after it was placed.
    pub visibility_delay_ms: u64,
    /// Shifts Amazon's timestamps this far into the past (see module docs).
    pub backdate_secs: u64,
    /// Probability (0..1) that a notification is delivered twice.
    pub duplicate_rate: f64,
    /// Probability (0..1) that a notification is never delivered.
    pub drop_rate: f64,
    /// Each notification waits a random 0..this before delivery (reordering).
    pub max_delivery_delay_ms: u64,
    /// Multiplies every documented rate (not burst) so tests run faster.
    pub rate_multiplier: f64,
    /// The first N SP-API calls get a 429.
    pub force_throttle: u64,
    /// Largest `getOrders` page, capped at Amazon's 100.
    pub orders_page_size: usize,
    /// Items per `getOrderItems` page.
    pub items_page_size: usize,
    /// A feed is `IN_QUEUE` for the first third of this, then `IN_PROGRESS`, then `DONE`.
    pub feed_processing_ms: u64,
    /// How long a presigned document URL works (Amazon: 5 minutes).
    pub document_url_ttl_secs: u64,
    pub faults: Faults,
}

impl Default for AmazonSimConfig {
    fn default() -> Self {
        AmazonSimConfig {
            name: "amazon".into(),
            listen: "127.0.0.1:0".into(),
            seller_id: "A2SIMSELLER0001".into(),
            marketplace_id: "ATVPDKIKX0DER".into(),
            client_id: "amzn1.application-oa2-client.sim".into(),
            client_secret: "sim-client-secret".into(),
            refresh_token: "Atzr|sim-refresh-token".into(),
            token_lifetime_secs: 3600,
            skus: (1..=10).map(|i| format!("SKU-{i:03}")).collect(),
            initial_quantity: 0,
            currency: "USD".into(),
            orders_per_sec: 0.0,
            max_orders: 0,
            duration_secs: 0,
            max_lines: 3,
            max_quantity: 3,
            pending_secs: 2.0,
            cancel_rate: 0.0,
            visibility_delay_ms: 0,
            backdate_secs: 0,
            duplicate_rate: 0.0,
            drop_rate: 0.0,
            max_delivery_delay_ms: 0,
            rate_multiplier: 1.0,
            force_throttle: 0,
            orders_page_size: MAX_PAGE,
            items_page_size: 20,
            feed_processing_ms: 1_000,
            document_url_ttl_secs: 300,
            faults: Faults::default(),
        }
    }
}

impl AmazonSimConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.name.is_empty(), "sim.amazon.name must not be empty");
        for (key, value) in [
            ("seller_id", &self.seller_id),
            ("marketplace_id", &self.marketplace_id),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ] {
            anyhow::ensure!(!value.is_empty(), "sim.amazon.{key} must not be empty");
        }
        crate::config::ensure_probabilities(
            "sim.amazon",
            &[
                ("cancel_rate", self.cancel_rate),
                ("duplicate_rate", self.duplicate_rate),
                ("drop_rate", self.drop_rate),
            ],
        )?;
        anyhow::ensure!(
            self.orders_per_sec >= 0.0 && self.orders_per_sec.is_finite(),
            "sim.amazon.orders_per_sec must not be negative"
        );
        anyhow::ensure!(
            self.rate_multiplier > 0.0 && self.rate_multiplier.is_finite(),
            "sim.amazon.rate_multiplier must be positive"
        );
        anyhow::ensure!(
            self.pending_secs >= 0.0 && self.pending_secs.is_finite(),
            "sim.amazon.pending_secs must not be negative"
        );
        anyhow::ensure!(!self.skus.is_empty(), "sim.amazon.skus must not be empty");
        anyhow::ensure!(
            self.max_lines >= 1 && self.max_quantity >= 1,
            "sim.amazon.max_lines and max_quantity must be at least 1"
        );
        anyhow::ensure!(
            self.initial_quantity >= 0,
            "sim.amazon.initial_quantity must not be negative"
        );
        anyhow::ensure!(
            (1..=MAX_PAGE).contains(&self.orders_page_size),
            "sim.amazon.orders_page_size must be within 1..=100"
        );
        anyhow::ensure!(
            self.items_page_size >= 1,
            "sim.amazon.items_page_size must be at least 1"
        );
        anyhow::ensure!(
            self.token_lifetime_secs >= 1,
            "sim.amazon.token_lifetime_secs must be at least 1"
        );
        anyhow::ensure!(
            crate::wire::is_currency_code(&self.currency),
            "sim.amazon.currency must be an ISO 4217 code"
        );
        self.faults.validate("sim.amazon")
    }
}

/// The SP-API operations served, each with its own documented usage plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    GetOrders,
    GetOrder,
    GetOrderItems,
    ConfirmShipment,
    PatchListingsItem,
    CreateFeedDocument,
    CreateFeed,
    GetFeed,
    GetFeedDocument,
}

impl Op {
    /// Documented default (rate per second, burst): NOTES.md §1.4.
    fn plan(self) -> (f64, f64) {
        match self {
            Op::GetOrders => (0.0167, 20.0),
            Op::GetOrder | Op::GetOrderItems => (0.5, 30.0),
            Op::ConfirmShipment => (2.0, 10.0),
            Op::PatchListingsItem => (5.0, 5.0),
            Op::CreateFeedDocument => (0.5, 15.0),
            Op::CreateFeed => (0.0083, 15.0),
            Op::GetFeed => (2.0, 15.0),
            Op::GetFeedDocument => (0.0222, 10.0),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::GetOrders => "getOrders",
            Op::GetOrder => "getOrder",
            Op::GetOrderItems => "getOrderItems",
            Op::ConfirmShipment => "confirmShipment",
            Op::PatchListingsItem => "patchListingsItem",
            Op::CreateFeedDocument => "createFeedDocument",
            Op::CreateFeed => "createFeed",
            Op::GetFeed => "getFeed",
            Op::GetFeedDocument => "getFeedDocument",
        }
    }
}

struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Unshipped,
    PartiallyShipped,
    Shipped,
    Canceled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::Unshipped => "Unshipped",
            Status::PartiallyShipped => "PartiallyShipped",
            Status::Shipped => "Shipped",
            Status::Canceled => "Canceled",
        }
    }
}

struct OrderItem {
    id: String,
    sku: String,
    quantity: u32,
    /// Line amount (unit price × quantity), as Amazon's `ItemPrice`.
    price: Decimal,
    tax: Decimal,
    shipping: Decimal,
    discount: Decimal,
}

struct Package {
    /// `orderItemId` → quantity in this package.
    items: BTreeMap<String, u32>,
}

struct SimOrder {
    id: String,
    status: Status,
    purchased: DateTime<Utc>,
    updated: DateTime<Utc>,
    /// When `getOrders` starts showing it (`visibility_delay_ms`).
    visible_at: Instant,
    items: Vec<OrderItem>,
    buyer: String,
    city: (&'static str, &'static str, &'static str),
    street: u32,
    expedited: bool,
    /// `packageReferenceId` → package.
    packages: BTreeMap<String, Package>,
}

impl SimOrder {
    fn shipped(&self, item_id: &str) -> u32 {
        self.packages
            .values()
            .filter_map(|p| p.items.get(item_id))
            .sum()
    }

    fn units(&self) -> (u32, u32) {
        let ordered: u32 = self.items.iter().map(|i| i.quantity).sum();
        let shipped: u32 = self.items.iter().map(|i| self.shipped(&i.id)).sum();
        (shipped, ordered.saturating_sub(shipped))
    }

    fn total(&self) -> Decimal {
        self.items
            .iter()
            .map(|i| i.price + i.tax + i.shipping - i.discount)
            .sum()
    }
}

/// A `getOrders` result set being paged: the ids matched by the first
/// request, in order; each page shows their current state.
struct Paging {
    ids: Vec<String>,
    offset: usize,
    page_size: usize,
}

struct Document {
    content_type: String,
    /// Query string that makes the presigned URL valid.
    signature: String,
    expires: Instant,
    content: Option<Vec<u8>>,
}

#[derive(Clone)]
struct Feed {
    id: String,
    feed_type: String,
    marketplace_ids: Vec<String>,
    input: String,
    created: DateTime<Utc>,
    created_at: Instant,
    /// Set once processed: (final status, result document id).
    outcome: Option<(&'static str, String)>,
}

#[derive(Default)]
struct Counters {
    lwa_tokens_issued: u64,
    lwa_refused: u64,
    unauthorized: u64,
    throttled: u64,
    throttled_by_operation: BTreeMap<&'static str, u64>,
    requests_by_operation: BTreeMap<&'static str, u64>,
    invalid_requests: u64,
    bad_next_tokens: u64,
    orders_generated: u64,
    orders_cancelled: u64,
    shipments_confirmed: u64,
    package_edits: u64,
    duplicate_packages: u64,
    confirmations_refused: u64,
    notifications_sent: u64,
    notifications_duplicated: u64,
    notifications_dropped: u64,
    listing_patches: u64,
    listing_patches_rejected: u64,
    feed_documents_created: u64,
    feed_documents_uploaded: u64,
    expired_document_urls: u64,
    feeds_created: u64,
    feeds_processed: u64,
    feeds_fatal: u64,
    feed_messages_accepted: u64,
    feed_messages_rejected: u64,
}

#[derive(Default)]
struct AmazonState {
    orders: BTreeMap<String, SimOrder>,
    /// Access token → when it expires.
    tokens: HashMap<String, Instant>,
    buckets: HashMap<Op, Bucket>,
    force_throttle: u64,
    pages: HashMap<String, Paging>,
    /// getOrderItems NextToken → (order id, offset).
    item_pages: HashMap<String, (String, usize)>,
    quantities: BTreeMap<String, Option<i64>>,
    documents: HashMap<String, Document>,
    feeds: HashMap<String, Feed>,
    counters: Counters,
    next_feed: u64,
}

pub(crate) struct AmazonSim {
    config: AmazonSimConfig,
    webhook_url: String,
    rng: Arc<Mutex<SmallRng>>,
    prices: HashMap<String, Decimal>,
    state: Mutex<AmazonState>,
    gate: Arc<FaultGate>,
    deliverer: Deliverer,
    deliveries: Arc<DeliveryCounters>,
    generation_done: AtomicBool,
    stop: CancellationToken,
    placed: AtomicU64,
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn iso_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn money(currency: &str, amount: Decimal) -> Value {
    json!({ "CurrencyCode": currency, "Amount": format!("{:.2}", amount) })
}

/// SP-API's error document: `{"errors":[{"code","message","details"}]}`.
fn sp_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "errors": [{ "code": code, "message": message.into(), "details": "" }] })),
    )
        .into_response()
}

fn invalid_input(message: impl Into<String>) -> Response {
    sp_error(StatusCode::BAD_REQUEST, "InvalidInput", message)
}

/// A refusal on its way back to the caller (boxed: a `Response` is large).
struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Refusal(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn bad_input(message: impl Into<String>) -> Refusal {
    invalid_input(message).into()
}

fn sp_refusal(status: StatusCode, code: &str, message: impl Into<String>) -> Refusal {
    sp_error(status, code, message).into()
}

fn s3_refusal(code: &str, message: &str) -> Refusal {
    s3_error(code, message).into()
}

/// S3's XML error for a presigned URL it will not honour.
fn s3_error(code: &str, message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
        .into_response()
}

/// An opaque token holding `+`, `/` and `=` as Amazon's do, so a client
/// that encodes it wrongly (or twice) sends one that does not match.
fn opaque_token(rng: &mut SmallRng) -> String {
    let mut bytes = [0u8; 18];
    rng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}+{}/{}==", &hex[..12], &hex[12..24], &hex[24..])
}

fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, Refusal> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad_input(format!(
                "Invalid {field}: {value:?} is not an ISO 8601 date-time"
            ))
        })
}

impl AmazonSim {
    pub(crate) fn new(
        config: AmazonSimConfig,
        hub_url: &str,
        rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
    ) -> Arc<Self> {
        let rng = Arc::new(Mutex::new(rng));
        let prices = crate::catalogue::price_list(&config.skus, &rng, 499..=9_999);
        let gate = Arc::new(FaultGate::new(config.faults.clone(), started, rng.clone()));
        let stop = deliverer.cancel.child_token();
        let state = AmazonState {
            quantities: config
                .skus
                .iter()
                .map(|s| (s.clone(), Some(config.initial_quantity)))
                .collect(),
            force_throttle: config.force_throttle,
            ..AmazonState::default()
        };
        Arc::new(AmazonSim {
            webhook_url: format!(
                "{}/webhooks/channels/{}",
                hub_url.trim_end_matches('/'),
                config.name
            ),
            config,
            rng,
            prices,
            state: Mutex::new(state),
            gate,
            deliverer,
            deliveries: Arc::new(DeliveryCounters::default()),
            generation_done: AtomicBool::new(false),
            stop,
            placed: AtomicU64::new(0),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn config_listen(&self) -> String {
        self.config.listen.clone()
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        let api = Router::new()
            .route("/orders/v0/orders", get(get_orders))
            .route("/orders/v0/orders/{order_id}", get(get_order))
            .route(
                "/orders/v0/orders/{order_id}/orderItems",
                get(get_order_items),
            )
            .route(
                "/orders/v0/orders/{order_id}/shipmentConfirmation",
                post(confirm_shipment),
            )
            .route(
                "/listings/2021-08-01/items/{seller_id}/{sku}",
                patch(patch_listings_item),
            )
            .route("/feeds/2021-06-30/documents", post(create_feed_document))
            .route(
                "/feeds/2021-06-30/documents/{document_id}",
                get(get_feed_document),
            )
            .route("/feeds/2021-06-30/feeds", post(create_feed))
            .route("/feeds/2021-06-30/feeds/{feed_id}", get(get_feed))
            .route("/auth/o2/token", post(lwa_token))
            .layer(axum::middleware::from_fn_with_state(
                self.gate.clone(),
                gate,
            ));
        api.route(
            "/sim/s3/{document_id}",
            get(download_document).put(upload_document),
        )
        .route(
            "/sim/stats",
            get(|State(sim): State<Arc<AmazonSim>>| async move { Json(sim.stats()) }),
        )
        .route("/sim/throttle", post(force_throttle))
        .route("/sim/expire-tokens", post(expire_tokens))
        .route("/sim/health", get(|| async { Json(json!({ "ok": true })) }))
        .with_state(self.clone())
    }

    /// Amazon's clock as the simulator shows it (see `backdate_secs`).
    fn now(&self) -> DateTime<Utc> {
        Utc::now() - chrono::Duration::seconds(self.config.backdate_secs as i64)
    }

    /// Places orders until the configured limit or `stop`; spawned by the estate.
    pub(crate) async fn generate(self: Arc<Self>) {
        let c = &self.config;
        let pace = crate::catalogue::OrderPace {
            orders_per_sec: c.orders_per_sec,
            max_orders: c.max_orders,
            duration_secs: c.duration_secs,
        };
        crate::catalogue::place_orders(pace, &self.stop, &self.generation_done, |n| {
            self.placed.store(n, Ordering::SeqCst);
            self.place_order();
        })
        .await;
        tracing::debug!(
            sim = self.name(),
            orders = self.placed.load(Ordering::SeqCst),
            "Amazon order generation finished"
        );
    }

    pub(crate) fn generation_done(&self) -> bool {
        self.generation_done.load(Ordering::SeqCst)
    }

    pub(crate) fn stop_generating(&self) {
        self.stop.cancel();
    }

    fn place_order(self: &Arc<Self>) {
        let c = &self.config;
        let now = self.now();
        let (order, cancel_after) = {
            let mut rng = lock(&self.rng);
            let id = format!(
                "{:03}-{:07}-{:07}",
                rng.random_range(100..1000u32),
                rng.random_range(0..10_000_000u32),
                rng.random_range(0..10_000_000u32)
            );
            let lines = rng.random_range(1..=c.max_lines.min(c.skus.len() as u32)) as usize;
            let picked = rand::seq::index::sample(&mut *rng, c.skus.len(), lines);
            let round =
                |d: Decimal| d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
            let items = picked
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let sku = c.skus[k].clone();
                    let quantity = rng.random_range(1..=c.max_quantity);
                    let unit = self
                        .prices
                        .get(&sku)
                        .copied()
                        .unwrap_or(Decimal::new(999, 2));
                    let price = unit * Decimal::from(quantity);
                    let discount = if rng.random_bool(0.2) {
                        round(price * Decimal::new(10, 2))
                    } else {
                        Decimal::ZERO
                    };
                    OrderItem {
                        id: format!(
                            "{:014}",
                            rng.random_range(10_000_000_000_000u64..99_999_999_999_999)
                        ),
                        sku,
                        quantity,
                        tax: round((price - discount) * Decimal::new(825, 4)),
                        price,
                        shipping: if i == 0 {
                            Decimal::new(499, 2)
                        } else {
                            Decimal::ZERO
                        },
                        discount,
                    }
                })
                .collect();
            let order = SimOrder {
                id,
                status: Status::Pending,
                purchased: now,
                updated: now,
                visible_at: Instant::now() + Duration::from_millis(c.visibility_delay_ms),
                items,
                buyer: format!("Buyer {}", rng.random_range(1..=500u32)),
                city: *CITIES.choose(&mut *rng).unwrap_or(&CITIES[0]),
                street: rng.random_range(1..=999),
                expedited: rng.random_bool(0.2),
                packages: BTreeMap::new(),
            };
            let cancel_after = rng.random_bool(c.cancel_rate).then(|| {
                // Before or soon after payment is authorized, before anyone ships.
                let latest = (c.pending_secs * 1.5).max(0.5);
                Duration::from_secs_f64(rng.random_range(0.0..latest))
            });
            (order, cancel_after)
        };
        let order_id = order.id.clone();
        let notice = self.notification(&order, "OrderStatusChange", "New order");
        {
            let mut state = lock(&self.state);
            state.counters.orders_generated += 1;
            state.orders.insert(order_id.clone(), order);
        }
        self.notify(notice);
        self.schedule(
            order_id.clone(),
            Duration::from_secs_f64(c.pending_secs),
            |o| (o.status == Status::Pending).then_some((Status::Unshipped, "Payment authorized")),
        );
        if let Some(delay) = cancel_after {
            self.schedule(order_id, delay, |o| {
                (matches!(o.status, Status::Pending | Status::Unshipped) && o.packages.is_empty())
                    .then_some((Status::Canceled, "Buyer Requested Cancel"))
            });
        }
    }

    /// After `delay`, moves the order to the status `change` picks (if any)
    /// and notifies.
    fn schedule(
        self: &Arc<Self>,
        order_id: String,
        delay: Duration,
        change: fn(&SimOrder) -> Option<(Status, &'static str)>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.deliverer.cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let notice = {
                let mut state = lock(&this.state);
                let Some(order) = state.orders.get_mut(&order_id) else {
                    return;
                };
                let Some((status, reason)) = change(order) else {
                    return;
                };
                order.status = status;
                order.updated = this.now();
                let notice = this.notification(order, "OrderStatusChange", reason);
                if status == Status::Canceled {
                    state.counters.orders_cancelled += 1;
                }
                notice
            };
            this.notify(notice);
        });
    }

    /// An ORDER_CHANGE notification (schemas/notifications/OrderChangeNotification.json).
    fn notification(&self, order: &SimOrder, change_type: &str, reason: &str) -> Value {
        let (shipped, unshipped) = order.units();
        let id = uuid_from(&self.rng);
        let items: Vec<Value> = order
            .items
            .iter()
            .map(|i| {
                let shipped = order.shipped(&i.id);
                json!({
                    "OrderItemId": i.id,
                    "SellerSKU": i.sku,
                    "SupplySourceId": null,
                    "OrderItemStatus": if shipped >= i.quantity { "Shipped" } else { "Unshipped" },
                    "Quantity": i.quantity,
                    "QuantityShipped": shipped,
                    "IsBuyerRequestedCancel": order.status == Status::Canceled,
                })
            })
            .collect();
        json!({
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": "1.0",
            "EventTime": iso_ms(self.now()),
            "Payload": { "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": self.config.seller_id,
                "AmazonOrderId": order.id,
                "OrderChangeType": change_type,
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": iso_ms(order.updated),
                    "ChangeReason": reason,
                },
                "Summary": {
                    "MarketplaceId": self.config.marketplace_id,
                    "OrderStatus": order.status.as_str(),
                    "PurchaseDate": iso_ms(order.purchased),
                    "DestinationPostalCode": order.city.2,
                    "FulfillmentType": "MFN",
                    "OrderType": "StandardOrder",
                    "NumberOfItemsShipped": shipped,
                    "NumberOfItemsUnshipped": unshipped,
                    "OrderItems": items,
                }
            }},
            "NotificationMetadata": {
                "ApplicationId": "amzn1.sellerapps.app.crossdock-sim",
                "SubscriptionId": format!("subscription-{}", self.config.seller_id),
                "PublishTime": iso_ms(self.now()),
                "NotificationId": id,
            }
        })
    }

    /// Delivers a notification with the configured faults: dropped, or
    /// sent once or twice, each copy after its own random delay.
    fn notify(self: &Arc<Self>, body: Value) {
        let (dropped, copies, delays) = {
            let mut rng = lock(&self.rng);
            let c = &self.config;
            let dropped = c.drop_rate > 0.0 && rng.random_bool(c.drop_rate);
            let copies = if c.duplicate_rate > 0.0 && rng.random_bool(c.duplicate_rate) {
                2
            } else {
                1
            };
            let delays: Vec<u64> = (0..copies)
                .map(|_| rng.random_range(0..=c.max_delivery_delay_ms))
                .collect();
            (dropped, copies, delays)
        };
        {
            let mut state = lock(&self.state);
            if dropped {
                state.counters.notifications_dropped += 1;
                return;
            }
            state.counters.notifications_sent += 1;
            if copies > 1 {
                state.counters.notifications_duplicated += 1;
            }
        }
        for delay in delays {
            let slot = self.deliverer.reserve(&self.deliveries);
            let this = self.clone();
            let body = body.clone();
            tokio::spawn(async move {
                if delay > 0 {
                    tokio::select! {
                        _ = this.deliverer.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                    }
                }
                this.deliverer
                    .spawn(slot, this.webhook_url.clone(), Vec::new(), body);
            });
        }
    }

    /// Checks the access token and takes a token from the operation's
    /// bucket. `Err` is the refusal to send (403 or 429).
    fn admit(&self, op: Op, headers: &HeaderMap) -> Result<(), Refusal> {
        let mut state = lock(&self.state);
        *state
            .counters
            .requests_by_operation
            .entry(op.as_str())
            .or_default() += 1;
        let now = Instant::now();
        let token = headers
            .get(ACCESS_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let refusal = match token.map(|t| state.tokens.get(t).copied()) {
            None => Some(ACCESS_DENIED),
            Some(None) => Some("The access token you provided is revoked, malformed or invalid."),
            Some(Some(expires)) if expires <= now => {
                Some("The access token you provided has expired.")
            }
            Some(Some(_)) => None,
        };
        if let Some(message) = refusal {
            state.counters.unauthorized += 1;
            return Err(sp_refusal(StatusCode::FORBIDDEN, "Unauthorized", message));
        }
        let multiplier = self.config.rate_multiplier;
        let forced = state.force_throttle > 0;
        let bucket = state.buckets.entry(op).or_insert_with(|| {
            let (rate, burst) = op.plan();
            Bucket {
                rate: rate * multiplier,
                burst,
                tokens: burst,
                at: now,
            }
        });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * bucket.rate)
            .min(bucket.burst);
        bucket.at = now;
        let throttled = if forced {
            state.force_throttle -= 1;
            true
        } else if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            false
        } else {
            true
        };
        if throttled {
            state.counters.throttled += 1;
            *state
                .counters
                .throttled_by_operation
                .entry(op.as_str())
                .or_default() += 1;
            return Err(sp_refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "QuotaExceeded",
                "You exceeded your quota for the requested resource.",
            ));
        }
        Ok(())
    }

    /// Runs an SP-API operation: auth, rate limit, then `handle`; the answer
    /// carries the operation's `x-amzn-RateLimit-Limit`.
    fn serve(&self, op: Op, headers: &HeaderMap, handle: impl FnOnce() -> Response) -> Response {
        let mut response = match self.admit(op, headers) {
            Ok(()) => handle(),
            Err(refusal) => refusal.into_response(),
        };
        if response.status() == StatusCode::BAD_REQUEST {
            lock(&self.state).counters.invalid_requests += 1;
        }
        let rate = op.plan().0 * self.config.rate_multiplier;
        if let Ok(value) = HeaderValue::from_str(&format!("{rate}")) {
            response.headers_mut().insert(RATE_LIMIT_HEADER, value);
        }
        if let Ok(value) = HeaderValue::from_str(&uuid_from(&self.rng)) {
            response.headers_mut().insert("x-amzn-requestid", value);
        }
        response
    }

    /// The `Order` document Amazon shows (ordersV0.json `Order`): no total,
    /// address or buyer while Pending.
    fn order_doc(&self, o: &SimOrder) -> Value {
        let c = &self.config;
        let (shipped, unshipped) = o.units();
        let mut doc = json!({
            "AmazonOrderId": o.id,
            "PurchaseDate": iso(o.purchased),
            "LastUpdateDate": iso(o.updated),
            "OrderStatus": o.status.as_str(),
            "FulfillmentChannel": "MFN",
            "SalesChannel": "Amazon.com",
            "ShipServiceLevel": if o.expedited { "Expedited" } else { "Std US D2D Dom" },
            "NumberOfItemsShipped": shipped,
            "NumberOfItemsUnshipped": unshipped,
            "PaymentMethod": "Other",
            "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": c.marketplace_id,
            "ShipmentServiceLevelCategory": if o.expedited { "Expedited" } else { "Standard" },
            "OrderType": "StandardOrder",
            "EarliestShipDate": iso(o.purchased + chrono::Duration::days(1)),
            "LatestShipDate": iso(o.purchased + chrono::Duration::days(3)),
            "IsBusinessOrder": false,
            "IsPrime": false,
            "IsPremiumOrder": false,
            "IsGlobalExpressEnabled": false,
            "IsReplacementOrder": false,
            "IsSoldByAB": false,
            "IsISPU": false,
            "IsAccessPointOrder": false,
        });
        if o.status != Status::Pending {
            doc["OrderTotal"] = money(&c.currency, o.total());
            doc["ShippingAddress"] = json!({
                "Name": o.buyer,
                "AddressLine1": format!("{} Main St", o.street),
                "City": o.city.0,
                "StateOrRegion": o.city.1,
                "PostalCode": o.city.2,
                "CountryCode": "US",
                "AddressType": "Residential",
            });
            doc["BuyerInfo"] = json!({
                "BuyerEmail": format!("{}@marketplace.amazon.com", o.id.replace('-', "")),
                "BuyerName": o.buyer,
            });
        }
        doc
    }

    /// An `OrderItem` (ordersV0.json): no prices while Pending.
    fn item_doc(&self, o: &SimOrder, i: &OrderItem) -> Value {
        let c = &self.config;
        let mut doc = json!({
            "ASIN": format!("B0{}", &i.id[..8]),
            "SellerSKU": i.sku,
            "OrderItemId": i.id,
            "Title": format!("Item {}", i.sku),
            "QuantityOrdered": i.quantity,
            "QuantityShipped": o.shipped(&i.id),
            "ProductInfo": { "NumberOfItems": "1" },
            "IsGift": "false",
            "IsTransparency": false,
        });
        if o.status != Status::Pending {
            doc["ItemPrice"] = money(&c.currency, i.price);
            doc["ItemTax"] = money(&c.currency, i.tax);
            doc["ShippingPrice"] = money(&c.currency, i.shipping);
            doc["ShippingTax"] = money(&c.currency, Decimal::ZERO);
            doc["ShippingDiscount"] = money(&c.currency, Decimal::ZERO);
            doc["PromotionDiscount"] = money(&c.currency, i.discount);
        }
        doc
    }

    pub(crate) fn stats(&self) -> Value {
        let state = lock(&self.state);
        let c = &state.counters;
        let mut out = Map::new();
        let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
        for o in state.orders.values() {
            *by_status.entry(o.status.as_str()).or_default() += 1;
        }
        for (key, value) in [
            ("orders_generated", c.orders_generated),
            ("orders_cancelled", c.orders_cancelled),
            ("lwa_tokens_issued", c.lwa_tokens_issued),
            ("lwa_refused", c.lwa_refused),
            ("unauthorized", c.unauthorized),
            ("throttled", c.throttled),
            ("invalid_requests", c.invalid_requests),
            ("bad_next_tokens", c.bad_next_tokens),
            ("shipments_confirmed", c.shipments_confirmed),
            ("package_edits", c.package_edits),
            ("duplicate_packages", c.duplicate_packages),
            ("confirmations_refused", c.confirmations_refused),
            ("notifications_sent", c.notifications_sent),
            ("notifications_duplicated", c.notifications_duplicated),
            ("notifications_dropped", c.notifications_dropped),
            ("listing_patches", c.listing_patches),
            ("listing_patches_rejected", c.listing_patches_rejected),
            ("feed_documents_created", c.feed_documents_created),
            ("feed_documents_uploaded", c.feed_documents_uploaded),
            ("expired_document_urls", c.expired_document_urls),
            ("feeds_created", c.feeds_created),
            ("feeds_processed", c.feeds_processed),
            ("feeds_fatal", c.feeds_fatal),
            ("feed_messages_accepted", c.feed_messages_accepted),
            ("feed_messages_rejected", c.feed_messages_rejected),
        ] {
            out.insert(key.into(), value.into());
        }
        out.insert("orders_by_status".into(), json!(by_status));
        out.insert(
            "throttled_by_operation".into(),
            json!(c.throttled_by_operation),
        );
        out.insert(
            "requests_by_operation".into(),
            json!(c.requests_by_operation),
        );
        out.insert("quantities".into(), json!(state.quantities));
        out.insert(
            "generated_order_ids".into(),
            json!(state.orders.keys().collect::<Vec<_>>()),
        );
        out.insert(
            "cancelled_order_ids".into(),
            json!(
                state
                    .orders
                    .values()
                    .filter(|o| o.status == Status::Canceled)
                    .map(|o| o.id.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        drop(state);
        self.deliveries.write_stats(&mut out);
        out.insert(
            "webhook_deliveries_pending".into(),
            self.deliveries.pending().into(),
        );
        self.gate.write_stats(&mut out);
        Value::Object(out)
    }

    /// Sets a listing's quantity from one `fulfillment_availability` patch
    /// or attribute value; `Err` is Amazon's issue message.
    fn apply_availability(
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
            let mut rng = lock(&self.rng);
            let mut sig = [0u8; 16];
            rng.fill_bytes(&mut sig);
            let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
            (
                format!("amzn1.tortuga.4.na.{}", uuid_from_rng(&mut rng)),
                sig,
            )
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

    /// Processes a feed once its time is up (spawned by `createFeed`).
    fn finish_feed(self: &Arc<Self>, feed_id: String) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.deliverer.cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(this.config.feed_processing_ms)) => {}
            }
            let mut state = lock(&this.state);
            let Some(feed) = state.feeds.get(&feed_id).cloned() else {
                return;
            };
            let (status, report) = this.process_feed(&mut state, &feed);
            let bytes = serde_json::to_vec(&report).unwrap_or_default();
            // The result document's URL is made when it is asked for.
            let result_id = format!("amzn1.tortuga.4.na.{}", uuid_from(&this.rng));
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
fn read_feed_message<'a>(
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

/// Only top-level attributes can be patched (listingsItems_2021-08-01.json).
fn check_patch_path(path: &str) -> Result<(), String> {
    match path.strip_prefix("/attributes/") {
        Some(name) if !name.is_empty() && !name.contains('/') => Ok(()),
        _ => Err(format!(
            "{path:?} is not a top-level attribute path (/attributes/<name>)"
        )),
    }
}

fn uuid_from(rng: &Mutex<SmallRng>) -> String {
    uuid_from_rng(&mut lock(rng))
}

fn uuid_from_rng(rng: &mut SmallRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Query pairs in order, repeated keys kept; `+` reads as a space, as in
/// any form-encoded query (so an unencoded NextToken does not match).
type Pairs = Query<Vec<(String, String)>>;

fn single<'a>(pairs: &'a [(String, String)], key: &str) -> Result<Option<&'a str>, Refusal> {
    let mut found = pairs.iter().filter(|(k, _)| k == key);
    let first = found.next().map(|(_, v)| v.as_str());
    if found.next().is_some() {
        return Err(bad_input(format!("{key} must be given once")));
    }
    Ok(first)
}

fn check_marketplace(
    sim: &AmazonSim,
    pairs: &[(String, String)],
    key: &str,
) -> Result<(), Refusal> {
    let Some(ids) = single(pairs, key)? else {
        return Err(bad_input(format!("{key} is required")));
    };
    if !ids
        .split(',')
        .any(|m| m.trim() == sim.config.marketplace_id)
    {
        return Err(bad_input(format!(
            "Invalid {key}: {ids:?} holds no marketplace this seller sells in"
        )));
    }
    Ok(())
}

async fn lwa_token(State(sim): State<Arc<AmazonSim>>, headers: HeaderMap, body: Bytes) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let refuse = |status: StatusCode, error: &str, description: &str| {
        lock(&sim.state).counters.lwa_refused += 1;
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response()
    };
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let Ok(pairs) = serde_urlencoded_pairs(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Malformed form body",
        );
    };
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let c = &sim.config;
    if get("grant_type") != Some("refresh_token") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        );
    }
    if get("client_id") != Some(c.client_id.as_str())
        || get("client_secret") != Some(c.client_secret.as_str())
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if get("refresh_token") != Some(c.refresh_token.as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    let token = format!("Atza|{}", uuid_from(&sim.rng));
    {
        let mut state = lock(&sim.state);
        state.counters.lwa_tokens_issued += 1;
        state.tokens.insert(
            token.clone(),
            Instant::now() + Duration::from_secs(c.token_lifetime_secs),
        );
    }
    Json(json!({
        "access_token": token,
        "refresh_token": c.refresh_token,
        "token_type": "bearer",
        "expires_in": c.token_lifetime_secs,
    }))
    .into_response()
}

fn serde_urlencoded_pairs(body: &[u8]) -> Result<Vec<(String, String)>, ()> {
    let text = std::str::from_utf8(body).map_err(|_| ())?;
    let Query(pairs) =
        Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{text}").parse().map_err(|_| ())?)
            .map_err(|_| ())?;
    Ok(pairs)
}

const ORDERS_PARAMS: [&str; 8] = [
    "MarketplaceIds",
    "CreatedAfter",
    "CreatedBefore",
    "LastUpdatedAfter",
    "LastUpdatedBefore",
    "OrderStatuses",
    "MaxResultsPerPage",
    "NextToken",
];

async fn get_orders(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    sim.serve(Op::GetOrders, &headers, || {
        match list_orders(&sim, &pairs) {
            Ok(v) => v,
            Err(r) => r.into_response(),
        }
    })
}

fn list_orders(sim: &AmazonSim, pairs: &[(String, String)]) -> Result<Response, Refusal> {
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, _)| !ORDERS_PARAMS.contains(&k.as_str()))
    {
        return Err(bad_input(format!("Unknown parameter {k}")));
    }
    check_marketplace(sim, pairs, "MarketplaceIds")?;
    let mut state = lock(&sim.state);
    let paging_key = if let Some(token) = single(pairs, "NextToken")? {
        if !state.pages.contains_key(token) {
            state.counters.bad_next_tokens += 1;
            return Err(bad_input(format!(
                "Invalid NextToken: We could not decode your NextToken {token:?}"
            )));
        }
        token.to_owned()
    } else {
        let real_now = Utc::now();
        let latest = sim.now().min(real_now - SETTLE);
        let time = |k: &str| single(pairs, k)?.map(|v| parse_time(k, v)).transpose();
        let (created_after, created_before) = (time("CreatedAfter")?, time("CreatedBefore")?);
        let (updated_after, updated_before) =
            (time("LastUpdatedAfter")?, time("LastUpdatedBefore")?);
        let by_update = match (created_after, updated_after) {
            (Some(_), Some(_)) => {
                return Err(bad_input(
                    "CreatedAfter and LastUpdatedAfter cannot both be given",
                ));
            }
            (None, None) => {
                return Err(bad_input(
                    "One of CreatedAfter or LastUpdatedAfter is required",
                ));
            }
            (Some(_), None) if updated_before.is_some() => {
                return Err(bad_input(
                    "LastUpdatedBefore cannot be combined with CreatedAfter",
                ));
            }
            (None, Some(_)) if created_before.is_some() => {
                return Err(bad_input(
                    "CreatedBefore cannot be combined with LastUpdatedAfter",
                ));
            }
            (_, u) => u.is_some(),
        };
        let (after, before, names) = if by_update {
            (
                updated_after,
                updated_before,
                ("LastUpdatedAfter", "LastUpdatedBefore"),
            )
        } else {
            (
                created_after,
                created_before,
                ("CreatedAfter", "CreatedBefore"),
            )
        };
        let after = after.unwrap_or_default();
        // Amazon's clock is `sim.now()`; its "two minutes ago" is on the real clock.
        if let Some(b) = before {
            if b > real_now - SETTLE {
                return Err(bad_input(format!(
                    "Invalid Input: {} must be at least two minutes before the current time",
                    names.1
                )));
            }
            if b < after {
                return Err(bad_input(format!("{} must be after {}", names.1, names.0)));
            }
        }
        let before = before.unwrap_or(latest);
        let statuses: Option<Vec<&str>> =
            single(pairs, "OrderStatuses")?.map(|s| s.split(',').map(str::trim).collect());
        let page_size = match single(pairs, "MaxResultsPerPage")? {
            None => MAX_PAGE,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(bad_input(format!(
                        "Invalid MaxResultsPerPage {v:?}: must be 1 to 100"
                    )));
                }
            },
        }
        .min(sim.config.orders_page_size);
        let now = Instant::now();
        let mut matched: Vec<(&SimOrder, DateTime<Utc>)> = state
            .orders
            .values()
            .filter(|o| o.visible_at <= now)
            .filter(|o| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.contains(&o.status.as_str()))
            })
            .filter_map(|o| {
                let t = if by_update { o.updated } else { o.purchased };
                (t >= after && t <= before).then_some((o, t))
            })
            .collect();
        matched.sort_by_key(|(o, t)| (*t, o.id.clone()));
        let ids = matched.into_iter().map(|(o, _)| o.id.clone()).collect();
        let key = opaque_token(&mut lock(&sim.rng));
        state.pages.insert(
            key.clone(),
            Paging {
                ids,
                offset: 0,
                page_size,
            },
        );
        key
    };
    let Some(paging) = state.pages.remove(&paging_key) else {
        return Err(bad_input("Invalid NextToken"));
    };
    let end = (paging.offset + paging.page_size).min(paging.ids.len());
    let orders: Vec<Value> = paging.ids[paging.offset..end]
        .iter()
        .filter_map(|id| state.orders.get(id).map(|o| sim.order_doc(o)))
        .collect();
    let mut payload = json!({ "Orders": orders, "LastUpdatedBefore": iso(Utc::now() - SETTLE) });
    if end < paging.ids.len() {
        let next = opaque_token(&mut lock(&sim.rng));
        payload["NextToken"] = next.clone().into();
        state.pages.insert(
            next,
            Paging {
                offset: end,
                ..paging
            },
        );
    }
    Ok(Json(json!({ "payload": payload })).into_response())
}

async fn get_order(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Response {
    sim.serve(Op::GetOrder, &headers, || {
        let state = lock(&sim.state);
        match state.orders.get(&order_id) {
            Some(o) => Json(json!({ "payload": sim.order_doc(o) })).into_response(),
            None => sp_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("Order {order_id} not found"),
            ),
        }
    })
}

async fn get_order_items(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
    Query(pairs): Pairs,
) -> Response {
    sim.serve(Op::GetOrderItems, &headers, || {
        if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "NextToken") {
            return invalid_input(format!("Unknown parameter {k}"));
        }
        let mut state = lock(&sim.state);
        let offset = match single(&pairs, "NextToken") {
            Err(r) => return r.into_response(),
            Ok(None) => 0,
            Ok(Some(token)) => match state.item_pages.get(token) {
                Some((id, offset)) if *id == order_id => *offset,
                _ => {
                    state.counters.bad_next_tokens += 1;
                    return invalid_input(format!(
                        "Invalid NextToken: We could not decode your NextToken {token:?}"
                    ));
                }
            },
        };
        let Some(o) = state.orders.get(&order_id) else {
            return sp_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("Order {order_id} not found"),
            );
        };
        let end = (offset + sim.config.items_page_size).min(o.items.len());
        let items: Vec<Value> = o.items[offset.min(end)..end]
            .iter()
            .map(|i| sim.item_doc(o, i))
            .collect();
        let more = end < o.items.len();
        let mut payload = json!({ "AmazonOrderId": order_id, "OrderItems": items });
        if more {
            let token = opaque_token(&mut lock(&sim.rng));
            payload["NextToken"] = token.clone().into();
            state.item_pages.insert(token, (order_id.clone(), end));
        }
        Json(json!({ "payload": payload })).into_response()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfirmShipmentBody {
    marketplace_id: String,
    package_detail: PackageDetailBody,
    #[serde(default)]
    cod_collection_method: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PackageDetailBody {
    package_reference_id: String,
    carrier_code: String,
    #[serde(default)]
    carrier_name: Option<String>,
    #[serde(default)]
    shipping_method: Option<String>,
    tracking_number: String,
    ship_date: String,
    #[serde(default)]
    ship_from_supply_source_id: Option<String>,
    order_items: Vec<ConfirmItemBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfirmItemBody {
    order_item_id: String,
    quantity: i64,
    #[serde(default)]
    transparency_codes: Option<Vec<String>>,
}

async fn confirm_shipment(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
    body: Bytes,
) -> Response {
    let sim2 = sim.clone();
    sim.serve(
        Op::ConfirmShipment,
        &headers,
        move || match apply_confirmation(&sim2, &order_id, &body) {
            Ok(r) => r,
            Err(r) => r.into_response(),
        },
    )
}

fn apply_confirmation(
    sim: &Arc<AmazonSim>,
    order_id: &str,
    body: &[u8],
) -> Result<Response, Refusal> {
    let request: ConfirmShipmentBody = {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let (field, message) = crate::wire::describe_path_error(&e);
            invalid_input(format!("Invalid request body: {field}: {message}"))
        })?
    };
    let _ = (
        &request.cod_collection_method,
        &request.package_detail.shipping_method,
        &request.package_detail.ship_from_supply_source_id,
    );
    let p = &request.package_detail;
    if request.marketplace_id != sim.config.marketplace_id {
        return Err(bad_input(format!(
            "Invalid marketplaceId {:?}",
            request.marketplace_id
        )));
    }
    let reference = p.package_reference_id.trim();
    if reference.is_empty()
        || !reference.bytes().all(|b| b.is_ascii_digit())
        || reference.bytes().all(|b| b == b'0')
    {
        return Err(bad_input(format!(
            "packageDetail.packageReferenceId {reference:?} must be a positive number"
        )));
    }
    if p.carrier_code.trim().is_empty() {
        return Err(bad_input("packageDetail.carrierCode is required"));
    }
    if p.carrier_code == "Other"
        && p.carrier_name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
    {
        return Err(bad_input(
            "packageDetail.carrierName is required when carrierCode is Other",
        ));
    }
    if p.tracking_number.trim().is_empty() {
        return Err(bad_input("packageDetail.trackingNumber is required"));
    }
    parse_time("packageDetail.shipDate", &p.ship_date)?;
    if p.order_items.is_empty() {
        return Err(bad_input("packageDetail.orderItems must not be empty"));
    }
    let mut state = lock(&sim.state);
    let Some(order) = state.orders.get(order_id) else {
        return Err(sp_refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Order {order_id} not found"),
        ));
    };
    let edit = order.packages.contains_key(reference);
    let refuse = |state: &mut AmazonState, message: String, duplicate: bool| {
        state.counters.confirmations_refused += 1;
        if duplicate {
            state.counters.duplicate_packages += 1;
        }
        Err(bad_input(message))
    };
    // A Shipped order takes edits of its packages; a new package on it
    // necessarily exceeds the ordered units and is refused below.
    if matches!(order.status, Status::Pending | Status::Canceled) {
        let status = order.status.as_str();
        return refuse(
            &mut state,
            format!("Order {order_id} is {status} and cannot be confirmed"),
            false,
        );
    }
    let mut items: BTreeMap<String, u32> = BTreeMap::new();
    for (i, item) in p.order_items.iter().enumerate() {
        let Some(line) = order.items.iter().find(|l| l.id == item.order_item_id) else {
            let id = &item.order_item_id;
            return refuse(
                &mut state,
                format!(
                    "packageDetail.orderItems[{i}].orderItemId {id:?} is not in order {order_id}"
                ),
                false,
            );
        };
        let _ = &item.transparency_codes;
        let quantity = match u32::try_from(item.quantity) {
            Ok(q) if q >= 1 => q,
            _ => {
                return refuse(
                    &mut state,
                    format!("packageDetail.orderItems[{i}].quantity must be at least 1"),
                    false,
                );
            }
        };
        *items.entry(line.id.clone()).or_default() += quantity;
    }
    // Units in the other packages plus this one must not exceed what was ordered.
    for (item_id, quantity) in &items {
        let ordered = order
            .items
            .iter()
            .find(|l| &l.id == item_id)
            .map_or(0, |l| l.quantity);
        let elsewhere: u32 = order
            .packages
            .iter()
            .filter(|(r, _)| r.as_str() != reference)
            .filter_map(|(_, p)| p.items.get(item_id))
            .sum();
        if elsewhere + quantity > ordered {
            return refuse(
                &mut state,
                format!(
                    "Item {item_id}: {quantity} more units would exceed the {ordered} ordered \
                     ({elsewhere} already confirmed in other packages)"
                ),
                !edit,
            );
        }
    }
    let now = sim.now();
    let notice = {
        let Some(order) = state.orders.get_mut(order_id) else {
            return Err(sp_refusal(
                StatusCode::NOT_FOUND,
                "NotFound",
                "Order not found",
            ));
        };
        order
            .packages
            .insert(reference.to_owned(), Package { items });
        let (_, unshipped) = order.units();
        let status = if unshipped == 0 {
            Status::Shipped
        } else {
            Status::PartiallyShipped
        };
        let changed = status != order.status;
        order.status = status;
        order.updated = now;
        changed.then(|| sim.notification(order, "OrderStatusChange", "Shipment confirmed"))
    };
    if edit {
        state.counters.package_edits += 1;
    } else {
        state.counters.shipments_confirmed += 1;
    }
    drop(state);
    if let Some(notice) = notice {
        sim.notify(notice);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn patch_listings_item(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path((seller_id, sku)): Path<(String, String)>,
    Query(pairs): Pairs,
    body: Bytes,
) -> Response {
    sim.serve(Op::PatchListingsItem, &headers, || {
        if let Some((k, _)) = pairs
            .iter()
            .find(|(k, _)| !PATCH_PARAMS.contains(&k.as_str()))
        {
            return invalid_input(format!("Unknown parameter {k}"));
        }
        if let Err(r) = check_marketplace(&sim, &pairs, "marketplaceIds") {
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
        let submission = uuid_from(&sim.rng);
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
    })
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}

async fn create_feed_document(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.serve(Op::CreateFeedDocument, &headers, || {
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
    })
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

async fn upload_document(
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

async fn download_document(
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

async fn get_feed_document(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    sim.serve(Op::GetFeedDocument, &headers, || {
        let mut state = lock(&sim.state);
        if !state.documents.contains_key(&id) {
            return sp_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("Feed document {id} not found"),
            );
        }
        // A fresh presigned URL each time it is asked for, as Amazon does.
        let mut rng = lock(&sim.rng);
        let mut sig = [0u8; 16];
        rng.fill_bytes(&mut sig);
        drop(rng);
        let sig: String = sig.iter().map(|b| format!("{b:02x}")).collect();
        let signature = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={}&X-Amz-Signature={sig}",
            sim.config.document_url_ttl_secs
        );
        let ttl = Duration::from_secs(sim.config.document_url_ttl_secs);
        if let Some(doc) = state.documents.get_mut(&id) {
            doc.signature = signature.clone();
            doc.expires = Instant::now() + ttl;
        }
        let url = format!("http://{}/sim/s3/{id}?{signature}", host(&headers));
        Json(json!({ "feedDocumentId": id, "url": url })).into_response()
    })
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

async fn create_feed(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sim2 = sim.clone();
    sim.serve(Op::CreateFeed, &headers, move || {
        let sim = sim2;
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
    })
}

async fn get_feed(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    sim.serve(Op::GetFeed, &headers, || {
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
                doc["processingEndTime"] = iso(feed.created
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
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleBody {
    count: u64,
}

async fn force_throttle(State(sim): State<Arc<AmazonSim>>, body: Bytes) -> Response {
    match crate::wire::parse_body::<ThrottleBody>(&body) {
        Ok(b) => {
            lock(&sim.state).force_throttle = b.count;
            Json(json!({ "force_throttle": b.count })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Expires every access token issued so far (tests of the 403 → refresh path).
async fn expire_tokens(State(sim): State<Arc<AmazonSim>>) -> Response {
    let mut state = lock(&sim.state);
    let now = Instant::now();
    for expiry in state.tokens.values_mut() {
        *expiry = now;
    }
    Json(json!({ "expired": state.tokens.len() })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_are_valid_and_bad_values_are_named() {
        AmazonSimConfig::default().validate().unwrap();
        let bad = AmazonSimConfig {
            drop_rate: 1.5,
            ..AmazonSimConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("drop_rate")
        );
        let bad = AmazonSimConfig {
            rate_multiplier: 0.0,
            ..AmazonSimConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("rate_multiplier")
        );
        let bad = AmazonSimConfig {
            orders_page_size: 101,
            ..AmazonSimConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn feed_messages_are_checked_for_their_essentials() {
        let mut seen = std::collections::HashSet::new();
        let read = |m: Value, seen: &mut std::collections::HashSet<u64>| {
            let id = m.get("messageId").and_then(Value::as_u64);
            let sku = m.get("sku").and_then(Value::as_str).map(str::to_owned);
            read_feed_message(&m, 0, id, sku.as_deref(), seen)
                .map(|(_, changes)| changes.len())
                .map_err(|(_, message)| message)
        };
        let patch = json!({
            "messageId": 1, "sku": "SKU-001", "operationType": "PATCH", "productType": "PRODUCT",
            "patches": [{ "op": "replace", "path": FULFILLMENT_AVAILABILITY,
                          "value": [{ "fulfillment_channel_code": "DEFAULT", "quantity": 3 }] }]
        });
        assert_eq!(read(patch.clone(), &mut seen), Ok(1));
        let again = read(patch, &mut seen).unwrap_err();
        assert!(again.contains("not unique"), "{again}");
        let no_type = read(
            json!({ "messageId": 2, "sku": "S", "operationType": "PATCH", "patches": [] }),
            &mut seen,
        )
        .unwrap_err();
        assert!(no_type.contains("productType"), "{no_type}");
        let bad_op = read(
            json!({ "messageId": 3, "sku": "S", "operationType": "UPSERT" }),
            &mut seen,
        )
        .unwrap_err();
        assert!(bad_op.contains("operationType"), "{bad_op}");
        assert!(check_patch_path("/attributes/fulfillment_availability").is_ok());
        assert!(check_patch_path("/attributes/fulfillment_availability/0/quantity").is_err());
    }

    #[test]
    fn next_tokens_hold_characters_that_need_encoding() {
        use rand::SeedableRng;
        let token = opaque_token(&mut SmallRng::seed_from_u64(7));
        assert!(token.contains('+') && token.contains('/') && token.ends_with('='));
    }
}
