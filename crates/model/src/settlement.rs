//! Marketplace settlements (payouts) in canonical form: what a settlement
//! report says (`Settlement`, one `SettlementRow` per amount component),
//! how it reads (`Category`, one taxonomy for every channel), what it
//! explains and what it does not (`SettlementSummary`, `Residual`), and
//! how it is posted (`Journal`).
//!
//! The one equation every settlement keeps, checked by
//! `SettlementSummary::unexplained`: Σ`categories` + Σ`residuals` =
//! `deposit_total`. `categories` hold the money the hub explained (matched
//! to an order, a fee type, the reserve, …); a `Residual` holds money it
//! could not explain (an unmapped key, an unknown order, an amount that
//! differs from the invoice, a reserve gap, a payout that does not add up),
//! with the source line, until an operator resolves it. Amounts are exact
//! decimals serialized as strings; ids are strings.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// The report format a settlement was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementFormat {
    /// Amazon `GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2` (tab-separated).
    AmazonV2,
    /// Shopify Payments payout and its balance transactions.
    ShopifyPayout,
    /// Walmart reconciliation report v1 (CSV).
    WalmartRecon,
}

impl SettlementFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            SettlementFormat::AmazonV2 => "amazon_v2",
            SettlementFormat::ShopifyPayout => "shopify_payout",
            SettlementFormat::WalmartRecon => "walmart_recon",
        }
    }

    /// The marketplace the format belongs to, the default `channel`.
    pub fn marketplace(&self) -> &'static str {
        match self {
            SettlementFormat::AmazonV2 => "amazon",
            SettlementFormat::ShopifyPayout => "shopify",
            SettlementFormat::WalmartRecon => "walmart",
        }
    }
}

/// What a settlement report declares about itself (Amazon's summary row,
/// Shopify's payout object, Walmart's `Total Payable` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementHeader {
    /// The channel's settlement id (Amazon `settlement-id`, never the report
    /// id; Shopify payout id; Walmart report period). Imports dedupe on it.
    pub settlement_id: String,
    /// The channel connection (or marketplace) the settlement belongs to.
    pub channel: String,
    pub format: SettlementFormat,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit_date: Option<NaiveDate>,
    /// The amount paid out, as the report declares it.
    #[schemars(with = "String")]
    pub deposit_total: Decimal,
}

/// A whole settlement in memory. Large files are read row by row instead
/// (the parsers stream); this is the shape for the store and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Settlement {
    #[serde(flatten)]
    pub header: SettlementHeader,
    pub rows: Vec<SettlementRow>,
}

/// One amount component of a settlement report: Amazon's data rows as
/// they are; a Shopify balance transaction gives one row for its amount
/// and one for its fee; a Walmart line row as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementRow {
    /// 1-based line number in the source file (the header is line 1).
    pub line: u64,
    /// Raw `transaction-type` (Amazon), `type` (Shopify), `Transaction Type` (Walmart).
    pub transaction_type: String,
    /// Raw `amount-type` (Amazon), `amount` or `fee` (Shopify), `Amount Type` (Walmart).
    pub amount_type: String,
    /// Raw `amount-description` (Amazon), `source_type` (Shopify),
    /// `Transaction Description` (Walmart).
    pub description: String,
    /// The channel's order id, when the row belongs to an order (never an
    /// FBA shipment id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The source's own key of the row or its group: Amazon `shipment-id`
    /// or `adjustment-id`, Shopify balance transaction id, Walmart
    /// `Transaction Key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// Signed from the seller's side: money to the seller is positive.
    #[schemars(with = "String")]
    pub amount: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_on: Option<NaiveDate>,
    pub category: Category,
    /// False when the row's key is not in the taxonomy: it is kept with its
    /// raw strings, counted as a `Residual` (`unmapped_type`).
    pub mapped: bool,
}

impl SettlementRow {
    /// The classification key, `transaction-type/amount-type/description`.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.transaction_type, self.amount_type, self.description
        )
    }
}

