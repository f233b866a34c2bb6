//! Settlements fetched from the channels on a schedule: every
//! `settlement_poll_ms` each channel is asked for the settlements it issued
//! since the stored cursor (less the reconciliation overlap), and each is
//! imported through [`import_settlement`] — the same path as a file import,
//! which skips one the store already holds (by channel and settlement id)
//! and queues the posting of the journals of one it did not. So listing a
//! settlement again is harmless, and a failed document is fetched again
//! next time: the cursor moves only when every document was imported.

use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::import::{ImportOutcome, ImportRequest, import_settlement};
use crate::Engine;
use crate::engine::PollWindow;

/// What one fetch of a channel's settlements did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FetchReport {
    /// Settlement documents the channel listed.
    pub listed: usize,
    /// Of those, the ones the store did not hold yet.
    pub imported: usize,
}

impl Engine {
    /// Fetch one channel's settlements since its cursor and import them.
    pub async fn fetch_settlements_once(&self, channel: &str) -> anyhow::Result<FetchReport> {
        let PollWindow {
            conn,
            cursor_key,
            now,
            since,
        } = self.poll_window(channel, "settlement_cursor").await?;
        let documents = conn.connector.settlements_since(since).await?;
        let mut report = FetchReport {
            listed: documents.len(),
            imported: 0,
        };
        for doc in &documents {
            let request = ImportRequest {
                format: doc.format,
                file: &doc.file,
                transactions: doc.transactions.as_deref(),
                channel: Some(channel),
                now: self.inner.clock.now_ms(),
            };
            let imported = import_settlement(&self.inner.store, &request)
                .await
                .map_err(|e| anyhow::anyhow!("{channel} settlement {}: {e}", doc.id))?;
            if imported.outcome == ImportOutcome::Imported {
                report.imported += 1;
            }
        }
        self.inner
            .store
            .set_meta(&cursor_key, &now.to_string())
            .await?;
        Ok(report)
    }
}

/// Fetch `channel`'s settlements every `settlement_poll_ms` until cancelled.
pub(crate) async fn run_settlement_poller(
    engine: Engine,
    channel: String,
    cancel: CancellationToken,
) {
    let every = Duration::from_millis(engine.inner.options.settlement_poll_ms);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match engine.fetch_settlements_once(&channel).await {
            Ok(FetchReport { imported: 0, .. }) => {}
            Ok(report) => {
                tracing::info!(%channel, listed = report.listed, imported = report.imported, "Imported settlements fetched from the channel; their journals are queued for posting.")
            }
            Err(e) => {
                tracing::warn!(%channel, error = %e, "Settlement fetch failed; next period tries again.")
            }
        }
    }
}
