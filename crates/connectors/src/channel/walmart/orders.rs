//! Purchase orders: reading one, the created-window poll, acknowledging and cancelling lines, and mapping a message to a channel event.

use chrono::{DateTime, SecondsFormat};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::client::WalmartChannel;
use super::mapping::walmart_order;
use crate::channel::polled_order;
use crate::http::unreadable;
use crate::input::parse_json;
use crate::{Acknowledgement, ChannelEvent, ConnectorError, InboundEnvelope, InputError};

pub(super) const PAGE_LIMIT: &str = "100";
/// Walmart serves orders created in the last 180 days.
pub(super) const CREATED_WINDOW_MS: i64 = 180 * 24 * 3_600 * 1_000;
/// Walmart fetches at most 20 000 orders per query (200 pages of 100).
pub(super) const MAX_PAGES: usize = 1_000;

#[derive(Deserialize)]
pub(super) struct ListAnswer {
    pub(super) list: ListWire,
}

#[derive(Deserialize)]
pub(super) struct ListWire {
    #[serde(default)]
    pub(super) meta: Option<MetaWire>,
    #[serde(default)]
    pub(super) elements: Option<ElementsWire>,
}

#[derive(Deserialize)]
pub(super) struct MetaWire {
    #[serde(default, rename = "nextCursor")]
    pub(super) next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ElementsWire {
    #[serde(default)]
    pub(super) order: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
pub(super) struct OrderAnswer {
    pub(super) order: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EnvelopeWire {
    pub(super) purchase_order_id: String,
    pub(super) order_date: i64,
    #[serde(default)]
    pub(super) order_lines: Option<EnvelopeLines>,
}

#[derive(Deserialize)]
pub(super) struct EnvelopeLines {
    #[serde(default, rename = "orderLine")]
    pub(super) order_line: Vec<EnvelopeLine>,
}

#[derive(Deserialize)]
pub(super) struct EnvelopeLine {
    #[serde(default, rename = "statusDate")]
    pub(super) status_date: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NotificationProbe {
    #[serde(default)]
    pub(super) event_type: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) order_lines: Option<serde_json::Value>,
    #[serde(default)]
    pub(super) order: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IdWire {
    pub(super) purchase_order_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PoWire {
    #[serde(default)]
    pub(super) shipping_info: Option<PoShippingInfo>,
    pub(super) order_lines: PoLines,
}

impl PoWire {
    /// Whether some line has units Walmart shows as `Created`: not yet
    /// acknowledged, so neither shippable nor safe from cancellation.
    pub(super) fn unacknowledged(&self) -> bool {
        self.order_lines.order_line.iter().any(|l| {
            l.order_line_statuses
                .iter()
                .flat_map(|s| &s.order_line_status)
                .any(|s| s.status == "Created")
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PoShippingInfo {
    #[serde(default)]
    pub(super) method_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PoLines {
    #[serde(default)]
    pub(super) order_line: Vec<PoLine>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PoLine {
    pub(super) line_number: String,
    #[serde(default)]
    pub(super) order_line_statuses: Option<PoStatuses>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PoStatuses {
    #[serde(default)]
    pub(super) order_line_status: Vec<PoStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PoStatus {
    pub(super) status: String,
    #[serde(default)]
    pub(super) status_quantity: Option<PoQuantity>,
    #[serde(default)]
    pub(super) tracking_info: Option<PoTracking>,
}

#[derive(Deserialize)]
pub(super) struct PoQuantity {
    pub(super) amount: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PoTracking {
    #[serde(default)]
    pub(super) tracking_number: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CancelRequest<'a> {
    pub(super) order_cancellation: LinesOf<CancelLine<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CancelLine<'a> {
    pub(super) line_number: &'a str,
    pub(super) order_line_statuses: StatusList<CancelStatus<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CancelStatus<'a> {
    pub(super) status: &'static str,
    pub(super) cancellation_reason: &'a str,
    pub(super) status_quantity: Quantity,
}

/// `(purchaseOrderId, version)` of a bare purchase order.
pub(super) fn read_envelope(body: &[u8]) -> Result<(String, i64), InputError> {
    let wire: EnvelopeWire = parse_json(body)?;
    if wire.purchase_order_id.trim().is_empty() {
        return Err(InputError::new("purchaseOrderId", "must not be empty"));
    }
    let version = wire
        .order_lines
        .iter()
        .flat_map(|l| &l.order_line)
        .filter_map(|l| l.status_date)
        .fold(wire.order_date, i64::max);
    Ok((wire.purchase_order_id, version))
}

impl WalmartChannel {
    /// The current purchase order (`GET /v3/orders/{purchaseOrderId}`): the
    /// raw bytes of its `order` object, which [`Channel::map_message`]
    /// accepts. `None` when Walmart does not know it (404).
    pub async fn fetch_order(
        &self,
        purchase_order_id: &str,
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let url = self.url(&["v3", "orders", purchase_order_id]);
        let (status, headers, body) = self.call("getAnOrder", Method::GET, &url, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = self.finish(status, &headers, body)?;
        let answer: OrderAnswer = serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
        Ok(Some(answer.order.get().as_bytes().to_vec()))
    }

    pub(super) async fn fetch_po(
        &self,
        purchase_order_id: &str,
    ) -> Result<Option<PoWire>, ConnectorError> {
        let Some(raw) = self.fetch_order(purchase_order_id).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&raw).map(Some).map_err(|e| {
            ConnectorError::transient(format!("unreadable Walmart PO {purchase_order_id}: {e}"))
        })
    }

    /// Acknowledges the PO (`POST /v3/orders/{id}/acknowledge`), required
    /// before shipping. Idempotent on Walmart's side.
    pub async fn acknowledge(&self, purchase_order_id: &str) -> Result<(), ConnectorError> {
        let url = self.url(&["v3", "orders", purchase_order_id, "acknowledge"]);
        self.call_ok("acknowledgeOrders", Method::POST, &url, None)
            .await
            .map(drop)
    }

    /// `Acknowledged` when Walmart knows the PO and none of its lines has
    /// units still `Created`.
    pub(super) async fn find_acknowledged(
        &self,
        purchase_order_id: &str,
    ) -> Result<Option<Acknowledgement>, ConnectorError> {
        let Some(po) = self.fetch_po(purchase_order_id).await? else {
            return Ok(None);
        };
        Ok((!po.unacknowledged()).then_some(Acknowledgement::Acknowledged))
    }

    /// Cancels units of PO lines (`POST /v3/orders/{id}/cancel`): each entry
    /// is `(lineNumber, quantity, cancellationReason)`, the reason one of
    /// Walmart's (`SELLER_CANCEL_OUT_OF_STOCK`, …).
    pub async fn cancel_lines(
        &self,
        purchase_order_id: &str,
        lines: &[(&str, u32, &str)],
    ) -> Result<(), ConnectorError> {
        if lines.is_empty() {
            return Err(ConnectorError::rejected("no lines to cancel"));
        }
        if let Some((line, _, _)) = lines.iter().find(|(_, qty, _)| *qty == 0) {
            return Err(ConnectorError::rejected(format!(
                "cancel of line {line}: quantity must be positive"
            )));
        }
        let request = CancelRequest {
            order_cancellation: LinesOf {
                order_lines: OrderLineList {
                    order_line: lines
                        .iter()
                        .map(|(line, qty, reason)| CancelLine {
                            line_number: line,
                            order_line_statuses: StatusList {
                                order_line_status: vec![CancelStatus {
                                    status: "Cancelled",
                                    cancellation_reason: reason,
                                    status_quantity: Quantity {
                                        unit_of_measurement: "EACH",
                                        amount: qty.to_string(),
                                    },
                                }],
                            },
                        })
                        .collect(),
                },
            },
        };
        let body = serde_json::to_vec(&request).expect("serializable");
        let url = self.url(&["v3", "orders", purchase_order_id, "cancel"]);
        self.call_ok("cancelOrderLines", Method::POST, &url, Some(body))
            .await
            .map(drop)
    }
}

impl WalmartChannel {
    pub(super) fn order_event(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let probe: NotificationProbe = parse_json(body)?;
        if probe.event_type.is_some() && probe.order_lines.is_none() && probe.order.is_none() {
            return Err(InputError::new(
                "body",
                "a Walmart notification is only a trigger; the purchase order must be refetched",
            ));
        }
        let order = walmart_order(&self.name, body)?;
        if order
            .lines
            .iter()
            .all(|l| l.cancelled_quantity >= l.quantity)
        {
            return Ok(ChannelEvent::Cancelled {
                external_order_id: order.external_id,
                source_version: order.source_version,
                reason: "every line cancelled on Walmart".to_owned(),
            });
        }
        Ok(ChannelEvent::Order(Box::new(order)))
    }

    pub(super) async fn refetch_order(
        &self,
        delivered: &[u8],
    ) -> Result<Option<Vec<u8>>, ConnectorError> {
        let id: IdWire = parse_json(delivered)
            .map_err(|e| ConnectorError::rejected(format!("stored Walmart notification: {e}")))?;
        match self.fetch_order(id.purchase_order_id.trim()).await? {
            Some(order) => Ok(Some(order)),
            None => Err(ConnectorError::rejected(format!(
                "Walmart does not know purchase order {}",
                id.purchase_order_id
            ))),
        }
    }

    pub(super) async fn poll_orders(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let iso = |ms: i64| {
            DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| ConnectorError::rejected(format!("poll time {ms} out of range")))
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        };
        let since = iso(since_ms)?;
        let created = iso(since_ms.saturating_sub(CREATED_WINDOW_MS))?;
        let list = self.url(&["v3", "orders"]);
        let mut url = list.clone();
        url.query_pairs_mut().extend_pairs([
            ("createdStartDate", created.as_str()),
            ("lastModifiedStartDate", since.as_str()),
            ("limit", PAGE_LIMIT),
        ]);
        let mut out = Vec::new();
        let mut seen_cursors: Vec<String> = Vec::new();
        for _ in 0..MAX_PAGES {
            let (status, headers, body) =
                self.call("getAllOrders", Method::GET, &url, None).await?;
            // Walmart answers 404 when no order matches.
            if status == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            let body = self.finish(status, &headers, body)?;
            let page: ListAnswer =
                serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
            let orders = page.list.elements.map(|e| e.order).unwrap_or_default();
            out.extend(orders.iter().filter_map(|order| {
                let raw = order.get().as_bytes().to_vec();
                polled_order(&self.name, "walmart", raw, read_envelope)
            }));
            let Some(cursor) = page
                .list
                .meta
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.trim().is_empty())
            else {
                return Ok(out);
            };
            if seen_cursors.contains(&cursor) {
                return Err(ConnectorError::rejected(format!(
                    "Walmart repeated the order cursor {cursor:?}"
                )));
            }
            // A ready-made query string: sent as given, on our own endpoint.
            url = list.clone();
            url.set_query(Some(cursor.strip_prefix('?').unwrap_or(&cursor)));
            seen_cursors.push(cursor);
        }
        Err(ConnectorError::rejected(format!(
            "Walmart order pagination did not end after {MAX_PAGES} pages"
        )))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LinesOf<L> {
    pub(super) order_lines: OrderLineList<L>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderLineList<L> {
    pub(super) order_line: Vec<L>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatusList<S> {
    pub(super) order_line_status: Vec<S>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Quantity {
    pub(super) unit_of_measurement: &'static str,
    pub(super) amount: String,
}
