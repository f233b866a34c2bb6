//! Settlements: what the account sold (each confirmed package, once), what
//! it charged (commission per item, a reserve held back and released next
//! time) and what it withheld (marketplace-facilitator tax), as the V2 flat
//! file `GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`: tab-separated, 24
//! columns by header, the summary row first, one row per amount.
//!
//! Amazon cannot be asked for a settlement; it closes them. Here one closes
//! on `POST /sim/settlements/close`, or by itself every
//! `settlement_period_secs` when something shipped. They are listed by
//! `getReports` (Reports 2021-06-30) with a report document behind a
//! presigned URL (`getReportDocument`; uncompressed: no
//! `compressionAlgorithm`), and at `GET /sim/settlements[/{id}]` for tests.
//! Every settlement also carries the two planted entries of
//! `marketplace::settlement` (an unknown fee type, an order never sold
//! here), listed under `planted` in the settlement's summary.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::state::{AmazonSim, AmazonState, Document, Settlement};
use super::wire::{Pairs, bad_input, iso, single, sp_error};
use crate::marketplace::settlement::{
    PLANTED_FEE, PLANTED_FEE_AMOUNT, PLANTED_ORDER_PRINCIPAL, RESERVE_RATE, cents, commission,
    planted_order_id, share,
};
use crate::wire::lock;

pub(super) const REPORT_TYPE: &str = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2";
const CONTENT_TYPE: &str = "text/tab-separated-values;charset=UTF-8";

/// The 23 documented columns and the 24th real files carry.
const COLUMNS: [&str; 24] = [
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "deposit-date",
    "total-amount",
    "currency",
    "transaction-type",
    "order-id",
    "merchant-order-id",
    "adjustment-id",
    "shipment-id",
    "marketplace-name",
    "amount-type",
    "amount-description",
    "amount",
    "fulfillment-id",
    "posted-date",
    "posted-date-time",
    "order-item-code",
    "merchant-order-item-id",
    "merchant-adjustment-item-id",
    "sku",
    "quantity-purchased",
    "promotion-id",
];

/// One amount row: the columns after the summary's six.
#[derive(Default)]
struct Row {
    transaction_type: &'static str,
    order_id: String,
    shipment_id: String,
    amount_type: &'static str,
    description: String,
    amount: Decimal,
    fulfillment: &'static str,
    item_code: String,
    sku: String,
    quantity: Option<u32>,
    promotion_id: String,
}

/// Amazon's settlement date form (`2026-08-29 06:30:00 UTC`).
fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

impl AmazonSim {
    /// Closes settlements whose period ran out (`settlement_period_secs`).
    pub(super) fn close_due_settlements(&self, state: &mut AmazonState) {
        let period = self.config.settlement_period_secs;
        if period == 0 {
            return;
        }
        // The first period runs from the account's first settlement check.
        let since = *state.last_settled_at.get_or_insert_with(Instant::now);
        let due = since.elapsed().as_secs() >= period;
        if due && self.unsettled_packages(state) > 0 {
            self.close_settlement(state);
        }
    }

    fn unsettled_packages(&self, state: &AmazonState) -> usize {
        state
            .orders
            .values()
            .flat_map(|o| o.packages.keys().map(move |p| (o.id.clone(), p.clone())))
            .filter(|key| !state.settled_packages.contains(key))
            .count()
    }

