//! The job queue: enqueue, claim under a lease (one running job per
//! entity, in order), and finish a job — complete, retry or fail — together
//! with its step's writes in one transaction. A worker whose lease was lost
//! writes nothing.
//!
//! The claim is one of the two places the backends differ (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL); everything else is the same SQL on both.

use std::sync::atomic::Ordering;

use crate::changes::{apply_changes, insert_jobs};
use crate::error::{Result, StoreError};
use crate::open::{Backend, Store};
use crate::sql::{self, INSERT_CHUNK, rows_sql};
use crate::types::*;

/// A claim's lease token is `{owner}/{claim id}`; this is its owner.
fn holder_of(token: &str) -> &str {
    token.rsplit_once('/').map_or(token, |(owner, _)| owner)
}

/// How often `claim_jobs` looks for jobs whose lease expired.
const RECLAIM_EVERY_MS: i64 = 1_000;

/// The `last_error` of a job put back to wait (no attempt spent) for `why`
/// on `endpoint`; [`Store::waiting_counts`] reads `why` back from it.
pub fn waiting_error(why: &str, endpoint: &str) -> String {
    format!("wait:{why}: {endpoint}")
}

impl Store {
    pub async fn enqueue(&self, jobs: &[NewJob], now: i64) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        insert_jobs(&mut tx, jobs, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claim up to `limit` runnable jobs for `owner` until `now + lease_ms`.
    /// A job is runnable when it is due and no earlier job of the same entity
    /// is still waiting or running, so one entity's steps run in order. Jobs
    /// whose lease expired (their worker died) become runnable again first.
    pub async fn claim_jobs(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Job>> {
        // Jobs whose worker died are put back first. The scan is cheap but
        // not free, and a lease is long, so once a second is plenty.
        let last = self.last_reclaim.load(Ordering::Relaxed);
        if now - last >= RECLAIM_EVERY_MS || now < last {
            self.take_back_expired_leases(now).await?;
        }
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1 \
             WHERE id IN (SELECT j.id FROM jobs j WHERE j.status = 'ready' AND j.run_at <= $3 \
               AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.entity_key = j.entity_key \
                               AND (k.id < j.id AND k.status <> 'failed' OR k.status = 'running')) \
               ORDER BY j.run_at, j.id LIMIT $4 {lock}) \
             RETURNING id, entity_key, step, payload, attempts, created_at"
        );
        // Each claim gets its own lease token, so a worker of this same
        // process whose lease expired cannot complete the job after it was
        // claimed again.
        let token = format!("{owner}/{}", uuid::Uuid::now_v7().simple());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&token)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.writer)
            .await?;
        let mut jobs = rows
            .iter()
            .map(|r| sql::job(r, owner, &token))
            .collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Finish a job and apply its step's writes atomically. Fails with
    /// `LeaseLost` (and writes nothing) if another worker took the job over.
    pub async fn complete_job(&self, job: &Job, changes: &Changes, now: i64) -> Result<()> {
        match self.complete_jobs(&[(job, changes)], now).await?.first() {
            Some(true) => Ok(()),
            _ => Err(StoreError::LeaseLost(job.id)),
        }
    }

    /// Finish many jobs in one transaction (group commit of completions).
    /// Returns, per job, whether it was still held under its lease; the
    /// writes of a job whose lease was lost are not applied.
    pub async fn complete_jobs(&self, batch: &[(&Job, &Changes)], now: i64) -> Result<Vec<bool>> {
        let mut tx = self.writer.begin().await?;
        let mut done = std::collections::HashSet::with_capacity(batch.len());
        for chunk in batch.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "DELETE FROM jobs WHERE status = 'running' AND (id, lease_owner) IN (VALUES ",
            );
            sql.push_str(&rows_sql("(?, ?)", chunk.len()));
            sql.push_str(") RETURNING id");
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for (job, _) in chunk {
                q = q.bind(job.id).bind(&job.lease_token);
            }
            done.extend(q.fetch_all(&mut *tx).await?);
        }
        let mut merged = Changes::default();
        for (job, c) in batch {
            if done.contains(&job.id) {
                merged.orders.extend(c.orders.iter().cloned());
                merged.shipments.extend(c.shipments.iter().cloned());
                merged.jobs.extend(c.jobs.iter().cloned());
                merged.events.extend(c.events.iter().cloned());
                merged.inbox.extend(c.inbox.iter().cloned());
                merged.reservations.extend(c.reservations.iter().cloned());
                merged.effects.extend(c.effects.iter().cloned());
                merged.unapplied.extend(c.unapplied.iter().cloned());
                merged
                    .settlements_posted
                    .extend(c.settlements_posted.iter().cloned());
            }
        }
        let touched = apply_changes(&mut tx, &merged, now).await?;
        tx.commit().await?;
        self.stock_changes.record(touched, 0);
        Ok(batch.iter().map(|(j, _)| done.contains(&j.id)).collect())
    }

    /// Extend a held lease to `until`. False when the claim is no longer
    /// this worker's.
    pub async fn extend_lease(&self, job: &Job, until: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(until)
        .bind(job.id)
        .bind(&job.lease_token)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Put a job back to run at `run_at`. With `count_attempt == false` the
    /// attempt is given back: the job waited (breaker open) rather than failed.
    pub async fn retry_job(
        &self,
        job: &Job,
        run_at: i64,
        error: &str,
        count_attempt: bool,
        changes: &Changes,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET status = 'ready', run_at = $1, last_error = $2, lease_owner = NULL, \
             lease_until = NULL, attempts = attempts - $3 \
             WHERE id = $4 AND lease_owner = $5 AND status = 'running'",
        )
        .bind(run_at)
        .bind(error)
        .bind(if count_attempt { 0i64 } else { 1i64 })
        .bind(job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Err(StoreError::LeaseLost(job.id));
        }
        let touched = apply_changes(&mut tx, changes, now).await?;
        tx.commit().await?;
        self.stock_changes.record(touched, 0);
        Ok(())
    }

    /// Move a job to the exception queue, with the step's other writes.
    pub async fn fail_job(
        &self,
        job: &Job,
        exception: &NewException,
        changes: &Changes,
    ) -> Result<String> {
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET status = 'failed', last_error = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
        )
        .bind(&exception.reason)
        .bind(job.id)
        .bind(&job.lease_token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Err(StoreError::LeaseLost(job.id));
        }
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO exceptions (id, job_id, entity_key, channel, step, class, reason, payload, \
             status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9)",
        )
        .bind(&id)
        .bind(job.id)
        .bind(&exception.entity_key)
        .bind(&exception.channel)
        .bind(&exception.step)
        .bind(exception.class.as_str())
        .bind(&exception.reason)
        .bind(exception.payload.to_string())
        .bind(exception.at)
        .execute(&mut *tx)
        .await?;
        let touched = apply_changes(&mut tx, changes, exception.at).await?;
        tx.commit().await?;
        self.stock_changes.record(touched, 0);
        Ok(id)
    }

    /// Put back every job whose lease ran out by `now` (its holder stopped
    /// renewing it: killed, hung, or cut off from the store). Returns, per
    /// former holder, how many were taken back; each job's `last_error`
    /// names the holder. `claim_jobs` does this once a second by itself; a
    /// caller that wants to say what it took back calls it first.
    pub async fn take_back_expired_leases(&self, now: i64) -> Result<Vec<(String, i64)>> {
        self.last_reclaim.store(now, Ordering::Relaxed);
        let held_by: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'ready', lease_owner = NULL, lease_until = NULL, \
             last_error = 'lease expired: ' || lease_owner \
             WHERE status = 'running' AND lease_until < $1 RETURNING last_error",
        )
        .bind(now)
        .fetch_all(&self.writer)
        .await?;
        let mut per_holder: std::collections::BTreeMap<String, i64> = Default::default();
        for e in held_by {
            let token = e.strip_prefix("lease expired: ").unwrap_or(&e);
            *per_holder.entry(holder_of(token).to_owned()).or_default() += 1;
        }
        Ok(per_holder.into_iter().collect())
    }

    /// Put back every job running under a lease whose owner name starts
    /// with `owner_prefix`: a restarted hub takes back at once what its
    /// previous run held, instead of waiting for those leases to run out.
    /// Returns how many jobs were put back. The attempt they were claimed
    /// with stays spent, as when a lease expires: a step that kills its
    /// process every time must still end in the exception queue.
    pub async fn take_back_leases_of(&self, owner_prefix: &str) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE jobs SET status = 'ready', lease_owner = NULL, lease_until = NULL, \
             last_error = 'taken back: the hub that held it restarted' \
             WHERE status = 'running' AND substr(lease_owner, 1, length($1)) = $1",
        )
        .bind(owner_prefix)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    /// Who holds the running jobs, per holder, with how many of their
    /// leases have run out by `now` (those are taken back by the next
    /// claim).
    pub async fn running_leases(&self, now: i64) -> Result<Vec<LeaseHolder>> {
        let rows: Vec<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT lease_owner, lease_until FROM jobs WHERE status = 'running'")
                .fetch_all(&self.reader)
                .await?;
        let mut holders: std::collections::BTreeMap<String, LeaseHolder> = Default::default();
        for (token, until) in rows {
            let token = token.unwrap_or_default();
            let owner = holder_of(&token);
            let until = until.unwrap_or(0);
            let h = holders
                .entry(owner.to_owned())
                .or_insert_with(|| LeaseHolder {
                    owner: owner.to_owned(),
                    jobs: 0,
                    expired: 0,
                    earliest_until: until,
                });
            h.jobs += 1;
            h.expired += i64::from(until < now);
            h.earliest_until = h.earliest_until.min(until);
        }
        Ok(holders.into_values().collect())
    }

    /// Jobs per status, and how long the oldest job due by `now` has
    /// waited. A job set to run later (a backoff, an Amazon order pending
    /// payment for days) is not late and does not age the queue.
    pub async fn queue_stats(&self, now: i64) -> Result<QueueStats> {
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT status, COUNT(*) AS n, \
             MIN(CASE WHEN run_at <= $1 THEN created_at END) AS oldest \
             FROM jobs GROUP BY status",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        let mut s = QueueStats::default();
        for (status, n, oldest) in rows {
            match status.as_str() {
                "ready" => {
                    s.ready = n;
                    s.oldest_ready_age_ms = oldest.map(|o| (now - o).max(0)).unwrap_or(0);
                }
                "running" => s.running = n,
                "failed" => s.failed = n,
                _ => {}
            }
        }
        Ok(s)
    }

    /// Jobs put back to wait without an attempt, by why they wait
    /// ([`waiting_error`]), for `/v1/stats`.
    pub async fn waiting_counts(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT last_error, COUNT(*) AS n FROM jobs \
             WHERE status = 'ready' AND last_error LIKE 'wait:%' GROUP BY last_error",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut counts = std::collections::BTreeMap::new();
        for (error, n) in rows {
            let why = error["wait:".len()..]
                .split_once(':')
                .map_or(&error["wait:".len()..], |(why, _)| why);
            *counts.entry(why.to_owned()).or_insert(0) += n;
        }
        Ok(counts)
    }

    /// Makes due now the `step` jobs of `entity_keys` that wait for `why`
    /// ([`waiting_error`]): something newer arrived that may settle what
    /// they wait for. Returns how many were woken.
    pub async fn wake_waiting(
        &self,
        entity_keys: &[&str],
        step: &str,
        why: &str,
        now: i64,
    ) -> Result<u64> {
        let mut woken = 0;
        let pattern = format!("{}%", waiting_error(why, ""));
        for keys in entity_keys.chunks(INSERT_CHUNK) {
            let marks = (0..keys.len())
                .map(|i| format!("${}", i + 4))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE jobs SET run_at = $1 WHERE status = 'ready' AND run_at > $1 \
                 AND step = $2 AND last_error LIKE $3 AND entity_key IN ({marks})"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(step)
                .bind(&pattern);
            for k in keys {
                q = q.bind(*k);
            }
            woken += q.execute(&self.writer).await?.rows_affected();
        }
        Ok(woken)
    }

    /// Entities with a job put back to wait for `why` ([`waiting_error`]),
    /// the longest waiting first, at most `limit`.
    pub async fn entities_waiting(&self, why: &str, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT entity_key FROM jobs WHERE status = 'ready' AND last_error LIKE $1 \
             ORDER BY created_at, id LIMIT $2",
        )
        .bind(format!("{}%", waiting_error(why, "")))
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await?)
    }

    /// The earliest time after `after` (ms) at which a waiting job falls
    /// due, if any does. Jobs due by `after` are left out: they are either
    /// claimable now or wait behind an earlier job of their entity.
    pub async fn next_job_at(&self, after: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(run_at) AS next FROM jobs WHERE status = 'ready' AND run_at > $1",
        )
        .bind(after)
        .fetch_one(&self.reader)
        .await?)
    }

    /// Waiting and running jobs per step, by step name.
    pub async fn unfinished_jobs_by_step(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT step, COUNT(*) AS n FROM jobs WHERE status IN ('ready', 'running') \
             GROUP BY step ORDER BY step",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    /// Jobs not yet finished for an entity (waiting, running or failed).
    pub async fn open_jobs(&self, entity_key: &str) -> Result<Vec<(i64, String, String)>> {
        Ok(
            sqlx::query_as("SELECT id, step, status FROM jobs WHERE entity_key = $1 ORDER BY id")
                .bind(entity_key)
                .fetch_all(&self.reader)
                .await?,
        )
    }
}
