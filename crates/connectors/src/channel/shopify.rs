//! The Shopify Admin REST channel (API version pinned per shop, default
//! `2025-07`).
//!
//! - **Webhooks** (`orders/create`, `orders/updated`, `orders/cancelled`) are
//!   verified against `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(webhook
//!   secret, raw body)) in constant time before the body is read. The dedupe
//!   key is `shopify:<X-Shopify-Event-Id>`. Shopify retries carry the original
//!   payload, so a webhook is a trigger: [`ShopifyChannel::fetch_order`]
//!   reads the current order.
//! - **Ids** stay the JSON text Shopify sent (they exceed 2^53).
//! - **Poll**: `orders.json?status=any&updated_at_min=…&limit=250`, then the
//!   `Link: <…>; rel="next"` cursor. Only its `page_info` is taken (verbatim),
//!   and the next page is asked of our own shop URL, so the access token never
//!   goes to a host named by a response.
//! - **Shipment confirmations** are fulfillments of the order's open
//!   fulfillment orders, one `POST fulfillments.json` per location. Shopify
//!   keeps no external id on a fulfillment, so a package is recognised by what
//!   it carries:
//!   - the tracking number is the carrier's; a package without one is sent
//!     with our package id as its tracking number (no carrier is named);
//!   - `confirm_shipment` first reads `orders/{id}/fulfillments.json`: units
//!     already fulfilled under the same tracking number are not sent again
//!     (a resend after a lost answer, or after one location of several went
//!     through), and when nothing is left it returns the existing ids;
//!   - `find_shipment_confirmation` finds fulfillments whose tracking number is
//!     the package id, i.e. untracked packages. A tracked package is not found
//!     there; the engine then resends and the resend is recognised above.
//!
//!   Limit: two packages of ours with the same tracking number and the same
//!   lines look like one resend; the second is then not confirmed.
//! - A 429 comes back as [`ConnectorError::Throttled`] with its `Retry-After`.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat};
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LINK};
use reqwest::{Method, Url};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::channel::polled_order;
use crate::channel::shopify_mapping::shopify_order;
use crate::http::{base_url, endpoint};
use crate::input::{JsonId, parse_json, timestamp, timestamp_ms, under};
use crate::{
    Channel, ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError,
    ShipConfirmation,
};

/// The Admin API version used when none is configured.
pub const DEFAULT_API_VERSION: &str = "2025-07";

const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
const EVENT_ID_HEADER: &str = "X-Shopify-Event-Id";
const TOPIC_HEADER: &str = "X-Shopify-Topic";
const ACCESS_TOKEN_HEADER: &str = "x-shopify-access-token";
const TOPICS: [&str; 3] = ["orders/create", "orders/updated", "orders/cancelled"];
/// Shopify's largest page.
const PAGE_LIMIT: &str = "250";
/// Shopify stops paginating at 25 000 objects (100 pages of 250); a cursor
/// that runs past this is broken.
const MAX_PAGES: usize = 1_000;
/// Fulfillment order statuses that accept a fulfillment.
const FULFILLABLE: [&str; 2] = ["open", "in_progress"];
/// Fulfillment statuses that did not (or no longer) fulfil anything.
const DEAD_FULFILLMENT: [&str; 3] = ["cancelled", "error", "failure"];

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
    name: String,
    /// `{shop_url}/admin/api/{api_version}`.
    api: Url,
    http: HttpClient,
    webhook_secret: Vec<u8>,
}

impl fmt::Debug for ShopifyChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopifyChannel")
            .field("name", &self.name)
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct EnvelopeWire {
    id: JsonId,
    updated_at: String,
}

