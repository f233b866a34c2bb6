//! `[sim.amazon]`: the simulated seller account's settings and their checks.

use serde::{Deserialize, Serialize};

use crate::faults::{Faults, ensure_probabilities};

/// Amazon's cap on `MaxResultsPerPage`.
pub(crate) const MAX_PAGE: usize = 100;

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
    /// A settlement closes by itself this often when something shipped
    /// (0 = only on `POST /sim/settlements/close`).
    pub settlement_period_secs: u64,
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
            settlement_period_secs: 0,
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
        ensure_probabilities(
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
