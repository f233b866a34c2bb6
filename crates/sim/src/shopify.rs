//! Simulated Shopify shop: the Admin REST API the connector calls (orders,
//! the `page_info` cursor, fulfillment orders and fulfillments), the GraphQL
//! inventory mutation `inventorySetQuantities` with `@idempotent` and
//! compare-and-set, signed webhooks, and Shopify's call budget.
//!
//! It is meant to be as strict as Shopify where a connector could get
//! something wrong: the access token is required, a `page_info` request may
//! carry nothing but `limit` (and `fields`), new orders reach the list only
//! after `visibility_delay_ms`, over-fulfilment is refused, the REST leaky
//! bucket answers 429 with `Retry-After: 2.0` when full, and webhooks are
//! signed over the exact bytes delivered. It never deduplicates what the hub
//! sends: `duplicate_fulfillments` is how a test catches a hub that confirms
//! a package twice.
//!
//! Simplifications a connector cannot see through its normal calls: GraphQL
//! answers have a fixed shape per root field (the selection set is parsed
//! but not applied), only `productVariants` and `inventorySetQuantities` are
//! implemented, arguments must be literals or variables, and webhooks are not
//! sent for fulfilment updates.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64_URL};
use chrono::{DateTime, FixedOffset, SecondsFormat, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::delivery::{Deliverer, DeliveryCounters};
use crate::faults::{FaultGate, Faults, gate};
use crate::wire::lock;

/// GraphQL inventory inputs take `changeFromQuantity` and `@idempotent` from here on.
const CHANGE_FROM_VERSION: &str = "2026-01";
/// From here on `changeFromQuantity` and `@idempotent` are mandatory.
const MANDATORY_VERSION: &str = "2026-04";
/// Shopify's largest REST page and GraphQL array input.
const MAX_LIMIT: usize = 250;
/// Shopify's default REST page.
const DEFAULT_LIMIT: usize = 50;
/// Points a single GraphQL query may request at most.
const MAX_QUERY_COST: f64 = 1_000.0;
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

const CITIES: [(&str, &str, &str); 6] = [
    ("Ottawa", "IL", "61350"),
    ("Albany", "NY", "12207"),
    ("Boston", "MA", "02108"),
    ("Miami", "FL", "33101"),
    ("Seattle", "WA", "98101"),
    ("Austin", "TX", "73301"),
];

/// `[sim.shopify]`: a simulated Shopify shop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShopifySimConfig {
    /// The channel's name in the hub: webhooks go to `{hub_url}/webhooks/channels/{name}`.
    pub name: String,
    pub listen: String,
    /// Sent as `X-Shopify-Shop-Domain`.
    pub shop_domain: String,
    /// Version of webhook payloads (`X-Shopify-API-Version`).
    pub api_version: String,
    /// The `X-Shopify-Access-Token` the Admin API requires.
    pub access_token: String,
    /// The app's client secret that signs webhooks.
    pub webhook_secret: String,
    pub currency: String,
    /// Offset of the shop's time zone; Shopify writes times in it.
    pub utc_offset_minutes: i32,
    pub orders_per_sec: f64,
    /// Stop generating after this many orders; 0 = no limit.
    pub max_orders: u64,
    /// Stop generating after this many seconds; 0 = no limit.
    pub duration_secs: u64,
    pub skus: Vec<String>,
    pub max_lines: u32,
    pub max_quantity: u32,
    /// Probability that an order carries a discount code (10 % off every line).
    pub discount_rate: f64,
    /// Probability that an order has no shipping address (and no shipping line).
    pub no_shipping_address_rate: f64,
    /// Probability that the buyer cancels 0.5–5 s after checkout (only if
    /// nothing is fulfilled by then): `orders/cancelled`.
    pub cancel_rate: f64,
    /// Probability that the order is edited shortly after checkout: `orders/updated`.
    pub update_rate: f64,
    /// The edit comes 100..=this many ms after checkout.
    pub update_delay_ms: u64,
    /// Probability that a webhook is delivered twice with the same event id.
    pub duplicate_rate: f64,
    /// Delay every delivery by a random 0..=`max_delivery_delay_ms`, so later
    /// events can overtake earlier ones.
    pub reorder: bool,
    pub max_delivery_delay_ms: u64,
    /// Probability that a webhook is never sent (only a poll finds the change).
    pub drop_rate: f64,
    /// A new order shows in `orders.json` only this long after it was placed.
    pub visibility_delay_ms: u64,
    /// Largest page `orders.json` serves whatever `limit` asks (Shopify: 250);
    /// lower it to make pagination visible with few orders.
    pub max_page_size: usize,
    /// Number of locations; each SKU is stocked at one of them (round robin),
    /// so an order may have one fulfillment order per location.
    pub locations: u32,
    /// `available` of every SKU at start.
    pub initial_available: i64,
    /// REST leaky bucket: capacity and leak per second (Shopify Standard: 40, 2).
    pub bucket_size: u32,
    pub leak_per_sec: f64,
    /// `Retry-After` of a 429, in seconds (Shopify sends `2.0`).
    pub retry_after_secs: f64,
    /// The first this many Admin API calls get 429 (also `POST /sim/throttle`).
    pub force_throttle: u64,
    /// GraphQL cost bucket: points and restore per second (Standard: 2000, 100).
    pub graphql_bucket: u32,
    pub graphql_restore_per_sec: f64,
    pub faults: Faults,
}

impl Default for ShopifySimConfig {
    fn default() -> Self {
        ShopifySimConfig {
            name: "shopify".to_owned(),
            listen: "127.0.0.1:0".to_owned(),
            shop_domain: "crossdock-sim.myshopify.com".to_owned(),
            api_version: "2025-07".to_owned(),
            access_token: "shpat_sim_access_token".to_owned(),
            webhook_secret: "sim_webhook_secret".to_owned(),
            currency: "USD".to_owned(),
            utc_offset_minutes: -300,
            orders_per_sec: 1.0,
            max_orders: 0,
            duration_secs: 0,
            skus: (1..=20).map(|i| format!("SKU-{i:03}")).collect(),
            max_lines: 3,
            max_quantity: 3,
            discount_rate: 0.2,
            no_shipping_address_rate: 0.05,
            cancel_rate: 0.0,
            update_rate: 0.0,
            update_delay_ms: 3_000,
            duplicate_rate: 0.0,
            reorder: false,
            max_delivery_delay_ms: 2_000,
            drop_rate: 0.0,
            visibility_delay_ms: 0,
            max_page_size: MAX_LIMIT,
            locations: 1,
            initial_available: 100,
            bucket_size: 40,
            leak_per_sec: 2.0,
            retry_after_secs: 2.0,
            force_throttle: 0,
            graphql_bucket: 2_000,
            graphql_restore_per_sec: 100.0,
            faults: Faults::default(),
        }
    }
}

fn is_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && matches!(&v[5..], "01" | "04" | "07" | "10")
}

impl ShopifySimConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        let at = "sim.shopify";
        anyhow::ensure!(!self.name.trim().is_empty(), "{at}.name must not be empty");
        anyhow::ensure!(
            !self.access_token.is_empty() && !self.webhook_secret.is_empty(),
            "{at}.access_token and webhook_secret must not be empty"
        );
        anyhow::ensure!(
            is_api_version(&self.api_version),
            "{at}.api_version must look like 2025-07"
        );
        anyhow::ensure!(
            crate::wire::is_currency_code(&self.currency),
            "{at}.currency must be an ISO 4217 code"
        );
        anyhow::ensure!(!self.skus.is_empty(), "{at}.skus must not be empty");
        anyhow::ensure!(
            self.max_lines >= 1 && self.max_quantity >= 1,
            "{at}.max_lines and max_quantity must be at least 1"
        );
        anyhow::ensure!(
            self.orders_per_sec >= 0.0 && self.orders_per_sec.is_finite(),
            "{at}.orders_per_sec must not be negative"
        );
        crate::config::ensure_probabilities(
            at,
            &[
                ("discount_rate", self.discount_rate),
                ("no_shipping_address_rate", self.no_shipping_address_rate),
                ("cancel_rate", self.cancel_rate),
                ("update_rate", self.update_rate),
                ("duplicate_rate", self.duplicate_rate),
                ("drop_rate", self.drop_rate),
            ],
        )?;
        anyhow::ensure!(
            (1..=MAX_LIMIT).contains(&self.max_page_size),
            "{at}.max_page_size must be within 1..=250"
        );
        anyhow::ensure!(
            (1..=50).contains(&self.locations),
            "{at}.locations must be within 1..=50"
        );
        anyhow::ensure!(self.bucket_size >= 1, "{at}.bucket_size must be at least 1");
        anyhow::ensure!(
            self.leak_per_sec > 0.0 && self.graphql_restore_per_sec > 0.0,
            "{at}.leak_per_sec and graphql_restore_per_sec must be positive"
        );
        anyhow::ensure!(
            f64::from(self.graphql_bucket) >= MAX_QUERY_COST,
            "{at}.graphql_bucket must hold at least one maximal query (1000)"
        );
        anyhow::ensure!(
            self.retry_after_secs >= 0.0 && self.retry_after_secs.is_finite(),
            "{at}.retry_after_secs must not be negative"
        );
        self.faults.validate(at)
    }
}