#[derive(Debug, Deserialize)]
struct StateWire {
    id: JsonId,
    updated_at: String,
    #[serde(default)]
    cancelled_at: Option<String>,
    #[serde(default)]
    cancel_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WrapProbe {
    #[serde(default)]
    order: Option<Box<RawValue>>,
    #[serde(default)]
    line_items: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct OrderResponse {
    order: Box<RawValue>,
}

#[derive(Debug, Deserialize)]
struct OrdersPage {
    orders: Vec<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentOrdersWire {
    fulfillment_orders: Vec<FulfillmentOrderWire>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentOrderWire {
    id: JsonId,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    assigned_location_id: Option<JsonId>,
    #[serde(default)]
    line_items: Vec<FulfillmentOrderLineWire>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentOrderLineWire {
    id: JsonId,
    line_item_id: JsonId,
    #[serde(default)]
    fulfillable_quantity: i64,
}

#[derive(Debug, Deserialize)]
struct FulfillmentsWire {
    fulfillments: Vec<FulfillmentWire>,
}

#[derive(Debug, Deserialize)]
struct FulfillmentWire {
    id: JsonId,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    tracking_number: Option<String>,
    #[serde(default)]
    tracking_numbers: Vec<String>,
    #[serde(default)]
    line_items: Vec<FulfilledLineWire>,
}

#[derive(Debug, Deserialize)]
struct FulfilledLineWire {
    /// The order's line item id.
    id: JsonId,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
struct CreatedFulfillmentWire {
    fulfillment: CreatedFulfillment,
}

#[derive(Debug, Deserialize)]
struct CreatedFulfillment {
    id: JsonId,
}

#[derive(Debug, Serialize)]
struct FulfillmentRequest<'a> {
    fulfillment: FulfillmentBody<'a>,
}

#[derive(Debug, Serialize)]
struct FulfillmentBody<'a> {
    line_items_by_fulfillment_order: Vec<ByFulfillmentOrder>,
    tracking_info: TrackingInfo<'a>,
    notify_customer: bool,
}

#[derive(Debug, Serialize)]
struct ByFulfillmentOrder {
    fulfillment_order_id: Box<RawValue>,
    fulfillment_order_line_items: Vec<FulfillmentOrderLineItem>,
}

#[derive(Debug, Serialize)]
struct FulfillmentOrderLineItem {
    id: Box<RawValue>,
    quantity: u32,
}

#[derive(Debug, Serialize)]
struct TrackingInfo<'a> {
    number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

/// A Shopify id back in JSON: a whole number as a number (exact, from its
/// text), anything else as a string.
fn id_json(id: &str) -> Box<RawValue> {
    let text = if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        id.to_owned()
    } else {
        serde_json::Value::String(id.to_owned()).to_string()
    };
    RawValue::from_string(text).expect("valid JSON")
}

/// A webhook header under its `X-Shopify-` name or the newer `Shopify-` one.
fn shopify_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, InputError> {
    let short = name.trim_start_matches("X-");
    let Some(value) = headers.get(name).or_else(|| headers.get(short)) else {
        return Ok(None);
    };
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| InputError::new(name, "not visible ASCII"))
}

fn required_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, InputError> {
    match shopify_header(headers, name)? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(InputError::new(name, "missing")),
    }
}

/// Reads the order object of a bare order (webhook body) or of
/// `{"order": {...}}` (REST answer); errors in the latter read `order.<field>`.
/// Returns the path prefix for errors found in the object later.
fn order_part<T: DeserializeOwned>(body: &[u8]) -> Result<(T, &'static str), InputError> {
    let probe: WrapProbe = parse_json(body)?;
    match probe.order {
        Some(order) if probe.line_items.is_none() => parse_json(order.get().as_bytes())
            .map(|t| (t, "order"))
            .map_err(under("order")),
        _ => parse_json(body).map(|t| (t, "")),
    }
}

fn read_envelope(body: &[u8]) -> Result<(String, i64), InputError> {
    let (wire, at): (EnvelopeWire, _) = order_part(body)?;
    let version = timestamp_ms("updated_at", &wire.updated_at).map_err(under(at))?;
    Ok((wire.id.0, version))
}

/// `page_info` of the `rel="next"` entry of `Link` headers, verbatim.
fn next_page_info(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(LINK) {
        let Ok(text) = value.to_str() else { continue };
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>').map(|c| open + c) else {
                break;
            };
            let target = &rest[open + 1..close];
            let params_end = rest[close..].find('<').map_or(rest.len(), |n| close + n);
            let params = &rest[close + 1..params_end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                p.strip_prefix("rel=")
                    .map(|r| r.trim_matches('"').split_whitespace().any(|r| r == "next"))
                    .unwrap_or(false)
            });
            if is_next {
                let query = target.split_once('?')?.1;
                let query = query.split('#').next().unwrap_or(query);
                return query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("page_info="))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned);
            }
            rest = &rest[params_end..];
        }
    }
    None
}

