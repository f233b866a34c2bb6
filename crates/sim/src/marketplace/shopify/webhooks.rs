//! Webhooks to the hub: signed over the exact bytes delivered, and
//! dropped, duplicated or delayed as configured.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::Value;
use sha2::Sha256;

use super::state::ShopifySim;
use crate::fixtures::uuid;
use crate::wire::lock;

/// `X-Shopify-Hmac-Sha256`: base64 of HMAC-SHA256(secret, exact body bytes).
fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

impl ShopifySim {
    /// Sends one webhook event, subject to the drop, duplicate and reorder faults.
    pub(super) fn emit(self: &Arc<Self>, topic: &'static str, order_id: u64, order: &Value) {
        let c = &self.config;
        let body = serde_json::to_vec(order).unwrap_or_default();
        let signature = sign(c.webhook_secret.as_bytes(), &body);
        let mut rng = lock(&self.base.rng);
        let mut state = lock(&self.state);
        state.counters.events += 1;
        if rng.random_bool(c.drop_rate) {
            state.counters.webhooks_dropped += 1;
            state.dropped.push(order_id.to_string());
            return;
        }
        let copies = if rng.random_bool(c.duplicate_rate) {
            state.counters.duplicates_sent += 1;
            2
        } else {
            1
        };
        let event_id = uuid(&mut rng);
        let triggered_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        for _ in 0..copies {
            let headers = vec![
                ("X-Shopify-Topic", topic.to_owned()),
                ("X-Shopify-Hmac-Sha256", signature.clone()),
                ("X-Shopify-Event-Id", event_id.clone()),
                // Each delivery of an event is its own webhook.
                ("X-Shopify-Webhook-Id", uuid(&mut rng)),
                ("X-Shopify-Shop-Domain", c.shop_domain.clone()),
                ("X-Shopify-Triggered-At", triggered_at.clone()),
                ("X-Shopify-API-Version", c.api_version.clone()),
            ];
            let delay = if c.reorder {
                Duration::from_millis(rng.random_range(0..=c.max_delivery_delay_ms))
            } else {
                Duration::ZERO
            };
            let slot = self.base.deliverer.reserve(&self.base.deliveries);
            let url = self.base.webhook_url.clone();
            let body = body.clone();
            if delay.is_zero() {
                self.base.deliverer.spawn_raw(slot, url, headers, body);
            } else {
                state.counters.deliveries_delayed += 1;
                let deliverer = self.base.deliverer.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = deliverer.cancel.cancelled() => {}
                        _ = tokio::time::sleep(delay) => deliverer.spawn_raw(slot, url, headers, body),
                    }
                });
            }
        }
    }

    // ---- JSON in Shopify's REST shape ----
}
