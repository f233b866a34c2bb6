//! How a step's [`Changes`] are written: the one transaction body shared by
//! completing, retrying and failing a job, and the multi-row inserts that
//! accepting messages and replaying exceptions reuse. Free functions over a
//! transaction, so the domain modules can call them inside their own.

use crate::error::{Result, StoreError};
use crate::sql::{INSERT_CHUNK, Tx, rows_sql};
use crate::types::*;

/// Applies a step's writes; returns the SKUs whose positions moved.
pub(crate) async fn apply_changes(tx: &mut Tx, c: &Changes, now: i64) -> Result<Vec<String>> {
    for chunk in c.orders.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO orders (id, channel, external_id, status, source_version, doc, created_at, updated_at, \
             customer_key, ship_to_key, placed_at) VALUES ",
        );
        sql.push_str(&rows_sql("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk.len()));
        sql.push_str(
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, source_version = excluded.source_version, \
             doc = excluded.doc, updated_at = excluded.updated_at, customer_key = excluded.customer_key, \
             ship_to_key = excluded.ship_to_key, placed_at = excluded.placed_at",
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
                .bind(now)
                .bind(o.customer_key())
                .bind(o.ship_to_key())
                .bind(o.placed_at.timestamp_millis());
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
    insert_unapplied(tx, &c.unapplied).await?;
    record_posted(tx, &c.settlements_posted).await?;
    Ok(touched)
}

async fn insert_unapplied(tx: &mut Tx, updates: &[UnappliedUpdate]) -> Result<()> {
    for chunk in updates.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO unapplied_updates (kind, source, authority, entity_key, inbox_id, note, received_at) VALUES ",
        );
        sql.push_str(&rows_sql("(?, ?, ?, ?, ?, ?, ?)", chunk.len()));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for u in chunk {
            q = q
                .bind(&u.kind)
                .bind(&u.source)
                .bind(&u.authority)
                .bind(&u.entity_key)
                .bind(u.inbox_id)
                .bind(&u.note)
                .bind(u.received_at);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

pub(crate) async fn insert_jobs(tx: &mut Tx, jobs: &[NewJob], now: i64) -> Result<()> {
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

pub(crate) async fn insert_events(tx: &mut Tx, events: &[NewEvent]) -> Result<()> {
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

pub(crate) async fn insert_event<'e, E>(executor: E, e: &NewEvent) -> Result<()>
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
            let row: Option<(String, String, i64)> = sqlx::query_as(
                "SELECT sku, location, quantity FROM reservations \
                 WHERE order_id = $1 AND line_id = $2 AND state = 'held'",
            )
            .bind(order_id)
            .bind(line_id)
            .fetch_optional(&mut **tx)
            .await?;
            let Some((sku, location, held)) = row else {
                return Ok(());
            };
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
            let rows = sqlx::query_as(
                "UPDATE reservations SET state = 'released' \
                 WHERE order_id = $1 AND line_id = $2 AND state = 'held' \
                 RETURNING sku, location, quantity",
            )
            .bind(order_id)
            .bind(line_id)
            .fetch_all(&mut **tx)
            .await?;
            release(deltas, rows);
        }
        ReservationChange::ReleaseOrder { order_id } => {
            let rows = sqlx::query_as(
                "UPDATE reservations SET state = 'released' WHERE order_id = $1 AND state = 'held' \
                 RETURNING sku, location, quantity",
            )
            .bind(order_id)
            .fetch_all(&mut **tx)
            .await?;
            release(deltas, rows);
        }
    }
    Ok(())
}

/// Give back the released rows' units (`sku, location, quantity`).
fn release(deltas: &mut PositionDeltas, rows: Vec<(String, String, i64)>) {
    for (sku, location, quantity) in rows {
        deltas.entry((sku, location)).or_default().1 -= quantity;
    }
}

/// Writes the journals a step posted: each gets its ERP id, and its
/// settlement becomes `posted` (a deposited one stays deposited).
async fn record_posted(tx: &mut Tx, posted: &[SettlementPosted]) -> Result<()> {
    for p in posted {
        let settlement: Option<String> = sqlx::query_scalar(
            "UPDATE settlement_journals SET erp_id = $1, posted_at = $2 WHERE reference = $3 \
             RETURNING settlement",
        )
        .bind(&p.erp_id)
        .bind(p.at)
        .bind(&p.reference)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(settlement) = settlement else {
            return Err(StoreError::Invalid(format!(
                "no settlement journal {} to record as posted",
                p.reference
            )));
        };
        sqlx::query(
            "UPDATE settlements SET posted_at = COALESCE(posted_at, $1), \
             status = CASE WHEN status = 'imported' AND NOT EXISTS (SELECT 1 FROM settlement_journals \
               WHERE settlement = $2 AND erp_id IS NULL) THEN 'posted' ELSE status END WHERE id = $2",
        )
        .bind(p.at)
        .bind(&settlement)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
