//! The engine's front door: [`Engine`] takes inbound messages (channel and
//! warehouse webhooks, reconciliation polls), commits each before it is
//! acknowledged, and starts the background work that moves orders on.
//!
//! - `receive_*` commit a message (inbox + first job) through the group-
//!   committing ingestor; a sync-acceptance channel's webhook waits here
//!   for its order's ERP answer.
//! - [`Engine::start`] starts the job runner ([`crate::runner`]), the
//!   reconciliation pollers, the metrics refresher and the availability
//!   sync ([`crate::availability`]), after a first stock load.
//! - [`Engine::replay`] puts exceptions back in the queue.
//!
//! The order lifecycle itself is in [`crate::steps`]; this file knows no
//! step but the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossdock_connectors::{InputError, Warehouse};
use crossdock_model::{ErpAcceptance, OrderStatus, order_id_for};
use crossdock_store::{Accepted, ExceptionFilter, MessageOrigin, NewMessage, Store};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use reqwest::header::HeaderMap;
use serde::Serialize;
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::availability::{self, AvailabilitySync};
use crate::clock::Clock;
use crate::connections::Connections;
use crate::ingest::{Completer, IngestError, Ingestor};
use crate::inner::{AcceptanceOutcome, Inner};
use crate::options::EngineOptions;
use crate::runner;
use crate::steps::{Step, order_entity_key};
use crate::telemetry;
use crate::warehouse_breakers::WarehouseBreakers;

/// This run's name on its leases: `{hub_id}#{run}`, so the hub's next run
/// knows which leases were its own.
fn lease_owner(hub_id: Option<&str>) -> String {
    let run = uuid::Uuid::now_v7().simple();
    match hub_id {
        Some(id) => format!("{id}#{run}"),
        None => format!("hub-{run}"),
    }
}

/// The order engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

/// One webhook's wait for its order's ERP answer. However the wait ends
/// (answered, timed out, or its request dropped because the client went
/// away), dropping it takes its place out of the waiters, so a waiter
/// cannot outlive its request.
struct AcceptanceWait {
    inner: Arc<Inner>,
    order_id: String,
    rx: Option<oneshot::Receiver<AcceptanceOutcome>>,
}

