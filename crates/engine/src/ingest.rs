//! Group commit for inbound messages: webhook handlers hand their message
//! to one committer task, which writes whatever has queued up in a single
//! transaction and then answers every handler. Each handler still answers
//! its sender only after its message is committed; many of them just share
//! one commit (and one fsync).

use std::sync::Arc;

use crossdock_store::{Accepted, NewMessage, Store};
use tokio::sync::{Notify, mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("store: {0}")]
    Store(String),
    #[error("the hub is shutting down")]
    Closed,
}

type Request = (NewMessage, oneshot::Sender<Result<Accepted, IngestError>>);

/// Cheap-to-clone handle to the committer task.
#[derive(Clone, Debug)]
pub struct Ingestor {
    tx: mpsc::Sender<Request>,
}

impl Ingestor {
    /// Start the committer. `work_ready` is notified after each commit that
    /// enqueued jobs, so idle workers wake at once.
    pub fn start(store: Store, max_batch: usize, work_ready: Arc<Notify>) -> Ingestor {
        let (tx, rx) = mpsc::channel::<Request>(max_batch * 4);
        tokio::spawn(run_committer(store, rx, max_batch, work_ready));
        Ingestor { tx }
    }

    /// Commit one message; resolves once it is durable.
    pub async fn submit(&self, message: NewMessage) -> Result<Accepted, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((message, reply)).await.map_err(|_| IngestError::Closed)?;
        rx.await.map_err(|_| IngestError::Closed)?
    }
}

async fn run_committer(
    store: Store,
    mut rx: mpsc::Receiver<Request>,
    max_batch: usize,
    work_ready: Arc<Notify>,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let (messages, replies): (Vec<NewMessage>, Vec<_>) = batch.drain(..).unzip();
        match store.accept_messages(&messages).await {
            Ok(results) => {
                let any_new = results.iter().any(|r| matches!(r, Accepted::New(_)));
                for ((m, reply), r) in messages.iter().zip(replies).zip(results) {
                    crate::telemetry::ingest(
                        &m.source,
                        match r {
                            Accepted::New(_) => "accepted",
                            Accepted::Duplicate(_) => "duplicate",
                        },
                    );
                    let _ = reply.send(Ok(r));
                }
                if any_new {
                    work_ready.notify_waiters();
                    work_ready.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = messages.len(), "Inbox commit failed; senders get 503 and will retry.");
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Store(msg.clone())));
                }
            }
        }
    }
}
