//! The SP-API plumbing (options, LWA access token, per-operation rate buckets, the call that waits its turn) and the `impl Channel` that hands each job to its file.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use crossdock_model::{Clock, SystemClock};

use crate::auth::{AccessToken, TokenCache};
use crate::http::{base_url, check, endpoint, retry_after, unreadable};
use crate::pacing::Bucket;
use crate::{
    AvailabilityCadence, AvailabilityResult, AvailabilityUpdate, Channel, ChannelEvent,
    ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

pub(super) const ACCESS_TOKEN_HEADER: &str = "x-amz-access-token";
pub(super) const RATE_LIMIT_HEADER: &str = "x-amzn-ratelimit-limit";

/// Longest a call waits for its rate-limit token before it is refused unsent.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Share of one token's time a paced call waits beyond its slot, at most
/// [`MAX_PACING_MARGIN`].
pub(super) const PACING_MARGIN: f64 = 0.1;
pub(super) const MAX_PACING_MARGIN: Duration = Duration::from_secs(1);
/// Used when LWA gives no `expires_in` (its tokens live an hour).
pub(super) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Default `getFeed` interval and longest wait for a listings feed.
pub const FEED_POLL_INTERVAL: Duration = Duration::from_secs(15);
pub const FEED_MAX_WAIT: Duration = Duration::from_secs(600);

/// How to reach one seller account in one marketplace.
#[derive(Clone)]
pub struct AmazonOptions {
    /// The channel's name in the hub.
    pub name: String,
    /// SP-API base, e.g. `https://sellingpartnerapi-na.amazon.com`.
    pub endpoint: String,
    /// LWA token endpoint, e.g. `https://api.amazon.com/auth/o2/token`.
    pub lwa_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// e.g. `ATVPDKIKX0DER` (US).
    pub marketplace_id: String,
}

impl fmt::Debug for AmazonOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmazonOptions")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("lwa_url", &self.lwa_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("marketplace_id", &self.marketplace_id)
            .finish()
    }
}

/// The SP-API operations used, each with its own rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    GetOrders,
    GetOrder,
    GetOrderItems,
    ConfirmShipment,
    PatchListingsItem,
    CreateFeedDocument,
    CreateFeed,
    GetFeed,
    GetFeedDocument,
    GetReports,
    GetReportDocument,
}

impl Operation {
    /// Documented default (rate per second, burst) (ordersV0.json,
    /// listingsItems_2021-08-01.json, feeds_2021-06-30.json).
    pub(super) fn default_plan(self) -> (f64, f64) {
        match self {
            Operation::GetOrders => (0.0167, 20.0),
            Operation::GetOrder | Operation::GetOrderItems => (0.5, 30.0),
            Operation::ConfirmShipment => (2.0, 10.0),
            Operation::PatchListingsItem => (5.0, 5.0),
            Operation::CreateFeedDocument => (0.5, 15.0),
            Operation::CreateFeed => (0.0083, 15.0),
            Operation::GetFeed => (2.0, 15.0),
            Operation::GetFeedDocument => (0.0222, 10.0),
            Operation::GetReports => (0.0222, 10.0),
            Operation::GetReportDocument => (0.0167, 15.0),
        }
    }

    /// The operation's documented plan (a token bucket: `burst` calls,
    /// refilled at the rate), assumed spent but for one probe until Amazon
    /// first answers: a hub that has just started may follow one that
    /// spent the account's burst moments ago.
    pub(super) fn bucket(self, now: std::time::Instant) -> Bucket {
        let (rate, burst) = self.default_plan();
        Bucket::unconfirmed(burst, rate, 1.0, now)
    }
}

