//! Importing a settlement file: read it (every row, or the whole file is
//! refused with the line, column and raw value), skip it when the store
//! already holds the settlement, match it against the orders the hub saw,
//! reconcile it into its summary, residuals and journals, and store all of
//! it with the job that posts the journals, in one transaction.

use std::collections::{BTreeSet, HashMap};

use crossdock_model::{Category, Journal, SettlementFormat, SettlementHeader, SettlementRow};
use crossdock_settlement::{
    ReconcileOptions, Reconciler, Reconciliation, SettlementError, is_sale,
};
use crossdock_store::{
    NewJob, NewResidual, NewSettlement, OrderRole, SettlementImport, SettlementRowRecord, Store,
    StoreError, settlement_key,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::known::StoreOrders;
use super::view::{SettlementView, settlement_view};
use crate::steps::{JobPayload, Step, settlement_entity_key};

/// A settlement file to import.
#[derive(Debug, Clone, Copy)]
pub struct ImportRequest<'a> {
    pub format: SettlementFormat,
    /// The report (Amazon V2 TSV, Shopify payout JSON, Walmart recon CSV).
    pub file: &'a [u8],
    /// Shopify: the payout's balance transactions (JSON).
    pub transactions: Option<&'a [u8]>,
    /// The channel it belongs to; the format's marketplace by default.
    pub channel: Option<&'a str>,
    /// Now (ms), from the caller's clock.
    pub now: i64,
}

/// Whether the import stored the settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    Imported,
    /// The store already held it (same channel and settlement id, whatever
    /// the file's layout): nothing was written.
    AlreadyImported,
}

