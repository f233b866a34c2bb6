//! Shopify Payments: the balance transactions of what the shop charged
//! (each order, once, when it was placed, less the processing fee) and
//! refunded (each cancelled order, once), paid out together. A payout
//! closes on `POST /sim/settlements/close`. Served as the REST Admin API
//! has them: `shopify_payments/payouts.json`, `payouts/{id}.json` and
//! `balance/transactions.json?payout_id=…`; `GET /sim/settlements` lists
//! them for tests.
//!
//! Arithmetic as Shopify's: per row `net = amount − fee`; the payout's
//! amount is Σ net of its rows; its own `payout` row carries −amount.
//! Every payout also carries the planted entries of
//! `marketplace::settlement`: a row of a type no vocabulary has, and the
//! charge of an order the shop never sold.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use chrono::Utc;
use rust_decimal::{Decimal, dec};
use serde_json::{Value, json};

use super::state::{BalanceTransaction, Payout, ShopifySim, ShopifyState};
use super::wire::{bad_param, money, not_found};
use crate::marketplace::settlement::{
    PLANTED_FEE, PLANTED_FEE_AMOUNT, PLANTED_ORDER_PRINCIPAL, cents, planted_order_id,
};
use crate::wire::lock;

/// Shopify Payments' card rate in the US: 2.9 % + 30¢.
const FEE_RATE: Decimal = dec!(0.029);
const FEE_FIXED: Decimal = dec!(0.30);

fn processing_fee(amount: Decimal) -> Decimal {
    cents(amount * FEE_RATE + FEE_FIXED)
}

impl ShopifySim {
    /// What the buyer paid for order `o`: lines less discounts, tax, shipping.
    fn charged(&self, state: &ShopifyState, order_id: u64) -> Decimal {
        let o = &state.orders[&order_id];
        let lines: Decimal = o
            .lines
            .iter()
            .map(|l| l.price * Decimal::from(l.quantity) - l.discount + l.tax)
            .sum();
        lines + o.shipping
    }

    /// Pays out every charge and refund not paid out yet, with the planted rows.
    pub(super) fn close_payout(&self, state: &mut ShopifyState) -> usize {
        let now = Utc::now();
        let mut rows = Vec::new();
        let ids: Vec<u64> = state.orders.keys().copied().collect();
        let mut rng = lock(&self.base.rng);
        for order_id in ids {
            if state.charged_orders.insert(order_id) {
                let amount = self.charged(state, order_id);
                let processed_at = state.orders[&order_id].created;
                rows.push(BalanceTransaction {
                    id: state.id(&mut rng),
                    kind: "charge",
                    amount,
                    fee: processing_fee(amount),
                    source_order_id: Some(order_id),
                    source_type: "charge",
                    processed_at,
                });
            }
            let cancelled = state.orders[&order_id].cancelled_at;
            if let Some(at) = cancelled
                && state.refunded_orders.insert(order_id)
            {
                let amount = self.charged(state, order_id);
                rows.push(BalanceTransaction {
                    id: state.id(&mut rng),
                    kind: "refund",
                    amount: -amount,
                    fee: Decimal::ZERO,
                    source_order_id: Some(order_id),
                    source_type: "Payments::Refund",
                    processed_at: at,
                });
            }
        }
        state.payouts_closed += 1;
        let number = state.payouts_closed;
        // Beyond the shop's own ids, so the hub cannot have seen it.
        let planted_order = planted_order_id(|n| (1u64 << 60) + n, number);
        rows.push(BalanceTransaction {
            id: state.id(&mut rng),
            kind: "charge",
            amount: PLANTED_ORDER_PRINCIPAL,
            fee: processing_fee(PLANTED_ORDER_PRINCIPAL),
            source_order_id: Some(planted_order),
            source_type: "charge",
            processed_at: now,
        });
        rows.push(BalanceTransaction {
            id: state.id(&mut rng),
            kind: PLANTED_FEE,
            amount: PLANTED_FEE_AMOUNT,
            fee: Decimal::ZERO,
            source_order_id: None,
            source_type: "adjustment",
            processed_at: now,
        });
        let amount: Decimal = rows.iter().map(|r| r.amount - r.fee).sum();
        let id = state.id(&mut rng);
        rows.push(BalanceTransaction {
            id: state.id(&mut rng),
            kind: "payout",
            amount: -amount,
            fee: Decimal::ZERO,
            source_order_id: None,
            source_type: "payout",
            processed_at: now,
        });
        drop(rng);
        state.payouts.push(Payout {
            id,
            date: now,
            amount,
            transactions: rows,
            planted_order,
        });
        state.payouts.len() - 1
    }

