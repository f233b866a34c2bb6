//! What each channel is shown and owed for each SKU (the availability
//! outbox), and stock reports that were not applied. The feed of SKUs whose
//! stock changed is in `stock_changes.rs`; positions are in `inventory.rs`.

use std::collections::{BTreeMap, HashMap};

use crate::error::Result;
use crate::open::Store;
use crate::sql::{INSERT_CHUNK, Where, rows_sql};
use crate::stock_changes::StockChange;

/// One (channel, SKU) row of the availability table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct AvailabilityRow {
    pub channel: String,
    pub sku: String,
    /// What the channel last acknowledged; `None` before the first push.
    pub published: Option<i64>,
    /// What the channel is owed and has not acknowledged; `None` = nothing owed.
    pub target: Option<i64>,
    /// `urgent` or `batch` while a target is owed.
    pub cadence: Option<String>,
    /// When the change behind the owed target was observed (ms).
    pub changed_at: Option<i64>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub acked_at: Option<i64>,
    /// Change observed → channel acknowledged, for the last push (ms).
    pub last_lag_ms: Option<i64>,
    /// The channel's last refusal or failure, kept for operators.
    pub last_error: Option<String>,
}

/// A quantity a channel must be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedAvailability {
    pub channel: String,
    pub sku: String,
    pub target: i64,
    /// `urgent` or `batch`.
    pub cadence: String,
    pub changed_at: i64,
}

/// What became of one owed push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvailabilitySettlement {
    /// The channel now shows `quantity` (the target that was sent).
    Acknowledged { sku: String, quantity: i64, at: i64 },
    /// The channel holds another quantity than we thought (compare-and-set
    /// refused): remember it and send again from there.
    Stale {
        sku: String,
        current: Option<i64>,
        retry_at: i64,
    },
    /// The channel refused this SKU for good: kept with the reason, nothing
    /// owed any more until the quantity changes again.
    Refused {
        sku: String,
        reason: String,
        at: i64,
    },
    /// The call failed (transport, throttling): try again at `retry_at`.
    Failed {
        sku: String,
        reason: String,
        retry_at: i64,
    },
}

/// A stock report that was received and not applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct StockReport {
    pub sku: String,
    pub location: String,
    pub source: String,
    pub on_hand: i64,
    pub as_of: i64,
    pub received_at: i64,
    /// Why it was not applied.
    pub note: String,
}

/// The columns of an [`AvailabilityRow`] (it derives `FromRow`).
const AVAILABILITY_COLUMNS: &str = "channel, sku, published, target, cadence, changed_at, attempts, \
     next_attempt_at, acked_at, last_lag_ms, last_error";

impl Store {
    /// The SKUs whose stock changed since the last call (possibly none).
    pub fn take_stock_changes(&self) -> HashMap<String, StockChange> {
        self.stock_changes.take()
    }

    /// Waits until a stock change is recorded (returns at once if one was
    /// recorded since the last wait).
    pub async fn stock_changed(&self) {
        self.stock_changes.notify.notified().await;
    }

    /// Availability rows, optionally for one channel and/or some SKUs.
    pub async fn availability(
        &self,
        channel: Option<&str>,
        skus: Option<&[String]>,
    ) -> Result<Vec<AvailabilityRow>> {
        let Some(skus) = skus else {
            return self.availability_where(channel, &[]).await;
        };
        let mut out = Vec::new();
        for chunk in skus.chunks(INSERT_CHUNK) {
            out.extend(self.availability_where(channel, chunk).await?);
        }
        Ok(out)
    }

