//! Gate 3: the rate. A GCRA limiter (the `governor` crate) shared by every
//! endpoint of the target, and a hold on every call when the target itself
//! answered 429 with `Retry-After`.
//!
//! On a real clock a call sleeps until it may go; on a manual clock nothing
//! sleeps, and a call the rate has no room for is handed back with its turn.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossdock_connectors::ConnectorError;
use governor::clock::ReasonablyRealtime;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::options::GovernorOptions;
use crate::clock::Clock;

/// The `governor` crate's limiter on the injected clock.
type Limiter = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Instant>>;

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

/// The rate limit of one target and the hold its last 429 asked for.
pub(super) struct Rate {
    clock: Arc<dyn Clock>,
    /// The rate limit and its period (the spacing of calls).
    limiter: Option<(Limiter, Duration)>,
    /// Manual clock only: turns given to paced calls, earliest first.
    turns: Mutex<VecDeque<Instant>>,
    /// The target said 429: nothing is sent before this instant.
    hold_until: Mutex<Option<Instant>>,
}

impl Rate {
    pub(super) fn new(options: &GovernorOptions, clock: Arc<dyn Clock>) -> Self {
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
        Rate {
            clock,
            limiter,
            turns: Mutex::default(),
            hold_until: Mutex::new(None),
        }
    }

    /// Hold every call for `retry_after` from now, unless a longer hold
    /// is already on.
    pub(super) fn hold(&self, retry_after: Duration) {
        let until = self.clock.instant() + retry_after;
        let mut hold = self.hold_until.lock().unwrap_or_else(|p| p.into_inner());
        if hold.is_none_or(|h| h < until) {
            *hold = Some(until);
        }
    }

    /// Wait for the target's own hold (after a 429) and for a rate token.
    ///
    /// On a manual clock nothing sleeps. A call the rate has no room for is
    /// given a turn at the back of the line (one limiter period after the
    /// last turn given) and handed back as [`ConnectorError::Paced`] with
    /// it; whoever calls first once a turn is due takes it. So a backlog is
    /// called back once per call, not all at once at every token, and no
    /// turn goes unused because its caller came back late or not at all.
    /// Turns are first come, first served: priority classes order the
    /// real-time queue only.
    pub(super) async fn pace(
        &self,
        account: &str,
        endpoint: &'static str,
    ) -> Result<(), ConnectorError> {
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
                endpoint: format!("{account}:{endpoint}"),
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
}
