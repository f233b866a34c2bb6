//! The one rate bucket of the simulated marketplaces. Shopify describes
//! its limits as a leaky bucket (calls fill it, it drains at a steady
//! rate), Amazon and Walmart as token buckets (calls take tokens, tokens
//! come back at a steady rate): the same machine seen from its two sides.
//! It holds the tokens left; [`Bucket::used`] is Shopify's fill level.

use std::time::Instant;

#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket (nothing used yet) as of `now`.
    pub(crate) fn full(capacity: f64, per_sec: f64, now: Instant) -> Self {
        Bucket {
            capacity,
            per_sec,
            tokens: capacity,
            at: now,
        }
    }

    /// Puts back what the time since the last look earned, up to capacity.
    pub(crate) fn refill(&mut self, now: Instant) {
        let earned = now.duration_since(self.at).as_secs_f64() * self.per_sec;
        self.tokens = (self.tokens + earned).min(self.capacity);
        self.at = now;
    }

    /// Takes `cost` if that much is left (after refilling); `false` takes nothing.
    pub(crate) fn take(&mut self, cost: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Tokens left, as of the last refill.
    pub(crate) fn tokens(&self) -> f64 {
        self.tokens
    }

    /// The leaky bucket's fill level, as of the last refill.
    pub(crate) fn used(&self) -> f64 {
        self.capacity - self.tokens
    }

    /// Seconds until the next whole token is back; 0 when the bucket is full.
    pub(crate) fn secs_to_next_token(&self) -> f64 {
        if self.tokens >= self.capacity {
            0.0
        } else {
            (self.tokens.floor() + 1.0 - self.tokens) / self.per_sec
        }
    }
}
