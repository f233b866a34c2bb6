//! A settlement to the ERP: every journal planned for it (one per month it
//! spans at import, one delta per resolved residual) that the ERP does not
//! hold yet is posted as an effect keyed by the journal's reference, which
//! `find_journal` looks up when a crash left the call in doubt. The
//! settlement becomes `posted` with the job's completion.

use crossdock_model::ExceptionClass;
use crossdock_store::events::{EffectApplied, TimelineEvent};
use crossdock_store::{Changes, SettlementPosted};

use super::context::{StepCx, StepError, StepResult};
use crate::effects::{EffectSpec, run_effect};

/// The effect that posts the journal `reference` to the ERP.
pub(crate) fn journal_effect_key(reference: &str) -> String {
    format!("erp:journal:{reference}")
}

pub(super) async fn post_settlement(cx: &StepCx<'_>) -> StepResult {
    let key = cx.payload.settlement_key()?;
    let journals = cx.store.settlement_journals(key).await?;
    if journals.is_empty() && cx.store.settlement(key).await?.is_none() {
        return Err(StepError::fail(
            ExceptionClass::Validation,
            format!("settlement {key} does not exist"),
        ));
    }
    let erp = &cx.connections.erp;
    let mut changes = Changes::default();
    for planned in journals.iter().filter(|j| j.erp_id.is_none()) {
        let journal = &planned.journal;
        // The ERP refuses an unbalanced journal too; refusing it here names
        // the figures and spends no call.
        if !journal.is_balanced() {
            return Err(StepError::fail(
                ExceptionClass::Validation,
                format!(
                    "journal {} does not balance: debits {} ≠ credits {}",
                    planned.reference,
                    journal.debits(),
                    journal.credits()
                ),
            ));
        }
        let reference = planned.reference.as_str();
        let (doc, outcome) = run_effect(
            cx.store,
            cx.now,
            &cx.resolutions,
            EffectSpec {
                key: journal_effect_key(reference),
                target: "erp",
                kind: "post_journal",
                entity_key: cx.entity_key,
            },
            || erp.find_journal(reference),
            || async {
                let doc = erp.post_journal(reference, journal).await?;
                // The crash tests kill the hub here: posted at the ERP, not
                // yet recorded by the hub.
                crate::failpoint::hit("erp.journal.posted").await;
                Ok(doc)
            },
        )
        .await?;
        changes
            .events
            .push(cx.event(TimelineEvent::Effect(EffectApplied::PostJournal {
                reference: reference.to_owned(),
                journal: doc.id.clone(),
                outcome,
            })));
        changes.settlements_posted.push(SettlementPosted {
            reference: reference.to_owned(),
            erp_id: doc.id,
            at: cx.now,
        });
    }
    Ok(changes)
}
