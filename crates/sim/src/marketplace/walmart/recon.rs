//! The reconciliation report (v1): what the seller sold (shipped units,
//! each once), what Walmart charged (commission per line) and withheld
//! (product tax, as marketplace facilitator), one CSV per report date with
//! the `PaymentSummary` row's `Total Payable` = Σ `Amount`.
//!
//! A report closes on `POST /sim/settlements/close` (each one gets the next
//! report date, from today: Walmart has one file per date). Served at
//! `GET /v3/report/reconreport/availableReconFiles?reportVersion=v1` and
//! `…/reconFile?reportDate=MMDDYYYY&reportVersion=v1`; the real file is a
//! zip holding the CSV, this one is the CSV itself (`text/csv`). Every
//! report also carries the planted entries of `marketplace::settlement`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::{Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::state::{ReconReport, WalmartSim, WalmartState};
use super::wire::walmart_error;
use crate::marketplace::settlement::{
    PLANTED_FEE, PLANTED_FEE_AMOUNT, PLANTED_ORDER_PRINCIPAL, commission, planted_order_id, share,
};
use crate::wire::lock;

/// The v1 columns, in order (32, with the newer three).
const COLUMNS: [&str; 32] = [
    "Period Start Date",
    "Period End Date",
    "Total Payable",
    "Currency",
    "Transaction Key",
    "Transaction Posted Timestamp",
    "Transaction Type",
    "Transaction Description",
    "Customer Order #",
    "Customer Order line #",
    "Purchase Order #",
    "Purchase Order line #",
    "Amount",
    "Amount Type",
    "Ship Qty",
    "Commission Rate",
    "Base Commission Rate",
    "Transaction Reason Description",
    "Partner Item Id",
    "Partner GTIN",
    "Partner Item Name",
    "Product Tax Code",
    "Ship to State",
    "Ship to City",
    "Ship to Zipcode",
    "Contract Category",
    "Product Type",
    "Commission Rule",
    "Shipping Method",
    "Fulfillment Type",
    "Fulfillment Details",
    "Original Commission",
];

/// One line row: (key, type, description, customer order, po, po line, amount, amount type, qty, sku).
struct Row {
    key: String,
    kind: &'static str,
    description: String,
    customer_order: String,
    po: String,
    po_line: String,
    amount: Decimal,
    amount_type: &'static str,
    quantity: Option<u32>,
    sku: String,
}

/// `MMDDYYYY`, as `availableApReportDates` lists them.
fn report_date(date: NaiveDate) -> String {
    date.format("%m%d%Y").to_string()
}

impl WalmartSim {
    pub(super) fn close_recon(&self, state: &mut WalmartState) -> usize {
        let today = Utc::now().date_naive();
        let date = state
            .recon_reports
            .last()
            .map_or(today, |r| r.date + Duration::days(1));
        let number = state.recon_reports.len() as u64 + 1;
        let mut rows = Vec::new();
        let mut next_key = 0u64;
        let mut key = || {
            next_key += 1;
            format!("SIM{number:04}{next_key:08}")
        };
        for order in state.orders.values() {
            for line in &order.lines {
                let settled_key = (order.purchase_order_id.clone(), line.line_number.clone());
                let before = state.recon_units.get(&settled_key).copied().unwrap_or(0);
                let units = line.shipped_units().saturating_sub(before);
                if units == 0 {
                    continue;
                }
                let part = |amount| share(amount, before, units, line.quantity);
                let principal = part(line.amount);
                let tax = part(line.tax);
                let sale = |amount_type, amount, quantity| Row {
                    key: String::new(),
                    kind: "Sale",
                    description: "Purchase".into(),
                    customer_order: order.customer_order_id.clone(),
                    po: order.purchase_order_id.clone(),
                    po_line: line.line_number.clone(),
                    amount,
                    amount_type,
                    quantity,
                    sku: line.sku.clone(),
                };
                let mut lines = vec![
                    sale("Product Price", principal, Some(units)),
                    sale("Product tax", tax, None),
                    // Walmart collects and remits as marketplace facilitator.
                    sale("Product tax withheld", -tax, None),
                    sale("Commission on Product", commission(principal), None),
                ];
                if let Some((shipping, shipping_tax)) = line.shipping.filter(|_| before == 0) {
                    lines.push(sale("Shipping Price", shipping, None));
                    lines.push(sale("Shipping tax", shipping_tax, None));
                    lines.push(sale("Shipping tax withheld", -shipping_tax, None));
                }
                for mut row in lines {
                    row.key = key();
                    rows.push(row);
                }
            }
        }
        for order in state.orders.values() {
            for line in &order.lines {
                state.recon_units.insert(
                    (order.purchase_order_id.clone(), line.line_number.clone()),
                    line.shipped_units(),
                );
            }
        }
        // Planted: a PO the seller never had, and a transaction type nobody knows.
        let planted_order = planted_order_id(|n| format!("{n:013}"), number);
        for (amount_type, amount, quantity) in [
            ("Product Price", PLANTED_ORDER_PRINCIPAL, Some(1)),
            (
                "Commission on Product",
                commission(PLANTED_ORDER_PRINCIPAL),
                None,
            ),
        ] {
            rows.push(Row {
                key: key(),
                kind: "Sale",
                description: "Purchase".into(),
                customer_order: planted_order.clone(),
                po: planted_order.clone(),
                po_line: "1".into(),
                amount,
                amount_type,
                quantity,
                sku: "SKU-PLANTED".into(),
            });
        }
        rows.push(Row {
            key: key(),
            kind: PLANTED_FEE,
            description: PLANTED_FEE.into(),
            customer_order: String::new(),
            po: String::new(),
            po_line: String::new(),
            amount: PLANTED_FEE_AMOUNT,
            amount_type: "Fee/Reimbursement",
            quantity: None,
            sku: String::new(),
        });
        rows.retain(|r| !r.amount.is_zero());
        let total: Decimal = rows.iter().map(|r| r.amount).sum();
        let csv = write_csv(date, total, &self.config.currency, &rows);
        state.recon_reports.push(ReconReport {
            date,
            total,
            rows: rows.len(),
            csv,
            planted_order,
        });
        state.recon_reports.len() - 1
    }
}

