//! Marketplace settlements (payouts) as imported and reconciled: one row per
//! (channel, settlement id) with its reconciled summary, its classified
//! rows, the channel orders it carried, and its residual ledger.
//!
//! An import is one transaction: the settlement, all its rows (multi-row
//! inserts in chunks), its orders, its residuals and the job that posts it
//! to the ERP are written together or not at all. Importing a settlement
//! already held (the same id, whatever the file's layout) writes nothing
//! and says so ([`SettlementImport::AlreadyImported`]).

use std::str::FromStr;

use crossdock_model::{Journal, ResidualStatus, ResolutionKind, SettlementStatus};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::changes::insert_jobs;
use crate::error::{Result, StoreError};
use crate::open::Store;
use crate::sql::{INSERT_CHUNK, Tx, Where, rows_sql};
use crate::types::NewJob;

/// The store's key of a settlement: its channel and its own id.
pub fn settlement_key(channel: &str, settlement_id: &str) -> String {
    format!("{channel}:{settlement_id}")
}

/// One classified row of a settlement file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementRowRecord {
    /// The line of the source file (1 = the header).
    pub line: i64,
    /// The taxonomy's category (`principal`, `fees`, `refunds`, …).
    pub category: String,
    /// The row's raw key (Amazon: `transaction-type/amount-type/amount-description`).
    pub key: String,
    /// The channel order the row belongs to, when it belongs to one.
    pub order_ref: Option<String>,
    pub amount: Decimal,
}

/// Whether a settlement carried an order's sale or its refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderRole {
    Sold,
    Refunded,
}

impl OrderRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderRole::Sold => "sold",
            OrderRole::Refunded => "refunded",
        }
    }

    fn parse(s: &str) -> Option<OrderRole> {
        [OrderRole::Sold, OrderRole::Refunded]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// An amount that did not match, as the reconciliation found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResidual {
    pub line: Option<i64>,
    pub key: Option<String>,
    pub order_ref: Option<String>,
    pub amount: Decimal,
    /// `unmapped_type`, `order_not_found`, `invoice_amount_mismatch`,
    /// `reserve_gap`, `payout_sum_mismatch`.
    pub reason: String,
    /// What exactly did not match, for the operator.
    pub detail: String,
}

/// A settlement to import, reconciled.
#[derive(Debug, Clone)]
pub struct NewSettlement {
    pub channel: String,
    pub settlement_id: String,
    /// The file format it came in (`amazon-v2`, `shopify-payout`, `walmart-recon`).
    pub format: String,
    pub currency: String,
    pub deposit_total: Decimal,
    /// The settlement period (ms), when the file says.
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    /// The deposit date as the file writes it.
    pub deposit_date: Option<String>,
    /// The reserve held back at its end (negative, as the file signs it):
    /// the next settlement's released reserve must mirror it.
    pub current_reserve: Option<Decimal>,
    /// The reconciled figures (the JSON `show` prints).
    pub summary: serde_json::Value,
    pub rows: Vec<SettlementRowRecord>,
    /// The channel orders it carried, each with its role (distinct).
    pub orders: Vec<(String, OrderRole)>,
    pub residuals: Vec<NewResidual>,
    /// The balanced journals it is posted as (one per month it spans).
    pub journals: Vec<Journal>,
    /// Jobs to queue with it (posting it to the ERP).
    pub jobs: Vec<NewJob>,
    pub imported_at: i64,
}

impl NewSettlement {
    pub fn key(&self) -> String {
        settlement_key(&self.channel, &self.settlement_id)
    }
}

/// A settlement as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSettlement {
    /// `channel:settlement_id`.
    pub key: String,
    pub channel: String,
    pub settlement_id: String,
    pub format: String,
    pub currency: String,
    pub deposit_total: Decimal,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub deposit_date: Option<String>,
    pub current_reserve: Option<Decimal>,
    pub status: SettlementStatus,
    pub summary: serde_json::Value,
    pub row_count: i64,
    pub imported_at: i64,
    /// When its first journal reached the ERP.
    pub posted_at: Option<i64>,
    pub deposited_at: Option<i64>,
}

/// A journal planned for a settlement, and the ERP document it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredJournal {
    pub reference: String,
    pub settlement: String,
    pub journal: Journal,
    /// The ERP's id, once posted.
    pub erp_id: Option<String>,
    pub posted_at: Option<i64>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub enum SettlementImport {
    /// Stored for the first time.
    Imported(StoredSettlement),
    /// Already held under the same channel and id: nothing was written.
    AlreadyImported(StoredSettlement),
}

