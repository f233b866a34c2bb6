//! Shopify Payments: a payout (`{"payout": {...}}` or the bare object) and
//! its balance transactions (`{"transactions": [...]}` or a bare array).
//! Both are small JSON documents (a payout has at most a few thousand
//! transactions), read whole; ids and amounts are read from their JSON
//! text, never through a float. Each transaction of the payout gives a row
//! for its `amount` and one for its fee (`−fee`); when `net` is not
//! `amount − fee` the gap is a third, unmapped row, so the rows always sum
//! to Σ`net`. That Σ`net` of the non-`payout` rows differs from the payout
//! amount is not an error here: reconciliation records it as a residual
//! (`payout_sum_mismatch`). Transactions of other payouts are skipped.

use std::collections::HashMap;

use crossdock_model::{Currency, SettlementFormat, SettlementHeader, SettlementRow};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::classify::{SHOPIFY_AMOUNT, SHOPIFY_FEE, SHOPIFY_NET_DIFFERENCE, classify};
use crate::error::SettlementError;
use crate::fields::{parse_amount, parse_timestamp};

#[derive(Deserialize)]
struct Payout<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    amount: &'a RawValue,
    currency: String,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
struct Transaction<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow, default)]
    payout_id: Option<&'a RawValue>,
    #[serde(borrow)]
    amount: &'a RawValue,
    #[serde(borrow, default)]
    fee: Option<&'a RawValue>,
    #[serde(borrow, default)]
    net: Option<&'a RawValue>,
    #[serde(default)]
    source_type: Option<String>,
    #[serde(borrow, default)]
    source_order_id: Option<&'a RawValue>,
    #[serde(default)]
    processed_at: Option<String>,
}

/// The 1-based line of `part` inside `source` (it is a slice of it).
fn line_of(source: &str, part: &str) -> u64 {
    let offset = (part.as_ptr() as usize).saturating_sub(source.as_ptr() as usize);
    let offset = offset.min(source.len());
    1 + source.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
}

/// A JSON scalar's text: a string's contents or a number's digits.
fn scalar(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    if text == "null" {
        return None;
    }
    match serde_json::from_str::<String>(text) {
        Ok(s) => Some(s),
        Err(_) => Some(text.to_owned()),
    }
}

fn json_error(document: &str, e: &serde_json::Error) -> SettlementError {
    SettlementError::Malformed {
        line: e.line() as u64,
        problem: format!("{document}: {e}"),
    }
}

/// `{"key": X}` → X, or the document itself.
fn unwrap_document<'a>(
    source: &'a str,
    key: &str,
    document: &str,
) -> Result<&'a RawValue, SettlementError> {
    let whole: &RawValue = serde_json::from_str(source).map_err(|e| json_error(document, &e))?;
    if whole.get().trim_start().starts_with('{')
        && let Ok(map) = serde_json::from_str::<HashMap<&str, &RawValue>>(source)
        && let Some(inner) = map.get(key)
    {
        return Ok(inner);
    }
    Ok(whole)
}

fn amount_of(source: &str, raw: &RawValue, column: &str) -> Result<Decimal, SettlementError> {
    let line = line_of(source, raw.get());
    let text = scalar(raw).unwrap_or_default();
    parse_amount(&text)
        .ok_or_else(|| SettlementError::field(line, column, &text, "not a decimal amount"))
}

/// Read a Shopify payout and its balance transactions, handing each
/// amount row to `sink`; line numbers are those of the transactions file.
pub fn read_shopify_payout(
    payout_json: &str,
    transactions_json: &str,
    channel: &str,
    mut sink: impl FnMut(SettlementRow),
) -> Result<SettlementHeader, SettlementError> {
    let raw = unwrap_document(payout_json, "payout", "payout")?;
    let payout: Payout<'_> =
        serde_json::from_str(raw.get()).map_err(|e| json_error("payout", &e))?;
    let payout_id = scalar(payout.id).unwrap_or_default();
    let currency: Currency = payout.currency.parse().map_err(|_| {
        SettlementError::field(
            line_of(payout_json, raw.get()),
            "currency",
            &payout.currency,
            "not an ISO 4217 code",
        )
    })?;
    let deposit_total = amount_of(payout_json, payout.amount, "amount")?;
    let deposit_date = match payout.date.as_deref() {
        None => None,
        Some(d) => Some(parse_timestamp(d).map(|t| t.date_naive()).ok_or_else(|| {
            SettlementError::field(line_of(payout_json, raw.get()), "date", d, "not a date")
        })?),
    };

    let list = unwrap_document(transactions_json, "transactions", "transactions")?;
    let items: Vec<&RawValue> =
        serde_json::from_str(list.get()).map_err(|e| json_error("transactions", &e))?;
    for item in items {
        let line = line_of(transactions_json, item.get());
        let t: Transaction<'_> =
            serde_json::from_str(item.get()).map_err(|e| SettlementError::Malformed {
                line,
                problem: format!("balance transaction: {e}"),
            })?;
        if t.payout_id.and_then(scalar).is_some_and(|p| p != payout_id) || t.kind == "payout" {
            continue;
        }
        let amount = amount_of(transactions_json, t.amount, "amount")?;
        let fee = match t.fee {
            Some(f) => amount_of(transactions_json, f, "fee")?,
            None => Decimal::ZERO,
        };
        let net = match t.net {
            Some(n) => amount_of(transactions_json, n, "net")?,
            None => amount - fee,
        };
        let posted_on =
            match t.processed_at.as_deref() {
                None => None,
                Some(p) => Some(parse_timestamp(p).map(|t| t.date_naive()).ok_or_else(|| {
                    SettlementError::field(line, "processed_at", p, "not a date")
                })?),
            };
        let source_type = t.source_type.unwrap_or_default();
        let reference = scalar(t.id);
        let order_id = t.source_order_id.and_then(scalar);
        let components = [
            (SHOPIFY_AMOUNT, amount),
            (SHOPIFY_FEE, -fee),
            (SHOPIFY_NET_DIFFERENCE, net - (amount - fee)),
        ];
        for (component, value) in components {
            if value.is_zero() && component != SHOPIFY_AMOUNT {
                continue;
            }
            let class = classify(
                SettlementFormat::ShopifyPayout,
                &t.kind,
                component,
                &source_type,
            );
            sink(SettlementRow {
                line,
                transaction_type: t.kind.clone(),
                amount_type: component.to_owned(),
                description: source_type.clone(),
                order_id: order_id.clone(),
                reference: reference.clone(),
                sku: None,
                quantity: None,
                amount: value,
                posted_on,
                category: class.category,
                mapped: class.mapped,
            });
        }
    }
    Ok(SettlementHeader {
        settlement_id: payout_id,
        channel: channel.to_owned(),
        format: SettlementFormat::ShopifyPayout,
        currency,
        period_start: None,
        period_end: None,
        deposit_date,
        deposit_total,
    })
}
