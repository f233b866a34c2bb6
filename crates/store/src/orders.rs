//! Orders, their shipments and their audit timeline, as the API and the
//! CLI read them. Orders and shipments are stored as JSON documents beside
//! the few columns queries filter on; they are written by the job that
//! changed them (see `changes.rs`), never here.

use crossdock_model::{Order, Shipment};

use crate::error::Result;
use crate::open::Store;
use crate::sql::{self, Where};
use crate::types::*;

impl Store {
    pub async fn order(&self, id: &str) -> Result<Option<Order>> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        doc.as_deref().map(sql::document).transpose()
    }

    /// The orders of `channel` the hub saw under these channel order ids
    /// (those it never saw are simply absent): what a settlement's rows are
    /// matched against.
    pub async fn orders_by_external_ids(
        &self,
        channel: &str,
        external_ids: &[String],
    ) -> Result<Vec<Order>> {
        let mut out = Vec::with_capacity(external_ids.len());
        for chunk in external_ids.chunks(sql::INSERT_CHUNK) {
            let marks = sql::rows_sql("?", chunk.len());
            let text = format!(
                "SELECT doc FROM orders WHERE channel = ${} AND external_id IN ({marks}) ORDER BY id",
                chunk.len() + 1
            );
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(text));
            for id in chunk {
                q = q.bind(id);
            }
            for doc in q.bind(channel).fetch_all(&self.reader).await? {
                out.push(sql::document(&doc)?);
            }
        }
        Ok(out)
    }

    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>> {
        let mut w = Where::default();
        w.eq("status", filter.status.as_deref())
            .eq("channel", filter.channel.as_deref());
        let sql = format!(
            "SELECT doc FROM orders {} ORDER BY updated_at DESC, id LIMIT {}",
            w.sql(),
            filter.limit.unwrap_or(100).max(0)
        );
        let docs: Vec<String> = sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), w.arguments()?)
            .fetch_all(&self.reader)
            .await?;
        docs.iter().map(|d| sql::document(d)).collect()
    }

    /// Orders of the customer keyed `customer_key` ([`Order::customer_key`])
    /// placed at or before `placed_by_ms`, newest first, at most `limit`:
    /// the history order rules read. An empty key has no history.
    pub async fn customer_orders(
        &self,
        customer_key: &str,
        placed_by_ms: i64,
        limit: i64,
    ) -> Result<Vec<Order>> {
        if customer_key.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM orders WHERE customer_key = $1 AND placed_at <= $2 \
             ORDER BY placed_at DESC, id LIMIT $3",
        )
        .bind(customer_key)
        .bind(placed_by_ms)
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await?;
        docs.iter().map(|d| sql::document(d)).collect()
    }

    /// Ids and placing times (ms) of the orders to the address keyed
    /// `ship_to_key` ([`Order::ship_to_key`]) placed in `[from_ms, to_ms]`.
    pub async fn orders_to_address(
        &self,
        ship_to_key: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(String, i64)>> {
        if ship_to_key.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT id, placed_at FROM orders WHERE ship_to_key = $1 AND placed_at >= $2 \
             AND placed_at <= $3 ORDER BY placed_at, id LIMIT 1000",
        )
        .bind(ship_to_key)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Records an operator's release of a held order (`released`, its
    /// timeline event) and makes its waiting ERP step due now; the step
    /// itself lifts the hold from the order, so the release never races
    /// another step's write of the order. Returns how many jobs it woke.
    pub async fn record_hold_release(&self, released: &NewEvent, now: i64) -> Result<u64> {
        let mut tx = self.writer.begin().await?;
        crate::changes::insert_events(&mut tx, std::slice::from_ref(released)).await?;
        let woken = sqlx::query(
            "UPDATE jobs SET run_at = $1 WHERE entity_key = $2 AND status = 'ready' \
             AND last_error LIKE $3",
        )
        .bind(now)
        .bind(&released.entity_key)
        .bind(format!("{}%", crate::jobs::waiting_error("order_hold", "")))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(woken)
    }

    pub async fn order_status_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    pub async fn timeline(&self, entity_key: &str) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, entity_key, at, kind, detail FROM events WHERE entity_key = $1 ORDER BY id",
        )
        .bind(entity_key)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(sql::audit_event).collect()
    }

    /// Every timeline event of `kind` at or after `since_ms`, in the order
    /// written: what `rules what-if` replays.
    pub async fn events_of_kind(&self, kind: &str, since_ms: i64) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, entity_key, at, kind, detail FROM events WHERE kind = $1 AND at >= $2 \
             ORDER BY id",
        )
        .bind(kind)
        .bind(since_ms)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(sql::audit_event).collect()
    }

    pub async fn shipments_for(&self, order_id: &str) -> Result<Vec<StoredShipment>> {
        let rows = sqlx::query_as(
            "SELECT doc, confirmed_at FROM shipments WHERE order_id = $1 ORDER BY created_at, id",
        )
        .bind(order_id)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(sql::stored_shipment).collect()
    }

    /// Shipments the hub recorded after `after_ms`, oldest first.
    pub async fn shipments_recorded_after(&self, after_ms: i64) -> Result<Vec<Shipment>> {
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM shipments WHERE created_at > $1 ORDER BY created_at, id",
        )
        .bind(after_ms)
        .fetch_all(&self.reader)
        .await?;
        docs.iter().map(|d| sql::document::<Shipment>(d)).collect()
    }

    pub async fn shipment(&self, id: &str) -> Result<Option<StoredShipment>> {
        let row = sqlx::query_as("SELECT doc, confirmed_at FROM shipments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(sql::stored_shipment).transpose()
    }
}