/// A row of the residual ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredResidual {
    /// `channel:settlement_id:n`.
    pub id: String,
    pub settlement: String,
    pub line: Option<i64>,
    pub key: Option<String>,
    pub order_ref: Option<String>,
    pub amount: Decimal,
    pub reason: String,
    pub detail: String,
    pub status: ResidualStatus,
    pub resolution: Option<ResolutionKind>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    /// Why, in the resolver's words.
    pub note: Option<String>,
    pub created_at: i64,
}

/// An operator's resolution of a residual.
#[derive(Debug, Clone)]
pub struct ResidualResolution {
    pub id: String,
    pub resolution: ResolutionKind,
    pub by: String,
    pub note: String,
    pub at: i64,
    /// The delta journal it is posted as (suspense to its account).
    pub journal: Option<Journal>,
    /// Jobs to queue with it (posting the delta journal).
    pub jobs: Vec<NewJob>,
}

/// What resolving a residual did.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveOutcome {
    Resolved(StoredResidual),
    /// Resolved before: nothing changed.
    AlreadyResolved(StoredResidual),
    NotFound,
}

/// How the store writes a settlement's status.
pub fn status_text(status: SettlementStatus) -> &'static str {
    match status {
        SettlementStatus::Imported => "imported",
        SettlementStatus::Posted => "posted",
        SettlementStatus::Deposited => "deposited",
    }
}

fn settlement_status(s: &str) -> Option<SettlementStatus> {
    [
        SettlementStatus::Imported,
        SettlementStatus::Posted,
        SettlementStatus::Deposited,
    ]
    .into_iter()
    .find(|st| status_text(*st) == s)
}

/// How the store (and the operator) write a resolution: `mapped`,
/// `matched`, `written_off`.
pub fn resolution_text(kind: ResolutionKind) -> &'static str {
    match kind {
        ResolutionKind::Mapped => "mapped",
        ResolutionKind::Matched => "matched",
        ResolutionKind::WrittenOff => "written_off",
    }
}

/// A resolution by its name (`mapped`, `matched`, `written_off`).
pub fn resolution_kind(s: &str) -> Option<ResolutionKind> {
    [
        ResolutionKind::Mapped,
        ResolutionKind::Matched,
        ResolutionKind::WrittenOff,
    ]
    .into_iter()
    .find(|k| resolution_text(*k) == s)
}

const SETTLEMENT_COLUMNS: &str = "id, channel, settlement_id, format, currency, deposit_total, \
     starts_at, ends_at, deposit_date, current_reserve, status, summary, row_count, imported_at, \
     posted_at, deposited_at";

const RESIDUAL_COLUMNS: &str = "id, settlement, line, row_key, order_ref, amount, reason, detail, \
     status, resolution, resolved_by, resolved_at, note, created_at";

fn decimal(column: &str, text: &str) -> Result<Decimal> {
    Decimal::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{column} {text:?} is not a decimal: {e}")))
}

fn settlement_row(r: &AnyRow) -> Result<StoredSettlement> {
    let status: String = r.try_get("status")?;
    let reserve: Option<String> = r.try_get("current_reserve")?;
    Ok(StoredSettlement {
        key: r.try_get("id")?,
        channel: r.try_get("channel")?,
        settlement_id: r.try_get("settlement_id")?,
        format: r.try_get("format")?,
        currency: r.try_get("currency")?,
        deposit_total: decimal("deposit_total", &r.try_get::<String, _>("deposit_total")?)?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        deposit_date: r.try_get("deposit_date")?,
        current_reserve: reserve
            .as_deref()
            .map(|t| decimal("current_reserve", t))
            .transpose()?,
        status: settlement_status(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("settlement status {status:?}")))?,
        summary: serde_json::from_str(&r.try_get::<String, _>("summary")?)?,
        row_count: r.try_get("row_count")?,
        imported_at: r.try_get("imported_at")?,
        posted_at: r.try_get("posted_at")?,
        deposited_at: r.try_get("deposited_at")?,
    })
}

