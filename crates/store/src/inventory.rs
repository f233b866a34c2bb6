//! Inventory: stock positions as their sources report them, and the hub's
//! own reservations against them. The guarded `UPDATE` in `hold_stock` is
//! what keeps two orders from taking the same last unit, on both backends;
//! every transaction that locks positions takes them in SKU order.

use crate::error::Result;
use crate::open::Store;
use crate::sql::{INSERT_CHUNK, Tx, Where, rows_sql};
use crate::types::*;

/// The columns of a [`PositionRow`] (it derives `FromRow`).
const POSITION_COLUMNS: &str = "sku, location, on_hand, reserved, source, as_of";

impl Store {
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
        let mut w = Where::default();
        w.eq("sku", sku);
        let sql = format!(
            "SELECT {POSITION_COLUMNS} FROM inventory_positions {} ORDER BY sku, location",
            w.sql()
        );
        Ok(
            sqlx::query_as_with(sqlx::AssertSqlSafe(sql), w.arguments()?)
                .fetch_all(&self.reader)
                .await?,
        )
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
        let held: Vec<(String, String)> = sqlx::query_as(
            "SELECT line_id, location FROM reservations WHERE order_id = $1 AND state = 'held' \
             ORDER BY line_id",
        )
        .bind(order_id)
        .fetch_all(&self.writer)
        .await?;
        if !held.is_empty() {
            return Ok(Some(held));
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
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT sku, location, quantity FROM reservations WHERE order_id = $1 AND state = 'held' \
             ORDER BY line_id",
        )
        .bind(order_id)
        .fetch_all(&self.writer)
        .await?;
        let mut held_here = Vec::new();
        let mut elsewhere = None;
        for (sku, location, quantity) in rows {
            if location != from {
                elsewhere.get_or_insert(location);
                continue;
            }
            held_here.push((sku, quantity));
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
        Ok(sqlx::query_as(
            "SELECT order_id, line_id, sku, location, quantity, state FROM reservations \
             WHERE order_id = $1 ORDER BY line_id",
        )
        .bind(order_id)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Units reserved per SKU by orders taken in at or after `since`
    /// (ms), oldest first, whatever became of the reservation since
    /// (held, consumed or released): a sale cancelled later still sold.
    /// The availability sync rebuilds its sales velocity from it at start,
    /// so `cover_minutes` protects from the first minute after a restart.
    pub async fn units_reserved_since(&self, since: i64) -> Result<Vec<ReservedUnits>> {
        // The CAST keeps SUM an i64 on both backends (PostgreSQL's SUM of a
        // BIGINT is a NUMERIC).
        Ok(sqlx::query_as(
            "SELECT r.sku AS sku, o.created_at AS at, CAST(SUM(r.quantity) AS BIGINT) AS units \
             FROM reservations r JOIN orders o ON o.id = r.order_id \
             WHERE o.created_at >= $1 \
             GROUP BY r.sku, o.created_at ORDER BY o.created_at, r.sku",
        )
        .bind(since)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Positions of some SKUs (the sync's incremental read).
    pub async fn positions_of(&self, skus: &[String]) -> Result<Vec<PositionRow>> {
        let mut out = Vec::new();
        for chunk in skus.chunks(INSERT_CHUNK) {
            let mut w = Where::default();
            w.any_of("sku", chunk);
            let sql = format!(
                "SELECT {POSITION_COLUMNS} FROM inventory_positions {} ORDER BY sku, location",
                w.sql()
            );
            out.extend(
                sqlx::query_as_with::<_, PositionRow, _>(sqlx::AssertSqlSafe(sql), w.arguments()?)
                    .fetch_all(&self.reader)
                    .await?,
            );
        }
        Ok(out)
    }
}

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
