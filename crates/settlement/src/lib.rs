//! Marketplace settlement reports: read, classify, reconcile, journal.
//!
//! A core crate (like `crossdock-edi`): no I/O beyond the reader it is
//! handed, not async. The readers stream (`read_amazon_v2`,
//! `read_walmart_recon`; Shopify payouts are small JSON documents read
//! whole), handing each amount row (`SettlementRow`) to a sink, and refuse
//! a whole file on the first bad value with its line, column and raw value
//! (`SettlementError`). `classify` is the one taxonomy. A `Reconciler` fed
//! the rows keeps only per-order sums and gives, against the hub's orders
//! (`KnownOrders`), the `SettlementSummary` (categories + residuals =
//! deposit) and one balanced `Journal` per month. `generate_amazon_v2`
//! writes synthetic files for the benchmark.

mod amazon_v2;
mod classify;
mod error;
mod fields;
mod generate;
mod journal;
mod reconcile;
mod shopify_payout;
mod walmart_recon;

use std::io::Read;

use crossdock_model::{Settlement, SettlementFormat, SettlementHeader, SettlementRow};

pub use amazon_v2::{REQUIRED_COLUMNS as AMAZON_V2_COLUMNS, read_amazon_v2};
pub use classify::{Classification, Role, amazon_order_id_is_not_an_order, classify, is_sale};
pub use error::SettlementError;
pub use generate::{GenerateSpec, Generated, generate_amazon_v2};
pub use reconcile::{
    KnownOrder, KnownOrders, ReconcileOptions, Reconciler, Reconciliation, reconcile,
};
pub use shopify_payout::read_shopify_payout;
pub use walmart_recon::{REQUIRED_COLUMNS as WALMART_RECON_COLUMNS, read_walmart_recon};

/// Read a whole Amazon V2 or Walmart recon file into memory (for files of
/// ordinary size; stream large ones with the `read_*` functions and a
/// `Reconciler`). Shopify payouts take two documents: `read_shopify_payout`.
pub fn read_settlement<R: Read>(
    format: SettlementFormat,
    reader: R,
    channel: &str,
) -> Result<Settlement, SettlementError> {
    let mut rows: Vec<SettlementRow> = Vec::new();
    let header: SettlementHeader = match format {
        SettlementFormat::AmazonV2 => read_amazon_v2(reader, channel, |r| rows.push(r))?,
        SettlementFormat::WalmartRecon => read_walmart_recon(reader, channel, |r| rows.push(r))?,
        SettlementFormat::ShopifyPayout => {
            return Err(SettlementError::Malformed {
                line: 0,
                problem:
                    "a Shopify payout is read with read_shopify_payout (payout and transactions)"
                        .into(),
            });
        }
    };
    Ok(Settlement { header, rows })
}

/// Read a Shopify payout and its transactions into memory.
pub fn read_shopify_settlement(
    payout_json: &str,
    transactions_json: &str,
    channel: &str,
) -> Result<Settlement, SettlementError> {
    let mut rows = Vec::new();
    let header = read_shopify_payout(payout_json, transactions_json, channel, |r| rows.push(r))?;
    Ok(Settlement { header, rows })
}
