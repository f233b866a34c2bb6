//! Release: the order's held units go to a warehouse as a fulfilment
//! request, one warehouse per run.
//!
//! What happens when a warehouse will not take them lives here too:
//! `fall_back` moves the order to another warehouse when its own is down or
//! refused it (never when a release may have reached it), and a re-route
//! releases what was moved; a short ship's remainder is moved or cancelled
//! by the channel's policy.

use crossdock_connectors::ConnectorError;
use crossdock_model::{ExceptionClass, FulfillmentLine, FulfillmentRequest, Order, OrderStatus};
use crossdock_store::events::{EffectApplied, LineQuantity, TimelineEvent};
use crossdock_store::{Changes, ReservationChange};
use serde_json::json;

use super::context::{StepCx, StepError, StepResult, WaitReason};
use super::keys::{fulfillment_request_id, release_effect_key};
use super::payload::JobPayload;
use super::step::Step;
use crate::effects::{EffectError, EffectSpec, run_effect};
use crate::routing::capacity_day;

pub(super) async fn release(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    // A re-route (after a fallback or a short ship) releases what the order
    // still holds to the warehouse it was moved to.
    let rerouting = cx.payload.rerouting();
    if order.status.is_terminal()
        || !rerouting
            && order.status >= OrderStatus::ReleasedToWarehouse
            && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    if let Some(from) = cx.payload.short_from() {
        return reroute_short_ship(cx, order, from).await;
    }
    let reservations = cx.store.reservations(&order.id).await?;
    // One warehouse per run: the first holding lines it was not sent yet.
    // A split order's other warehouses get a run each, queued below.
    let mut held_at: Vec<String> = reservations
        .iter()
        .filter(|r| r.state == "held")
        .map(|r| r.location.clone())
        .collect();
    held_at.sort();
    held_at.dedup();
    let mut unsent = Vec::new();
    for l in &held_at {
        let key = release_effect_key(&order.id, l);
        let applied = cx
            .store
            .effect(&key)
            .await?
            .is_some_and(|e| e.status == crossdock_store::EffectStatus::Applied);
        if !applied {
            unsent.push(l.clone());
        }
    }
    let more_after = unsent.len() > 1;
    let Some(location) = unsent.first().cloned() else {
        if rerouting {
            // Already released and shipped, or given back: nothing to send.
            return Ok(Changes::default());
        }
        return Err(cx.hold(
            order,
            ExceptionClass::Validation,
            "no reservation to release against".into(),
        ));
    };
    let request = FulfillmentRequest {
        id: fulfillment_request_id(&order.id, &location),
        order_id: order.id.clone(),
        channel: order.channel.clone(),
        channel_order_id: order.external_id.clone(),
        warehouse: location.clone(),
        service_level: order.service_level.clone(),
        ship_to: order.shipping_address.clone(),
        lines: order
            .lines
            .iter()
            .filter(|l| l.open_quantity() > 0)
            .filter(|l| {
                reservations
                    .iter()
                    .any(|r| r.line_id == l.line_id && r.state == "held" && r.location == location)
            })
            .map(|l| FulfillmentLine {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                quantity: l.open_quantity(),
            })
            .collect(),
    };
    let effect_key = release_effect_key(&order.id, &location);
    // A slot of the warehouse's daily capacity, taken in the store in one
    // step with the check that one is free: two orders routed there at once
    // cannot both take the last. A release sent before keeps its slot.
    if let Some(capacity) = cx.connections.router.load().daily_capacity(&location)
        && !cx
            .store
            .claim_release_slot(&location, capacity_day(cx.now), capacity, &request.id)
            .await?
    {
        let why = format!("its daily capacity ({capacity}) is taken");
        return fall_back(cx, order, &location, &effect_key, &why, FallBack::Full).await;
    }
    // A warehouse that counts as down gets nothing new: if nothing was sent
    // to it for this request, the order moves to the next warehouse now.
    // Once its open period is over, this release is the breaker's probe.
    let Some(admission) = cx.warehouses.admit(&location) else {
        let why = "its circuit breaker is open";
        return fall_back(cx, order, &location, &effect_key, why, FallBack::Down).await;
    };
    let warehouse = cx.warehouse(&location)?;
    let target = format!("warehouse:{location}");
    let released = run_effect(
        cx.store,
        cx.now,
        &cx.resolutions,
        EffectSpec {
            key: effect_key.clone(),
            target: &target,
            kind: "release",
            entity_key: cx.entity_key,
        },
        || warehouse.find_release(&request.id),
        || warehouse.release(&request),
    )
    .await;
    let (warehouse_id, outcome) = match released {
        Ok(done) => {
            cx.warehouses.outcome(&location, admission, false);
            done
        }
        Err(EffectError::Connector(e)) => {
            let unanswered = e.is_unanswered();
            cx.warehouses.outcome(&location, admission, unanswered);
            if let ConnectorError::Rejected { reason } = &e {
                let why = format!("it refused the request: {reason}");
                return fall_back(cx, order, &location, &effect_key, &why, FallBack::Refused).await;
            }
            // This failure opened the breaker, or was its probe and kept it
            // open: the warehouse is down, so the release moves or waits
            // like one that found it down, without spending an attempt. (A
            // quiet warehouse's only calls are one order's retries: each
            // would come back after the open period as the probe and
            // spend an attempt, until the order landed in the exceptions.)
            if unanswered && cx.warehouses.down(&location) {
                let why = "its circuit breaker is open";
                return fall_back(cx, order, &location, &effect_key, why, FallBack::Down).await;
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let mut changes = Changes::default();
    changes
        .events
        .push(cx.event(TimelineEvent::Effect(EffectApplied::Release {
            warehouse: location.clone(),
            request_id: request.id.clone(),
            warehouse_id,
            outcome,
        })));
    if more_after {
        changes
            .jobs
            .push(cx.next(Step::Release, JobPayload::reroute(&order.id, None)));
    }
    if rerouting {
        changes
            .events
            .push(cx.event(TimelineEvent::ReleasedElsewhere {
                warehouse: location.clone(),
                request_id: request.id.clone(),
            }));
        changes.orders.push(order);
        return Ok(changes);
    }
    cx.advance(
        order,
        OrderStatus::ReleasedToWarehouse,
        json!({ "warehouse": location }),
        None,
        &mut changes,
    );
    Ok(changes)
}

/// Warehouses an order may move to from `from`: every other one the order
/// was never released to (a request id is per order and warehouse, so a
/// second release there would be the first one again; and one that refused
/// is not asked twice), and, when `skip_down`, none whose breaker is open.
async fn move_candidates(
    cx: &StepCx<'_>,
    order_id: &str,
    from: &str,
    skip_down: bool,
) -> Result<Vec<String>, StepError> {
    let used: Vec<String> = cx
        .store
        .effects_for(cx.entity_key)
        .await?
        .into_iter()
        .filter(|e| e.kind == "release")
        .map(|e| e.key)
        .collect();
    Ok(cx
        .connections
        .warehouses
        .iter()
        .map(|w| w.name().to_owned())
        .filter(|w| w != from)
        .filter(|w| {
            let key = release_effect_key(order_id, w);
            !used.contains(&key)
        })
        .filter(|w| !skip_down || !cx.warehouses.down(w))
        .collect())
}

/// The order's holding moved from `from` to `to`: say so on its timeline
/// and release it there.
fn rerouted(cx: &StepCx<'_>, order_id: &str, from: &str, to: &str, reason: &str) -> Changes {
    let mut changes = Changes::default();
    changes.events.push(cx.event(TimelineEvent::Rerouted {
        from: from.to_owned(),
        to: to.to_owned(),
        reason: reason.to_owned(),
    }));
    changes
        .jobs
        .push(cx.next(Step::Release, JobPayload::reroute(order_id, None)));
    changes
}

/// Cancel the units a warehouse will not ship and give their stock back.
pub(super) fn cancel_remainder(
    cx: &StepCx<'_>,
    order: &mut Order,
    short: &[(String, u32)],
    changes: &mut Changes,
) {
    for (line_id, quantity) in short {
        if let Some(line) = order.lines.iter_mut().find(|l| l.line_id == *line_id) {
            line.cancelled_quantity += (*quantity).min(line.open_quantity());
        }
    }
    for (line_id, _) in short {
        changes.reservations.push(ReservationChange::ReleaseLine {
            order_id: order.id.clone(),
            line_id: line_id.clone(),
        });
    }
    changes
        .events
        .push(cx.event(TimelineEvent::RemainderCancelled {
            reason: "short ship".to_owned(),
            lines: line_quantities(short),
        }));
}

/// A short ship's remainder: move it to another warehouse and release it
/// there, or cancel it when none has it. Runs after the shipment's own
/// step, so only the unshipped units are still held at `from`.
async fn reroute_short_ship(cx: &StepCx<'_>, mut order: Order, from: &str) -> StepResult {
    let held = cx.store.reservations(&order.id).await?;
    let short: Vec<(String, u32)> = order
        .lines
        .iter()
        .filter(|l| l.open_quantity() > 0)
        .filter(|l| {
            held.iter()
                .any(|r| r.line_id == l.line_id && r.state == "held" && r.location == from)
        })
        .map(|l| (l.line_id.clone(), l.open_quantity()))
        .collect();
    if short.is_empty() {
        return Ok(Changes::default());
    }
    // A warehouse that is down now still counts: the release there waits
    // for it rather than cancelling units it could ship.
    let candidates = move_candidates(cx, &order.id, from, false).await?;
    let moved = cx
        .store
        .move_reservation(&order.id, from, &candidates)
        .await?
        .filter(|to| to != from);
    if let Some(to) = moved {
        return Ok(rerouted(cx, &order.id, from, &to, "short ship"));
    }
    let mut changes = Changes::default();
    cancel_remainder(cx, &mut order, &short, &mut changes);
    if order.fully_resolved() {
        cx.transition(
            &mut order,
            OrderStatus::Shipped,
            &mut changes,
            json!({ "remainder": "cancelled" }),
        );
        let all_confirmed = cx
            .store
            .shipments_for(&order.id)
            .await?
            .iter()
            .all(|s| s.confirmed_at.is_some());
        if all_confirmed {
            cx.advance(
                order,
                OrderStatus::ConfirmedToChannel,
                json!({}),
                Some(Step::Invoice),
                &mut changes,
            );
            return Ok(changes);
        }
    }
    changes.orders.push(order);
    Ok(changes)
}

/// Why an order may leave its warehouse before a release reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FallBack {
    /// Its breaker is open: it comes back.
    Down,
    /// Its daily capacity is taken: it has room again tomorrow.
    Full,
    /// It refused the request: it is not asked again.
    Refused,
}

/// Move what the order holds at `from` to another warehouse and release it
/// there. Only when nothing may have reached `from`: a release to it in
/// doubt (sent, no answer) could still ship, so the order waits for `from`
/// to answer rather than risk shipping twice.
async fn fall_back(
    cx: &StepCx<'_>,
    order: Order,
    from: &str,
    effect_key: &str,
    why: &str,
    cause: FallBack,
) -> StepResult {
    let (why_wait, retry_after) = match cause {
        FallBack::Down | FallBack::Refused => (
            WaitReason::BreakerOpen,
            cx.options.warehouse_breaker.open_ms,
        ),
        // Room comes back at midnight, or sooner elsewhere (stock arrives,
        // a warehouse comes back): look again within the longest backoff.
        FallBack::Full => {
            let tomorrow = capacity_day(cx.now) + 86_400_000;
            let ms = (tomorrow - cx.now).min(cx.options.backoff_max_ms);
            (WaitReason::CapacityTaken, u64::try_from(ms).unwrap_or(0))
        }
    };
    let wait = StepError::Wait {
        endpoint: format!("warehouse:{from}"),
        why: why_wait,
        retry_after: std::time::Duration::from_millis(retry_after),
        note: None,
    };
    let sent = cx.store.effect(effect_key).await?;
    if sent.as_ref().is_some_and(|e| {
        e.status == crossdock_store::EffectStatus::Pending
            || e.status == crossdock_store::EffectStatus::Applied
    }) {
        return Err(wait);
    }
    let all = move_candidates(cx, &order.id, from, false).await?;
    // Neither a warehouse that is down nor one whose capacity is taken
    // today (moving there would only send the order on again).
    let full = full_today(cx).await?;
    let up: Vec<String> = all
        .iter()
        .filter(|w| !cx.warehouses.down(w) && !full.contains(w))
        .cloned()
        .collect();
    if let Some(to) = cx
        .store
        .move_reservation(&order.id, from, &up)
        .await?
        .filter(|to| to != from)
    {
        // Nothing reached `from`: the slot its release took there is free.
        if cx.connections.router.load().daily_capacity(from).is_some() {
            cx.store
                .give_back_release_slot(&fulfillment_request_id(&order.id, from))
                .await?;
        }
        return Ok(rerouted(
            cx,
            &order.id,
            from,
            &to,
            &format!("{from}: {why}"),
        ));
    }
    // Nowhere to go now. A warehouse that is only down or full comes back
    // (its own or another one); one that refused, with no other that can
    // take the order, needs a person.
    if cause != FallBack::Refused || all.len() > up.len() {
        return Err(wait);
    }
    let reason = format!(
        "{from} refused the order ({why}) and no other warehouse can serve it (tried: [{}])",
        up.join(", ")
    );
    Err(cx.hold(order, ExceptionClass::Authority, reason))
}

/// Warehouses whose daily capacity is all taken today.
async fn full_today(cx: &StepCx<'_>) -> Result<Vec<String>, StepError> {
    let router = cx.connections.router.load_full();
    if !router.uses_capacity() {
        return Ok(Vec::new());
    }
    Ok(cx
        .store
        .release_slots_used(capacity_day(cx.now))
        .await?
        .into_iter()
        .filter(|(w, used)| {
            router
                .daily_capacity(w)
                .is_some_and(|c| *used >= i64::from(c))
        })
        .map(|(w, _)| w)
        .collect())
}

/// `(line id, units)` pairs as the timeline lists them.
pub(super) fn line_quantities(lines: &[(String, u32)]) -> Vec<LineQuantity> {
    lines
        .iter()
        .map(|(line_id, quantity)| LineQuantity {
            line_id: line_id.clone(),
            quantity: *quantity,
        })
        .collect()
}
