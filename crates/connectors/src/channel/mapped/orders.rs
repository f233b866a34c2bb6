//! The poll: pages of orders read by the mapping, following the `Link` header or the mapping's next-page program.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use jaq_json::Val;
use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, Url};

use super::client::{MappedChannel, url_for};
use super::compile::{CompiledPoll, parse_payload};
use super::mapping::SinceFormat;
use crate::jq::{id_text, kind, plain_json, read_answer};
use crate::{ConnectorError, InboundEnvelope};

impl MappedChannel {
    /// One page of the poll: its orders and where the next page is.
    pub(super) async fn poll_page(
        &self,
        poll: &CompiledPoll,
        url: &Url,
    ) -> Result<(Vec<Val>, Option<Url>), ConnectorError> {
        let (headers, answer) = self
            .http
            .send_with_headers(Method::GET, url.clone(), None::<&()>)
            .await?;
        let page = read_answer(url, &answer)?;
        let items = poll
            .items
            .eval(&page)
            .map_err(|e| self.fault("poll.items", e))?;
        let items = match items {
            Val::Arr(items) => items.iter().cloned().collect(),
            Val::Null => Vec::new(),
            other => {
                return Err(self.fault(
                    "poll.items",
                    format!("expected an array of orders, got {}", kind(&other)),
                ));
            }
        };
        let mut next = None;
        if let Some(cursor) = &poll.next_cursor {
            let value = cursor
                .eval(&page)
                .map_err(|e| self.fault("poll.next_cursor", e))?;
            let cursor = match value {
                Val::Null => None,
                other => Some(id_text(&other).map_err(|e| self.fault("poll.next_cursor", e))?),
            };
            if let (Some(cursor), Some(param)) = (cursor, &poll.cursor_param) {
                let mut url = url.clone();
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != param)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair(param, &cursor);
                next = Some(url);
            }
        }
        if next.is_none() && poll.link_header {
            next = next_link(&headers).and_then(|link| url.join(&link).ok());
        }
        Ok((items, next))
    }
}

/// The `rel="next"` URL of the answer's `Link` headers.
pub(super) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|entry| {
            let (target, params) = entry.trim().split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_owned())
        })
}

impl MappedChannel {
    pub(super) async fn poll_orders(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let Some(poll) = &self.compiled.poll else {
            // Nothing to reconcile against: webhooks are all this channel has.
            return Ok(Vec::new());
        };
        let since = match poll.since_format {
            SinceFormat::Ms => since_ms.to_string(),
            SinceFormat::Rfc3339 => DateTime::<Utc>::from_timestamp_millis(since_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let mut url = url_for(&self.base, &poll.path, &[]);
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &poll.query {
                pairs.append_pair(key, value);
            }
            pairs.append_pair(&poll.since_param, &since);
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(url);
        let mut pages = 0;
        while let Some(url) = next.take() {
            if pages == poll.max_pages || !seen.insert(url.to_string()) {
                tracing::warn!(channel = %self.name, pages, "poll stopped: page limit or a cursor loop");
                break;
            }
            pages += 1;
            let (items, following) = self.poll_page(poll, &url).await?;
            for item in items {
                let raw = plain_json(&item).into_bytes();
                let envelope = |body: &[u8]| {
                    let payload = parse_payload(body)?;
                    self.compiled.envelope(&payload)
                };
                out.extend(crate::channel::polled_order(
                    &self.name, &self.name, raw, envelope,
                ));
            }
            next = following;
        }
        Ok(out)
    }
}
