use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossdock_connectors::{Channel, Erp, InputError, Warehouse};
use crossdock_model::{ErpAcceptance, OrderStatus, order_id_for};
use crossdock_store::{Accepted, Changes, ExceptionFilter, Job, NewException, NewMessage, Store};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use reqwest::header::HeaderMap;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::ingest::{Completer, IngestError, Ingestor};
use crate::options::EngineOptions;
use crate::retry::backoff_delay;
use crate::telemetry;
use crate::workflow::{Step, StepCx, StepError, WaitReason, order_entity_key, run_step};

/// A channel connection: the connector plus how the hub treats its orders.
#[derive(Clone)]
pub struct ChannelConnection {
    pub connector: Arc<dyn Channel>,
    pub acceptance: ErpAcceptance,
    /// Reconciliation polling for this channel.
    pub poll: bool,
    /// What happens to units a warehouse says it will not ship.
    pub short_ship: ShortShipPolicy,
    /// Whether an order may ship from several warehouses.
    pub split: SplitPolicy,
    /// The hub's own pacing of calls to this channel; `None` = calls go
    /// straight to the connector. Applied by [`Engine::new`].
    pub pacing: Option<crate::governor::ChannelPacing>,
}

/// Whether a channel's orders may be split across warehouses when no single
/// one can serve every line, and into how many shipments at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitPolicy {
    pub allowed: bool,
    /// Warehouses (so fulfilment requests, and at least as many shipments)
    /// an order may be split into.
    pub max_shipments: u32,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        SplitPolicy {
            allowed: false,
            max_shipments: 2,
        }
    }
}

/// What the hub does with the units of a short shipment (the warehouse's
/// final word on a request left some open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShortShipPolicy {
    /// Send them from another warehouse that has them; cancel them if none has.
    #[default]
    Reroute,
    /// Cancel them.
    Cancel,
}

/// The external systems the engine works with.
#[derive(Clone)]
pub struct Connections {
    pub channels: HashMap<String, ChannelConnection>,
    pub erp: Arc<dyn Erp>,
    /// The governor `erp` is behind, when it is (its state is reported).
    pub erp_governor: Option<Arc<crate::governor::Governor>>,
    /// Candidates for routing; configuration order breaks ties.
    pub warehouses: Vec<Arc<dyn Warehouse>>,
    /// Fulfilment routing rules over the order and its candidate warehouses.
    pub router: Arc<crate::routing::Router>,
    /// Availability policies and sync options; `None` = no availability sync.
    pub availability: Option<crate::availability::AvailabilityPlan>,
}

/// What a sync-acceptance webhook learns about its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AcceptanceOutcome {
    Accepted { erp_ref: String },
    Refused { reason: String },
}

pub(crate) struct Inner {
    pub store: Store,
    pub connections: Connections,
    pub clock: Arc<dyn Clock>,
    pub options: EngineOptions,
    rng: Mutex<SmallRng>,
    work_ready: Arc<Notify>,
    ingestor: Ingestor,
    completer: Completer,
    owner: String,
    waiters: Mutex<HashMap<String, Vec<oneshot::Sender<AcceptanceOutcome>>>>,
    /// Per warehouse: when it counts as down, releases go elsewhere.
    warehouse_breakers: crate::breaker::Breakers<String>,
    /// Velocity, lags and wake-ups of the availability sync.
    pub(crate) availability_state: crate::availability::SyncState,
}

impl Inner {
    /// Whether `warehouse`'s breaker is open now (a release there would not
    /// be sent). When its open period is over, the asking caller takes the
    /// half-open probe.
    pub(crate) fn warehouse_down(&self, warehouse: &str) -> bool {
        self.warehouse_breakers
            .with(warehouse.to_owned(), |b| match b.state() {
                crate::breaker::BreakerState::Closed => false,
                _ => b.admit(self.clock.instant()).is_err(),
            })
    }

