//! The webstore connector: webhook envelope, poll, shipment confirmation and its read-back over the store's JSON API, in one `impl Channel`.

use std::sync::Arc;

use async_trait::async_trait;
use crossdock_model::clock::Clock;
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::mapping::{OrderWire, map_order};
use crate::http::{base_url, endpoint};
use crate::input::{non_empty, parse_json};
use crate::signature::WebhookVerifier;
use crate::{
    Channel, ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError,
    ShipConfirmation,
};

pub struct WebstoreChannel {
    pub(super) name: String,
    pub(super) base: Url,
    pub(super) http: HttpClient,
    /// Every webhook is signed (Standard Webhooks); nothing unsigned gets in.
    pub(super) verifier: WebhookVerifier,
}

impl WebstoreChannel {
    pub fn new(
        name: impl Into<String>,
        base_url_str: &str,
        http: HttpClient,
        verifier: WebhookVerifier,
    ) -> Result<Self, ConnectorError> {
        Ok(WebstoreChannel {
            name: name.into(),
            base: base_url(base_url_str)?,
            http,
            verifier,
        })
    }

    /// The same channel judging webhook timestamps by `clock` (the wall
    /// clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.verifier = self.verifier.with_clock(clock);
        self
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
        let signed = self.verifier.verify(headers, body)?;
        let envelope = read_envelope(body)?;
        // `webhook-id` names the message and stays the same on the sender's
        // retries: the inbox's dedupe key.
        Ok(InboundEnvelope {
            message_key: signed.id,
            external_order_id: envelope.order_id,
            source_version: envelope.sequence,
        })
    }

    fn webhook_committed(&self, headers: &HeaderMap) {
        self.verifier.committed(headers);
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let wire: OrderWire = parse_json(body)?;
        non_empty("order_id", &wire.order_id)?;
        match wire.status.as_str() {
            "open" => Ok(ChannelEvent::Order(Box::new(map_order(&self.name, wire)?))),
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
