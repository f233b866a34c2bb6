//! Fault injection in front of a simulator's API routes, and the checks a
//! `[sim.*]` table's rates share. A leaf: every simulator's configuration
//! uses it, and it uses none of them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire::{error, with_retry_after};

/// Misbehaviour of one simulated system; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every API response.
    pub latency_ms: u64,
    /// API requests admitted in any one second (a sliding window, as strict
    /// as a limit gets); 0 = no limit.
    pub rate_limit_per_sec: u32,
    /// API requests in flight at most; one more gets 429; 0 = no limit.
    pub max_concurrent: u32,
    /// Probability (0..1) of a 500 before the request is looked at.
    pub error_rate: f64,
    /// Windows, relative to simulator start, during which every API request gets a 503.
    pub outages: Vec<Outage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub start_secs: f64,
    pub end_secs: f64,
}

impl Faults {
    pub(crate) fn validate(&self, system: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.error_rate),
            "{system}: error_rate must be within 0..1"
        );
        for o in &self.outages {
            anyhow::ensure!(
                o.start_secs >= 0.0 && o.end_secs > o.start_secs,
                "{system}: outage end_secs must be after start_secs"
            );
        }
        Ok(())
    }
}

/// Seconds of per-second admission counts kept for `/sim/stats`.
const ADMITTED_HISTORY_SECS: usize = 3_600;

#[derive(Debug, Default)]
pub(crate) struct FaultCounters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    concurrency_limited: AtomicU64,
    errors_injected: AtomicU64,
    outage_refusals: AtomicU64,
}

/// What the gate let through, for judging a client's pacing.
#[derive(Debug, Default)]
struct Admissions {
    /// Admission instants within the last second (sliding window).
    recent: VecDeque<Instant>,
    /// Most requests admitted within any one second.
    peak_per_second: u32,
    in_flight: u32,
    peak_in_flight: u32,
    /// Requests admitted per whole second since start.
    per_second: Vec<u32>,
}

impl FaultCounters {
    fn write_counters(&self, out: &mut Map<String, Value>) {
        for (key, counter) in [
            ("requests", &self.requests),
            ("rate_limited", &self.rate_limited),
            ("concurrency_limited", &self.concurrency_limited),
            ("errors_injected", &self.errors_injected),
            ("outage_refusals", &self.outage_refusals),
        ] {
            out.insert(key.to_owned(), counter.load(Ordering::Relaxed).into());
        }
    }
}

pub(crate) struct FaultGate {
    faults: Faults,
    started: Instant,
    rng: Arc<Mutex<SmallRng>>,
    admissions: Mutex<Admissions>,
    counters: FaultCounters,
}

impl FaultGate {
    pub(crate) fn new(faults: Faults, started: Instant, rng: Arc<Mutex<SmallRng>>) -> Self {
        FaultGate {
            faults,
            started,
            rng,
            admissions: Mutex::new(Admissions::default()),
            counters: FaultCounters::default(),
        }
    }

    pub(crate) fn write_stats(&self, out: &mut Map<String, Value>) {
        self.counters.write_counters(out);
        let a = self.admissions.lock().unwrap_or_else(|p| p.into_inner());
        out.insert("peak_per_second".into(), a.peak_per_second.into());
        out.insert("peak_in_flight".into(), a.peak_in_flight.into());
        out.insert(
            "admitted_per_second".into(),
            serde_json::json!(a.per_second),
        );
    }

    /// Admit a request past the rate and concurrency limits (`None`), or
    /// answer why not.
    fn admit(&self) -> Option<Response> {
        let now = Instant::now();
        let mut a = self.admissions.lock().unwrap_or_else(|p| p.into_inner());
        while a
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            a.recent.pop_front();
        }
        if self.faults.max_concurrent > 0 && a.in_flight >= self.faults.max_concurrent {
            drop(a);
            self.counters
                .concurrency_limited
                .fetch_add(1, Ordering::Relaxed);
            return Some(with_retry_after(
                error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many concurrent requests",
                ),
                1,
            ));
        }
        let limit = self.faults.rate_limit_per_sec;
        if limit > 0 && a.recent.len() >= limit as usize {
            drop(a);
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Some(with_retry_after(
                error(StatusCode::TOO_MANY_REQUESTS, "rate limited"),
                1,
            ));
        }
        a.recent.push_back(now);
        a.peak_per_second = a.peak_per_second.max(a.recent.len() as u32);
        a.in_flight += 1;
        a.peak_in_flight = a.peak_in_flight.max(a.in_flight);
        let second = now.duration_since(self.started).as_secs() as usize;
        if second < ADMITTED_HISTORY_SECS {
            if a.per_second.len() <= second {
                a.per_second.resize(second + 1, 0);
            }
            a.per_second[second] += 1;
        }
        None
    }

    fn done(&self) {
        let mut a = self.admissions.lock().unwrap_or_else(|p| p.into_inner());
        a.in_flight = a.in_flight.saturating_sub(1);
    }

    fn refusal(&self) -> Option<Response> {
        let elapsed = self.started.elapsed().as_secs_f64();
        if let Some(outage) = self
            .faults
            .outages
            .iter()
            .find(|o| o.start_secs <= elapsed && elapsed < o.end_secs)
        {
            self.counters
                .outage_refusals
                .fetch_add(1, Ordering::Relaxed);
            let left = (outage.end_secs - elapsed).ceil().max(1.0) as u64;
            return Some(with_retry_after(
                error(StatusCode::SERVICE_UNAVAILABLE, "outage"),
                left,
            ));
        }
        if self.faults.error_rate > 0.0 {
            let roll: f64 = self.rng.lock().unwrap_or_else(|p| p.into_inner()).random();
            if roll < self.faults.error_rate {
                self.counters
                    .errors_injected
                    .fetch_add(1, Ordering::Relaxed);
                return Some(error(StatusCode::INTERNAL_SERVER_ERROR, "injected"));
            }
        }
        None
    }
}

pub(crate) async fn gate(
    State(gate): State<Arc<FaultGate>>,
    request: Request,
    next: Next,
) -> Response {
    gate.counters.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(refusal) = gate.refusal() {
        return refusal;
    }
    // Limits are judged on arrival, as a real API gateway does; the
    // admitted request then stays in flight through its latency.
    if let Some(refusal) = gate.admit() {
        return refusal;
    }
    struct InFlight<'a>(&'a FaultGate);
    impl Drop for InFlight<'_> {
        fn drop(&mut self) {
            self.0.done();
        }
    }
    let _in_flight = InFlight(&gate);
    if gate.faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(gate.faults.latency_ms)).await;
    }
    next.run(request).await
}

/// Every `(key, rate)` is a probability; an error names `{at}.{key}`.
pub(crate) fn ensure_probabilities(at: &str, rates: &[(&str, f64)]) -> anyhow::Result<()> {
    for (key, rate) in rates {
        anyhow::ensure!((0.0..=1.0).contains(rate), "{at}.{key} must be within 0..1");
    }
    Ok(())
}
