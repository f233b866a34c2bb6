//! Metric names are an API: they are declared here, once, and emitted
//! through these functions only.

// clippy.toml disallows the metrics macros everywhere else: this module is
// the one place that emits them.
#![allow(clippy::disallowed_macros)]

use std::time::Duration;

pub const INGEST_TOTAL: &str = "crossdock_ingest_messages_total";
pub const STEP_SECONDS: &str = "crossdock_step_duration_seconds";
pub const STEP_OUTCOMES: &str = "crossdock_step_outcomes_total";
pub const EFFECTS_TOTAL: &str = "crossdock_effects_total";
pub const QUEUE_READY: &str = "crossdock_jobs_ready";
pub const QUEUE_RUNNING: &str = "crossdock_jobs_running";
pub const QUEUE_OLDEST_AGE: &str = "crossdock_jobs_oldest_ready_age_seconds";
pub const EXCEPTIONS_OPEN: &str = "crossdock_exceptions_open";
pub const ORDERS_BY_STATUS: &str = "crossdock_orders";
pub const ERP_CALLS: &str = "crossdock_erp_calls_total";
pub const ERP_CALL_SECONDS: &str = "crossdock_erp_call_duration_seconds";
pub const ERP_BREAKER_STATE: &str = "crossdock_erp_breaker_state";
pub const ERP_WAITING: &str = "crossdock_erp_governor_waiting";
pub const ERP_OLDEST_WAIT: &str = "crossdock_erp_governor_oldest_wait_seconds";
pub const STEP_WAITS: &str = "crossdock_step_waits_total";
pub const AVAILABILITY_ENQUEUE_SECONDS: &str = "crossdock_availability_enqueue_seconds";
pub const AVAILABILITY_LAG_SECONDS: &str = "crossdock_availability_sync_lag_seconds";
pub const AVAILABILITY_EXPOSURE: &str = "crossdock_availability_exposure_units";
pub const AVAILABILITY_PUSHES: &str = "crossdock_availability_pushes_total";
pub const LEASES_TAKEN_BACK: &str = "crossdock_leases_taken_back_total";
pub const STOCK_REPORTS_KEPT: &str = "crossdock_stock_reports_unapplied_total";
pub const AUTHORITY_REJECTED: &str = "crossdock_authority_rejected_total";
pub const CHANNEL_THROTTLED: &str = "crossdock_channel_throttled_total";
pub const WEBHOOK_AUTH_FAILURES: &str = "crossdock_webhook_signature_failures_total";
pub const API_REFUSALS: &str = "crossdock_api_refusals_total";

/// An API request refused before its handler: `status` 401, 403 or 429;
/// `reason` missing, unknown, revoked, expired, scope, rate or quota.
pub fn api_refused(status: &'static str, reason: &'static str) {
    metrics::counter!(API_REFUSALS, "status" => status, "reason" => reason).increment(1);
}

