//! What the system-of-record registry kept and did not apply: the
//! `unapplied_updates` a step records with its other writes (`Changes`),
//! and, for stock, the `stock_reports` rows (`availability.rs`).

use crate::availability::StockReport;
use crate::error::Result;
use crate::open::Store;
use crate::sql::Where;
use crate::types::UnappliedUpdate;

impl Store {
    /// Kept updates of `kind` (all kinds when `None`), newest first. Stock
    /// rows are read per SKU with [`Store::stock_reports`].
    pub async fn unapplied_updates(
        &self,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UnappliedUpdate>> {
        let mut w = Where::default();
        w.eq("kind", kind);
        let sql = format!(
            "SELECT kind, source, authority, entity_key, inbox_id, note, received_at \
             FROM unapplied_updates {} ORDER BY id DESC LIMIT {}",
            w.sql(),
            limit
        );
        Ok(
            sqlx::query_as_with(sqlx::AssertSqlSafe(sql), w.arguments()?)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    /// The latest stock rows kept and not applied, every SKU, newest first.
    pub async fn latest_stock_reports(&self, limit: usize) -> Result<Vec<StockReport>> {
        Ok(sqlx::query_as(
            "SELECT sku, location, source, on_hand, as_of, received_at, note FROM stock_reports \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?)
    }

    /// How many updates were kept and not applied, per (kind, source),
    /// stock reports' rows included as kind `stock`.
    pub async fn unapplied_update_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT kind, source, COUNT(*) AS n FROM unapplied_updates GROUP BY kind, source \
             UNION ALL \
             SELECT CAST('stock' AS TEXT) AS kind, source, COUNT(*) AS n FROM stock_reports GROUP BY source \
             ORDER BY kind, source",
        )
        .fetch_all(&self.reader)
        .await?)
    }
}
