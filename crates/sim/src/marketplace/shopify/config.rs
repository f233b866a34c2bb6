//! `[sim.shopify]`: the simulated shop's settings and their checks.

use serde::{Deserialize, Serialize};

use crate::faults::{Faults, ensure_probabilities};

/// Shopify's largest REST page and GraphQL array input.
pub(crate) const MAX_LIMIT: usize = 250;
/// Points a single GraphQL query may request at most.
pub(crate) const MAX_QUERY_COST: f64 = 1_000.0;

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

pub(crate) fn is_api_version(v: &str) -> bool {
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
        ensure_probabilities(
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
