//! The REST warehouse API: fulfilment requests out (not idempotent there),
//! shipment messages in by webhook.

pub mod config;

use async_trait::async_trait;
use crossdock_model::{FulfillmentRequest, Shipment, ShipmentLine, Tracking};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::http::{base_url, endpoint};
use crate::input::{non_empty, parse_json, quantity, timestamp};
use crate::{CancelOutcome, ConnectorError, HttpClient, InputError, ShipmentEnvelope, Warehouse};

pub struct RestWarehouse {
    name: String,
    base: Url,
    http: HttpClient,
}

impl RestWarehouse {
    pub fn new(
        name: impl Into<String>,
        base_url_str: &str,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        Ok(RestWarehouse {
            name: name.into(),
            base: base_url(base_url_str)?,
            http,
        })
    }
}

#[derive(Debug, Deserialize)]
struct ReleasedWire {
    id: String,
}

#[derive(Debug, Deserialize)]
struct EnvelopeWire {
    shipment_id: String,
    order_id: String,
}

#[derive(Debug, Deserialize)]
struct ShipmentWire {
    shipment_id: String,
    request_id: String,
    order_id: String,
    carrier: String,
    tracking_number: String,
    shipped_at: String,
    lines: Vec<LineWire>,
}

#[derive(Debug, Deserialize)]
struct LineWire {
    line_id: String,
    sku: String,
    quantity: i64,
}

fn read_envelope(body: &[u8]) -> Result<EnvelopeWire, InputError> {
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
        _headers: &HeaderMap,
        body: &[u8],
    ) -> Result<ShipmentEnvelope, InputError> {
        let envelope = read_envelope(body)?;
        Ok(ShipmentEnvelope {
            message_key: format!("{}:{}", self.name, envelope.shipment_id),
            order_id: envelope.order_id,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpClientOptions;
    use serde_json::{Value, json};

    type Mutation = Box<dyn Fn(&mut Value)>;

    fn warehouse() -> RestWarehouse {
        RestWarehouse::new(
            "east",
            "http://127.0.0.1:9",
            HttpClient::new(HttpClientOptions::default()).unwrap(),
        )
        .unwrap()
    }

    fn message() -> Value {
        json!({
            "shipment_id": "SH-EAST-000001", "request_id": "fr-1", "order_id": "o-1",
            "carrier": "UPS", "tracking_number": "1Z999", "shipped_at": "2026-11-27T10:00:00Z",
            "lines": [ { "line_id": "1", "sku": "SKU-001", "quantity": 2 } ]
        })
    }

    #[test]
    fn maps_a_shipment() {
        let shipment = warehouse()
            .map_shipment(&serde_json::to_vec(&message()).unwrap())
            .unwrap();
        assert_eq!(shipment.id, "east:SH-EAST-000001");
        assert_eq!(shipment.external_id, "SH-EAST-000001");
        assert_eq!(shipment.warehouse, "east");
        assert_eq!(shipment.order_id, "o-1");
        assert_eq!(shipment.fulfillment_request_id, "fr-1");
        assert_eq!(
            shipment.lines,
            vec![ShipmentLine {
                line_id: "1".into(),
                sku: "SKU-001".into(),
                quantity: 2
            }]
        );
        assert_eq!(
            shipment.tracking,
            Tracking {
                carrier: "UPS".into(),
                number: "1Z999".into(),
                url: None
            }
        );
        assert_eq!(
            shipment.shipped_at.to_rfc3339(),
            "2026-11-27T10:00:00+00:00"
        );
        let envelope = warehouse()
            .read_webhook(&HeaderMap::new(), &serde_json::to_vec(&message()).unwrap())
            .unwrap();
        assert_eq!(
            envelope,
            ShipmentEnvelope {
                message_key: "east:SH-EAST-000001".into(),
                order_id: "o-1".into()
            }
        );
    }

    #[test]
    fn bad_shipments_name_the_field() {
        let cases: Vec<(&str, Mutation)> = vec![
            (
                "lines[0].quantity",
                Box::new(|m| m["lines"][0]["quantity"] = json!(-2)),
            ),
            (
                "lines[0].quantity",
                Box::new(|m| m["lines"][0]["quantity"] = json!("2")),
            ),
            (
                "lines[0].sku",
                Box::new(|m| {
                    m["lines"][0].as_object_mut().unwrap().remove("sku");
                }),
            ),
            ("shipped_at", Box::new(|m| m["shipped_at"] = json!("soon"))),
            (
                "tracking_number",
                Box::new(|m| m["tracking_number"] = json!("")),
            ),
            (
                "request_id",
                Box::new(|m| {
                    m.as_object_mut().unwrap().remove("request_id");
                }),
            ),
            ("lines", Box::new(|m| m["lines"] = json!([]))),
        ];
        for (path, mutate) in cases {
            let mut m = message();
            mutate(&mut m);
            let err = warehouse()
                .map_shipment(&serde_json::to_vec(&m).unwrap())
                .unwrap_err();
            assert_eq!(err.path, path, "{err}");
        }
        let err = warehouse()
            .read_webhook(&HeaderMap::new(), br#"{"order_id":"o-1"}"#)
            .unwrap_err();
        assert_eq!(err.path, "shipment_id");
        assert_eq!(
            warehouse()
                .read_webhook(&HeaderMap::new(), b"[")
                .unwrap_err()
                .path,
            "body"
        );
    }
}
