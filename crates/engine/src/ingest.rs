//! Group commit. Callers hand their write to one committer task, which
//! writes whatever has queued up in a single transaction and then answers
//! every caller. Each caller still proceeds only after its own write is
//! committed; many of them just share one commit. The hub uses it at the
//! door (inbound messages) and for finished workflow steps.

use std::future::Future;
use std::sync::Arc;

use crossdock_store::{Accepted, Changes, Job, NewMessage, Store};
use tokio::sync::{Notify, mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("store: {0}")]
    Store(String),
    #[error("the hub is shutting down")]
    Closed,
}

/// A committer task fed through a channel; cheap to clone.
pub(crate) struct Batcher<T, R> {
    tx: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Batcher {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Start the committer: `commit` receives up to `max_batch` queued items
    /// and returns one answer per item, in order.
    pub(crate) fn start<F, Fut>(max_batch: usize, mut commit: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(T, oneshot::Sender<R>)>(max_batch * 4);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut batch, max_batch).await > 0 {
                let (items, replies): (Vec<T>, Vec<_>) = batch.drain(..).unzip();
                for (reply, answer) in replies.into_iter().zip(commit(items).await) {
                    let _ = reply.send(answer);
                }
            }
        });
        Batcher { tx }
    }

    /// Queue one item; resolves with its answer once committed. `None` when
    /// the committer is gone (shutdown).
    pub(crate) async fn submit(&self, item: T) -> Option<R> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((item, reply)).await.ok()?;
        rx.await.ok()
    }
}

/// Commits inbound messages, each with its first job.
#[derive(Clone)]
pub struct Ingestor(Batcher<NewMessage, Result<Accepted, IngestError>>);

impl Ingestor {
    /// `work_ready` is notified after each commit that enqueued jobs, so
    /// idle workers wake at once.
    pub fn start(store: Store, max_batch: usize, work_ready: Arc<Notify>) -> Ingestor {
        Ingestor(Batcher::start(
            max_batch,
            move |messages: Vec<NewMessage>| {
                let (store, work_ready) = (store.clone(), work_ready.clone());
                async move {
                    match store.accept_messages(&messages).await {
                        Ok(results) => {
                            for (m, r) in messages.iter().zip(&results) {
                                let outcome = match r {
                                    Accepted::New(_) => "accepted",
                                    Accepted::Duplicate(_) => "duplicate",
                                };
                                crate::telemetry::ingest(&m.source, outcome);
                            }
                            wake_held_back(&store, &messages, &results).await;
                            if results.iter().any(|r| matches!(r, Accepted::New(_))) {
                                work_ready.notify_one();
                            }
                            results.into_iter().map(Ok).collect()
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, size = messages.len(), "Inbox commit failed; senders get 503 and will retry.");
                            let msg = e.to_string();
                            messages
                                .iter()
                                .map(|_| Err(IngestError::Store(msg.clone())))
                                .collect()
                        }
                    }
                }
            },
        ))
    }

    /// Commit one message; resolves once it is durable.
    pub async fn submit(&self, message: NewMessage) -> Result<Accepted, IngestError> {
        self.0
            .submit(message)
            .await
            .unwrap_or(Err(IngestError::Closed))
    }
}

/// A new message about an order the channel held back (waiting for
/// payment) makes that wait end now: the waiting message sees the newer one
/// and lets it decide, instead of holding it back until its next look.
/// Failing to wake is harmless (the wait ends at its own time), so it is
/// only logged.
async fn wake_held_back(store: &Store, messages: &[NewMessage], results: &[Accepted]) {
    let step = crate::steps::Step::ChannelMessage.as_str();
    let keys: Vec<&str> = messages
        .iter()
        .zip(results)
        .filter(|(m, r)| matches!(r, Accepted::New(_)) && m.step == step)
        .map(|(m, _)| m.entity_key.as_str())
        .collect();
    if keys.is_empty() {
        return;
    }
    let why = crate::steps::context::WaitReason::PendingPayment.as_str();
    let now = messages.iter().map(|m| m.received_at).max().unwrap_or(0);
    if let Err(e) = store.wake_waiting(&keys, step, why, now).await {
        tracing::warn!(error = %e, "Could not wake orders held back by their channel; they look again at their own time.");
    }
}

/// Commits finished steps: each job's completion with the step's writes.
#[derive(Clone)]
pub(crate) struct Completer(Batcher<(Job, Changes), Result<bool, String>>);

impl Completer {
    pub(crate) fn start(
        store: Store,
        max_batch: usize,
        now: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Completer {
        Completer(Batcher::start(
            max_batch,
            move |items: Vec<(Job, Changes)>| {
                let (store, now) = (store.clone(), now.clone());
                async move {
                    let refs: Vec<(&Job, &Changes)> = items.iter().map(|(j, c)| (j, c)).collect();
                    match store.complete_jobs(&refs, now()).await {
                        Ok(held) => held.into_iter().map(Ok).collect(),
                        // One step's writes the store refuses would fail
                        // every step committed with it (and each failure
                        // spends an attempt): commit them one by one, so
                        // only the step at fault fails.
                        Err(_) if refs.len() > 1 => {
                            let mut each = Vec::with_capacity(refs.len());
                            for r in &refs {
                                each.push(match store.complete_jobs(&[*r], now()).await {
                                    Ok(held) => Ok(held.first().copied().unwrap_or(false)),
                                    Err(e) => Err(e.to_string()),
                                });
                            }
                            each
                        }
                        Err(e) => vec![Err(e.to_string())],
                    }
                }
            },
        ))
    }

    /// Commit a finished step. `Ok(false)`: the lease was lost and nothing
    /// was written; `Err`: the commit failed and the step will run again.
    pub(crate) async fn complete(&self, job: Job, changes: Changes) -> Result<bool, String> {
        self.0
            .submit((job, changes))
            .await
            .unwrap_or_else(|| Err("shutting down".into()))
    }
}
