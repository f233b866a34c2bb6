//! The Marketplace API plumbing (options, client-credentials token, correlation ids, the per-operation rate budget from Walmart's headers) and the `impl Channel` that hands each job to its file.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crossdock_model::{Clock, SystemClock};

use crate::auth::{AccessToken, TokenCache};
use crate::http::{base_url, check, endpoint};
use crate::pacing::RateBudget;
use crate::{
    Acknowledgement, AvailabilityCadence, AvailabilityResult, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

/// Walmart's production API.
pub const DEFAULT_ENDPOINT: &str = "https://marketplace.walmartapis.com";
/// Sent as `WM_SVC.NAME` when none is configured.
pub const DEFAULT_SERVICE_NAME: &str = "Walmart Marketplace";

pub(super) const ACCESS_TOKEN_HEADER: HeaderName = HeaderName::from_static("wm_sec.access_token");
pub(super) const SERVICE_NAME_HEADER: HeaderName = HeaderName::from_static("wm_svc.name");
pub(super) const CORRELATION_ID_HEADER: HeaderName =
    HeaderName::from_static("wm_qos.correlation_id");
pub(super) const TOKEN_COUNT_HEADER: &str = "x-current-token-count";
pub(super) const REPLENISH_HEADERS: [&str; 2] =
    ["x-next-replenishment-time", "x-next-replenish-time"];
pub(super) const JSON: &str = "application/json";
pub(super) const FORM: &str = "application/x-www-form-urlencoded";

/// Used when a 429 carries neither `Retry-After` nor a replenish time.
pub(super) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long a batch push waits for its feed to be processed by default.
pub const DEFAULT_FEED_WAIT: Duration = Duration::from_secs(120);
/// The longest a push waits for a spent budget to replenish before it
/// gives up as `Throttled`.
pub const MAX_PACING_WAIT: Duration = Duration::from_secs(5);

/// How to reach one Walmart seller account.
#[derive(Clone)]
pub struct WalmartOptions {
    /// The channel's name in the hub.
    pub name: String,
    /// [`DEFAULT_ENDPOINT`], or a mock; `/v3/…` is appended.
    pub endpoint: String,
    pub client_id: String,
    pub client_secret: String,
    /// Sent as `WM_SVC.NAME`.
    pub service_name: String,
    /// The exact `Authorization` header value webhook deliveries must carry
    /// (the destination's `BASIC_AUTH`); `None` accepts any delivery.
    pub webhook_authorization: Option<String>,
    /// How long a batch availability push waits for its inventory feed to
    /// be processed ([`DEFAULT_FEED_WAIT`]).
    pub feed_wait: Duration,
}

impl WalmartOptions {
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        WalmartOptions {
            name: name.into(),
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            webhook_authorization: None,
            feed_wait: DEFAULT_FEED_WAIT,
        }
    }
}

impl fmt::Debug for WalmartOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalmartOptions")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("service_name", &self.service_name)
            .field(
                "webhook_authorization",
                &self.webhook_authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("feed_wait", &self.feed_wait)
            .finish()
    }
}

pub struct WalmartChannel {
    pub(super) name: String,
    pub(super) api: Url,
    pub(super) http: HttpClient,
    pub(super) client_id: String,
    pub(super) client_secret: String,
    pub(super) service_name: HeaderValue,
    pub(super) webhook_authorization: Option<Vec<u8>>,
    pub(super) token: TokenCache,
    pub(super) budgets: std::sync::Mutex<HashMap<&'static str, RateBudget>>,
    /// Operations Walmart has answered since this process started.
    pub(super) first_answers: crate::pacing::FirstAnswers,
    pub(super) feed_wait: Duration,
    /// What a replenish time is compared with.
    pub(super) clock: Arc<dyn Clock>,
    /// 429s Walmart answered, for the hub's metrics.
    pub(super) throttled: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for WalmartChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalmartChannel")
            .field("name", &self.name)
            .field("api", &self.api.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
pub(super) struct TokenAnswer {
    pub(super) access_token: String,
    #[serde(default)]
    pub(super) expires_in: Option<serde_json::Value>,
}

/// The descriptions of Walmart's error body (`{"errors":{"error":[…]}}`
/// or `{"error":[…]}`), or the body's text.
pub(super) fn walmart_message(status: StatusCode, body: &[u8]) -> String {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(300)
            .collect::<String>()
    };
    let described = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let list = v
                .pointer("/errors/error")
                .or_else(|| v.get("error"))
                .and_then(serde_json::Value::as_array)?
                .iter()
                .filter_map(|e| {
                    let description = e.get("description")?.as_str()?;
                    Some(match e.get("code").and_then(serde_json::Value::as_str) {
                        Some(code) => format!("{code}: {description}"),
                        None => description.to_owned(),
                    })
                })
                .collect::<Vec<_>>();
            (!list.is_empty()).then(|| list.join("; "))
        });
    format!(
        "Walmart HTTP {}: {}",
        status.as_u16(),
        described.unwrap_or_else(text)
    )
}