/// What an import did, with the settlement as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportReport {
    pub outcome: ImportOutcome,
    #[serde(flatten)]
    pub settlement: SettlementView,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read: nothing of it is stored.
    #[error("{0}")]
    File(#[from] SettlementError),
    #[error("a Shopify payout needs its balance transactions (--transactions FILE)")]
    NoTransactions,
    #[error("{what} is not UTF-8: {error}")]
    NotText { what: &'static str, error: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A format by the name the CLI and the API take (`amazon-v2`,
/// `shopify-payout`, `walmart-recon`; `_` for `-` too).
pub fn format_named(name: &str) -> Option<SettlementFormat> {
    match name.replace('_', "-").as_str() {
        "amazon-v2" => Some(SettlementFormat::AmazonV2),
        "shopify-payout" => Some(SettlementFormat::ShopifyPayout),
        "walmart-recon" => Some(SettlementFormat::WalmartRecon),
        _ => None,
    }
}

fn text<'a>(bytes: &'a [u8], what: &'static str) -> Result<&'a str, ImportError> {
    std::str::from_utf8(bytes).map_err(|e| ImportError::NotText {
        what,
        error: e.to_string(),
    })
}

/// What reading a file kept: the reconciler's sums, each row's record for
/// the store (the rows themselves are dropped as they are read), and the
/// channel orders with their roles.
struct Read {
    header: SettlementHeader,
    reconciler: Reconciler,
    records: Records,
    orders: BTreeSet<(String, OrderRole)>,
}

/// Every row's record for the store, compact: a file of 700,000 rows
/// repeats a few dozen keys and one order id per handful of rows, so each
/// is held once and a row is ~40 bytes (as `SettlementRowRecord`s they were
/// ~200 bytes a row, ~140 MB for a 100 MB file). The store asks for the
/// records one at a time ([`Records::iter`]) as it writes them in chunks.
#[derive(Default)]
struct Records {
    rows: Vec<CompactRow>,
    keys: Interned,
    orders: Interned,
}

struct CompactRow {
    line: u64,
    category: Category,
    key: u32,
    order: Option<u32>,
    amount: rust_decimal::Decimal,
}

/// Distinct strings, each held once, by number.
#[derive(Default)]
struct Interned {
    all: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interned {
    fn intern(&mut self, s: String) -> u32 {
        if let Some(&n) = self.index.get(&s) {
            return n;
        }
        let n = u32::try_from(self.all.len()).unwrap_or(u32::MAX);
        self.all.push(s.clone());
        self.index.insert(s, n);
        n
    }

    fn get(&self, n: u32) -> &str {
        self.all.get(n as usize).map_or("", String::as_str)
    }
}

impl Records {
    fn push(&mut self, row: SettlementRow) {
        let key = self.keys.intern(row.key());
        let order = row.order_id.map(|o| self.orders.intern(o));
        self.rows.push(CompactRow {
            line: row.line,
            category: row.category,
            key,
            order,
            amount: row.amount,
        });
    }

    fn iter(&self) -> impl ExactSizeIterator<Item = SettlementRowRecord> + Send + '_ {
        self.rows.iter().map(|r| SettlementRowRecord {
            line: i64::try_from(r.line).unwrap_or(i64::MAX),
            category: r.category.as_str().to_owned(),
            key: self.keys.get(r.key).to_owned(),
            order_ref: r.order.map(|o| self.orders.get(o).to_owned()),
            amount: r.amount,
        })
    }
}

/// Read every row of the file (all or nothing), streaming it through the
/// reconciler.
fn read(req: &ImportRequest<'_>, channel: &str) -> Result<Read, ImportError> {
    let mut reconciler = Reconciler::new(req.format);
    let mut records = Records::default();
    let mut orders = BTreeSet::new();
    let sink = |row: SettlementRow| {
        reconciler.push(&row);
        if let Some(order) = &row.order_id {
            let role = if row.category == Category::Refunds {
                OrderRole::Refunded
            } else {
                OrderRole::Sold
            };
            if is_sale(req.format, &row.transaction_type) || role == OrderRole::Refunded {
                orders.insert((order.clone(), role));
            }
        }
        records.push(row);
    };
    let header = match req.format {
        SettlementFormat::AmazonV2 => {
            crossdock_settlement::read_amazon_v2(req.file, channel, sink)?
        }
        SettlementFormat::WalmartRecon => {
            crossdock_settlement::read_walmart_recon(req.file, channel, sink)?
        }
        SettlementFormat::ShopifyPayout => {
            let transactions = req.transactions.ok_or(ImportError::NoTransactions)?;
            crossdock_settlement::read_shopify_payout(
                text(req.file, "the payout")?,
                text(transactions, "the transactions")?,
                channel,
                sink,
            )?
        }
    };
    Ok(Read {
        header,
        reconciler,
        records,
        orders,
    })
}

/// Import a settlement file; see the module's documentation.
pub async fn import_settlement(
    store: &Store,
    req: &ImportRequest<'_>,
) -> Result<ImportReport, ImportError> {
    let channel = req.channel.unwrap_or(req.format.marketplace());
    let read = read(req, channel)?;
    let header = &read.header;
    let key = settlement_key(&header.channel, &header.settlement_id);
    if let Some(held) = store.settlement(&key).await? {
        return Ok(ImportReport {
            outcome: ImportOutcome::AlreadyImported,
            settlement: settlement_view(store, &held).await?,
        });
    }
    let order_refs: Vec<String> = read.reconciler.order_ids().map(str::to_owned).collect();
    let ends_at = header.period_end.map(|t| t.timestamp_millis());
    let known = StoreOrders::load(store, &header.channel, &key, ends_at, &order_refs).await?;
    let options = ReconcileOptions {
        previous_reserve_current: known.previous_reserve(),
        ..ReconcileOptions::default()
    };
    let Reconciliation { summary, journals } = read.reconciler.finish(header, &known, &options);
    let new = new_settlement(header, read.orders, summary, journals, req.now)?;
    let (outcome, stored) = match store
        .import_settlement_rows(&new, read.records.iter())
        .await?
    {
        SettlementImport::Imported(s) => (ImportOutcome::Imported, s),
        // Another import of the same settlement won the race.
        SettlementImport::AlreadyImported(s) => (ImportOutcome::AlreadyImported, s),
    };
    Ok(ImportReport {
        outcome,
        settlement: settlement_view(store, &stored).await?,
    })
}

fn new_settlement(
    header: &SettlementHeader,
    orders: BTreeSet<(String, OrderRole)>,
    mut summary: crossdock_model::SettlementSummary,
    journals: Vec<Journal>,
    now: i64,
) -> Result<NewSettlement, ImportError> {
    let key = settlement_key(&header.channel, &header.settlement_id);
    // The residuals move to the ledger table and leave the stored summary:
    // the view reads them from the ledger (where resolutions are), and a
    // settlement of unknown orders can carry hundreds of thousands of them,
    // which as a JSON tree in the summary cost far more memory than the rows.
    let residuals = std::mem::take(&mut summary.residuals)
        .into_iter()
        .map(|r| NewResidual {
            line: r.line.and_then(|l| i64::try_from(l).ok()),
            reason: serde_json::to_value(r.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            key: Some(r.key),
            order_ref: r.order_id,
            amount: r.amount,
            detail: r.detail,
        })
        .collect();
    Ok(NewSettlement {
        channel: header.channel.clone(),
        settlement_id: header.settlement_id.clone(),
        format: header.format.as_str().to_owned(),
        currency: header.currency.as_str().to_owned(),
        deposit_total: header.deposit_total,
        starts_at: header.period_start.map(|t| t.timestamp_millis()),
        ends_at: header.period_end.map(|t| t.timestamp_millis()),
        deposit_date: header.deposit_date.map(|d| d.to_string()),
        current_reserve: Some(summary.reserve.current),
        summary: serde_json::to_value(&summary)
            .map_err(|e| StoreError::Corrupt(format!("settlement {key} summary: {e}")))?,
        // Streamed from the compact records by `import_settlement_rows`.
        rows: Vec::new(),
        orders: orders.into_iter().collect(),
        residuals,
        jobs: if journals.is_empty() {
            Vec::new()
        } else {
            vec![NewJob {
                entity_key: settlement_entity_key(&key),
                step: Step::PostSettlement.as_str().to_owned(),
                payload: JobPayload::settlement(&key).to_value(),
                run_at: now,
            }]
        },
        journals,
        imported_at: now,
    })
}
