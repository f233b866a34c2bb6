//! The ERP governor: one per ERP account, between the workflow and the ERP
//! connector. The ERP is usually the slowest system in the estate, so every
//! call to it passes three gates, in this order:
//!
//! 1. **Circuit breaker**, per endpoint (operation). While it is open the call
//!    is not sent at all: it fails at once with
//!    [`ConnectorError::CircuitOpen`], which the engine turns into a wait
//!    that costs the job no attempt and raises no exception.
//! 2. **Concurrency slot**, handed out by priority class (order acceptance,
//!    then shipment/invoice updates, then stock reads, then bulk work). A
//!    waiting call climbs one class per `aging_ms` waited, so a steady flow
//!    of acceptances delays stock reads but never starves them.
//! 3. **Rate** (GCRA, the `governor` crate), shared by all endpoints of the
//!    account; and a hold when the ERP itself answered 429 with `Retry-After`.
//!
//! The backlog itself is durable: it is the job table. What waits here is at
//! most the engine's claimed jobs, whose leases are renewed while they wait.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use crossdock_connectors::{ConnectorError, Erp, ErpDocument};
use crossdock_model::{Customer, InventoryPosition, Order};
use governor::clock::ReasonablyRealtime;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::clock::{Clock, SystemClock};
use crate::telemetry;

/// Priority classes of ERP work, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Sales orders, customers, cancellations: a customer is waiting.
    Acceptance,
    /// Shipment completion and invoices.
    Update,
    /// Availability reads.
    StockRead,
    /// Reconciliation and other bulk work.
    Bulk,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Acceptance,
        Priority::Update,
        Priority::StockRead,
        Priority::Bulk,
    ];

    fn rank(self) -> u64 {
        match self {
            Priority::Acceptance => 0,
            Priority::Update => 1,
            Priority::StockRead => 2,
            Priority::Bulk => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Acceptance => "acceptance",
            Priority::Update => "update",
            Priority::StockRead => "stock_read",
            Priority::Bulk => "bulk",
        }
    }
}

/// Limits of one ERP account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernorOptions {
    /// Calls per second at most (fractions allowed: 0.5 = one call every
    /// two seconds); 0 = no rate limit.
    pub requests_per_sec: f64,
    /// Calls that may go back to back after an idle spell. 1 spaces every
    /// call evenly, which is what a limit counted over a sliding second needs.
    pub burst: u32,
    /// Percent of the rate left unused, so that calls bunched up on their
    /// way (timer and network jitter) still arrive within the ERP's limit.
    pub headroom_pct: u32,
    /// Calls in flight at most.
    pub max_concurrency: usize,
    /// How long a waiting call takes to climb one priority class.
    pub aging_ms: u64,
    pub breaker: BreakerOptions,
}

impl Default for GovernorOptions {
    fn default() -> Self {
        GovernorOptions {
            requests_per_sec: 0.0,
            burst: 1,
            headroom_pct: 2,
            max_concurrency: 8,
            aging_ms: 5_000,
            breaker: BreakerOptions::default(),
        }
    }
}

/// When an endpoint's breaker opens and how it recovers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerOptions {
    /// Outcomes remembered per endpoint (a sliding window of calls).
    pub window: usize,
    /// Calls in the window before the failure ratio is judged.
    pub min_calls: usize,
    /// Share of failed calls in the window (0..1] that opens the breaker.
    pub failure_ratio: f64,
    /// First open period; doubled after each failed probe.
    pub open_ms: u64,
    pub max_open_ms: u64,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            window: 20,
            min_calls: 5,
            failure_ratio: 0.5,
            open_ms: 2_000,
            max_open_ms: 30_000,
        }
    }
}

impl GovernorOptions {
    pub fn validate(&self) -> Result<(), String> {
        let b = &self.breaker;
        let checks = [
            (
                !(self.requests_per_sec >= 0.0 && self.requests_per_sec.is_finite()),
                "requests_per_sec must be a number of at least 0",
            ),
            (self.burst == 0, "burst must be at least 1"),
            (self.headroom_pct >= 100, "headroom_pct must be below 100"),
            (
                self.max_concurrency == 0,
                "max_concurrency must be at least 1",
            ),
            (b.window == 0, "breaker.window must be at least 1"),
            (
                b.min_calls == 0 || b.min_calls > b.window,
                "breaker.min_calls must be within 1..=breaker.window",
            ),
            (
                !(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0),
                "breaker.failure_ratio must be within (0, 1]",
            ),
            (b.open_ms == 0, "breaker.open_ms must be at least 1"),
            (
                b.max_open_ms < b.open_ms,
                "breaker.max_open_ms must be >= breaker.open_ms",
            ),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, msg)) => Err((*msg).to_owned()),
            None => Ok(()),
        }
    }
}

/// What an endpoint's breaker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    /// One probe call is let through; its outcome closes or reopens.
    HalfOpen,
    Open,
}