/// A fresh `WM_QOS.CORRELATION_ID`: a UUID v4 from a hash of the time, the
/// process and a counter (unique per call; not a secret).
pub(super) fn correlation_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // A seed for uniqueness, not a time the channel acts on: the clock
    // (which a test may stand still) would not do.
    #[allow(clippy::disallowed_methods)]
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hash = Sha256::new();
    hash.update(std::process::id().to_le_bytes());
    hash.update(nanos.to_le_bytes());
    hash.update(n.to_le_bytes());
    hash.update((&COUNTER as *const AtomicU64 as usize).to_le_bytes());
    let digest = hash.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An epoch time in ms, given in ms or in seconds.
pub(super) fn epoch_ms(value: i64) -> i64 {
    if value.abs() < 100_000_000_000 {
        value.saturating_mul(1_000)
    } else {
        value
    }
}

pub(super) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

pub(super) fn replenish_at(headers: &HeaderMap) -> Option<i64> {
    REPLENISH_HEADERS
        .iter()
        .find_map(|h| header_str(headers, h)?.parse::<i64>().ok())
        .map(epoch_ms)
}

impl WalmartChannel {
    pub fn new(options: WalmartOptions, http: HttpClient) -> Result<Self, ConnectorError> {
        let WalmartOptions {
            name,
            endpoint,
            client_id,
            client_secret,
            service_name,
            webhook_authorization,
            feed_wait,
        } = options;
        if client_id.is_empty() || client_secret.is_empty() {
            return Err(ConnectorError::rejected(
                "Walmart client_id and client_secret must not be empty",
            ));
        }
        let service_name = HeaderValue::from_str(&service_name).map_err(|_| {
            ConnectorError::rejected("Walmart service name is not a valid header value")
        })?;
        if webhook_authorization.as_deref().is_some_and(str::is_empty) {
            return Err(ConnectorError::rejected(
                "Walmart webhook authorization must not be empty when given",
            ));
        }
        Ok(WalmartChannel {
            name,
            api: base_url(&endpoint)?,
            http,
            client_id,
            client_secret,
            service_name,
            webhook_authorization: webhook_authorization.map(String::into_bytes),
            token: TokenCache::default(),
            budgets: std::sync::Mutex::new(HashMap::new()),
            first_answers: crate::pacing::FirstAnswers::default(),
            feed_wait,
            clock: Arc::new(SystemClock),
            throttled: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The same channel taking time from `clock` (the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(super) fn url(&self, segments: &[&str]) -> Url {
        endpoint(&self.api, segments)
    }

    /// What Walmart's last answer to `operation` (`getAllOrders`,
    /// `getAnOrder`, `acknowledgeOrders`, `shippingUpdates`,
    /// `cancelOrderLines`, `tokenAPI`) said about its rate limit.
    pub fn rate_budget(&self, operation: &str) -> Option<RateBudget> {
        self.budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(operation)
            .copied()
    }

    /// 429s Walmart answered so far.
    pub fn throttled_responses(&self) -> u64 {
        self.throttled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Logs and counts a 429: Walmart's refusals used to go unseen.
    pub(super) fn note_throttled(&self, operation: &'static str, headers: &HeaderMap) {
        self.throttled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            channel = %self.name,
            operation,
            retry_after = ?headers.get(RETRY_AFTER),
            replenish_at_ms = ?replenish_at(headers),
            "Walmart refused a call with 429."
        );
    }

    pub(super) fn record_budget(&self, operation: &'static str, headers: &HeaderMap) {
        let remaining = header_str(headers, TOKEN_COUNT_HEADER).and_then(|v| v.parse().ok());
        let replenish_at_ms = replenish_at(headers);
        if remaining.is_none() && replenish_at_ms.is_none() {
            return;
        }
        tracing::debug!(channel = %self.name, operation, ?remaining, ?replenish_at_ms, "Walmart rate budget");
        self.budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                operation,
                RateBudget {
                    remaining,
                    replenish_at_ms,
                },
            );
    }

    /// Refuses, unsent, a call whose budget is known spent until later.
    pub(super) fn check_budget(&self, operation: &'static str) -> Result<(), ConnectorError> {
        let Some(budget) = self.rate_budget(operation) else {
            return Ok(());
        };
        if let Some((at, wait)) = budget.spent_for(self.clock.now_ms()) {
            return Err(ConnectorError::Throttled {
                reason: format!(
                    "Walmart {operation}: no calls left until {at} (X-Next-Replenishment-Time); not sent"
                ),
                retry_after: wait,
            });
        }
        Ok(())
    }

    pub(super) fn base_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SERVICE_NAME_HEADER, self.service_name.clone());
        headers.insert(
            CORRELATION_ID_HEADER,
            HeaderValue::from_str(&correlation_id()).expect("a UUID is a header value"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static(JSON));
        headers
    }

    /// A token fresh enough to send: the cached one, or a newly fetched one.
    pub(super) async fn token(&self) -> Result<AccessToken, ConnectorError> {
        self.token.get(&self.name, || self.fetch_token()).await
    }

    pub(super) async fn fetch_token(
        &self,
    ) -> Result<(HeaderValue, Option<Duration>), ConnectorError> {
        let url = self.url(&["v3", "token"]);
        let about = |reason: String| format!("Walmart token endpoint {url}: {reason}");
        let mut headers = self.base_headers();
        let basic = BASE64.encode(format!("{}:{}", self.client_id, self.client_secret));
        let mut auth = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
            ConnectorError::rejected("Walmart client credentials do not fit a header")
        })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let (status, answer_headers, body) = self
            .http
            .exchange_raw(
                Method::POST,
                url.clone(),
                headers,
                Some((FORM, b"grant_type=client_credentials".to_vec())),
            )
            .await?;
        self.record_budget("tokenAPI", &answer_headers);
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.note_throttled("tokenAPI", &answer_headers);
        }
        if matches!(
            status,
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Err(ConnectorError::Unauthorized {
                reason: about(format!(
                    "refused the client credentials: HTTP {}: {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                )),
            });
        }
        let body = self.finish(status, &answer_headers, body)?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| ConnectorError::transient(about(format!("unreadable answer: {e}"))))?;
        if answer.access_token.is_empty() {
            return Err(ConnectorError::Unauthorized {
                reason: about("issued an empty access token".into()),
            });
        }
        let mut value = HeaderValue::from_str(&answer.access_token).map_err(|_| {
            ConnectorError::Unauthorized {
                reason: about("issued an access token that cannot be sent in a header".into()),
            }
        })?;
        value.set_sensitive(true);
        let lifetime = match &answer.expires_in {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        }
        .map(Duration::from_secs);
        if answer.expires_in.is_some() && lifetime.is_none() {
            return Err(ConnectorError::transient(about(
                "answered an unreadable expires_in".into(),
            )));
        }
        Ok((value, lifetime))
    }

