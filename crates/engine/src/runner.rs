//! The job runner: claims due jobs from the store, runs each one's step
//! while keeping its lease, and records how it ended.
//!
//! - The dispatcher claims only what it can start now (one permit per
//!   running step), so leases are not burnt waiting.
//! - A running step's lease is renewed every third of its length; a step
//!   whose lease is lost is dropped at its next await.
//! - A step's outcome maps onto the store one arm at a time: its writes are
//!   group-committed with the job's completion; a retry is rescheduled with
//!   jittered backoff (and parked as an exception after the last attempt);
//!   a wait (nothing was sent) is put back without spending an attempt and
//!   shown on the order's timeline; a failure is parked in the exception
//!   queue. Effects the step applied are recorded with whichever it was.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossdock_model::ExceptionClass;
use crossdock_store::events::TimelineEvent;
use crossdock_store::{Changes, Job, NewException};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::inner::{AcceptanceOutcome, Inner};
use crate::retry::backoff_delay;
use crate::steps::context::{StepCx, StepError, WaitReason};
use crate::steps::{JobPayload, Step, run_step};
use crate::telemetry;

/// Claim and run jobs until `cancel`, `options.concurrency` at a time.
pub(crate) async fn run_dispatcher(
    inner: Arc<Inner>,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let permits = Arc::new(Semaphore::new(inner.options.concurrency));
    let poll = Duration::from_millis(inner.options.poll_interval_ms);
    let mut last_lease_check = i64::MIN / 2;
    loop {
        if cancel.is_cancelled() {
            return;
        }
        // Claim only what can start now, so leases are not burnt waiting.
        let free = permits.available_permits();
        if free == 0 {
            tokio::select! {
                _ = cancel.cancelled() => return,
                p = permits.clone().acquire_owned() => drop(p),
            }
            continue;
        }
        let limit = free.min(inner.options.claim_batch) as i64;
        let now = inner.clock.now_ms();
        if now - last_lease_check >= LEASE_CHECK_EVERY_MS || now < last_lease_check {
            last_lease_check = now;
            report_expired_leases(&inner, now).await;
        }
        let jobs = match inner
            .store
            .claim_jobs(&inner.owner, now, inner.options.lease_ms, limit)
            .await
        {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "Claiming jobs failed; retrying shortly.");
                tokio::select! { _ = cancel.cancelled() => return, _ = tokio::time::sleep(poll) => {} }
                continue;
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = inner.work_ready.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        }
        for job in jobs {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let inner = inner.clone();
            tracker.spawn(async move {
                process_job(&inner, job).await;
                drop(permit);
            });
        }
    }
}

/// How often the dispatcher looks for leases that ran out (the claim takes
/// those jobs back; this says so).
const LEASE_CHECK_EVERY_MS: i64 = 1_000;

/// At start, before the first claim: put back the jobs this hub's previous
/// run still holds (it was killed mid-step), so they run now rather than
/// when their leases run out; and say which other holders' steps are
/// running, since work behind them waits on those leases.
pub(crate) async fn take_back_leases(inner: &Inner) {
    let Some(hub_id) = &inner.options.hub_id else {
        return;
    };
    match inner.store.take_back_leases_of(&format!("{hub_id}#")).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(
                hub_id = %hub_id,
                jobs = n,
                "Took back the steps this hub's previous run was running when it stopped; they run again now (effects they began are looked up, not repeated)."
            );
            telemetry::leases_taken_back("restart", n);
        }
        Err(e) => {
            tracing::warn!(error = %e, "Could not take back the previous run's leases; they are taken back when they run out.")
        }
    }
    let now = inner.clock.now_ms();
    for h in inner.store.running_leases(now).await.unwrap_or_default() {
        tracing::info!(
            holder = %h.owner,
            jobs = h.jobs,
            expired = h.expired,
            wait_ms = (h.earliest_until - now).max(0),
            "Steps are running under another holder's leases; their orders' later steps wait for them (taken back when a lease runs out if that holder is gone)."
        );
    }
}

