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
//!
//! **The portability rule: one SQL text serves both backends.** Write SQL
//! that SQLite and PostgreSQL both accept (`$n` parameters, `ON CONFLICT`,
//! `RETURNING`, `BIGINT` casts) rather than a branch per backend. There are
//! two `Backend::` branches in the crate — choosing the migrations
//! (`open.rs`) and the row lock of a job claim (`jobs.rs`) — and a new one
//! needs a reason as strong as theirs. The conformance suite
//! (`tests/it/conformance.rs`) runs every scenario on both backends.
//!
//! Where things live: `Store` is defined and opened in `open.rs`, and each
//! domain adds its own `impl Store` in its own file (`inbox.rs`, `jobs.rs`,
//! `effects.rs`, `orders.rs`, `exceptions.rs`, `inventory.rs`,
//! `capacity.rs`, `availability.rs`, `authority.rs`, `meta.rs`, `api_keys.rs`,
//! `config_versions.rs`, `settlements.rs`). They share `sql.rs` (transactions,
//! statement builders, row mapping) and `changes.rs` (writing a step's
//! [`Changes`]); neither knows `Store`, so no two modules import each other.

mod api_keys;
mod authority;
mod availability;
mod capacity;
mod changes;
mod config_versions;
mod effects;
mod error;
pub mod events;
mod exceptions;
mod inbox;
mod inventory;
mod jobs;
mod meta;
mod open;
mod orders;
mod settlements;
mod sql;
mod stock_changes;
mod types;

#[cfg(test)]
mod tests;

pub use api_keys::{ApiAuditEntry, ApiKey, ApiScope, NewApiAuditEntry, NewApiKey};
pub use availability::{AvailabilityRow, AvailabilitySettlement, OwedAvailability, StockReport};
pub use config_versions::{ConfigVersion, NewConfigVersion};
pub use error::{Result, StoreError};
pub use jobs::waiting_error;
pub use open::{Backend, Store};
pub use settlements::{
    NewResidual, NewSettlement, OrderRole, ResidualResolution, ResolveOutcome, SettlementImport,
    SettlementRowRecord, StoredJournal, StoredResidual, StoredSettlement, resolution_kind,
    resolution_text, settlement_key, status_text,
};
pub use stock_changes::{StockChange, StockChanges};
pub use types::*;