    /// One API call with Walmart's headers; a 401 drops the token and the
    /// call is made once more with a new one. Every answer comes back as is.
    pub(super) async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        self.call_typed(operation, method, url, body.map(|b| (JSON, b)))
            .await
    }

    /// [`Self::call`] with a body of any content type.
    pub(super) async fn call_typed(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), ConnectorError> {
        // Until an operation's first answer its calls go one at a time: a
        // hub that has just started may follow one that spent the budget
        // moments ago, and only an answer's headers tell.
        let _probe = self.first_answers.turn(operation).await;
        self.check_budget(operation)?;
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut headers = self.base_headers();
            headers.insert(ACCESS_TOKEN_HEADER, token.header());
            let (status, answer_headers, answer) = self
                .http
                .exchange_raw(method.clone(), url.clone(), headers, body.clone())
                .await?;
            self.record_budget(operation, &answer_headers);
            self.first_answers.answered(operation);
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.note_throttled(operation, &answer_headers);
            }
            if status == StatusCode::UNAUTHORIZED && !retried {
                self.token.refused(&self.name, &token).await;
                retried = true;
                continue;
            }
            return Ok((status, answer_headers, answer));
        }
    }

    /// A 2xx body, or the error the status means; a 429 without
    /// `Retry-After` waits for the replenish time.
    pub(super) fn finish(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, ConnectorError> {
        check(status, Some(headers), body).map_err(|e| match e {
            ConnectorError::Throttled {
                reason,
                retry_after,
            } if headers.get(RETRY_AFTER).is_none() => ConnectorError::Throttled {
                reason,
                retry_after: replenish_at(headers)
                    .map(|at| at - self.clock.now_ms())
                    .filter(|wait| *wait > 0)
                    .map_or(retry_after.max(DEFAULT_RETRY_AFTER), |w| {
                        Duration::from_millis(w.unsigned_abs())
                    }),
            },
            other => other,
        })
    }

    pub(super) async fn call_ok(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let (status, headers, answer) = self.call(operation, method, url, body).await?;
        self.finish(status, &headers, answer)
    }
}