// ---------------------------------------------------------------------------
// The shop's state

struct Variant {
    sku: String,
    product_id: u64,
    variant_id: u64,
    inventory_item_id: u64,
    price: Decimal,
    grams: u32,
    /// Index into `locations`: where it is stocked.
    location: usize,
}

struct Location {
    id: u64,
    name: String,
}

struct LineItem {
    id: u64,
    variant: usize,
    quantity: u32,
    price: Decimal,
    discount: Decimal,
    tax: Decimal,
}

struct FoLine {
    id: u64,
    line_item_id: u64,
    quantity: u32,
    fulfillable: u32,
}

struct FulfillmentOrder {
    id: u64,
    location: usize,
    status: &'static str,
    lines: Vec<FoLine>,
}

struct Fulfillment {
    id: u64,
    created: DateTime<Utc>,
    location: usize,
    tracking_number: Option<String>,
    company: Option<String>,
    url: Option<String>,
    /// (order line item id, quantity)
    lines: Vec<(u64, u32)>,
}

struct Address {
    first: String,
    last: String,
    line1: String,
    city: &'static str,
    province: &'static str,
    zip: &'static str,
}

struct ShopOrder {
    id: u64,
    number: u64,
    token: String,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    /// When it shows in `orders.json`.
    listed_from: Instant,
    customer_id: u64,
    customer_no: u32,
    phone: Option<String>,
    address: Option<Address>,
    note: Option<String>,
    lines: Vec<LineItem>,
    shipping: Decimal,
    discount_code: Option<String>,
    cancelled_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    fulfillment_orders: Vec<FulfillmentOrder>,
    fulfillments: Vec<Fulfillment>,
}

impl ShopOrder {
    /// Shopify's `updated_at` has whole seconds; keep it strictly increasing
    /// so every change is a newer version to a client comparing times.
    fn touch(&mut self) {
        let now = whole_seconds(Utc::now());
        self.updated = now.max(self.updated + TimeDelta::seconds(1));
    }

    fn is_open(&self) -> bool {
        self.cancelled_at.is_none() && self.closed_at.is_none()
    }
}

/// A stored `@idempotent` result: what was asked, and what was answered.
struct IdempotentResult {
    request: Value,
    answer: Value,
}

#[derive(Default)]
struct Counters {
    orders_generated: u64,
    orders_cancelled: u64,
    orders_updated: u64,
    events: u64,
    duplicates_sent: u64,
    deliveries_delayed: u64,
    webhooks_dropped: u64,
    fulfillments_created: u64,
    duplicate_fulfillments: u64,
    over_fulfillment_refusals: u64,
    fulfillments_refused: u64,
    throttled_429: u64,
    forced_throttles_served: u64,
    graphql_throttled: u64,
    unauthorized: u64,
    inventory_mutations_applied: u64,
    idempotent_replays: u64,
    stale_refusals: u64,
    inventory_user_errors: u64,
}

struct Shop {
    orders: BTreeMap<u64, ShopOrder>,
    generated: Vec<String>,
    cancelled: Vec<String>,
    dropped: Vec<String>,
    /// (variant index, location index) → available.
    available: HashMap<(usize, usize), i64>,
    idempotent: HashMap<String, IdempotentResult>,
    next_id: u64,
    next_number: u64,
    counters: Counters,
}

impl Shop {
    /// Ids beyond 2^53, increasing, unique across kinds, so a client that
    /// reads them through a float loses them.
    fn id(&mut self, rng: &mut SmallRng) -> u64 {
        self.next_id += rng.random_range(1..=997u64);
        self.next_id
    }
}

/// A leaky bucket: calls fill it, it drains at a steady rate.
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn drain(&mut self, per_sec: f64) {
        let now = Instant::now();
        self.level = (self.level - now.duration_since(self.at).as_secs_f64() * per_sec).max(0.0);
        self.at = now;
    }
}

