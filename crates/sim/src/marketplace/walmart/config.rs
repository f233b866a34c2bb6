//! `[sim.walmart]`: the simulated seller's settings and their checks,
//! including the token bucket of each endpoint group.

use std::collections::HashSet;

use axum::http::Method;
use serde::{Deserialize, Serialize};

use crate::faults::{Faults, ensure_probabilities};

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
    pub(crate) const fn new(burst: u32, per_sec: f64) -> Self {
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
    /// `GET /v3/report/reconreport/*` (Walmart asks for no more than one
    /// file every two hours; the bucket only keeps a loop from hammering).
    pub reports: WalmartRateLimit,
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
            reports: WalmartRateLimit::new(10, 1.0),
        }
    }
}

impl WalmartRateLimits {
    pub(crate) fn all(&self) -> [(RateGroup, WalmartRateLimit); 7] {
        [
            (RateGroup::Token, self.token),
            (RateGroup::Orders, self.orders),
            (RateGroup::OrderUpdates, self.order_updates),
            (RateGroup::Inventory, self.inventory),
            (RateGroup::Feeds, self.feeds),
            (RateGroup::FeedStatus, self.feed_status),
            (RateGroup::Reports, self.reports),
        ]
    }
}

/// Four hours: Walmart auto-cancels a purchase order its seller has not
/// acknowledged within hours of its placement.
pub const DEFAULT_ACKNOWLEDGE_WITHIN_MS: u64 = 4 * 3_600 * 1_000;

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
    /// Units still unacknowledged this long after the order was placed are
    /// cancelled, as Walmart auto-cancels purchase orders the seller leaves
    /// unacknowledged (its deadline is hours); 0 = never.
    pub acknowledge_within_ms: u64,
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
            acknowledge_within_ms: DEFAULT_ACKNOWLEDGE_WITHIN_MS,
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
        ensure_probabilities(at, &[("cancel_rate", self.cancel_rate)])?;
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
pub(crate) enum RateGroup {
    Token,
    Orders,
    OrderUpdates,
    Inventory,
    Feeds,
    FeedStatus,
    Reports,
}

impl RateGroup {
    pub(crate) fn key(self) -> &'static str {
        match self {
            RateGroup::Token => "token",
            RateGroup::Orders => "orders",
            RateGroup::OrderUpdates => "order_updates",
            RateGroup::Inventory => "inventory",
            RateGroup::Feeds => "feeds",
            RateGroup::FeedStatus => "feed_status",
            RateGroup::Reports => "reports",
        }
    }

    pub(crate) fn of(method: &Method, path: &str) -> Option<RateGroup> {
        let rest = path.strip_prefix("/v3/")?;
        let first = rest.split('/').next().unwrap_or_default();
        Some(match (first, method) {
            ("token", _) => RateGroup::Token,
            ("orders", &Method::GET) => RateGroup::Orders,
            ("orders", _) => RateGroup::OrderUpdates,
            ("inventory", _) => RateGroup::Inventory,
            ("feeds", &Method::POST) => RateGroup::Feeds,
            ("feeds", _) => RateGroup::FeedStatus,
            ("report", &Method::GET) => RateGroup::Reports,
            _ => return None,
        })
    }
}