    /// One query of [`availability`](Self::availability): every SKU when `skus` is empty.
    async fn availability_where(
        &self,
        channel: Option<&str>,
        skus: &[String],
    ) -> Result<Vec<AvailabilityRow>> {
        let mut w = Where::default();
        w.eq("channel", channel).any_of("sku", skus);
        let sql = format!(
            "SELECT {AVAILABILITY_COLUMNS} FROM channel_availability {} ORDER BY sku, channel",
            w.sql()
        );
        Ok(
            sqlx::query_as_with(sqlx::AssertSqlSafe(sql), w.arguments()?)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    /// Record what channels are owed. A row already owed keeps the time of
    /// its first unacknowledged change (lag counts from there) and stays
    /// urgent once urgent; its attempts start again for the new target.
    pub async fn owe_availability(&self, owed: &[OwedAvailability]) -> Result<()> {
        if owed.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for chunk in owed.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO channel_availability (channel, sku, target, cadence, changed_at) VALUES ",
            );
            sql.push_str(&rows_sql("(?, ?, ?, ?, ?)", chunk.len()));
            sql.push_str(
                " ON CONFLICT (channel, sku) DO UPDATE SET target = excluded.target, \
                 cadence = CASE WHEN channel_availability.target IS NOT NULL \
                   AND channel_availability.cadence = 'urgent' THEN 'urgent' ELSE excluded.cadence END, \
                 changed_at = CASE WHEN channel_availability.target IS NULL \
                   THEN excluded.changed_at ELSE channel_availability.changed_at END, \
                 attempts = 0, next_attempt_at = 0",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for o in chunk {
                q = q
                    .bind(&o.channel)
                    .bind(&o.sku)
                    .bind(o.target)
                    .bind(&o.cadence)
                    .bind(o.changed_at);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Pushes owed to `channel` that are due at `now`, urgent first, oldest
    /// change first; with `urgent_only`, only the urgent ones.
    pub async fn owed_availability(
        &self,
        channel: &str,
        urgent_only: bool,
        now: i64,
        limit: usize,
    ) -> Result<Vec<AvailabilityRow>> {
        let sql = format!(
            "SELECT {AVAILABILITY_COLUMNS} FROM channel_availability \
             WHERE channel = $1 AND target IS NOT NULL AND next_attempt_at <= $2 {} \
             ORDER BY CASE WHEN cadence = 'urgent' THEN 0 ELSE 1 END, changed_at, sku LIMIT $3",
            if urgent_only {
                "AND cadence = 'urgent'"
            } else {
                ""
            }
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(channel)
            .bind(now)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await?)
    }

    /// How many SKUs `channel` is owed, and when the oldest change behind
    /// them was observed (ms; `None` when nothing is owed).
    pub async fn owed_summary(&self, channel: &str) -> Result<(u64, Option<i64>)> {
        let (owed, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*) AS owed, MIN(changed_at) AS oldest FROM channel_availability \
             WHERE channel = $1 AND target IS NOT NULL",
        )
        .bind(channel)
        .fetch_one(&self.reader)
        .await?;
        Ok((owed as u64, oldest))
    }

    /// Apply the outcome of pushes to `channel`. An acknowledgement clears
    /// the owed target only if no newer target replaced it meanwhile.
    pub async fn settle_availability(
        &self,
        channel: &str,
        settlements: &[AvailabilitySettlement],
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        // A whole batch put off together (a 429, the channel's governor)
        // fails with one reason and one retry time: one statement for it.
        let mut failed: BTreeMap<(&str, i64), Vec<&str>> = BTreeMap::new();
        for s in settlements {
            if let AvailabilitySettlement::Failed {
                sku,
                reason,
                retry_at,
            } = s
            {
                failed
                    .entry((reason.as_str(), *retry_at))
                    .or_default()
                    .push(sku.as_str());
            }
        }
        for ((reason, retry_at), skus) in failed {
            for chunk in skus.chunks(INSERT_CHUNK) {
                let n = chunk.len();
                let sql = format!(
                    "UPDATE channel_availability SET last_error = ${}, attempts = attempts + 1, \
                     next_attempt_at = ${} WHERE sku IN ({}) AND channel = ${}",
                    n + 1,
                    n + 2,
                    rows_sql("?", n),
                    n + 3
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for sku in chunk {
                    q = q.bind(*sku);
                }
                q.bind(reason)
                    .bind(retry_at)
                    .bind(channel)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for s in settlements {
            let q = match s {
                AvailabilitySettlement::Acknowledged { sku, quantity, at } => sqlx::query(
                    "UPDATE channel_availability SET published = $1, acked_at = $2, \
                     last_lag_ms = $2 - COALESCE(changed_at, $2), last_error = NULL, \
                     target = CASE WHEN target = $1 THEN NULL ELSE target END, \
                     cadence = CASE WHEN target = $1 THEN NULL ELSE cadence END, \
                     changed_at = CASE WHEN target = $1 THEN NULL ELSE changed_at END, \
                     attempts = 0, next_attempt_at = 0 \
                     WHERE channel = $3 AND sku = $4",
                )
                .bind(*quantity)
                .bind(*at)
                .bind(channel)
                .bind(sku),
                AvailabilitySettlement::Stale {
                    sku,
                    current,
                    retry_at,
                } => sqlx::query(
                    "UPDATE channel_availability SET published = $1, attempts = attempts + 1, \
                     next_attempt_at = $2, last_error = 'the channel held another quantity' \
                     WHERE channel = $3 AND sku = $4",
                )
                .bind(*current)
                .bind(*retry_at)
                .bind(channel)
                .bind(sku),
                AvailabilitySettlement::Refused { sku, reason, at } => sqlx::query(
                    "UPDATE channel_availability SET last_error = $1, acked_at = $2, target = NULL, \
                     cadence = NULL, changed_at = NULL, attempts = attempts + 1 \
                     WHERE channel = $3 AND sku = $4",
                )
                .bind(reason)
                .bind(*at)
                .bind(channel)
                .bind(sku),
                AvailabilitySettlement::Failed { .. } => continue,
            };
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Keep stock reports that were not applied. A report that repeats the
    /// latest one kept for its SKU, location and source (same units) only
    /// refreshes that row's times: a source polled every few minutes would
    /// otherwise add the same refused figure again at every poll, and two
    /// reads racing each other would keep it twice.
    pub async fn record_stock_reports(&self, reports: &[StockReport]) -> Result<()> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        let mut new = Vec::new();
        for r in reports {
            let refreshed = sqlx::query(
                "UPDATE stock_reports SET as_of = $1, received_at = $2, note = $3 \
                 WHERE id = (SELECT MAX(id) FROM stock_reports \
                             WHERE sku = $4 AND location = $5 AND source = $6) \
                   AND on_hand = $7",
            )
            .bind(r.as_of)
            .bind(r.received_at)
            .bind(&r.note)
            .bind(&r.sku)
            .bind(&r.location)
            .bind(&r.source)
            .bind(r.on_hand)
            .execute(&mut *tx)
            .await?;
            if refreshed.rows_affected() == 0 {
                new.push(r);
            }
        }
        for chunk in new.chunks(INSERT_CHUNK) {
            let mut sql = String::from(
                "INSERT INTO stock_reports (sku, location, source, on_hand, as_of, received_at, note) VALUES ",
            );
            sql.push_str(&rows_sql("(?, ?, ?, ?, ?, ?, ?)", chunk.len()));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(&r.sku)
                    .bind(&r.location)
                    .bind(&r.source)
                    .bind(r.on_hand)
                    .bind(r.as_of)
                    .bind(r.received_at)
                    .bind(&r.note);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Unapplied stock reports for `sku`, newest first.
    pub async fn stock_reports(&self, sku: &str, limit: usize) -> Result<Vec<StockReport>> {
        Ok(sqlx::query_as(
            "SELECT sku, location, source, on_hand, as_of, received_at, note FROM stock_reports \
             WHERE sku = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(sku)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?)
    }
}
