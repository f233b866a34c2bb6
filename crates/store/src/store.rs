use std::sync::Once;
use std::time::Duration;

use crossdock_model::{ExceptionClass, ExceptionRecord, ExceptionStatus, Order, Shipment};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::types::*;
use crate::{Result, StoreError};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The hub's durable state. Cheap to clone (pools are shared).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// All writes go through this pool. On SQLite it holds one connection,
    /// which serialises writers in the pool's queue; on PostgreSQL it is the
    /// same pool as `reader`.
    pub(crate) writer: AnyPool,
    pub(crate) reader: AnyPool,
    /// When `claim_jobs` last put expired leases back (ms, the caller's clock).
    last_reclaim: std::sync::Arc<std::sync::atomic::AtomicI64>,
    /// SKUs whose stock or reservations changed since the availability sync
    /// last looked (in memory: a full recompute at start covers a restart).
    pub(crate) stock_changes: std::sync::Arc<crate::availability::StockChanges>,
}

/// How often `claim_jobs` looks for jobs whose lease expired.
const RECLAIM_EVERY_MS: i64 = 1_000;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

fn ms(at: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(at).unwrap_or_default()
}

impl Store {
    /// Open the store at `url` (`sqlite://PATH` or `postgres://…`) and apply
    /// pending migrations.
    pub async fn open(url: &str) -> Result<Store> {
        install_drivers();
        let store = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest
                .trim_start_matches("//")
                .split('?')
                .next()
                .unwrap_or("");
            if let Some(parent) = std::path::Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Corrupt(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let url = if url.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            let opts = |max| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; NORMAL
                            // sync in WAL mode survives a process kill (the
                            // crash the hub must tolerate) at a fraction of
                            // FULL's fsync cost.
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                                 PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; \
                                 PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=0;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
            };
            let writer = opts(1).connect(&url).await?;
            let reader = opts(4).connect(&url).await?;
            // Checkpoints run beside the writer instead of inside whichever
            // commit crosses the WAL threshold, which is what made ingest's
            // tail latency spike.
            tokio::spawn(checkpoint_wal(reader.clone()));
            Store {
                backend: Backend::Sqlite,
                writer,
                reader,
                last_reclaim: Default::default(),
                stock_changes: Default::default(),
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(60))
                .connect(url)
                .await?;
            Store {
                backend: Backend::Postgres,
                writer: pool.clone(),
                reader: pool,
                last_reclaim: Default::default(),
                stock_changes: Default::default(),
            }
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Open the embedded store in `dir` (created if missing).
    pub async fn open_dir(dir: &std::path::Path) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", dir.display())))?;
        Store::open(&format!("sqlite://{}", dir.join("crossdock.db").display())).await
    }

    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.writer).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.writer).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    // ---------------------------------------------------------------- inbox

    /// Commit a batch of inbound messages in one transaction (group commit),
    /// enqueueing one job for each new message. Duplicates are counted.
    /// Rows are written with multi-row statements: on SQLite every statement
    /// is a round trip to the connection's thread, and that hand-off, not
    /// SQLite, is what a message-per-statement batch would spend its time on.
    pub async fn accept_messages(&self, batch: &[NewMessage]) -> Result<Vec<Accepted>> {
        let mut tx = self.writer.begin().await?;
        let mut out = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO inbox (source, message_key, entity_key, source_version, status, received_at, body) VALUES ",
            );
            sql.push_str(&rows_sql("(?, ?, ?, ?, 'accepted', ?, ?)", chunk.len()));
            sql.push_str(
                " ON CONFLICT (source, message_key) DO NOTHING RETURNING id, source, message_key",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = q
                    .bind(&m.source)
                    .bind(&m.message_key)
                    .bind(&m.entity_key)
                    .bind(m.source_version)
                    .bind(m.received_at)
                    .bind(&m.body);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let mut inserted = std::collections::HashMap::with_capacity(rows.len());
            for r in &rows {
                let key: (String, String) = (r.try_get("source")?, r.try_get("message_key")?);
                inserted.insert(key, r.try_get::<i64, _>("id")?);
            }
            let mut new_jobs = Vec::new();
            for m in chunk {
                // The first message of a key in the batch is the new one; any
                // later one in the same batch is a duplicate of it.
                match inserted.remove(&(m.source.clone(), m.message_key.clone())) {
                    Some(id) => {
                        new_jobs.push(NewJob {
                            entity_key: m.entity_key.clone(),
                            step: m.step.clone(),
                            payload: serde_json::json!({ "inbox_id": id }),
                            run_at: m.received_at,
                        });
                        out.push(Accepted::New(id));
                    }
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "UPDATE inbox SET duplicates = duplicates + 1 \
                             WHERE source = $1 AND message_key = $2 RETURNING id",
                        )
                        .bind(&m.source)
                        .bind(&m.message_key)
                        .fetch_one(&mut *tx)
                        .await?;
                        out.push(Accepted::Duplicate(id));
                    }
                }
            }
            let now = chunk
                .iter()
                .map(|m| m.received_at)
                .max()
                .unwrap_or_default();
            insert_jobs(&mut tx, &new_jobs, now).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Keep a message refused at the door, with the reason.
    pub async fn record_rejected(
        &self,
        source: &str,
        reason: &str,
        body: &[u8],
        received_at: i64,
    ) -> Result<i64> {
        let key = format!("rejected:{}", uuid::Uuid::now_v7());
        let id = sqlx::query_scalar(
            "INSERT INTO inbox (source, message_key, status, received_at, body, note) \
             VALUES ($1, $2, 'rejected', $3, $4, $5) RETURNING id",
        )
        .bind(source)
        .bind(key)
        .bind(received_at)
        .bind(body)
        .bind(reason)
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    pub async fn inbox_message(&self, id: i64) -> Result<Option<InboxMessage>> {
        let row = sqlx::query(
            "SELECT id, source, message_key, entity_key, source_version, status, duplicates, \
             received_at, body, note FROM inbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| inbox_from_row(&r)).transpose()
    }

    pub async fn inbox_messages(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<InboxMessage>> {
        let sql = format!(
            "SELECT id, source, message_key, entity_key, source_version, status, duplicates, \
             received_at, body, note FROM inbox {} ORDER BY id DESC LIMIT {}",
            if status.is_some() {
                "WHERE status = $1"
            } else {
                ""
            },
            limit.max(0)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(s) = status {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.reader).await?;
        rows.iter().map(inbox_from_row).collect()
    }

    pub async fn inbox_counts(&self) -> Result<InboxCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(duplicates), 0) AS BIGINT) AS d \
             FROM inbox GROUP BY status",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut c = InboxCounts::default();
        for r in rows {
            let n: i64 = r.try_get("n")?;
            c.duplicates += r.try_get::<i64, _>("d")?;
            match r.try_get::<String, _>("status")?.as_str() {
                "accepted" => c.accepted = n,
                "processed" => c.processed = n,
                "stale" => c.stale = n,
                "rejected" => c.rejected = n,
                "failed" => c.failed = n,
                _ => {}
            }
        }
        Ok(c)
    }

    // ----------------------------------------------------------------- jobs

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
        let last = self.last_reclaim.load(std::sync::atomic::Ordering::Relaxed);
        if now - last >= RECLAIM_EVERY_MS || now < last {
            self.last_reclaim
                .store(now, std::sync::atomic::Ordering::Relaxed);
            sqlx::query(
                "UPDATE jobs SET status = 'ready', lease_owner = NULL, lease_until = NULL, \
                 last_error = 'lease expired' WHERE status = 'running' AND lease_until < $1",
            )
            .bind(now)
            .execute(&self.writer)
            .await?;
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
            .map(|r| {
                Ok(Job {
                    id: r.try_get("id")?,
                    entity_key: r.try_get("entity_key")?,
                    step: r.try_get("step")?,
                    payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
                    attempts: r.try_get("attempts")?,
                    created_at: r.try_get("created_at")?,
                    lease_owner: owner.to_owned(),
                    lease_token: token.clone(),
                })
            })
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

    pub async fn queue_stats(&self, now: i64) -> Result<QueueStats> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs GROUP BY status",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut s = QueueStats::default();
        for r in rows {
            let n: i64 = r.try_get("n")?;
            match r.try_get::<String, _>("status")?.as_str() {
                "ready" => {
                    s.ready = n;
                    let oldest: Option<i64> = r.try_get("oldest")?;
                    s.oldest_ready_age_ms = oldest.map(|o| (now - o).max(0)).unwrap_or(0);
                }
                "running" => s.running = n,
                "failed" => s.failed = n,
                _ => {}
            }
        }
        Ok(s)
    }

    /// The earliest time after `after` (ms) at which a waiting job falls
    /// due, if any does. Jobs due by `after` are left out: they are either
    /// claimable now or wait behind an earlier job of their entity.
    pub async fn next_job_at(&self, after: i64) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT MIN(run_at) AS next FROM jobs WHERE status = 'ready' AND run_at > $1",
        )
        .bind(after)
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get("next")?)
    }

    /// Waiting and running jobs per step, by step name.
    pub async fn unfinished_jobs_by_step(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT step, COUNT(*) AS n FROM jobs WHERE status IN ('ready', 'running') \
             GROUP BY step ORDER BY step",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("step")?, r.try_get("n")?)))
            .collect()
    }

    /// Jobs not yet finished for an entity (waiting, running or failed).
    pub async fn open_jobs(&self, entity_key: &str) -> Result<Vec<(i64, String, String)>> {
        let rows =
            sqlx::query("SELECT id, step, status FROM jobs WHERE entity_key = $1 ORDER BY id")
                .bind(entity_key)
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("step")?, r.try_get("status")?)))
            .collect()
    }

    // -------------------------------------------------------------- effects

    /// Record that an effect is about to be attempted, and say whether an
    /// earlier attempt left it in doubt (recorded as pending and never
    /// resolved: the call may or may not have reached the target). A
    /// refused (`failed`) effect is known not applied; it returns to
    /// `pending` for the new attempt without being in doubt.
    pub async fn begin_effect(&self, e: &NewEffect) -> Result<Effect> {
        // One statement: `prev_status` keeps the status this attempt found,
        // which is what tells an effect in doubt from one known not applied.
        let row = sqlx::query(
            "INSERT INTO effects (key, target, kind, entity_key, status, attempts, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', 1, $5) \
             ON CONFLICT (key) DO UPDATE SET attempts = effects.attempts + 1, \
               prev_status = effects.status, \
               status = CASE WHEN effects.status = 'failed' THEN 'pending' ELSE effects.status END \
             RETURNING key, target, kind, entity_key, status, attempts, result, created_at, resolved_at, prev_status",
        )
        .bind(&e.key)
        .bind(&e.target)
        .bind(&e.kind)
        .bind(&e.entity_key)
        .bind(e.at)
        .fetch_one(&self.writer)
        .await?;
        let mut effect = effect_from_row(&row)?;
        let previous: Option<String> = row.try_get("prev_status")?;
        effect.in_doubt = effect.attempts > 1 && previous.as_deref() == Some("pending");
        Ok(effect)
    }

    pub async fn resolve_effect(
        &self,
        key: &str,
        status: EffectStatus,
        result: Option<&serde_json::Value>,
        at: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE effects SET status = $1, result = $2, resolved_at = $3 WHERE key = $4")
            .bind(status.as_str())
            .bind(result.map(|r| r.to_string()))
            .bind(at)
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn effect(&self, key: &str) -> Result<Option<Effect>> {
        let row = sqlx::query(
            "SELECT key, target, kind, entity_key, status, attempts, result, created_at, resolved_at \
             FROM effects WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| effect_from_row(&r)).transpose()
    }

    pub async fn effects_for(&self, entity_key: &str) -> Result<Vec<Effect>> {
        let rows = sqlx::query(
            "SELECT key, target, kind, entity_key, status, attempts, result, created_at, resolved_at \
             FROM effects WHERE entity_key = $1 ORDER BY created_at, key",
        )
        .bind(entity_key)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(effect_from_row).collect()
    }

    /// Effect counts by (target, status), for metrics and summaries.
    /// Fulfilment requests released per warehouse since `since_ms` (applied
    /// release effects, keyed by warehouse name): a warehouse's load today,
    /// for capacity rules.
    pub async fn releases_since(&self, since_ms: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT target, COUNT(*) AS n FROM effects \
             WHERE kind = 'release' AND status = 'applied' AND created_at >= $1 \
             GROUP BY target ORDER BY target",
        )
        .bind(since_ms)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let target: String = r.try_get("target")?;
                let name = target
                    .strip_prefix("warehouse:")
                    .unwrap_or(&target)
                    .to_owned();
                Ok((name, r.try_get("n")?))
            })
            .collect()
    }

    pub async fn effect_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT target, status, COUNT(*) AS n FROM effects GROUP BY target, status ORDER BY target, status",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("target")?, r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    // --------------------------------------------------------------- orders

    pub async fn order(&self, id: &str) -> Result<Option<Order>> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        doc.map(|d| serde_json::from_str(&d).map_err(StoreError::from))
            .transpose()
    }

    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>> {
        let mut clauses = Vec::new();
        let mut binds = Vec::new();
        if let Some(s) = &filter.status {
            binds.push(s.clone());
            clauses.push(format!("status = ${}", binds.len()));
        }
        if let Some(c) = &filter.channel {
            binds.push(c.clone());
            clauses.push(format!("channel = ${}", binds.len()));
        }
        let sql = format!(
            "SELECT doc FROM orders {} ORDER BY updated_at DESC, id LIMIT {}",
            where_clause(&clauses),
            filter.limit.unwrap_or(100).max(0)
        );
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let docs = q.fetch_all(&self.reader).await?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(StoreError::from))
            .collect()
    }

    pub async fn order_status_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY status")
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    pub async fn timeline(&self, entity_key: &str) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, entity_key, at, kind, detail FROM events WHERE entity_key = $1 ORDER BY id",
        )
        .bind(entity_key)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.try_get("id")?,
                    entity_key: r.try_get("entity_key")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)?,
                })
            })
            .collect()
    }

    pub async fn shipments_for(&self, order_id: &str) -> Result<Vec<StoredShipment>> {
        let rows = sqlx::query(
            "SELECT doc, confirmed_at FROM shipments WHERE order_id = $1 ORDER BY created_at, id",
        )
        .bind(order_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredShipment {
                    shipment: serde_json::from_str::<Shipment>(&r.try_get::<String, _>("doc")?)?,
                    confirmed_at: r.try_get("confirmed_at")?,
                })
            })
            .collect()
    }

    /// Shipments the hub recorded after `after_ms`, oldest first.
    pub async fn shipments_recorded_after(&self, after_ms: i64) -> Result<Vec<Shipment>> {
        let rows =
            sqlx::query("SELECT doc FROM shipments WHERE created_at > $1 ORDER BY created_at, id")
                .bind(after_ms)
                .fetch_all(&self.reader)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(serde_json::from_str::<Shipment>(
                    &r.try_get::<String, _>("doc")?,
                )?)
            })
            .collect()
    }

    pub async fn shipment(&self, id: &str) -> Result<Option<StoredShipment>> {
        let row = sqlx::query("SELECT doc, confirmed_at FROM shipments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| {
            Ok(StoredShipment {
                shipment: serde_json::from_str::<Shipment>(&r.try_get::<String, _>("doc")?)?,
                confirmed_at: r.try_get("confirmed_at")?,
            })
        })
        .transpose()
    }

    // ----------------------------------------------------------- exceptions

    pub async fn exceptions(&self, filter: &ExceptionFilter) -> Result<Vec<ExceptionRecord>> {
        let (sql, binds) = exception_query(
            "SELECT id, job_id, entity_key, channel, step, class, reason, payload, status, \
             created_at, replayed_at, replay_count FROM exceptions",
            filter,
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        let rows = q.fetch_all(&self.reader).await?;
        rows.iter().map(exception_from_row).collect()
    }

    /// Re-run the failed step of every open exception matching `filter`.
    /// Effects the step already applied are skipped by the effect log, so a
    /// replay never repeats them. Each replay is audited on the entity.
    pub async fn replay_exceptions(
        &self,
        filter: &ExceptionFilter,
        actor: &str,
        now: i64,
    ) -> Result<Vec<ExceptionRecord>> {
        let mut f = filter.clone();
        if f.status.is_none() {
            f.status = Some("open".to_owned());
        }
        let candidates = self.exceptions(&f).await?;
        let mut replayed = Vec::new();
        let mut tx = self.writer.begin().await?;
        for ex in candidates {
            if ex.status != ExceptionStatus::Open {
                continue;
            }
            let r = sqlx::query(
                "UPDATE jobs SET status = 'ready', attempts = 0, run_at = $1 WHERE id = $2 AND status = 'failed'",
            )
            .bind(now)
            .bind(ex.job_id)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() != 1 {
                continue;
            }
            sqlx::query(
                "UPDATE exceptions SET status = 'replayed', replayed_at = $1, replay_count = replay_count + 1 \
                 WHERE id = $2",
            )
            .bind(now)
            .bind(&ex.id)
            .execute(&mut *tx)
            .await?;
            insert_event(
                &mut *tx,
                &NewEvent {
                    entity_key: ex.entity_key.clone(),
                    at: now,
                    kind: "exception_replayed".to_owned(),
                    detail: serde_json::json!({
                        "exception_id": ex.id, "step": ex.step, "class": ex.class, "actor": actor,
                    }),
                },
            )
            .await?;
            replayed.push(ex);
        }
        tx.commit().await?;
        Ok(replayed)
    }

    /// A newer version of an entity made its failed steps moot: resolve its
    /// open exceptions and drop their jobs, so no later replay runs them.
    /// Returns how many were resolved.
    pub async fn supersede_exceptions(&self, entity_key: &str, at: i64) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        let resolved = sqlx::query(
            "UPDATE exceptions SET status = 'resolved', replayed_at = $1 WHERE entity_key = $2 AND status = 'open'",
        )
        .bind(at)
        .bind(entity_key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM jobs WHERE entity_key = $1 AND status = 'failed'")
            .bind(entity_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(resolved)
    }

    pub async fn exception_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT class, status, COUNT(*) AS n FROM exceptions GROUP BY class, status ORDER BY class, status",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("class")?, r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    // ------------------------------------------------------------ inventory

    /// Replace `on_hand` for positions reported by their source; `reserved`
    /// is the hub's own and is kept.
    pub async fn set_positions(&self, positions: &[PositionRow]) -> Result<()> {
        // Many rows per statement: a whole catalogue's report is a few
        // statements, not one round trip per position.
        let mut tx = self.writer.begin().await?;
        for chunk in positions.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO inventory_positions (sku, location, on_hand, reserved, source, as_of) \
                 VALUES {} ON CONFLICT (sku, location) DO UPDATE SET \
                 on_hand = excluded.on_hand, source = excluded.source, as_of = excluded.as_of",
                rows_sql("(?, ?, ?, 0, ?, ?)", chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                q = q
                    .bind(&p.sku)
                    .bind(&p.location)
                    .bind(p.on_hand)
                    .bind(&p.source)
                    .bind(p.as_of);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.stock_changes
            .record(positions.iter().map(|p| p.sku.clone()), 0);
        Ok(())
    }

    pub async fn positions(&self, sku: Option<&str>) -> Result<Vec<PositionRow>> {
        let sql = format!(
            "SELECT sku, location, on_hand, reserved, source, as_of FROM inventory_positions {} \
             ORDER BY sku, location",
            if sku.is_some() { "WHERE sku = $1" } else { "" }
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(s) = sku {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.reader).await?;
        rows.iter().map(position_row).collect()
    }

    /// Reserve `lines` across several locations when no single one has
    /// them all: whole lines only, locations in `candidates` order (each
    /// takes every remaining line it can), at most `max_locations`, in one
    /// transaction — all lines reserved or none. Returns each line's
    /// location. Idempotent like [`reserve`](Self::reserve): an order that
    /// already holds gets what it holds.
    pub async fn reserve_split(
        &self,
        order_id: &str,
        lines: &[ReserveLine],
        candidates: &[String],
        max_locations: usize,
    ) -> Result<Option<Vec<(String, String)>>> {
        let held = sqlx::query(
            "SELECT line_id, location FROM reservations WHERE order_id = $1 AND state = 'held' \
             ORDER BY line_id",
        )
        .bind(order_id)
        .fetch_all(&self.writer)
        .await?;
        if !held.is_empty() {
            return held
                .iter()
                .map(|r| Ok((r.try_get("line_id")?, r.try_get("location")?)))
                .collect::<Result<Vec<_>>>()
                .map(Some);
        }
        let mut tx = self.writer.begin().await?;
        let mut placed: Vec<(String, String)> = Vec::new();
        let mut used = 0;
        for location in candidates {
            if placed.len() == lines.len() || used == max_locations {
                break;
            }
            let mut took_any = false;
            for l in lines {
                if placed.iter().any(|(id, _)| *id == l.line_id) {
                    continue;
                }
                if !hold_stock(&mut tx, &l.sku, location, l.quantity).await? {
                    continue;
                }
                insert_reservation(&mut tx, order_id, l, location).await?;
                placed.push((l.line_id.clone(), location.clone()));
                took_any = true;
            }
            if took_any {
                used += 1;
            }
        }
        if placed.len() != lines.len() {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        for l in lines {
            self.stock_changes.record([l.sku.clone()], l.quantity);
        }
        Ok(Some(placed))
    }

    /// Move what `order_id` still holds at `from` to the first of
    /// `candidates` that has the stock (fallback when `from` is down or
    /// refused, re-routing after a short ship), in one transaction per
    /// candidate like [`reserve`](Self::reserve). Returns the new location;
    /// `None` leaves everything at `from`. Idempotent: when nothing is held
    /// at `from` any more but the order holds elsewhere, that location is
    /// returned.
    pub async fn move_reservation(
        &self,
        order_id: &str,
        from: &str,
        candidates: &[String],
    ) -> Result<Option<String>> {
        let rows = sqlx::query(
            "SELECT sku, location, quantity FROM reservations WHERE order_id = $1 AND state = 'held' \
             ORDER BY line_id",
        )
        .bind(order_id)
        .fetch_all(&self.writer)
        .await?;
        let mut held_here = Vec::new();
        let mut elsewhere = None;
        for r in &rows {
            let location: String = r.try_get("location")?;
            if location != from {
                elsewhere.get_or_insert(location);
                continue;
            }
            held_here.push((r.try_get("sku")?, r.try_get("quantity")?));
        }
        let per_sku = per_sku(held_here);
        if per_sku.is_empty() {
            return Ok(elsewhere);
        }
        'location: for location in candidates.iter().filter(|c| c.as_str() != from) {
            let mut tx = self.writer.begin().await?;
            for (sku, qty) in &per_sku {
                if !hold_stock(&mut tx, sku, location, *qty).await? {
                    tx.rollback().await?;
                    continue 'location;
                }
                sqlx::query(
                    "UPDATE inventory_positions SET reserved = reserved - $1 \
                     WHERE sku = $2 AND location = $3",
                )
                .bind(*qty)
                .bind(sku)
                .bind(from)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE reservations SET location = $1 \
                 WHERE order_id = $2 AND state = 'held' AND location = $3",
            )
            .bind(location)
            .bind(order_id)
            .bind(from)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            self.stock_changes
                .record(per_sku.iter().map(|(sku, _)| sku.clone()), 0);
            return Ok(Some(location.clone()));
        }
        Ok(None)
    }

    /// Reserve every line of an order at one location, trying `candidates`
    /// in order. Idempotent per order: if the order already holds
    /// reservations their location is returned and nothing changes. The
    /// guarded UPDATE (`on_hand - reserved >= qty`) is what makes two
    /// concurrent orders unable to take the same last unit, on both backends.
    pub async fn reserve(
        &self,
        order_id: &str,
        lines: &[ReserveLine],
        candidates: &[String],
    ) -> Result<Option<String>> {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT location FROM reservations WHERE order_id = $1 AND state = 'held' LIMIT 1",
        )
        .bind(order_id)
        .fetch_optional(&self.writer)
        .await?;
        if existing.is_some() {
            return Ok(existing);
        }
        // Lines sharing a SKU must be checked against stock together.
        let per_sku = per_sku(lines.iter().map(|l| (l.sku.clone(), l.quantity)));
        'location: for location in candidates {
            let mut tx = self.writer.begin().await?;
            for (sku, qty) in &per_sku {
                if !hold_stock(&mut tx, sku, location, *qty).await? {
                    tx.rollback().await?;
                    continue 'location;
                }
            }
            for l in lines {
                insert_reservation(&mut tx, order_id, l, location).await?;
            }
            tx.commit().await?;
            for (sku, qty) in &per_sku {
                self.stock_changes.record([sku.clone()], *qty);
            }
            return Ok(Some(location.clone()));
        }
        Ok(None)
    }

    pub async fn reservations(&self, order_id: &str) -> Result<Vec<ReservationRow>> {
        let rows = sqlx::query(
            "SELECT order_id, line_id, sku, location, quantity, state FROM reservations \
             WHERE order_id = $1 ORDER BY line_id",
        )
        .bind(order_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReservationRow {
                    order_id: r.try_get("order_id")?,
                    line_id: r.try_get("line_id")?,
                    sku: r.try_get("sku")?,
                    location: r.try_get("location")?,
                    quantity: r.try_get("quantity")?,
                    state: r.try_get("state")?,
                })
            })
            .collect()
    }

    // ----------------------------------------------------------------- meta

    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Quantities summed per SKU, in SKU order (a stable lock order for the
/// position rows, so two transactions never wait on each other in a ring).
fn per_sku(items: impl IntoIterator<Item = (String, i64)>) -> Vec<(String, i64)> {
    let mut sums: Vec<(String, i64)> = Vec::new();
    for (sku, quantity) in items {
        match sums.iter_mut().find(|(s, _)| *s == sku) {
            Some((_, q)) => *q += quantity,
            None => sums.push((sku, quantity)),
        }
    }
    sums.sort();
    sums
}

/// A row of `inventory_positions` (all its columns selected).
pub(crate) fn position_row(r: &AnyRow) -> Result<PositionRow> {
    Ok(PositionRow {
        sku: r.try_get("sku")?,
        location: r.try_get("location")?,
        on_hand: r.try_get("on_hand")?,
        reserved: r.try_get("reserved")?,
        source: r.try_get("source")?,
        as_of: r.try_get("as_of")?,
    })
}

/// Take `quantity` of `sku` at `location` into `reserved` if that much is
/// available. The guarded UPDATE (`on_hand - reserved >= qty`) is what keeps
/// two concurrent orders from taking the same last unit, on both backends.
async fn hold_stock(tx: &mut Tx, sku: &str, location: &str, quantity: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE inventory_positions SET reserved = reserved + $1 \
         WHERE sku = $2 AND location = $3 AND on_hand - reserved >= $4",
    )
    .bind(quantity)
    .bind(sku)
    .bind(location)
    .bind(quantity)
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

async fn insert_reservation(
    tx: &mut Tx,
    order_id: &str,
    line: &ReserveLine,
    location: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO reservations (order_id, line_id, sku, location, quantity, state) \
         VALUES ($1, $2, $3, $4, $5, 'held')",
    )
    .bind(order_id)
    .bind(&line.line_id)
    .bind(&line.sku)
    .bind(location)
    .bind(line.quantity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Copy the WAL back into the database file once a second without blocking
/// the writer (PASSIVE), until the pool is closed.
async fn checkpoint_wal(pool: AnyPool) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed; the next one tries again.");
        }
    }
}