impl BreakerState {
    pub(crate) fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// How a call was let through the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Normal,
    Probe,
}

/// A circuit breaker over a sliding window of call outcomes. Pure: time is
/// passed in, so its behaviour is tested without waiting.
#[derive(Debug)]
pub struct Breaker {
    options: BreakerOptions,
    /// `true` = failed.
    outcomes: VecDeque<bool>,
    state: BreakerState,
    open_until: Option<Instant>,
    /// Length of the current or last open period.
    open_for: Duration,
    /// A probe in flight since; a probe that never reports (its caller was
    /// dropped) frees the slot after one open period.
    probe_since: Option<Instant>,
}

impl Breaker {
    pub fn new(options: BreakerOptions) -> Self {
        let open_for = Duration::from_millis(options.open_ms);
        Breaker {
            options,
            outcomes: VecDeque::new(),
            state: BreakerState::Closed,
            open_until: None,
            open_for,
            probe_since: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// How long the breaker stays open from `now`, if it is open and its
    /// time is not up. Asks only: no probe is taken.
    pub fn open_remaining(&self, now: Instant) -> Option<Duration> {
        match (self.state, self.open_until) {
            (BreakerState::Open, Some(until)) if now < until => Some(until - now),
            _ => None,
        }
    }

    /// Whether a call may go now; if not, how long until it may try again.
    pub fn admit(&mut self, now: Instant) -> Result<Admission, Duration> {
        match self.state {
            BreakerState::Closed => Ok(Admission::Normal),
            BreakerState::Open => {
                let until = self.open_until.unwrap_or(now);
                if now < until {
                    return Err(until - now);
                }
                self.state = BreakerState::HalfOpen;
                self.probe_since = Some(now);
                Ok(Admission::Probe)
            }
            BreakerState::HalfOpen => match self.probe_since {
                Some(since) if now.duration_since(since) < self.open_for => {
                    Err(self.open_for - now.duration_since(since))
                }
                _ => {
                    self.probe_since = Some(now);
                    Ok(Admission::Probe)
                }
            },
        }
    }

    /// Record a call's outcome. Returns the new state when it changed.
    pub fn record(
        &mut self,
        admission: Admission,
        failed: bool,
        now: Instant,
    ) -> Option<BreakerState> {
        let before = self.state;
        match admission {
            Admission::Probe => {
                self.probe_since = None;
                if failed {
                    let doubled = self.open_for.saturating_mul(2);
                    self.open_for = doubled.min(Duration::from_millis(self.options.max_open_ms));
                    self.open(now);
                } else {
                    self.state = BreakerState::Closed;
                    self.open_until = None;
                    self.open_for = Duration::from_millis(self.options.open_ms);
                    self.outcomes.clear();
                }
            }
            // Calls admitted before the breaker opened may finish after it
            // did; they no longer say anything new.
            Admission::Normal if self.state != BreakerState::Closed => {}
            Admission::Normal => {
                self.outcomes.push_back(failed);
                while self.outcomes.len() > self.options.window {
                    self.outcomes.pop_front();
                }
                let failures = self.outcomes.iter().filter(|f| **f).count();
                let calls = self.outcomes.len();
                if calls >= self.options.min_calls
                    && failures as f64 >= self.options.failure_ratio * calls as f64
                {
                    self.open(now);
                }
            }
        }
        (self.state != before).then_some(self.state)
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open;
        self.open_until = Some(now + self.open_for);
        self.outcomes.clear();
    }
}

/// Concurrency slots handed out by priority with ageing.
struct Slots {
    state: Mutex<SlotState>,
    clock: Arc<dyn Clock>,
    epoch: Instant,
    aging_ms: u64,
}

struct SlotState {
    free: usize,
    /// (key, seq): the smallest key goes first. key = enqueue time +
    /// rank × aging, so waiting `aging_ms` is worth one class.
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    waiting: HashMap<u64, Waiting>,
    next_seq: u64,
}

struct Waiting {
    wake: oneshot::Sender<()>,
    priority: Priority,
    since: Instant,
}

impl SlotState {
    /// Give a freed slot to the first waiter, or keep it.
    fn release_one(&mut self) {
        while let Some(Reverse((_, seq))) = self.queue.pop() {
            // Entries of waiters that gave up stay in the heap; skip them.
            if let Some(w) = self.waiting.remove(&seq)
                && w.wake.send(()).is_ok()
            {
                return;
            }
        }
        self.free += 1;
    }
}

impl Slots {
    fn new(slots: usize, aging_ms: u64, clock: Arc<dyn Clock>) -> Self {
        Slots {
            state: Mutex::new(SlotState {
                free: slots,
                queue: BinaryHeap::new(),
                waiting: HashMap::new(),
                next_seq: 0,
            }),
            epoch: clock.instant(),
            clock,
            aging_ms,
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn acquire(self: &Arc<Self>, priority: Priority, account: &str) -> SlotPermit {
        let rx = {
            let mut st = self.lock();
            if st.free > 0 && st.waiting.is_empty() {
                st.free -= 1;
                return SlotPermit {
                    slots: self.clone(),
                };
            }
            let now = self.clock.instant();
            let waited_from =
                u64::try_from(now.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX / 2);
            let key = waited_from.saturating_add(priority.rank() * self.aging_ms);
            let seq = st.next_seq;
            st.next_seq += 1;
            let (tx, rx) = oneshot::channel();
            st.queue.push(Reverse((key, seq)));
            st.waiting.insert(
                seq,
                Waiting {
                    wake: tx,
                    priority,
                    since: now,
                },
            );
            publish_waiting(account, &st, now);
            Queued {
                slots: self,
                seq,
                rx: Some(rx),
                account,
            }
        };
        rx.wait().await
    }
}

/// A place in the slot queue. Dropped before its turn, it leaves the
/// queue; dropped after being handed a slot it never used, it gives the
/// slot on, so an abandoned wait cannot leak capacity.
struct Queued<'a> {
    slots: &'a Arc<Slots>,
    seq: u64,
    rx: Option<oneshot::Receiver<()>>,
    account: &'a str,
}

impl Queued<'_> {
    async fn wait(mut self) -> SlotPermit {
        if let Some(rx) = self.rx.as_mut() {
            // The sender lives in the queue until it is used: it is only
            // dropped unsent by `Drop` below, which cannot run while we wait.
            let _ = rx.await;
        }
        self.rx = None;
        let st = self.slots.lock();
        publish_waiting(self.account, &st, self.slots.clock.instant());
        drop(st);
        SlotPermit {
            slots: self.slots.clone(),
        }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        let mut st = self.slots.lock();
        if st.waiting.remove(&self.seq).is_none() && rx.try_recv().is_ok() {
            // Handed a slot (under this lock) that nobody will use.
            st.release_one();
        }
        publish_waiting(self.account, &st, self.slots.clock.instant());
    }
}

struct SlotPermit {
    slots: Arc<Slots>,
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        self.slots.lock().release_one();
    }
}

fn publish_waiting(account: &str, st: &SlotState, now: Instant) {
    let mut depth: HashMap<Priority, usize> = HashMap::new();
    let mut oldest = Duration::ZERO;
    for w in st.waiting.values() {
        *depth.entry(w.priority).or_default() += 1;
        oldest = oldest.max(now.duration_since(w.since));
    }
    for p in Priority::ALL {
        telemetry::governor_waiting(account, p.as_str(), depth.get(&p).copied().unwrap_or(0));
    }
    telemetry::governor_oldest_wait(account, oldest);
}

/// Snapshot of a governor, for `/v1/stats` and the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct GovernorStatus {
    pub account: String,
    pub waiting: usize,
    pub oldest_wait_ms: u64,
    pub breakers: Vec<(String, BreakerState)>,
}

