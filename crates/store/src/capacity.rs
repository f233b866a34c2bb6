//! Warehouses' daily capacity as slots: a release takes one before it is
//! sent. Checking for room and taking the slot is one guarded `UPDATE`
//! (`used < capacity`) in the transaction that records which release took
//! it, so two orders deciding at once cannot both take a warehouse's last
//! slot, on either backend.

use crate::error::Result;
use crate::open::Store;

impl Store {
    /// Take one of `warehouse`'s `capacity` slots of `day` for the release
    /// `request_id`. `true` when it has one: taken now, or by an earlier
    /// call for the same request (so a retried release never takes a
    /// second). `false` when the day's slots are all taken.
    pub async fn claim_release_slot(
        &self,
        warehouse: &str,
        day: i64,
        capacity: u32,
        request_id: &str,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        // The request's row first: a second claim of one request waits for
        // the first here and then finds it, and every claim locks its own
        // row before the day's counter, so none waits on another in a ring.
        let mine = sqlx::query(
            "INSERT INTO release_slots (request_id, warehouse, day) VALUES ($1, $2, $3) \
             ON CONFLICT (request_id) DO NOTHING",
        )
        .bind(request_id)
        .bind(warehouse)
        .bind(day)
        .execute(&mut *tx)
        .await?;
        if mine.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(true);
        }
        sqlx::query(
            "INSERT INTO release_slot_days (warehouse, day, used) VALUES ($1, $2, 0) \
             ON CONFLICT (warehouse, day) DO NOTHING",
        )
        .bind(warehouse)
        .bind(day)
        .execute(&mut *tx)
        .await?;
        let taken = sqlx::query(
            "UPDATE release_slot_days SET used = used + 1 \
             WHERE warehouse = $1 AND day = $2 AND used < $3",
        )
        .bind(warehouse)
        .bind(day)
        .bind(i64::from(capacity))
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 1 {
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    }

    /// Give back the slot `request_id` took, if it took one: its order
    /// moved elsewhere before anything reached the warehouse.
    pub async fn give_back_release_slot(&self, request_id: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        let held: Option<(String, i64)> =
            sqlx::query_as("SELECT warehouse, day FROM release_slots WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((warehouse, day)) = held {
            sqlx::query("DELETE FROM release_slots WHERE request_id = $1")
                .bind(request_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE release_slot_days SET used = used - 1 \
                 WHERE warehouse = $1 AND day = $2 AND used > 0",
            )
            .bind(&warehouse)
            .bind(day)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Slots taken on `day`, per warehouse (only those with any), by name.
    pub async fn release_slots_used(&self, day: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT warehouse, used FROM release_slot_days WHERE day = $1 AND used > 0 \
             ORDER BY warehouse",
        )
        .bind(day)
        .fetch_all(&self.reader)
        .await?)
    }
}
