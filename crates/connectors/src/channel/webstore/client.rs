//! The webstore connector: webhook envelope, poll, shipment confirmation and its read-back over the store's JSON API, in one `impl Channel`.

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::mapping::OrderWire;
use crate::http::{base_url, endpoint};
use crate::input::{non_empty, parse_json};
use crate::{
    Channel, ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError,
    ShipConfirmation,
};

pub(super) const EVENT_ID_HEADER: &str = "x-webstore-event-id";

pub struct WebstoreChannel {
    pub(super) name: String,
    pub(super) base: Url,
    pub(super) http: HttpClient,
}

impl WebstoreChannel {
    pub fn new(
        name: impl Into<String>,
        base_url_str: &str,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        Ok(WebstoreChannel {
            name: name.into(),
            base: base_url(base_url_str)?,
            http,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct EnvelopeWire {
    pub(super) order_id: String,
    pub(super) sequence: i64,
}

#[derive(Debug, Serialize)]
pub(super) struct ConfirmationWire<'a> {
    pub(super) package_id: &'a str,
    pub(super) carrier: &'a str,
    pub(super) tracking_number: &'a str,
    pub(super) lines: Vec<ConfirmedLineWire<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct ConfirmedLineWire<'a> {
    pub(super) line_id: &'a str,
    pub(super) quantity: u32,
}

#[derive(Debug, Deserialize)]
pub(super) struct ConfirmationIdWire {
    pub(super) confirmation_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ShipmentsWire {
    pub(super) shipments: Vec<ShipmentWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ShipmentWire {
    pub(super) confirmation_id: String,
    pub(super) package_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct OrdersWire {
    pub(super) orders: Vec<serde_json::Value>,
}

pub(super) fn read_envelope(body: &[u8]) -> Result<EnvelopeWire, InputError> {
    let envelope: EnvelopeWire = parse_json(body)?;
    non_empty("order_id", &envelope.order_id)?;
    Ok(envelope)
}

#[async_trait]
impl Channel for WebstoreChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        let envelope = read_envelope(body)?;
        let message_key = match headers.get(EVENT_ID_HEADER) {
            Some(value) => {
                let id = value.to_str().map_err(|_| {
                    InputError::new("headers.x-webstore-event-id", "not visible ASCII")
                })?;
                non_empty("headers.x-webstore-event-id", id)?;
                id.to_owned()
            }
            None => format!("{}:{}", envelope.order_id, envelope.sequence),
        };
        Ok(InboundEnvelope {
            message_key,
            external_order_id: envelope.order_id,
            source_version: envelope.sequence,
        })
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let wire: OrderWire = parse_json(body)?;
        non_empty("order_id", &wire.order_id)?;
        match wire.status.as_str() {
            "open" => Ok(ChannelEvent::Order(Box::new(self.map_order(wire)?))),
            "cancelled" => Ok(ChannelEvent::Cancelled {
                external_order_id: wire.order_id,
                source_version: wire.sequence,
                reason: "cancelled on the webstore".to_owned(),
            }),
            other => Err(InputError::new(
                "status",
                format!("unknown status {other:?}"),
            )),
        }
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let since = since_ms.to_string();
        let answer: OrdersWire = self
            .http
            .get_json(
                &endpoint(&self.base, &["orders"]),
                &[("updated_since", &since)],
            )
            .await?;
        let mut out = Vec::with_capacity(answer.orders.len());
        for order in answer.orders {
            let body =
                serde_json::to_vec(&order).map_err(|e| ConnectorError::transient(e.to_string()))?;
            match read_envelope(&body) {
                Ok(e) => out.push((
                    InboundEnvelope {
                        message_key: format!("{}:{}", e.order_id, e.sequence),
                        external_order_id: e.order_id,
                        source_version: e.sequence,
                    },
                    body,
                )),
                // Its webhook twin is refused at the door the same way; one bad
                // order must not hold up reconciliation of the rest.
                Err(error) => {
                    tracing::warn!(channel = %self.name, %error, "skipping unreadable polled order")
                }
            }
        }
        Ok(out)
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let shipment = &confirmation.shipment;
        let body = ConfirmationWire {
            package_id: &confirmation.package_id,
            carrier: &shipment.tracking.carrier,
            tracking_number: &shipment.tracking.number,
            lines: shipment
                .lines
                .iter()
                .map(|l| ConfirmedLineWire {
                    line_id: &l.line_id,
                    quantity: l.quantity,
                })
                .collect(),
        };
        let url = endpoint(
            &self.base,
            &["orders", &confirmation.external_order_id, "shipments"],
        );
        let answer: ConfirmationIdWire = self.http.post_json(&url, &body).await?;
        Ok(answer.confirmation_id)
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let url = endpoint(&self.base, &["orders", external_order_id, "shipments"]);
        let Some(answer) = self.http.get_json_opt::<ShipmentsWire>(&url, &[]).await? else {
            return Ok(None);
        };
        Ok(answer
            .shipments
            .into_iter()
            .find(|s| s.package_id == package_id)
            .map(|s| s.confirmation_id))
    }
}
