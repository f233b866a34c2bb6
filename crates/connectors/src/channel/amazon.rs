//! The Amazon Selling Partner API channel (Orders v0), merchant-fulfilled.
//!
//! - **Auth**: Login with Amazon (LWA). A refresh-token grant (`POST lwa_url`,
//!   form `grant_type=refresh_token&refresh_token=…&client_id=…&client_secret=…`)
//!   gives an access token, sent as `x-amz-access-token`. It is cached until
//!   shortly before it expires (the margin of [`crate::auth`]) and fetched once
//!   for all callers that find it stale. A 401/403 from the SP-API drops the
//!   token and the call is tried once more with a fresh one. No SigV4: the
//!   SP-API no longer requires it.
//! - **Poll**: `getOrders` with `MarketplaceIds`, `LastUpdatedAfter` (whole
//!   seconds, rounded down) and `LastUpdatedBefore` = now − 2 min (the API
//!   refuses a later one; a `since` later than that is clamped to it), then
//!   `NextToken` pages. A next page is asked with `MarketplaceIds` (required by
//!   the model) and `NextToken` only: the token carries the filters. The token
//!   (it holds `+`, `/`, `=`) is percent-encoded exactly once. Orders are
//!   deduplicated by `AmazonOrderId` across pages (Amazon repeats some), and
//!   a page whose `NextToken` is the one just sent ends the paging with a
//!   warning (Prism mocks answer every page with the same token).
//!   - `Pending`/`PendingAvailability` orders are skipped: Amazon sends no
//!     prices or address yet; the poll after they turn `Unshipped` takes them.
//!   - `Canceled` orders come without items.
//!   - Any other order is read with every page of `getOrderItems` (items
//!     deduplicated by `OrderItemId`).
//!
//!   The message body is the bundle `{"order": Order, "items": OrderItemsList}`
//!   that [`amazon_order_bundle`] maps; the envelope is
//!   `amazon:poll:<AmazonOrderId>:<LastUpdateDate ms>`, version =
//!   `LastUpdateDate` in ms.
//! - **Notifications** (`ORDER_CHANGE`; SQS/EventBridge in reality, POSTed to
//!   the hub as JSON here) are triggers: the dedupe key is
//!   `amazon:notification:<NotificationMetadata.NotificationId>`, the version
//!   `OrderChangeTrigger.TimeOfOrderChange` (else `EventTime`) in ms. They
//!   carry no signature Amazon could be checked against (SQS is pulled, not
//!   pushed): the route must be protected by the hub. [`Channel::refetch`]
//!   reads the order (`getOrder` + `getOrderItems`) into the same bundle.
//! - **`map_message`**: a Ready order is `ChannelEvent::Order`, a Canceled one
//!   `ChannelEvent::Cancelled`; a Pending one is `ChannelEvent::NotYet`:
//!   nothing is taken and nothing waits (new orders start Pending, and
//!   Amazon notifies again when they turn Unshipped; the poll takes them too).
//! - **Shipment confirmation**: `confirmShipment`, one call per package, with
//!   `packageReferenceId` derived from our package id (the model allows
//!   positive numbers only, see [`package_reference_id`]). Amazon treats a
//!   resend with the same `packageReferenceId` as an edit of that package,
//!   never as a second package, so a resend is always safe and
//!   `find_shipment_confirmation` answers `None` (there is no read-back
//!   operation for packages in Orders v0). The confirmation id returned is
//!   the `packageReferenceId`.
//! - **Rate limits**: a client-side token bucket per operation with the
//!   documented default rate and burst, its rate replaced by the
//!   `x-amzn-RateLimit-Limit` Amazon sends. The token is taken after the
//!   access token is in hand, and a call that waits for its token waits a
//!   margin more (a tenth of a token's time, at most 1 s), since Amazon's
//!   bucket counts arrivals. A call waits for its token when that takes at
//!   most [`MAX_WAIT`], else comes back `Throttled` unsent. A 429 is
//!   `Throttled` with its `Retry-After`, else one token's time at the
//!   operation's rate.
//! - **Availability** (needs [`AmazonChannel::with_seller_id`]): `Urgent`
//!   pushes call `patchListingsItem` per SKU (at most [`URGENT_BATCH`]),
//!   replacing `/attributes/fulfillment_availability` with
//!   `[{fulfillment_channel_code: "DEFAULT", quantity}]` under product type
//!   `PRODUCT`; `ACCEPTED` is Accepted, `INVALID` (or a 400) Rejected with
//!   Amazon's issues. `Batch` pushes send one `JSON_LISTINGS_FEED` (at most
//!   [`FEED_BATCH`] messages, `messageId` = position + 1): createFeedDocument,
//!   PUT to its presigned URL, createFeed, getFeed every
//!   [`FEED_POLL_INTERVAL`] up to [`FEED_MAX_WAIT`] (then `Transient`; the
//!   quantities are absolute, so a resend is harmless), then the processing
//!   report, whose ERROR issues reject their `messageId`'s SKU. A `FATAL`
//!   feed is `Rejected` as a whole.

pub mod config;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex as SyncMutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::auth::{AccessToken, TokenCache};
use crate::channel::amazon_mapping::{AmazonOrder, amazon_order_bundle};
use crate::http::{base_url, check, endpoint, retry_after};
use crate::input::{parse_json, timestamp_ms};
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