    fn payout_json(&self, p: &Payout) -> Value {
        let sum = |kinds: &[&str], pick: fn(&BalanceTransaction) -> Decimal| -> String {
            money(
                p.transactions
                    .iter()
                    .filter(|t| kinds.contains(&t.kind))
                    .map(pick)
                    .sum(),
            )
        };
        let adjustments = [PLANTED_FEE, "adjustment", "dispute"];
        json!({
            "id": p.id,
            "status": "paid",
            "date": p.date.format("%Y-%m-%d").to_string(),
            "currency": self.config.currency,
            "amount": money(p.amount),
            "summary": {
                "charges_gross_amount": sum(&["charge"], |t| t.amount),
                "charges_fee_amount": sum(&["charge"], |t| t.fee),
                "refunds_gross_amount": sum(&["refund"], |t| t.amount),
                "refunds_fee_amount": sum(&["refund"], |t| t.fee),
                "adjustments_gross_amount": sum(&adjustments, |t| t.amount),
                "adjustments_fee_amount": sum(&adjustments, |t| t.fee),
                "reserved_funds_gross_amount": "0.00",
                "reserved_funds_fee_amount": "0.00",
                "retried_payouts_gross_amount": "0.00",
                "retried_payouts_fee_amount": "0.00",
            },
        })
    }

    fn transaction_json(&self, p: &Payout, t: &BalanceTransaction) -> Value {
        json!({
            "id": t.id,
            "type": t.kind,
            "test": false,
            "payout_id": p.id,
            "payout_status": "paid",
            "currency": self.config.currency,
            "amount": money(t.amount),
            "fee": money(t.fee),
            "net": money(t.amount - t.fee),
            "source_id": t.source_order_id.map(|_| t.id),
            "source_type": t.source_type,
            "source_order_id": t.source_order_id,
            "source_order_transaction_id": t.source_order_id.map(|_| t.id),
            "processed_at": t.processed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

// ---- REST Admin API -------------------------------------------------------------

pub(super) async fn list_payouts(State(sim): State<Arc<ShopifySim>>) -> Response {
    let state = lock(&sim.state);
    let payouts: Vec<Value> = state
        .payouts
        .iter()
        .rev()
        .map(|p| sim.payout_json(p))
        .collect();
    Json(json!({ "payouts": payouts })).into_response()
}

pub(super) async fn get_payout(
    State(sim): State<Arc<ShopifySim>>,
    Path(params): Path<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(id) = params
        .get("payout_file")
        .and_then(|f| f.strip_suffix(".json"))
        .and_then(|id| id.parse::<u64>().ok())
    else {
        return not_found();
    };
    let state = lock(&sim.state);
    match state.payouts.iter().find(|p| p.id == id) {
        Some(p) => Json(json!({ "payout": sim.payout_json(p) })).into_response(),
        None => not_found(),
    }
}

/// `balance/transactions.json?payout_id=…`: one payout's rows, oldest first.
pub(super) async fn balance_transactions(
    State(sim): State<Arc<ShopifySim>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut payout_id = None;
    for (key, value) in &query {
        match key.as_str() {
            "payout_id" => match value.parse::<u64>() {
                Ok(id) => payout_id = Some(id),
                Err(_) => return bad_param(StatusCode::BAD_REQUEST, "payout_id", "expected an id"),
            },
            "limit" | "since_id" | "last_id" | "test" | "processed_at" => {}
            other => {
                return bad_param(StatusCode::BAD_REQUEST, other, "unknown parameter");
            }
        }
    }
    let state = lock(&sim.state);
    let rows: Vec<Value> = state
        .payouts
        .iter()
        .filter(|p| payout_id.is_none_or(|id| p.id == id))
        .flat_map(|p| p.transactions.iter().map(move |t| (p, t)))
        .map(|(p, t)| sim.transaction_json(p, t))
        .collect();
    Json(json!({ "transactions": rows })).into_response()
}

// ---- the test door: /sim/settlements ---------------------------------------

pub(super) async fn list_settlements(State(sim): State<Arc<ShopifySim>>) -> Response {
    let state = lock(&sim.state);
    let list: Vec<Value> = state
        .payouts
        .iter()
        .map(|p| sim.settlement_summary(p))
        .collect();
    Json(json!({ "settlements": list })).into_response()
}

pub(super) async fn close_settlement_now(State(sim): State<Arc<ShopifySim>>) -> Response {
    let mut state = lock(&sim.state);
    let index = sim.close_payout(&mut state);
    Json(sim.settlement_summary(&state.payouts[index])).into_response()
}

impl ShopifySim {
    fn settlement_summary(&self, p: &Payout) -> Value {
        json!({
            "settlement_id": p.id.to_string(),
            "payout": self.payout_json(p),
            "transactions": p.transactions.iter().map(|t| self.transaction_json(p, t)).collect::<Vec<_>>(),
            "planted": {
                "unknown_fee_type": PLANTED_FEE,
                "unknown_fee_amount": PLANTED_FEE_AMOUNT.to_string(),
                "order_never_sold": p.planted_order.to_string(),
            },
        })
    }
}
