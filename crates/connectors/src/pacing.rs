//! The connectors' one pacing primitive: a bucket of calls that drains at a
//! rate, charged a cost per call and corrected by what the marketplace's
//! answers report. Shopify (REST call bucket and GraphQL cost bucket) and
//! Amazon (one bucket per SP-API operation) pace with [`Bucket`]; Walmart
//! reports a count left until a replenish time instead of a rate, kept as
//! [`RateBudget`]. Reading each marketplace's headers is its wire format and
//! stays in its folder; the arithmetic is here, in one place, and takes its
//! time from the channel's [`Clock`](crossdock_model::Clock).

use std::time::{Duration, Instant};

/// A leaky bucket: `used` of `size` at `at`, draining at `per_sec`. A
/// token bucket is the same thing seen from the other side (tokens left =
/// `size - used`), so one type serves both kinds of marketplace.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    used: f64,
    size: f64,
    per_sec: f64,
    at: Instant,
    /// Room still assumed spent because nothing has answered yet
    /// ([`Bucket::unconfirmed`]); given back by [`Bucket::answered`].
    assumed: f64,
}

impl Bucket {
    /// A bucket holding `used` of `size` at `at`.
    pub fn new(used: f64, size: f64, per_sec: f64, at: Instant) -> Self {
        Bucket {
            used,
            size,
            per_sec,
            at,
            assumed: 0.0,
        }
    }

    /// A bucket of a process that has just started: another process (the
    /// one this replaced) may have spent the account's budget moments ago,
    /// so all of it is assumed spent but `room`: one probe call (its cost
    /// and any margin the caller keeps free), whose answer tells. Until
    /// then, calls go at the drain rate.
    pub fn unconfirmed(size: f64, per_sec: f64, room: f64, at: Instant) -> Self {
        let assumed = (size - room).max(0.0);
        Bucket {
            assumed,
            ..Bucket::new(assumed, size, per_sec, at)
        }
    }

    /// An answer that was not a refusal: the account had room, so what was
    /// only assumed spent at the start is given back (once).
    pub fn answered(&mut self, now: Instant) {
        if self.assumed > 0.0 {
            self.used = (self.used_now(now) - self.assumed).max(0.0);
            self.at = now;
            self.assumed = 0.0;
        }
    }

    /// How full the bucket is at `now`, after draining since the last reckoning.
    pub fn used_now(&self, now: Instant) -> f64 {
        (self.used - now.saturating_duration_since(self.at).as_secs_f64() * self.per_sec).max(0.0)
    }

    /// The drain rate (calls or cost per second).
    pub fn per_sec(&self) -> f64 {
        self.per_sec
    }

    /// Takes `cost` from the bucket for a call about to be made and returns
    /// how long to wait first so it fits while keeping `margin` free, `None`
    /// when it fits now (or nothing drains). The cost is counted at once,
    /// so concurrent callers queue behind each other instead of all seeing
    /// the same free room.
    pub fn reserve(&mut self, cost: f64, margin: f64, now: Instant) -> Option<Duration> {
        let used = self.used_now(now);
        let over = used + cost + margin - self.size;
        self.used = used + cost;
        self.at = now;
        if over <= 0.0 || self.per_sec <= 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64(over / self.per_sec))
    }

    /// Gives back `cost` reserved for a call that is not made after all.
    pub fn refund(&mut self, cost: f64) {
        self.used -= cost;
    }

    /// What the marketplace reported: it cannot count calls still on their
    /// way, so the fuller of its word and our own reckoning stands.
    pub fn observe(&mut self, used: f64, size: f64, per_sec: f64, now: Instant) {
        self.answered(now);
        self.used = used.max(self.used_now(now));
        self.size = size;
        self.per_sec = per_sec;
        self.at = now;
    }

    /// A rate the marketplace announced, keeping the level.
    pub fn set_rate(&mut self, per_sec: f64) {
        self.per_sec = per_sec;
    }

    /// A refusal (429) says the bucket is full now, whatever we reckoned.
    pub fn fill(&mut self, now: Instant) {
        self.used = self.used_now(now).max(self.size);
        self.at = now;
        // Now known, not assumed: an answer later gives nothing back.
        self.assumed = 0.0;
    }

    /// One call's time at the current rate (at most an hour).
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64((1.0 / self.per_sec).min(3600.0))
    }
}

/// What Walmart last said about an operation's rate limit: a count of calls
/// left, and when it is replenished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateBudget {
    /// `X-Current-Token-Count`: calls left.
    pub remaining: Option<u64>,
    /// `X-Next-Replenishment-Time`, epoch ms.
    pub replenish_at_ms: Option<i64>,
}

impl RateBudget {
    /// How long until a spent budget is replenished, seen at `now_ms`;
    /// `None` unless it is known spent until later.
    pub fn spent_for(&self, now_ms: i64) -> Option<(i64, Duration)> {
        let (Some(0), Some(at)) = (self.remaining, self.replenish_at_ms) else {
            return None;
        };
        let wait = at - now_ms;
        (wait > 0).then(|| (at, Duration::from_millis(wait.unsigned_abs())))
    }
}

