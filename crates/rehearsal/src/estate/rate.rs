//! The channel APIs' request limit as a model: a generic cell rate in
//! virtual milliseconds. A leaf: the estate holds one per channel.

use std::time::Duration;

/// A generic cell rate: one call per `period`, `burst` back to back.
pub(super) struct Gcra {
    period_ms: f64,
    tolerance_ms: f64,
    tat: f64,
}

impl Gcra {
    pub(super) fn new(per_sec: f64, burst: u32) -> Option<Gcra> {
        (per_sec > 0.0).then(|| {
            let period_ms = 1000.0 / per_sec;
            Gcra {
                period_ms,
                tolerance_ms: period_ms * f64::from(burst.max(1) - 1),
                tat: 0.0,
            }
        })
    }

    /// Take a cell at `now`, or say how long until one is free.
    pub(super) fn take(&mut self, now: i64) -> Result<(), Duration> {
        let now = now as f64;
        let tat = self.tat.max(now);
        if tat - now > self.tolerance_ms {
            return Err(Duration::from_millis(
                (tat - now - self.tolerance_ms).ceil() as u64,
            ));
        }
        self.tat = tat + self.period_ms;
        Ok(())
    }
}
