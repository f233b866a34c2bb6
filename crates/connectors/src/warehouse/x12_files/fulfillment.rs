//! Releases: 940s queued per request and flushed as one interchange per batch, with control numbers reserved on disk before a file goes out.

use std::path::PathBuf;
use std::sync::Arc;

use crossdock_edi::ControlNumbers;
use crossdock_model::FulfillmentRequest;

use super::client::params;
use super::client::{Control, Pending, PendingFile, State, X12FileWarehouse};
use super::files::X12Error;
use super::files::{remove_file, sha256_prefix, sync_dir, write_atomic};
use super::mapping::order_940;
use crate::{CancelOutcome, ConnectorError};

/// The largest ISA13/GS06 (nine digits).
pub(super) const MAX_CONTROL: u32 = 999_999_999;

/// What [`X12FileWarehouse::flush`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushReport {
    pub path: PathBuf,
    /// ISA13 = GS06.
    pub interchange: u32,
    /// ST02 of the first set; the others follow.
    pub first_set: u32,
    /// In interchange order.
    pub request_ids: Vec<String>,
}

impl X12FileWarehouse {
    /// Requests released and not yet flushed.
    pub async fn queued(&self) -> Vec<String> {
        let state = self.state.lock().await;
        let mut q: Vec<_> = state.pending.values().collect();
        q.sort_by_key(|p| p.seq);
        q.into_iter().map(|p| p.request.id.clone()).collect()
    }

    /// Writes every queued request as one interchange of 940s (one ST per
    /// request, in release order) into `outbound/`. `None` when nothing
    /// is queued.
    pub async fn flush(&self) -> Result<Option<FlushReport>, X12Error> {
        let mut state = self.state.lock().await;
        if state.pending.is_empty() {
            return Ok(None);
        }
        let mut queued: Vec<&Pending> = state.pending.values().collect();
        queued.sort_by_key(|p| p.seq);
        let orders = queued
            .iter()
            .map(|p| order_940(&p.request))
            .collect::<Vec<_>>();
        let request_ids: Vec<String> = queued.iter().map(|p| p.request.id.clone()).collect();
        let paths: Vec<PathBuf> = queued.iter().map(|p| p.path.clone()).collect();
        let count = u32::try_from(orders.len())
            .map_err(|_| X12Error::Invalid("too many queued requests".into()))?;
        let cn = self.reserve(&mut state, count).await?;
        let text =
            crossdock_edi::write_940(&orders, &params(&self.options, self.clock.now())?, cn)?;
        let name = format!("940-{:09}.x12", cn.interchange);
        let path = self.folders.outbound().join(&name);
        write_atomic(&path, text.as_bytes()).await?;
        for id in &request_ids {
            state.pending.remove(id);
            state.sent.insert(id.clone(), name.clone());
        }
        for p in &paths {
            remove_file(p).await?;
        }
        sync_dir(&self.folders.pending()).await?;
        tracing::info!(partner = %self.options.name, file = %name, sets = count, "940 batch written");
        Ok(Some(FlushReport {
            path,
            interchange: cn.interchange,
            first_set: cn.first_set,
            request_ids,
        }))
    }

    /// Flushes every `batch_interval` until the handle is aborted. Errors
    /// are logged and retried at the next tick (the queue is durable).
    pub fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.options.batch_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = this.flush().await {
                    tracing::warn!(partner = %this.options.name, error = %e, "940 flush failed");
                }
            }
        })
    }

    /// Reserves one interchange number and `sets` set numbers, persisting
    /// the next values before they are used.
    pub(super) async fn reserve(
        &self,
        state: &mut State,
        sets: u32,
    ) -> Result<ControlNumbers, X12Error> {
        let c = state.control;
        if c.next_interchange > MAX_CONTROL || c.next_set.saturating_add(sets) > MAX_CONTROL {
            return Err(X12Error::Invalid(format!(
                "control numbers of partner {} exhausted ({}/{})",
                self.options.name, c.next_interchange, c.next_set
            )));
        }
        let next = Control {
            next_interchange: c.next_interchange + 1,
            next_set: c.next_set + sets,
        };
        let json = serde_json::to_vec(&next).map_err(|e| X12Error::Invalid(e.to_string()))?;
        write_atomic(&self.folders.control_file(), &json).await?;
        state.control = next;
        Ok(ControlNumbers {
            interchange: c.next_interchange,
            group: c.next_interchange,
            first_set: c.next_set,
        })
    }
}

impl X12FileWarehouse {
    pub(super) async fn queue_release(
        &self,
        request: &FulfillmentRequest,
    ) -> Result<String, ConnectorError> {
        let mut state = self.state.lock().await;
        if state.pending.contains_key(&request.id) || state.sent.contains_key(&request.id) {
            return Ok(request.id.clone());
        }
        if request.lines.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "request {} has no lines",
                request.id
            )));
        }
        // Refuse what cannot be written as a 940 now, not at flush time.
        let probe = ControlNumbers {
            interchange: 1,
            group: 1,
            first_set: 1,
        };
        let params = params(&self.options, self.clock.now()).map_err(X12Error::from)?;
        crossdock_edi::write_940(&[order_940(request)], &params, probe)
            .map_err(|e| ConnectorError::rejected(format!("request {}: {e}", request.id)))?;
        let seq = state.next_seq;
        let path = self.folders.pending().join(format!(
            "{seq:012}-{}.json",
            sha256_prefix(request.id.as_bytes())
        ));
        let json = serde_json::to_vec(&PendingFile {
            seq,
            request: request.clone(),
        })
        .map_err(|e| ConnectorError::rejected(e.to_string()))?;
        write_atomic(&path, &json).await?;
        state.next_seq = seq + 1;
        state.pending.insert(
            request.id.clone(),
            Pending {
                seq,
                request: request.clone(),
                path,
            },
        );
        Ok(request.id.clone())
    }

    pub(super) async fn file_of_release(
        &self,
        request_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let state = self.state.lock().await;
        Ok(
            (state.pending.contains_key(request_id) || state.sent.contains_key(request_id))
                .then(|| request_id.to_owned()),
        )
    }

    pub(super) async fn unqueue_release(
        &self,
        request_id: &str,
    ) -> Result<CancelOutcome, ConnectorError> {
        let mut state = self.state.lock().await;
        let Some(p) = state.pending.get(request_id) else {
            return Ok(CancelOutcome::TooLate);
        };
        let path = p.path.clone();
        remove_file(&path).await?;
        sync_dir(&self.folders.pending()).await?;
        state.pending.remove(request_id);
        Ok(CancelOutcome::Cancelled)
    }
}
