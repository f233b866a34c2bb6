//! What every domain module of the store shares, and nothing else: the
//! transaction type, the builders for multi-row statements and run-time
//! `WHERE` clauses, and the mapping from rows to the types that cannot
//! derive `sqlx::FromRow`. A leaf: it knows the types, never `Store`.
//!
//! Row mapping. The `Any` driver decodes only `bool`, integers, floats,
//! text and blobs (and `Option` of them). Row types made of those derive
//! `sqlx::FromRow` where they are defined (`InboxMessage`, `PositionRow`,
//! `ReservationRow`, `AvailabilityRow`, `StockReport`), and small results
//! are read as tuples with `query_as`. A row holding JSON text, a status
//! to parse or milliseconds to turn into a date has one mapper here, next
//! to the column list it expects.

use crossdock_model::{ExceptionClass, ExceptionRecord, ExceptionStatus, Shipment};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Arguments, Row};

use crate::error::{Result, StoreError};
use crate::types::{AuditEvent, Effect, EffectStatus, Job, StoredShipment};

pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Rows per multi-row statement: at most 8 parameters a row stays far below
/// both backends' parameter limits.
pub(crate) const INSERT_CHUNK: usize = 500;

/// The rows of a multi-row statement: `shape` is one row with `?` for each
/// parameter; parameters are numbered `$1…` across all rows.
pub(crate) fn rows_sql(shape: &str, rows: usize) -> String {
    let mut out = String::with_capacity(rows * (shape.len() + 16));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        for ch in shape.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
    }
    out
}

/// A `WHERE` clause assembled from optional conditions, its parameters
/// numbered `$1…` in the order they are added (so the text stays the same
/// on both backends).
#[derive(Default)]
pub(crate) struct Where<'a> {
    clauses: Vec<String>,
    binds: Vec<Bind<'a>>,
}

enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

impl<'a> Where<'a> {
    /// `column = $n`, when `value` is given.
    pub(crate) fn eq(&mut self, column: &str, value: Option<&'a str>) -> &mut Self {
        if let Some(v) = value {
            self.binds.push(Bind::Text(v));
            self.clauses
                .push(format!("{column} = ${}", self.binds.len()));
        }
        self
    }

    /// `column op $n` (`op` is `<`, `>=` …), when `value` is given.
    pub(crate) fn cmp(&mut self, column: &str, op: &str, value: Option<i64>) -> &mut Self {
        if let Some(v) = value {
            self.binds.push(Bind::Int(v));
            self.clauses
                .push(format!("{column} {op} ${}", self.binds.len()));
        }
        self
    }

    /// `column IN ($n, …)`; no condition at all when `values` is empty.
    pub(crate) fn any_of(&mut self, column: &str, values: &'a [String]) -> &mut Self {
        if values.is_empty() {
            return self;
        }
        let first = self.binds.len() + 1;
        self.binds
            .extend(values.iter().map(|v| Bind::Text(v.as_str())));
        let marks: Vec<String> = (first..=self.binds.len())
            .map(|i| format!("${i}"))
            .collect();
        self.clauses
            .push(format!("{column} IN ({})", marks.join(", ")));
        self
    }

    /// `WHERE a AND b …`, or nothing when no condition was added.
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The parameters, in the order of their `$n`.
    pub(crate) fn arguments(&self) -> Result<AnyArguments> {
        let mut args = AnyArguments::default();
        for b in &self.binds {
            match b {
                Bind::Text(s) => args.add(*s),
                Bind::Int(i) => args.add(*i),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(args)
    }
}

/// The columns [`effect`] reads.
pub(crate) const EFFECT_COLUMNS: &str =
    "key, target, kind, entity_key, status, attempts, result, created_at, resolved_at";

/// A row of `effects` with [`EFFECT_COLUMNS`]; `in_doubt` is left false
/// (only `begin_effect` can tell).
pub(crate) fn effect(r: &AnyRow) -> Result<Effect> {
    let status: String = r.try_get("status")?;
    let result: Option<String> = r.try_get("result")?;
    Ok(Effect {
        key: r.try_get("key")?,
        target: r.try_get("target")?,
        kind: r.try_get("kind")?,
        entity_key: r.try_get("entity_key")?,
        status: EffectStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("effect status {status:?}")))?,
        attempts: r.try_get("attempts")?,
        result: result.map(|s| serde_json::from_str(&s)).transpose()?,
        created_at: r.try_get("created_at")?,
        resolved_at: r.try_get("resolved_at")?,
        in_doubt: false,
    })
}

/// The columns [`exception`] reads.
pub(crate) const EXCEPTION_COLUMNS: &str = "id, job_id, entity_key, channel, step, class, reason, \
     payload, status, created_at, replayed_at, replay_count";

/// A row of `exceptions` with [`EXCEPTION_COLUMNS`].
pub(crate) fn exception(r: &AnyRow) -> Result<ExceptionRecord> {
    let class: String = r.try_get("class")?;
    let status: String = r.try_get("status")?;
    let replayed_at: Option<i64> = r.try_get("replayed_at")?;
    Ok(ExceptionRecord {
        id: r.try_get("id")?,
        job_id: r.try_get("job_id")?,
        entity_key: r.try_get("entity_key")?,
        channel: r.try_get("channel")?,
        step: r.try_get("step")?,
        class: ExceptionClass::parse(&class)
            .ok_or_else(|| StoreError::Corrupt(format!("exception class {class:?}")))?,
        reason: r.try_get("reason")?,
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
        status: ExceptionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("exception status {status:?}")))?,
        created_at: ms(r.try_get("created_at")?),
        replayed_at: replayed_at.map(ms),
        replay_count: u32::try_from(r.try_get::<i64, _>("replay_count")?).unwrap_or(u32::MAX),
    })
}

/// A job row as `claim_jobs` returns it (`id, entity_key, step, payload,
/// attempts, created_at`), under the claim's owner and lease token.
pub(crate) fn job(r: &AnyRow, owner: &str, token: &str) -> Result<Job> {
    Ok(Job {
        id: r.try_get("id")?,
        entity_key: r.try_get("entity_key")?,
        step: r.try_get("step")?,
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
        attempts: r.try_get("attempts")?,
        created_at: r.try_get("created_at")?,
        lease_owner: owner.to_owned(),
        lease_token: token.to_owned(),
    })
}

/// A row of `events` (`id, entity_key, at, kind, detail`).
pub(crate) fn audit_event(r: &AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: r.try_get("id")?,
        entity_key: r.try_get("entity_key")?,
        at: r.try_get("at")?,
        kind: r.try_get("kind")?,
        detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)?,
    })
}

/// A shipment's stored document and when the channel confirmed it
/// (`doc, confirmed_at`).
pub(crate) fn stored_shipment(
    (doc, confirmed_at): (String, Option<i64>),
) -> Result<StoredShipment> {
    Ok(StoredShipment {
        shipment: serde_json::from_str::<Shipment>(&doc)?,
        confirmed_at,
    })
}

/// A stored JSON document (an order's or a shipment's `doc`).
pub(crate) fn document<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T> {
    Ok(serde_json::from_str(doc)?)
}

fn ms(at: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(at).unwrap_or_default()
}
