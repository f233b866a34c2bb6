//! The webstore channel API: orders pushed by webhook (`x-webstore-event-id`
//! per delivery event), polled by `updated_since`, and shipment confirmations
//! that the webstore does not deduplicate.

pub mod config;

use async_trait::async_trait;
use crossdock_model::{
    Address, Customer, Order, OrderLine, OrderStatus, TaxTreatment, order_id_for,
};
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::http::{base_url, endpoint};
use crate::input::{WireDecimal, currency, money, non_empty, parse_json, quantity, timestamp};
use crate::{
    Channel, ChannelEvent, ConnectorError, HttpClient, InboundEnvelope, InputError,
    ShipConfirmation,
};

const EVENT_ID_HEADER: &str = "x-webstore-event-id";

pub struct WebstoreChannel {
    name: String,
    base: Url,
    http: HttpClient,
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
struct EnvelopeWire {
    order_id: String,
    sequence: i64,
}

#[derive(Debug, Deserialize)]
struct OrderWire {
    order_id: String,
    sequence: i64,
    status: String,
    created_at: String,
    currency: String,
    buyer: BuyerWire,
    #[serde(default)]
    ship_to: Option<AddressWire>,
    items: Vec<ItemWire>,
    shipping: WireDecimal,
    total: WireDecimal,
    #[serde(default)]
    service_level: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BuyerWire {
    #[serde(default)]
    id: Option<String>,
    email: String,
    name: String,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AddressWire {
    name: String,
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    #[serde(default)]
    region: Option<String>,
    postal_code: String,
    country: String,
}

#[derive(Debug, Deserialize)]
struct ItemWire {
    line_id: String,
    sku: String,
    #[serde(default)]
    title: String,
    quantity: i64,
    unit_price: WireDecimal,
    discount: WireDecimal,
    tax: WireDecimal,
}

#[derive(Debug, Serialize)]
struct ConfirmationWire<'a> {
    package_id: &'a str,
    carrier: &'a str,
    tracking_number: &'a str,
    lines: Vec<ConfirmedLineWire<'a>>,
}

#[derive(Debug, Serialize)]
struct ConfirmedLineWire<'a> {
    line_id: &'a str,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct ConfirmationIdWire {
    confirmation_id: String,
}

#[derive(Debug, Deserialize)]
struct ShipmentsWire {
    shipments: Vec<ShipmentWire>,
}

#[derive(Debug, Deserialize)]
struct ShipmentWire {
    confirmation_id: String,
    package_id: String,
}

#[derive(Debug, Deserialize)]
struct OrdersWire {
    orders: Vec<serde_json::Value>,
}

fn read_envelope(body: &[u8]) -> Result<EnvelopeWire, InputError> {
    let envelope: EnvelopeWire = parse_json(body)?;
    non_empty("order_id", &envelope.order_id)?;
    Ok(envelope)
}

fn map_address(a: AddressWire) -> Result<Address, InputError> {
    non_empty("ship_to.line1", &a.line1)?;
    non_empty("ship_to.country", &a.country)?;
    Ok(Address {
        name: a.name,
        line1: a.line1,
        line2: a.line2.filter(|l| !l.trim().is_empty()),
        city: a.city,
        region: a.region.filter(|r| !r.trim().is_empty()),
        postal_code: a.postal_code,
        country: a.country,
    })
}

impl WebstoreChannel {
    fn map_order(&self, wire: OrderWire) -> Result<Order, InputError> {
        let currency = currency("currency", &wire.currency)?;
        let placed_at = timestamp("created_at", &wire.created_at)?;
        non_empty("buyer.email", &wire.buyer.email)?;
        if wire.items.is_empty() {
            return Err(InputError::new("items", "an order needs at least one item"));
        }
        let lines = wire
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let at = |field: &str| format!("items[{i}].{field}");
                non_empty(&at("line_id"), &item.line_id)?;
                non_empty(&at("sku"), &item.sku)?;
                Ok(OrderLine {
                    quantity: quantity(&at("quantity"), item.quantity)?,
                    unit_price: money(&at("unit_price"), item.unit_price, currency)?,
                    discount: money(&at("discount"), item.discount, currency)?,
                    tax: money(&at("tax"), item.tax, currency)?,
                    line_id: item.line_id,
                    sku: item.sku,
                    title: item.title,
                    shipped_quantity: 0,
                    cancelled_quantity: 0,
                })
            })
            .collect::<Result<Vec<_>, InputError>>()?;
        Ok(Order {
            id: order_id_for(&self.name, &wire.order_id),
            channel: self.name.clone(),
            external_id: wire.order_id,
            source_version: wire.sequence,
            placed_at,
            currency,
            customer: Customer {
                external_id: wire.buyer.id,
                email: wire.buyer.email,
                name: wire.buyer.name,
                phone: wire.buyer.phone,
            },
            shipping_address: wire.ship_to.map(map_address).transpose()?,
            billing_address: None,
            lines,
            shipping: money("shipping", wire.shipping, currency)?,
            total: money("total", wire.total, currency)?,
            // The webstore is the merchant of record: it never collects tax on our behalf.
            tax_treatment: TaxTreatment::MerchantCollected,
            service_level: wire.service_level.unwrap_or_else(|| "standard".to_owned()),
            status: OrderStatus::Received,
            erp_ref: None,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpClientOptions;
    use reqwest::header::HeaderValue;
    use rust_decimal::Decimal;
    use serde_json::{Value, json};

    type Mutation = Box<dyn Fn(&mut Value)>;

    fn channel() -> WebstoreChannel {
        WebstoreChannel::new(
            "webstore",
            "http://127.0.0.1:9",
            HttpClient::new(HttpClientOptions::default()).unwrap(),
        )
        .unwrap()
    }

    fn order() -> Value {
        json!({
            "order_id": "WS-000123", "sequence": 1, "status": "open",
            "updated_at": "2026-11-26T20:00:00Z", "created_at": "2026-11-26T20:00:00Z",
            "currency": "USD",
            "buyer": { "id": "B-42", "email": "b42@example.com", "name": "Buyer 42", "phone": null },
            "ship_to": { "name": "Buyer 42", "line1": "1 Main St", "line2": null, "city": "Springfield",
                         "region": "IL", "postal_code": "62701", "country": "US" },
            "items": [
                { "line_id": "1", "sku": "SKU-001", "title": "Widget", "quantity": 2,
                  "unit_price": "19.99", "discount": "0.00", "tax": "3.20" },
                { "line_id": "2", "sku": "SKU-002", "title": "Gadget", "quantity": 1,
                  "unit_price": "5.00", "discount": "0.50", "tax": "0.37" }
            ],
            "shipping": "4.99", "total": "53.04", "service_level": "standard"
        })
    }

    fn map(body: &Value) -> Result<ChannelEvent, InputError> {
        channel().map_message(&serde_json::to_vec(body).unwrap())
    }

    fn map_err(body: &Value) -> InputError {
        map(body).unwrap_err()
    }

    #[test]
    fn maps_an_open_order() {
        let ChannelEvent::Order(order) = map(&order()).unwrap() else {
            panic!("expected an order")
        };
        assert_eq!(order.id, order_id_for("webstore", "WS-000123"));
        assert_eq!(order.external_id, "WS-000123");
        assert_eq!(order.channel, "webstore");
        assert_eq!(order.source_version, 1);
        assert_eq!(order.status, OrderStatus::Received);
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.customer.external_id.as_deref(), Some("B-42"));
        assert_eq!(
            order.shipping_address.as_ref().unwrap().region.as_deref(),
            Some("IL")
        );
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.lines[0].quantity, 2);
        assert_eq!(order.lines[0].unit_price.amount, Decimal::new(1999, 2));
        assert_eq!(order.lines[1].discount.amount, Decimal::new(50, 2));
        assert_eq!(order.total.amount, Decimal::new(5304, 2));
        assert_eq!(
            order.computed_total().unwrap(),
            order.total,
            "fixture total is exact"
        );
    }