fn residual_row(r: &AnyRow) -> Result<StoredResidual> {
    let status: String = r.try_get("status")?;
    let resolution: Option<String> = r.try_get("resolution")?;
    Ok(StoredResidual {
        id: r.try_get("id")?,
        settlement: r.try_get("settlement")?,
        line: r.try_get("line")?,
        key: r.try_get("row_key")?,
        order_ref: r.try_get("order_ref")?,
        amount: decimal("amount", &r.try_get::<String, _>("amount")?)?,
        reason: r.try_get("reason")?,
        detail: r.try_get("detail")?,
        status: match status.as_str() {
            "open" => ResidualStatus::Open,
            "resolved" => ResidualStatus::Resolved,
            other => return Err(StoreError::Corrupt(format!("residual status {other:?}"))),
        },
        resolution: resolution
            .as_deref()
            .map(|s| {
                resolution_kind(s)
                    .ok_or_else(|| StoreError::Corrupt(format!("residual resolution {s:?}")))
            })
            .transpose()?,
        resolved_by: r.try_get("resolved_by")?,
        resolved_at: r.try_get("resolved_at")?,
        note: r.try_get("note")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Store a reconciled settlement, all of it or nothing, unless one with
    /// the same channel and id is already held (then nothing is written).
    pub async fn import_settlement(&self, s: &NewSettlement) -> Result<SettlementImport> {
        self.import_settlement_rows(s, s.rows.iter().cloned()).await
    }

    /// [`Store::import_settlement`] with the rows taken from `rows` (not
    /// `s.rows`), a chunk at a time inside the one transaction: the caller
    /// may build each record as it is asked for, so a settlement of a
    /// million rows is never held as records at once.
    pub async fn import_settlement_rows(
        &self,
        s: &NewSettlement,
        rows: impl ExactSizeIterator<Item = SettlementRowRecord> + Send,
    ) -> Result<SettlementImport> {
        let key = s.key();
        let mut tx = self.writer.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO settlements (id, channel, settlement_id, format, currency, deposit_total, \
             starts_at, ends_at, deposit_date, current_reserve, status, summary, row_count, imported_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (channel, settlement_id) DO NOTHING",
        )
        .bind(&key)
        .bind(&s.channel)
        .bind(&s.settlement_id)
        .bind(&s.format)
        .bind(&s.currency)
        .bind(s.deposit_total.to_string())
        .bind(s.starts_at)
        .bind(s.ends_at)
        .bind(s.deposit_date.as_deref())
        .bind(s.current_reserve.map(|d| d.to_string()))
        .bind(status_text(SettlementStatus::Imported))
        .bind(serde_json::to_string(&s.summary)?)
        .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
        .bind(s.imported_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            let held = self.settlement(&key).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("settlement {key} conflicts but cannot be read"))
            })?;
            return Ok(SettlementImport::AlreadyImported(held));
        }
        insert_rows(&mut tx, &key, rows).await?;
        insert_orders(&mut tx, &s.channel, &key, &s.orders).await?;
        insert_residuals(&mut tx, &key, 0, &s.residuals, s.imported_at).await?;
        insert_journals(&mut tx, &key, &s.journals, s.imported_at).await?;
        insert_jobs(&mut tx, &s.jobs, s.imported_at).await?;
        tx.commit().await?;
        let stored = self
            .settlement(&key)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("settlement {key} vanished")))?;
        Ok(SettlementImport::Imported(stored))
    }

    /// The settlement keyed `key` (`channel:settlement_id`); a bare
    /// settlement id finds it too when one channel holds that id.
    pub async fn settlement(&self, key: &str) -> Result<Option<StoredSettlement>> {
        let sql = format!("SELECT {SETTLEMENT_COLUMNS} FROM settlements WHERE id = $1");
        if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&self.reader)
            .await?
        {
            return settlement_row(&row).map(Some);
        }
        let sql = format!(
            "SELECT {SETTLEMENT_COLUMNS} FROM settlements WHERE settlement_id = $1 ORDER BY id LIMIT 2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_all(&self.reader)
            .await?;
        match rows.as_slice() {
            [one] => settlement_row(one).map(Some),
            [] => Ok(None),
            _ => Err(StoreError::Invalid(format!(
                "settlement id {key:?} is held for several channels: name it as CHANNEL:{key}"
            ))),
        }
    }

    /// Settlements, newest import first, at most `limit`.
    pub async fn settlements(&self, limit: i64) -> Result<Vec<StoredSettlement>> {
        let sql = format!(
            "SELECT {SETTLEMENT_COLUMNS} FROM settlements ORDER BY imported_at DESC, id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit.max(0))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(settlement_row).collect()
    }

    /// The latest settlement of `channel` other than `except` (by period
    /// end, then import): the one whose reserve the next one releases.
    pub async fn previous_settlement(
        &self,
        channel: &str,
        except: &str,
        ends_before: Option<i64>,
    ) -> Result<Option<StoredSettlement>> {
        let sql = format!(
            "SELECT {SETTLEMENT_COLUMNS} FROM settlements WHERE channel = $1 AND id <> $2 \
             AND (ends_at IS NULL OR ends_at <= $3) \
             ORDER BY ends_at DESC, imported_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(channel)
            .bind(except)
            .bind(ends_before.unwrap_or(i64::MAX))
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(settlement_row).transpose()
    }

    /// The classified rows of a settlement, in file order.
    pub async fn settlement_rows(&self, key: &str) -> Result<Vec<SettlementRowRecord>> {
        let rows = sqlx::query(
            "SELECT line, category, row_key, order_ref, amount FROM settlement_rows \
             WHERE settlement = $1 ORDER BY seq",
        )
        .bind(key)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SettlementRowRecord {
                    line: r.try_get("line")?,
                    category: r.try_get("category")?,
                    key: r.try_get("row_key")?,
                    order_ref: r.try_get("order_ref")?,
                    amount: decimal("amount", &r.try_get::<String, _>("amount")?)?,
                })
            })
            .collect()
    }

    /// Which settlements carried these orders of `channel` (sold or
    /// refunded): `(order_ref, settlement key, role)`.
    pub async fn settled_orders(
        &self,
        channel: &str,
        order_refs: &[String],
    ) -> Result<Vec<(String, String, OrderRole)>> {
        let mut out = Vec::new();
        for chunk in order_refs.chunks(INSERT_CHUNK) {
            let marks = rows_sql("?", chunk.len());
            let sql = format!(
                "SELECT order_ref, settlement, role FROM settlement_orders \
                 WHERE channel = ${} AND order_ref IN ({marks}) ORDER BY order_ref, settlement, role",
                chunk.len() + 1
            );
            let mut q = sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(r);
            }
            for (order_ref, settlement, role) in q.bind(channel).fetch_all(&self.reader).await? {
                let role = OrderRole::parse(&role).ok_or_else(|| {
                    StoreError::Corrupt(format!("settlement order role {role:?}"))
                })?;
                out.push((order_ref, settlement, role));
            }
        }
        Ok(out)
    }

    /// The residual ledger: of one settlement or all, open ones only when asked.
    pub async fn residuals(
        &self,
        settlement: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<StoredResidual>> {
        let mut w = Where::default();
        w.eq("settlement", settlement)
            .eq("status", open_only.then_some("open"));
        let sql = format!(
            "SELECT {RESIDUAL_COLUMNS} FROM settlement_residuals {} ORDER BY settlement, seq",
            w.sql()
        );
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), w.arguments()?)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(residual_row).collect()
    }

    pub async fn residual(&self, id: &str) -> Result<Option<StoredResidual>> {
        let sql = format!("SELECT {RESIDUAL_COLUMNS} FROM settlement_residuals WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(residual_row).transpose()
    }

    /// Resolve an open residual (with the jobs that post its delta); a
    /// resolved one is left as it is.
    pub async fn resolve_residual(&self, r: &ResidualResolution) -> Result<ResolveOutcome> {
        let mut tx = self.writer.begin().await?;
        let changed = sqlx::query(
            "UPDATE settlement_residuals SET status = 'resolved', resolution = $1, resolved_by = $2, \
             resolved_at = $3, note = $4 WHERE id = $5 AND status = 'open'",
        )
        .bind(resolution_text(r.resolution))
        .bind(&r.by)
        .bind(r.at)
        .bind(&r.note)
        .bind(&r.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            let settlement: String =
                sqlx::query_scalar("SELECT settlement FROM settlement_residuals WHERE id = $1")
                    .bind(&r.id)
                    .fetch_one(&mut *tx)
                    .await?;
            insert_journals(&mut tx, &settlement, r.journal.as_slice(), r.at).await?;
            insert_jobs(&mut tx, &r.jobs, r.at).await?;
        }
        tx.commit().await?;
        Ok(match (changed, self.residual(&r.id).await?) {
            (_, None) => ResolveOutcome::NotFound,
            (1, Some(res)) => ResolveOutcome::Resolved(res),
            (_, Some(res)) => ResolveOutcome::AlreadyResolved(res),
        })
    }

    /// The journals planned for a settlement, posted or not, in order.
    pub async fn settlement_journals(&self, key: &str) -> Result<Vec<StoredJournal>> {
        let rows = sqlx::query(
            "SELECT reference, settlement, journal, erp_id, posted_at FROM settlement_journals \
             WHERE settlement = $1 ORDER BY seq",
        )
        .bind(key)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredJournal {
                    reference: r.try_get("reference")?,
                    settlement: r.try_get("settlement")?,
                    journal: serde_json::from_str(&r.try_get::<String, _>("journal")?)?,
                    erp_id: r.try_get("erp_id")?,
                    posted_at: r.try_get("posted_at")?,
                })
            })
            .collect()
    }

    /// Record that the deposit reached the bank: `deposited` (from `posted`).
    pub async fn record_settlement_deposited(&self, key: &str, at: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE settlements SET status = 'deposited', deposited_at = $1 \
             WHERE id = $2 AND status = 'posted'",
        )
        .bind(at)
        .bind(key)
        .execute(&self.writer)
        .await?
        .rows_affected()
            == 1)
    }
}

