//! Availability sync: keeps what every channel offers equal to what the hub
//! can honour. A service of its own: [`AvailabilitySync`] owns its state
//! (velocity, lags, pushers' wake-ups) and runs its loops; the engine holds
//! it and callers reach it through a cheap [`Handle`]
//! (`engine.availability().apply_stock_report(..)`).
//!
//! Three loops, all optional on configuration:
//! - **compute** (`compute.rs`): after each stock movement (the store
//!   reports the SKUs it touched) recomputes those SKUs for every channel
//!   and records, in the store's availability outbox, each quantity that
//!   differs from what the channel shows or is already owed. A full
//!   recompute runs at start (which also covers changes a crash lost from
//!   memory) and on a schedule.
//! - **push** (`push.rs`), one per channel: sends owed quantities in the
//!   channel's native format through its connector — urgent ones (sold
//!   out, back in stock, low, fast-selling) at once on the per-item API,
//!   the long tail in bulk batches on a schedule — and settles each SKU by
//!   the channel's per-SKU answer. Throttling and failures back off;
//!   nothing owed is dropped: a row stays owed until acknowledged or
//!   refused (kept with the reason).
//! - **refresh**: re-reads ERP stock on a schedule.
//!
//! Stock reports (`reports.rs`) go through [`Handle::apply_stock_report`],
//! which applies a report only from the location's declared authority and
//! keeps the rest. `plan.rs` and `state.rs` are the leaves the others share.

mod compute;
mod plan;
mod push;
mod reports;
mod service;
mod state;

pub use compute::{SkuAvailability, describe_sku};
pub use plan::{AvailabilityPlan, InventoryOptions};
pub use service::{AvailabilitySync, ChannelSyncStats, Handle};
