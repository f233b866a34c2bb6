//! Orders: reading one order (bare or `{"order": …}`), the `Link` cursor poll and the mapping of a message to a channel event.

use chrono::{DateTime, SecondsFormat};
use reqwest::Method;
use reqwest::header::{HeaderMap, LINK};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::value::RawValue;

use super::client::ShopifyChannel;
use super::mapping::shopify_order;
use crate::channel::polled_order;
use crate::http::unreadable;
use crate::input::{JsonId, parse_json, timestamp, timestamp_ms, under};
use crate::{ChannelEvent, ConnectorError, InboundEnvelope, InputError};

/// Shopify's largest page.
pub(super) const PAGE_LIMIT: &str = "250";
/// Shopify stops paginating at 25 000 objects (100 pages of 250); a cursor
/// that runs past this is broken.
pub(super) const MAX_PAGES: usize = 1_000;

#[derive(Debug, Deserialize)]
pub(super) struct EnvelopeWire {
    pub(super) id: JsonId,
    pub(super) updated_at: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct StateWire {
    pub(super) id: JsonId,
    pub(super) updated_at: String,
    #[serde(default)]
    pub(super) cancelled_at: Option<String>,
    #[serde(default)]
    pub(super) cancel_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WrapProbe {
    #[serde(default)]
    pub(super) order: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) line_items: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OrderResponse {
    pub(super) order: Box<RawValue>,
}

#[derive(Debug, Deserialize)]
pub(super) struct OrdersPage {
    pub(super) orders: Vec<Box<RawValue>>,
}

/// Reads the order object of a bare order (webhook body) or of
/// `{"order": {...}}` (REST answer); errors in the latter read `order.<field>`.
/// Returns the path prefix for errors found in the object later.
pub(super) fn order_part<T: DeserializeOwned>(
    body: &[u8],
) -> Result<(T, &'static str), InputError> {
    let probe: WrapProbe = parse_json(body)?;
    match probe.order {
        Some(order) if probe.line_items.is_none() => parse_json(order.get().as_bytes())
            .map(|t| (t, "order"))
            .map_err(under("order")),
        _ => parse_json(body).map(|t| (t, "")),
    }
}

pub(super) fn read_envelope(body: &[u8]) -> Result<(String, i64), InputError> {
    let (wire, at): (EnvelopeWire, _) = order_part(body)?;
    let version = timestamp_ms("updated_at", &wire.updated_at).map_err(under(at))?;
    Ok((wire.id.0, version))
}

/// `page_info` of the `rel="next"` entry of `Link` headers, verbatim.
pub(super) fn next_page_info(headers: &HeaderMap) -> Option<String> {
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

impl ShopifyChannel {
    /// The current order (`GET orders/{id}.json`): the raw bytes of its
    /// `order` object, which [`Channel::map_message`] accepts. `None` when
    /// Shopify does not know the order (404).
    pub async fn fetch_order(
        &self,
        external_order_id: &str,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let url = self.url(&["orders", &format!("{external_order_id}.json")]);
        let answer: Option<OrderResponse> = self.get_json_opt(&url).await?;
        Ok(answer.map(|a| a.order.get().as_bytes().to_vec()))
    }
}

impl ShopifyChannel {
    pub(super) fn order_event(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
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

    pub(super) async fn refetch_order(
        &self,
        delivered: &[u8],
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let (id, _) = read_envelope(delivered)
            .map_err(|e| ConnectorError::rejected(format!("stored Shopify webhook: {e}")))?;
        self.fetch_order(&id).await
    }

    pub(super) async fn poll_orders(
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
            let (headers, body) = self.send(Method::GET, &url, None::<&()>).await?;
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
}
