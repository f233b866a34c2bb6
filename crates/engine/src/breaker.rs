//! The circuit breaker: the one type that says an outbound target is down.
//!
//! Two kinds of target use it, each keyed its own way in a [`Breakers`]:
//! every endpoint of a governed account (an ERP's `sales_order.create`, a
//! paced channel's `shipment.confirm`: see [`crate::governor`]), and every
//! warehouse a release goes to (the engine asks whether a warehouse is down
//! before it routes to it, and falls back to the next one while it is).
//!
//! A breaker is pure: time is passed in, so its behaviour is tested without
//! waiting, and on a manual clock it moves with manual time. It is a leaf:
//! it knows nothing of connectors, governors or the engine.
//!
//! A breaker opens when enough of the calls in its window failed, or when
//! every call it got failed for `failing_for_ms` (an endpoint too quiet to
//! fill its window during an outage).
//!
//! Both users carry the [`Admission`] a call was given by
//! [`Breaker::admit`] to [`Breaker::record`]: a governed call through the
//! governor, a warehouse release within its step. A caller that only asks
//! whether the target is down (routing ranking warehouses) uses
//! [`Breaker::admits`], which takes nothing: the half-open probe is left to
//! a real call.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// When a breaker opens and how it recovers.
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
    /// An endpoint that has failed every call it got for this long opens,
    /// however few calls that was: a quiet endpoint (a warehouse getting a
    /// release a minute) never reaches `min_calls` during an outage, and
    /// its callers would spend their attempts on it instead of waiting.
    pub failing_for_ms: u64,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            window: 20,
            min_calls: 5,
            failure_ratio: 0.5,
            open_ms: 2_000,
            max_open_ms: 30_000,
            failing_for_ms: 30_000,
        }
    }
}

impl BreakerOptions {
    /// Reject options a breaker cannot work with; messages name the key
    /// under `prefix` (`breaker.`, `warehouse_breaker.`).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        let p = prefix;
        let checks = [
            (self.window == 0, format!("{p}window must be at least 1")),
            (
                self.min_calls == 0 || self.min_calls > self.window,
                format!("{p}min_calls must be within 1..={p}window"),
            ),
            (
                !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0),
                format!("{p}failure_ratio must be within (0, 1]"),
            ),
            (self.open_ms == 0, format!("{p}open_ms must be at least 1")),
            (
                self.max_open_ms < self.open_ms,
                format!("{p}max_open_ms must be >= {p}open_ms"),
            ),
            (
                self.failing_for_ms == 0,
                format!("{p}failing_for_ms must be at least 1"),
            ),
        ];
        match checks.into_iter().find(|(bad, _)| *bad) {
            Some((_, msg)) => Err(msg),
            None => Ok(()),
        }
    }
}

/// What a breaker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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

/// A circuit breaker over a sliding window of call outcomes.
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
    /// While closed: the first failure of the current run of failures (no
    /// success since), however few calls that run had.
    failing_since: Option<Instant>,
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
            failing_since: None,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// When the current or last open period ends (or ended).
    pub fn open_until(&self) -> Option<Instant> {
        self.open_until
    }

    /// How long the breaker stays open from `now`, if it is open and its
    /// time is not up. Asks only: no probe is taken.
    pub fn open_remaining(&self, now: Instant) -> Option<Duration> {
        match (self.state, self.open_until) {
            (BreakerState::Open, Some(until)) if now < until => Some(until - now),
            _ => None,
        }
    }

    /// Whether [`Breaker::admit`] would let a call go now. Asks only: no
    /// probe is taken, so a caller that only wants to know whether the
    /// target is down (routing) leaves the probe to a real call.
    pub fn admits(&self, now: Instant) -> bool {
        self.wait(now).is_none()
    }

    /// How long until a call may go, `None` when one may go now; the one
    /// rule behind [`Breaker::admit`] and [`Breaker::admits`].
    fn wait(&self, now: Instant) -> Option<Duration> {
        match self.state {
            BreakerState::Closed => None,
            BreakerState::Open => {
                let until = self.open_until.unwrap_or(now);
                (now < until).then(|| until - now)
            }
            BreakerState::HalfOpen => match self.probe_since {
                Some(since) if now.duration_since(since) < self.open_for => {
                    Some(self.open_for - now.duration_since(since))
                }
                _ => None,
            },
        }
    }

    /// Whether a call may go now; if not, how long until it may try again.
    pub fn admit(&mut self, now: Instant) -> Result<Admission, Duration> {
        if let Some(wait) = self.wait(now) {
            return Err(wait);
        }
        if self.state == BreakerState::Closed {
            return Ok(Admission::Normal);
        }
        // Open past its time, or half open with no probe out: this call
        // is the probe.
        self.state = BreakerState::HalfOpen;
        self.probe_since = Some(now);
        Ok(Admission::Probe)
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
                    self.failing_since = None;
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
                let failing_for = if failed {
                    now.duration_since(*self.failing_since.get_or_insert(now))
                } else {
                    self.failing_since = None;
                    Duration::ZERO
                };
                let ratio_reached = calls >= self.options.min_calls
                    && failures as f64 >= self.options.failure_ratio * calls as f64;
                // A quiet endpoint never reaches `min_calls` in an outage.
                if ratio_reached
                    || failing_for >= Duration::from_millis(self.options.failing_for_ms)
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
        self.failing_since = None;
    }
}

