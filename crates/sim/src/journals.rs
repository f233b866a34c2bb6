//! The simulated ERP's settlement journals: `POST /journals` and
//! `GET /journals?reference=`. Strict like a real ledger: a journal whose
//! debits and credits differ, an unknown account, a negative amount or a
//! line with both sides is refused with 422 naming the field and the
//! figures. Never deduplicates: journals are counted per reference, so a
//! hub that posts a settlement twice is caught.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::wire::{Amount, Invalid, is_currency_code, parse_body};

/// The accounts a journal line may post to (the hub's journal roles).
const ACCOUNTS: [&str; 8] = [
    "bank",
    "receivable",
    "fees",
    "marketplace_facilitator_clearing",
    "reserve",
    "other",
    "suspense",
    "settlement_clearing",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalBody {
    reference: String,
    settlement_id: String,
    /// `YYYY-MM`.
    month: String,
    /// `YYYY-MM-DD`, within `month`.
    date: String,
    currency: String,
    lines: Vec<JournalLineBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalLineBody {
    account: String,
    #[serde(default)]
    reference: Option<String>,
    debit: Amount,
    credit: Amount,
    #[serde(default)]
    memo: String,
}

#[derive(Debug, Clone, Serialize)]
struct JournalDoc {
    id: String,
    reference: String,
    /// Σ debits (= Σ credits).
    total: String,
    /// The bank line's amount: debit minus credit on `bank`.
    bank: String,
}

/// The ERP's journals, shared by its router and its stats.
pub(crate) type Journals = Arc<Mutex<JournalBook>>;

/// `POST /journals`, `GET /journals` over `journals` (the ERP adds its
/// token check and faults around them).
pub(crate) fn router<S: Clone + Send + Sync + 'static>(journals: Journals) -> Router<S> {
    Router::new()
        .route("/journals", post(post_journal).get(find_journals))
        .with_state(journals)
}

fn lock(journals: &Journals) -> MutexGuard<'_, JournalBook> {
    journals.lock().unwrap_or_else(|p| p.into_inner())
}

/// The journals the ERP holds, counted by reference.
#[derive(Default)]
pub(crate) struct JournalBook {
    journals: Vec<JournalDoc>,
    per_reference: BTreeMap<String, u64>,
    refused: u64,
}

impl JournalBook {
    pub(crate) fn write_stats(&self, out: &mut Map<String, Value>) {
        out.insert("journals".into(), self.journals.len().into());
        out.insert("journals_per_reference".into(), json!(self.per_reference));
        out.insert(
            "duplicate_journals".into(),
            self.per_reference
                .values()
                .map(|n| n - 1)
                .sum::<u64>()
                .into(),
        );
        out.insert("journals_refused".into(), self.refused.into());
        out.insert(
            "journal_bank_lines".into(),
            json!(
                self.journals
                    .iter()
                    .map(|j| (j.reference.clone(), j.bank.clone()))
                    .collect::<BTreeMap<_, _>>()
            ),
        );
    }
}

fn check(body: &JournalBody) -> Result<(Decimal, Decimal), Invalid> {
    for (field, value) in [
        ("reference", &body.reference),
        ("settlement_id", &body.settlement_id),
    ] {
        if value.trim().is_empty() {
            return Err(Invalid::new(field, "must not be empty"));
        }
    }
    let month = NaiveDate::parse_from_str(&format!("{}-01", body.month), "%Y-%m-%d")
        .map_err(|_| Invalid::new("month", format!("{:?} is not YYYY-MM", body.month)))?;
    let date = NaiveDate::parse_from_str(&body.date, "%Y-%m-%d")
        .map_err(|_| Invalid::new("date", format!("{:?} is not YYYY-MM-DD", body.date)))?;
    if date.format("%Y-%m").to_string() != month.format("%Y-%m").to_string() {
        return Err(Invalid::new(
            "date",
            format!("{} is not in month {}", body.date, body.month),
        ));
    }
    if !is_currency_code(&body.currency) {
        return Err(Invalid::new("currency", "expected an ISO 4217 code"));
    }
    if body.lines.is_empty() {
        return Err(Invalid::new("lines", "must not be empty"));
    }
    let (mut debits, mut credits, mut bank) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for (i, line) in body.lines.iter().enumerate() {
        if !ACCOUNTS.contains(&line.account.as_str()) {
            return Err(Invalid::new(
                format!("lines[{i}].account"),
                format!("unknown account {:?}", line.account),
            ));
        }
        for (name, amount) in [("debit", line.debit.0), ("credit", line.credit.0)] {
            if amount < Decimal::ZERO {
                return Err(Invalid::new(
                    format!("lines[{i}].{name}"),
                    format!("{amount} is negative"),
                ));
            }
        }
        if !line.debit.0.is_zero() && !line.credit.0.is_zero() {
            return Err(Invalid::new(
                format!("lines[{i}]"),
                format!(
                    "both debit {} and credit {} are set",
                    line.debit.0, line.credit.0
                ),
            ));
        }
        let _ = (&line.reference, &line.memo);
        debits += line.debit.0;
        credits += line.credit.0;
        if line.account == "bank" {
            bank += line.debit.0 - line.credit.0;
        }
    }
    if debits != credits {
        return Err(Invalid::new(
            "lines",
            format!(
                "unbalanced: debits {debits} ≠ credits {credits} (off by {})",
                debits - credits
            ),
        ));
    }
    Ok((debits, bank))
}

