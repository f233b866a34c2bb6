//! Acknowledge: tell the channel the order is taken, as soon as it is
//! committed and its stock reserved (queued by `reserve`, only for
//! channels that want it). Walmart cancels a purchase order left
//! unacknowledged for hours; the shipment may be a day away.
//!
//! One effect, keyed per channel and order, whose lookup reads the order
//! back from the channel: a retry after a crash finds the acknowledgement
//! instead of sending it again. The order's status does not change.

use crossdock_connectors::Acknowledgement;
use crossdock_store::Changes;
use crossdock_store::events::{EffectApplied, TimelineEvent};

use super::context::{StepCx, StepResult};
use super::keys::acknowledge_effect_key;
use crate::effects::{EffectSpec, run_effect};

pub(super) async fn acknowledge(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    // Cancelled (by the channel or the buyer) or done: nothing to promise.
    if order.status.is_terminal() {
        return Ok(Changes::default());
    }
    let conn = cx.channel(&order.channel)?;
    let target = format!("channel:{}", order.channel);
    let (acknowledgement, outcome) = run_effect(
        cx.store,
        cx.now,
        &cx.resolutions,
        EffectSpec {
            key: acknowledge_effect_key(&order.channel, &order.id),
            target: &target,
            kind: "acknowledge_order",
            entity_key: cx.entity_key,
        },
        || conn.connector.find_acknowledgement(&order.external_id),
        || conn.connector.acknowledge_order(&order.external_id),
    )
    .await?;
    let mut changes = Changes::default();
    if acknowledgement == Acknowledgement::Acknowledged {
        changes
            .events
            .push(cx.event(TimelineEvent::Effect(EffectApplied::Acknowledge {
                external_order_id: order.external_id.clone(),
                outcome,
            })));
    }
    Ok(changes)
}