pub(crate) struct ShopifySim {
    config: ShopifySimConfig,
    webhook_url: String,
    offset: FixedOffset,
    rng: Arc<Mutex<SmallRng>>,
    variants: Vec<Variant>,
    locations: Vec<Location>,
    shop_id: u64,
    state: Mutex<Shop>,
    rest_bucket: Mutex<Bucket>,
    graphql_bucket: Mutex<Bucket>,
    forced_throttles: AtomicU64,
    gate: Arc<FaultGate>,
    deliverer: Deliverer,
    deliveries: Arc<DeliveryCounters>,
    generation_done: AtomicBool,
    stop: CancellationToken,
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Money as Shopify writes it: a string with two decimals.
fn money(d: Decimal) -> String {
    let mut d = cents(d);
    d.rescale(2);
    d.to_string()
}

fn new_uuid(rng: &mut SmallRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of `gid://shopify/{kind}/{id}`.
fn parse_gid(kind: &str, value: &str) -> Option<u64> {
    value
        .strip_prefix("gid://shopify/")?
        .strip_prefix(kind)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

/// `X-Shopify-Hmac-Sha256`: base64 of HMAC-SHA256(secret, exact body bytes).
fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

impl ShopifySim {
    pub(crate) fn new(
        config: ShopifySimConfig,
        hub_url: &str,
        mut rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
    ) -> Arc<Self> {
        let mut next_id: u64 = (1 << 53) + rng.random_range(1_000_000..9_000_000u64);
        let mut id = |rng: &mut SmallRng| {
            next_id += rng.random_range(1..=997u64);
            next_id
        };
        let shop_id = id(&mut rng);
        let locations: Vec<Location> = (0..config.locations)
            .map(|i| Location {
                id: id(&mut rng),
                name: format!("Warehouse {}", i + 1),
            })
            .collect();
        let variants: Vec<Variant> = config
            .skus
            .iter()
            .enumerate()
            .map(|(i, sku)| Variant {
                sku: sku.clone(),
                product_id: id(&mut rng),
                variant_id: id(&mut rng),
                inventory_item_id: id(&mut rng),
                price: Decimal::new(rng.random_range(299..=19_999), 2),
                grams: rng.random_range(50..=3_000),
                location: i % locations.len().max(1),
            })
            .collect();
        let available = variants
            .iter()
            .enumerate()
            .map(|(i, v)| ((i, v.location), config.initial_available))
            .collect();
        let offset = FixedOffset::east_opt(config.utc_offset_minutes * 60)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
        let rng = Arc::new(Mutex::new(rng));
        let gate = Arc::new(FaultGate::new(config.faults.clone(), started, rng.clone()));
        let stop = deliverer.cancel.child_token();
        let now = Instant::now();
        Arc::new(ShopifySim {
            webhook_url: format!(
                "{}/webhooks/channels/{}",
                hub_url.trim_end_matches('/'),
                config.name
            ),
            offset,
            forced_throttles: AtomicU64::new(config.force_throttle),
            config,
            rng,
            variants,
            locations,
            shop_id,
            state: Mutex::new(Shop {
                orders: BTreeMap::new(),
                generated: Vec::new(),
                cancelled: Vec::new(),
                dropped: Vec::new(),
                available,
                idempotent: HashMap::new(),
                next_id,
                next_number: 1000,
                counters: Counters::default(),
            }),
            rest_bucket: Mutex::new(Bucket {
                level: 0.0,
                at: now,
            }),
            graphql_bucket: Mutex::new(Bucket {
                level: 0.0,
                at: now,
            }),
            gate,
            deliverer,
            deliveries: Arc::new(DeliveryCounters::default()),
            generation_done: AtomicBool::new(false),
            stop,
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
            .route("/admin/api/{version}/{*rest}", any(admin))
            .layer(axum::middleware::from_fn_with_state(
                self.gate.clone(),
                gate,
            ))
            .route(
                "/sim/stats",
                get(|State(sim): State<Arc<ShopifySim>>| async move { Json(sim.stats()) }),
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

    fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.offset)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    fn place_order(self: &Arc<Self>) {
        let c = &self.config;
        let mut rng = lock(&self.rng);
        let mut state = lock(&self.state);
        let order = self.new_order(&mut rng, &mut state);
        let id = order.id;
        for line in &order.lines {
            let at = (line.variant, self.variants[line.variant].location);
            // Shopify commits stock at checkout: `available` drops then.
            *state.available.entry(at).or_default() -= i64::from(line.quantity);
        }
        let body = self.order_json(&order);
        state.generated.push(id.to_string());
        state.counters.orders_generated += 1;
        state.orders.insert(id, order);
        let edit = rng
            .random_bool(c.update_rate)
            .then(|| Duration::from_millis(rng.random_range(100..=c.update_delay_ms.max(100))));
        let cancel = rng
            .random_bool(c.cancel_rate)
            .then(|| Duration::from_millis(rng.random_range(500..=5_000)));
        drop(state);
        drop(rng);
        self.emit("orders/create", id, &body);
        if let Some(delay) = edit {
            self.later(delay, id, Change::Edit);
        }
        if let Some(delay) = cancel {
            self.later(delay, id, Change::Cancel);
        }
    }

    fn new_order(&self, rng: &mut SmallRng, state: &mut Shop) -> ShopOrder {
        let c = &self.config;
        let line_count = rng.random_range(1..=c.max_lines.min(self.variants.len() as u32)) as usize;
        let picked = rand::seq::index::sample(rng, self.variants.len(), line_count);
        let discounted = rng.random_bool(c.discount_rate);
        let mut lines = Vec::with_capacity(line_count);
        for variant in picked.iter() {
            let quantity = rng.random_range(1..=c.max_quantity);
            let price = self.variants[variant].price;
            let gross = price * Decimal::from(quantity);
            let discount = if discounted {
                cents(gross * Decimal::new(10, 2))
            } else {
                Decimal::ZERO
            };
            lines.push(LineItem {
                id: state.id(rng),
                variant,
                quantity,
                price,
                discount,
                tax: cents((gross - discount) * Decimal::new(825, 4)),
            });
        }
        let customer_no = rng.random_range(1..=500u32);
        let address = (!rng.random_bool(c.no_shipping_address_rate)).then(|| {
            let (city, province, zip) = CITIES[rng.random_range(0..CITIES.len())];
            Address {
                first: "Buyer".to_owned(),
                last: customer_no.to_string(),
                line1: format!("{} Main St", rng.random_range(1..=999u32)),
                city,
                province,
                zip,
            }
        });
        let shipping = match &address {
            None => Decimal::ZERO,
            Some(_) if rng.random_bool(0.2) => Decimal::new(1499, 2),
            Some(_) => Decimal::new(499, 2),
        };
        // One fulfillment order per location holding the order's lines.
        let mut fulfillment_orders: Vec<FulfillmentOrder> = Vec::new();
        for line in &lines {
            let location = self.variants[line.variant].location;
            let at = match fulfillment_orders
                .iter()
                .position(|f| f.location == location)
            {
                Some(at) => at,
                None => {
                    fulfillment_orders.push(FulfillmentOrder {
                        id: state.id(rng),
                        location,
                        status: "open",
                        lines: Vec::new(),
                    });
                    fulfillment_orders.len() - 1
                }
            };
            let fo_line = FoLine {
                id: state.id(rng),
                line_item_id: line.id,
                quantity: line.quantity,
                fulfillable: line.quantity,
            };
            fulfillment_orders[at].lines.push(fo_line);
        }
        let now = whole_seconds(Utc::now());
        state.next_number += 1;
        ShopOrder {
            id: state.id(rng),
            number: state.next_number,
            token: new_uuid(rng).replace('-', ""),
            created: now,
            updated: now,
            listed_from: Instant::now() + Duration::from_millis(c.visibility_delay_ms),
            customer_id: 7_000_000_000_000_000 + u64::from(customer_no),
            customer_no,
            phone: rng
                .random_bool(0.5)
                .then(|| format!("+1555{:07}", rng.random_range(0..10_000_000u32))),
            address,
            note: None,
            lines,
            shipping,
            discount_code: discounted.then(|| "SAVE10".to_owned()),
            cancelled_at: None,
            closed_at: None,
            fulfillment_orders,
            fulfillments: Vec::new(),
        }
    }

    /// A buyer's change some time after checkout.
    fn later(self: &Arc<Self>, delay: Duration, order_id: u64, change: Change) {
        // Owed from now on, so the estate is not idle while it waits.
        let slot = self.deliverer.reserve(&self.deliveries);
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.deliverer.cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let (topic, body) = {
                let mut state = lock(&this.state);
                let state = &mut *state;
                let Some(order) = state.orders.get_mut(&order_id) else {
                    return;
                };
                match change {
                    Change::Edit => {
                        if order.cancelled_at.is_some() {
                            return;
                        }
                        order.note = Some("Please leave at the back door".to_owned());
                        order.touch();
                        state.counters.orders_updated += 1;
                        ("orders/updated", this.order_json(order))
                    }
                    Change::Cancel => {
                        // A buyer can cancel only what has not left.
                        if !order.fulfillments.is_empty() || order.cancelled_at.is_some() {
                            return;
                        }
                        order.cancelled_at = Some(Utc::now());
                        order.closed_at = order.cancelled_at;
                        for fo in &mut order.fulfillment_orders {
                            fo.status = "closed";
                            for l in &mut fo.lines {
                                l.fulfillable = 0;
                            }
                        }
                        // Restock.
                        for line in &order.lines {
                            let at = (line.variant, this.variants[line.variant].location);
                            *state.available.entry(at).or_default() += i64::from(line.quantity);
                        }
                        order.touch();
                        state.counters.orders_cancelled += 1;
                        state.cancelled.push(order_id.to_string());
                        ("orders/cancelled", this.order_json(order))
                    }
                }
            };
            drop(slot);
            this.emit(topic, order_id, &body);
        });
    }

    /// Sends one webhook event, subject to the drop, duplicate and reorder faults.
    fn emit(self: &Arc<Self>, topic: &'static str, order_id: u64, order: &Value) {
        let c = &self.config;
        let body = serde_json::to_vec(order).unwrap_or_default();
        let signature = sign(c.webhook_secret.as_bytes(), &body);
        let mut rng = lock(&self.rng);
        let mut state = lock(&self.state);
        state.counters.events += 1;
        if rng.random_bool(c.drop_rate) {
            state.counters.webhooks_dropped += 1;
            state.dropped.push(order_id.to_string());
            return;
        }
        let copies = if rng.random_bool(c.duplicate_rate) {
            state.counters.duplicates_sent += 1;
            2
        } else {
            1
        };
        let event_id = new_uuid(&mut rng);
        let triggered_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        for _ in 0..copies {
            let headers = vec![
                ("X-Shopify-Topic", topic.to_owned()),
                ("X-Shopify-Hmac-Sha256", signature.clone()),
                ("X-Shopify-Event-Id", event_id.clone()),
                // Each delivery of an event is its own webhook.
                ("X-Shopify-Webhook-Id", new_uuid(&mut rng)),
                ("X-Shopify-Shop-Domain", c.shop_domain.clone()),
                ("X-Shopify-Triggered-At", triggered_at.clone()),
                ("X-Shopify-API-Version", c.api_version.clone()),
            ];
            let delay = if c.reorder {
                Duration::from_millis(rng.random_range(0..=c.max_delivery_delay_ms))
            } else {
                Duration::ZERO
            };
            let slot = self.deliverer.reserve(&self.deliveries);
            let url = self.webhook_url.clone();
            let body = body.clone();
            if delay.is_zero() {
                self.deliverer.spawn_raw(slot, url, headers, body);
            } else {
                state.counters.deliveries_delayed += 1;
                let deliverer = self.deliverer.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = deliverer.cancel.cancelled() => {}
                        _ = tokio::time::sleep(delay) => deliverer.spawn_raw(slot, url, headers, body),
                    }
                });
            }
        }
    }

    // ---- JSON in Shopify's REST shape ----

    fn money_set(&self, d: Decimal) -> Value {
        let m = json!({ "amount": money(d), "currency_code": self.config.currency });
        json!({ "shop_money": m, "presentment_money": m })
    }

    fn address_json(&self, a: &Address) -> Value {
        json!({
            "first_name": a.first, "last_name": a.last, "name": format!("{} {}", a.first, a.last),
            "address1": a.line1, "address2": null, "city": a.city, "province": a.province,
            "province_code": a.province, "zip": a.zip, "country": "United States",
            "country_code": "US", "company": null, "phone": null,
            "latitude": null, "longitude": null
        })
    }

    fn order_json(&self, o: &ShopOrder) -> Value {
        let cur = &self.config.currency;
        let rate = 0.0825;
        let mut subtotal_gross = Decimal::ZERO;
        let mut discounts = Decimal::ZERO;
        let mut tax = Decimal::ZERO;
        let fulfilled = |line_id: u64| -> u32 {
            o.fulfillments
                .iter()
                .flat_map(|f| &f.lines)
                .filter(|(id, _)| *id == line_id)
                .map(|(_, q)| q)
                .sum()
        };
        let line_items: Vec<Value> = o
            .lines
            .iter()
            .map(|l| {
                let v = &self.variants[l.variant];
                let gross = l.price * Decimal::from(l.quantity);
                subtotal_gross += gross;
                discounts += l.discount;
                tax += l.tax;
                let done = fulfilled(l.id);
                let open = if o.cancelled_at.is_some() {
                    0
                } else {
                    l.quantity - done.min(l.quantity)
                };
                let allocations: Vec<Value> = if o.discount_code.is_some() {
                    vec![json!({
                        "amount": money(l.discount), "amount_set": self.money_set(l.discount),
                        "discount_application_index": 0
                    })]
                } else {
                    Vec::new()
                };
                json!({
                    "id": l.id, "admin_graphql_api_id": gid("LineItem", l.id),
                    "variant_id": v.variant_id, "product_id": v.product_id,
                    "sku": v.sku, "title": format!("Item {}", v.sku), "name": format!("Item {}", v.sku),
                    "variant_title": null, "vendor": "Crossdock Sim",
                    "quantity": l.quantity,
                    "current_quantity": if o.cancelled_at.is_some() { 0 } else { l.quantity },
                    "fulfillable_quantity": open,
                    "fulfillment_service": "manual",
                    "fulfillment_status": match done {
                        0 => Value::Null,
                        d if d >= l.quantity => json!("fulfilled"),
                        _ => json!("partial"),
                    },
                    "requires_shipping": true, "taxable": true, "gift_card": false,
                    "grams": v.grams, "product_exists": true,
                    "variant_inventory_management": "shopify",
                    "price": money(l.price), "price_set": self.money_set(l.price),
                    "total_discount": "0.00", "total_discount_set": self.money_set(Decimal::ZERO),
                    "discount_allocations": allocations,
                    "tax_lines": [{
                        "title": "State Tax", "rate": rate, "channel_liable": false,
                        "price": money(l.tax), "price_set": self.money_set(l.tax)
                    }],
                    "properties": [], "duties": []
                })
            })
            .collect();
        let subtotal = subtotal_gross - discounts;
        let total = subtotal + o.shipping + tax;
        let shipping_lines: Vec<Value> = if o.address.is_some() {
            let title = if o.shipping > Decimal::new(500, 2) {
                "Express"
            } else {
                "Standard"
            };
            vec![json!({
                "id": o.id + 1, "title": title, "code": title, "source": "shopify",
                "price": money(o.shipping), "price_set": self.money_set(o.shipping),
                "discounted_price": money(o.shipping),
                "discounted_price_set": self.money_set(o.shipping),
                "discount_allocations": [], "tax_lines": [], "carrier_identifier": null
            })]
        } else {
            Vec::new()
        };
        let all_fulfilled = o.lines.iter().all(|l| fulfilled(l.id) >= l.quantity);
        let any_fulfilled = !o.fulfillments.is_empty();
        let email = format!("buyer{}@example.com", o.customer_no);
        let name = format!("#{}", o.number);
        let mut order = json!({
            "id": o.id,
            "admin_graphql_api_id": gid("Order", o.id),
            "app_id": 580111,
            "browser_ip": "203.0.113.7",
            "buyer_accepts_marketing": false,
            "cancel_reason": o.cancelled_at.map(|_| "customer"),
            "cancelled_at": o.cancelled_at.map(|t| self.time(t)),
            "closed_at": o.closed_at.map(|t| self.time(t)),
            "confirmation_number": o.token[..9].to_uppercase(),
            "confirmed": true,
            "contact_email": email,
            "created_at": self.time(o.created),
            "currency": cur,
            "current_subtotal_price": money(subtotal),
            "current_subtotal_price_set": self.money_set(subtotal),
            "current_total_price": money(total),
            "current_total_price_set": self.money_set(total),
            "current_total_tax": money(tax),
            "current_total_tax_set": self.money_set(tax),
        });
        let middle = json!({
            "customer_locale": "en",
            "email": email,
            "estimated_taxes": false,
            "financial_status": if o.cancelled_at.is_some() { "refunded" } else { "paid" },
            "fulfillment_status": if all_fulfilled { json!("fulfilled") }
                else if any_fulfilled { json!("partial") } else { Value::Null },
            "name": name,
            "note": o.note,
            "note_attributes": [],
            "number": o.number - 1000,
            "order_number": o.number,
            "phone": o.phone,
            "presentment_currency": cur,
            "processed_at": self.time(o.created),
            "source_name": "web",
            "subtotal_price": money(subtotal),
            "subtotal_price_set": self.money_set(subtotal),
            "tags": "",
            "tax_lines": [{ "title": "State Tax", "rate": rate, "channel_liable": false,
                            "price": money(tax), "price_set": self.money_set(tax) }],
            "taxes_included": false,
            "test": false,
            "token": o.token,
        });
        // In parts: one `json!` of every field exceeds the macro's recursion limit.
        let rest = json!({
            "total_discounts": money(discounts),
            "total_discounts_set": self.money_set(discounts),
            "total_line_items_price": money(subtotal_gross),
            "total_line_items_price_set": self.money_set(subtotal_gross),
            "total_outstanding": "0.00",
            "total_price": money(total),
            "total_price_set": self.money_set(total),
            "total_shipping_price_set": self.money_set(o.shipping),
            "total_tax": money(tax),
            "total_tax_set": self.money_set(tax),
            "total_weight": 0,
            "updated_at": self.time(o.updated),
            "billing_address": o.address.as_ref().map(|a| self.address_json(a)),
            "customer": {
                "id": o.customer_id, "email": email, "first_name": "Buyer",
                "last_name": o.customer_no.to_string(), "phone": o.phone,
                "state": "enabled", "verified_email": true, "currency": cur,
                "admin_graphql_api_id": gid("Customer", o.customer_id)
            },
            "discount_applications": if o.discount_code.is_some() { json!([{
                "target_type": "line_item", "type": "discount_code", "value": "10.0",
                "value_type": "percentage", "allocation_method": "across",
                "target_selection": "all", "code": o.discount_code
            }]) } else { json!([]) },
            "discount_codes": match &o.discount_code {
                Some(code) => json!([{ "code": code, "amount": money(discounts), "type": "percentage" }]),
                None => json!([]),
            },
            "fulfillments": o.fulfillments.iter().map(|f| self.fulfillment_json(o, f)).collect::<Vec<_>>(),
            "line_items": line_items,
            "refunds": [],
            "shipping_address": o.address.as_ref().map(|a| self.address_json(a)),
            "shipping_lines": shipping_lines
        });
        if let Value::Object(head) = &mut order {
            for part in [middle, rest] {
                if let Value::Object(part) = part {
                    head.extend(part);
                }
            }
        }
        order
    }

    fn fulfillment_json(&self, o: &ShopOrder, f: &Fulfillment) -> Value {
        let index = o
            .fulfillments
            .iter()
            .position(|x| x.id == f.id)
            .unwrap_or(0);
        let lines: Vec<Value> = f
            .lines
            .iter()
            .filter_map(|(line_id, quantity)| {
                let l = o.lines.iter().find(|l| l.id == *line_id)?;
                let v = &self.variants[l.variant];
                Some(json!({
                    "id": l.id, "variant_id": v.variant_id, "product_id": v.product_id,
                    "sku": v.sku, "title": format!("Item {}", v.sku), "name": format!("Item {}", v.sku),
                    "quantity": quantity, "price": money(l.price), "price_set": self.money_set(l.price),
                    "fulfillment_service": "manual", "fulfillment_status": "fulfilled",
                    "requires_shipping": true, "grams": v.grams
                }))
            })
            .collect();
        json!({
            "id": f.id,
            "admin_graphql_api_id": gid("Fulfillment", f.id),
            "order_id": o.id,
            "name": format!("#{}.{}", o.number, index + 1),
            "status": "success",
            "service": "manual",
            "created_at": self.time(f.created),
            "updated_at": self.time(f.created),
            "location_id": self.locations[f.location].id,
            "origin_address": null,
            "receipt": {},
            "shipment_status": null,
            "tracking_company": f.company,
            "tracking_number": f.tracking_number,
            "tracking_numbers": f.tracking_number.iter().collect::<Vec<_>>(),
            "tracking_url": f.url,
            "tracking_urls": f.url.iter().collect::<Vec<_>>(),
            "line_items": lines
        })
    }

    fn fulfillment_order_json(&self, o: &ShopOrder, fo: &FulfillmentOrder) -> Value {
        let location = &self.locations[fo.location];
        let open = matches!(fo.status, "open" | "in_progress");
        json!({
            "id": fo.id,
            "shop_id": self.shop_id,
            "order_id": o.id,
            "assigned_location_id": location.id,
            "assigned_location": { "name": location.name, "country_code": "US" },
            "request_status": "unsubmitted",
            "status": fo.status,
            "supported_actions": if open { json!(["create_fulfillment", "move"]) } else { json!([]) },
            "destination": o.address.as_ref().map(|a| json!({
                "first_name": a.first, "last_name": a.last, "address1": a.line1,
                "city": a.city, "province": a.province, "zip": a.zip, "country": "United States"
            })),
            "delivery_method": { "method_type": if o.address.is_some() { "shipping" } else { "none" } },
            "fulfill_at": self.time(o.created),
            "fulfill_by": null,
            "fulfillment_holds": [],
            "international_duties": null,
            "merchant_requests": [],
            "created_at": self.time(o.created),
            "updated_at": self.time(o.updated),
            "line_items": fo.lines.iter().map(|l| {
                let line = o.lines.iter().find(|x| x.id == l.line_item_id);
                let v = line.map(|x| &self.variants[x.variant]);
                json!({
                    "id": l.id, "shop_id": self.shop_id, "fulfillment_order_id": fo.id,
                    "line_item_id": l.line_item_id, "quantity": l.quantity,
                    "fulfillable_quantity": l.fulfillable,
                    "inventory_item_id": v.map(|v| v.inventory_item_id),
                    "variant_id": v.map(|v| v.variant_id)
                })
            }).collect::<Vec<_>>()
        })
    }

    pub(crate) fn stats(&self) -> Value {
        let state = lock(&self.state);
        let c = &state.counters;
        let mut out = Map::new();
        out.insert("name".into(), self.name().into());
        for (key, value) in [
            ("orders_generated", c.orders_generated),
            ("orders_cancelled", c.orders_cancelled),
            ("orders_updated", c.orders_updated),
            ("webhook_events", c.events),
            ("duplicates_sent", c.duplicates_sent),
            ("deliveries_delayed", c.deliveries_delayed),
            ("webhooks_dropped", c.webhooks_dropped),
            ("fulfillments_created", c.fulfillments_created),
            ("duplicate_fulfillments", c.duplicate_fulfillments),
            ("over_fulfillment_refusals", c.over_fulfillment_refusals),
            ("fulfillments_refused", c.fulfillments_refused),
            ("throttled_429", c.throttled_429),
            ("forced_throttles_served", c.forced_throttles_served),
            ("graphql_throttled", c.graphql_throttled),
            ("unauthorized", c.unauthorized),
            ("inventory_mutations_applied", c.inventory_mutations_applied),
            ("idempotent_replays", c.idempotent_replays),
            ("stale_refusals", c.stale_refusals),
            ("inventory_user_errors", c.inventory_user_errors),
        ] {
            out.insert(key.to_owned(), value.into());
        }
        let mut available: BTreeMap<&str, i64> = BTreeMap::new();
        for ((variant, _), q) in &state.available {
            *available.entry(&self.variants[*variant].sku).or_default() += q;
        }
        out.insert("available".into(), json!(available));
        out.insert("generated_order_ids".into(), json!(state.generated));
        out.insert("cancelled_order_ids".into(), json!(state.cancelled));
        out.insert("dropped_order_ids".into(), json!(state.dropped));
        drop(state);
        self.deliveries.write_stats(&mut out);
        out.insert(
            "webhook_deliveries_pending".into(),
            self.deliveries.pending().into(),
        );
        out.insert(
            "generation_done".into(),
            self.generation_done.load(Ordering::SeqCst).into(),
        );
        self.gate.write_stats(&mut out);
        Value::Object(out)
    }
}

#[derive(Clone, Copy)]
enum Change {
    Edit,
    Cancel,
}

// ---------------------------------------------------------------------------
// The Admin API

/// Shopify's REST error body: `{"errors": …}`.
fn rest_error(status: StatusCode, errors: Value) -> Response {
    (status, Json(json!({ "errors": errors }))).into_response()
}

fn not_found() -> Response {
    rest_error(StatusCode::NOT_FOUND, json!("Not Found"))
}

/// `{"errors": {"<field>": "<message>"}}`, Shopify's shape for a bad parameter.
fn bad_param(status: StatusCode, field: &str, message: impl Into<String>) -> Response {
    rest_error(status, json!({ field: message.into() }))
}

fn throttled(retry_after_secs: f64, message: &str) -> Response {
    let mut r = rest_error(StatusCode::TOO_MANY_REQUESTS, json!(message));
    if let Ok(v) = HeaderValue::from_str(&format!("{retry_after_secs:.1}")) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

async fn force_throttle(State(sim): State<Arc<ShopifySim>>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        count: u64,
    }
    match crate::wire::parse_body::<Body>(&body) {
        Ok(b) => {
            let left = sim.forced_throttles.fetch_add(b.count, Ordering::SeqCst) + b.count;
            Json(json!({ "forced_throttles_left": left })).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn admin(
    State(sim): State<Arc<ShopifySim>>,
    Path((version, rest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if !is_api_version(&version) {
        return not_found();
    }
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(sim.config.access_token.as_str()) {
        lock(&sim.state).counters.unauthorized += 1;
        return rest_error(
            StatusCode::UNAUTHORIZED,
            json!("[API] Invalid API key or access token (unrecognized login or wrong password)"),
        );
    }
    if rest == "graphql.json" {
        if method != Method::POST {
            return not_found();
        }
        if sim.take_forced_throttle() {
            return throttled(sim.config.retry_after_secs, "Throttled");
        }
        return sim.graphql(&version, &body);
    }
    // REST: every call costs one unit of the leaky bucket.
    let (mut response, used) = {
        let mut bucket = lock(&sim.rest_bucket);
        bucket.drain(sim.config.leak_per_sec);
        let size = f64::from(sim.config.bucket_size);
        if sim.take_forced_throttle() || bucket.level + 1.0 > size {
            lock(&sim.state).counters.throttled_429 += 1;
            let used = bucket.level.ceil() as u32;
            drop(bucket);
            (
                throttled(
                    sim.config.retry_after_secs,
                    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
                ),
                used.max(sim.config.bucket_size),
            )
        } else {
            bucket.level += 1.0;
            let used = bucket.level.ceil() as u32;
            drop(bucket);
            let base = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| format!("http://{h}"))
                .unwrap_or_default();
            (
                sim.rest(&method, &version, &rest, query.as_deref(), &base, &body),
                used,
            )
        }
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{used}/{}", sim.config.bucket_size)) {
        response
            .headers_mut()
            .insert("x-shopify-shop-api-call-limit", v);
    }
    response
}

impl ShopifySim {
    fn take_forced_throttle(&self) -> bool {
        let taken = self
            .forced_throttles
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if taken {
            lock(&self.state).counters.forced_throttles_served += 1;
        }
        taken
    }

    fn rest(
        &self,
        method: &Method,
        version: &str,
        rest: &str,
        query: Option<&str>,
        base: &str,
        body: &[u8],
    ) -> Response {
        let parts: Vec<&str> = rest.split('/').collect();
        let order_id = |file: &str| -> Option<u64> { file.parse().ok() };
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["orders.json"]) => self.list_orders(version, query, base),
            ("GET", ["orders", file]) => {
                let Some(id) = file.strip_suffix(".json").and_then(order_id) else {
                    return not_found();
                };
                let state = lock(&self.state);
                match state.orders.get(&id) {
                    Some(o) => Json(json!({ "order": self.order_json(o) })).into_response(),
                    None => not_found(),
                }
            }
            ("GET", ["orders", id, "fulfillment_orders.json"]) => {
                let state = lock(&self.state);
                match order_id(id).and_then(|id| state.orders.get(&id)) {
                    Some(o) => Json(json!({ "fulfillment_orders": o.fulfillment_orders.iter()
                        .map(|fo| self.fulfillment_order_json(o, fo)).collect::<Vec<_>>() }))
                    .into_response(),
                    None => not_found(),
                }
            }
            ("GET", ["orders", id, "fulfillments.json"]) => {
                let state = lock(&self.state);
                match order_id(id).and_then(|id| state.orders.get(&id)) {
                    Some(o) => Json(json!({ "fulfillments": o.fulfillments.iter()
                        .map(|f| self.fulfillment_json(o, f)).collect::<Vec<_>>() }))
                    .into_response(),
                    None => not_found(),
                }
            }
            ("POST", ["fulfillments.json"]) => self.create_fulfillment(body),
            _ => not_found(),
        }
    }

    fn list_orders(&self, version: &str, query: Option<&str>, base: &str) -> Response {
        let pairs: Vec<(String, String)> = match query {
            None => Vec::new(),
            Some(q) => match serde_urlencoded_pairs(q) {
                Some(p) => p,
                None => return bad_param(StatusCode::BAD_REQUEST, "query", "malformed"),
            },
        };
        let mut limit = DEFAULT_LIMIT;
        let mut page_info = None;
        let mut filters: Vec<(&str, &str)> = Vec::new();
        for (key, value) in &pairs {
            match key.as_str() {
                "limit" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                    _ => {
                        return bad_param(
                            StatusCode::BAD_REQUEST,
                            "limit",
                            "must be a whole number from 1 to 250",
                        );
                    }
                },
                "page_info" => page_info = Some(value.as_str()),
                // Shopify allows `fields` with a cursor; the simulator answers every field.
                "fields" => {}
                _ => filters.push((key.as_str(), value.as_str())),
            }
        }
        let cursor = match page_info {
            Some(token) => {
                if let Some((field, _)) = filters.first() {
                    return bad_param(
                        StatusCode::BAD_REQUEST,
                        "page_info",
                        format!(
                            "cannot be combined with {field}: a request with page_info takes only limit and fields"
                        ),
                    );
                }
                match Cursor::decode(token) {
                    Some(c) => c,
                    None => {
                        return bad_param(StatusCode::BAD_REQUEST, "page_info", "Invalid value.");
                    }
                }
            }
            None => {
                let mut c = Cursor {
                    status: "open".to_owned(),
                    updated_min: None,
                    after: 0,
                };
                for (field, value) in filters {
                    match field {
                        "status" => {
                            if !matches!(value, "open" | "closed" | "cancelled" | "any") {
                                return bad_param(
                                    StatusCode::BAD_REQUEST,
                                    "status",
                                    format!("{value:?} is not one of open, closed, cancelled, any"),
                                );
                            }
                            c.status = value.to_owned();
                        }
                        "updated_at_min" => match DateTime::parse_from_rfc3339(value) {
                            Ok(t) => c.updated_min = Some(t.timestamp()),
                            Err(_) => {
                                return bad_param(
                                    StatusCode::BAD_REQUEST,
                                    "updated_at_min",
                                    format!("{value:?} is not an ISO 8601 time"),
                                );
                            }
                        },
                        other => {
                            return bad_param(
                                StatusCode::BAD_REQUEST,
                                other,
                                "filter not supported by the simulator",
                            );
                        }
                    }
                }
                c
            }
        };
        let size = limit.min(self.config.max_page_size);
        let now = Instant::now();
        let state = lock(&self.state);
        let mut matching = state
            .orders
            .range(cursor.after + 1..)
            .map(|(_, o)| o)
            .filter(|o| o.listed_from <= now)
            .filter(|o| {
                cursor
                    .updated_min
                    .is_none_or(|m| o.updated.timestamp() >= m)
            })
            .filter(|o| match cursor.status.as_str() {
                "open" => o.is_open(),
                "closed" => o.closed_at.is_some(),
                "cancelled" => o.cancelled_at.is_some(),
                _ => true,
            });
        let page: Vec<&ShopOrder> = matching.by_ref().take(size).collect();
        let more = matching.next().is_some();
        let orders: Vec<Value> = page.iter().map(|o| self.order_json(o)).collect();
        let mut response = Json(json!({ "orders": orders })).into_response();
        if more && let Some(last) = page.last() {
            let next = Cursor {
                after: last.id,
                ..cursor
            }
            .encode();
            let link = format!(
                "<{base}/admin/api/{version}/orders.json?limit={limit}&page_info={next}>; rel=\"next\""
            );
            if let Ok(v) = HeaderValue::from_str(&link) {
                response.headers_mut().insert(header::LINK, v);
            }
        }
        response
    }

    fn create_fulfillment(&self, body: &[u8]) -> Response {
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad_param(StatusCode::BAD_REQUEST, "body", format!("not JSON: {e}")),
        };
        let Some(f) = request.get("fulfillment").filter(|f| f.is_object()) else {
            return bad_param(
                StatusCode::BAD_REQUEST,
                "fulfillment",
                "Required parameter missing or invalid",
            );
        };
        let Some(groups) = f
            .get("line_items_by_fulfillment_order")
            .and_then(Value::as_array)
            .filter(|g| !g.is_empty())
        else {
            return bad_param(
                StatusCode::BAD_REQUEST,
                "line_items_by_fulfillment_order",
                "Required parameter missing or invalid",
            );
        };
        // A tracking field: absent, null or a string; anything else names itself.
        let text = |v: Option<&Value>,
                    field: &'static str|
         -> Result<Option<String>, &'static str> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
                Some(_) => Err(field),
            }
        };
        let tracking = f.get("tracking_info");
        let (number, company, url) = match (
            text(
                tracking.and_then(|t| t.get("number")),
                "tracking_info.number",
            ),
            text(
                tracking.and_then(|t| t.get("company")),
                "tracking_info.company",
            ),
            text(tracking.and_then(|t| t.get("url")), "tracking_info.url"),
        ) {
            (Ok(n), Ok(c), Ok(u)) => (n, c, u),
            (Err(field), _, _) | (_, Err(field), _) | (_, _, Err(field)) => {
                return bad_param(StatusCode::BAD_REQUEST, field, "expected a string");
            }
        };
        // (fulfillment order id, Some([(fo line id, quantity)]) or None = all)
        let mut asked: Vec<(u64, Option<FoLineQuantities>)> = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            let at = format!("line_items_by_fulfillment_order[{i}]");
            let Some(fo_id) = g.get("fulfillment_order_id").and_then(json_id) else {
                return bad_param(
                    StatusCode::BAD_REQUEST,
                    &format!("{at}.fulfillment_order_id"),
                    "Required parameter missing or invalid",
                );
            };
            let lines = match g.get("fulfillment_order_line_items") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => {
                    let mut lines = Vec::new();
                    for (j, item) in items.iter().enumerate() {
                        let id = item.get("id").and_then(json_id);
                        let quantity = item
                            .get("quantity")
                            .and_then(Value::as_u64)
                            .and_then(|q| u32::try_from(q).ok())
                            .filter(|q| *q > 0);
                        match (id, quantity) {
                            (Some(id), Some(q)) => lines.push((id, q)),
                            _ => {
                                return bad_param(
                                    StatusCode::BAD_REQUEST,
                                    &format!("{at}.fulfillment_order_line_items[{j}]"),
                                    "needs an id and a positive quantity",
                                );
                            }
                        }
                    }
                    Some(lines)
                }
                Some(_) => {
                    return bad_param(
                        StatusCode::BAD_REQUEST,
                        &format!("{at}.fulfillment_order_line_items"),
                        "expected an array",
                    );
                }
            };
            asked.push((fo_id, lines));
        }
        let mut state = lock(&self.state);
        let state = &mut *state;
        let refuse = |state: &mut Shop, message: String| {
            state.counters.fulfillments_refused += 1;
            rest_error(StatusCode::UNPROCESSABLE_ENTITY, json!([message]))
        };
        // Which order holds the fulfillment orders.
        let Some(order_id) = state
            .orders
            .values()
            .find(|o| o.fulfillment_orders.iter().any(|fo| fo.id == asked[0].0))
            .map(|o| o.id)
        else {
            return refuse(
                state,
                format!("Fulfillment order {} does not exist.", asked[0].0),
            );
        };
        let order = state.orders.get(&order_id).expect("found above");
        let mut location = None;
        // (fo index, fo line index, quantity)
        let mut plan: Vec<(usize, usize, u32)> = Vec::new();
        for (fo_id, lines) in &asked {
            let Some(fo_index) = order.fulfillment_orders.iter().position(|f| f.id == *fo_id)
            else {
                return refuse(
                    state,
                    format!("Fulfillment order {fo_id} does not exist on this order."),
                );
            };
            let fo = &order.fulfillment_orders[fo_index];
            if !matches!(fo.status, "open" | "in_progress") {
                return refuse(
                    state,
                    format!(
                        "Fulfillment order {fo_id} has an unfulfillable status= {}.",
                        fo.status
                    ),
                );
            }
            if location.is_some_and(|l| l != fo.location) {
                return refuse(
                    state,
                    "All fulfillment orders must be assigned to a single location.".to_owned(),
                );
            }
            location = Some(fo.location);
            match lines {
                None => plan.extend(
                    fo.lines
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| l.fulfillable > 0)
                        .map(|(j, l)| (fo_index, j, l.fulfillable)),
                ),
                Some(lines) => {
                    for (line_id, quantity) in lines {
                        let Some(j) = fo.lines.iter().position(|l| l.id == *line_id) else {
                            return refuse(
                                state,
                                format!(
                                    "Fulfillment order line item {line_id} does not belong to fulfillment order {fo_id}."
                                ),
                            );
                        };
                        let already: u32 = plan
                            .iter()
                            .filter(|(f, l, _)| *f == fo_index && *l == j)
                            .map(|(_, _, q)| q)
                            .sum();
                        if already + quantity > fo.lines[j].fulfillable {
                            state.counters.over_fulfillment_refusals += 1;
                            return refuse(
                                state,
                                "Invalid fulfillment order line item quantity requested."
                                    .to_owned(),
                            );
                        }
                        plan.push((fo_index, j, *quantity));
                    }
                }
            }
        }
        if plan.is_empty() {
            return refuse(
                state,
                "Invalid fulfillment order line item quantity requested.".to_owned(),
            );
        }
        let mut rng = lock(&self.rng);
        let id = state.id(&mut rng);
        drop(rng);
        let order = state.orders.get_mut(&order_id).expect("found above");
        let mut lines: Vec<(u64, u32)> = Vec::new();
        for (f, j, q) in &plan {
            let fo_line = &mut order.fulfillment_orders[*f].lines[*j];
            fo_line.fulfillable -= q;
            match lines.iter_mut().find(|(id, _)| *id == fo_line.line_item_id) {
                Some((_, n)) => *n += q,
                None => lines.push((fo_line.line_item_id, *q)),
            }
        }
        for fo in &mut order.fulfillment_orders {
            if matches!(fo.status, "open" | "in_progress") {
                let left: u32 = fo.lines.iter().map(|l| l.fulfillable).sum();
                let total: u32 = fo.lines.iter().map(|l| l.quantity).sum();
                fo.status = if left == 0 {
                    "closed"
                } else if left < total {
                    "in_progress"
                } else {
                    "open"
                };
            }
        }
        // Never deduplicated: a second package under the same tracking number
        // over the same lines is counted, so a test sees a hub that resends.
        let duplicate = number.as_ref().is_some_and(|n| {
            order.fulfillments.iter().any(|f| {
                f.tracking_number.as_ref() == Some(n)
                    && f.lines
                        .iter()
                        .any(|(l, _)| lines.iter().any(|(m, _)| m == l))
            })
        });
        if duplicate {
            state.counters.duplicate_fulfillments += 1;
        }
        state.counters.fulfillments_created += 1;
        let now = Utc::now();
        order.fulfillments.push(Fulfillment {
            id,
            created: now,
            location: location.unwrap_or(0),
            tracking_number: number,
            company,
            url,
            lines,
        });
        if order
            .fulfillment_orders
            .iter()
            .all(|fo| fo.status == "closed")
        {
            // Shops archive fully fulfilled orders by default.
            order.closed_at = Some(now);
        }
        order.touch();
        let order = &state.orders[&order_id];
        let created = order.fulfillments.last().expect("just pushed");
        (
            StatusCode::CREATED,
            Json(json!({ "fulfillment": self.fulfillment_json(order, created) })),
        )
            .into_response()
    }
}