#[derive(Deserialize)]
pub(super) struct LwaAnswer {
    pub(super) access_token: String,
    #[serde(default)]
    pub(super) expires_in: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct LwaRefusal {
    pub(super) error: String,
    #[serde(default)]
    pub(super) error_description: Option<String>,
}

pub struct AmazonChannel {
    pub(super) name: String,
    pub(super) api: Url,
    pub(super) lwa_url: Url,
    /// The urlencoded refresh-token grant form (holds secrets).
    pub(super) lwa_form: String,
    pub(super) marketplace_id: String,
    pub(super) http: HttpClient,
    pub(super) token: TokenCache,
    pub(super) buckets: SyncMutex<HashMap<Operation, Bucket>>,
    /// Token requests sent, for tests and metrics.
    pub(super) token_requests: SyncMutex<u64>,
    /// The selling partner id listings are addressed by; availability
    /// pushes are refused without it.
    pub(super) seller_id: Option<String>,
    pub(super) feed_polling: FeedPolling,
    /// Where the rate buckets take their time from.
    pub(super) clock: Arc<dyn Clock>,
    /// The bundles the last poll answered with, by `AmazonOrderId`, each
    /// with the `LastUpdateDate` and `OrderStatus` it was read at: an order
    /// the next poll finds unchanged is answered from here, without
    /// `getOrderItems`.
    pub(super) polled: SyncMutex<HashMap<String, PolledBundle>>,
    /// 429s Amazon answered, for the hub's metrics.
    pub(super) throttled: AtomicU64,
}

/// A bundle a poll answered with, and the order state (`LastUpdateDate`
/// and `OrderStatus`) it was read at.
pub(super) type PolledBundle = (String, Arc<Vec<u8>>);

/// How `JSON_LISTINGS_FEED` processing is waited for.
#[derive(Debug, Clone, Copy)]
pub(super) struct FeedPolling {
    pub(super) interval: Duration,
    pub(super) max_wait: Duration,
}

impl fmt::Debug for AmazonChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmazonChannel")
            .field("name", &self.name)
            .field("api", &self.api.as_str())
            .field("marketplace_id", &self.marketplace_id)
            .finish_non_exhaustive()
    }
}

impl AmazonChannel {
    pub fn new(options: AmazonOptions, http: HttpClient) -> Result<Self, ConnectorError> {
        let AmazonOptions {
            name,
            endpoint: api,
            lwa_url,
            client_id,
            client_secret,
            refresh_token,
            marketplace_id,
        } = options;
        for (what, value) in [
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("refresh_token", &refresh_token),
            ("marketplace_id", &marketplace_id),
        ] {
            if value.trim().is_empty() {
                return Err(ConnectorError::rejected(format!("Amazon {what} is empty")));
            }
        }
        let mut form = Url::parse("http://form.invalid/").expect("static URL");
        form.query_pairs_mut().extend_pairs([
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_id", client_id.as_str()),
            ("client_secret", client_secret.as_str()),
        ]);
        Ok(AmazonChannel {
            name,
            api: base_url(&api)?,
            lwa_url: base_url(&lwa_url)?,
            lwa_form: form.query().unwrap_or_default().to_owned(),
            marketplace_id,
            http,
            token: TokenCache::default(),
            buckets: SyncMutex::new(HashMap::new()),
            token_requests: SyncMutex::new(0),
            seller_id: None,
            feed_polling: FeedPolling {
                interval: FEED_POLL_INTERVAL,
                max_wait: FEED_MAX_WAIT,
            },
            clock: Arc::new(SystemClock),
            polled: SyncMutex::new(HashMap::new()),
            throttled: AtomicU64::new(0),
        })
    }