/// The `governor` crate's limiter on the injected clock.
type Limiter = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Instant>>;

/// The limits of one ERP account, shared by every call to it.
pub struct ErpGovernor {
    account: String,
    clock: Arc<dyn Clock>,
    /// The rate limit and its period (the spacing of calls).
    limiter: Option<(Limiter, Duration)>,
    /// Manual clock only: turns given to paced calls, earliest first.
    turns: Mutex<VecDeque<Instant>>,
    slots: Arc<Slots>,
    breakers: Mutex<HashMap<&'static str, Breaker>>,
    breaker_options: BreakerOptions,
    /// The ERP said 429: nothing is sent before this instant.
    hold_until: Mutex<Option<Instant>>,
}

impl ErpGovernor {
    pub fn new(account: impl Into<String>, options: &GovernorOptions) -> Result<Self, String> {
        Self::with_clock(account, options, Arc::new(SystemClock))
    }

    /// A governor whose limits run on `clock`. On a manual clock nothing
    /// sleeps: a call the rate limit has no room for fails as
    /// [`ConnectorError::Paced`] and its job comes back when there is room.
    pub fn with_clock(
        account: impl Into<String>,
        options: &GovernorOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        options.validate()?;
        let limiter = (options.requests_per_sec > 0.0).then(|| {
            let usable =
                options.requests_per_sec * f64::from(100 - options.headroom_pct.min(99)) / 100.0;
            let period = Duration::from_secs_f64(1.0 / usable);
            let burst = NonZeroU32::new(options.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
                .allow_burst(burst);
            (
                RateLimiter::direct_with_clock(quota, LimiterClock(clock.clone())),
                period,
            )
        });
        Ok(ErpGovernor {
            account: account.into(),
            limiter,
            slots: Arc::new(Slots::new(
                options.max_concurrency,
                options.aging_ms,
                clock.clone(),
            )),
            clock,
            turns: Mutex::default(),
            breakers: Mutex::new(HashMap::new()),
            breaker_options: options.breaker.clone(),
            hold_until: Mutex::new(None),
        })
    }

    pub fn status(&self) -> GovernorStatus {
        let (waiting, oldest) = {
            let st = self.slots.lock();
            let now = self.clock.instant();
            let oldest = st
                .waiting
                .values()
                .map(|w| now.duration_since(w.since))
                .max()
                .unwrap_or_default();
            (st.waiting.len(), oldest)
        };
        let mut breakers: Vec<(String, BreakerState)> = self
            .breakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, b)| ((*k).to_owned(), b.state()))
            .collect();
        breakers.sort_by(|a, b| a.0.cmp(&b.0));
        GovernorStatus {
            account: self.account.clone(),
            waiting,
            oldest_wait_ms: u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
            breakers,
        }
    }

    fn admit(&self, endpoint: &'static str) -> Result<Admission, ConnectorError> {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let breaker = breakers
            .entry(endpoint)
            .or_insert_with(|| Breaker::new(self.breaker_options.clone()));
        let before = breaker.state();
        let admitted = breaker.admit(self.clock.instant());
        if breaker.state() != before {
            telemetry::breaker_state(&self.account, endpoint, breaker.state().gauge());
        }
        admitted.map_err(|retry_after| ConnectorError::CircuitOpen {
            endpoint: format!("{}:{endpoint}", self.account),
            retry_after,
        })
    }

    fn record(&self, endpoint: &'static str, admission: Admission, failed: bool) {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(breaker) = breakers.get_mut(endpoint)
            && let Some(state) = breaker.record(admission, failed, self.clock.instant())
        {
            tracing::warn!(account = %self.account, endpoint, ?state, "ERP circuit breaker changed state.");
            telemetry::breaker_state(&self.account, endpoint, state.gauge());
        }
    }

    /// Run `call` through the breaker, a slot and the rate limit.
    ///
    /// When an open breaker's time is up, `probe` (a harmless read) goes
    /// first: only if the ERP answers it is `call` sent. A failed probe
    /// reopens the breaker and this call fails as `CircuitOpen`: it was
    /// never sent, so the job waits without spending an attempt, and no
    /// job's effect is ever the guinea pig for a sick ERP.
    pub async fn call<T, F, Fut, P, PFut>(
        &self,
        endpoint: &'static str,
        priority: Priority,
        probe: P,
        call: F,
    ) -> Result<T, ConnectorError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
        P: FnOnce() -> PFut,
        PFut: Future<Output = Result<(), ConnectorError>>,
    {
        // Fail fast while open: no slot, no rate token spent on a call
        // that would not be sent.
        self.admit_peek(endpoint)?;
        let _slot = self.slots.acquire(priority, &self.account).await;
        let admission = self.admit(endpoint)?;
        self.pace(endpoint).await?;
        if admission == Admission::Probe {
            let started = Instant::now();
            let probed = probe().await;
            let outcome = self.outcome(&probed);
            self.record(endpoint, Admission::Probe, outcome == "failed");
            telemetry::erp_call(&self.account, "probe", outcome, started.elapsed());
            if outcome == "failed" {
                return Err(self.open_error(endpoint));
            }
            self.pace(endpoint).await?;
        }
        let started = Instant::now();
        let result = call().await;
        let outcome = self.outcome(&result);
        self.record(endpoint, Admission::Normal, outcome == "failed");
        telemetry::erp_call(&self.account, endpoint, outcome, started.elapsed());
        result
    }

    /// Wait for the ERP's own hold (after a 429) and for a rate token.
    ///
    /// On a manual clock nothing sleeps. A call the rate has no room for is
    /// given a turn at the back of the line (one limiter period after the
    /// last turn given) and handed back as [`ConnectorError::Paced`] with
    /// it; whoever calls first once a turn is due takes it. So a backlog is
    /// called back once per call, not all at once at every token, and no
    /// turn goes unused because its caller came back late or not at all.
    /// Turns are first come, first served: priority classes order the
    /// real-time queue only.
    async fn pace(&self, endpoint: &'static str) -> Result<(), ConnectorError> {
        let hold = *self.hold_until.lock().unwrap_or_else(|p| p.into_inner());
        if !self.clock.is_manual() {
            if let Some(until) = hold {
                tokio::time::sleep_until(until.into()).await;
            }
            if let Some((limiter, _)) = &self.limiter {
                limiter.until_ready().await;
            }
            return Ok(());
        }
        let now = self.clock.instant();
        let paced = |wait: Duration| {
            Err(ConnectorError::Paced {
                endpoint: format!("{}:{endpoint}", self.account),
                retry_after: ceil_to_ms(wait),
            })
        };
        if let Some(until) = hold.filter(|until| *until > now) {
            return paced(until - now);
        }
        let Some((limiter, period)) = &self.limiter else {
            return Ok(());
        };
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        let mut earliest = now;
        if turns.front().is_none_or(|turn| *turn <= now) {
            match limiter.check() {
                Ok(()) => {
                    if turns.front().is_some_and(|turn| *turn <= now) {
                        turns.pop_front();
                    }
                    return Ok(());
                }
                Err(not_until) => {
                    // Turns already past were missed (their callers were
                    // held elsewhere, by an open breaker say): spent.
                    while turns.front().is_some_and(|turn| *turn <= now) {
                        turns.pop_front();
                    }
                    earliest = now + ceil_to_ms(not_until.wait_time_from(now));
                }
            }
        }
        // Turns on whole milliseconds, a period and a millisecond apart:
        // the call at one turn leaves the token ready for the next.
        let gap = ceil_to_ms(*period) + Duration::from_millis(1);
        let turn = turns
            .back()
            .map_or(earliest, |last| (*last + gap).max(earliest));
        turns.push_back(turn);
        paced(turn.saturating_duration_since(now))
    }

    /// Classify a result for the breaker and the metrics; a 429 also holds
    /// every call of the account for as long as the ERP asked.
    fn outcome<T>(&self, result: &Result<T, ConnectorError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            // Only a failure to answer says the ERP is unwell; a refusal
            // is an answer.
            Err(ConnectorError::Transient { .. } | ConnectorError::Unreachable { .. }) => "failed",
            Err(ConnectorError::Throttled { retry_after, .. }) => {
                let until = self.clock.instant() + *retry_after;
                let mut hold = self.hold_until.lock().unwrap_or_else(|p| p.into_inner());
                if hold.is_none_or(|h| h < until) {
                    *hold = Some(until);
                }
                "throttled"
            }
            Err(ConnectorError::CircuitOpen { .. }) => "circuit_open",
            Err(ConnectorError::Paced { .. }) => "paced",
            Err(ConnectorError::Rejected { .. } | ConnectorError::Unauthorized { .. }) => "refused",
        }
    }

    fn open_error(&self, endpoint: &'static str) -> ConnectorError {
        let breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let retry_after = breakers
            .get(endpoint)
            .and_then(|b| b.open_until)
            .map(|until| until.saturating_duration_since(self.clock.instant()))
            .unwrap_or(Duration::from_millis(self.breaker_options.open_ms));
        ConnectorError::CircuitOpen {
            endpoint: format!("{}:{endpoint}", self.account),
            retry_after,
        }
    }

    /// Like `admit`, without taking the probe: a call that will queue for
    /// a slot should not hold the half-open probe while it waits.
    fn admit_peek(&self, endpoint: &'static str) -> Result<(), ConnectorError> {
        let breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(breaker) = breakers.get(endpoint) else {
            return Ok(());
        };
        match breaker.open_remaining(self.clock.instant()) {
            Some(retry_after) => Err(ConnectorError::CircuitOpen {
                endpoint: format!("{}:{endpoint}", self.account),
                retry_after,
            }),
            None => Ok(()),
        }
    }
}