    /// Record how a call to `warehouse` went: `failed` when it got no answer.
    pub(crate) fn warehouse_outcome(&self, warehouse: &str, failed: bool) {
        // The release that reports was admitted elsewhere (routing asked
        // `warehouse_down`), so the state says whether it was the probe.
        let changed = self.warehouse_breakers.with(warehouse.to_owned(), |b| {
            b.record(b.admission_now(), failed, self.clock.instant())
        });
        if let Some(state) = changed {
            tracing::warn!(
                warehouse,
                ?state,
                "Warehouse circuit breaker changed state."
            );
            telemetry::breaker_state(warehouse, "warehouse.release", state.gauge());
        }
    }
}

/// The order engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

/// Running background tasks of an engine.
pub struct EngineHandle {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl EngineHandle {
    /// Stop claiming work and wait for running steps to finish.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

/// Answer to an inbound webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub inbox_id: i64,
    pub duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<AcceptanceOutcome>,
}

/// Why an inbound webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no {kind} connection named {name:?}")]
    UnknownSource { kind: &'static str, name: String },
    #[error("{0}")]
    BadPayload(InputError),
    #[error("cannot commit the message now: {0}")]
    Unavailable(String),
}

impl Engine {
    pub fn new(
        store: Store,
        mut connections: Connections,
        clock: Arc<dyn Clock>,
        options: EngineOptions,
    ) -> Engine {
        // Channels are paced here, on the engine's clock, however the
        // connections were built (the `governor` module doc says why).
        for (name, channel) in &mut connections.channels {
            if let Some(pacing) = &channel.pacing {
                channel.connector = pacing.govern(name, channel.connector.clone(), clock.clone());
            }
        }
        let work_ready = Arc::new(Notify::new());
        let ingestor = Ingestor::start(store.clone(), options.ingest_batch, work_ready.clone());
        let completer = {
            let clock = clock.clone();
            Completer::start(
                store.clone(),
                options.claim_batch.max(64),
                Arc::new(move || clock.now_ms()),
            )
        };
        let rng = Mutex::new(SmallRng::seed_from_u64(options.seed));
        let warehouse_breakers = crate::breaker::Breakers::new(options.warehouse_breaker.clone());
        Engine {
            inner: Arc::new(Inner {
                store,
                connections,
                clock,
                options,
                rng,
                work_ready,
                ingestor,
                completer,
                owner: format!("hub-{}", uuid::Uuid::now_v7()),
                waiters: Mutex::new(HashMap::new()),
                warehouse_breakers,
                availability_state: Default::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Rate, queue and breaker state of the ERP governor, if there is one.
    pub fn erp_governor_status(&self) -> Option<crate::governor::GovernorStatus> {
        self.inner
            .connections
            .erp_governor
            .as_ref()
            .map(|g| g.status())
    }

    pub fn options(&self) -> &EngineOptions {
        &self.inner.options
    }

    /// Start the job runner, reconciliation pollers and the metrics refresher.
    pub fn start(&self) -> EngineHandle {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        // Stock first: orders validated before positions are known would
        // only be held and revalidated. If the ERP does not answer, work
        // starts anyway and the stock keeps being asked for.
        let (engine, dispatcher_cancel, dispatcher_tracker) =
            (self.clone(), cancel.clone(), tracker.clone());
        tracker.spawn(async move {
            let loaded = tokio::select! {
                _ = dispatcher_cancel.cancelled() => return,
                r = tokio::time::timeout(Duration::from_secs(5), engine.load_stock_if_empty()) => r,
            };
            match loaded {
                Ok(Ok(n)) => stock_loaded(&engine, n).await,
                _ => {
                    dispatcher_tracker
                        .spawn(ensure_stock(engine.clone(), dispatcher_cancel.clone()));
                }
            }
            run_dispatcher(engine.inner.clone(), dispatcher_cancel, dispatcher_tracker).await;
        });
        if self.inner.options.reconcile_interval_ms > 0 {
            for (name, conn) in &self.inner.connections.channels {
                if conn.poll {
                    tracker.spawn(run_reconciler(self.clone(), name.clone(), cancel.clone()));
                }
            }
        }
        tracker.spawn(run_metrics(self.inner.clone(), cancel.clone()));
        if let Some(plan) = &self.inner.connections.availability {
            crate::availability::spawn(self, plan, &tracker, &cancel);
        }
        EngineHandle { cancel, tracker }
    }

    /// Seed inventory positions from the ERP when the hub holds none yet.
    pub async fn load_stock_if_empty(&self) -> anyhow::Result<usize> {
        if !self.inner.store.positions(None).await?.is_empty() {
            return Ok(0);
        }
        let positions = self.inner.connections.erp.read_stock().await?;
        let (applied, _kept) = self.apply_stock_report("erp", &positions).await?;
        Ok(applied)
    }

    /// Commit a channel webhook. For a sync-acceptance channel, waits for
    /// the ERP's answer (up to the configured timeout) before returning.
    pub async fn receive_channel_webhook(
        &self,
        channel: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Receipt, Refusal> {
        let source = format!("channel:{channel}");
        let conn = self
            .inner
            .connections
            .channels
            .get(channel)
            .ok_or_else(|| Refusal::UnknownSource {
                kind: "channel",
                name: channel.to_owned(),
            })?;
        let now = self.inner.clock.now_ms();
        let envelope = match conn.connector.read_webhook(headers, body) {
            Ok(e) => e,
            Err(e) => {
                self.reject(&source, &e.to_string(), body, now).await;
                return Err(Refusal::BadPayload(e));
            }
        };
        let order_id = order_id_for(channel, &envelope.external_order_id);
        let waiter =
            (conn.acceptance == ErpAcceptance::Sync).then(|| self.wait_for_acceptance(&order_id));
        let accepted = self
            .submit(NewMessage {
                source,
                message_key: envelope.message_key,
                entity_key: order_entity_key(&order_id),
                source_version: Some(envelope.source_version),
                body: body.to_vec(),
                received_at: now,
                step: Step::ChannelMessage.as_str().to_owned(),
            })
            .await?;
        let (inbox_id, duplicate) = match accepted {
            Accepted::New(id) => (id, false),
            Accepted::Duplicate(id) => (id, true),
        };
        let acceptance = match waiter {
            Some(rx) => self.await_acceptance(&order_id, rx).await,
            None => None,
        };
        Ok(Receipt {
            inbox_id,
            duplicate,
            acceptance,
        })
    }

    /// Commit a warehouse shipment webhook.
    pub async fn receive_warehouse_webhook(
        &self,
        warehouse: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Receipt, Refusal> {
        let source = format!("warehouse:{warehouse}");
        let conn = self.warehouse_connection(warehouse)?;
        let now = self.inner.clock.now_ms();
        let envelope = match conn.read_webhook(headers, body) {
            Ok(e) => e,
            Err(e) => {
                self.reject(&source, &e.to_string(), body, now).await;
                return Err(Refusal::BadPayload(e));
            }
        };
        self.receive_warehouse_message(warehouse, envelope, body)
            .await
    }

    /// Commit a shipment message a warehouse connector read itself (from a
    /// file exchange rather than a webhook). Answers after the commit; a
    /// message whose key was seen before is a duplicate.
    pub async fn receive_warehouse_message(
        &self,
        warehouse: &str,
        envelope: crossdock_connectors::ShipmentEnvelope,
        body: &[u8],
    ) -> Result<Receipt, Refusal> {
        self.warehouse_connection(warehouse)?;
        let accepted = self
            .submit(NewMessage {
                source: format!("warehouse:{warehouse}"),
                message_key: envelope.message_key,
                entity_key: order_entity_key(&envelope.order_id),
                source_version: None,
                body: body.to_vec(),
                received_at: self.inner.clock.now_ms(),
                step: Step::WarehouseShipment.as_str().to_owned(),
            })
            .await?;
        Ok(match accepted {
            Accepted::New(id) => Receipt {
                inbox_id: id,
                duplicate: false,
                acceptance: None,
            },
            Accepted::Duplicate(id) => Receipt {
                inbox_id: id,
                duplicate: true,
                acceptance: None,
            },
        })
    }

    fn warehouse_connection(&self, warehouse: &str) -> Result<&Arc<dyn Warehouse>, Refusal> {
        self.inner
            .connections
            .warehouses
            .iter()
            .find(|w| w.name() == warehouse)
            .ok_or_else(|| Refusal::UnknownSource {
                kind: "warehouse",
                name: warehouse.to_owned(),
            })
    }

    /// Keep a refused message. Failure to record it is logged, not fatal:
    /// the sender is told no either way.
    pub async fn reject(&self, source: &str, reason: &str, body: &[u8], now: i64) {
        telemetry::ingest(source, "rejected");
        if let Err(e) = self
            .inner
            .store
            .record_rejected(source, reason, body, now)
            .await
        {
            tracing::error!(%source, error = %e, "Could not record a rejected message.");
        }
    }

    async fn submit(&self, message: NewMessage) -> Result<Accepted, Refusal> {
        self.inner
            .ingestor
            .submit(message)
            .await
            .map_err(|e| match e {
                IngestError::Store(s) => Refusal::Unavailable(s),
                IngestError::Closed => Refusal::Unavailable("shutting down".into()),
            })
    }

    fn wait_for_acceptance(&self, order_id: &str) -> oneshot::Receiver<AcceptanceOutcome> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(order_id.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    async fn await_acceptance(
        &self,
        order_id: &str,
        rx: oneshot::Receiver<AcceptanceOutcome>,
    ) -> Option<AcceptanceOutcome> {
        // A duplicate delivery of an order already past acceptance is answered from the store.
        if let Ok(Some(o)) = self.inner.store.order(order_id).await
            && let Some(erp_ref) = o.erp_ref.filter(|_| o.status != OrderStatus::OnHold)
        {
            drop(rx);
            self.forget_waiters(order_id);
            return Some(AcceptanceOutcome::Accepted { erp_ref });
        }
        let timeout = Duration::from_millis(self.inner.options.sync_acceptance_timeout_ms);
        let outcome = tokio::time::timeout(timeout, rx)
            .await
            .ok()
            .and_then(Result::ok);
        if outcome.is_none() {
            self.forget_waiters(order_id);
        }
        outcome
    }

    /// Drop waiters whose webhook has stopped waiting (their receivers are gone).
    fn forget_waiters(&self, order_id: &str) {
        let mut waiters = self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = waiters.get_mut(order_id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiters.remove(order_id);
            }
        }
    }

    /// Poll one channel for orders updated since the stored cursor (minus
    /// the overlap) and commit them like webhooks. Returns how many were new.
    pub async fn reconcile_once(&self, channel: &str) -> anyhow::Result<usize> {
        let conn = self
            .inner
            .connections
            .channels
            .get(channel)
            .ok_or_else(|| anyhow::anyhow!("no channel connection named {channel:?}"))?;
        let cursor_key = format!("poll_cursor:{channel}");
        let now = self.inner.clock.now_ms();
        let cursor: i64 = self
            .inner
            .store
            .meta(&cursor_key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let since = (cursor - self.inner.options.reconcile_overlap_ms).max(0);
        let found = conn.connector.poll_updated_since(since).await?;
        let mut new = 0;
        for (envelope, body) in found {
            let order_id = order_id_for(channel, &envelope.external_order_id);
            let accepted = self
                .submit(NewMessage {
                    source: format!("channel:{channel}"),
                    // Keyed by version, not delivery: a poll that sees the
                    // same state again is a duplicate, a newer state is not.
                    message_key: format!(
                        "poll:{}:{}",
                        envelope.external_order_id, envelope.source_version
                    ),
                    entity_key: order_entity_key(&order_id),
                    source_version: Some(envelope.source_version),
                    body,
                    received_at: now,
                    step: Step::ChannelMessage.as_str().to_owned(),
                })
                .await?;
            if matches!(accepted, Accepted::New(_)) {
                new += 1;
            }
        }
        self.inner
            .store
            .set_meta(&cursor_key, &now.to_string())
            .await?;
        Ok(new)
    }

    /// Run every step due by the clock's now, one at a time in queue order,
    /// including the steps they make due; returns how many ran.
    ///
    /// For a caller that moves a manual clock instead of starting the
    /// runner (the rehearsal): with one step at a time the order of work,
    /// and so every outcome, follows from the inputs alone.
    pub async fn run_due_steps(&self) -> anyhow::Result<usize> {
        let inner = &self.inner;
        let mut ran = 0;
        loop {
            let now = inner.clock.now_ms();
            let jobs = inner
                .store
                .claim_jobs(&inner.owner, now, inner.options.lease_ms, 64)
                .await?;
            if jobs.is_empty() {
                return Ok(ran);
            }
            for job in jobs {
                process_job(inner, job).await;
                ran += 1;
            }
        }
    }

    /// Replay exceptions matching `filter` and wake the runner.
    pub async fn replay(
        &self,
        filter: &ExceptionFilter,
        actor: &str,
    ) -> anyhow::Result<Vec<crossdock_model::ExceptionRecord>> {
        let replayed = self
            .inner
            .store
            .replay_exceptions(filter, actor, self.inner.clock.now_ms())
            .await?;
        self.inner.work_ready.notify_one();
        Ok(replayed)
    }
}

impl From<crossdock_store::StoreError> for Refusal {
    fn from(e: crossdock_store::StoreError) -> Self {
        Refusal::Unavailable(e.to_string())
    }
}

async fn run_dispatcher(inner: Arc<Inner>, cancel: CancellationToken, tracker: TaskTracker) {
    let permits = Arc::new(Semaphore::new(inner.options.concurrency));
    let poll = Duration::from_millis(inner.options.poll_interval_ms);
    loop {
        if cancel.is_cancelled() {
            return;
        }
        // Claim only what can start now, so leases are not burnt waiting.
        let free = permits.available_permits();
        if free == 0 {
            tokio::select! {
                _ = cancel.cancelled() => return,
                p = permits.clone().acquire_owned() => drop(p),
            }
            continue;
        }
        let limit = free.min(inner.options.claim_batch) as i64;
        let now = inner.clock.now_ms();
        let jobs = match inner
            .store
            .claim_jobs(&inner.owner, now, inner.options.lease_ms, limit)
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "Claiming jobs failed; retrying shortly.");
                tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(poll) => {} }
                continue;
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = inner.work_ready.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        }
        for job in jobs {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let inner = inner.clone();
            tracker.spawn(async move {
                process_job(&inner, job).await;
                drop(permit);
            });
        }
    }
}

async fn process_job(inner: &Inner, job: Job) {
    let started = Instant::now();
    let Some(step) = Step::parse(&job.step) else {
        let ex = NewException {
            entity_key: job.entity_key.clone(),
            channel: None,
            step: job.step.clone(),
            class: crossdock_model::ExceptionClass::Mapping,
            reason: format!("unknown step {:?}", job.step),
            payload: job.payload.clone(),
            at: inner.clock.now_ms(),
        };
        if let Err(e) = inner.store.fail_job(&job, &ex, &Changes::default()).await {
            tracing::error!(job = job.id, error = %e, "Could not park a job with an unknown step.");
        }
        return;
    };
    let now = inner.clock.now_ms();
    let cx = StepCx {
        inner,
        entity_key: &job.entity_key,
        payload: &job.payload,
        now,
        resolutions: Mutex::default(),
    };
    // The lease is renewed while the step runs. If it is lost (the store
    // was unreachable for a whole lease, and another worker may now hold the
    // job), the step is dropped at its next await so it starts no further
    // effects; whatever it had begun is pending and will be looked up.
    let result = tokio::select! {
        r = run_step(step, &cx) => r,
        () = keep_lease(inner, &job) => {
            tracing::warn!(job = job.id, step = step.as_str(), "Lease lost while the step ran; abandoned.");
            telemetry::step_finished(step.as_str(), "lease_lost", started.elapsed());
            return;
        }
    };
    let now = inner.clock.now_ms();
    // Effects the step applied are recorded with whatever the step's outcome
    // writes: its completion, its retry, or its exception.
    let resolved = Changes {
        effects: std::mem::take(&mut *cx.resolutions.lock().unwrap_or_else(|p| p.into_inner())),
        ..Changes::default()
    };
    let order_id = job
        .payload
        .get("order_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let outcome = match result {
        Ok(mut changes) => {
            changes.effects.extend(resolved.effects.iter().cloned());
            let accepted = (step == Step::AcceptInErp)
                .then(|| {
                    changes
                        .orders
                        .iter()
                        .find_map(|o| o.erp_ref.clone().map(|r| (o.id.clone(), r)))
                })
                .flatten();
            let has_jobs = !changes.jobs.is_empty();
            match inner.completer.complete(job.clone(), changes).await {
                Ok(false) => {
                    tracing::warn!(
                        job = job.id,
                        step = step.as_str(),
                        "Lease lost before the step was recorded; it will run again."
                    );
                    "lost"
                }
                Ok(true) => {
                    if has_jobs {
                        inner.work_ready.notify_one();
                    }
                    if let Some((order_id, erp_ref)) = accepted {
                        notify_waiters(inner, &order_id, AcceptanceOutcome::Accepted { erp_ref });
                    }
                    "completed"
                }
                Err(e) => {
                    // Nothing of the step was written; run it again soon
                    // rather than when the lease runs out. Its effects are
                    // recorded, so the rerun does not repeat them.
                    tracing::warn!(job = job.id, step = step.as_str(), error = %e, "Could not record a finished step; it will run again.");
                    let again = inner.clock.now_ms() + inner.options.backoff_base_ms;
                    if let Err(e) = inner
                        .store
                        .retry_job(&job, again, &e, false, &resolved, now)
                        .await
                    {
                        tracing::warn!(job = job.id, error = %e, "Could not reschedule; the lease will expire and the step run again.");
                    }
                    "lost"
                }
            }
        }
        Err(StepError::Retry {
            reason,
            retry_after,
        }) => {
            if job.attempts >= inner.options.max_attempts {
                let ex = exception(
                    inner,
                    &job,
                    step,
                    crossdock_model::ExceptionClass::Transient,
                    format!("gave up after {} attempts: {reason}", job.attempts),
                    now,
                )
                .await;
                park(inner, &job, &ex, &resolved, order_id.as_deref()).await;
                "exception"
            } else {
                let delay = {
                    let mut rng = inner.rng.lock().unwrap_or_else(|p| p.into_inner());
                    backoff_delay(
                        job.attempts,
                        inner.options.backoff_base_ms,
                        inner.options.backoff_max_ms,
                        retry_after,
                        &mut *rng,
                    )
                };
                tracing::debug!(job = job.id, step = step.as_str(), attempt = job.attempts, delay_ms = delay, %reason, "Step will be retried.");
                if let Err(e) = inner
                    .store
                    .retry_job(
                        &job,
                        now.saturating_add(delay),
                        &reason,
                        true,
                        &resolved,
                        now,
                    )
                    .await
                {
                    tracing::warn!(job = job.id, error = %e, "Could not schedule a retry; the lease will expire and the step run again.");
                }
                "retry"
            }
        }
        Err(StepError::Wait {
            endpoint,
            why,
            retry_after,
        }) => {
            // Not an attempt: nothing was sent. The wait is on the order's
            // timeline so an operator sees why it is not moving.
            let delay = match why {
                // The governor gave this call its own turn: come back then,
                // not a jittered while later when the turn has passed.
                WaitReason::RateLimit => i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX),
                WaitReason::BreakerOpen => {
                    let mut rng = inner.rng.lock().unwrap_or_else(|p| p.into_inner());
                    backoff_delay(1, 1, 1, Some(retry_after), &mut *rng)
                }
            };
            let retry_at = now.saturating_add(delay);
            let mut changes = resolved;
            changes.events.push(crossdock_store::NewEvent {
                entity_key: job.entity_key.clone(),
                at: now,
                kind: "waiting_for_target".to_owned(),
                detail: serde_json::json!({
                    "step": step.as_str(),
                    "endpoint": endpoint,
                    "why": why.as_str(),
                    "retry_at": retry_at,
                    // What the ERP's queue looked like then: calls waiting
                    // for a slot, the oldest wait, each endpoint's breaker.
                    "erp_governor": endpoint
                        .starts_with("erp:")
                        .then(|| inner.connections.erp_governor.as_ref().map(|g| g.status()))
                        .flatten(),
                }),
            });
            if let Err(e) = inner
                .store
                .retry_job(
                    &job,
                    retry_at,
                    &format!("circuit open: {endpoint}"),
                    false,
                    &changes,
                    now,
                )
                .await
            {
                tracing::warn!(job = job.id, error = %e, "Could not put a waiting step back; the lease will expire and the step run again.");
            }
            telemetry::step_waited(step.as_str());
            "waiting"
        }
        Err(StepError::Fail {
            class,
            reason,
            changes,
        }) => {
            let ex = exception(inner, &job, step, class, reason, now).await;
            let mut changes = *changes;
            changes.effects.extend(resolved.effects);
            park(inner, &job, &ex, &changes, order_id.as_deref()).await;
            "exception"
        }
    };
    telemetry::step_finished(step.as_str(), outcome, started.elapsed());
}

/// Renew `job`'s lease every third of its length; returns when renewal
/// fails (the lease is gone, or the store did not answer in time).
async fn keep_lease(inner: &Inner, job: &Job) {
    let lease = inner.options.lease_ms;
    let every = Duration::from_millis(u64::try_from(lease / 3).unwrap_or(1_000));
    let mut held_until = inner.clock.now_ms() + lease;
    loop {
        tokio::time::sleep(every).await;
        let until = inner.clock.now_ms() + lease;
        match tokio::time::timeout(every, inner.store.extend_lease(job, until)).await {
            Ok(Ok(true)) => held_until = until,
            // The claim is someone else's now.
            Ok(Ok(false)) => return,
            // A slow or failing store: keep trying while the lease we hold
            // lasts, then let the step go before another worker may start.
            _ if inner.clock.now_ms() + every_ms(every) < held_until => {}
            _ => return,
        }
    }
}

fn every_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn exception(
    inner: &Inner,
    job: &Job,
    step: Step,
    class: crossdock_model::ExceptionClass,
    reason: String,
    now: i64,
) -> NewException {
    let channel = match job.payload.get("order_id").and_then(|v| v.as_str()) {
        Some(id) => inner
            .store
            .order(id)
            .await
            .ok()
            .flatten()
            .map(|o| o.channel),
        None => None,
    };
    NewException {
        entity_key: job.entity_key.clone(),
        channel,
        step: step.as_str().to_owned(),
        class,
        reason,
        payload: job.payload.clone(),
        at: now,
    }
}

async fn park(
    inner: &Inner,
    job: &Job,
    ex: &NewException,
    changes: &Changes,
    order_id: Option<&str>,
) {
    let mut changes = changes.clone();
    changes.events.push(crossdock_store::NewEvent {
        entity_key: job.entity_key.clone(),
        at: ex.at,
        kind: "exception".into(),
        detail: serde_json::json!({ "step": ex.step, "class": ex.class, "reason": ex.reason }),
    });
    match inner.store.fail_job(job, ex, &changes).await {
        Ok(id) => {
            tracing::info!(job = job.id, exception = %id, step = %ex.step, class = ex.class.as_str(), reason = %ex.reason, "Step moved to the exception queue.");
            if let Some(order_id) = order_id {
                notify_waiters(
                    inner,
                    order_id,
                    AcceptanceOutcome::Refused {
                        reason: ex.reason.clone(),
                    },
                );
            }
        }
        Err(e) => {
            tracing::warn!(job = job.id, error = %e, "Could not park a failed step; it will run again.")
        }
    }
}

fn notify_waiters(inner: &Inner, order_id: &str, outcome: AcceptanceOutcome) {
    let waiting = inner
        .waiters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(order_id);
    for tx in waiting.into_iter().flatten() {
        let _ = tx.send(outcome.clone());
    }
}

/// Keep asking the ERP for stock until the hub holds positions. Orders that
/// arrived before and were held for unknown SKUs are then validated again
/// (an audited replay), so an ERP that was down at start delays orders but
/// never strands them.
/// After stock was first read (`n` positions; 0 when the hub already held
/// some), validate again the orders held for SKUs that were unknown only
/// because no stock was known yet: an ERP that was down — at this start or
/// an earlier one — delays orders but never strands them. Audited replay.
async fn stock_loaded(engine: &Engine, n: usize) {
    if n == 0 {
        // Positions were already held: orders held for unknown SKUs were
        // judged against real stock and stay where they are.
        return;
    }
    tracing::info!(positions = n, "Loaded inventory positions from the ERP.");
    let filter = ExceptionFilter {
        step: Some(Step::Validate.as_str().to_owned()),
        class: Some("validation".to_owned()),
        ..ExceptionFilter::default()
    };
    let held: Vec<_> = match engine
        .inner
        .store
        .exceptions(&ExceptionFilter {
            status: Some("open".into()),
            ..filter.clone()
        })
        .await
    {
        Ok(list) => list
            .into_iter()
            .filter(|e| e.reason.contains("unknown SKU"))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "Could not list orders held before stock was known.");
            return;
        }
    };
    for ex in held {
        let one = ExceptionFilter {
            id: Some(ex.id.clone()),
            ..ExceptionFilter::default()
        };
        if let Err(e) = engine.replay(&one, "hub:stock-loaded").await {
            tracing::warn!(error = %e, exception = %ex.id, "Could not replay an order held before stock was known.");
        }
    }
}

async fn ensure_stock(engine: Engine, cancel: CancellationToken) {
    let mut wait = Duration::from_millis(500);
    loop {
        match engine.load_stock_if_empty().await {
            Ok(n) => {
                stock_loaded(&engine, n).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "Could not read stock from the ERP; retrying.")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

async fn run_reconciler(engine: Engine, channel: String, cancel: CancellationToken) {
    let every = Duration::from_millis(engine.inner.options.reconcile_interval_ms);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match engine.reconcile_once(&channel).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(%channel, new = n, "Reconciliation poll committed order versions it had not seen; stale ones are dropped by their job.")
            }
            Err(e) => {
                tracing::warn!(%channel, error = %e, "Reconciliation poll failed; next period tries again.")
            }
        }
    }
}

async fn run_metrics(inner: Arc<Inner>, cancel: CancellationToken) {
    loop {
        let now = inner.clock.now_ms();
        if let Ok(q) = inner.store.queue_stats(now).await {
            telemetry::queue(q.ready, q.running, q.oldest_ready_age_ms);
        }
        if let Ok(rows) = inner.store.exception_counts().await {
            for class in crossdock_model::ExceptionClass::ALL {
                let n = rows
                    .iter()
                    .filter(|(c, s, _)| c == class.as_str() && s == "open")
                    .map(|(_, _, n)| *n)
                    .sum();
                telemetry::exceptions_open(class.as_str(), n);
            }
        }
        if let Ok(rows) = inner.store.order_status_counts().await {
            for st in OrderStatus::ALL {
                let n = rows
                    .iter()
                    .find(|(s, _)| s == st.as_str())
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                telemetry::orders(st.as_str(), n);
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
