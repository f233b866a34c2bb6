//! Webhook signature check (HMAC-SHA256, hex or base64, compared in constant time) and the envelope the mapping reads.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use sha2::Sha256;

use super::client::MappedChannel;
use super::compile::parse_payload;
use super::mapping::SignatureEncoding;
use crate::jq::id_text;
use crate::{AuthCheck, InboundEnvelope, InputError};

impl MappedChannel {
    pub(super) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), InputError> {
        let (Some(signature), Some(secret)) = (&self.compiled.signature, &self.webhook_secret)
        else {
            return Ok(());
        };
        let at = format!("headers.{}", signature.header);
        let given = headers
            .get(&signature.header)
            .ok_or_else(|| {
                InputError::unauthenticated(AuthCheck::Missing, &at, "missing signature")
            })?
            .to_str()
            .map_err(|_| {
                InputError::unauthenticated(AuthCheck::Malformed, &at, "not visible ASCII")
            })?
            .trim();
        let given = match &signature.prefix {
            Some(prefix) => given.strip_prefix(prefix.as_str()).unwrap_or(given),
            None => given,
        };
        let mismatch =
            || InputError::unauthenticated(AuthCheck::Mismatch, &at, "signature does not match");
        let given = match signature.encoding {
            SignatureEncoding::Hex => decode_hex(given).ok_or_else(mismatch)?,
            SignatureEncoding::Base64 => BASE64.decode(given).map_err(|_| mismatch())?,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| mismatch())?;
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&given).map_err(|_| mismatch())
    }
}

pub(super) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl MappedChannel {
    pub(super) fn verified_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        self.verify(headers, body)?;
        let payload = parse_payload(body)?;
        let (external_order_id, source_version) = self.compiled.envelope(&payload)?;
        let from_header = match &self.compiled.message_key_header {
            Some(name) => match headers.get(name) {
                Some(value) => {
                    let at = format!("headers.{name}");
                    let key = value
                        .to_str()
                        .map_err(|_| InputError::new(&at, "not visible ASCII"))?
                        .trim();
                    if key.is_empty() {
                        return Err(InputError::new(&at, "must not be empty"));
                    }
                    Some(key.to_owned())
                }
                None => None,
            },
            None => None,
        };
        let message_key = match (from_header, &self.compiled.message_key) {
            (Some(key), _) => key,
            (None, Some(expr)) => {
                let value = expr
                    .eval(&payload)
                    .map_err(|e| expr.error("", "message_key", e))?;
                id_text(&value).map_err(|e| expr.error("", "message_key", e))?
            }
            (None, None) => format!("{external_order_id}:{source_version}"),
        };
        Ok(InboundEnvelope {
            message_key,
            external_order_id,
            source_version,
        })
    }
}