/// Take back, say and count leases that ran out: their holder stopped
/// renewing, and its orders' later steps waited for them.
async fn report_expired_leases(inner: &Inner, now: i64) {
    let taken = match inner.store.take_back_expired_leases(now).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "Could not take back expired leases; the next claim tries again.");
            return;
        }
    };
    for (holder, jobs) in taken {
        tracing::warn!(
            %holder,
            jobs,
            "Leases ran out: their holder stopped renewing them (killed, hung or cut off from the store); their steps run again now."
        );
        telemetry::leases_taken_back("expired", u64::try_from(jobs).unwrap_or(0));
    }
}

/// Run every step due by the clock's now, one at a time in queue order,
/// including the steps they make due; returns how many ran.
pub(crate) async fn run_due_steps(inner: &Inner) -> anyhow::Result<usize> {
    let mut ran = 0;
    loop {
        let now = inner.clock.now_ms();
        let jobs = inner
            .store
            .claim_jobs(&inner.owner, now, inner.options.lease_ms, 64)
            .await?;
        if jobs.is_empty() {
            return Ok(ran);
        }
        for job in jobs {
            process_job(inner, job).await;
            ran += 1;
        }
    }
}

/// Run one claimed job's step and record how it ended.
pub(crate) async fn process_job(inner: &Inner, job: Job) {
    // Wall time on purpose: the step-duration metric measures the process.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let Some(step) = Step::parse(&job.step) else {
        park_unknown_step(inner, &job).await;
        return;
    };
    let payload = JobPayload::from_value(&job.payload);
    let cx = StepCx {
        store: &inner.store,
        connections: &inner.connections,
        options: &inner.options,
        warehouses: &inner.warehouses,
        entity_key: &job.entity_key,
        payload: &payload,
        now: inner.clock.now_ms(),
        resolutions: Mutex::default(),
    };
    // The lease is renewed while the step runs. If it is lost (the store
    // was unreachable for a whole lease, and another worker may now hold the
    // job), the step is dropped at its next await so it starts no further
    // effects; whatever it had begun is pending and will be looked up.
    let result = tokio::select! {
        r = run_step(step, &cx) => r,
        () = keep_lease(inner, &job) => {
            tracing::warn!(job = job.id, step = step.as_str(), "Lease lost while the step ran; abandoned.");
            telemetry::step_finished(step.as_str(), "lease_lost", started.elapsed());
            return;
        }
    };
    // Effects the step applied are recorded with whatever the step's outcome
    // writes: its completion, its retry, or its exception.
    let ended = Ended {
        inner,
        job: &job,
        step,
        order_id: payload.order_id(),
        resolved: Changes {
            effects: std::mem::take(&mut *cx.resolutions.lock().unwrap_or_else(|p| p.into_inner())),
            ..Changes::default()
        },
        now: inner.clock.now_ms(),
    };
    let outcome = match result {
        Ok(changes) => ended.completed(changes).await,
        Err(StepError::Retry {
            reason,
            retry_after,
        }) => ended.retry(reason, retry_after).await,
        Err(StepError::Wait {
            endpoint,
            why,
            retry_after,
            note,
        }) => ended.wait(endpoint, why, retry_after, note).await,
        Err(StepError::Fail {
            class,
            reason,
            changes,
        }) => ended.fail(class, reason, *changes).await,
    };
    telemetry::step_finished(step.as_str(), outcome, started.elapsed());
}

/// A job whose step this version does not know goes straight to the
/// exception queue.
async fn park_unknown_step(inner: &Inner, job: &Job) {
    let ex = NewException {
        entity_key: job.entity_key.clone(),
        channel: None,
        step: job.step.clone(),
        class: ExceptionClass::Mapping,
        reason: format!("unknown step {:?}", job.step),
        payload: job.payload.clone(),
        at: inner.clock.now_ms(),
    };
    if let Err(e) = inner.store.fail_job(job, &ex, &Changes::default()).await {
        tracing::error!(job = job.id, error = %e, "Could not park a job with an unknown step.");
    }
}

/// A step run that has ended, to be recorded. Each method is one way it
/// can end and returns the outcome's metric label.
struct Ended<'a> {
    inner: &'a Inner,
    job: &'a Job,
    step: Step,
    order_id: Option<&'a str>,
    /// Effects the step applied.
    resolved: Changes,
    now: i64,
}

