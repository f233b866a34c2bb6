//! The effect log: every call that changes something outside the hub is
//! recorded before it is made and resolved after, so a retry after a crash
//! knows the call is in doubt and asks the target before calling again.

use crate::error::Result;
use crate::open::Store;
use crate::sql::{self, EFFECT_COLUMNS};
use crate::types::*;
use sqlx::Row;

impl Store {
    /// Record that an effect is about to be attempted, and say whether an
    /// earlier attempt left it in doubt (recorded as pending and never
    /// resolved: the call may or may not have reached the target). A
    /// refused (`failed`) effect is known not applied; it returns to
    /// `pending` for the new attempt without being in doubt.
    pub async fn begin_effect(&self, e: &NewEffect) -> Result<Effect> {
        // One statement: `prev_status` keeps the status this attempt found,
        // which is what tells an effect in doubt from one known not applied.
        let sql = format!(
            "INSERT INTO effects (key, target, kind, entity_key, status, attempts, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', 1, $5) \
             ON CONFLICT (key) DO UPDATE SET attempts = effects.attempts + 1, \
               prev_status = effects.status, \
               status = CASE WHEN effects.status = 'failed' THEN 'pending' ELSE effects.status END \
             RETURNING {EFFECT_COLUMNS}, prev_status"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&e.key)
            .bind(&e.target)
            .bind(&e.kind)
            .bind(&e.entity_key)
            .bind(e.at)
            .fetch_one(&self.writer)
            .await?;
        let mut effect = sql::effect(&row)?;
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
        let sql = format!("SELECT {EFFECT_COLUMNS} FROM effects WHERE key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| sql::effect(&r)).transpose()
    }

    pub async fn effects_for(&self, entity_key: &str) -> Result<Vec<Effect>> {
        let sql = format!(
            "SELECT {EFFECT_COLUMNS} FROM effects WHERE entity_key = $1 ORDER BY created_at, key"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(entity_key)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(sql::effect).collect()
    }

    /// Fulfilment requests released per warehouse since `since_ms` (applied
    /// release effects, keyed by warehouse name): a warehouse's load today,
    /// for capacity rules.
    pub async fn releases_since(&self, since_ms: i64) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT target, COUNT(*) AS n FROM effects \
             WHERE kind = 'release' AND status = 'applied' AND created_at >= $1 \
             GROUP BY target ORDER BY target",
        )
        .bind(since_ms)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(target, n)| match target.strip_prefix("warehouse:") {
                Some(name) => (name.to_owned(), n),
                None => (target, n),
            })
            .collect())
    }

    /// Effect counts by (target, status), for metrics and summaries.
    pub async fn effect_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT target, status, COUNT(*) AS n FROM effects GROUP BY target, status ORDER BY target, status",
        )
        .fetch_all(&self.reader)
        .await?)
    }
}
