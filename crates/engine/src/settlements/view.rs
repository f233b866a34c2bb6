//! The JSON of `settlement show`, `settlement residuals` and their `/v1`
//! routes: the summary reconciled at import, with the residual ledger and
//! the status as they are now.

use std::collections::BTreeMap;

use crossdock_model::{
    ReserveSummary, ResidualStatus, ResolutionKind, SettlementStatus, TaxSummary,
};
use crossdock_store::{OrderRole, StoreError, StoredResidual, StoredSettlement};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One row of the residual ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResidualView {
    /// `channel:settlement_id:n`: what `resolve` takes.
    pub id: String,
    /// The settlement (`channel:settlement_id`).
    pub settlement: String,
    /// The source line, when the amount has one.
    pub line: Option<i64>,
    /// The row's classification key (or what the amount is about).
    pub key: Option<String>,
    pub order_id: Option<String>,
    #[schemars(with = "String")]
    pub amount: Decimal,
    /// `unmapped_type`, `order_not_found`, `amount_differs`, `reserve_gap`,
    /// `payout_sum_mismatch`, `tax_not_netted`.
    pub reason: String,
    pub detail: String,
    pub status: ResidualStatus,
    pub resolution: Option<ResolutionKind>,
    pub resolved_by: Option<String>,
    /// RFC 3339.
    pub resolved_at: Option<String>,
    /// Why, in the resolver's words.
    pub note: Option<String>,
}

/// A settlement explained: the JSON of `settlement import` and `show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementView {
    pub settlement_id: String,
    pub channel: String,
    /// `channel:settlement_id`, the store's key.
    pub key: String,
    pub format: String,
    pub currency: String,
    #[schemars(with = "String")]
    pub deposit_total: Decimal,
    /// Explained money by category name; every category of the channel is
    /// present, zero or not.
    #[schemars(with = "BTreeMap<String, String>")]
    pub categories: BTreeMap<String, Decimal>,
    /// `other` itemised by classification key.
    #[schemars(with = "BTreeMap<String, String>")]
    pub other_items: BTreeMap<String, Decimal>,
    #[schemars(with = "BTreeMap<String, String>")]
    pub fees_by_type: BTreeMap<String, Decimal>,
    pub orders_count: u64,
    pub order_ids: Vec<String>,
    pub units: i64,
    #[schemars(with = "BTreeMap<String, String>")]
    pub net_per_order: BTreeMap<String, Decimal>,
    #[schemars(with = "BTreeMap<String, String>")]
    pub refunds_by_order: BTreeMap<String, Decimal>,
    /// Each refunded order's sale: the settlement (`channel:settlement_id`)
    /// that carried it, this one or an earlier one; absent when no
    /// settlement the hub holds sold it.
    pub refunds_sold_in: BTreeMap<String, String>,
    pub tax: TaxSummary,
    pub reserve: ReserveSummary,
    pub residuals: Vec<ResidualView>,
    /// Σ of the open residuals (what the ERP's suspense holds).
    #[schemars(with = "String")]
    pub open_residuals: Decimal,
    pub rows: u64,
    pub status: SettlementStatus,
    /// The ERP's ids of the journals posted so far.
    pub journals: Vec<String>,
}

/// A settlement in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettlementListItem {
    pub key: String,
    pub settlement_id: String,
    pub channel: String,
    pub format: String,
    pub currency: String,
    #[schemars(with = "String")]
    pub deposit_total: Decimal,
    pub status: SettlementStatus,
    pub rows: i64,
    /// RFC 3339.
    pub imported_at: String,
}

impl From<&StoredSettlement> for SettlementListItem {
    fn from(s: &StoredSettlement) -> Self {
        SettlementListItem {
            key: s.key.clone(),
            settlement_id: s.settlement_id.clone(),
            channel: s.channel.clone(),
            format: s.format.clone(),
            currency: s.currency.clone(),
            deposit_total: s.deposit_total,
            status: s.status,
            rows: s.row_count,
            imported_at: rfc3339(s.imported_at),
        }
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn residual_views(residuals: &[StoredResidual]) -> Vec<ResidualView> {
    residuals
        .iter()
        .map(|r| ResidualView {
            id: r.id.clone(),
            settlement: r.settlement.clone(),
            line: r.line,
            key: r.key.clone(),
            order_id: r.order_ref.clone(),
            amount: r.amount,
            reason: r.reason.clone(),
            detail: r.detail.clone(),
            status: r.status,
            resolution: r.resolution,
            resolved_by: r.resolved_by.clone(),
            resolved_at: r.resolved_at.map(rfc3339),
            note: r.note.clone(),
        })
        .collect()
}

/// The summary stored at import, read back.
#[derive(Deserialize)]
struct StoredSummary {
    #[serde(default)]
    categories: BTreeMap<String, Decimal>,
    #[serde(default)]
    other_items: BTreeMap<String, Decimal>,
    #[serde(default)]
    fees_by_type: BTreeMap<String, Decimal>,
    #[serde(default)]
    orders_count: u64,
    #[serde(default)]
    order_ids: Vec<String>,
    #[serde(default)]
    units: i64,
    #[serde(default)]
    net_per_order: BTreeMap<String, Decimal>,
    #[serde(default)]
    refunds_by_order: BTreeMap<String, Decimal>,
    #[serde(default)]
    tax: TaxSummary,
    #[serde(default)]
    reserve: ReserveSummary,
    #[serde(default)]
    rows: u64,
}

/// A stored settlement with its ledger and journals as they are now.
pub async fn settlement_view(
    store: &crossdock_store::Store,
    settlement: &StoredSettlement,
) -> Result<SettlementView, StoreError> {
    let summary: StoredSummary = serde_json::from_value(settlement.summary.clone())
        .map_err(|e| StoreError::Corrupt(format!("settlement {} summary: {e}", settlement.key)))?;
    let residuals = store.residuals(Some(&settlement.key), false).await?;
    let journals = store.settlement_journals(&settlement.key).await?;
    let refunded: Vec<String> = summary.refunds_by_order.keys().cloned().collect();
    let mut refunds_sold_in = BTreeMap::new();
    for (order, key, role) in store.settled_orders(&settlement.channel, &refunded).await? {
        // One settlement sells an order; should several, the first by key.
        if role == OrderRole::Sold {
            refunds_sold_in.entry(order).or_insert(key);
        }
    }
    let open_residuals = residuals
        .iter()
        .filter(|r| r.status == ResidualStatus::Open)
        .map(|r| r.amount)
        .sum();
    Ok(SettlementView {
        settlement_id: settlement.settlement_id.clone(),
        channel: settlement.channel.clone(),
        key: settlement.key.clone(),
        format: settlement.format.clone(),
        currency: settlement.currency.clone(),
        deposit_total: settlement.deposit_total,
        categories: summary.categories,
        other_items: summary.other_items,
        fees_by_type: summary.fees_by_type,
        orders_count: summary.orders_count,
        order_ids: summary.order_ids,
        units: summary.units,
        net_per_order: summary.net_per_order,
        refunds_by_order: summary.refunds_by_order,
        refunds_sold_in,
        tax: summary.tax,
        reserve: summary.reserve,
        residuals: residual_views(&residuals),
        open_residuals,
        rows: summary.rows,
        status: settlement.status,
        journals: journals.into_iter().filter_map(|j| j.erp_id).collect(),
    })
}
