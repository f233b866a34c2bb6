//! A real Tryton 8.0 ERP over JSON-RPC (`POST <url>/<database>/rpc/`).
//!
//! Sessions: `common.db.login` once, then `Authorization: Session …` on every
//! call; a 401 logs in again once. Every model call carries the user's
//! context (company, `company_filter`, language) as its last parameter.
//!
//! Idempotency: a sales order is created with `web_shop` + `web_id` = our
//! reference, a pair the `web_shop` module keeps unique, so a second create is
//! refused by Tryton and continues from the existing sale. Every later step
//! (quote, confirm, shipment assign/pick/pack/do, invoice post, cancel) is
//! chosen from the record's current state, so re-running one is safe.
//!
//! Mapping notes:
//! - `create` runs no on_change: unit, unit price (net of the line's
//!   discount share), taxes (the customer tax whose rate reproduces the
//!   line's tax) and both addresses are sent. The shipping charge is a
//!   product-less line, which Tryton books on the default revenue account of
//!   its accounting configuration (it refuses to invoice one without).
//! - Invoicing is on fulfilment: Tryton invoices the product-less shipping
//!   line at confirmation and the goods when they ship; `post_invoice` joins
//!   the drafts into one invoice carrying our reference.
//! - A new buyer is one party even when its orders race: upserts of one
//!   e-mail take turns in a process, and a create that raced another
//!   process keeps the oldest party of the e-mail (`customers.rs`, taking
//!   turns on `crate::turns`).
//! - A settlement journal is one posted `account.move` carrying the
//!   journal's reference as its description, found by it after a crash; its
//!   accounts are configured by code or name (`journals.rs`).
//! - Tryton's warnings ("no default taxes", …) are confirmed as a user
//!   would, through `res.user.warning`.

mod accounts;
mod client;
pub mod config;
mod customers;
mod fulfillment;
mod inventory;
mod invoices;
mod journals;
mod lookups;
mod mapping;
mod orders;
#[cfg(test)]
mod tests;

pub use accounts::SettlementAccounts;
pub use client::{DEFAULT_WAREHOUSE_CODE, DEFAULT_WEB_SHOP_NAME, TrytonErp, TrytonErpOptions};
