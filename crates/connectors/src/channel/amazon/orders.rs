//! Orders: `getOrders` paging, `getOrderItems`, the `{order, items}` bundle that the mapping reads, and refetching a notified order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::client::{AmazonChannel, Operation};
use super::mapping::{AmazonOrder, amazon_order_bundle};
use super::webhook::read_notification;
use crate::http::endpoint;
use crate::http::unreadable;
use crate::input::timestamp_ms;
use crate::{ChannelEvent, ConnectorError, InboundEnvelope, InputError};

/// `LastUpdatedBefore` must be at least this long before now.
pub(super) const SETTLE: chrono::Duration = chrono::Duration::minutes(2);
pub(super) const PAGE_SIZE: &str = "100";
pub(super) const MAX_PAGES: usize = 1_000;

#[derive(Deserialize)]
pub(super) struct Payload<T> {
    pub(super) payload: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct OrdersPage {
    #[serde(default)]
    pub(super) orders: Vec<Box<RawValue>>,
    #[serde(default)]
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct OrderHead {
    pub(super) amazon_order_id: String,
    pub(super) last_update_date: String,
    pub(super) order_status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ItemsPage {
    #[serde(default)]
    pub(super) order_items: Vec<Box<RawValue>>,
    #[serde(default)]
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ItemHead {
    pub(super) order_item_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct MergedItems<'a> {
    pub(super) amazon_order_id: &'a str,
    pub(super) order_items: Vec<Box<RawValue>>,
}

#[derive(Serialize)]
pub(super) struct Bundle<'a> {
    pub(super) order: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) items: Option<MergedItems<'a>>,
}

/// The order's id in a bundle a poll stored.
#[derive(Deserialize)]
struct StoredBundle {
    order: PolledOrder,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolledOrder {
    amazon_order_id: String,
}

/// Payment not authorized yet: Amazon withholds prices and address.
pub(super) fn is_pending(status: &str) -> bool {
    matches!(status, "Pending" | "PendingAvailability")
}

impl AmazonChannel {
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
    pub(super) async fn bundle(
        &self,
        order: &RawValue,
        head: &OrderHead,
    ) -> Result<Vec<u8>, ConnectorError> {
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

    pub(super) async fn fetch_order_and_head(
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

impl AmazonChannel {
    pub(super) fn order_event(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
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

    pub(super) async fn refetch_order(
        &self,
        delivered: &[u8],
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        // A notification, or the bundle a poll read (an order held back
        // is read again while it waits).
        let order_id = match read_notification(delivered) {
            Ok((_, order_id, _)) => order_id,
            Err(e) => serde_json::from_slice::<StoredBundle>(delivered)
                .map(|b| b.order.amazon_order_id)
                .map_err(|_| {
                    ConnectorError::rejected(format!("stored Amazon notification: {e}"))
                })?,
        };
        let url = endpoint(&self.api, &["orders", "v0", "orders", &order_id]);
        // A Pending order comes back as it is and maps to `NotYet`.
        let Some((bundle, _)) = self.fetch_order_and_head(&url).await? else {
            return Err(ConnectorError::rejected(format!(
                "Amazon does not know order {order_id}"
            )));
        };
        Ok(Some(bundle))
    }

    pub(super) async fn poll_orders(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let since = DateTime::from_timestamp_millis(since_ms).ok_or_else(|| {
            ConnectorError::rejected(format!("poll time {since_ms} out of range"))
        })?;
        let before = self.clock.now() - SETTLE;
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
        // Bundles read by the last poll: an order in the overlap window
        // whose LastUpdateDate has not moved has the same items.
        let previous = std::mem::take(&mut *self.polled.lock().expect("not poisoned"));
        let mut seen = HashMap::with_capacity(orders.len());
        for (raw, head, version) in orders {
            // A Pending order is answered too (without items): the hub
            // keeps it waiting, visibly, until it turns Unshipped.
            // LastUpdateDate has whole seconds: an order that left Pending
            // within the second it was read keeps it, so its status counts.
            let state = format!("{} {}", head.last_update_date, head.order_status);
            let body = match previous.get(&head.amazon_order_id) {
                Some((at, body)) if *at == state => body.clone(),
                _ => Arc::new(self.bundle(&raw, &head).await?),
            };
            seen.insert(head.amazon_order_id.clone(), (state, body.clone()));
            let body = Arc::unwrap_or_clone(body);
            out.push((
                InboundEnvelope {
                    message_key: format!("amazon:poll:{}:{version}", head.amazon_order_id),
                    external_order_id: head.amazon_order_id,
                    source_version: version,
                },
                body,
            ));
        }
        // Only the orders this poll saw are kept: the next one's window
        // starts later, so older ones would never be asked for again.
        *self.polled.lock().expect("not poisoned") = seen;
        Ok(out)
    }
}