    /// Settles every package not settled yet, plus the reserve and the
    /// planted entries; returns the new settlement's index.
    pub(super) fn close_settlement(&self, state: &mut AmazonState) -> usize {
        let now = self.now();
        let start = state
            .settlements
            .last()
            .map_or(now - chrono::Duration::days(14), |s| s.end);
        state.next_settlement += 1;
        let number = state.next_settlement;
        let settlement_id = format!("{}", 11_000_000_000u64 + number);
        let mut rows = Vec::new();
        let mut sales = Decimal::ZERO;
        let orders: Vec<String> = state.orders.keys().cloned().collect();
        for order_id in orders {
            let packages: Vec<String> = state.orders[&order_id]
                .packages
                .keys()
                .filter(|p| {
                    !state
                        .settled_packages
                        .contains(&(order_id.clone(), (*p).clone()))
                })
                .cloned()
                .collect();
            for package in packages {
                let order = &state.orders[&order_id];
                for (item_id, units) in &order.packages[&package].items {
                    let Some(item) = order.items.iter().find(|i| &i.id == item_id) else {
                        continue;
                    };
                    let key = (order_id.clone(), item_id.clone());
                    let before = state.settled_units.get(&key).copied().unwrap_or(0);
                    let part = |amount| share(amount, before, *units, item.quantity);
                    let principal = part(item.price);
                    sales += principal;
                    let base = Row {
                        transaction_type: "Order",
                        order_id: order_id.clone(),
                        shipment_id: package.clone(),
                        fulfillment: "MFN",
                        item_code: item_id.clone(),
                        sku: item.sku.clone(),
                        ..Row::default()
                    };
                    let row = |amount_type, description: &str, amount| Row {
                        amount_type,
                        description: description.to_owned(),
                        amount,
                        ..base.clone_keys()
                    };
                    rows.push(Row {
                        quantity: Some(*units),
                        ..row("ItemPrice", "Principal", principal)
                    });
                    rows.push(row("ItemPrice", "Shipping", part(item.shipping)));
                    let tax = part(item.tax);
                    rows.push(row("ItemPrice", "Tax", tax));
                    // Amazon collects and remits the tax as marketplace facilitator.
                    rows.push(row(
                        "ItemWithheldTax",
                        "MarketplaceFacilitatorTax-Principal",
                        -tax,
                    ));
                    let discount = part(item.discount);
                    if !discount.is_zero() {
                        rows.push(Row {
                            promotion_id: format!("SIM-PROMO-{}", item.sku),
                            ..row("Promotion", "Principal", -discount)
                        });
                    }
                    rows.push(row("ItemFees", "Commission", commission(principal)));
                }
                state
                    .settled_packages
                    .insert((order_id.clone(), package.clone()));
                let order = &state.orders[&order_id];
                for (item_id, units) in &order.packages[&package].items {
                    *state
                        .settled_units
                        .entry((order_id.clone(), item_id.clone()))
                        .or_default() += units;
                }
            }
        }
        // Planted: an order the hub never saw, and a fee type nobody knows.
        let planted_order = planted_order_id(|n| format!("999-{n:07}-{:07}", number), number);
        let planted = Row {
            transaction_type: "Order",
            order_id: planted_order.clone(),
            shipment_id: format!("SIM-PLANTED-{number}"),
            fulfillment: "MFN",
            item_code: format!("{number:014}"),
            sku: "SKU-PLANTED".into(),
            ..Row::default()
        };
        rows.push(Row {
            amount_type: "ItemPrice",
            description: "Principal".into(),
            amount: PLANTED_ORDER_PRINCIPAL,
            quantity: Some(1),
            ..planted.clone_keys()
        });
        rows.push(Row {
            amount_type: "ItemFees",
            description: "Commission".into(),
            amount: commission(PLANTED_ORDER_PRINCIPAL),
            ..planted.clone_keys()
        });
        let account_row = |description: &str, amount_type, amount| Row {
            transaction_type: "other-transaction",
            amount_type,
            description: description.to_owned(),
            amount,
            ..Row::default()
        };
        rows.push(account_row(PLANTED_FEE, PLANTED_FEE, PLANTED_FEE_AMOUNT));
        // The reserve: last time's released, a share of this time's held.
        if !state.reserve_held.is_zero() {
            rows.push(account_row(
                "Previous Reserve Amount Balance",
                "other-transaction",
                state.reserve_held,
            ));
        }
        let held = cents(sales * RESERVE_RATE);
        if !held.is_zero() {
            rows.push(account_row(
                "Current Reserve Amount",
                "other-transaction",
                -held,
            ));
        }
        state.reserve_held = held;
        rows.retain(|r| !r.amount.is_zero());

        let total: Decimal = rows.iter().map(|r| r.amount).sum();
        let tsv = write_tsv(
            &settlement_id,
            start,
            now,
            total,
            &self.config.currency,
            &rows,
        );
        let document_id = format!("amzn1.spdoc.1.4.na.sim-{settlement_id}");
        state.documents.insert(
            document_id.clone(),
            Document {
                content_type: CONTENT_TYPE.into(),
                // Signed when `getReportDocument` hands out a URL.
                signature: String::new(),
                expires: Instant::now(),
                content: Some(tsv.clone().into_bytes()),
            },
        );
        state.settlements.push(Settlement {
            id: settlement_id,
            start,
            end: now,
            total,
            rows: rows.len(),
            report_id: format!("{}", 50_000_000_000u64 + number),
            document_id,
            tsv,
            planted_order,
        });
        state.last_settled_at = Some(Instant::now());
        state.counters.settlements_closed += 1;
        state.settlements.len() - 1
    }
}