/// `d` in whole milliseconds, rounded up: a paced caller comes back on a
/// millisecond clock and must not come a fraction early.
fn ceil_to_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

/// The injected clock, as the `governor` crate reads time.
#[derive(Debug, Clone)]
struct LimiterClock(Arc<dyn Clock>);

impl governor::clock::Clock for LimiterClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.instant()
    }
}

impl ReasonablyRealtime for LimiterClock {}

/// An ERP connector behind its account's governor.
pub struct GovernedErp {
    erp: Arc<dyn Erp>,
    governor: Arc<ErpGovernor>,
}

/// The reference the breaker's probe looks up: a read that changes
/// nothing and finds nothing.
const PROBE_REFERENCE: &str = "crossdock:breaker-probe";

impl GovernedErp {
    pub fn new(erp: Arc<dyn Erp>, governor: Arc<ErpGovernor>) -> Self {
        GovernedErp { erp, governor }
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.erp.find_sales_order(PROBE_REFERENCE).await.map(|_| ())
    }

    pub fn governor(&self) -> &Arc<ErpGovernor> {
        &self.governor
    }
}

#[async_trait]
impl Erp for GovernedErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        self.governor
            .call(
                "customer.upsert",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.upsert_customer(customer),
            )
            .await
    }

    async fn create_sales_order(
        &self,
        reference: &str,
        customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.governor
            .call(
                "sales_order.create",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.create_sales_order(reference, customer_id, order),
            )
            .await
    }

    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        self.governor
            .call(
                "sales_order.find",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.find_sales_order(reference),
            )
            .await
    }

    async fn post_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.governor
            .call(
                "invoice.post",
                Priority::Update,
                || self.probe(),
                || self.erp.post_invoice(reference, order),
            )
            .await
    }

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.governor
            .call(
                "invoice.find",
                Priority::Update,
                || self.probe(),
                || self.erp.find_invoice(reference),
            )
            .await
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        self.governor
            .call(
                "stock.read",
                Priority::StockRead,
                || self.probe(),
                || self.erp.read_stock(),
            )
            .await
    }

    async fn cancel_sales_order(&self, erp_id: &str) -> Result<(), ConnectorError> {
        self.governor
            .call(
                "sales_order.cancel",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.cancel_sales_order(erp_id),
            )
            .await
    }
}