fn unreadable(url: &Url, e: impl fmt::Display) -> ConnectorError {
    // A 2xx we cannot read: in doubt, as HttpClient treats it.
    ConnectorError::transient(format!("unreadable answer from {url}: {e}"))
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
        let api = endpoint(&base_url(&shop_url)?, &["admin", "api", &api_version]);
        Ok(ShopifyChannel {
            name,
            api,
            http: http.with_header(HeaderName::from_static(ACCESS_TOKEN_HEADER), token),
            webhook_secret: webhook_secret.into_bytes(),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        endpoint(&self.api, segments)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), InputError> {
        let given = required_header(headers, HMAC_HEADER)
            .map_err(|e| InputError::unauthenticated(e.path, e.message))?;
        let mismatch = || InputError::unauthenticated(HMAC_HEADER, "signature does not match");
        let given = BASE64.decode(given).map_err(|_| mismatch())?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.webhook_secret)
            .expect("HMAC takes a key of any length");
        mac.update(body);
        mac.verify_slice(&given).map_err(|_| mismatch())
    }

    /// The current order (`GET orders/{id}.json`): the raw bytes of its
    /// `order` object, which [`Channel::map_message`] accepts. `None` when
    /// Shopify does not know the order (404).
    pub async fn fetch_order(
        &self,
        external_order_id: &str,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let url = self.url(&["orders", &format!("{external_order_id}.json")]);
        let answer: Option<OrderResponse> = self.http.get_json_opt(&url, &[]).await?;
        Ok(answer.map(|a| a.order.get().as_bytes().to_vec()))
    }

    /// The order's fulfillments that stand (not cancelled or failed).
    async fn live_fulfillments(
        &self,
        external_order_id: &str,
    ) -> Result<Option<Vec<FulfillmentWire>>, ConnectorError> {
        let url = self.url(&["orders", external_order_id, "fulfillments.json"]);
        let answer: Option<FulfillmentsWire> = self.http.get_json_opt(&url, &[]).await?;
        Ok(answer.map(|a| {
            a.fulfillments
                .into_iter()
                .filter(|f| {
                    !f.status
                        .as_deref()
                        .is_some_and(|s| DEAD_FULFILLMENT.contains(&s))
                })
                .collect()
        }))
    }

    async fn post_fulfillments(
        &self,
        external_order_id: &str,
        needed: &[(String, u32)],
        tracking: &TrackingInfo<'_>,
    ) -> Result<Vec<String>, ConnectorError> {
        let url = self.url(&["orders", external_order_id, "fulfillment_orders.json"]);
        let orders: FulfillmentOrdersWire = self.http.get_json(&url, &[]).await?;
        // (location, [(fulfillment order id, [(fulfillment order line id, quantity)])])
        type Plan = Vec<(String, Vec<(String, Vec<(String, u32)>)>)>;
        let mut plan: Plan = Vec::new();
        let mut taken: HashMap<String, i64> = HashMap::new();
        for (line_id, quantity) in needed {
            let mut remaining = i64::from(*quantity);
            for fo in &orders.fulfillment_orders {
                if remaining == 0 {
                    break;
                }
                if !fo
                    .status
                    .as_deref()
                    .is_some_and(|s| FULFILLABLE.contains(&s))
                {
                    continue;
                }
                for item in fo
                    .line_items
                    .iter()
                    .filter(|i| i.line_item_id.0 == *line_id)
                {
                    let used = taken.entry(item.id.0.clone()).or_default();
                    let free = (item.fulfillable_quantity - *used).max(0);
                    let take = free.min(remaining);
                    if take == 0 {
                        continue;
                    }
                    *used += take;
                    remaining -= take;
                    let location = fo
                        .assigned_location_id
                        .as_ref()
                        .map(|l| l.0.clone())
                        .unwrap_or_default();
                    let at = match plan.iter().position(|(l, _)| *l == location) {
                        Some(at) => at,
                        None => {
                            plan.push((location, Vec::new()));
                            plan.len() - 1
                        }
                    };
                    let group = &mut plan[at].1;
                    let at = match group.iter().position(|(f, _)| *f == fo.id.0) {
                        Some(at) => at,
                        None => {
                            group.push((fo.id.0.clone(), Vec::new()));
                            group.len() - 1
                        }
                    };
                    let lines = &mut group[at].1;
                    let take = u32::try_from(take).unwrap_or(u32::MAX);
                    match lines.iter_mut().find(|(id, _)| *id == item.id.0) {
                        Some((_, q)) => *q += take,
                        None => lines.push((item.id.0.clone(), take)),
                    }
                    if remaining == 0 {
                        break;
                    }
                }
            }
            if remaining > 0 {
                return Err(ConnectorError::rejected(format!(
                    "line item {line_id}: {remaining} of {quantity} units are not open for \
                     fulfillment on Shopify order {external_order_id}"
                )));
            }
        }
        let url = self.url(&["fulfillments.json"]);
        let mut ids = Vec::with_capacity(plan.len());
        // One fulfillment per location: Shopify refuses fulfillment orders of
        // several locations in one request.
        for (_, group) in plan {
            let body = FulfillmentRequest {
                fulfillment: FulfillmentBody {
                    line_items_by_fulfillment_order: group
                        .into_iter()
                        .map(|(fo, lines)| ByFulfillmentOrder {
                            fulfillment_order_id: id_json(&fo),
                            fulfillment_order_line_items: lines
                                .into_iter()
                                .map(|(id, quantity)| FulfillmentOrderLineItem {
                                    id: id_json(&id),
                                    quantity,
                                })
                                .collect(),
                        })
                        .collect(),
                    tracking_info: TrackingInfo {
                        number: tracking.number,
                        company: tracking.company,
                        url: tracking.url,
                    },
                    notify_customer: false,
                },
            };
            let answer = self
                .http
                .send(Method::POST, url.clone(), Some(&body))
                .await?;
            let created: CreatedFulfillmentWire =
                serde_json::from_slice(&answer).map_err(|e| unreadable(&url, e))?;
            ids.push(created.fulfillment.id.0);
        }
        Ok(ids)
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
        self.verify(headers, body)?;
        let topic = required_header(headers, TOPIC_HEADER)?;
        if !TOPICS.contains(&topic) {
            return Err(InputError::new(
                TOPIC_HEADER,
                format!("topic {topic:?} is not one of {}", TOPICS.join(", ")),
            ));
        }
        let event_id = required_header(headers, EVENT_ID_HEADER)?;
        let (external_order_id, source_version) = read_envelope(body)?;
        Ok(InboundEnvelope {
            message_key: format!("shopify:{event_id}"),
            external_order_id,
            source_version,
        })
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let (state, at): (StateWire, _) = order_part(body)?;
        match state.cancelled_at.filter(|c| !c.trim().is_empty()) {
            Some(cancelled_at) => {
                timestamp("cancelled_at", &cancelled_at).map_err(under(at))?;
                Ok(ChannelEvent::Cancelled {
                    external_order_id: state.id.0,
                    source_version: timestamp_ms("updated_at", &state.updated_at)
                        .map_err(under(at))?,
                    reason: state
                        .cancel_reason
                        .filter(|r| !r.trim().is_empty())
                        .unwrap_or_else(|| "cancelled on Shopify".to_owned()),
                })
            }
            None => Ok(ChannelEvent::Order(Box::new(shopify_order(
                &self.name, body,
            )?))),
        }
    }

    /// A Shopify webhook is a trigger: its payload may be a retry carrying
    /// the state of hours ago, so the order is read again from the Admin
    /// API. An order Shopify no longer knows is processed as delivered.
    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        let (id, _) = read_envelope(delivered)
            .map_err(|e| ConnectorError::rejected(format!("stored Shopify webhook: {e}")))?;
        self.fetch_order(&id).await
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let since = DateTime::from_timestamp_millis(since_ms)
            .ok_or_else(|| ConnectorError::rejected(format!("poll time {since_ms} out of range")))?
            // Whole seconds, rounded down: Shopify's times have no fraction,
            // and at-or-after must not lose the order updated in that second.
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let list = self.url(&["orders.json"]);
        let mut url = list.clone();
        url.query_pairs_mut().extend_pairs([
            ("status", "any"),
            ("updated_at_min", since.as_str()),
            ("limit", PAGE_LIMIT),
        ]);
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let (headers, body) = self
                .http
                .send_with_headers(Method::GET, url.clone(), None::<&()>)
                .await?;
            let page: OrdersPage =
                serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
            out.extend(page.orders.iter().filter_map(|order| {
                let raw = order.get().as_bytes().to_vec();
                polled_order(&self.name, "shopify", raw, read_envelope)
            }));
            let Some(page_info) = next_page_info(&headers) else {
                return Ok(out);
            };
            // The cursor carries the filters; Shopify allows only `limit` beside it.
            url = list.clone();
            url.set_query(Some(&format!("limit={PAGE_LIMIT}&page_info={page_info}")));
        }
        Err(ConnectorError::rejected(format!(
            "Shopify order pagination did not end after {MAX_PAGES} pages"
        )))
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let order_id = &confirmation.external_order_id;
        let tracking = &confirmation.shipment.tracking;
        let tracked = !tracking.number.trim().is_empty();
        let info = TrackingInfo {
            number: if tracked {
                tracking.number.trim()
            } else {
                &confirmation.package_id
            },
            company: Some(tracking.carrier.trim()).filter(|c| tracked && !c.is_empty()),
            url: tracking
                .url
                .as_deref()
                .map(str::trim)
                .filter(|u| tracked && !u.is_empty()),
        };
        // Units per line still to confirm, less what a fulfillment under the
        // same tracking number already holds (an earlier send of this package).
        let mut needed: Vec<(String, u32)> = Vec::new();
        for line in &confirmation.shipment.lines {
            match needed.iter_mut().find(|(id, _)| *id == line.line_id) {
                Some((_, q)) => *q += line.quantity,
                None => needed.push((line.line_id.clone(), line.quantity)),
            }
        }
        let mut ids = Vec::new();
        let existing = self.live_fulfillments(order_id).await?.ok_or_else(|| {
            ConnectorError::rejected(format!("Shopify does not know order {order_id}"))
        })?;
        for f in existing.iter().filter(|f| carries(f, info.number)) {
            let mut ours = false;
            for fl in &f.line_items {
                if let Some((_, q)) = needed.iter_mut().find(|(id, _)| *id == fl.id.0) {
                    *q = q.saturating_sub(u32::try_from(fl.quantity.max(0)).unwrap_or(u32::MAX));
                    ours = true;
                }
            }
            if ours {
                ids.push(f.id.0.clone());
            }
        }
        needed.retain(|(_, q)| *q > 0);
        if !needed.is_empty() {
            ids.extend(self.post_fulfillments(order_id, &needed, &info).await?);
        }
        if ids.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "shipment {} confirms no units",
                confirmation.package_id
            )));
        }
        Ok(ids.join(","))
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(existing) = self.live_fulfillments(external_order_id).await? else {
            return Ok(None);
        };
        let ids: Vec<String> = existing
            .into_iter()
            .filter(|f| carries(f, package_id))
            .map(|f| f.id.0)
            .collect();
        Ok((!ids.is_empty()).then(|| ids.join(",")))
    }
}

