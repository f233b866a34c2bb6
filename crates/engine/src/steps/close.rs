//! The order's end: invoiced in the ERP once every shipment is confirmed to
//! the channel, then closed (what it still holds is given back).

use crossdock_model::OrderStatus;
use crossdock_store::events::EffectApplied;
use crossdock_store::{Changes, ReservationChange};
use serde_json::json;

use super::context::{StepCx, StepResult};
use super::keys::erp_reference;
use super::step::Step;
use crate::effects::{EffectSpec, run_effect};

pub(super) async fn invoice(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    if order.status != OrderStatus::ConfirmedToChannel {
        return Ok(Changes::default());
    }
    let erp = &cx.connections.erp;
    let reference = format!("{}:invoice", erp_reference(&order));
    let (doc, outcome) = run_effect(
        cx.store,
        cx.now,
        &cx.resolutions,
        EffectSpec {
            key: format!("erp:invoice:{}", order.id),
            target: "erp",
            kind: "post_invoice",
            entity_key: cx.entity_key,
        },
        || erp.find_invoice(&reference),
        || erp.post_invoice(&reference, &order),
    )
    .await?;
    Ok(cx.effect_then_advance(
        EffectApplied::PostInvoice {
            invoice: doc.id.clone(),
            outcome,
        },
        order,
        OrderStatus::Invoiced,
        json!({ "invoice": doc.id }),
        Step::Close,
    ))
}

pub(super) async fn close(cx: &StepCx<'_>) -> StepResult {
    let mut order = cx.order().await?;
    let mut changes = Changes::default();
    if order.status == OrderStatus::Invoiced {
        cx.transition(&mut order, OrderStatus::Closed, &mut changes, json!({}));
        changes.reservations.push(ReservationChange::ReleaseOrder {
            order_id: order.id.clone(),
        });
        changes.orders.push(order);
    }
    Ok(changes)
}