async fn insert_rows(
    tx: &mut Tx,
    key: &str,
    mut rows: impl Iterator<Item = SettlementRowRecord> + Send,
) -> Result<()> {
    let mut first = 0usize;
    loop {
        let chunk: Vec<SettlementRowRecord> = rows.by_ref().take(INSERT_CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        let mut sql = String::from(
            "INSERT INTO settlement_rows (settlement, seq, line, category, row_key, order_ref, amount) VALUES ",
        );
        sql.push_str(&rows_sql("(?, ?, ?, ?, ?, ?, ?)", chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, row) in chunk.iter().enumerate() {
            q = q
                .bind(key)
                .bind(i64::try_from(first + i).unwrap_or(i64::MAX))
                .bind(row.line)
                .bind(&row.category)
                .bind(&row.key)
                .bind(row.order_ref.as_deref())
                .bind(row.amount.to_string());
        }
        q.execute(&mut **tx).await?;
        first += chunk.len();
    }
}

async fn insert_orders(
    tx: &mut Tx,
    channel: &str,
    key: &str,
    orders: &[(String, OrderRole)],
) -> Result<()> {
    for chunk in orders.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO settlement_orders (channel, order_ref, settlement, role) VALUES ",
        );
        sql.push_str(&rows_sql("(?, ?, ?, ?)", chunk.len()));
        sql.push_str(" ON CONFLICT DO NOTHING");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (order_ref, role) in chunk {
            q = q
                .bind(channel)
                .bind(order_ref)
                .bind(key)
                .bind(role.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_residuals(
    tx: &mut Tx,
    key: &str,
    first_seq: usize,
    residuals: &[NewResidual],
    at: i64,
) -> Result<()> {
    for (n, chunk) in residuals.chunks(INSERT_CHUNK).enumerate() {
        let mut sql = String::from(
            "INSERT INTO settlement_residuals (id, settlement, seq, line, row_key, order_ref, amount, \
             reason, detail, status, created_at) VALUES ",
        );
        sql.push_str(&rows_sql(
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
            chunk.len(),
        ));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, r) in chunk.iter().enumerate() {
            let seq = first_seq + n * INSERT_CHUNK + i + 1;
            q = q
                .bind(format!("{key}:{seq}"))
                .bind(key)
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .bind(r.line)
                .bind(r.key.as_deref())
                .bind(r.order_ref.as_deref())
                .bind(r.amount.to_string())
                .bind(&r.reason)
                .bind(&r.detail)
                .bind(at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_journals(tx: &mut Tx, key: &str, journals: &[Journal], at: i64) -> Result<()> {
    let first: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM settlement_journals WHERE settlement = $1",
    )
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    for (i, j) in journals.iter().enumerate() {
        sqlx::query(
            "INSERT INTO settlement_journals (reference, settlement, seq, journal, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&j.reference)
        .bind(key)
        .bind(first + i64::try_from(i).unwrap_or(i64::MAX))
        .bind(serde_json::to_string(j)?)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
