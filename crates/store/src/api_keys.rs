//! API keys, their daily usage and the audit of writes made with them.
//!
//! The store never sees a secret: a key is kept by the SHA-256 of its
//! secret (hex), computed by the caller. Keys are never deleted, only
//! revoked, so `api_keys_fingerprint` (how many keys, how many revoked)
//! changes with every create and every revoke: a hub polls it to learn,
//! cheaply, that its in-memory copy of the keys is out of date.

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::open::Store;

/// What a key may do. The scopes form a ladder: `admin` implies
/// `operate`, which implies `read`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    /// Read anything the API shows (every `GET`).
    Read,
    /// Act on the hub's work: replay, edit, resubmit.
    Operate,
    /// Manage keys and configuration.
    Admin,
}

impl ApiScope {
    pub const ALL: [ApiScope; 3] = [ApiScope::Read, ApiScope::Operate, ApiScope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Operate => "operate",
            ApiScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|c| c.as_str() == s.trim())
    }

    /// `read,operate` → the scopes, sorted and without repeats; an unknown
    /// or empty one is named in the error.
    pub fn parse_list(s: &str) -> std::result::Result<Vec<ApiScope>, String> {
        let mut scopes = s
            .split(',')
            .map(|p| {
                ApiScope::parse(p)
                    .ok_or_else(|| format!("unknown scope {:?} (read, operate or admin)", p.trim()))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    /// Whether holding `self` allows what needs `needed`.
    pub fn grants(self, needed: ApiScope) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for ApiScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored key. Serializing it never shows the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing)]
    pub secret_sha256: String,
    pub scopes: Vec<ApiScope>,
    /// Requests a second; none = no limit.
    pub rate_per_sec: Option<i64>,
    /// Requests a UTC day; none = no quota.
    pub daily_quota: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl ApiKey {
    /// Whether the key allows what needs `needed`.
    pub fn grants(&self, needed: ApiScope) -> bool {
        self.scopes.iter().any(|s| s.grants(needed))
    }

    /// Expired at `now` (ms)?
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

/// A key to create; `secret_sha256` is the hex SHA-256 of its secret.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub secret_sha256: String,
    pub scopes: Vec<ApiScope>,
    pub rate_per_sec: Option<i64>,
    pub daily_quota: Option<i64>,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

/// One write through the API: when, by which key, what and its answer.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, schemars::JsonSchema,
)]
pub struct ApiAuditEntry {
    pub id: i64,
    pub at: i64,
    pub key_name: String,
    pub method: String,
    /// The path as requested (`/v1/exceptions/ex-1/replay`).
    pub path: String,
    /// The route it matched (`/v1/exceptions/{id}/replay`).
    pub route: String,
    pub status: i64,
}

/// An audit entry to record (its id is the store's).
#[derive(Debug, Clone)]
pub struct NewApiAuditEntry {
    pub at: i64,
    pub key_name: String,
    pub method: String,
    pub path: String,
    pub route: String,
    pub status: i64,
}

const KEY_COLUMNS: &str = "id, name, secret_sha256, scopes, rate_per_sec, daily_quota, \
                           expires_at, created_at, revoked_at";

type KeyRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    Option<i64>,
);

fn key_from_row(row: KeyRow) -> Result<ApiKey> {
    let (id, name, secret_sha256, scopes, rate, quota, expires_at, created_at, revoked_at) = row;
    let scopes = ApiScope::parse_list(&scopes)
        .map_err(|e| StoreError::Corrupt(format!("api key {name}: {e}")))?;
    Ok(ApiKey {
        id,
        name,
        secret_sha256,
        scopes,
        rate_per_sec: rate,
        daily_quota: quota,
        expires_at,
        created_at,
        revoked_at,
    })
}