const ACCESS_TOKEN_HEADER: &str = "x-amz-access-token";
const RATE_LIMIT_HEADER: &str = "x-amzn-ratelimit-limit";
/// `LastUpdatedBefore` must be at least this long before now.
const SETTLE: chrono::Duration = chrono::Duration::minutes(2);
const PAGE_SIZE: &str = "100";
const MAX_PAGES: usize = 1_000;
/// Longest a call waits for its rate-limit token before it is refused unsent.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Share of one token's time a paced call waits beyond its slot, at most
/// [`MAX_PACING_MARGIN`].
const PACING_MARGIN: f64 = 0.1;
const MAX_PACING_MARGIN: Duration = Duration::from_secs(1);
/// Used when LWA gives no `expires_in` (its tokens live an hour).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// SKUs one urgent push takes: `patchListingsItem`'s burst, so a push
/// never waits on its own rate limit.
const URGENT_BATCH: usize = 5;
/// Messages one `JSON_LISTINGS_FEED` may carry.
const FEED_BATCH: usize = 10_000;
const LISTINGS_FEED: &str = "JSON_LISTINGS_FEED";
const FEED_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
/// The product type Amazon takes for offer-only changes (quantity, price)
/// of a listing whose catalogue product type is not known to us.
const AVAILABILITY_PRODUCT_TYPE: &str = "PRODUCT";
/// Default `getFeed` interval and longest wait for a listings feed.
pub const FEED_POLL_INTERVAL: Duration = Duration::from_secs(15);
pub const FEED_MAX_WAIT: Duration = Duration::from_secs(600);
/// Carrier codes Amazon knows, as it spells them; any other carrier is sent
/// as `Other` with its name.
const CARRIER_CODES: [&str; 12] = [
    "UPS",
    "USPS",
    "FedEx",
    "DHL",
    "OnTrac",
    "Amazon Shipping",
    "Royal Mail",
    "DPD",
    "GLS",
    "Hermes",
    "Canada Post",
    "Japan Post",
];

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
}

impl Operation {
    /// Documented default (rate per second, burst) (ordersV0.json,
    /// listingsItems_2021-08-01.json, feeds_2021-06-30.json).
    fn default_plan(self) -> (f64, f64) {
        match self {
            Operation::GetOrders => (0.0167, 20.0),
            Operation::GetOrder | Operation::GetOrderItems => (0.5, 30.0),
            Operation::ConfirmShipment => (2.0, 10.0),
            Operation::PatchListingsItem => (5.0, 5.0),
            Operation::CreateFeedDocument => (0.5, 15.0),
            Operation::CreateFeed => (0.0083, 15.0),
            Operation::GetFeed => (2.0, 15.0),
            Operation::GetFeedDocument => (0.0222, 10.0),
        }
    }
}

struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(op: Operation) -> Self {
        let (rate, burst) = op.default_plan();
        Bucket {
            rate,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    /// One token's time at the current rate.
    fn interval(&self) -> Duration {
        Duration::from_secs_f64((1.0 / self.rate).min(3600.0))
    }
}

#[derive(Deserialize)]
struct LwaAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct LwaRefusal {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

pub struct AmazonChannel {
    name: String,
    api: Url,
    lwa_url: Url,
    /// The urlencoded refresh-token grant form (holds secrets).
    lwa_form: String,
    marketplace_id: String,
    http: HttpClient,
    token: TokenCache,
    buckets: SyncMutex<HashMap<Operation, Bucket>>,
    /// Token requests sent, for tests and metrics.
    token_requests: SyncMutex<u64>,
    /// The selling partner id listings are addressed by; availability
    /// pushes are refused without it.
    seller_id: Option<String>,
    feed_polling: FeedPolling,
}

/// How `JSON_LISTINGS_FEED` processing is waited for.
#[derive(Debug, Clone, Copy)]
struct FeedPolling {
    interval: Duration,
    max_wait: Duration,
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

#[derive(Deserialize)]
struct Payload<T> {
    payload: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrdersPage {
    #[serde(default)]
    orders: Vec<Box<RawValue>>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderHead {
    amazon_order_id: String,
    last_update_date: String,
    order_status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ItemsPage {
    #[serde(default)]
    order_items: Vec<Box<RawValue>>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ItemHead {
    order_item_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MergedItems<'a> {
    amazon_order_id: &'a str,
    order_items: Vec<Box<RawValue>>,
}

#[derive(Serialize)]
struct Bundle<'a> {
    order: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<MergedItems<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationWire {
    #[serde(default)]
    notification_type: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    payload: NotificationPayload,
    notification_metadata: NotificationMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationPayload {
    order_change_notification: OrderChangeWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderChangeWire {
    amazon_order_id: String,
    #[serde(default)]
    order_change_trigger: Option<TriggerWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TriggerWire {
    #[serde(default)]
    time_of_order_change: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationMetadata {
    notification_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfirmShipmentRequest<'a> {
    marketplace_id: &'a str,
    package_detail: PackageDetail<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PackageDetail<'a> {
    package_reference_id: String,
    carrier_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    carrier_name: Option<&'a str>,
    tracking_number: &'a str,
    ship_date: String,
    order_items: Vec<ConfirmItem<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfirmItem<'a> {
    order_item_id: &'a str,
    quantity: u32,
}

/// The `packageReferenceId` sent for our package id. Amazon takes positive
/// numbers only: a package id that is one (digits, not all zero, at most 18
/// of them) is sent as it is; any other is mapped to a stable number in
/// 1..=2^53−1 from the first 8 bytes of its SHA-256 (the same package id
/// always gives the same number; two package ids of one order collide with
/// odds of about 1 in 2^53).
pub fn package_reference_id(package_id: &str) -> String {
    let id = package_id.trim();
    if !id.is_empty()
        && id.len() <= 18
        && id.bytes().all(|b| b.is_ascii_digit())
        && id.bytes().any(|b| b != b'0')
    {
        return id.trim_start_matches('0').to_owned();
    }
    let digest = Sha256::digest(package_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let max = (1u64 << 53) - 1;
    (u64::from_be_bytes(first) % max + 1).to_string()
}

/// Amazon's carrier code for a carrier name, or `Other`.
fn carrier_code(carrier: &str) -> &'static str {
    let c = carrier.trim();
    CARRIER_CODES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(c))
        .copied()
        .unwrap_or("Other")
}

/// Payment not authorized yet: Amazon withholds prices and address.
fn is_pending(status: &str) -> bool {
    matches!(status, "Pending" | "PendingAvailability")
}

fn unreadable(url: &Url, e: impl fmt::Display) -> ConnectorError {
    ConnectorError::transient(format!("unreadable answer from {url}: {e}"))
}

fn read_notification(body: &[u8]) -> Result<(String, String, i64), InputError> {
    let n: NotificationWire = parse_json(body)?;
    if let Some(t) = n.notification_type.as_deref()
        && t != "ORDER_CHANGE"
    {
        return Err(InputError::new(
            "NotificationType",
            format!("{t:?} is not ORDER_CHANGE"),
        ));
    }
    let id = n.notification_metadata.notification_id;
    if id.trim().is_empty() {
        return Err(InputError::new(
            "NotificationMetadata.NotificationId",
            "empty",
        ));
    }
    let change = n.payload.order_change_notification;
    if change.amazon_order_id.trim().is_empty() {
        return Err(InputError::new(
            "Payload.OrderChangeNotification.AmazonOrderId",
            "empty",
        ));
    }
    let version = match change
        .order_change_trigger
        .and_then(|t| t.time_of_order_change)
    {
        Some(t) => timestamp_ms(
            "Payload.OrderChangeNotification.OrderChangeTrigger.TimeOfOrderChange",
            &t,
        )?,
        None => timestamp_ms(
            "EventTime",
            n.event_time
                .as_deref()
                .ok_or_else(|| InputError::new("EventTime", "missing field"))?,
        )?,
    };
    Ok((id, change.amazon_order_id, version))
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
        })
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

    /// LWA token requests sent so far.
    pub fn token_requests(&self) -> u64 {
        *self.token_requests.lock().expect("not poisoned")
    }

    /// The current rate (requests per second) of an operation: the
    /// documented default until Amazon sent `x-amzn-RateLimit-Limit`.
    pub fn rate_limit(&self, op: Operation) -> f64 {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        buckets.entry(op).or_insert_with(|| Bucket::new(op)).rate
    }

    /// A valid access token: the cached one, or one fetched now (one fetch
    /// at a time; callers that find the token stale wait for it).
    async fn access_token(&self) -> Result<AccessToken, ConnectorError> {
        self.token.get(&self.name, || self.fetch_lwa_token()).await
    }

    /// One LWA exchange of the refresh token: `(access token, lifetime)`.
    async fn fetch_lwa_token(&self) -> Result<(HeaderValue, Option<Duration>), ConnectorError> {
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
    async fn take_token(&self, op: Operation, max_wait: Duration) -> Result<(), ConnectorError> {
        let wait = {
            let mut buckets = self.buckets.lock().expect("not poisoned");
            let bucket = buckets.entry(op).or_insert_with(|| Bucket::new(op));
            bucket.refill(Instant::now());
            bucket.tokens -= 1.0;
            if bucket.tokens >= 0.0 {
                return Ok(());
            }
            // Sent a little after our bucket allows: Amazon counts arrivals,
            // and network jitter can bring a request in earlier than its
            // slot relative to the one before.
            let wait = Duration::from_secs_f64(-bucket.tokens / bucket.rate)
                + bucket
                    .interval()
                    .mul_f64(PACING_MARGIN)
                    .min(MAX_PACING_MARGIN);
            if wait > max_wait {
                bucket.tokens += 1.0;
                return Err(ConnectorError::Throttled {
                    reason: format!(
                        "{op:?}: client-side rate limit of {} per second",
                        bucket.rate
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
    fn observe(&self, op: Operation, status: StatusCode, headers: &HeaderMap) -> Duration {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = buckets.entry(op).or_insert_with(|| Bucket::new(op));
        if let Some(rate) = headers
            .get(RATE_LIMIT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|r| r.is_finite() && *r > 0.0)
        {
            bucket.rate = rate;
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            bucket.refill(Instant::now());
            bucket.tokens = bucket.tokens.min(0.0);
        }
        bucket.interval()
    }

    /// One SP-API call: rate limit, token (again once if refused), and the
    /// answer of a 2xx, `None` for a 404.
    async fn call(
        &self,
        op: Operation,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.call_waiting(op, method, url, body, MAX_WAIT).await
    }

    /// [`Self::call`], waiting up to `max_wait` for the rate-limit token.
    async fn call_waiting(
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

    async fn get(&self, op: Operation, url: &Url) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.call(op, Method::GET, url, None).await
    }

    fn orders_url(&self) -> Url {
        endpoint(&self.api, &["orders", "v0", "orders"])
    }

    /// Every item of an order (`getOrderItems` with its `NextToken` pages),
    /// deduplicated by `OrderItemId`. `None` when Amazon does not know it.
    pub async fn fetch_order_items(
        &self,
        order_id: &str,
    ) -> Result<Option<Vec<Box<RawValue>>>, ConnectorError> {
        let base = endpoint(
            &self.api,
            &["orders", "v0", "orders", order_id, "orderItems"],
        );
        let mut url = base.clone();
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut sent: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let Some(body) = self.get(Operation::GetOrderItems, &url).await? else {
                return Ok(None);
            };
            let page: Payload<ItemsPage> =
                serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
            for item in page.payload.order_items {
                let head: ItemHead =
                    serde_json::from_str(item.get()).map_err(|e| unreadable(&url, e))?;
                if seen.insert(head.order_item_id) {
                    items.push(item);
                }
            }
            match page.payload.next_token.filter(|t| !t.is_empty()) {
                None => return Ok(Some(items)),
                Some(token) if sent.as_deref() == Some(token.as_str()) => {
                    tracing::warn!(channel = %self.name, order_id, "getOrderItems answered the NextToken it was sent; paging stops");
                    return Ok(Some(items));
                }
                Some(token) => {
                    url = base.clone();
                    url.query_pairs_mut().append_pair("NextToken", &token);
                    sent = Some(token);
                }
            }
        }
        Err(ConnectorError::rejected(format!(
            "getOrderItems pagination of {order_id} did not end after {MAX_PAGES} pages"
        )))
    }

    /// The bundle `map_message` accepts for an order document: items are
    /// read unless it is Pending or Canceled.
    async fn bundle(&self, order: &RawValue, head: &OrderHead) -> Result<Vec<u8>, ConnectorError> {
        let items = match head.order_status.as_str() {
            status if is_pending(status) || status == "Canceled" => None,
            _ => {
                let items = self
                    .fetch_order_items(&head.amazon_order_id)
                    .await?
                    .ok_or_else(|| {
                        ConnectorError::rejected(format!(
                            "Amazon does not know the items of order {}",
                            head.amazon_order_id
                        ))
                    })?;
                Some(MergedItems {
                    amazon_order_id: &head.amazon_order_id,
                    order_items: items,
                })
            }
        };
        serde_json::to_vec(&Bundle { order, items })
            .map_err(|e| ConnectorError::rejected(format!("cannot write bundle: {e}")))
    }

    /// The order as the bundle `map_message` accepts (`getOrder`, then
    /// `getOrderItems` unless it is Pending or Canceled). `None` when Amazon
    /// does not know the order.
    pub async fn fetch_order(&self, order_id: &str) -> Result<Option<Vec<u8>>, ConnectorError> {
        let url = endpoint(&self.api, &["orders", "v0", "orders", order_id]);
        Ok(self
            .fetch_order_and_head(&url)
            .await?
            .map(|(bundle, _)| bundle))
    }

    async fn fetch_order_and_head(
        &self,
        url: &Url,
    ) -> Result<Option<(Vec<u8>, OrderHead)>, ConnectorError> {
        let Some(body) = self.get(Operation::GetOrder, url).await? else {
            return Ok(None);
        };
        let order: Payload<Box<RawValue>> =
            serde_json::from_slice(&body).map_err(|e| unreadable(url, e))?;
        let head: OrderHead =
            serde_json::from_str(order.payload.get()).map_err(|e| unreadable(url, e))?;
        let bundle = self.bundle(&order.payload, &head).await?;
        Ok(Some((bundle, head)))
    }
}

#[derive(Deserialize)]
struct ListingsSubmission {
    status: String,
    #[serde(default)]
    issues: Vec<ListingsIssue>,
}

#[derive(Deserialize)]
struct ListingsIssue {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    severity: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedFeedDocument {
    feed_document_id: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreatedFeed {
    feed_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedStatus {
    processing_status: String,
    #[serde(default)]
    result_feed_document_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedDocumentLocation {
    url: String,
    #[serde(default)]
    compression_algorithm: Option<String>,
}

/// The parts of a listings feed processing report
/// (listings-feed-processing-report-schema-v2.json) the results come from.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessingReport {
    #[serde(default)]
    issues: Vec<ReportIssue>,
    #[serde(default)]
    summary: Option<ReportSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportIssue {
    #[serde(default)]
    message_id: Option<u64>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportSummary {
    #[serde(default)]
    messages_accepted: Option<u64>,
}

/// The `patches` that set a listing's merchant-fulfilled quantity.
fn availability_patches(quantity: i64) -> serde_json::Value {
    serde_json::json!([{
        "op": "replace",
        "path": "/attributes/fulfillment_availability",
        "value": [{ "fulfillment_channel_code": "DEFAULT", "quantity": quantity }],
    }])
}

/// `code: message` of each ERROR issue, joined.
fn issue_text<'a>(issues: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    issues
        .map(|(code, message)| {
            if code.is_empty() {
                message.to_owned()
            } else {
                format!("{code}: {message}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A per-SKU refusal found before anything is sent.
fn precheck(update: &AvailabilityUpdate) -> Option<AvailabilityOutcome> {
    if update.sku.trim().is_empty() {
        return Some(AvailabilityOutcome::Rejected {
            reason: "empty SKU".to_owned(),
        });
    }
    if update.quantity < 0 {
        return Some(AvailabilityOutcome::Rejected {
            reason: format!("quantity {} is negative", update.quantity),
        });
    }
    None
}

impl AmazonChannel {
    fn seller_id(&self) -> Result<&str, ConnectorError> {
        self.seller_id.as_deref().ok_or_else(|| {
            ConnectorError::rejected(format!(
                "Amazon channel {}: no seller id configured; availability needs it",
                self.name
            ))
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, ConnectorError> {
        serde_json::from_slice(body).map_err(|e| unreadable(url, e))
    }

    /// One `patchListingsItem` per SKU. Amazon answers 200 with `ACCEPTED` or
    /// `INVALID` and its issues; a 400 or 404 for one SKU is that SKU's
    /// refusal, not the batch's.
    async fn patch_availability(
        &self,
        seller: &str,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut results = Vec::with_capacity(updates.len());
        for update in updates {
            if let Some(outcome) = precheck(update) {
                results.push(AvailabilityResult {
                    sku: update.sku.clone(),
                    outcome,
                });
                continue;
            }
            let mut url = endpoint(
                &self.api,
                &["listings", "2021-08-01", "items", seller, &update.sku],
            );
            url.query_pairs_mut()
                .append_pair("marketplaceIds", &self.marketplace_id)
                .append_pair("issueLocale", "en_US");
            let body = serde_json::json!({
                "productType": AVAILABILITY_PRODUCT_TYPE,
                "patches": availability_patches(update.quantity),
            });
            let body = serde_json::to_vec(&body)
                .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
            let outcome = match self
                .call(
                    Operation::PatchListingsItem,
                    Method::PATCH,
                    &url,
                    Some(body),
                )
                .await
            {
                Ok(Some(answer)) => {
                    let submission: ListingsSubmission = Self::parse(&url, &answer)?;
                    if submission.status == "ACCEPTED" || submission.status == "VALID" {
                        AvailabilityOutcome::Accepted
                    } else {
                        let errors = submission
                            .issues
                            .iter()
                            .filter(|i| i.severity != "WARNING" && i.severity != "INFO")
                            .map(|i| (i.code.as_str(), i.message.as_str()));
                        let text = issue_text(errors);
                        AvailabilityOutcome::Rejected {
                            reason: if text.is_empty() {
                                format!("Amazon answered {}", submission.status)
                            } else {
                                text
                            },
                        }
                    }
                }
                Ok(None) => AvailabilityOutcome::Rejected {
                    reason: format!("Amazon has no listing for SKU {}", update.sku),
                },
                Err(ConnectorError::Rejected { reason }) => {
                    AvailabilityOutcome::Rejected { reason }
                }
                Err(e) => return Err(e),
            };
            results.push(AvailabilityResult {
                sku: update.sku.clone(),
                outcome,
            });
        }
        Ok(results)
    }

    /// One `JSON_LISTINGS_FEED`: createFeedDocument, upload to its presigned
    /// URL, createFeed, getFeed until it ends (at most the configured
    /// wait), then the processing report's issues per `messageId`.
    async fn feed_availability(
        &self,
        seller: &str,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut outcomes: Vec<Option<AvailabilityOutcome>> = updates.iter().map(precheck).collect();
        // messageId n (from 1) is the n-th update that passed the precheck.
        let sent: Vec<usize> = (0..updates.len())
            .filter(|i| outcomes[*i].is_none())
            .collect();
        if !sent.is_empty() {
            let messages: Vec<serde_json::Value> = sent
                .iter()
                .enumerate()
                .map(|(n, i)| {
                    serde_json::json!({
                        "messageId": n + 1,
                        "sku": updates[*i].sku,
                        "operationType": "PATCH",
                        "productType": AVAILABILITY_PRODUCT_TYPE,
                        "patches": availability_patches(updates[*i].quantity),
                    })
                })
                .collect();
            let feed = serde_json::json!({
                "header": { "sellerId": seller, "version": "2.0", "issueLocale": "en_US" },
                "messages": messages,
            });
            let report = self.run_feed(&feed).await?;
            let mut rejected: HashMap<u64, Vec<(&str, &str)>> = HashMap::new();
            let mut feed_level = Vec::new();
            for issue in report.issues.iter().filter(|i| i.severity == "ERROR") {
                let text = (issue.code.as_str(), issue.message.as_str());
                match issue.message_id {
                    Some(id) => rejected.entry(id).or_default().push(text),
                    None => feed_level.push(text),
                }
            }
            // An error about the feed as a whole refuses every message
            // unless the summary says some were accepted.
            let none_accepted = report
                .summary
                .as_ref()
                .and_then(|s| s.messages_accepted)
                .is_none_or(|n| n == 0);
            for (n, i) in sent.iter().enumerate() {
                let id = n as u64 + 1;
                outcomes[*i] = Some(match rejected.remove(&id) {
                    Some(issues) => AvailabilityOutcome::Rejected {
                        reason: issue_text(issues.into_iter()),
                    },
                    None if !feed_level.is_empty() && none_accepted => {
                        AvailabilityOutcome::Rejected {
                            reason: issue_text(feed_level.iter().copied()),
                        }
                    }
                    None => AvailabilityOutcome::Accepted,
                });
            }
        }
        Ok(updates
            .iter()
            .zip(outcomes)
            .map(|(u, outcome)| AvailabilityResult {
                sku: u.sku.clone(),
                outcome: outcome.unwrap_or(AvailabilityOutcome::Accepted),
            })
            .collect())
    }

    /// Submits a feed document and reads its processing report.
    async fn run_feed(&self, feed: &serde_json::Value) -> Result<ProcessingReport, ConnectorError> {
        let content = serde_json::to_vec(feed)
            .map_err(|e| ConnectorError::rejected(format!("cannot write feed: {e}")))?;
        let documents = endpoint(&self.api, &["feeds", "2021-06-30", "documents"]);
        let request = serde_json::to_vec(&serde_json::json!({ "contentType": FEED_CONTENT_TYPE }))
            .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
        let answer = self
            .call(
                Operation::CreateFeedDocument,
                Method::POST,
                &documents,
                Some(request),
            )
            .await?
            .ok_or_else(|| ConnectorError::rejected(format!("{documents}: HTTP 404")))?;
        let document: CreatedFeedDocument = Self::parse(&documents, &answer)?;
        self.upload(&document.url, content).await?;

        let feeds = endpoint(&self.api, &["feeds", "2021-06-30", "feeds"]);
        let request = serde_json::to_vec(&serde_json::json!({
            "feedType": LISTINGS_FEED,
            "marketplaceIds": [self.marketplace_id],
            "inputFeedDocumentId": document.feed_document_id,
        }))
        .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
        let answer = self
            .call(Operation::CreateFeed, Method::POST, &feeds, Some(request))
            .await?
            .ok_or_else(|| ConnectorError::rejected(format!("{feeds}: HTTP 404")))?;
        let created: CreatedFeed = Self::parse(&feeds, &answer)?;
        let feed_id = created.feed_id;

        let status_url = endpoint(&self.api, &["feeds", "2021-06-30", "feeds", &feed_id]);
        let polling = self.feed_polling;
        let started = Instant::now();
        let result_id = loop {
            let answer = self
                .get(Operation::GetFeed, &status_url)
                .await?
                .ok_or_else(|| {
                    ConnectorError::rejected(format!("Amazon does not know feed {feed_id}"))
                })?;
            let status: FeedStatus = Self::parse(&status_url, &answer)?;
            match status.processing_status.as_str() {
                "DONE" => {
                    break status.result_feed_document_id.ok_or_else(|| {
                        ConnectorError::transient(format!(
                            "feed {feed_id} is DONE without a result document"
                        ))
                    })?;
                }
                "FATAL" => {
                    let detail = match status.result_feed_document_id {
                        Some(id) => {
                            let report = self.read_report(&id).await?;
                            issue_text(
                                report
                                    .issues
                                    .iter()
                                    .map(|i| (i.code.as_str(), i.message.as_str())),
                            )
                        }
                        None => String::new(),
                    };
                    return Err(ConnectorError::rejected(format!(
                        "Amazon refused listings feed {feed_id} (FATAL): {detail}"
                    )));
                }
                "CANCELLED" => {
                    return Err(ConnectorError::transient(format!(
                        "listings feed {feed_id} was cancelled"
                    )));
                }
                other => {
                    if started.elapsed() + polling.interval > polling.max_wait {
                        // The feed may still apply; its quantities are absolute,
                        // so sending them again later is harmless.
                        return Err(ConnectorError::Transient {
                            reason: format!(
                                "listings feed {feed_id} still {other} after {:?}",
                                started.elapsed()
                            ),
                            retry_after: Some(polling.interval),
                        });
                    }
                    tokio::time::sleep(polling.interval).await;
                }
            }
        };
        self.read_report(&result_id).await
    }

    /// PUT to a presigned document URL: not an SP-API call (no token, no
    /// SP-API rate limit), signed for the declared content type.
    async fn upload(&self, url: &str, content: Vec<u8>) -> Result<(), ConnectorError> {
        let target = Url::parse(url)
            .map_err(|e| ConnectorError::transient(format!("unusable feed document URL: {e}")))?;
        let (status, _, body) = self
            .http
            .exchange_raw(
                Method::PUT,
                target,
                HeaderMap::new(),
                Some((FEED_CONTENT_TYPE, content)),
            )
            .await?;
        if status.is_success() {
            return Ok(());
        }
        // An expired or refused presigned URL: a new document is needed, so
        // the whole push is worth trying again.
        Err(ConnectorError::transient(format!(
            "feed document upload: HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&body).trim()
        )))
    }

    /// getFeedDocument for a result document, then its content.
    async fn read_report(&self, document_id: &str) -> Result<ProcessingReport, ConnectorError> {
        let url = endpoint(
            &self.api,
            &["feeds", "2021-06-30", "documents", document_id],
        );
        // The feed has been applied: waiting longer for this slow operation's
        // token beats sending the whole feed again.
        let answer = self
            .call_waiting(
                Operation::GetFeedDocument,
                Method::GET,
                &url,
                None,
                self.feed_polling.max_wait.max(MAX_WAIT),
            )
            .await?
            .ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "Amazon does not know feed document {document_id}"
                ))
            })?;
        let location: FeedDocumentLocation = Self::parse(&url, &answer)?;
        if let Some(algorithm) = location.compression_algorithm.filter(|a| !a.is_empty()) {
            return Err(ConnectorError::rejected(format!(
                "feed processing report {document_id} is {algorithm}-compressed, \
                 which is not supported"
            )));
        }
        let target = Url::parse(&location.url)
            .map_err(|e| ConnectorError::transient(format!("unusable report URL: {e}")))?;
        let (status, _, body) = self
            .http
            .exchange_raw(Method::GET, target.clone(), HeaderMap::new(), None)
            .await?;
        if !status.is_success() {
            return Err(ConnectorError::transient(format!(
                "feed processing report download: HTTP {}",
                status.as_u16()
            )));
        }
        Self::parse(&target, &body)
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
        let (id, order_id, version) = read_notification(body)?;
        Ok(InboundEnvelope {
            message_key: format!("amazon:notification:{id}"),
            external_order_id: order_id,
            source_version: version,
        })
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        match amazon_order_bundle(&self.name, body)? {
            AmazonOrder::Ready(order) => Ok(ChannelEvent::Order(order)),
            AmazonOrder::Canceled {
                external_id,
                source_version,
            } => Ok(ChannelEvent::Cancelled {
                external_order_id: external_id,
                source_version,
                reason: "canceled on Amazon".to_owned(),
            }),
            AmazonOrder::Pending {
                external_id,
                status,
                ..
            } => Ok(ChannelEvent::NotYet {
                external_order_id: external_id,
                reason: format!(
                    "{status}: Amazon withholds prices and address until payment is \
                     authorized; the order is taken once Unshipped"
                ),
            }),
        }
    }

    /// A notification is a trigger: the order is read again.
    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        let (_, order_id, _) = read_notification(delivered)
            .map_err(|e| ConnectorError::rejected(format!("stored Amazon notification: {e}")))?;
        let url = endpoint(&self.api, &["orders", "v0", "orders", &order_id]);
        // A Pending order comes back as it is and maps to `NotYet`.
        let Some((bundle, _)) = self.fetch_order_and_head(&url).await? else {
            return Err(ConnectorError::rejected(format!(
                "Amazon does not know order {order_id}"
            )));
        };
        Ok(Some(bundle))
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let since = DateTime::from_timestamp_millis(since_ms).ok_or_else(|| {
            ConnectorError::rejected(format!("poll time {since_ms} out of range"))
        })?;
        let before = Utc::now() - SETTLE;
        let after = since.min(before);
        let list = self.orders_url();
        let mut url = list.clone();
        url.query_pairs_mut().extend_pairs([
            ("MarketplaceIds", self.marketplace_id.as_str()),
            (
                "LastUpdatedAfter",
                &after.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
            (
                "LastUpdatedBefore",
                &before.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
            ("MaxResultsPerPage", PAGE_SIZE),
        ]);
        // (id, order, head) in first-seen order; a repeat keeps the latest.
        let mut orders: Vec<(Box<RawValue>, OrderHead, i64)> = Vec::new();
        let mut sent: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(ConnectorError::rejected(format!(
                    "getOrders pagination did not end after {MAX_PAGES} pages"
                )));
            }
            let body = self
                .get(Operation::GetOrders, &url)
                .await?
                .ok_or_else(|| ConnectorError::rejected(format!("{url}: HTTP 404")))?;
            let page: Payload<OrdersPage> =
                serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
            for raw in page.payload.orders {
                let head = match serde_json::from_str::<OrderHead>(raw.get())
                    .map_err(|e| InputError::new("Orders[]", e.to_string()))
                    .and_then(|h| {
                        timestamp_ms("LastUpdateDate", &h.last_update_date).map(|v| (h, v))
                    }) {
                    Ok(head) => head,
                    Err(error) => {
                        tracing::warn!(channel = %self.name, %error, "skipping unreadable polled order");
                        continue;
                    }
                };
                let (head, version) = head;
                match orders
                    .iter_mut()
                    .find(|(_, h, _)| h.amazon_order_id == head.amazon_order_id)
                {
                    Some(slot) if slot.2 >= version => {}
                    Some(slot) => *slot = (raw, head, version),
                    None => orders.push((raw, head, version)),
                }
            }
            match page.payload.next_token.filter(|t| !t.is_empty()) {
                None => break,
                Some(token) if sent.as_deref() == Some(token.as_str()) => {
                    tracing::warn!(channel = %self.name, "getOrders answered the NextToken it was sent; paging stops");
                    break;
                }
                Some(token) => {
                    // The token carries the filters; MarketplaceIds is required.
                    url = list.clone();
                    url.query_pairs_mut()
                        .append_pair("MarketplaceIds", &self.marketplace_id)
                        .append_pair("NextToken", &token);
                    sent = Some(token);
                }
            }
        }
        let mut out = Vec::with_capacity(orders.len());
        for (raw, head, version) in orders {
            if matches!(
                head.order_status.as_str(),
                "Pending" | "PendingAvailability"
            ) {
                tracing::debug!(channel = %self.name, order = %head.amazon_order_id, "pending order not taken yet");
                continue;
            }
            let body = self.bundle(&raw, &head).await?;
            out.push((
                InboundEnvelope {
                    message_key: format!("amazon:poll:{}:{version}", head.amazon_order_id),
                    external_order_id: head.amazon_order_id,
                    source_version: version,
                },
                body,
            ));
        }
        Ok(out)
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let shipment = &confirmation.shipment;
        let mut items: Vec<ConfirmItem<'_>> = Vec::new();
        for line in shipment.lines.iter().filter(|l| l.quantity > 0) {
            match items.iter_mut().find(|i| i.order_item_id == line.line_id) {
                Some(i) => i.quantity += line.quantity,
                None => items.push(ConfirmItem {
                    order_item_id: &line.line_id,
                    quantity: line.quantity,
                }),
            }
        }
        if items.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "shipment {} confirms no units",
                confirmation.package_id
            )));
        }
        let carrier = shipment.tracking.carrier.trim();
        let code = carrier_code(carrier);
        let tracking = shipment.tracking.number.trim();
        if tracking.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "shipment {}: Amazon requires a tracking number",
                confirmation.package_id
            )));
        }
        let reference = package_reference_id(&confirmation.package_id);
        let request = ConfirmShipmentRequest {
            marketplace_id: &self.marketplace_id,
            package_detail: PackageDetail {
                package_reference_id: reference.clone(),
                carrier_code: code,
                carrier_name: (code == "Other").then_some(if carrier.is_empty() {
                    "Other"
                } else {
                    carrier
                }),
                tracking_number: tracking,
                ship_date: shipment
                    .shipped_at
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                order_items: items,
            },
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
        let url = endpoint(
            &self.api,
            &[
                "orders",
                "v0",
                "orders",
                &confirmation.external_order_id,
                "shipmentConfirmation",
            ],
        );
        self.call(Operation::ConfirmShipment, Method::POST, &url, Some(body))
            .await?
            .ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "Amazon does not know order {}",
                    confirmation.external_order_id
                ))
            })?;
        Ok(reference)
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
        match cadence {
            AvailabilityCadence::Urgent => URGENT_BATCH,
            AvailabilityCadence::Batch => FEED_BATCH,
        }
    }

    /// `Urgent`: `patchListingsItem` per SKU; `Batch`: one
    /// `JSON_LISTINGS_FEED`. Quantities are absolute, so a resend is safe;
    /// `previous` is not compared (Amazon has no compare-and-set).
    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let limit = self.availability_batch_limit(cadence);
        if updates.len() > limit {
            return Err(ConnectorError::rejected(format!(
                "{} availability updates exceed the {cadence:?} limit of {limit}",
                updates.len()
            )));
        }
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let seller = self.seller_id()?;
        match cadence {
            AvailabilityCadence::Urgent => self.patch_availability(seller, updates).await,
            AvailabilityCadence::Batch => self.feed_availability(seller, updates).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_reference_ids_are_positive_numbers_and_stable() {
        assert_eq!(package_reference_id("42"), "42");
        assert_eq!(package_reference_id("0042"), "42");
        let derived = package_reference_id("pkg-WH1-000017");
        assert_eq!(derived, package_reference_id("pkg-WH1-000017"));
        assert_ne!(derived, package_reference_id("pkg-WH1-000018"));
        let n: u64 = derived.parse().unwrap();
        assert!((1..(1 << 53)).contains(&n));
        assert_ne!(package_reference_id("0"), "0");
    }

    #[test]
    fn carriers_map_to_codes() {
        assert_eq!(carrier_code("ups"), "UPS");
        assert_eq!(carrier_code(" FedEx "), "FedEx");
        assert_eq!(carrier_code("Acme Freight"), "Other");
    }

    #[test]
    fn notifications_give_their_envelope() {
        let body = br#"{"NotificationVersion":"1.0","NotificationType":"ORDER_CHANGE",
            "EventTime":"2020-01-11T00:09:53.109Z",
            "Payload":{"OrderChangeNotification":{"AmazonOrderId":"903-8868176-2219830",
              "OrderChangeTrigger":{"TimeOfOrderChange":"2022-11-29T19:42:04.284Z"}}},
            "NotificationMetadata":{"NotificationId":"n-1"}}"#;
        let (id, order, version) = read_notification(body).unwrap();
        assert_eq!(
            (id.as_str(), order.as_str()),
            ("n-1", "903-8868176-2219830")
        );
        assert_eq!(version, 1_669_750_924_284);
        let bad = br#"{"Payload":{"OrderChangeNotification":{"AmazonOrderId":"x"}},"NotificationMetadata":{}}"#;
        assert!(read_notification(bad).is_err());
    }
}
