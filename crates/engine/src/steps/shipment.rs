//! Shipments: a warehouse's shipment message is applied to its order (a
//! short ship's remainder handed to the channel's policy), then each
//! shipment is confirmed to the channel.

use crossdock_connectors::ShipConfirmation;
use crossdock_model::{DataKind, Decision, ExceptionClass, OrderStatus, Source, Subject};
use crossdock_store::events::{EffectApplied, LineQuantity, TimelineEvent};
use crossdock_store::{Changes, InboxStatus, ReservationChange};
use serde_json::json;

use super::context::{StepCx, StepError, StepResult};
use super::payload::JobPayload;
use super::release::{cancel_remainder, line_quantities};
use super::step::Step;
use crate::connections::ShortShipPolicy;
use crate::effects::{EffectSpec, run_effect};

pub(super) async fn warehouse_shipment(cx: &StepCx<'_>) -> StepResult {
    let (inbox_id, msg) = cx.inbox_message().await?;
    let store = cx.store;
    let name = msg.source.strip_prefix("warehouse:").unwrap_or(&msg.source);
    let warehouse = cx.warehouse(name)?;
    let shipment = warehouse.map_shipment(&msg.body).map_err(|e| {
        let mut changes = Changes::default();
        changes
            .inbox
            .push((inbox_id, InboxStatus::Failed, Some(e.to_string())));
        StepError::Fail {
            class: ExceptionClass::Mapping,
            reason: format!("{name} shipment: {e}"),
            changes: Box::new(changes),
        }
    })?;
    let mut order = store.order(&shipment.order_id).await?.ok_or_else(|| {
        StepError::fail(
            ExceptionClass::Validation,
            format!(
                "shipment {} names unknown order {}",
                shipment.id, shipment.order_id
            ),
        )
    })?;
    let mut changes = Changes::default();
    // Only a warehouse the order was released to ships it (by default;
    // `[authority].shipments`). Another's report is kept for an operator:
    // applying it would consume units that warehouse never held and confirm
    // to the channel what may not have left.
    let released_to = cx.released_to(&order.id).await?;
    if let Decision::NotAuthoritative { authority } = cx.connections.authority.decide(
        &Source::Warehouse(name.to_owned()),
        DataKind::Shipments,
        &Subject::Order {
            channel: &order.channel,
            status: order.status,
            released_to: &released_to,
        },
    ) {
        let reason = format!(
            "shipment {} from warehouse:{name} for order {} not applied: its shipments are {authority}'s ([authority].shipments)",
            shipment.id, order.id
        );
        cx.keep_unapplied(
            &mut changes,
            DataKind::Shipments,
            &msg.source,
            &authority,
            inbox_id,
            format!(
                "shipment {} of {} unit(s), tracking {:?}: {reason}",
                shipment.id,
                shipment.lines.iter().map(|l| l.quantity).sum::<u32>(),
                shipment.tracking.number
            ),
        );
        changes.inbox.push((
            inbox_id,
            InboxStatus::Failed,
            Some("shipment from a warehouse that is not the order's".into()),
        ));
        return Err(StepError::Fail {
            class: ExceptionClass::Authority,
            reason,
            changes: Box::new(changes),
        });
    }
    if let Some(known) = store.shipment(&shipment.id).await? {
        if known.shipment.order_id != shipment.order_id {
            return Err(StepError::fail(
                ExceptionClass::Validation,
                format!(
                    "shipment {} was already recorded for order {}, now reported for {}",
                    shipment.id, known.shipment.order_id, shipment.order_id
                ),
            ));
        }
        changes.inbox.push((
            inbox_id,
            InboxStatus::Stale,
            Some("shipment already recorded".into()),
        ));
        return Ok(changes);
    }
    for (i, sl) in shipment.lines.iter().enumerate() {
        let Some(line) = order.lines.iter_mut().find(|l| l.line_id == sl.line_id) else {
            return Err(StepError::fail(
                ExceptionClass::Validation,
                format!("lines[{i}].line_id: order has no line {:?}", sl.line_id),
            ));
        };
        if sl.quantity > line.open_quantity() {
            return Err(StepError::fail(
                ExceptionClass::Validation,
                format!(
                    "lines[{i}].quantity: {} shipped but only {} open on line {}",
                    sl.quantity,
                    line.open_quantity(),
                    sl.line_id
                ),
            ));
        }
        line.shipped_quantity += sl.quantity;
        changes.reservations.push(ReservationChange::Consume {
            order_id: order.id.clone(),
            line_id: sl.line_id.clone(),
            quantity: i64::from(sl.quantity),
        });
    }
    // The warehouse's last word on its request: what it left open will not
    // come from there.
    let mut follow_up = None;
    let short: Vec<(String, u32)> = if shipment.completes_request {
        // Only the lines of this warehouse's request: a split order's
        // other lines are another warehouse's business.
        let held = store.reservations(&order.id).await?;
        order
            .lines
            .iter()
            .filter(|l| l.open_quantity() > 0)
            .filter(|l| {
                held.iter().any(|r| {
                    r.line_id == l.line_id && r.state == "held" && r.location == shipment.warehouse
                })
            })
            .map(|l| (l.line_id.clone(), l.open_quantity()))
            .collect()
    } else {
        Vec::new()
    };
    if !short.is_empty() {
        let policy = cx
            .connections
            .channels
            .get(&order.channel)
            .map(|c| c.short_ship)
            .unwrap_or_default();
        changes.events.push(cx.event(TimelineEvent::ShortShipped {
            shipment_id: shipment.id.clone(),
            warehouse: shipment.warehouse.clone(),
            policy: json!(policy),
            lines: line_quantities(&short),
        }));
        match policy {
            // After this step's writes (the shipped units leave the
            // reservation), a release step moves what is still held.
            ShortShipPolicy::Reroute => follow_up = Some(shipment.warehouse.clone()),
            ShortShipPolicy::Cancel => {
                cancel_remainder(cx, &mut order, &short, &mut changes);
            }
        }
    }
    let status = if order.fully_resolved() {
        OrderStatus::Shipped
    } else {
        OrderStatus::PartiallyShipped
    };
    cx.transition(
        &mut order,
        status,
        &mut changes,
        json!({ "shipment_id": shipment.id }),
    );
    changes.events.push(
        cx.event(TimelineEvent::ShipmentReceived {
            shipment_id: shipment.id.clone(),
            warehouse: shipment.warehouse.clone(),
            tracking: shipment.tracking.number.clone(),
            lines: shipment
                .lines
                .iter()
                .map(|l| LineQuantity {
                    line_id: l.line_id.clone(),
                    quantity: l.quantity,
                })
                .collect(),
        }),
    );
    changes.jobs.push(cx.next(
        Step::ConfirmShipment,
        JobPayload::Shipment {
            order_id: order.id.clone(),
            shipment_id: shipment.id.clone(),
        },
    ));
    if let Some(from) = follow_up {
        // Runs after the confirmation: the channel hears of the shipped
        // part first, then the rest goes out from elsewhere or is cancelled.
        changes
            .jobs
            .push(cx.next(Step::Release, JobPayload::reroute(&order.id, Some(&from))));
    }
    changes.shipments.push((shipment, None));
    changes.orders.push(order);
    changes.inbox.push((inbox_id, InboxStatus::Processed, None));
    Ok(changes)
}

