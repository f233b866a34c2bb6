//! The shop's HTTP plumbing (options, access token, REST and GraphQL call budgets) and the `impl Channel` that hands each job to its file.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crossdock_model::{Clock, SystemClock};

use crate::http::{base_url, check, endpoint, unreadable};
use crate::pacing::Bucket;
use crate::{
    AvailabilityCadence, AvailabilityResult, AvailabilityUpdate, Channel, ChannelEvent,
    ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

/// The Admin API version used when none is configured.
pub const DEFAULT_API_VERSION: &str = "2025-07";

pub(super) const ACCESS_TOKEN_HEADER: &str = "x-shopify-access-token";

/// `inventorySetQuantities` takes `changeFromQuantity` and `@idempotent`
/// (both mandatory) from this version on; inventory calls use it (or the
/// shop's version when newer) whatever version the REST calls pin.
pub(super) const INVENTORY_API_VERSION: &str = "2026-04";

/// Leak rate of the REST bucket on a Standard plan; the header says how
/// full it is, not how fast it drains, so the slowest plan's rate is assumed.
pub(super) const REST_LEAK_PER_SEC: f64 = 2.0;
/// Calls kept free in the REST bucket for other clients of the same app.
pub(super) const REST_MARGIN: f64 = 2.0;
/// Requested cost of one inventory call, kept free in the GraphQL bucket.
pub(super) const GRAPHQL_CALL_COST: f64 = 60.0;
/// Never sleep longer than this before a call: past it, let Shopify say 429.
/// Long enough for a full Standard bucket to drain, so a burst of work
/// queues here instead of earning 429s.
pub(super) const MAX_PACING_WAIT: Duration = Duration::from_secs(30);
/// The REST bucket of a Standard plan, assumed until the first answer says.
pub(super) const REST_BUCKET_SIZE: f64 = 40.0;

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
    pub(super) name: String,
    /// `{shop_url}/admin/api/{api_version}`.
    pub(super) api: Url,
    /// `{shop_url}/admin/api/{graphql version}/graphql.json`, for inventory.
    pub(super) graphql: Url,
    pub(super) http: HttpClient,
    /// `X-Shopify-Access-Token`, sent with every Admin API call.
    pub(super) token: HeaderValue,
    pub(super) webhook_secret: Vec<u8>,
    /// What the last REST answer said of the call bucket, to wait before
    /// a call that would overflow it instead of earning a 429.
    pub(super) rest_budget: Mutex<Option<Bucket>>,
    /// The same for the GraphQL cost bucket.
    pub(super) graphql_budget: Mutex<Option<Bucket>>,
    /// SKU → where its `available` quantity is set. Filled on first use;
    /// a SKU Shopify does not know is looked up again next time.
    pub(super) inventory_targets: Mutex<HashMap<String, InventoryTarget>>,
    /// Where the call budgets take their time from.
    pub(super) clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InventoryTarget {
    pub(super) inventory_item_id: String,
    pub(super) location_id: String,
}

impl fmt::Debug for ShopifyChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyChannel")
            .field("name", &self.name)
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

/// `X-Shopify-Shop-Api-Call-Limit: 12/40` as `(12, 40)`.
pub(super) fn call_limit(headers: &HeaderMap) -> Option<(f64, f64)> {
    let text = headers
        .get("x-shopify-shop-api-call-limit")?
        .to_str()
        .ok()?;
    let (used, size) = text.trim().split_once('/')?;
    let used: f64 = used.trim().parse().ok()?;
    let size: f64 = size.trim().parse().ok()?;
    (size > 0.0).then_some((used, size))
}

/// The REST bucket of a Standard plan, until the first answer says. Assumed
/// spent but for one probe call: the process this one replaced (a restart)
/// may have drained it moments ago, and Shopify's header on the probe's
/// answer tells how full it really is.
pub(super) fn rest_bucket(clock: &dyn Clock) -> Bucket {
    Bucket::unconfirmed(
        REST_BUCKET_SIZE,
        REST_LEAK_PER_SEC,
        1.0 + REST_MARGIN,
        clock.instant(),
    )
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
            rest_budget: Mutex::new(Some(rest_bucket(&SystemClock))),
            graphql_budget: Mutex::new(None),
            inventory_targets: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
        })
    }

    /// The same channel taking time from `clock` (the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.rest_budget = Mutex::new(Some(rest_bucket(clock.as_ref())));
        self.graphql_budget = Mutex::new(None);
        self.clock = clock;
        self
    }

    /// One Admin API call: waits if the bucket is nearly full, sends the
    /// token and records what the answer says of the bucket. Every answer
    /// comes back; the caller decides what a status means (`check` reads
    /// Shopify's fractional `Retry-After`, `2.0`, as whole seconds up).
    pub(super) async fn call<B: Serialize + ?Sized>(
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
            let now = self.clock.instant();
            match budget.as_mut() {
                Some(b) if graphql => b.reserve(GRAPHQL_CALL_COST, 0.0, now),
                Some(b) => b.reserve(1.0, REST_MARGIN, now),
                None => None,
            }
            .map_or(Duration::ZERO, |wait| wait.min(MAX_PACING_WAIT))
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
            let now = self.clock.instant();
            match budget.as_mut() {
                Some(b) => b.observe(used, size, REST_LEAK_PER_SEC, now),
                None => *budget = Some(Bucket::new(used, size, REST_LEAK_PER_SEC, now)),
            }
        }
        Ok((status, headers, answer))
    }

    /// `GET url`: the body of a 2xx, `None` for a 404, else the usual error.
    pub(super) async fn get_opt(
        &self,
        url: &Url,
    ) -> Result<Option<(HeaderMap, Vec<u8>)>, ConnectorError> {
        let (status, headers, body) = self.call(Method::GET, url.clone(), None::<&()>).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check(status, Some(&headers), body).map(|body| Some((headers, body)))
    }

    pub(super) async fn get_json_opt<T: DeserializeOwned>(
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

    pub(super) async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&B>,
    ) -> Result<(HeaderMap, Vec<u8>), ConnectorError> {
        let (status, headers, answer) = self.call(method, url.clone(), body).await?;
        check(status, Some(&headers), answer).map(|answer| (headers, answer))
    }

    pub(super) fn url(&self, segments: &[&str]) -> Url {
        endpoint(&self.api, segments)
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
        self.verified_webhook(headers, body)
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        self.order_event(body)
    }

    /// A Shopify webhook is a trigger: its payload may be a retry carrying
    /// the state of hours ago, so the order is read again from the Admin
    /// API. An order Shopify no longer knows is processed as delivered.
    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.refetch_order(delivered).await
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        self.poll_orders(since_ms).await
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        self.confirm_fulfillment(confirmation).await
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.find_fulfillment(external_order_id, package_id).await
    }

    fn availability_batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        self.batch_limit(cadence)
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
        self.set_quantities(updates, _cadence).await
    }

    /// Paid payouts dated since `since_ms`'s day, oldest first.
    async fn settlements_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<crate::SettlementDocument>, ConnectorError> {
        self.fetch_payouts(since_ms).await
    }
}