impl Drop for AcceptanceWait {
    fn drop(&mut self) {
        // Close our end first, so ours is among the closed senders pruned.
        drop(self.rx.take());
        let mut waiters = self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = waiters.get_mut(&self.order_id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiters.remove(&self.order_id);
            }
        }
    }
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
        let options_hub_id = options.hub_id.clone();
        let warehouses = WarehouseBreakers::new(options.warehouse_breaker.clone(), clock.clone());
        let availability = AvailabilitySync::new(
            store.clone(),
            clock.clone(),
            connections.erp.clone(),
            connections
                .channels
                .iter()
                .map(|(name, c)| (name.clone(), c.connector.clone()))
                .collect(),
            connections.availability.clone(),
            connections.authority.clone(),
        );
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
                owner: lease_owner(options_hub_id.as_deref()),
                waiters: Mutex::new(HashMap::new()),
                warehouses,
                availability,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Replace the order rules (a configuration reload): steps that start
    /// from now on validate under `rules`; a running step keeps the
    /// version it started with.
    pub fn replace_rules(&self, rules: crate::rules::Rules) {
        self.inner.connections.rules.store(Arc::new(rules));
    }

    /// Replace the routing rules and warehouse profiles, as
    /// [`Engine::replace_rules`] does the order rules.
    pub fn replace_router(&self, router: crate::routing::Router) {
        self.inner.connections.router.store(Arc::new(router));
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

    /// The availability sync: stock reports, one-shot rounds, statistics.
    /// The system-of-record registry the hub enforces (`[authority]`).
    pub fn authority(&self) -> &crossdock_model::Authority {
        &self.inner.connections.authority
    }

    pub fn availability(&self) -> availability::Handle {
        self.inner.availability.handle()
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
            // Before the first claim: what this hub's killed run held runs
            // again now, not when its leases run out.
            runner::take_back_leases(&engine.inner).await;
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
            runner::run_dispatcher(engine.inner.clone(), dispatcher_cancel, dispatcher_tracker)
                .await;
        });
        if self.inner.options.reconcile_interval_ms > 0 {
            for (name, conn) in &self.inner.connections.channels {
                if conn.poll {
                    tracker.spawn(run_reconciler(self.clone(), name.clone(), cancel.clone()));
                }
            }
        }
        if self.inner.options.settlement_poll_ms > 0 {
            for name in self.inner.connections.channels.keys() {
                tracker.spawn(crate::settlements::run_settlement_poller(
                    self.clone(),
                    name.clone(),
                    cancel.clone(),
                ));
            }
        }
        tracker.spawn(run_metrics(self.inner.clone(), cancel.clone()));
        self.inner.availability.start(&tracker, &cancel);
        EngineHandle { cancel, tracker }
    }

    /// Seed inventory positions from the ERP when the hub holds none yet.
    pub async fn load_stock_if_empty(&self) -> anyhow::Result<usize> {
        if !self.inner.store.positions(None).await?.is_empty() {
            return Ok(0);
        }
        let positions = self.inner.connections.erp.read_stock().await?;
        let (applied, _kept) = self
            .availability()
            .apply_stock_report("erp", &positions)
            .await?;
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
            Err(e) => return Err(self.refuse_webhook(&source, e, body, now).await),
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
                origin: MessageOrigin::Delivered,
            })
            .await?;
        conn.connector.webhook_committed(headers);
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
            Err(e) => return Err(self.refuse_webhook(&source, e, body, now).await),
        };
        let receipt = self
            .receive_warehouse_message(warehouse, envelope, body)
            .await?;
        conn.webhook_committed(headers);
        Ok(receipt)
    }

    /// Keeps a webhook its connector refused, with the reason, and counts
    /// it; one that failed authentication is also counted by the check it
    /// failed. The caller answers with the returned refusal (401 or 400).
    async fn refuse_webhook(
        &self,
        source: &str,
        error: crossdock_connectors::InputError,
        body: &[u8],
        now: i64,
    ) -> Refusal {
        if let Some(check) = error.auth_check {
            telemetry::webhook_auth_failure(source, check.as_str());
        }
        self.reject(source, &error.to_string(), body, now).await;
        Refusal::BadPayload(error)
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
                origin: MessageOrigin::Delivered,
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

    fn wait_for_acceptance(&self, order_id: &str) -> AcceptanceWait {
        let (tx, rx) = oneshot::channel();
        self.inner
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(order_id.to_owned())
            .or_default()
            .push(tx);
        AcceptanceWait {
            inner: self.inner.clone(),
            order_id: order_id.to_owned(),
            rx: Some(rx),
        }
    }

    async fn await_acceptance(
        &self,
        order_id: &str,
        mut wait: AcceptanceWait,
    ) -> Option<AcceptanceOutcome> {
        // A duplicate delivery of an order already past acceptance is answered from the store.
        if let Ok(Some(o)) = self.inner.store.order(order_id).await
            && let Some(erp_ref) = o.erp_ref.filter(|_| o.status != OrderStatus::OnHold)
        {
            return Some(AcceptanceOutcome::Accepted { erp_ref });
        }
        let rx = wait.rx.as_mut()?;
        let timeout = Duration::from_millis(self.inner.options.sync_acceptance_timeout_ms);
        tokio::time::timeout(timeout, rx)
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Sync-acceptance webhooks waiting for their order's ERP answer now.
    pub fn acceptance_waiters(&self) -> usize {
        self.inner
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }

    /// What a poll of `channel` asks for: its connection, and from when —
    /// the cursor stored under `<cursor>:<channel>`, less the reconciliation
    /// overlap, so a change that landed as the last poll read is seen again.
    /// The poll stores `now` under `cursor_key` once everything it read is
    /// committed.
    pub(crate) async fn poll_window(
        &self,
        channel: &str,
        cursor: &str,
    ) -> anyhow::Result<PollWindow<'_>> {
        let conn = self
            .inner
            .connections
            .channels
            .get(channel)
            .ok_or_else(|| anyhow::anyhow!("no channel connection named {channel:?}"))?;
        let cursor_key = format!("{cursor}:{channel}");
        let now = self.inner.clock.now_ms();
        let stored: i64 = self
            .inner
            .store
            .meta(&cursor_key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(PollWindow {
            conn,
            cursor_key,
            now,
            since: (stored - self.inner.options.reconcile_overlap_ms).max(0),
        })
    }

    /// Poll one channel for orders updated since the stored cursor (minus
    /// the overlap) and commit them like webhooks. Returns how many were new.
    pub async fn reconcile_once(&self, channel: &str) -> anyhow::Result<usize> {
        let PollWindow {
            conn,
            cursor_key,
            now,
            since,
        } = self.poll_window(channel, "poll_cursor").await?;
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
                    // The poll read the order's current state: its job
                    // must not read it again (`steps::intake`).
                    origin: MessageOrigin::Polled,
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
        runner::run_due_steps(&self.inner).await
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
        self.wake_runner();
        Ok(replayed)
    }

    /// Tell the job runner that work became due now.
    pub(crate) fn wake_runner(&self) {
        self.inner.work_ready.notify_one();
    }
}

impl From<crossdock_store::StoreError> for Refusal {
    fn from(e: crossdock_store::StoreError) -> Self {
        Refusal::Unavailable(e.to_string())
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
        for (name, channel) in &inner.connections.channels {
            telemetry::channel_throttled(name, channel.connector.throttled_responses());
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

/// See [`Engine::poll_window`].
pub(crate) struct PollWindow<'a> {
    pub conn: &'a crate::connections::ChannelConnection,
    pub cursor_key: String,
    pub now: i64,
    pub since: i64,
}