/// The one settlement taxonomy. Amazon reads as `principal`, `shipping`,
/// `tax`, `fees`, `promotions`, `refunds`, `reserve`, `other`; Shopify and
/// Walmart as `charges`, `fees`, `refunds`, `adjustments`, `disputes`,
/// `reserve`, `other` (Walmart's sale rows split into `principal`,
/// `shipping`, `tax` where its amount type says so).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Principal,
    Shipping,
    Tax,
    Fees,
    Promotions,
    Refunds,
    Reserve,
    Charges,
    Adjustments,
    Disputes,
    Other,
}

impl Category {
    pub const ALL: [Category; 11] = [
        Category::Principal,
        Category::Shipping,
        Category::Tax,
        Category::Fees,
        Category::Promotions,
        Category::Refunds,
        Category::Reserve,
        Category::Charges,
        Category::Adjustments,
        Category::Disputes,
        Category::Other,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Principal => "principal",
            Category::Shipping => "shipping",
            Category::Tax => "tax",
            Category::Fees => "fees",
            Category::Promotions => "promotions",
            Category::Refunds => "refunds",
            Category::Reserve => "reserve",
            Category::Charges => "charges",
            Category::Adjustments => "adjustments",
            Category::Disputes => "disputes",
            Category::Other => "other",
        }
    }
}

/// Why an amount is not explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResidualReason {
    /// The row's key is not in the taxonomy.
    UnmappedType,
    /// The row names an order the hub does not know.
    OrderNotFound,
    /// The order's settled amount differs from its invoice.
    AmountDiffers,
    /// This settlement's released reserve is not minus the last one's held reserve.
    ReserveGap,
    /// The declared payout differs from the sum of its transactions (Shopify).
    PayoutSumMismatch,
    /// A marketplace-facilitator order whose collected and withheld tax do not net to zero.
    TaxNotNetted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResidualStatus {
    Open,
    Resolved,
}

/// How a residual was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    /// Its key was mapped to a category.
    Mapped,
    /// It was matched to an order or invoice.
    Matched,
    WrittenOff,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Resolution {
    pub kind: ResolutionKind,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An amount of a settlement the hub could not explain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Residual {
    /// The source line (the first, when the amount spans several rows);
    /// none for a settlement-level residual (payout sum mismatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The classification key of the row(s), or what the amount is about.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The category the amount belongs to once resolved.
    pub category: Category,
    #[schemars(with = "String")]
    pub amount: Decimal,
    pub reason: ResidualReason,
    /// Human-readable detail (declared vs computed, invoice vs settled).
    pub detail: String,
    pub status: ResidualStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// Tax in a settlement, by regime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaxSummary {
    /// Tax the marketplace collected from buyers (all orders).
    #[schemars(with = "String")]
    pub collected: Decimal,
    /// Tax the marketplace withheld as facilitator (negative).
    #[schemars(with = "String")]
    pub withheld: Decimal,
    /// Collected tax the seller owes (merchant-collected orders).
    #[schemars(with = "String")]
    pub merchant_liability: Decimal,
}

/// Reserve movements: `previous` released (+), `current` held (−).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReserveSummary {
    #[schemars(with = "String")]
    pub previous: Decimal,
    #[schemars(with = "String")]
    pub current: Decimal,
    /// Minus the last settlement's `current`, when it is known: what
    /// `previous` should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub expected_previous: Option<Decimal>,
}

/// Where a settlement is: imported → posted (journal in the ERP) →
/// deposited (matched to a bank line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    Imported,
    Posted,
    Deposited,
}