    #[test]
    fn maps_a_cancellation() {
        let mut body = order();
        body["status"] = json!("cancelled");
        body["sequence"] = json!(2);
        assert_eq!(
            map(&body).unwrap(),
            ChannelEvent::Cancelled {
                external_order_id: "WS-000123".into(),
                source_version: 2,
                reason: "cancelled on the webstore".into()
            }
        );
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let cases: Vec<(&str, Mutation, &str)> = vec![
            (
                "items[1].unit_price",
                Box::new(|b| b["items"][1]["unit_price"] = json!("abc")),
                "expected decimal",
            ),
            (
                "items[1].unit_price",
                Box::new(|b| b["items"][1]["unit_price"] = json!(5.0)),
                "expected decimal",
            ),
            (
                "items[0].quantity",
                Box::new(|b| b["items"][0]["quantity"] = json!(-1)),
                "must not be negative",
            ),
            (
                "items[0].tax",
                Box::new(|b| b["items"][0]["tax"] = json!("-0.01")),
                "must not be negative",
            ),
            (
                "items[1].sku",
                Box::new(|b| {
                    b["items"][1].as_object_mut().unwrap().remove("sku");
                }),
                "missing field",
            ),
            (
                "currency",
                Box::new(|b| b["currency"] = json!("usd")),
                "ISO 4217",
            ),
            (
                "created_at",
                Box::new(|b| b["created_at"] = json!("yesterday")),
                "RFC 3339",
            ),
            (
                "status",
                Box::new(|b| b["status"] = json!("lost")),
                "unknown status",
            ),
            (
                "buyer.email",
                Box::new(|b| {
                    b["buyer"].as_object_mut().unwrap().remove("email");
                }),
                "missing field",
            ),
            (
                "order_id",
                Box::new(|b| {
                    b.as_object_mut().unwrap().remove("order_id");
                }),
                "missing field",
            ),
            (
                "items",
                Box::new(|b| b["items"] = json!([])),
                "at least one",
            ),
            (
                "shipping",
                Box::new(|b| b["shipping"] = json!(null)),
                "expected decimal",
            ),
        ];
        for (path, mutate, message) in cases {
            let mut body = order();
            mutate(&mut body);
            let err = map_err(&body);
            assert_eq!(err.path, path, "{err}");
            assert!(err.message.contains(message), "{path}: {err}");
        }
        let err = channel().map_message(b"{not json").unwrap_err();
        assert_eq!(err.path, "body");
    }

    #[test]
    fn webhook_envelope_prefers_the_event_id() {
        let body = serde_json::to_vec(&order()).unwrap();
        let mut headers = HeaderMap::new();
        let plain = channel().read_webhook(&headers, &body).unwrap();
        assert_eq!(
            plain,
            InboundEnvelope {
                message_key: "WS-000123:1".into(),
                external_order_id: "WS-000123".into(),
                source_version: 1
            }
        );
        headers.insert(EVENT_ID_HEADER, HeaderValue::from_static("0190-evt"));
        assert_eq!(
            channel().read_webhook(&headers, &body).unwrap().message_key,
            "0190-evt"
        );
        let err = channel()
            .read_webhook(&headers, br#"{"sequence":1}"#)
            .unwrap_err();
        assert_eq!(err.path, "order_id");
        let err = channel()
            .read_webhook(&headers, br#"{"order_id":"A","sequence":"x"}"#)
            .unwrap_err();
        assert_eq!(err.path, "sequence");
        assert_eq!(
            channel().read_webhook(&headers, b"").unwrap_err().path,
            "body"
        );
    }
}