impl WalmartChannel {
    /// Waits for `operation`'s budget when Walmart said it is spent until a
    /// replenish time at most [`MAX_PACING_WAIT`] away; a longer wait is
    /// left to [`Self::check_budget`], which refuses as `Throttled`.
    pub(super) async fn pace(&self, operation: &'static str) {
        let Some((_, wait)) = self
            .rate_budget(operation)
            .and_then(|b| b.spent_for(self.clock.now_ms()))
        else {
            return;
        };
        if wait <= MAX_PACING_WAIT {
            tracing::debug!(channel = %self.name, operation, ?wait, "waiting for Walmart's rate budget");
            tokio::time::sleep(wait).await;
        }
    }
}

#[async_trait]
impl Channel for WalmartChannel {
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

    /// A purchase order (bare, as polled or refetched, or `{"order": …}`).
    /// A PO whose every unit is cancelled is [`ChannelEvent::Cancelled`].
    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        self.order_event(body)
    }

    /// A notification is a trigger: the PO is read from the API. A PO
    /// Walmart does not know is refused.
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
        WalmartChannel::throttled_responses(self)
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        self.confirm_shipping(confirmation).await
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.find_shipping(external_order_id, package_id).await
    }

    /// Walmart cancels a purchase order left unacknowledged for hours.
    fn acknowledges_orders(&self) -> bool {
        true
    }

    /// `POST /v3/orders/{purchaseOrderId}/acknowledge`.
    async fn acknowledge_order(
        &self,
        external_order_id: &str,
    ) -> Result<Acknowledgement, ConnectorError> {
        self.acknowledge(external_order_id).await?;
        Ok(Acknowledgement::Acknowledged)
    }

    /// The PO read back: acknowledged when no line has units still `Created`.
    async fn find_acknowledgement(
        &self,
        external_order_id: &str,
    ) -> Result<Option<Acknowledgement>, ConnectorError> {
        self.find_acknowledged(external_order_id).await
    }

    fn availability_batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        self.batch_limit(cadence)
    }

    /// Urgent: one `PUT /v3/inventory` per SKU. Batch: one bulk inventory
    /// feed, awaited. A 429, an auth failure or a transport error fails the
    /// call (quantities are absolute: the whole batch may be sent again).
    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        self.push_availability(updates, cadence).await
    }

    /// Reconciliation reports dated since a week before `since_ms`'s day,
    /// oldest first.
    async fn settlements_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<crate::SettlementDocument>, ConnectorError> {
        self.fetch_recon_reports(since_ms).await
    }
}
