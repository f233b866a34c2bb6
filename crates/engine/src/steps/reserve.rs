//! Reserve: routing decides which warehouse serves the order, and the
//! store holds its units there (or, when the channel allows it and no one
//! warehouse has everything, whole lines at several).
//!
//! The routing input is built here from the store's positions and the
//! warehouses' breakers; the decision goes on the order's timeline.

use crossdock_model::{ExceptionClass, Order, OrderStatus};
use crossdock_store::events::{LinePlaced, RoutingDecided, TimelineEvent};
use crossdock_store::{Changes, ReserveLine};
use serde_json::json;

use super::context::{StepCx, StepError, StepResult, WaitReason};
use super::payload::JobPayload;
use super::step::Step;
use crate::routing;

pub(super) async fn reserve(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    if order.status.is_terminal()
        || order.status > OrderStatus::Reserved && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    let lines: Vec<ReserveLine> = order
        .lines
        .iter()
        .filter(|l| l.open_quantity() > 0)
        .map(|l| ReserveLine {
            line_id: l.line_id.clone(),
            sku: l.sku.clone(),
            quantity: i64::from(l.open_quantity()),
        })
        .collect();
    let input = routing_input(cx, &order, &lines).await?;
    // One routing version for the whole decision, even across a reload.
    let router = cx.connections.router.load_full();
    let decision = router.decide(&input);
    let decided = cx.event(TimelineEvent::RoutingDecision(RoutingDecided {
        input: json!(input),
        decision: json!(decision),
    }));
    let mut location = cx.store.reserve(&order.id, &lines, &decision.order).await?;
    let split = cx
        .connections
        .channels
        .get(&order.channel)
        .map(|c| c.split)
        .unwrap_or_default();
    let mut split_event = None;
    if location.is_none() && split.allowed && split.max_shipments > 1 {
        // No one warehouse has it all: rank again as if each could (the
        // rules still apply), and place whole lines by that ranking.
        let mut partial = input.clone();
        for c in &mut partial.candidates {
            c.can_serve_all = c.available.values().any(|a| *a > 0);
        }
        let ranked = router.decide(&partial);
        if let Some(placed) = cx
            .store
            .reserve_split(
                &order.id,
                &lines,
                &ranked.order,
                split.max_shipments as usize,
            )
            .await?
        {
            location = placed.first().map(|(_, l)| l.clone());
            split_event = Some(
                cx.event(TimelineEvent::Split {
                    lines: placed
                        .iter()
                        .map(|(l, w)| LinePlaced {
                            line_id: l.clone(),
                            warehouse: w.clone(),
                        })
                        .collect(),
                    reason: ranked.reason,
                }),
            );
        }
    }
    let Some(location) = location else {
        // Eligible but for being down: wait for a warehouse to come back
        // rather than hold an order that will be shippable.
        if input.candidates.iter().any(|c| c.down && c.can_serve_all) {
            return Err(StepError::Wait {
                endpoint: "warehouses".to_owned(),
                why: WaitReason::BreakerOpen,
                retry_after: std::time::Duration::from_millis(cx.options.warehouse_breaker.open_ms),
                note: None,
            });
        }
        let reason = format!(
            "no warehouse can take the order ({}): {}",
            lines
                .iter()
                .map(|l| format!("{} x{}", l.sku, l.quantity))
                .collect::<Vec<_>>()
                .join(", "),
            decision.reason
        );
        let mut held = cx.hold(order, ExceptionClass::Validation, reason);
        if let StepError::Fail { changes, .. } = &mut held {
            changes.events.push(decided);
        }
        return Err(held);
    };
    let mut changes = Changes::default();
    changes.events.push(decided);
    changes.events.extend(split_event);
    // Acknowledged now that the order is committed and its stock held, not
    // when it ships: Walmart cancels a purchase order left unacknowledged
    // for hours, and a 3PL that ships next morning is normal. Its own job
    // (a channel outage retries the acknowledgement, not the reservation),
    // queued before the ERP's so it runs first: an entity's jobs run in id
    // order. While it retries (a Walmart outage) the ERP step waits behind
    // it; once it fails for good (raised) it no longer holds the order back.
    if cx
        .connections
        .channels
        .get(&order.channel)
        .is_some_and(|c| c.connector.acknowledges_orders())
    {
        changes
            .jobs
            .push(cx.next(Step::Acknowledge, JobPayload::order(&order.id)));
    }
    cx.advance(
        order,
        OrderStatus::Reserved,
        json!({ "location": location, "reason": decision.reason }),
        Some(Step::AcceptInErp),
        &mut changes,
    );
    Ok(changes)
}

/// What routing sees: the order's open lines and, per warehouse, what is
/// available of them right now and whether it is down.
async fn routing_input(
    cx: &StepCx<'_>,
    order: &Order,
    lines: &[ReserveLine],
) -> Result<routing::RoutingInput, StepError> {
    let mut quantities: std::collections::BTreeMap<String, i64> = Default::default();
    let mut skus = Vec::new();
    for l in lines {
        if !quantities.contains_key(&l.sku) {
            skus.push(l.sku.clone());
        }
        *quantities.entry(l.sku.clone()).or_default() += l.quantity;
    }
    let mut positions = Vec::new();
    for sku in &skus {
        positions.extend(cx.store.positions(Some(sku)).await?);
    }
    let address = order.shipping_address.as_ref();
    // Today's releases per warehouse (the capacity slots they took), only
    // when a capacity rule needs them. Advisory: the release takes its slot
    // in the store, where two orders cannot both take the last one.
    let released_today = if cx.connections.router.load().uses_capacity() {
        cx.store
            .release_slots_used(routing::capacity_day(cx.now))
            .await?
    } else {
        Vec::new()
    };
    let candidates = cx
        .connections
        .warehouses
        .iter()
        .map(|w| {
            let name = w.name().to_owned();
            let available: std::collections::BTreeMap<String, i64> = skus
                .iter()
                .map(|sku| {
                    let units = positions
                        .iter()
                        .find(|p| p.sku == *sku && p.location == name)
                        .map_or(0, |p| p.on_hand - p.reserved);
                    (sku.clone(), units)
                })
                .collect();
            let can_serve_all = quantities
                .iter()
                .all(|(sku, q)| available.get(sku).is_some_and(|a| a >= q));
            routing::CandidateFacts {
                down: cx.warehouses.down(&name),
                shipped_today: released_today
                    .iter()
                    .find(|(w, _)| *w == name)
                    .map_or(0, |(_, n)| *n),
                name,
                can_serve_all,
                available,
            }
        })
        .collect();
    Ok(routing::RoutingInput {
        order: routing::OrderFacts {
            id: order.id.clone(),
            channel: order.channel.clone(),
            service_level: order.service_level.clone(),
            country: address.map(|a| a.country.clone()).unwrap_or_default(),
            region: address.and_then(|a| a.region.clone()).unwrap_or_default(),
            postal_code: address.map(|a| a.postal_code.clone()).unwrap_or_default(),
            units: quantities.values().sum(),
            line_count: lines.len() as i64,
            total_minor: order.total.minor_units().unwrap_or(i64::MAX),
            skus,
            quantities,
        },
        candidates,
    })
}
