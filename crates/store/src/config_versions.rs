//! The configuration versions each hub ran, or was asked to run and
//! refused: `GET /v1/config/versions` and `crossdock config versions`.
//! The store keeps what the hub computed (hash, who, why); it never sees
//! the configuration itself, so no secret can reach it.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::open::Store;

/// One configuration version as recorded.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, schemars::JsonSchema,
)]
pub struct ConfigVersion {
    pub id: i64,
    /// When the hub loaded it (ms).
    pub at: i64,
    /// The hub that loaded it (several may share a PostgreSQL store).
    pub hub_id: String,
    /// SHA-256 (hex) of the canonical configuration, secrets left out.
    pub hash: String,
    /// The OS user, `--as NAME`, or the API key's name.
    pub who: String,
    /// `start` or `sighup`.
    pub triggered_by: String,
    /// `applied` or `refused`.
    pub outcome: String,
    /// Why a version was refused (the running one kept running).
    pub reason: Option<String>,
}

/// A version to record (its id is the store's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfigVersion {
    pub at: i64,
    pub hub_id: String,
    pub hash: String,
    pub who: String,
    pub triggered_by: String,
    pub outcome: String,
    pub reason: Option<String>,
}

impl Store {
    /// Record one configuration version; returns its id.
    pub async fn record_config_version(&self, v: &NewConfigVersion) -> Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO config_versions (at, hub_id, hash, who, triggered_by, outcome, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(v.at)
        .bind(&v.hub_id)
        .bind(&v.hash)
        .bind(&v.who)
        .bind(&v.triggered_by)
        .bind(&v.outcome)
        .bind(v.reason.as_deref())
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    /// The newest `limit` versions, newest first.
    pub async fn config_versions(&self, limit: i64) -> Result<Vec<ConfigVersion>> {
        let limit = limit.clamp(0, 10_000);
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, at, hub_id, hash, who, triggered_by, outcome, reason \
             FROM config_versions ORDER BY id DESC LIMIT {limit}"
        )))
        .fetch_all(&self.reader)
        .await?)
    }
}