/// Whether a fulfillment carries `number` as a tracking number.
fn carries(f: &FulfillmentWire, number: &str) -> bool {
    f.tracking_number.as_deref().map(str::trim) == Some(number)
        || f.tracking_numbers.iter().any(|n| n.trim() == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(LINK, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn reads_the_next_cursor_verbatim() {
        let both = "<https://s.myshopify.com/admin/api/2025-07/orders.json?limit=250&page_info=prev%3D>; rel=\"previous\", \
                    <https://s.myshopify.com/admin/api/2025-07/orders.json?limit=250&page_info=eyJ-_x%3D%3D>; rel=\"next\"";
        assert_eq!(next_page_info(&link(both)).as_deref(), Some("eyJ-_x%3D%3D"));
        let prev_only =
            "<https://s/admin/api/2025-07/orders.json?page_info=abc&limit=250>; rel=\"previous\"";
        assert_eq!(next_page_info(&link(prev_only)), None);
        assert_eq!(next_page_info(&HeaderMap::new()), None);
        let first = "<http://127.0.0.1:1/orders.json?page_info=abc&limit=250>; rel=next";
        assert_eq!(next_page_info(&link(first)).as_deref(), Some("abc"));
    }

    #[test]
    fn ids_go_back_exactly() {
        assert_eq!(id_json("820982911946154508").get(), "820982911946154508");
        assert_eq!(id_json("gid://x").get(), "\"gid://x\"");
    }
}