/// A settlement explained: the JSON of `settlement import` and `show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementSummary {
    pub settlement_id: String,
    pub channel: String,
    pub format: SettlementFormat,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit_date: Option<NaiveDate>,
    #[schemars(with = "String")]
    pub deposit_total: Decimal,
    /// Explained money by category name (`Category::as_str`); every
    /// category of the settlement's channel is present, zero or not.
    #[schemars(with = "BTreeMap<String, String>")]
    pub categories: BTreeMap<String, Decimal>,
    /// `other` itemised by classification key.
    #[schemars(with = "BTreeMap<String, String>")]
    pub other_items: BTreeMap<String, Decimal>,
    /// Fees by type (the row's description), refunded fees included.
    #[schemars(with = "BTreeMap<String, String>")]
    pub fees_by_type: BTreeMap<String, Decimal>,
    /// Distinct orders with order rows (a split shipment is one order).
    pub orders_count: u64,
    pub order_ids: Vec<String>,
    /// Units sold (quantity on principal rows).
    pub units: i64,
    /// Every order with money in the settlement (sales, fees, refunds of
    /// orders sold earlier), with its net.
    #[schemars(with = "BTreeMap<String, String>")]
    pub net_per_order: BTreeMap<String, Decimal>,
    /// Refunds by order, the order sold in this settlement or earlier.
    #[schemars(with = "BTreeMap<String, String>")]
    pub refunds_by_order: BTreeMap<String, Decimal>,
    pub tax: TaxSummary,
    pub reserve: ReserveSummary,
    pub residuals: Vec<Residual>,
    /// Number of amount rows read.
    pub rows: u64,
    pub status: SettlementStatus,
}

impl SettlementSummary {
    /// `deposit_total` − Σ`categories` − Σ`residuals`: zero for every
    /// settlement the hub produced (the residual ledger's invariant).
    pub fn unexplained(&self) -> Decimal {
        let categories: Decimal = self.categories.values().copied().sum();
        let residuals: Decimal = self.residuals.iter().map(|r| r.amount).sum();
        self.deposit_total - categories - residuals
    }

    /// Σ of the open residuals: what the journal posts to suspense.
    pub fn open_residuals(&self) -> Decimal {
        self.residuals
            .iter()
            .filter(|r| r.status == ResidualStatus::Open)
            .map(|r| r.amount)
            .sum()
    }
}

/// The account a journal line posts to, by role; the ERP connection maps
/// each role to its chart of accounts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JournalAccount {
    /// The deposit.
    Bank,
    /// Per matched order: what the buyer paid less refunds (the invoice's
    /// receivable, settled).
    Receivable,
    /// Marketplace fees, one line per fee type.
    Fees,
    /// Marketplace-facilitator tax: collected and withheld, netting to zero.
    MarketplaceFacilitatorClearing,
    /// Reserve held by the marketplace (an asset).
    Reserve,
    /// Other income and expense (subscription, storage, adjustments, …), by key.
    Other,
    /// Open residuals.
    Suspense,
    /// Carries a month's balance to the deposit month when a settlement
    /// spans two months.
    SettlementClearing,
}

/// One line of a journal: exactly one of `debit` and `credit` is non-zero
/// (both zero only for a zero amount).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JournalLine {
    pub account: JournalAccount,
    /// The order (receivable lines), fee type or key the line is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[schemars(with = "String")]
    pub debit: Decimal,
    #[schemars(with = "String")]
    pub credit: Decimal,
    pub memo: String,
}

/// One balanced journal of a settlement: one per settlement, or one per
/// calendar month when the settlement's rows span two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Journal {
    pub settlement_id: String,
    /// `settlement:<channel>:<settlement_id>:<YYYY-MM>`: how the ERP finds
    /// the journal again after a crash.
    pub reference: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The posting date: the deposit date in its month, else the month's last row date.
    pub date: NaiveDate,
    pub currency: Currency,
    pub lines: Vec<JournalLine>,
}

impl Journal {
    pub fn debits(&self) -> Decimal {
        self.lines.iter().map(|l| l.debit).sum()
    }

    pub fn credits(&self) -> Decimal {
        self.lines.iter().map(|l| l.credit).sum()
    }

    pub fn is_balanced(&self) -> bool {
        self.debits() == self.credits()
    }
}