/// Per operation, whether it has been answered since this process started.
/// Until then its calls take turns, one probe at a time, for an API that
/// reports its budget only in its answers (Walmart): the process this one
/// replaced may have spent it moments ago.
#[derive(Default)]
pub struct FirstAnswers {
    answered: std::sync::Mutex<std::collections::HashSet<&'static str>>,
    turns: crate::turns::Turns,
}

impl FirstAnswers {
    /// Wait for the turn to probe `operation`; `None` once it has been
    /// answered (then calls go as the budget says). A probe that got no
    /// answer (the call failed on the way) hands its turn to the next.
    pub(crate) async fn turn(&self, operation: &'static str) -> Option<crate::turns::Turn<'_>> {
        if self.is_answered(operation) {
            return None;
        }
        let held = self.turns.take(operation).await;
        (!self.is_answered(operation)).then_some(held)
    }

    /// `operation` was answered: its calls no longer take turns.
    pub fn answered(&self, operation: &'static str) {
        self.answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(operation);
    }

    fn is_answered(&self, operation: &'static str) -> bool {
        self.answered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossdock_model::{Clock, ManualClock};

    #[test]
    fn a_reservation_waits_for_the_overflow_to_drain() {
        let t0 = ManualClock::new(0).instant();
        let mut b = Bucket::new(39.0, 40.0, 2.0, t0);
        // 39 + 1 + 2 (margin) - 40 = 2 over, at 2 a second.
        assert_eq!(b.reserve(1.0, 2.0, t0), Some(Duration::from_secs(1)));
        b.refund(1.0);
        assert_eq!(b.reserve(1.0, 2.0, t0), Some(Duration::from_secs(1)));
        assert_eq!(b.used_now(t0), 40.0);
        assert_eq!(b.used_now(t0 + Duration::from_secs(5)), 30.0);
        b.refund(1.0);
        assert_eq!(b.used_now(t0), 39.0);
    }

    #[test]
    fn a_report_below_our_reckoning_does_not_lower_it() {
        let t0 = ManualClock::new(0).instant();
        let mut b = Bucket::new(30.0, 40.0, 2.0, t0);
        b.observe(10.0, 80.0, 4.0, t0);
        assert_eq!(b.used_now(t0), 30.0);
        b.fill(t0);
        assert_eq!(b.used_now(t0), 80.0);
    }

    #[test]
    fn a_fresh_bucket_lets_one_probe_through_until_an_answer_gives_the_rest_back() {
        let t0 = ManualClock::new(0).instant();
        let mut b = Bucket::unconfirmed(30.0, 0.5, 1.0, t0);
        assert_eq!(b.reserve(1.0, 0.0, t0), None, "the probe goes at once");
        assert_eq!(
            b.reserve(1.0, 0.0, t0),
            Some(Duration::from_secs(2)),
            "the next waits its turn at the rate"
        );
        b.refund(1.0);
        b.answered(t0);
        assert_eq!(b.used_now(t0), 1.0, "the probe alone is spent");
        assert_eq!(b.reserve(1.0, 0.0, t0), None);
        // Given back once: a later answer changes nothing.
        b.answered(t0);
        assert_eq!(b.used_now(t0), 2.0);
        // A refusal first: the budget is known spent, and stays so.
        let mut refused = Bucket::unconfirmed(30.0, 0.5, 1.0, t0);
        refused.reserve(1.0, 0.0, t0);
        refused.fill(t0);
        refused.answered(t0);
        assert_eq!(refused.used_now(t0), 30.0);
    }

    #[test]
    fn a_walmart_budget_is_spent_only_at_zero_before_its_time() {
        let spent = RateBudget {
            remaining: Some(0),
            replenish_at_ms: Some(1_500),
        };
        assert_eq!(
            spent.spent_for(1_000),
            Some((1_500, Duration::from_millis(500)))
        );
        assert_eq!(spent.spent_for(1_500), None);
        let left = RateBudget {
            remaining: Some(1),
            ..spent
        };
        assert_eq!(left.spent_for(1_000), None);
    }

    #[tokio::test]
    async fn until_the_first_answer_an_operations_calls_take_turns() {
        let answers = std::sync::Arc::new(FirstAnswers::default());
        let probe = answers.turn("getAllOrders").await;
        assert!(probe.is_some(), "the first call probes");
        let next = {
            let answers = answers.clone();
            tokio::spawn(async move { answers.turn("getAllOrders").await.is_some() })
        };
        // Another operation has its own first answer to wait for.
        assert!(answers.turn("shippingUpdates").await.is_some());
        tokio::task::yield_now().await;
        assert!(
            !next.is_finished(),
            "a second call waits for the probe's answer"
        );
        answers.answered("getAllOrders");
        drop(probe);
        assert!(
            !next.await.unwrap(),
            "once answered, calls no longer take turns"
        );
        assert!(answers.turn("getAllOrders").await.is_none());
    }
}