impl Store {
    /// Create a key. A live key of the same name is a
    /// [`StoreError::Conflict`]; so is a secret already stored.
    pub async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKey> {
        if key.scopes.is_empty() {
            return Err(StoreError::Invalid(format!(
                "api key {}: no scopes",
                key.name
            )));
        }
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.writer.begin().await?;
        // Checked first for a clear error; the unique index holds the rule
        // when two hubs on PostgreSQL race.
        let live: Option<String> =
            sqlx::query_scalar("SELECT id FROM api_keys WHERE name = $1 AND revoked_at IS NULL")
                .bind(&key.name)
                .fetch_optional(&mut *tx)
                .await?;
        if live.is_some() {
            return Err(StoreError::Conflict(format!(
                "a live api key named {:?} exists (revoke it first)",
                key.name
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, name, secret_sha256, scopes, rate_per_sec, daily_quota, \
             expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&key.name)
        .bind(&key.secret_sha256)
        .bind(scopes.join(","))
        .bind(key.rate_per_sec)
        .bind(key.daily_quota)
        .bind(key.expires_at)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "api key {:?}: the name is taken by a live key, or the secret is already stored",
                    key.name
                )));
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(ApiKey {
            id,
            name: key.name.clone(),
            secret_sha256: key.secret_sha256.clone(),
            scopes: key.scopes.clone(),
            rate_per_sec: key.rate_per_sec,
            daily_quota: key.daily_quota,
            expires_at: key.expires_at,
            created_at: key.created_at,
            revoked_at: None,
        })
    }

    /// Every key, oldest first; revoked ones only when asked.
    pub async fn api_keys(&self, include_revoked: bool) -> Result<Vec<ApiKey>> {
        let filter = if include_revoked {
            ""
        } else {
            "WHERE revoked_at IS NULL"
        };
        let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys {filter} ORDER BY created_at, id"
        )))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(key_from_row).collect()
    }

    /// Revoke the live key named `name` at `at`; false when there is none.
    pub async fn revoke_api_key(&self, name: &str, at: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(name)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// (keys, revoked keys): changes whenever a key is created or revoked,
    /// by this hub or any other process on the same store.
    pub async fn api_keys_fingerprint(&self) -> Result<(i64, i64)> {
        Ok(
            sqlx::query_as("SELECT COUNT(*), COUNT(revoked_at) FROM api_keys")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    /// Add requests to keys' counts of a day: `(key id, day, requests)`.
    pub async fn add_api_key_usage(&self, usage: &[(String, i64, i64)]) -> Result<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await?;
        for (key_id, day, requests) in usage {
            sqlx::query(
                "INSERT INTO api_key_usage (key_id, day, requests) VALUES ($1, $2, $3) \
                 ON CONFLICT (key_id, day) DO UPDATE SET requests = api_key_usage.requests + excluded.requests",
            )
            .bind(key_id)
            .bind(day)
            .bind(requests)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Requests counted for each key on `day`: `(key id, requests)`.
    pub async fn api_key_usage(&self, day: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT key_id, requests FROM api_key_usage WHERE day = $1 ORDER BY key_id",
        )
        .bind(day)
        .fetch_all(&self.reader)
        .await?)
    }

    pub async fn record_api_audit(&self, entry: &NewApiAuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_audit (at, key_name, method, path, route, status) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.at)
        .bind(&entry.key_name)
        .bind(&entry.method)
        .bind(&entry.path)
        .bind(&entry.route)
        .bind(entry.status)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The newest `limit` audit entries, newest first; only `key_name`'s
    /// when given.
    pub async fn api_audit(
        &self,
        key_name: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApiAuditEntry>> {
        let limit = limit.clamp(0, 10_000);
        let columns = "id, at, key_name, method, path, route, status";
        let query = match key_name {
            Some(name) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {columns} FROM api_audit WHERE key_name = $1 ORDER BY id DESC LIMIT {limit}"
            )))
            .bind(name.to_owned()),
            None => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {columns} FROM api_audit ORDER BY id DESC LIMIT {limit}"
            ))),
        };
        Ok(query.fetch_all(&self.reader).await?)
    }
}
