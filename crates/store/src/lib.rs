//! The durable store: inbox, jobs, effects, orders, exceptions, audit events
//! and inventory, behind one interface with two backends.
//!
//! * SQLite, the embedded default: one file, WAL, one writer connection (so
//!   writers queue in the pool instead of failing with `SQLITE_BUSY`) and a
//!   few reader connections.
//! * PostgreSQL: shared by several hub processes, which split the job queue
//!   with leases and `FOR UPDATE SKIP LOCKED`.
//!
//! Both run the same SQL through sqlx's `Any` driver; each has its own
//! migrations. Only this crate contains SQL. Times are milliseconds from the
//! hub's injected clock, never the database's.

mod availability;
pub mod events;
mod store;
mod types;

pub use availability::*;
pub use store::{Backend, Store};
pub use types::*;

/// Errors from the store. The engine treats all of them as transient: the
/// job that hit one is retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document is unreadable: {0}")]
    Corrupt(String),
    #[error("lease on job {0} was lost to another worker")]
    LeaseLost(i64),
    #[error("unsupported database url {0:?} (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
