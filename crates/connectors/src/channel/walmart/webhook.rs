//! Webhook notifications (`PO_CREATED`, `PO_LINE_AUTOCANCELLED`): the shared-secret check in constant time and their envelope.

use chrono::DateTime;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::client::{WalmartChannel, epoch_ms};
use crate::input::parse_json;
use crate::{AuthCheck, InboundEnvelope, InputError};

/// The order event types Walmart's notifications API lists.
pub(super) const EVENT_TYPES: [&str; 2] = ["PO_CREATED", "PO_LINE_AUTOCANCELLED"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NotificationWire {
    pub(super) event_type: String,
    pub(super) event_id: String,
    pub(super) purchase_order_id: String,
    #[serde(default)]
    pub(super) event_time: Option<serde_json::Value>,
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl WalmartChannel {
    pub(super) fn verified_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        if let Some(expected) = &self.webhook_authorization {
            let given = headers
                .get(AUTHORIZATION)
                .map(HeaderValue::as_bytes)
                .ok_or_else(|| {
                    InputError::unauthenticated(AuthCheck::Missing, "Authorization", "missing")
                })?;
            if !constant_time_eq(given, expected) {
                return Err(InputError::unauthenticated(
                    AuthCheck::Mismatch,
                    "Authorization",
                    "does not match",
                ));
            }
        }
        let wire: NotificationWire = parse_json(body)?;
        if !EVENT_TYPES.contains(&wire.event_type.as_str()) {
            return Err(InputError::new(
                "eventType",
                format!(
                    "{:?} is not one of {}",
                    wire.event_type,
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        for (path, value) in [
            ("eventId", &wire.event_id),
            ("purchaseOrderId", &wire.purchase_order_id),
        ] {
            if value.trim().is_empty() {
                return Err(InputError::new(path, "must not be empty"));
            }
        }
        let source_version = match &wire.event_time {
            None | Some(serde_json::Value::Null) => 0,
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .map(epoch_ms)
                .ok_or_else(|| InputError::new("eventTime", "not a whole number"))?,
            Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.timestamp_millis())
                .map_err(|e| InputError::new("eventTime", format!("{s:?}: {e}")))?,
            Some(_) => return Err(InputError::new("eventTime", "expected a time")),
        };
        Ok(InboundEnvelope {
            message_key: format!("walmart:event:{}", wire.event_id.trim()),
            external_order_id: wire.purchase_order_id.trim().to_owned(),
            source_version,
        })
    }
}