/// Outcome of one inbound message at the door.
pub fn ingest(source: &str, outcome: &'static str) {
    metrics::counter!(INGEST_TOTAL, "source" => source.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A webhook refused because it did not authenticate. `check`: missing,
/// malformed, mismatch, stale, replayed (`crossdock_connectors::AuthCheck`).
pub fn webhook_auth_failure(source: &str, check: &'static str) {
    metrics::counter!(WEBHOOK_AUTH_FAILURES, "source" => source.to_owned(), "check" => check)
        .increment(1);
}

/// Jobs taken back from a dead holder: `restart` (this hub's previous run)
/// or `expired` (a lease that ran out).
pub fn leases_taken_back(reason: &'static str, jobs: u64) {
    metrics::counter!(LEASES_TAKEN_BACK, "reason" => reason).increment(jobs);
}

pub fn step_finished(step: &'static str, outcome: &'static str, took: Duration) {
    metrics::histogram!(STEP_SECONDS, "step" => step).record(took.as_secs_f64());
    metrics::counter!(STEP_OUTCOMES, "step" => step, "outcome" => outcome).increment(1);
}

/// `outcome`: applied, found (resolved in doubt by lookup), skipped (already
/// applied), rejected, transient.
pub fn effect(target: &str, outcome: &'static str) {
    metrics::counter!(EFFECTS_TOTAL, "target" => target.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub fn queue(ready: i64, running: i64, oldest_age_ms: i64) {
    metrics::gauge!(QUEUE_READY).set(ready as f64);
    metrics::gauge!(QUEUE_RUNNING).set(running as f64);
    metrics::gauge!(QUEUE_OLDEST_AGE).set(oldest_age_ms as f64 / 1000.0);
}

/// 429s a channel's connector has been answered since the hub started
/// (the connector counts them; this reports its total).
pub fn channel_throttled(channel: &str, total: u64) {
    metrics::counter!(CHANNEL_THROTTLED, "channel" => channel.to_owned()).absolute(total);
}

pub fn exceptions_open(class: &str, n: i64) {
    metrics::gauge!(EXCEPTIONS_OPEN, "class" => class.to_owned()).set(n as f64);
}

pub fn orders(status: &str, n: i64) {
    metrics::gauge!(ORDERS_BY_STATUS, "status" => status.to_owned()).set(n as f64);
}

/// One call through the ERP governor. `outcome`: ok, failed, throttled,
/// refused, circuit_open.
pub fn erp_call(account: &str, endpoint: &'static str, outcome: &'static str, took: Duration) {
    metrics::counter!(ERP_CALLS, "account" => account.to_owned(), "endpoint" => endpoint, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(ERP_CALL_SECONDS, "account" => account.to_owned(), "endpoint" => endpoint)
        .record(took.as_secs_f64());
}

/// 0 closed, 1 half-open, 2 open.
pub fn breaker_state(account: &str, endpoint: &'static str, state: f64) {
    metrics::gauge!(ERP_BREAKER_STATE, "account" => account.to_owned(), "endpoint" => endpoint)
        .set(state);
}

/// Calls waiting for a slot, per priority class.
pub fn governor_waiting(account: &str, priority: &'static str, n: usize) {
    metrics::gauge!(ERP_WAITING, "account" => account.to_owned(), "priority" => priority)
        .set(n as f64);
}

pub fn governor_oldest_wait(account: &str, oldest: Duration) {
    metrics::gauge!(ERP_OLDEST_WAIT, "account" => account.to_owned()).set(oldest.as_secs_f64());
}

/// A step put back without spending an attempt (a breaker was open).
pub fn step_waited(step: &'static str) {
    metrics::counter!(STEP_WAITS, "step" => step).increment(1);
}

/// A stock change reached the availability outbox.
pub fn availability_enqueued(took: Duration) {
    metrics::histogram!(AVAILABILITY_ENQUEUE_SECONDS).record(took.as_secs_f64());
}

/// A channel acknowledged a quantity `lag_ms` after the change behind it;
/// `exposure` = units that could sell on the stale number meanwhile.
pub fn availability_acknowledged(channel: &str, lag_ms: i64, exposure: f64) {
    metrics::histogram!(AVAILABILITY_LAG_SECONDS, "channel" => channel.to_owned())
        .record(lag_ms as f64 / 1000.0);
    metrics::histogram!(AVAILABILITY_EXPOSURE, "channel" => channel.to_owned()).record(exposure);
    metrics::counter!(AVAILABILITY_PUSHES, "channel" => channel.to_owned(), "outcome" => "acknowledged")
        .increment(1);
}

pub fn availability_refused(channel: &str) {
    metrics::counter!(AVAILABILITY_PUSHES, "channel" => channel.to_owned(), "outcome" => "refused")
        .increment(1);
}

/// Stock rows from a source that is not their location's authority.
pub fn stock_reports_kept(source: &str, n: usize) {
    metrics::counter!(STOCK_REPORTS_KEPT, "source" => source.to_owned()).increment(n as u64);
}

/// Updates kept and not applied because `source` is not the system of
/// record for `kind` (`[authority]`): `n` rows of one report or message.
pub fn authority_rejected(kind: crossdock_model::DataKind, source: &str, n: usize) {
    metrics::counter!(AUTHORITY_REJECTED, "kind" => kind.as_str(), "source" => source.to_owned())
        .increment(n as u64);
}

/// Nearest-rank quantile `p` (0..=1) of `sorted`: the smallest value with
/// at least that share of the values at or below it; `None` when empty.
/// One definition for every figure the hub and its benchmarks report.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}