impl Ended<'_> {
    /// The step's writes, committed with the job's completion.
    async fn completed(self, mut changes: Changes) -> &'static str {
        let Ended {
            inner, job, step, ..
        } = self;
        changes
            .effects
            .extend(self.resolved.effects.iter().cloned());
        let accepted = (step == Step::AcceptInErp)
            .then(|| {
                changes
                    .orders
                    .iter()
                    .find_map(|o| o.erp_ref.clone().map(|r| (o.id.clone(), r)))
            })
            .flatten();
        let has_jobs = !changes.jobs.is_empty();
        match inner.completer.complete(job.clone(), changes).await {
            Ok(false) => {
                tracing::warn!(
                    job = job.id,
                    step = step.as_str(),
                    "Lease lost before the step was recorded; it will run again."
                );
                "lost"
            }
            Ok(true) => {
                if has_jobs {
                    inner.work_ready.notify_one();
                }
                if let Some((order_id, erp_ref)) = accepted {
                    inner.notify_waiters(&order_id, AcceptanceOutcome::Accepted { erp_ref });
                }
                "completed"
            }
            Err(e) => {
                // Nothing of the step was written; run it again soon
                // rather than when the lease runs out. Its effects are
                // recorded, so the rerun does not repeat them. The attempt
                // is spent: writes the store refuses every time (a value it
                // cannot take) end in the exception queue, not in a loop.
                if job.attempts >= inner.options.max_attempts {
                    let reason = format!(
                        "the step ran but its result could not be recorded after {} attempts: {e}",
                        job.attempts
                    );
                    return self.give_up(reason).await;
                }
                tracing::warn!(job = job.id, step = step.as_str(), attempt = job.attempts, error = %e, "Could not record a finished step; it will run again.");
                let again = inner.clock.now_ms() + inner.options.backoff_base_ms;
                if let Err(e) = inner
                    .store
                    .retry_job(job, again, &e, true, &self.resolved, self.now)
                    .await
                {
                    tracing::warn!(job = job.id, error = %e, "Could not reschedule; the lease will expire and the step run again.");
                }
                "lost"
            }
        }
    }

    /// Out of attempts: to the exception queue as transient, with the
    /// effects the step applied.
    async fn give_up(&self, reason: String) -> &'static str {
        let ex = exception(
            self.inner,
            self.job,
            self.step,
            ExceptionClass::Transient,
            reason,
            self.now,
        )
        .await;
        park(self.inner, self.job, &ex, &self.resolved, self.order_id).await;
        "exception"
    }

    /// Try again after a jittered backoff, or give up after the last attempt.
    async fn retry(self, reason: String, retry_after: Option<Duration>) -> &'static str {
        let Ended {
            inner,
            job,
            step,
            now,
            ..
        } = self;
        if job.attempts >= inner.options.max_attempts {
            let reason = format!("gave up after {} attempts: {reason}", job.attempts);
            return self.give_up(reason).await;
        }
        let delay = {
            let mut rng = inner.rng.lock().unwrap_or_else(|p| p.into_inner());
            backoff_delay(
                job.attempts,
                inner.options.backoff_base_ms,
                inner.options.backoff_max_ms,
                retry_after,
                &mut *rng,
            )
        };
        tracing::debug!(job = job.id, step = step.as_str(), attempt = job.attempts, delay_ms = delay, %reason, "Step will be retried.");
        if let Err(e) = inner
            .store
            .retry_job(
                job,
                now.saturating_add(delay),
                &reason,
                true,
                &self.resolved,
                now,
            )
            .await
        {
            tracing::warn!(job = job.id, error = %e, "Could not schedule a retry; the lease will expire and the step run again.");
        }
        "retry"
    }

    /// Nothing was sent: put the job back without spending an attempt. The
    /// wait is on the order's timeline so an operator sees why it is not
    /// moving.
    async fn wait(
        self,
        endpoint: String,
        why: WaitReason,
        retry_after: Duration,
        note: Option<String>,
    ) -> &'static str {
        let Ended {
            inner,
            job,
            step,
            now,
            ..
        } = self;
        let delay = match why {
            // The governor gave this call its own turn: come back then,
            // not a jittered while later when the turn has passed.
            // A held-back order is asked again when the step says, not
            // sooner (each ask is a call to the channel).
            // A held order is looked at again when its hold lapses (or,
            // without an expiry, at the step's recheck).
            WaitReason::RateLimit | WaitReason::PendingPayment | WaitReason::OrderHold => {
                i64::try_from(retry_after.as_millis()).unwrap_or(i64::MAX)
            }
            WaitReason::BreakerOpen | WaitReason::CapacityTaken => {
                let mut rng = inner.rng.lock().unwrap_or_else(|p| p.into_inner());
                backoff_delay(1, 1, 1, Some(retry_after), &mut *rng)
            }
        };
        let retry_at = now.saturating_add(delay);
        let mut changes = self.resolved;
        changes.events.push(
            TimelineEvent::WaitingForTarget {
                step: step.as_str().to_owned(),
                endpoint: endpoint.clone(),
                why: why.as_str().to_owned(),
                retry_at,
                note,
                // What the ERP's queue looked like then: calls waiting for
                // a slot, the oldest wait, each endpoint's breaker.
                erp_governor: endpoint
                    .starts_with("erp:")
                    .then(|| {
                        inner
                            .connections
                            .erp_governor
                            .as_ref()
                            .map(|g| json!(g.status()))
                    })
                    .flatten(),
            }
            .at(&job.entity_key, now),
        );
        if let Err(e) = inner
            .store
            .retry_job(
                job,
                retry_at,
                &crossdock_store::waiting_error(why.as_str(), &endpoint),
                false,
                &changes,
                now,
            )
            .await
        {
            tracing::warn!(job = job.id, error = %e, "Could not put a waiting step back; the lease will expire and the step run again.");
        }
        telemetry::step_waited(step.as_str());
        "waiting"
    }

    /// Give up: to the exception queue, with the step's writes that record
    /// the failure.
    async fn fail(
        self,
        class: ExceptionClass,
        reason: String,
        mut changes: Changes,
    ) -> &'static str {
        let ex = exception(self.inner, self.job, self.step, class, reason, self.now).await;
        changes.effects.extend(self.resolved.effects);
        park(self.inner, self.job, &ex, &changes, self.order_id).await;
        "exception"
    }
}