/// A channel connector whose outbound calls (shipment confirmations,
/// availability updates) pass a governor sized to the channel's published
/// limits, so a burst of work — a 3PL's hourly batch of shipments — is
/// spread out instead of being refused. Reads and webhooks pass through.
pub struct GovernedChannel {
    channel: Arc<dyn crossdock_connectors::Channel>,
    governor: Arc<ErpGovernor>,
}

impl GovernedChannel {
    pub fn new(
        channel: Arc<dyn crossdock_connectors::Channel>,
        governor: Arc<ErpGovernor>,
    ) -> Self {
        GovernedChannel { channel, governor }
    }
}

/// A channel has no harmless probe worth a call: the half-open breaker
/// lets the next real call through.
async fn no_probe() -> Result<(), ConnectorError> {
    Ok(())
}

#[async_trait]
impl crossdock_connectors::Channel for GovernedChannel {
    fn name(&self) -> &str {
        self.channel.name()
    }

    fn read_webhook(
        &self,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<crossdock_connectors::InboundEnvelope, crossdock_connectors::InputError> {
        self.channel.read_webhook(headers, body)
    }

    fn map_message(
        &self,
        body: &[u8],
    ) -> Result<crossdock_connectors::ChannelEvent, crossdock_connectors::InputError> {
        self.channel.map_message(body)
    }

    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.governor
            .call("order.get", Priority::Acceptance, no_probe, || {
                self.channel.refetch(delivered)
            })
            .await
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(crossdock_connectors::InboundEnvelope, Vec<u8>)>, ConnectorError> {
        self.governor
            .call("orders.list", Priority::Acceptance, no_probe, || {
                self.channel.poll_updated_since(since_ms)
            })
            .await
    }

    async fn confirm_shipment(
        &self,
        confirmation: &crossdock_connectors::ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        self.governor
            .call("shipment.confirm", Priority::Update, no_probe, || {
                self.channel.confirm_shipment(confirmation)
            })
            .await
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.governor
            .call("shipment.find", Priority::Update, no_probe, || {
                self.channel
                    .find_shipment_confirmation(external_order_id, package_id)
            })
            .await
    }

    fn availability_batch_limit(
        &self,
        cadence: crossdock_connectors::AvailabilityCadence,
    ) -> usize {
        self.channel.availability_batch_limit(cadence)
    }

    async fn publish_availability(
        &self,
        updates: &[crossdock_connectors::AvailabilityUpdate],
        cadence: crossdock_connectors::AvailabilityCadence,
    ) -> Result<Vec<crossdock_connectors::AvailabilityResult>, ConnectorError> {
        let priority = match cadence {
            crossdock_connectors::AvailabilityCadence::Urgent => Priority::Update,
            crossdock_connectors::AvailabilityCadence::Batch => Priority::Bulk,
        };
        self.governor
            .call("availability.publish", priority, no_probe, || {
                self.channel.publish_availability(updates, cadence)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerOptions {
            window: 10,
            min_calls: 4,
            failure_ratio: 0.5,
            open_ms: 1_000,
            max_open_ms: 4_000,
        })
    }

    #[test]
    fn opens_on_failure_ratio_only_after_min_calls() {
        let mut b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.admit(t), Ok(Admission::Normal));
            assert_eq!(b.record(Admission::Normal, true, t), None);
        }
        assert_eq!(
            b.record(Admission::Normal, true, t),
            Some(BreakerState::Open)
        );
        let wait = b.admit(t + Duration::from_millis(400)).unwrap_err();
        assert_eq!(wait, Duration::from_millis(600));
    }

