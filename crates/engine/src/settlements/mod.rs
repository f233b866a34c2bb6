//! Settlements as operators and the API see them: import a settlement file
//! (read and reconciled by `crossdock-settlement`, matched against the
//! orders the hub saw, stored with its residuals and the journals it is
//! posted as, and the job that posts them queued — all in one
//! transaction), show it, list and resolve its residuals. The CLI and the
//! `/v1/settlements` routes both call these, so the two always agree.
//!
//! `fetch.rs`: settlements fetched from the channels on a schedule;
//! `import.rs`: the import; `known.rs`: the order lookup over the store;
//! `resolve.rs`: a residual's resolution and its delta journal;
//! `view.rs`: the JSON of `show` and `residuals` (amounts are decimal
//! strings, ids strings).

mod fetch;
mod import;
mod known;
mod resolve;
mod view;

pub use fetch::FetchReport;
pub(crate) use fetch::run_settlement_poller;
pub use import::{
    ImportError, ImportOutcome, ImportReport, ImportRequest, format_named, import_settlement,
};
pub use known::StoreOrders;
pub use resolve::{ResolveError, delta_journal, resolve_residual};
pub use view::{ResidualView, SettlementListItem, SettlementView, residual_views, settlement_view};
