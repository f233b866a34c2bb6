//! Accept in the ERP: the order becomes a sales order (its customer
//! upserted first, as an effect of its own), or goes on hold when the ERP
//! refuses it.

use crossdock_connectors::ConnectorError;
use std::time::Duration;

use chrono::DateTime;
use crossdock_model::{Order, OrderStatus};
use crossdock_store::events::{EffectApplied, EffectOutcome, TimelineEvent};
use crossdock_store::{Changes, EffectResolution, EffectStatus, NewEvent};
use serde_json::json;

use super::context::{StepCx, StepError, StepResult, WaitReason};
use super::keys::{customer_effect_key, erp_reference, sales_order_effect_key};
use super::step::Step;
use crate::effects::{EffectError, EffectSpec, run_effect};

pub(super) async fn accept_in_erp(cx: &StepCx<'_>) -> StepResult {
    let mut order = cx.order().await?;
    if order.status.is_terminal()
        || order.status > OrderStatus::AcceptedByErp && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    let expired = held(cx, &mut order).await?;
    let erp = &cx.connections.erp;
    let reference = erp_reference(&order);
    let (doc, outcome) = run_effect(
        cx.store,
        cx.now,
        &cx.resolutions,
        EffectSpec {
            key: sales_order_effect_key(&order.id),
            target: "erp",
            kind: "create_sales_order",
            entity_key: cx.entity_key,
        },
        || erp.find_sales_order(&reference),
        || async {
            // The customer is its own effect so that a retry after a 429
            // spends the ERP's budget on the sales order alone. An upsert by
            // email is harmless to repeat, so there is nothing to look up.
            let (customer_id, _) = run_effect(
                cx.store,
                cx.now,
                &cx.resolutions,
                EffectSpec {
                    key: customer_effect_key(&order.id),
                    target: "erp",
                    kind: "upsert_customer",
                    entity_key: cx.entity_key,
                },
                || async { Ok(None) },
                || erp.upsert_customer(&order.customer),
            )
            .await
            .map_err(|e| match e {
                EffectError::Connector(c) => c,
                EffectError::Store(s) => ConnectorError::transient(format!("store: {s}")),
            })?;
            let doc = erp
                .create_sales_order(&reference, &customer_id, &order)
                .await?;
            // The crash tests kill the hub here: created at the ERP, not yet
            // recorded by the hub.
            crate::failpoint::hit("erp.sales_order.created").await;
            Ok(doc)
        },
    )
    .await
    .map_err(|e| match StepError::from(e) {
        StepError::Fail { class, reason, .. } => cx.hold(
            order.clone(),
            class,
            format!("ERP refused the sales order: {reason}"),
        ),
        other => other,
    })?;
    if outcome == EffectOutcome::FoundAtTarget {
        settle_customer_upsert(cx, &order.id).await?;
    }
    order.erp_ref = Some(doc.id.clone());
    let mut changes = cx.effect_then_advance(
        EffectApplied::CreateSalesOrder {
            erp_ref: doc.id.clone(),
            outcome,
        },
        order,
        OrderStatus::AcceptedByErp,
        json!({ "erp_ref": doc.id }),
        Step::Release,
    );
    changes.events.extend(expired);
    Ok(changes)
}

/// How often a hold without an expiry is looked at again. An operator's
/// release wakes the order at once; this only bounds how late a release
/// that raced the step's own look is noticed.
const HOLD_RECHECK: Duration = Duration::from_secs(300);

/// A held order waits here, before the ERP, with its reservation kept.
/// The hold is lifted from the order when an operator released it (the
/// release is on the timeline) or when it expired (the event returned is
/// written with the step's outcome).
async fn held(cx: &StepCx<'_>, order: &mut Order) -> Result<Option<NewEvent>, StepError> {
    let Some(hold) = order.hold.clone() else {
        return Ok(None);
    };
    let now = DateTime::from_timestamp_millis(cx.now).unwrap_or_default();
    if hold.applies_at(now) {
        if crate::holds::released_since(cx.store, cx.entity_key, &hold).await? {
            order.hold = None;
            return Ok(None);
        }
        let retry_after = hold
            .until
            .and_then(|u| (u - now).to_std().ok())
            .map_or(HOLD_RECHECK, |left| left.min(HOLD_RECHECK))
            .max(Duration::from_millis(1));
        return Err(StepError::Wait {
            endpoint: format!("hold:{}", hold.rule),
            why: WaitReason::OrderHold,
            retry_after,
            note: Some(hold.reason),
        });
    }
    order.hold = None;
    Ok(Some(
        cx.event(TimelineEvent::HoldExpired { rule: hold.rule }),
    ))
}

/// The sales order was found at the ERP after a crash, so the customer
/// upsert made on the way to it was applied too (the sales order names its
/// customer), though its answer was lost with the process. Resolve it with
/// the step, or it stays pending for good: nothing would ever run it again.
async fn settle_customer_upsert(cx: &StepCx<'_>, order_id: &str) -> Result<(), StepError> {
    let key = customer_effect_key(order_id);
    if let Some(effect) = cx.store.effect(&key).await?
        && effect.status == EffectStatus::Pending
    {
        cx.resolutions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(EffectResolution {
                key,
                status: EffectStatus::Applied,
                result: None,
                at: cx.now,
            });
    }
    Ok(())
}
