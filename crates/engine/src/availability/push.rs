//! Push: owed quantities go to each channel in its native format through
//! its connector — urgent ones at once on the per-item API, the long tail
//! in bulk batches on a schedule — and each SKU is settled by the channel's
//! per-SKU answer. Throttling and failures back off; nothing owed is
//! dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossdock_connectors::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityUpdate, Channel, ConnectorError,
};
use crossdock_store::AvailabilitySettlement;
use tokio_util::sync::CancellationToken;

use super::plan::InventoryOptions;
use super::state::Shared;
use crate::telemetry;

// The pusher runs on tokio's real-time timer in `serve`; a rehearsal on a
// manual clock never starts it and calls `sync_once` instead, so its batch
// schedule reads the wall clock.
#[allow(clippy::disallowed_methods)]
pub(crate) async fn run_push(
    shared: Arc<Shared>,
    channel: String,
    connector: Arc<dyn Channel>,
    cancel: CancellationToken,
) {
    let options = shared.plan().options.clone();
    let batch_every = Duration::from_millis(options.batch_interval_ms);
    let wake_up = shared.state.pusher(&channel);
    let mut next_batch = Instant::now() + batch_every;
    loop {
        let batch_due = Instant::now() >= next_batch;
        let pushed = push_owed(&shared, &channel, connector.as_ref(), !batch_due, &options).await;
        if batch_due {
            next_batch = Instant::now() + batch_every;
        }
        match pushed {
            // More may be waiting behind a full batch: go again at once.
            Ok(round) if round.more => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%channel, error = %e, "Availability push failed; tried again shortly.")
            }
        }
        let wake = next_batch.min(Instant::now() + Duration::from_millis(options.retry_ms));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = wake_up.notified() => {}
            _ = tokio::time::sleep_until(wake.into()) => {}
        }
    }
}

/// What one round of pushes to a channel came to.
pub(crate) struct PushRound {
    /// A full batch went out: more may be owed.
    pub more: bool,
    /// The channel (or its governor) put the batch off until then (ms).
    pub put_off_until: Option<i64>,
}

/// One round of pushes to `channel`: urgent rows on the per-item API, or —
/// when the batch is due — everything owed in bulk.
pub(crate) async fn push_owed(
    shared: &Shared,
    channel: &str,
    connector: &dyn Channel,
    urgent_only: bool,
    options: &InventoryOptions,
) -> anyhow::Result<PushRound> {
    let cadence = if urgent_only {
        AvailabilityCadence::Urgent
    } else {
        AvailabilityCadence::Batch
    };
    let limit = connector.availability_batch_limit(cadence).max(1);
    let now = shared.clock.now_ms();
    let owed = shared
        .store
        .owed_availability(channel, urgent_only, now, limit)
        .await?;
    if owed.is_empty() {
        return Ok(PushRound {
            more: false,
            put_off_until: None,
        });
    }
    let updates: Vec<AvailabilityUpdate> = owed
        .iter()
        .filter_map(|r| {
            let target = r.target?;
            Some(AvailabilityUpdate {
                sku: r.sku.clone(),
                quantity: target,
                previous: r.published,
                // The same owed change keeps its key across retries, so a
                // channel that honours keys applies a resend once.
                idempotency_key: format!(
                    "{channel}:{}:{}:{target}",
                    r.sku,
                    r.changed_at.unwrap_or_default()
                ),
                changed_at: r.changed_at.unwrap_or(now),
            })
        })
        .collect();
    let result = connector.publish_availability(&updates, cadence).await;
    let at = shared.clock.now_ms();
    let backoff = |attempts: i64| {
        let ms = options
            .retry_ms
            .saturating_mul(1 << attempts.clamp(0, 16) as u32);
        at + ms.min(300_000) as i64
    };
    let settlements: Vec<AvailabilitySettlement> = match result {
        Ok(results) => owed
            .iter()
            .zip(&updates)
            .map(|(row, update)| {
                match results.iter().find(|r| r.sku == update.sku).map(|r| &r.outcome) {
                    Some(AvailabilityOutcome::Accepted) => {
                        let lag = at - row.changed_at.unwrap_or(at);
                        shared.state.note_acknowledged(
                            channel,
                            lag,
                            shared
                                .state
                                .velocity(&update.sku, shared.clock.instant()),
                        );
                        AvailabilitySettlement::Acknowledged {
                            sku: update.sku.clone(),
                            quantity: update.quantity,
                            at,
                        }
                    }
                    Some(AvailabilityOutcome::Stale { current }) => AvailabilitySettlement::Stale {
                        sku: update.sku.clone(),
                        current: *current,
                        retry_at: at,
                    },
                    Some(AvailabilityOutcome::Rejected { reason }) => {
                        telemetry::availability_refused(channel);
                        tracing::warn!(%channel, sku = %update.sku, %reason, "Channel refused an availability update.");
                        AvailabilitySettlement::Refused {
                            sku: update.sku.clone(),
                            reason: reason.clone(),
                            at,
                        }
                    }
                    None => AvailabilitySettlement::Failed {
                        sku: update.sku.clone(),
                        reason: "the channel's answer had no result for this SKU".into(),
                        retry_at: backoff(row.attempts),
                    },
                }
            })
            .collect(),
        Err(error) => {
            let (reason, wait) = match &error {
                ConnectorError::Throttled { retry_after, .. }
                | ConnectorError::CircuitOpen { retry_after, .. }
                | ConnectorError::Paced { retry_after, .. } => {
                    (error.to_string(), Some(*retry_after))
                }
                ConnectorError::Transient { retry_after, .. } => (error.to_string(), *retry_after),
                ConnectorError::Unreachable { .. } => (error.to_string(), None),
                ConnectorError::Rejected { .. } | ConnectorError::Unauthorized { .. } => {
                    (error.to_string(), None)
                }
            };
            tracing::warn!(%channel, skus = owed.len(), %reason, "Availability push failed.");
            owed.iter()
                .map(|row| AvailabilitySettlement::Failed {
                    sku: row.sku.clone(),
                    reason: reason.clone(),
                    retry_at: wait.map_or_else(
                        || backoff(row.attempts),
                        |w| at + w.as_millis() as i64,
                    ),
                })
                .collect()
        }
    };
    shared
        .store
        .settle_availability(channel, &settlements)
        .await?;
    Ok(PushRound {
        more: owed.len() == limit
            && settlements
                .iter()
                .any(|s| matches!(s, AvailabilitySettlement::Acknowledged { .. })),
        put_off_until: settlements
            .iter()
            .filter_map(|s| match s {
                AvailabilitySettlement::Failed { retry_at, .. } => Some(*retry_at),
                _ => None,
            })
            .min(),
    })
}
