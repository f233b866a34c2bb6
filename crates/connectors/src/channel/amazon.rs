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
//!   reads the order (`getOrder` + `getOrderItems`) into the same bundle;
//!   while the order is Pending it answers `Transient` with a retry after
//!   [`PENDING_RETRY`], so the engine tries the message again instead of
//!   raising a mapping exception for every new order (new orders start
//!   Pending, and Amazon notifies again when they turn Unshipped).
//! - **`map_message`**: a Ready order is `ChannelEvent::Order`, a Canceled one
//!   `ChannelEvent::Cancelled`; a Pending one is refused (`OrderStatus`), to
//!   be taken again once Unshipped (by a later notification or the poll).
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
//!   `x-amzn-RateLimit-Limit` Amazon sends. A call waits for its token when
//!   that takes at most [`MAX_WAIT`], else comes back `Throttled` unsent. A
//!   429 is `Throttled` with its `Retry-After`, else one token's time at the
//!   operation's rate.

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
use crate::input::{parse_json, timestamp_ms, under};
use crate::{
    Channel, ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError,
    ShipConfirmation,
};

const ACCESS_TOKEN_HEADER: &str = "x-amz-access-token";
const RATE_LIMIT_HEADER: &str = "x-amzn-ratelimit-limit";
/// `LastUpdatedBefore` must be at least this long before now.
const SETTLE: chrono::Duration = chrono::Duration::minutes(2);
const PAGE_SIZE: &str = "100";
const MAX_PAGES: usize = 1_000;
/// Longest a call waits for its rate-limit token before it is refused unsent.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Used when LWA gives no `expires_in` (its tokens live an hour).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// When a notification about a Pending order is tried again.
pub const PENDING_RETRY: Duration = Duration::from_secs(300);
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
}

impl Operation {
    /// Documented default (rate per second, burst) (ordersV0.json).
    fn default_plan(self) -> (f64, f64) {
        match self {
            Operation::GetOrders => (0.0167, 20.0),
            Operation::GetOrder | Operation::GetOrderItems => (0.5, 30.0),
            Operation::ConfirmShipment => (2.0, 10.0),
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
        })
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

    /// Takes a token from the operation's bucket, waiting up to [`MAX_WAIT`].
    async fn take_token(&self, op: Operation) -> Result<(), ConnectorError> {
        let wait = {
            let mut buckets = self.buckets.lock().expect("not poisoned");
            let bucket = buckets.entry(op).or_insert_with(|| Bucket::new(op));
            bucket.refill(Instant::now());
            bucket.tokens -= 1.0;
            if bucket.tokens >= 0.0 {
                return Ok(());
            }
            let wait = Duration::from_secs_f64(-bucket.tokens / bucket.rate);
            if wait > MAX_WAIT {
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
        let mut retried = false;
        loop {
            self.take_token(op).await?;
            let token = self.access_token().await?;
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
            AmazonOrder::Pending { status, .. } => Err(under("order")(InputError::new(
                "OrderStatus",
                format!(
                    "{status}: Amazon withholds prices and address until payment is \
                     authorized; the order is taken once Unshipped"
                ),
            ))),
        }
    }

    /// A notification is a trigger: the order is read again.
    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        let (_, order_id, _) = read_notification(delivered)
            .map_err(|e| ConnectorError::rejected(format!("stored Amazon notification: {e}")))?;
        let url = endpoint(&self.api, &["orders", "v0", "orders", &order_id]);
        let Some((bundle, head)) = self.fetch_order_and_head(&url).await? else {
            return Err(ConnectorError::rejected(format!(
                "Amazon does not know order {order_id}"
            )));
        };
        if is_pending(&head.order_status) {
            // Nothing to take yet: tried again later, when it may be Unshipped.
            return Err(ConnectorError::Transient {
                reason: format!(
                    "Amazon order {order_id} is {}: taken once Unshipped",
                    head.order_status
                ),
                retry_after: Some(PENDING_RETRY),
            });
        }
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
