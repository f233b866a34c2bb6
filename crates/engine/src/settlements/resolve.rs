//! Resolving a residual: the ledger row is closed (how, by whom, when,
//! why) and its amount moves out of suspense with a delta journal, posted
//! by the settlement's posting job like the settlement's own journals.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use crossdock_model::{Currency, Journal, JournalAccount, JournalLine, ResolutionKind};
use crossdock_store::{
    NewJob, ResidualResolution, ResolveOutcome, Store, StoreError, StoredResidual, resolution_text,
};
use rust_decimal::Decimal;

use crate::steps::{JobPayload, Step, settlement_entity_key};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no residual {0:?}")]
    NotFound(String),
    #[error("residual {0} was already resolved")]
    AlreadyResolved(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The journal that moves `residual` out of suspense to where `kind` says
/// it belongs: its order's receivable when matched, its key's account when
/// mapped or written off. Balanced by construction; seller-side signs (a
/// positive residual was credited to suspense).
pub fn delta_journal(
    residual: &StoredResidual,
    settlement_id: &str,
    currency: Currency,
    kind: ResolutionKind,
    at: DateTime<Utc>,
) -> Journal {
    let (account, reference) = match kind {
        ResolutionKind::Matched => (
            JournalAccount::Receivable,
            residual.order_ref.clone().or_else(|| residual.key.clone()),
        ),
        ResolutionKind::Mapped | ResolutionKind::WrittenOff => {
            (JournalAccount::Other, residual.key.clone())
        }
    };
    let memo = format!("residual {} {}", residual.id, resolution_text(kind));
    let amount = residual.amount.abs();
    let (debit, credit) = if residual.amount >= Decimal::ZERO {
        (amount, Decimal::ZERO)
    } else {
        (Decimal::ZERO, amount)
    };
    Journal {
        settlement_id: settlement_id.to_owned(),
        reference: format!(
            "settlement:{}:resolve:{}",
            residual.settlement,
            residual_seq(residual)
        ),
        month: at.format("%Y-%m").to_string(),
        date: at.date_naive(),
        currency,
        lines: vec![
            JournalLine {
                account: JournalAccount::Suspense,
                reference: Some(residual.id.clone()),
                debit,
                credit,
                memo: memo.clone(),
            },
            JournalLine {
                account,
                reference,
                debit: credit,
                credit: debit,
                memo,
            },
        ],
    }
}

/// The residual's number within its settlement (the id's last part).
fn residual_seq(residual: &StoredResidual) -> &str {
    residual.id.rsplit(':').next().unwrap_or(&residual.id)
}

/// Resolve residual `id` as `kind`, by `by` because `note`, at `now` (ms):
/// the ledger row, its delta journal and the job that posts it, together.
pub async fn resolve_residual(
    store: &Store,
    id: &str,
    kind: ResolutionKind,
    by: &str,
    note: &str,
    now: i64,
) -> Result<StoredResidual, ResolveError> {
    let residual = store
        .residual(id)
        .await?
        .ok_or_else(|| ResolveError::NotFound(id.to_owned()))?;
    let settlement = store
        .settlement(&residual.settlement)
        .await?
        .ok_or_else(|| ResolveError::NotFound(id.to_owned()))?;
    let currency = Currency::from_str(&settlement.currency)
        .map_err(|e| StoreError::Corrupt(format!("settlement {}: {e}", settlement.key)))?;
    let at = DateTime::from_timestamp_millis(now).unwrap_or_default();
    // A zero residual moves nothing: no journal to post.
    let journal = (!residual.amount.is_zero())
        .then(|| delta_journal(&residual, &settlement.settlement_id, currency, kind, at));
    let jobs = if journal.is_some() {
        vec![NewJob {
            entity_key: settlement_entity_key(&settlement.key),
            step: Step::PostSettlement.as_str().to_owned(),
            payload: JobPayload::settlement(&settlement.key).to_value(),
            run_at: now,
        }]
    } else {
        Vec::new()
    };
    match store
        .resolve_residual(&ResidualResolution {
            id: id.to_owned(),
            resolution: kind,
            by: by.to_owned(),
            note: note.to_owned(),
            at: now,
            journal,
            jobs,
        })
        .await?
    {
        ResolveOutcome::Resolved(r) => Ok(r),
        ResolveOutcome::AlreadyResolved(_) => Err(ResolveError::AlreadyResolved(id.to_owned())),
        ResolveOutcome::NotFound => Err(ResolveError::NotFound(id.to_owned())),
    }
}