/// `(fulfillment order line id, quantity)` asked of one fulfillment order.
type FoLineQuantities = Vec<(u64, u32)>;

/// A Shopify id in a request: a whole number, or a string of digits.
fn json_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn serde_urlencoded_pairs(q: &str) -> Option<Vec<(String, String)>> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{q}").parse().ok()?)
        .ok()
        .map(|axum::extract::Query(p)| p)
}

/// What a `page_info` cursor carries: the first request's filters and the
/// last id served. Opaque to clients (base64url of JSON), like Shopify's.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "s")]
    status: String,
    #[serde(rename = "u")]
    updated_min: Option<i64>,
    #[serde(rename = "a")]
    after: u64,
}

impl Cursor {
    fn encode(&self) -> String {
        BASE64_URL.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(token: &str) -> Option<Cursor> {
        serde_json::from_slice(&BASE64_URL.decode(token).ok()?).ok()
    }
}

// ---------------------------------------------------------------------------
// GraphQL

fn graphql_error(message: impl Into<String>, code: &str) -> Value {
    json!({ "message": message.into(), "extensions": { "code": code } })
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
        let document = match graphql::parse(&request.query, &variables) {
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
            bucket.drain(restore);
            let available = max - bucket.level;
            if cost > available {
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
            bucket.level += cost;
            max - bucket.level
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

    fn product_variants(&self, field: &graphql::Field) -> Result<Value, Value> {
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

    fn inventory_set_quantities(
        &self,
        version: &str,
        field: &graphql::Field,
    ) -> Result<Value, Value> {
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
fn search_skus(query: &str) -> Option<Vec<String>> {
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

/// Just enough of GraphQL for the operations the simulator serves: one
/// operation, root fields with arguments (literals or `$variables`),
/// directives and an (unapplied) selection set.
mod graphql {
    use serde_json::{Map, Value};

    pub(super) struct Document {
        pub mutation: bool,
        pub fields: Vec<Field>,
    }

    pub(super) struct Field {
        /// The response key: the alias, else the name.
        pub alias: String,
        pub name: String,
        pub args: Map<String, Value>,
        pub directives: Vec<(String, Map<String, Value>)>,
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Name(String),
        Var(String),
        Str(String),
        Num(String),
        P(char),
    }

    fn lex(src: &str) -> Result<Vec<Tok>, String> {
        let mut out = Vec::new();
        let mut chars = src.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                c if c.is_whitespace() || c == ',' => {
                    chars.next();
                }
                '#' => while chars.next().is_some_and(|c| c != '\n') {},
                '{' | '}' | '(' | ')' | ':' | '@' | '!' | '[' | ']' | '=' => {
                    chars.next();
                    out.push(Tok::P(c));
                }
                '$' => {
                    chars.next();
                    out.push(Tok::Var(name(&mut chars)));
                }
                '"' => {
                    chars.next();
                    let mut s = String::new();
                    loop {
                        match chars.next() {
                            None => return Err("unterminated string".into()),
                            Some('"') => break,
                            Some('\\') => match chars.next() {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('u') => {
                                    let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                                    let c = u32::from_str_radix(&hex, 16)
                                        .ok()
                                        .and_then(char::from_u32)
                                        .ok_or("bad \\u escape")?;
                                    s.push(c);
                                }
                                Some(e) => s.push(e),
                                None => return Err("unterminated string".into()),
                            },
                            Some(c) => s.push(c),
                        }
                    }
                    out.push(Tok::Str(s));
                }
                '-' | '0'..='9' => {
                    let mut s = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_ascii_digit() || matches!(c, '-' | '.' | 'e' | 'E' | '+') {
                            s.push(c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    out.push(Tok::Num(s));
                }
                c if c.is_alphabetic() || c == '_' => out.push(Tok::Name(name(&mut chars))),
                '.' => return Err("fragments are not supported by the simulator".into()),
                c => return Err(format!("unexpected character {c:?}")),
            }
        }
        Ok(out)
    }

    fn name(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
        let mut s = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_alphanumeric() || c == '_' {
                s.push(c);
                chars.next();
            } else {
                break;
            }
        }
        s
    }

    struct Parser<'a> {
        toks: Vec<Tok>,
        pos: usize,
        vars: &'a Map<String, Value>,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<&Tok> {
            self.toks.get(self.pos)
        }

        fn next(&mut self) -> Result<Tok, String> {
            let t = self
                .toks
                .get(self.pos)
                .cloned()
                .ok_or("unexpected end of document")?;
            self.pos += 1;
            Ok(t)
        }

        fn expect(&mut self, p: char) -> Result<(), String> {
            match self.next()? {
                Tok::P(c) if c == p => Ok(()),
                t => Err(format!("expected {p:?}, found {t:?}")),
            }
        }

        fn eat(&mut self, p: char) -> bool {
            if self.peek() == Some(&Tok::P(p)) {
                self.pos += 1;
                true
            } else {
                false
            }
        }

        fn name(&mut self) -> Result<String, String> {
            match self.next()? {
                Tok::Name(n) => Ok(n),
                t => Err(format!("expected a name, found {t:?}")),
            }
        }

        /// Skips a balanced `open … close` group.
        fn skip(&mut self, open: char, close: char) -> Result<(), String> {
            self.expect(open)?;
            let mut depth = 1;
            while depth > 0 {
                match self.next()? {
                    Tok::P(c) if c == open => depth += 1,
                    Tok::P(c) if c == close => depth -= 1,
                    _ => {}
                }
            }
            Ok(())
        }

        fn value(&mut self) -> Result<Value, String> {
            Ok(match self.next()? {
                Tok::Var(v) => self.vars.get(&v).cloned().unwrap_or(Value::Null),
                Tok::Str(s) => Value::String(s),
                Tok::Num(n) => serde_json::from_str(&n).map_err(|_| format!("bad number {n}"))?,
                Tok::Name(n) => match n.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => Value::String(n),
                },
                Tok::P('[') => {
                    let mut list = Vec::new();
                    while !self.eat(']') {
                        list.push(self.value()?);
                    }
                    Value::Array(list)
                }
                Tok::P('{') => Value::Object(self.object('}')?),
                t => return Err(format!("expected a value, found {t:?}")),
            })
        }

        fn object(&mut self, close: char) -> Result<Map<String, Value>, String> {
            let mut map = Map::new();
            while !self.eat(close) {
                let key = self.name()?;
                self.expect(':')?;
                map.insert(key, self.value()?);
            }
            Ok(map)
        }

        fn arguments(&mut self) -> Result<Map<String, Value>, String> {
            if self.eat('(') {
                self.object(')')
            } else {
                Ok(Map::new())
            }
        }

        fn field(&mut self) -> Result<Field, String> {
            let first = self.name()?;
            let (alias, name) = if self.eat(':') {
                (first, self.name()?)
            } else {
                (first.clone(), first)
            };
            let args = self.arguments()?;
            let mut directives = Vec::new();
            while self.eat('@') {
                let d = self.name()?;
                directives.push((d, self.arguments()?));
            }
            if self.peek() == Some(&Tok::P('{')) {
                self.skip('{', '}')?;
            }
            Ok(Field {
                alias,
                name,
                args,
                directives,
            })
        }
    }

    pub(super) fn parse(src: &str, vars: &Map<String, Value>) -> Result<Document, String> {
        let mut p = Parser {
            toks: lex(src)?,
            pos: 0,
            vars,
        };
        let mutation = match p.peek() {
            Some(Tok::Name(n)) if n == "mutation" => true,
            Some(Tok::Name(n)) if n == "query" => false,
            Some(Tok::P('{')) => false,
            Some(t) => return Err(format!("unsupported operation {t:?}")),
            None => return Err("empty document".into()),
        };
        if p.peek() != Some(&Tok::P('{')) {
            p.pos += 1;
            if matches!(p.peek(), Some(Tok::Name(_))) {
                p.pos += 1;
            }
            if p.peek() == Some(&Tok::P('(')) {
                p.skip('(', ')')?;
            }
        }
        p.expect('{')?;
        let mut fields = Vec::new();
        while !p.eat('}') {
            fields.push(p.field()?);
        }
        if p.pos != p.toks.len() {
            return Err("only one operation per document is supported".into());
        }
        Ok(Document { mutation, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Estate, SimConfig};

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            status: "any".into(),
            updated_min: Some(1),
            after: u64::MAX,
        };
        let text = cursor.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}: URL-safe, unpadded"
        );
        let back = Cursor::decode(&text).unwrap();
        assert_eq!((back.status.as_str(), back.after), ("any", u64::MAX));
        assert!(Cursor::decode("not!base64").is_none());
    }

    /// Webhooks the stand-in hub received: (headers, raw body).
    type Inbox = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

    #[tokio::test]
    async fn delivered_webhooks_carry_a_verifiable_hmac() {
        let inbox: Inbox = Arc::default();
        let app = Router::new()
            .route(
                "/webhooks/channels/{name}",
                post(
                    |State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes| async move {
                        lock(&inbox).push((headers, body.to_vec()));
                        StatusCode::OK
                    },
                ),
            )
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hub = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut sim = SimConfig::demo(&hub);
        sim.channel.orders_per_sec = 0.0;
        let config = ShopifySimConfig {
            orders_per_sec: 50.0,
            max_orders: 3,
            ..ShopifySimConfig::default()
        };
        let secret = config.webhook_secret.clone();
        sim.shopify = Some(config);
        let estate = Estate::start(sim).await.unwrap();
        for _ in 0..200 {
            if lock(&inbox).len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let received = lock(&inbox).clone();
        assert_eq!(received.len(), 3);
        for (headers, body) in &received {
            assert_eq!(headers["x-shopify-topic"], "orders/create");
            let given = BASE64
                .decode(headers["x-shopify-hmac-sha256"].as_bytes())
                .unwrap();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(body);
            mac.clone().verify_slice(&given).unwrap();
            // Signed over the exact bytes: one byte more and it fails.
            mac.update(b" ");
            assert!(mac.verify_slice(&given).is_err());
        }
        estate.shutdown().await;
    }

    #[test]
    fn reads_sku_searches() {
        assert_eq!(search_skus(""), None);
        assert_eq!(
            search_skus(r#"sku:"A-1" OR sku:'B 2' OR sku:C"#),
            Some(vec!["A-1".to_owned(), "B 2".to_owned(), "C".to_owned()])
        );
        assert_eq!(search_skus("title:x"), Some(vec![]));
    }

    #[test]
    fn config_refuses_bad_values() {
        ShopifySimConfig::default().validate().unwrap();
        let bad = ShopifySimConfig {
            drop_rate: 2.0,
            ..ShopifySimConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("drop_rate")
        );
        let bad = ShopifySimConfig {
            api_version: "latest".into(),
            ..ShopifySimConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    async fn shop(config: ShopifySimConfig) -> (crate::EstateHandle, String) {
        let mut sim = SimConfig::demo("http://127.0.0.1:9");
        sim.channel.orders_per_sec = 0.0;
        sim.shopify = Some(config);
        let estate = Estate::start(sim).await.unwrap();
        let url = estate.shopify_url().unwrap();
        (estate, url)
    }

    #[tokio::test]
    async fn admin_api_is_as_strict_as_shopify() {
        let (estate, url) = shop(ShopifySimConfig {
            orders_per_sec: 50.0,
            max_orders: 5,
            max_page_size: 2,
            ..ShopifySimConfig::default()
        })
        .await;
        while !estate.generation_done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let client = reqwest::Client::new();
        let api = format!("{url}/admin/api/2025-07");
        let get = |path: String, token: &'static str| {
            client
                .get(format!("{api}/{path}"))
                .header("x-shopify-access-token", token)
                .send()
        };
        let token = "shpat_sim_access_token";
        let r = get("orders.json".into(), "wrong").await.unwrap();
        assert_eq!(r.status(), 401);
        let r = get(
            "orders.json?status=any&updated_at_min=2000-01-01T00:00:00Z&limit=250".into(),
            token,
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["x-shopify-shop-api-call-limit"]
                .to_str()
                .unwrap(),
            "1/40",
            "a refused token costs nothing"
        );
        let link = r.headers()["link"].to_str().unwrap().to_owned();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["orders"].as_array().unwrap().len(), 2);
        let first = &body["orders"][0];
        assert!(first["id"].as_u64().unwrap() > 1 << 53);
        assert!(first["total_price"].is_string());
        let page_info = link
            .split("page_info=")
            .nth(1)
            .unwrap()
            .split('>')
            .next()
            .unwrap();
        // A cursor carries its filters; another filter beside it is refused.
        let r = get(
            format!("orders.json?page_info={page_info}&status=any"),
            token,
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["errors"]["page_info"]
                .as_str()
                .unwrap()
                .contains("status"),
            "{body}"
        );
        let r = get(
            format!("orders.json?limit=250&page_info={page_info}"),
            token,
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let r = get("orders.json?page_info=garbage!".into(), token)
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = get("orders.json?updated_at_min=yesterday".into(), token)
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = get("orders/12.json".into(), token).await.unwrap();
        assert_eq!(r.status(), 404);
        let r = client
            .post(format!("{api}/fulfillments.json"))
            .header("x-shopify-access-token", token)
            .json(&json!({ "fulfilment": {} }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert!(body["errors"]["fulfillment"].is_string(), "{body}");
        estate.shutdown().await;
    }

    #[tokio::test]
    async fn a_full_bucket_answers_429_with_retry_after() {
        let (estate, url) = shop(ShopifySimConfig {
            orders_per_sec: 0.0,
            bucket_size: 3,
            leak_per_sec: 0.5,
            ..ShopifySimConfig::default()
        })
        .await;
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let r = client
                .get(format!("{url}/admin/api/2025-07/orders.json"))
                .header("x-shopify-access-token", "shpat_sim_access_token")
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
            if r.status() == 429 {
                assert_eq!(r.headers()["retry-after"], "2.0");
                assert_eq!(r.headers()["x-shopify-shop-api-call-limit"], "3/3");
            }
        }
        assert_eq!(statuses, [200, 200, 200, 429]);
        assert_eq!(estate.stats().await["shopify"]["throttled_429"], 1);
        estate.shutdown().await;
    }
}