impl Row {
    /// The identifying columns, for the next amount of the same item.
    fn clone_keys(&self) -> Row {
        Row {
            transaction_type: self.transaction_type,
            order_id: self.order_id.clone(),
            shipment_id: self.shipment_id.clone(),
            fulfillment: self.fulfillment,
            item_code: self.item_code.clone(),
            sku: self.sku.clone(),
            ..Row::default()
        }
    }
}

fn write_tsv(
    id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    total: Decimal,
    currency: &str,
    rows: &[Row],
) -> String {
    let mut out = COLUMNS.join("\t");
    out.push('\n');
    let deposit = end + chrono::Duration::days(2);
    let mut summary = vec![
        id.to_owned(),
        when(start),
        when(end),
        when(deposit),
        total.to_string(),
        currency.to_owned(),
    ];
    summary.resize(COLUMNS.len(), String::new());
    out.push_str(&summary.join("\t"));
    out.push('\n');
    let posted_date = end.format("%Y-%m-%d").to_string();
    let posted_time = when(end);
    for r in rows {
        let marketplace = if r.order_id.is_empty() {
            ""
        } else {
            "Amazon.com"
        };
        let quantity = r.quantity.map(|q| q.to_string()).unwrap_or_default();
        let amount = r.amount.to_string();
        let fields: [&str; 24] = [
            id,
            "",
            "",
            "",
            "",
            "",
            r.transaction_type,
            r.order_id.as_str(),
            "",
            "",
            r.shipment_id.as_str(),
            marketplace,
            r.amount_type,
            r.description.as_str(),
            amount.as_str(),
            r.fulfillment,
            posted_date.as_str(),
            posted_time.as_str(),
            r.item_code.as_str(),
            "",
            "",
            r.sku.as_str(),
            quantity.as_str(),
            r.promotion_id.as_str(),
        ];
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

impl Settlement {
    fn summary(&self, currency: &str) -> Value {
        json!({
            "settlement_id": self.id,
            "report_id": self.report_id,
            "report_document_id": self.document_id,
            "start": iso(self.start),
            "end": iso(self.end),
            "total_amount": self.total.to_string(),
            "currency": currency,
            "rows": self.rows,
            "download": format!("/sim/settlements/{}", self.id),
            "planted": {
                "unknown_fee_type": PLANTED_FEE,
                "unknown_fee_amount": PLANTED_FEE_AMOUNT.to_string(),
                "order_never_sold": self.planted_order,
            },
        })
    }

    fn report(&self, marketplace_id: &str) -> Value {
        json!({
            "reportId": self.report_id,
            "reportType": REPORT_TYPE,
            "dataStartTime": iso(self.start),
            "dataEndTime": iso(self.end),
            "createdTime": iso(self.end),
            "processingStatus": "DONE",
            "processingStartTime": iso(self.end),
            "processingEndTime": iso(self.end),
            "reportDocumentId": self.document_id,
            "marketplaceIds": [marketplace_id],
        })
    }
}

// ---- the test door: /sim/settlements ---------------------------------------

pub(super) async fn list_settlements(State(sim): State<Arc<AmazonSim>>) -> Response {
    let mut state = lock(&sim.state);
    sim.close_due_settlements(&mut state);
    let list: Vec<Value> = state
        .settlements
        .iter()
        .map(|s| s.summary(&sim.config.currency))
        .collect();
    Json(json!({ "settlements": list })).into_response()
}

pub(super) async fn close_settlement_now(State(sim): State<Arc<AmazonSim>>) -> Response {
    let mut state = lock(&sim.state);
    let index = sim.close_settlement(&mut state);
    Json(state.settlements[index].summary(&sim.config.currency)).into_response()
}

pub(super) async fn download_settlement(
    State(sim): State<Arc<AmazonSim>>,
    Path(id): Path<String>,
) -> Response {
    let state = lock(&sim.state);
    match state.settlements.iter().find(|s| s.id == id) {
        Some(s) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            s.tsv.clone(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no settlement {id}") })),
        )
            .into_response(),
    }
}

// ---- Reports 2021-06-30 ---------------------------------------------------------

const REPORTS_PARAMS: [&str; 7] = [
    "reportTypes",
    "processingStatuses",
    "marketplaceIds",
    "pageSize",
    "createdSince",
    "createdUntil",
    "nextToken",
];

/// `getReports`: the settlement reports, newest first, `pageSize` (1..100,
/// default 10) at a time with a `nextToken`. Only settlement reports exist
/// here; a `reportTypes` without them lists nothing.
pub(super) async fn get_reports(
    State(sim): State<Arc<AmazonSim>>,
    Query(pairs): Pairs,
) -> Response {
    match reports_page(&sim, &pairs) {
        Ok(page) => Json(page).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

fn reports_page(
    sim: &AmazonSim,
    pairs: &[(String, String)],
) -> Result<Value, super::wire::Refusal> {
    if let Some((key, _)) = pairs
        .iter()
        .find(|(k, _)| !REPORTS_PARAMS.contains(&k.as_str()))
    {
        return Err(bad_input(format!("Unknown parameter {key}")));
    }
    let next = single(pairs, "nextToken")?;
    let types = single(pairs, "reportTypes")?;
    if types.is_none() && next.is_none() {
        return Err(bad_input("reportTypes or nextToken is required"));
    }
    let page_size = match single(pairs, "pageSize")? {
        None => 10,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| bad_input(format!("Invalid pageSize {v:?}: 1..100")))?,
    };
    let offset = match next {
        None => 0,
        Some(token) => token
            .strip_prefix("sim-reports-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad_input("Invalid nextToken"))?,
    };
    let wanted = types.is_none_or(|t| t.split(',').any(|t| t.trim() == REPORT_TYPE));
    let mut state = lock(&sim.state);
    sim.close_due_settlements(&mut state);
    let reports: Vec<Value> = if wanted {
        state
            .settlements
            .iter()
            .rev()
            .skip(offset)
            .take(page_size)
            .map(|s| s.report(&sim.config.marketplace_id))
            .collect()
    } else {
        Vec::new()
    };
    let mut page = json!({ "reports": reports });
    if wanted && offset + page_size < state.settlements.len() {
        page["nextToken"] = json!(format!("sim-reports-{}", offset + page_size));
    }
    Ok(page)
}

/// `getReportDocument`: a fresh presigned URL to the document each time.
pub(super) async fn get_report_document(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = lock(&sim.state);
    if !state.settlements.iter().any(|s| s.document_id == id) {
        return sp_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("Report document {id} not found"),
        );
    }
    let url = sim.sign_document(&mut state, &id, &headers);
    Json(json!({ "reportDocumentId": id, "url": url })).into_response()
}