pub(super) async fn confirm_shipment(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    let shipment_id = cx.payload.shipment_id()?;
    let store = cx.store;
    let stored = store.shipment(shipment_id).await?.ok_or_else(|| {
        StepError::fail(
            ExceptionClass::Validation,
            format!("shipment {shipment_id} does not exist"),
        )
    })?;
    let conn = cx.channel(&order.channel)?;
    let mut changes = Changes::default();
    if stored.confirmed_at.is_none() {
        let confirmation = ShipConfirmation {
            package_id: stored.shipment.id.clone(),
            external_order_id: order.external_id.clone(),
            shipment: stored.shipment.clone(),
        };
        let target = format!("channel:{}", order.channel);
        let (confirmation_id, outcome) = run_effect(
            store,
            cx.now,
            &cx.resolutions,
            EffectSpec {
                key: format!("channel:ship_confirm:{}", stored.shipment.id),
                target: &target,
                kind: "ship_confirm",
                entity_key: cx.entity_key,
            },
            || {
                conn.connector
                    .find_shipment_confirmation(&order.external_id, &confirmation.package_id)
            },
            || conn.connector.confirm_shipment(&confirmation),
        )
        .await?;
        changes
            .events
            .push(cx.event(TimelineEvent::Effect(EffectApplied::ShipConfirm {
                shipment_id: stored.shipment.id.clone(),
                confirmation_id,
                outcome,
            })));
        changes
            .shipments
            .push((stored.shipment.clone(), Some(cx.now)));
    }
    let others_confirmed = store
        .shipments_for(&order.id)
        .await?
        .iter()
        .all(|s| s.shipment.id == stored.shipment.id || s.confirmed_at.is_some());
    if order.fully_resolved() && others_confirmed && order.status == OrderStatus::Shipped {
        cx.advance(
            order,
            OrderStatus::ConfirmedToChannel,
            json!({}),
            Some(Step::Invoice),
            &mut changes,
        );
    }
    Ok(changes)
}