    /// The same channel taking time from `clock` (the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.buckets = SyncMutex::new(HashMap::new());
        self.clock = clock;
        self
    }

    /// The selling partner id (`sellerId` of the Listings API and of a
    /// listings feed header); required for [`Channel::publish_availability`].
    pub fn with_seller_id(mut self, seller_id: impl Into<String>) -> Self {
        let seller_id = seller_id.into();
        self.seller_id = Some(seller_id.trim().to_owned()).filter(|s| !s.is_empty());
        self
    }

    /// How often `getFeed` is asked while a listings feed is processed, and
    /// how long at most before the push gives up with `Transient`
    /// (defaults [`FEED_POLL_INTERVAL`], [`FEED_MAX_WAIT`]).
    pub fn with_feed_polling(mut self, interval: Duration, max_wait: Duration) -> Self {
        self.feed_polling = FeedPolling { interval, max_wait };
        self
    }

    /// 429s Amazon answered so far.
    pub fn throttled_responses(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// LWA token requests sent so far.
    pub fn token_requests(&self) -> u64 {
        *self.token_requests.lock().expect("not poisoned")
    }

    /// The current rate (requests per second) of an operation: the
    /// documented default until Amazon sent `x-amzn-RateLimit-Limit`.
    pub fn rate_limit(&self, op: Operation) -> f64 {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let now = self.clock.instant();
        buckets
            .entry(op)
            .or_insert_with(|| op.bucket(now))
            .per_sec()
    }

    /// A valid access token: the cached one, or one fetched now (one fetch
    /// at a time; callers that find the token stale wait for it).
    pub(super) async fn access_token(&self) -> Result<AccessToken, ConnectorError> {
        self.token.get(&self.name, || self.fetch_lwa_token()).await
    }

    /// One LWA exchange of the refresh token: `(access token, lifetime)`.
    pub(super) async fn fetch_lwa_token(
        &self,
    ) -> Result<(HeaderValue, Option<Duration>), ConnectorError> {
        *self.token_requests.lock().expect("not poisoned") += 1;
        let (status, headers, body) = self
            .http
            .exchange_raw(
                Method::POST,
                self.lwa_url.clone(),
                HeaderMap::new(),
                Some((
                    "application/x-www-form-urlencoded",
                    self.lwa_form.clone().into_bytes(),
                )),
            )
            .await?;
        if matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED)
            && let Ok(refusal) = serde_json::from_slice::<LwaRefusal>(&body)
        {
            let description = refusal.error_description.unwrap_or_default();
            let reason = format!(
                "LWA refused the refresh token: {} {description}",
                refusal.error
            );
            return Err(match refusal.error.as_str() {
                "invalid_grant" | "invalid_client" | "unauthorized_client" => {
                    ConnectorError::Unauthorized { reason }
                }
                _ => ConnectorError::rejected(reason),
            });
        }
        let body = check(status, Some(&headers), body)?;
        let answer: LwaAnswer =
            serde_json::from_slice(&body).map_err(|e| unreadable(&self.lwa_url, e))?;
        let mut value = HeaderValue::from_str(&answer.access_token)
            .map_err(|_| ConnectorError::rejected("LWA access token is not a valid header"))?;
        value.set_sensitive(true);
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Ok((value, Some(lifetime)))
    }

    /// Takes a token from the operation's bucket, waiting up to `max_wait`.
    pub(super) async fn take_token(
        &self,
        op: Operation,
        max_wait: Duration,
    ) -> Result<(), ConnectorError> {
        let wait = {
            let mut buckets = self.buckets.lock().expect("not poisoned");
            let now = self.clock.instant();
            let bucket = buckets.entry(op).or_insert_with(|| op.bucket(now));
            let Some(slot) = bucket.reserve(1.0, 0.0, now) else {
                return Ok(());
            };
            // Sent a little after our bucket allows: Amazon counts arrivals,
            // and network jitter can bring a request in earlier than its
            // slot relative to the one before.
            let wait = slot
                + bucket
                    .interval()
                    .mul_f64(PACING_MARGIN)
                    .min(MAX_PACING_MARGIN);
            if wait > max_wait {
                bucket.refund(1.0);
                return Err(ConnectorError::Throttled {
                    reason: format!(
                        "{op:?}: client-side rate limit of {} per second",
                        bucket.per_sec()
                    ),
                    retry_after: wait,
                });
            }
            wait
        };
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Reads `x-amzn-RateLimit-Limit`; on a 429, empties the bucket and
    /// gives the wait.
    pub(super) fn observe(
        &self,
        op: Operation,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Duration {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let now = self.clock.instant();
        let bucket = buckets.entry(op).or_insert_with(|| op.bucket(now));
        if let Some(rate) = headers
            .get(RATE_LIMIT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|r| r.is_finite() && *r > 0.0)
        {
            bucket.set_rate(rate);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            bucket.fill(now);
        } else {
            bucket.answered(now);
        }
        bucket.interval()
    }

    /// One SP-API call: rate limit, token (again once if refused), and the
    /// answer of a 2xx, `None` for a 404.
    pub(super) async fn call(
        &self,
        op: Operation,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.call_waiting(op, method, url, body, MAX_WAIT).await
    }

    /// [`Self::call`], waiting up to `max_wait` for the rate-limit token.
    pub(super) async fn call_waiting(
        &self,
        op: Operation,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
        max_wait: Duration,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let mut retried = false;
        loop {
            // The access token first: Amazon's bucket starts counting when
            // a request arrives, so time spent on LWA must not be spent
            // from ours.
            let token = self.access_token().await?;
            self.take_token(op, max_wait).await?;
            let mut headers = HeaderMap::new();
            headers.insert(HeaderName::from_static(ACCESS_TOKEN_HEADER), token.header());
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            let (status, answer_headers, answer) = self
                .http
                .exchange_raw(
                    method.clone(),
                    url.clone(),
                    headers,
                    body.clone().map(|b| ("application/json", b)),
                )
                .await?;
            let interval = self.observe(op, status, &answer_headers);
            match status {
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::TOO_MANY_REQUESTS => {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(channel = %self.name, operation = ?op, retry_after = ?retry_after(&answer_headers), "Amazon refused a call with 429; the operation's bucket is taken as empty.");
                    let text = String::from_utf8_lossy(&answer);
                    return Err(ConnectorError::Throttled {
                        reason: format!("{op:?}: HTTP 429: {}", text.trim()),
                        retry_after: retry_after(&answer_headers).unwrap_or(interval),
                    });
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if !retried => {
                    self.token.refused(&self.name, &token).await;
                    retried = true;
                }
                _ => return check(status, Some(&answer_headers), answer).map(Some),
            }
        }
    }

    pub(super) async fn get(
        &self,
        op: Operation,
        url: &Url,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.call(op, Method::GET, url, None).await
    }

    pub(super) fn orders_url(&self) -> Url {
        endpoint(&self.api, &["orders", "v0", "orders"])
    }
}

#[async_trait]
impl Channel for AmazonChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_webhook(
        &self,
        _headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        self.verified_webhook(_headers, body)
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        self.order_event(body)
    }

    /// A notification is a trigger: the order is read again.
    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.refetch_order(delivered).await
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        self.poll_orders(since_ms).await
    }

    fn throttled_responses(&self) -> u64 {
        AmazonChannel::throttled_responses(self)
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        self.confirm_packages(confirmation).await
    }

    /// Always `None`: Orders v0 cannot read packages back, and a resend with
    /// the same `packageReferenceId` edits the package instead of adding one.
    async fn find_shipment_confirmation(
        &self,
        _external_order_id: &str,
        _package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }

    fn availability_batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        self.batch_limit(cadence)
    }

    /// `Urgent`: `patchListingsItem` per SKU; `Batch`: one
    /// `JSON_LISTINGS_FEED`. Quantities are absolute, so a resend is safe;
    /// `previous` is not compared (Amazon has no compare-and-set).
    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        self.push_availability(updates, cadence).await
    }

    /// Settlement reports created since `since_ms`, oldest first.
    async fn settlements_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<crate::SettlementDocument>, ConnectorError> {
        self.fetch_settlements(since_ms).await
    }
}
