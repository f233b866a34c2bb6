//! Webhook verification: `X-Shopify-Hmac-Sha256` in constant time, then the envelope keyed by `X-Shopify-Event-Id`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use sha2::Sha256;

use super::client::ShopifyChannel;
use super::orders::read_envelope;
use crate::{AuthCheck, InboundEnvelope, InputError};

pub(super) const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
pub(super) const EVENT_ID_HEADER: &str = "X-Shopify-Event-Id";
pub(super) const TOPIC_HEADER: &str = "X-Shopify-Topic";

pub(super) const TOPICS: [&str; 3] = ["orders/create", "orders/updated", "orders/cancelled"];

/// A webhook header under its `X-Shopify-` name or the newer `Shopify-` one.
pub(super) fn shopify_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h str>, InputError> {
    let short = name.trim_start_matches("X-");
    let Some(value) = headers.get(name).or_else(|| headers.get(short)) else {
        return Ok(None);
    };
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| InputError::new(name, "not visible ASCII"))
}

pub(super) fn required_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<&'h str, InputError> {
    match shopify_header(headers, name)? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(InputError::new(name, "missing")),
    }
}

impl ShopifyChannel {
    pub(super) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), InputError> {
        let given = required_header(headers, HMAC_HEADER)
            .map_err(|e| InputError::unauthenticated(AuthCheck::Missing, e.path, e.message))?;
        let mismatch = || {
            InputError::unauthenticated(
                AuthCheck::Mismatch,
                HMAC_HEADER,
                "signature does not match",
            )
        };
        let given = BASE64.decode(given).map_err(|_| mismatch())?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.webhook_secret)
            .expect("HMAC takes a key of any length");
        mac.update(body);
        mac.verify_slice(&given).map_err(|_| mismatch())
    }
}

impl ShopifyChannel {
    pub(super) fn verified_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        self.verify(headers, body)?;
        let topic = required_header(headers, TOPIC_HEADER)?;
        if !TOPICS.contains(&topic) {
            return Err(InputError::new(
                TOPIC_HEADER,
                format!("topic {topic:?} is not one of {}", TOPICS.join(", ")),
            ));
        }
        let event_id = required_header(headers, EVENT_ID_HEADER)?;
        let (external_order_id, source_version) = read_envelope(body)?;
        Ok(InboundEnvelope {
            message_key: format!("shopify:{event_id}"),
            external_order_id,
            source_version,
        })
    }
}
