//! The charts' scales: a value axis in steps of 1, 2 or 5 × 10ⁿ and a time
//! axis whose ticks land on whole minutes or hours.

use super::format::{MS_PER_HOUR, MS_PER_MIN, ms_to_f64};

/// A value axis from a "nice" rounded lower bound to a "nice" upper bound,
/// always including zero, in steps of 1, 2 or 5 × 10ⁿ.
pub(super) struct Axis {
    lo: f64,
    hi: f64,
    pub(super) step: f64,
    decimals: usize,
}

impl Axis {
    pub(super) fn new(min: f64, max: f64) -> Self {
        const FALLBACK: Axis = Axis {
            lo: 0.0,
            hi: 4.0,
            step: 1.0,
            decimals: 0,
        };
        let min = if min.is_finite() { min.min(0.0) } else { 0.0 };
        let max = if max.is_finite() { max.max(0.0) } else { 0.0 };
        if max - min <= 0.0 {
            // All zero (or nothing): a 0..4 axis reads as "nothing happened"
            // without dividing by a zero span.
            return FALLBACK;
        }
        let step = nice_step((max - min) / 4.0);
        let lo = (min / step).floor() * step;
        let hi = (max / step).ceil() * step;
        if !(lo.is_finite() && hi.is_finite() && hi > lo) {
            return FALLBACK;
        }
        let mut decimals = 0;
        let mut s = step;
        while s < 0.999_999 && decimals < 6 {
            s *= 10.0;
            decimals += 1;
        }
        Axis {
            lo,
            hi,
            step,
            decimals,
        }
    }

    pub(super) fn fraction(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }

    pub(super) fn ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut k = 0.0;
        // Bounded: the span is a whole number of steps, a handful at most.
        while ticks.len() < 50 {
            let t = self.lo + k * self.step;
            if t > self.hi + self.step * 1e-6 {
                break;
            }
            ticks.push(t);
            k += 1.0;
        }
        ticks
    }

    pub(super) fn label(&self, v: f64) -> String {
        // `+ 0.0` turns -0.0 into 0.0 so no tick reads "-0".
        format!("{:.*}", self.decimals, v + 0.0)
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ that is at least `raw`.
pub(super) fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let base = 10_f64.powf(raw.log10().floor());
    let f = raw / base;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * base
}

/// The time axis, in whole milliseconds so ticks land exactly on the hour.
pub(super) struct TimeAxis {
    lo: i64,
    hi: i64,
    pub(super) step: i64,
}

impl TimeAxis {
    pub(super) fn new(min_ms: i64, max_ms: i64) -> Self {
        const STEPS_MIN: [i64; 12] = [5, 10, 15, 30, 60, 120, 180, 240, 360, 480, 720, 1440];
        let min_ms = min_ms.min(0);
        let max_ms = max_ms.max(0);
        let span = max_ms.saturating_sub(min_ms).max(1);
        let mut step = STEPS_MIN
            .iter()
            .map(|m| m * MS_PER_MIN)
            .find(|s| span / s <= 8)
            .unwrap_or(24 * MS_PER_HOUR);
        while span / step > 8 {
            step = step.saturating_mul(2);
        }
        let lo = min_ms.div_euclid(step) * step;
        let mut hi = max_ms.div_euclid(step) * step;
        if hi < max_ms {
            hi = hi.saturating_add(step);
        }
        if hi <= lo {
            hi = lo.saturating_add(step);
        }
        TimeAxis { lo, hi, step }
    }

    pub(super) fn fraction(&self, t: i64) -> f64 {
        ms_to_f64(t - self.lo) / ms_to_f64(self.hi - self.lo)
    }

    pub(super) fn ticks(&self) -> Vec<i64> {
        let mut ticks = Vec::new();
        let mut t = self.lo;
        while t <= self.hi && ticks.len() < 50 {
            ticks.push(t);
            t = t.saturating_add(self.step);
        }
        ticks
    }

    pub(super) fn label(&self, t: i64) -> String {
        if self.step % MS_PER_HOUR == 0 {
            format!("{} h", t / MS_PER_HOUR)
        } else {
            let sign = if t < 0 { "-" } else { "" };
            let minutes = t.unsigned_abs() / 60_000;
            format!("{sign}{}:{:02}", minutes / 60, minutes % 60)
        }
    }
}