/// Renew `job`'s lease every third of its length; returns when renewal
/// fails (the lease is gone, or the store did not answer in time).
async fn keep_lease(inner: &Inner, job: &Job) {
    let lease = inner.options.lease_ms;
    let every = Duration::from_millis(u64::try_from(lease / 3).unwrap_or(1_000));
    let mut held_until = inner.clock.now_ms() + lease;
    loop {
        tokio::time::sleep(every).await;
        let until = inner.clock.now_ms() + lease;
        match tokio::time::timeout(every, inner.store.extend_lease(job, until)).await {
            Ok(Ok(true)) => held_until = until,
            // The claim is someone else's now.
            Ok(Ok(false)) => return,
            // A slow or failing store: keep trying while the lease we hold
            // lasts, then let the step go before another worker may start.
            _ if inner.clock.now_ms() + every_ms(every) < held_until => {}
            _ => return,
        }
    }
}

fn every_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn exception(
    inner: &Inner,
    job: &Job,
    step: Step,
    class: ExceptionClass,
    reason: String,
    now: i64,
) -> NewException {
    let channel = match JobPayload::from_value(&job.payload).order_id() {
        Some(id) => inner
            .store
            .order(id)
            .await
            .ok()
            .flatten()
            .map(|o| o.channel),
        None => None,
    };
    NewException {
        entity_key: job.entity_key.clone(),
        channel,
        step: step.as_str().to_owned(),
        class,
        reason,
        payload: job.payload.clone(),
        at: now,
    }
}

async fn park(
    inner: &Inner,
    job: &Job,
    ex: &NewException,
    changes: &Changes,
    order_id: Option<&str>,
) {
    let mut changes = changes.clone();
    changes.events.push(
        TimelineEvent::Exception {
            step: ex.step.clone(),
            class: ex.class,
            reason: ex.reason.clone(),
        }
        .at(&job.entity_key, ex.at),
    );
    match inner.store.fail_job(job, ex, &changes).await {
        Ok(id) => {
            tracing::info!(job = job.id, exception = %id, step = %ex.step, class = ex.class.as_str(), reason = %ex.reason, "Step moved to the exception queue.");
            if let Some(order_id) = order_id {
                inner.notify_waiters(
                    order_id,
                    AcceptanceOutcome::Refused {
                        reason: ex.reason.clone(),
                    },
                );
            }
        }
        Err(e) => {
            tracing::warn!(job = job.id, error = %e, "Could not park a failed step; it will run again.")
        }
    }
}
