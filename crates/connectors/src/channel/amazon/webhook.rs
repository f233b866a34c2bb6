//! `ORDER_CHANGE` notifications: their envelope (dedupe key and version). They carry no signature; the hub protects the route.

use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::client::AmazonChannel;
use crate::input::{parse_json, timestamp_ms};
use crate::{InboundEnvelope, InputError};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NotificationWire {
    #[serde(default)]
    pub(super) notification_type: Option<String>,
    #[serde(default)]
    pub(super) event_time: Option<String>,
    pub(super) payload: NotificationPayload,
    pub(super) notification_metadata: NotificationMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NotificationPayload {
    pub(super) order_change_notification: OrderChangeWire,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct OrderChangeWire {
    pub(super) amazon_order_id: String,
    #[serde(default)]
    pub(super) order_change_trigger: Option<TriggerWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TriggerWire {
    #[serde(default)]
    pub(super) time_of_order_change: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NotificationMetadata {
    pub(super) notification_id: String,
}

pub(super) fn read_notification(body: &[u8]) -> Result<(String, String, i64), InputError> {
    let n: NotificationWire = parse_json(body)?;
    if let Some(t) = n.notification_type.as_deref()
        && t != "ORDER_CHANGE"
    {
        return Err(InputError::new(
            "NotificationType",
            format!("{t:?} is not ORDER_CHANGE"),
        ));
    }
    let id = n.notification_metadata.notification_id;
    if id.trim().is_empty() {
        return Err(InputError::new(
            "NotificationMetadata.NotificationId",
            "empty",
        ));
    }
    let change = n.payload.order_change_notification;
    if change.amazon_order_id.trim().is_empty() {
        return Err(InputError::new(
            "Payload.OrderChangeNotification.AmazonOrderId",
            "empty",
        ));
    }
    let version = match change
        .order_change_trigger
        .and_then(|t| t.time_of_order_change)
    {
        Some(t) => timestamp_ms(
            "Payload.OrderChangeNotification.OrderChangeTrigger.TimeOfOrderChange",
            &t,
        )?,
        None => timestamp_ms(
            "EventTime",
            n.event_time
                .as_deref()
                .ok_or_else(|| InputError::new("EventTime", "missing field"))?,
        )?,
    };
    Ok((id, change.amazon_order_id, version))
}

impl AmazonChannel {
    pub(super) fn verified_webhook(
        &self,
        _headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        let (id, order_id, version) = read_notification(body)?;
        Ok(InboundEnvelope {
            message_key: format!("amazon:notification:{id}"),
            external_order_id: order_id,
            source_version: version,
        })
    }
}
