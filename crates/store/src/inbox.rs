//! The inbox: every message from outside is committed here, with the job
//! that will process it, before it is acknowledged. Duplicates are counted,
//! never processed twice; messages refused at the door are kept with why.

use crate::changes::insert_jobs;
use crate::error::Result;
use crate::open::Store;
use crate::sql::{INSERT_CHUNK, Where, rows_sql};
use crate::types::*;

/// The columns of an [`InboxMessage`] (it derives `FromRow`).
const INBOX_COLUMNS: &str = "id, source, message_key, entity_key, source_version, status, \
     duplicates, received_at, body, note, origin";

impl Store {
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
                "INSERT INTO inbox (source, message_key, entity_key, source_version, status, received_at, body, origin) VALUES ",
            );
            sql.push_str(&rows_sql("(?, ?, ?, ?, 'accepted', ?, ?, ?)", chunk.len()));
            sql.push_str(
                " ON CONFLICT (source, message_key) DO NOTHING RETURNING id, source, message_key",
            );
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = q
                    .bind(&m.source)
                    .bind(&m.message_key)
                    .bind(&m.entity_key)
                    .bind(m.source_version)
                    .bind(m.received_at)
                    .bind(&m.body)
                    .bind(m.origin.as_str());
            }
            let rows: Vec<(i64, String, String)> = q.fetch_all(&mut *tx).await?;
            let mut inserted: std::collections::HashMap<(String, String), i64> = rows
                .into_iter()
                .map(|(id, source, message_key)| ((source, message_key), id))
                .collect();
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
        let sql = format!("SELECT {INBOX_COLUMNS} FROM inbox WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?)
    }

    pub async fn inbox_messages(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<InboxMessage>> {
        let mut filter = Where::default();
        filter.eq("status", status);
        let sql = format!(
            "SELECT {INBOX_COLUMNS} FROM inbox {} ORDER BY id DESC LIMIT {}",
            filter.sql(),
            limit.max(0)
        );
        Ok(
            sqlx::query_as_with(sqlx::AssertSqlSafe(sql), filter.arguments()?)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    /// Messages from `source` received at or after `since_ms` that passed the
    /// door (not `rejected`), oldest first: what `mapping diff` replays.
    pub async fn inbox_of_source(&self, source: &str, since_ms: i64) -> Result<Vec<InboxMessage>> {
        let sql = format!(
            "SELECT {INBOX_COLUMNS} FROM inbox WHERE source = $1 AND received_at >= $2 \
             AND status <> 'rejected' ORDER BY id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(source)
            .bind(since_ms)
            .fetch_all(&self.reader)
            .await?)
    }

    /// About the inbox messages of `entity_key`, seen from message `id`:
    /// when the first of them was received, and whether a later one is
    /// still to be processed.
    pub async fn inbox_span(&self, entity_key: &str, id: i64) -> Result<(i64, bool)> {
        let (first, newer): (Option<i64>, i64) = sqlx::query_as(
            "SELECT MIN(received_at) AS first, \
             CAST(COALESCE(SUM(CASE WHEN id > $2 AND status = 'accepted' THEN 1 ELSE 0 END), 0) AS BIGINT) AS newer \
             FROM inbox WHERE entity_key = $1",
        )
        .bind(entity_key)
        .bind(id)
        .fetch_one(&self.reader)
        .await?;
        Ok((first.unwrap_or_default(), newer > 0))
    }

    pub async fn inbox_counts(&self) -> Result<InboxCounts> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) AS n, CAST(COALESCE(SUM(duplicates), 0) AS BIGINT) AS d \
             FROM inbox GROUP BY status",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut c = InboxCounts::default();
        for (status, n, duplicates) in rows {
            c.duplicates += duplicates;
            match status.as_str() {
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
}