    #[test]
    fn successes_keep_it_closed() {
        let mut b = breaker();
        let t = Instant::now();
        for i in 0..40 {
            // One failure in three stays under 50 %.
            b.record(Admission::Normal, i % 3 == 2, t);
            assert_eq!(b.state(), BreakerState::Closed, "call {i}");
        }
    }

    #[test]
    fn one_probe_at_a_time_and_success_closes() {
        let mut b = breaker();
        let t = Instant::now();
        for _ in 0..4 {
            b.record(Admission::Normal, true, t);
        }
        let later = t + Duration::from_millis(1_000);
        assert_eq!(b.admit(later), Ok(Admission::Probe));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit(later).is_err(), "a second call waits for the probe");
        assert_eq!(
            b.record(Admission::Probe, false, later),
            Some(BreakerState::Closed)
        );
        assert_eq!(b.admit(later), Ok(Admission::Normal));
    }

    #[test]
    fn failed_probes_double_the_open_period_up_to_the_cap() {
        let mut b = breaker();
        let mut t = Instant::now();
        for _ in 0..4 {
            b.record(Admission::Normal, true, t);
        }
        let mut expected = [2_000, 4_000, 4_000].into_iter();
        for _ in 0..3 {
            t += Duration::from_millis(5_000);
            assert_eq!(b.admit(t), Ok(Admission::Probe));
            b.record(Admission::Probe, true, t);
            let wait = b.admit(t).unwrap_err();
            assert_eq!(wait, Duration::from_millis(expected.next().unwrap()));
        }
    }

    #[test]
    fn late_outcomes_of_calls_admitted_before_opening_are_ignored() {
        let mut b = breaker();
        let t = Instant::now();
        for _ in 0..4 {
            b.record(Admission::Normal, true, t);
        }
        assert_eq!(b.record(Admission::Normal, false, t), None);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn an_abandoned_probe_frees_the_half_open_slot() {
        let mut b = breaker();
        let t = Instant::now();
        for _ in 0..4 {
            b.record(Admission::Normal, true, t);
        }
        let t1 = t + Duration::from_millis(1_000);
        assert_eq!(b.admit(t1), Ok(Admission::Probe));
        // Its caller vanished without reporting.
        assert_eq!(
            b.admit(t1 + Duration::from_millis(1_000)),
            Ok(Admission::Probe)
        );
    }

    async fn hold_slot(slots: Arc<Slots>, p: Priority, order: Arc<Mutex<Vec<Priority>>>) {
        let _permit = slots.acquire(p, "test").await;
        order.lock().unwrap().push(p);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    #[tokio::test]
    async fn slots_go_to_the_most_urgent_class_first() {
        let slots = Arc::new(Slots::new(1, 60_000, Arc::new(SystemClock)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = slots.acquire(Priority::Acceptance, "test").await;
        let mut tasks = Vec::new();
        for p in [
            Priority::Bulk,
            Priority::StockRead,
            Priority::Update,
            Priority::Acceptance,
        ] {
            tasks.push(tokio::spawn(hold_slot(slots.clone(), p, order.clone())));
            // Enqueue in this order before the slot frees.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec![
                Priority::Acceptance,
                Priority::Update,
                Priority::StockRead,
                Priority::Bulk
            ]
        );
    }

    #[tokio::test]
    async fn a_long_wait_outranks_a_fresh_urgent_call() {
        // Ageing of 10 ms per class: a bulk call that waited 100 ms goes
        // before an acceptance that just arrived.
        let slots = Arc::new(Slots::new(1, 10, Arc::new(SystemClock)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = slots.acquire(Priority::Acceptance, "test").await;
        let bulk = tokio::spawn(hold_slot(slots.clone(), Priority::Bulk, order.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let urgent = tokio::spawn(hold_slot(
            slots.clone(),
            Priority::Acceptance,
            order.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(first);
        bulk.await.unwrap();
        urgent.await.unwrap();
        assert_eq!(
            *order.lock().unwrap(),
            vec![Priority::Bulk, Priority::Acceptance]
        );
    }

    #[tokio::test]
    async fn an_abandoned_wait_does_not_leak_the_slot() {
        let slots = Arc::new(Slots::new(1, 1_000, Arc::new(SystemClock)));
        let first = slots.acquire(Priority::Acceptance, "test").await;
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move {
                let _p = slots.acquire(Priority::Acceptance, "test").await;
                std::future::pending::<()>().await;
            })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        waiter.abort();
        let _ = waiter.await;
        drop(first);
        let got = tokio::time::timeout(
            Duration::from_secs(1),
            slots.acquire(Priority::Bulk, "test"),
        )
        .await;
        assert!(got.is_ok(), "the slot came back");
        assert_eq!(slots.lock().free, 0);
    }

    #[tokio::test]
    async fn concurrency_never_exceeds_the_limit() {
        let governor = Arc::new(
            ErpGovernor::new(
                "test",
                &GovernorOptions {
                    max_concurrency: 3,
                    ..GovernorOptions::default()
                },
            )
            .unwrap(),
        );
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..30 {
            let (g, f, pk) = (governor.clone(), in_flight.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let p = Priority::ALL[i % 4];
                g.call(
                    "x",
                    p,
                    || async { Ok(()) },
                    || async {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = f.fetch_add(1, SeqCst) + 1;
                        pk.fetch_max(now, SeqCst);
                        tokio::time::sleep(Duration::from_millis(3)).await;
                        f.fetch_sub(1, SeqCst);
                        Ok::<_, ConnectorError>(())
                    },
                )
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    async fn no_probe() -> Result<(), ConnectorError> {
        panic!("no probe expected")
    }

    #[tokio::test]
    async fn an_open_breaker_refuses_without_calling() {
        let governor = ErpGovernor::new(
            "test",
            &GovernorOptions {
                breaker: BreakerOptions {
                    window: 4,
                    min_calls: 2,
                    failure_ratio: 1.0,
                    open_ms: 60_000,
                    max_open_ms: 60_000,
                },
                ..GovernorOptions::default()
            },
        )
        .unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let down = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err::<(), _>(ConnectorError::transient("connection refused"))
        };
        for _ in 0..2 {
            let e = governor
                .call("sales_order.create", Priority::Acceptance, no_probe, down)
                .await;
            assert!(matches!(e, Err(ConnectorError::Transient { .. })));
        }
        let e = governor
            .call("sales_order.create", Priority::Acceptance, no_probe, down)
            .await;
        assert!(
            matches!(e, Err(ConnectorError::CircuitOpen { retry_after, .. }) if retry_after > Duration::from_secs(50)),
            "{e:?}"
        );
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // Another endpoint has its own breaker.
        let ok = governor
            .call("stock.read", Priority::StockRead, no_probe, || async {
                Ok::<_, ConnectorError>(1)
            })
            .await;
        assert_eq!(ok, Ok(1));
        assert_eq!(
            governor.status().breakers,
            vec![
                ("sales_order.create".to_owned(), BreakerState::Open),
                ("stock.read".to_owned(), BreakerState::Closed)
            ]
        );
    }

    #[tokio::test]
    async fn the_probe_goes_first_and_a_failed_probe_sends_nothing() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
        let governor = ErpGovernor::new(
            "test",
            &GovernorOptions {
                breaker: BreakerOptions {
                    window: 2,
                    min_calls: 1,
                    failure_ratio: 1.0,
                    open_ms: 20,
                    max_open_ms: 40,
                },
                ..GovernorOptions::default()
            },
        )
        .unwrap();
        let up = AtomicBool::new(false);
        let (probes, calls) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let probe = || async {
            probes.fetch_add(1, SeqCst);
            if up.load(SeqCst) {
                Ok(())
            } else {
                Err(ConnectorError::transient("connection refused"))
            }
        };
        let call = || async {
            calls.fetch_add(1, SeqCst);
            if up.load(SeqCst) {
                Ok(7)
            } else {
                Err(ConnectorError::transient("connection refused"))
            }
        };
        let first = governor.call("e", Priority::Update, probe, call).await;
        assert!(matches!(first, Err(ConnectorError::Transient { .. })));
        tokio::time::sleep(Duration::from_millis(25)).await;
        // Time is up: the probe fails, the call is not sent.
        let second = governor.call("e", Priority::Update, probe, call).await;
        assert!(
            matches!(second, Err(ConnectorError::CircuitOpen { retry_after, .. }) if retry_after > Duration::from_millis(20)),
            "{second:?}"
        );
        assert_eq!((probes.load(SeqCst), calls.load(SeqCst)), (1, 1));
        up.store(true, SeqCst);
        tokio::time::sleep(Duration::from_millis(45)).await;
        let third = governor.call("e", Priority::Update, probe, call).await;
        assert_eq!(third, Ok(7));
        assert_eq!((probes.load(SeqCst), calls.load(SeqCst)), (2, 2));
        assert_eq!(
            governor.status().breakers,
            vec![("e".to_owned(), BreakerState::Closed)]
        );
    }

    /// On a manual clock nothing sleeps: a call the rate has no room for
    /// is handed back with its turn, later calls queue behind it, and a due
    /// turn goes to whoever calls first.
    #[tokio::test]
    async fn on_a_manual_clock_waits_are_handed_back_in_turn() {
        let clock = crate::clock::ManualClock::new(1_000_000);
        let governor = ErpGovernor::with_clock(
            "erp",
            &GovernorOptions {
                requests_per_sec: 2.0,
                headroom_pct: 0,
                ..GovernorOptions::default()
            },
            Arc::new(clock.clone()),
        )
        .unwrap();
        let ok = || async { Ok::<_, ConnectorError>(()) };
        let call = |priority| governor.call("sales_order.create", priority, ok, ok);
        call(Priority::Acceptance)
            .await
            .expect("the first call goes");
        let wait = |r: Result<(), ConnectorError>| match r {
            Err(ConnectorError::Paced { retry_after, .. }) => retry_after,
            other => panic!("expected a paced call, got {other:?}"),
        };
        // Turns a period and a millisecond apart, on whole milliseconds.
        assert_eq!(
            wait(call(Priority::Update).await),
            Duration::from_millis(500)
        );
        assert_eq!(
            wait(call(Priority::Acceptance).await),
            Duration::from_millis(1_001)
        );
        assert_eq!(
            wait(call(Priority::Update).await),
            Duration::from_millis(1_502)
        );
        clock.advance(499);
        assert_eq!(
            wait(call(Priority::Acceptance).await),
            Duration::from_millis(1_504),
            "no turn due yet: to the back"
        );
        clock.advance(1);
        call(Priority::Update)
            .await
            .expect("the first turn, taken by whoever came");
        clock.advance(501);
        call(Priority::Acceptance).await.expect("the second turn");
        assert!(
            matches!(
                call(Priority::Acceptance).await,
                Err(ConnectorError::Paced { .. })
            ),
            "a turn is used once"
        );
    }
}
