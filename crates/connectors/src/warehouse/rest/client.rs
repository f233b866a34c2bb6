//! A warehouse behind a JSON API: releases by `POST`, shipments by webhook, in one `impl Warehouse`.

use std::sync::Arc;

use async_trait::async_trait;
use crossdock_model::clock::Clock;
use crossdock_model::{FulfillmentRequest, Shipment, ShipmentLine, Tracking};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::http::{base_url, endpoint};
use crate::input::{non_empty, parse_json, quantity, timestamp};
use crate::signature::WebhookVerifier;
use crate::{CancelOutcome, ConnectorError, HttpClient, InputError, ShipmentEnvelope, Warehouse};

pub struct RestWarehouse {
    pub(super) name: String,
    pub(super) base: Url,
    pub(super) http: HttpClient,
    /// Shipment webhooks are signed (Standard Webhooks): an unsigned one
    /// could report a shipment that never left.
    pub(super) verifier: WebhookVerifier,
}

impl RestWarehouse {
    pub fn new(
        name: impl Into<String>,
        base_url_str: &str,
        http: HttpClient,
        verifier: WebhookVerifier,
    ) -> Result<Self, ConnectorError> {
        Ok(RestWarehouse {
            name: name.into(),
            base: base_url(base_url_str)?,
            http,
            verifier,
        })
    }

    /// The same warehouse judging webhook timestamps by `clock` (the wall
    /// clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.verifier = self.verifier.with_clock(clock);
        self
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ReleasedWire {
    pub(super) id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct EnvelopeWire {
    pub(super) shipment_id: String,
    pub(super) order_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct ShipmentWire {
    pub(super) shipment_id: String,
    pub(super) request_id: String,
    pub(super) order_id: String,
    pub(super) carrier: String,
    pub(super) tracking_number: String,
    pub(super) shipped_at: String,
    pub(super) lines: Vec<LineWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LineWire {
    pub(super) line_id: String,
    pub(super) sku: String,
    pub(super) quantity: i64,
}

pub(super) fn read_envelope(body: &[u8]) -> Result<EnvelopeWire, InputError> {
    let envelope: EnvelopeWire = parse_json(body)?;
    non_empty("shipment_id", &envelope.shipment_id)?;
    non_empty("order_id", &envelope.order_id)?;
    Ok(envelope)
}

#[async_trait]
impl Warehouse for RestWarehouse {
    fn name(&self) -> &str {
        &self.name
    }

    async fn release(&self, request: &FulfillmentRequest) -> Result<String, ConnectorError> {
        let answer: ReleasedWire = self
            .http
            .post_json(&endpoint(&self.base, &["fulfillment-requests"]), request)
            .await?;
        Ok(answer.id)
    }

    async fn find_release(&self, request_id: &str) -> Result<Option<String>, ConnectorError> {
        let url = endpoint(&self.base, &["fulfillment-requests", request_id]);
        Ok(self
            .http
            .get_json_opt::<ReleasedWire>(&url, &[])
            .await?
            .map(|r| r.id))
    }

    async fn cancel_release(&self, request_id: &str) -> Result<CancelOutcome, ConnectorError> {
        let url = endpoint(&self.base, &["fulfillment-requests", request_id, "cancel"]);
        let (status, _) = self
            .http
            .post_expecting(&url, &[StatusCode::CONFLICT, StatusCode::NOT_FOUND])
            .await?;
        Ok(match status {
            StatusCode::CONFLICT => CancelOutcome::TooLate,
            StatusCode::NOT_FOUND => CancelOutcome::NotFound,
            _ => CancelOutcome::Cancelled,
        })
    }

    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<ShipmentEnvelope, InputError> {
        self.verifier.verify(headers, body)?;
        let envelope = read_envelope(body)?;
        Ok(ShipmentEnvelope {
            message_key: format!("{}:{}", self.name, envelope.shipment_id),
            order_id: envelope.order_id,
        })
    }

    fn webhook_committed(&self, headers: &HeaderMap) {
        self.verifier.committed(headers);
    }

    fn map_shipment(&self, body: &[u8]) -> Result<Shipment, InputError> {
        let wire: ShipmentWire = parse_json(body)?;
        non_empty("shipment_id", &wire.shipment_id)?;
        non_empty("order_id", &wire.order_id)?;
        non_empty("request_id", &wire.request_id)?;
        non_empty("carrier", &wire.carrier)?;
        non_empty("tracking_number", &wire.tracking_number)?;
        let shipped_at = timestamp("shipped_at", &wire.shipped_at)?;
        if wire.lines.is_empty() {
            return Err(InputError::new(
                "lines",
                "a shipment needs at least one line",
            ));
        }
        let lines = wire
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                non_empty(&format!("lines[{i}].line_id"), &l.line_id)?;
                Ok(ShipmentLine {
                    quantity: quantity(&format!("lines[{i}].quantity"), l.quantity)?,
                    line_id: l.line_id,
                    sku: l.sku,
                })
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        Ok(Shipment {
            id: format!("{}:{}", self.name, wire.shipment_id),
            order_id: wire.order_id,
            warehouse: self.name.clone(),
            external_id: wire.shipment_id,
            fulfillment_request_id: wire.request_id,
            lines,
            tracking: Tracking {
                carrier: wire.carrier,
                number: wire.tracking_number,
                url: None,
            },
            shipped_at,
            // The REST warehouse may ship a request in several parcels.
            completes_request: false,
        })
    }
}