/// A CSV field, quoted when it must be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn write_csv(date: NaiveDate, total: Decimal, currency: &str, rows: &[Row]) -> String {
    let day = |d: NaiveDate| d.format("%-m/%-d/%Y").to_string();
    let start = day(date - Duration::days(1));
    let end = day(date);
    let mut out = COLUMNS.join(",");
    out.push('\n');
    let mut summary = vec![String::new(); COLUMNS.len()];
    summary[0] = start.clone();
    summary[1] = end.clone();
    summary[2] = total.to_string();
    summary[3] = currency.to_owned();
    summary[6] = "PaymentSummary".into();
    out.push_str(&summary.join(","));
    out.push('\n');
    for r in rows {
        let mut cells = vec![String::new(); COLUMNS.len()];
        cells[0] = start.clone();
        cells[1] = end.clone();
        cells[3] = currency.to_owned();
        cells[4] = r.key.clone();
        cells[5] = end.clone();
        cells[6] = r.kind.to_owned();
        cells[7] = r.description.clone();
        cells[8] = r.customer_order.clone();
        cells[9] = r.po_line.clone();
        cells[10] = r.po.clone();
        cells[11] = r.po_line.clone();
        cells[12] = r.amount.to_string();
        cells[13] = r.amount_type.to_owned();
        cells[14] = r.quantity.map(|q| q.to_string()).unwrap_or_default();
        cells[18] = r.sku.clone();
        let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

impl ReconReport {
    fn summary(&self, currency: &str) -> Value {
        json!({
            "settlement_id": report_date(self.date),
            "report_date": report_date(self.date),
            "total_payable": self.total.to_string(),
            "currency": currency,
            "rows": self.rows,
            "download": format!("/v3/report/reconreport/reconFile?reportDate={}&reportVersion=v1", report_date(self.date)),
            "planted": {
                "unknown_fee_type": PLANTED_FEE,
                "unknown_fee_amount": PLANTED_FEE_AMOUNT.to_string(),
                "order_never_sold": self.planted_order,
            },
        })
    }
}

/// The refusal of a request for another report version than v1.
fn not_v1(query: &[(String, String)]) -> Option<Response> {
    match query.iter().find(|(k, _)| k == "reportVersion") {
        Some((_, v)) if v == "v1" => None,
        _ => Some(walmart_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_PARAM.GMP_PAYMENT_API",
            "reportVersion",
            "reportVersion must be v1",
        )),
    }
}

pub(super) async fn available_recon_files(
    State(sim): State<Arc<WalmartSim>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(refusal) = not_v1(&query) {
        return refusal;
    }
    let state = lock(&sim.state);
    let dates: Vec<String> = state
        .recon_reports
        .iter()
        .map(|r| report_date(r.date))
        .collect();
    Json(json!({ "availableApReportDates": dates })).into_response()
}

pub(super) async fn recon_file(
    State(sim): State<Arc<WalmartSim>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(refusal) = not_v1(&query) {
        return refusal;
    }
    let Some((_, wanted)) = query.iter().find(|(k, _)| k == "reportDate") else {
        return walmart_error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_PARAM.GMP_PAYMENT_API",
            "reportDate",
            "reportDate is required (MMDDYYYY)",
        );
    };
    let state = lock(&sim.state);
    match state
        .recon_reports
        .iter()
        .find(|r| report_date(r.date) == *wanted)
    {
        Some(r) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}_{wanted}.csv\"", sim.config.name),
                ),
            ],
            r.csv.clone(),
        )
            .into_response(),
        None => walmart_error(
            StatusCode::NOT_FOUND,
            "CONTENT_NOT_FOUND.GMP_PAYMENT_API",
            "reportDate",
            format!("no reconciliation report for {wanted}"),
        ),
    }
}

// ---- the test door: /sim/settlements ---------------------------------------

pub(super) async fn list_settlements(State(sim): State<Arc<WalmartSim>>) -> Response {
    let state = lock(&sim.state);
    let list: Vec<Value> = state
        .recon_reports
        .iter()
        .map(|r| r.summary(&sim.config.currency))
        .collect();
    Json(json!({ "settlements": list })).into_response()
}

pub(super) async fn close_settlement_now(State(sim): State<Arc<WalmartSim>>) -> Response {
    let mut state = lock(&sim.state);
    let index = sim.close_recon(&mut state);
    Json(state.recon_reports[index].summary(&sim.config.currency)).into_response()
}
