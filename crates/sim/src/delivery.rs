//! Webhook delivery to the hub, retried like a real marketplace or 3PL would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::signing::Signer;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct DeliveryCounters {
    attempts: AtomicU64,
    delivered: AtomicU64,
    refused: AtomicU64,
    pending: AtomicUsize,
}

impl DeliveryCounters {
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    pub(crate) fn write_stats(&self, out: &mut Map<String, Value>) {
        out.insert(
            "webhook_attempts".into(),
            self.attempts.load(Ordering::Relaxed).into(),
        );
        out.insert(
            "webhooks_delivered".into(),
            self.delivered.load(Ordering::Relaxed).into(),
        );
        out.insert(
            "webhooks_refused".into(),
            self.refused.load(Ordering::Relaxed).into(),
        );
    }
}

/// A delivery that is owed to the hub (scheduled or in flight). Counted as
/// pending from creation until dropped, so a delivery that is still waiting
/// for its time (a later cancellation, a shipment) keeps the estate busy.
pub(crate) struct PendingSlot {
    counters: Arc<DeliveryCounters>,
    estate_pending: Arc<AtomicUsize>,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.counters.pending.fetch_sub(1, Ordering::SeqCst);
        self.estate_pending.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
pub(crate) struct Deliverer {
    client: reqwest::Client,
    estate_pending: Arc<AtomicUsize>,
    pub(crate) cancel: CancellationToken,
}

impl Deliverer {
    pub(crate) fn new(
        client: reqwest::Client,
        estate_pending: Arc<AtomicUsize>,
        cancel: CancellationToken,
    ) -> Self {
        Deliverer {
            client,
            estate_pending,
            cancel,
        }
    }

    pub(crate) fn reserve(&self, counters: &Arc<DeliveryCounters>) -> PendingSlot {
        counters.pending.fetch_add(1, Ordering::SeqCst);
        self.estate_pending.fetch_add(1, Ordering::SeqCst);
        PendingSlot {
            counters: counters.clone(),
            estate_pending: self.estate_pending.clone(),
        }
    }

    /// Sends `body` until the hub answers 2xx, or refuses it for good, or the estate stops.
    pub(crate) fn spawn(
        &self,
        slot: PendingSlot,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: Value,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            this.deliver(&slot, &url, &headers, &body).await;
            drop(slot);
        });
    }

    /// Like [`Deliverer::spawn`], each attempt signed by `signer` as
    /// message `id` (Standard Webhooks; unsigned when there is no signer).
    pub(crate) fn spawn_signed(
        &self,
        slot: PendingSlot,
        url: String,
        headers: Vec<(&'static str, String)>,
        signer: Option<Arc<Signer>>,
        id: String,
        body: Value,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let bytes = serde_json::to_vec(&body).expect("a JSON value serializes");
            let signing = signer.as_ref().map(|s| (s.as_ref(), id.as_str()));
            this.deliver_bytes(&slot, &url, &headers, bytes.into(), signing)
                .await;
            drop(slot);
        });
    }

    /// Like [`Deliverer::spawn`] for a body whose exact bytes matter (a
    /// signature covers them), sent with `content-type: application/json`.
    pub(crate) fn spawn_raw(
        &self,
        slot: PendingSlot,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            this.deliver_bytes(&slot, &url, &headers, body.into(), None)
                .await;
            drop(slot);
        });
    }

    async fn deliver(
        &self,
        slot: &PendingSlot,
        url: &str,
        headers: &[(&'static str, String)],
        body: &Value,
    ) {
        let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
        self.deliver_bytes(slot, url, headers, bytes.into(), None)
            .await;
    }

    async fn deliver_bytes(
        &self,
        slot: &PendingSlot,
        url: &str,
        headers: &[(&'static str, String)],
        body: bytes::Bytes,
        signing: Option<(&Signer, &str)>,
    ) {
        let counters = &slot.counters;
        let mut backoff = FIRST_BACKOFF;
        loop {
            counters.attempts.fetch_add(1, Ordering::Relaxed);
            let mut request = self
                .client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            // Each attempt is signed when it leaves, as a real sender does.
            if let Some((signer, id)) = signing {
                for (name, value) in signer.headers(id, &body) {
                    request = request.header(name, value);
                }
            }
            let wait = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(response) => {
                    let status = response.status();
                    if status.is_client_error() && !matches!(status.as_u16(), 408 | 409 | 429) {
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        let text = response.text().await.unwrap_or_default();
                        tracing::warn!(%url, %status, body = %text, "hub refused webhook");
                        return;
                    }
                    retry_after(response.headers()).unwrap_or(backoff)
                }
                Err(e) => {
                    tracing::debug!(%url, error = %e, "webhook delivery failed");
                    backoff
                }
            };
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_BACKOFF))
}