async fn post_journal(State(journals): State<Journals>, body: Bytes) -> Response {
    let body: JournalBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut book = lock(&journals);
    let (total, bank) = match check(&body) {
        Ok(figures) => figures,
        Err(r) => {
            book.refused += 1;
            return r.into_response();
        }
    };
    let doc = JournalDoc {
        id: format!("JE-{:06}", book.journals.len() + 1),
        reference: body.reference.clone(),
        total: total.to_string(),
        bank: bank.to_string(),
    };
    *book.per_reference.entry(body.reference).or_default() += 1;
    book.journals.push(doc.clone());
    (
        StatusCode::CREATED,
        Json(json!({ "id": doc.id, "reference": doc.reference })),
    )
        .into_response()
}

async fn find_journals(
    State(journals): State<Journals>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(reference) = query.get("reference") else {
        return Invalid::new("reference", "missing query parameter").into_response();
    };
    let book = lock(&journals);
    let found: Vec<Value> = book
        .journals
        .iter()
        .filter(|d| &d.reference == reference)
        .map(|d| json!({ "id": d.id, "reference": d.reference }))
        .collect();
    Json(json!({ "journals": found })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(lines: Value) -> JournalBody {
        serde_json::from_value(json!({
            "reference": "settlement:amazon:1:2026-10", "settlement_id": "1",
            "month": "2026-10", "date": "2026-10-29", "currency": "USD", "lines": lines,
        }))
        .expect("a journal body")
    }

    fn refusal(b: &JournalBody) -> String {
        format!("{:?}", check(b).expect_err("refused"))
    }

    #[test]
    fn a_balanced_journal_passes_with_its_bank_line() {
        let b = body(json!([
            {"account": "bank", "debit": "67.83", "credit": "0"},
            {"account": "fees", "debit": "9.25", "credit": "0"},
            {"account": "receivable", "debit": "0", "credit": "77.08"},
        ]));
        let (total, bank) = check(&b).expect("balanced");
        assert_eq!(total.to_string(), "77.08");
        assert_eq!(bank.to_string(), "67.83");
    }

    #[test]
    fn unbalanced_unknown_or_two_sided_lines_are_refused_precisely() {
        let unbalanced = body(json!([
            {"account": "bank", "debit": "10.00", "credit": "0"},
            {"account": "receivable", "debit": "0", "credit": "9.99"},
        ]));
        let why = refusal(&unbalanced);
        assert!(why.contains("debits 10.00 ≠ credits 9.99 (off by 0.01)"), "{why}");
        let unknown = body(json!([{"account": "cash", "debit": "0", "credit": "0"}]));
        assert!(refusal(&unknown).contains("lines[0].account"));
        let both = body(json!([{"account": "bank", "debit": "1", "credit": "1"}]));
        assert!(refusal(&both).contains("both debit 1 and credit 1"));
        let negative = body(json!([{"account": "bank", "debit": "-1", "credit": "0"}]));
        assert!(refusal(&negative).contains("lines[0].debit"));
        let mut other_month = body(json!([{"account": "bank", "debit": "0", "credit": "0"}]));
        other_month.date = "2026-11-01".into();
        assert!(refusal(&other_month).contains("not in month 2026-10"));
    }
}