/// Rows per multi-row statement: at most 8 parameters a row stays far below
/// both backends' parameter limits.
pub(crate) const INSERT_CHUNK: usize = 500;

/// The rows of a multi-row statement: `shape` is one row with `?` for each
/// parameter; parameters are numbered `$1…` across all rows.
pub(crate) fn rows_sql(shape: &str, rows: usize) -> String {
    let mut out = String::with_capacity(rows * (shape.len() + 16));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        for ch in shape.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
    }
    out
}

async fn insert_jobs(tx: &mut Tx, jobs: &[NewJob], now: i64) -> Result<()> {
    for chunk in jobs.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO jobs (entity_key, step, payload, status, attempts, run_at, created_at) VALUES ",
        );
        sql.push_str(&rows_sql("(?, ?, ?, 'ready', 0, ?, ?)", chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for j in chunk {
            q = q
                .bind(&j.entity_key)
                .bind(&j.step)
                .bind(j.payload.to_string())
                .bind(j.run_at)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn resolve_effects(tx: &mut Tx, effects: &[EffectResolution]) -> Result<()> {
    for chunk in effects.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "UPDATE effects SET status = v.column2, result = v.column3, resolved_at = v.column4 FROM (VALUES ",
        );
        sql.push_str(&rows_sql("(?, ?, ?, ?)", chunk.len()));
        sql.push_str(") AS v WHERE effects.key = v.column1");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(&e.key)
                .bind(e.status.as_str())
                .bind(e.result.as_ref().map(|r| r.to_string()))
                .bind(e.at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_events(tx: &mut Tx, events: &[NewEvent]) -> Result<()> {
    for chunk in events.chunks(INSERT_CHUNK) {
        let mut sql = String::from("INSERT INTO events (entity_key, at, kind, detail) VALUES ");
        sql.push_str(&rows_sql("(?, ?, ?, ?)", chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(&e.entity_key)
                .bind(e.at)
                .bind(&e.kind)
                .bind(e.detail.to_string());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_event<'e, E>(executor: E, e: &NewEvent) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO events (entity_key, at, kind, detail) VALUES ($1, $2, $3, $4)")
        .bind(&e.entity_key)
        .bind(e.at)
        .bind(&e.kind)
        .bind(e.detail.to_string())
        .execute(executor)
        .await?;
    Ok(())
}

/// Applies a step's writes; returns the SKUs whose positions moved.
async fn apply_changes(tx: &mut Tx, c: &Changes, now: i64) -> Result<Vec<String>> {
    for chunk in c.orders.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO orders (id, channel, external_id, status, source_version, doc, created_at, updated_at) VALUES ",
        );
        sql.push_str(&rows_sql("(?, ?, ?, ?, ?, ?, ?, ?)", chunk.len()));
        sql.push_str(
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, source_version = excluded.source_version, \
             doc = excluded.doc, updated_at = excluded.updated_at",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for o in chunk {
            q = q
                .bind(&o.id)
                .bind(&o.channel)
                .bind(&o.external_id)
                .bind(o.status.as_str())
                .bind(o.source_version)
                .bind(serde_json::to_string(o)?)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    for (s, confirmed_at) in &c.shipments {
        sqlx::query(
            "INSERT INTO shipments (id, order_id, doc, confirmed_at, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, confirmed_at = excluded.confirmed_at \
             WHERE shipments.order_id = excluded.order_id",
        )
        .bind(&s.id)
        .bind(&s.order_id)
        .bind(serde_json::to_string(s)?)
        .bind(*confirmed_at)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    insert_jobs(tx, &c.jobs, now).await?;
    insert_events(tx, &c.events).await?;
    for (id, status, note) in &c.inbox {
        sqlx::query("UPDATE inbox SET status = $1, note = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(note)
            .bind(*id)
            .execute(&mut **tx)
            .await?;
    }
    let touched = apply_reservations(tx, &c.reservations).await?;
    resolve_effects(tx, &c.effects).await?;
    Ok(touched)
}

/// Stock moved by a change to reservations: (on_hand, reserved) deltas.
type PositionDeltas = std::collections::BTreeMap<(String, String), (i64, i64)>;

/// Apply reservation changes: reservation rows first, then one update per
/// position, in (sku, location) order. Every transaction that locks
/// positions takes them in that order, so concurrent completions and
/// reservations on PostgreSQL wait for each other instead of deadlocking.
async fn apply_reservations(tx: &mut Tx, changes: &[ReservationChange]) -> Result<Vec<String>> {
    let mut deltas = PositionDeltas::new();
    for change in changes {
        apply_reservation(tx, change, &mut deltas).await?;
    }
    let mut touched: Vec<String> = deltas.keys().map(|(sku, _)| sku.clone()).collect();
    touched.dedup();
    for ((sku, location), (on_hand, reserved)) in deltas {
        sqlx::query(
            "UPDATE inventory_positions SET on_hand = on_hand + $1, reserved = reserved + $2 \
             WHERE sku = $3 AND location = $4",
        )
        .bind(on_hand)
        .bind(reserved)
        .bind(&sku)
        .bind(&location)
        .execute(&mut **tx)
        .await?;
    }
    Ok(touched)
}

async fn apply_reservation(
    tx: &mut Tx,
    change: &ReservationChange,
    deltas: &mut PositionDeltas,
) -> Result<()> {
    match change {
        ReservationChange::Consume {
            order_id,
            line_id,
            quantity,
        } => {
            let row = sqlx::query(
                "SELECT sku, location, quantity FROM reservations \
                 WHERE order_id = $1 AND line_id = $2 AND state = 'held'",
            )
            .bind(order_id)
            .bind(line_id)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else { return Ok(()) };
            let sku: String = row.try_get("sku")?;
            let location: String = row.try_get("location")?;
            let held: i64 = row.try_get("quantity")?;
            let take = (*quantity).min(held);
            let left = held - take;
            sqlx::query(
                "UPDATE reservations SET quantity = $1, state = $2 WHERE order_id = $3 AND line_id = $4",
            )
            .bind(if left == 0 { take } else { left })
            .bind(if left == 0 { "consumed" } else { "held" })
            .bind(order_id)
            .bind(line_id)
            .execute(&mut **tx)
            .await?;
            let d = deltas.entry((sku, location)).or_default();
            d.0 -= take;
            d.1 -= take;
        }
        ReservationChange::ReleaseLine { order_id, line_id } => {
            let rows = sqlx::query(
                "UPDATE reservations SET state = 'released' \
                 WHERE order_id = $1 AND line_id = $2 AND state = 'held' \
                 RETURNING sku, location, quantity",
            )
            .bind(order_id)
            .bind(line_id)
            .fetch_all(&mut **tx)
            .await?;
            for r in rows {
                let d = deltas
                    .entry((r.try_get("sku")?, r.try_get("location")?))
                    .or_default();
                d.1 -= r.try_get::<i64, _>("quantity")?;
            }
        }
        ReservationChange::ReleaseOrder { order_id } => {
            let rows = sqlx::query(
                "UPDATE reservations SET state = 'released' WHERE order_id = $1 AND state = 'held' \
                 RETURNING sku, location, quantity",
            )
            .bind(order_id)
            .fetch_all(&mut **tx)
            .await?;
            for r in rows {
                let d = deltas
                    .entry((r.try_get("sku")?, r.try_get("location")?))
                    .or_default();
                d.1 -= r.try_get::<i64, _>("quantity")?;
            }
        }
    }
    Ok(())
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

fn exception_query(select: &str, f: &ExceptionFilter) -> (String, Vec<Bind>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    let text = |col: &str, v: &Option<String>, clauses: &mut Vec<String>, binds: &mut Vec<Bind>| {
        if let Some(v) = v {
            binds.push(Bind::Text(v.clone()));
            clauses.push(format!("{col} = ${}", binds.len()));
        }
    };
    text("id", &f.id, &mut clauses, &mut binds);
    text("status", &f.status, &mut clauses, &mut binds);
    text("channel", &f.channel, &mut clauses, &mut binds);
    text("step", &f.step, &mut clauses, &mut binds);
    text("class", &f.class, &mut clauses, &mut binds);
    if let Some(s) = f.since {
        binds.push(Bind::Int(s));
        clauses.push(format!("created_at >= ${}", binds.len()));
    }
    if let Some(u) = f.until {
        binds.push(Bind::Int(u));
        clauses.push(format!("created_at < ${}", binds.len()));
    }
    let sql = format!(
        "{select} {} ORDER BY created_at, id LIMIT {}",
        where_clause(&clauses),
        f.limit.unwrap_or(1000).max(0)
    );
    (sql, binds)
}

fn inbox_from_row(r: &AnyRow) -> Result<InboxMessage> {
    Ok(InboxMessage {
        id: r.try_get("id")?,
        source: r.try_get("source")?,
        message_key: r.try_get("message_key")?,
        entity_key: r.try_get("entity_key")?,
        source_version: r.try_get("source_version")?,
        status: r.try_get("status")?,
        duplicates: r.try_get("duplicates")?,
        received_at: r.try_get("received_at")?,
        body: r.try_get("body")?,
        note: r.try_get("note")?,
    })
}

fn effect_from_row(r: &AnyRow) -> Result<Effect> {
    let status: String = r.try_get("status")?;
    let result: Option<String> = r.try_get("result")?;
    Ok(Effect {
        key: r.try_get("key")?,
        target: r.try_get("target")?,
        kind: r.try_get("kind")?,
        entity_key: r.try_get("entity_key")?,
        status: EffectStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("effect status {status:?}")))?,
        attempts: r.try_get("attempts")?,
        result: result.map(|s| serde_json::from_str(&s)).transpose()?,
        created_at: r.try_get("created_at")?,
        resolved_at: r.try_get("resolved_at")?,
        in_doubt: false,
    })
}

fn exception_from_row(r: &AnyRow) -> Result<ExceptionRecord> {
    let class: String = r.try_get("class")?;
    let status: String = r.try_get("status")?;
    let replayed_at: Option<i64> = r.try_get("replayed_at")?;
    Ok(ExceptionRecord {
        id: r.try_get("id")?,
        job_id: r.try_get("job_id")?,
        entity_key: r.try_get("entity_key")?,
        channel: r.try_get("channel")?,
        step: r.try_get("step")?,
        class: ExceptionClass::parse(&class)
            .ok_or_else(|| StoreError::Corrupt(format!("exception class {class:?}")))?,
        reason: r.try_get("reason")?,
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
        status: ExceptionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("exception status {status:?}")))?,
        created_at: ms(r.try_get("created_at")?),
        replayed_at: replayed_at.map(ms),
        replay_count: u32::try_from(r.try_get::<i64, _>("replay_count")?).unwrap_or(u32::MAX),
    })
}
