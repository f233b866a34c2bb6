//! Fault injection in front of a simulator's API routes.

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
    /// API requests admitted per second (fixed one-second windows); 0 = no limit.
    pub rate_limit_per_sec: u32,
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

#[derive(Debug, Default)]
pub(crate) struct FaultCounters {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    errors_injected: AtomicU64,
    outage_refusals: AtomicU64,
}

impl FaultCounters {
    pub(crate) fn write_stats(&self, out: &mut Map<String, Value>) {
        for (key, counter) in [
            ("requests", &self.requests),
            ("rate_limited", &self.rate_limited),
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
    /// (second since start, requests admitted in it)
    window: Mutex<(u64, u32)>,
    pub(crate) counters: FaultCounters,
}

impl FaultGate {
    pub(crate) fn new(faults: Faults, started: Instant, rng: Arc<Mutex<SmallRng>>) -> Self {
        FaultGate {
            faults,
            started,
            rng,
            window: Mutex::new((0, 0)),
            counters: FaultCounters::default(),
        }
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
        if self.faults.rate_limit_per_sec > 0 {
            let second = elapsed as u64;
            let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
            if window.0 != second {
                *window = (second, 0);
            }
            window.1 += 1;
            if window.1 > self.faults.rate_limit_per_sec {
                drop(window);
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                return Some(with_retry_after(
                    error(StatusCode::TOO_MANY_REQUESTS, "rate limited"),
                    1,
                ));
            }
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
    if gate.faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(gate.faults.latency_ms)).await;
    }
    match gate.refusal() {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}
