//! The exception queue: jobs that failed for good, kept with their class
//! and reason until an operator replays them or a newer version of the
//! entity makes them moot. Jobs are moved here by `fail_job` (`jobs.rs`).

use crossdock_model::{ExceptionRecord, ExceptionStatus};

use crate::changes::insert_event;
use crate::error::Result;
use crate::events::TimelineEvent;
use crate::open::Store;
use crate::sql::{self, EXCEPTION_COLUMNS, Where};
use crate::types::*;

impl Store {
    pub async fn exceptions(&self, filter: &ExceptionFilter) -> Result<Vec<ExceptionRecord>> {
        let mut w = Where::default();
        w.eq("id", filter.id.as_deref())
            .eq("status", filter.status.as_deref())
            .eq("channel", filter.channel.as_deref())
            .eq("step", filter.step.as_deref())
            .eq("class", filter.class.as_deref())
            .cmp("created_at", ">=", filter.since)
            .cmp("created_at", "<", filter.until);
        let sql = format!(
            "SELECT {EXCEPTION_COLUMNS} FROM exceptions {} ORDER BY created_at, id LIMIT {}",
            w.sql(),
            filter.limit.unwrap_or(1000).max(0)
        );
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), w.arguments()?)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(sql::exception).collect()
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
                &TimelineEvent::ExceptionReplayed {
                    exception_id: ex.id.clone(),
                    step: ex.step.clone(),
                    class: ex.class,
                    actor: actor.to_owned(),
                }
                .at(&ex.entity_key, now),
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
        Ok(sqlx::query_as(
            "SELECT class, status, COUNT(*) AS n FROM exceptions GROUP BY class, status ORDER BY class, status",
        )
        .fetch_all(&self.reader)
        .await?)
    }
}