/// One breaker per key (an endpoint, a warehouse), all with the same
/// options, each made the first time a caller asks [`Breakers::with`].
#[derive(Debug)]
pub struct Breakers<K> {
    options: BreakerOptions,
    by_key: Mutex<HashMap<K, Breaker>>,
}

impl<K: Eq + Hash> Breakers<K> {
    pub fn new(options: BreakerOptions) -> Self {
        Breakers {
            options,
            by_key: Mutex::new(HashMap::new()),
        }
    }

    pub fn options(&self) -> &BreakerOptions {
        &self.options
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Breaker>> {
        self.by_key.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on `key`'s breaker, made now if it is the first ask.
    pub fn with<R>(&self, key: K, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut by_key = self.lock();
        f(by_key
            .entry(key)
            .or_insert_with(|| Breaker::new(self.options.clone())))
    }

    /// Run `f` on `key`'s breaker if it has one; a key never asked about
    /// has no breaker yet, and nothing is made for it here.
    pub fn existing<Q, R>(&self, key: &Q, f: impl FnOnce(&mut Breaker) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().get_mut(key).map(f)
    }

    /// Every breaker's state, by key.
    pub fn states(&self) -> Vec<(K, BreakerState)>
    where
        K: Clone,
    {
        self.lock()
            .iter()
            .map(|(k, b)| (k.clone(), b.state()))
            .collect()
    }
}

#[cfg(test)]
// The breaker takes instants as arguments; its tests make them from the
// wall clock as a starting point and move them by hand.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerOptions {
            window: 10,
            min_calls: 4,
            failure_ratio: 0.5,
            open_ms: 1_000,
            max_open_ms: 4_000,
            failing_for_ms: 60_000,
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

    #[test]
    fn a_quiet_endpoint_failing_every_call_opens_after_failing_for() {
        // A release every ten seconds, every one failing: never the
        // `min_calls` of the ratio rule before the outage is over.
        let options = BreakerOptions::default();
        let mut b = Breaker::new(options.clone());
        let t = Instant::now();
        let gap = Duration::from_millis(10_000);
        let calls = options.min_calls - 2;
        assert!(gap * calls as u32 >= Duration::from_millis(options.failing_for_ms));
        for i in 0..calls {
            let at = t + gap * i as u32;
            assert_eq!(b.admit(at), Ok(Admission::Normal), "call {i}");
            assert_eq!(b.record(Admission::Normal, true, at), None, "call {i}");
        }
        let at = t + gap * calls as u32;
        assert_eq!(
            b.record(Admission::Normal, true, at),
            Some(BreakerState::Open),
            "failing every call for failing_for_ms opens it"
        );
        assert_eq!(
            b.admit(at + Duration::from_millis(1)),
            Err(Duration::from_millis(options.open_ms - 1))
        );
    }

    #[test]
    fn a_success_restarts_the_failing_time() {
        let options = BreakerOptions::default();
        let mut b = Breaker::new(options.clone());
        let t = Instant::now();
        let half = Duration::from_millis(options.failing_for_ms / 2 + 1);
        b.record(Admission::Normal, true, t);
        b.record(Admission::Normal, false, t + half);
        b.record(Admission::Normal, true, t + half * 2);
        assert_eq!(b.state(), BreakerState::Closed, "one success between");
        assert_eq!(
            b.record(Admission::Normal, true, t + half * 4),
            Some(BreakerState::Open),
            "failing again for failing_for_ms since"
        );
    }

    #[test]
    fn options_are_validated_with_the_key_named() {
        assert_eq!(BreakerOptions::default().validate("breaker."), Ok(()));
        let never = BreakerOptions {
            failing_for_ms: 0,
            ..BreakerOptions::default()
        };
        assert_eq!(
            never.validate("warehouse_breaker."),
            Err("warehouse_breaker.failing_for_ms must be at least 1".to_owned())
        );
        let few = BreakerOptions {
            min_calls: 30,
            ..BreakerOptions::default()
        };
        assert_eq!(
            few.validate("breaker."),
            Err("breaker.min_calls must be within 1..=breaker.window".to_owned())
        );
    }

    #[test]
    fn a_breaker_is_made_by_the_first_ask_only() {
        let breakers = Breakers::<String>::new(BreakerOptions::default());
        assert_eq!(breakers.existing("erp", |b| b.state()), None);
        assert!(breakers.states().is_empty());
        let t = Instant::now();
        assert_eq!(
            breakers.with("erp".to_owned(), |b| b.admit(t)),
            Ok(Admission::Normal)
        );
        assert_eq!(
            breakers.existing("erp", |b| b.state()),
            Some(BreakerState::Closed)
        );
        assert_eq!(
            breakers.states(),
            vec![("erp".to_owned(), BreakerState::Closed)]
        );
    }
}
