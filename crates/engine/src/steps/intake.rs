//! Intake: a channel's message becomes an order, an update of one, or its
//! cancellation.
//!
//! A cancellation stops the warehouse first (units already leaving mean the
//! order cannot be cancelled), then the ERP's sales order; one that
//! overtakes its order leaves a tombstone the order meets when it arrives.

use crossdock_connectors::{CancelOutcome, ChannelEvent};
use crossdock_model::{
    DataKind, Decision, ExceptionClass, Order, OrderStatus, Source, Subject, order_id_for,
};
use crossdock_store::events::TimelineEvent;
use crossdock_store::{Changes, EffectStatus, InboxStatus, ReservationChange, StoreError};
use serde_json::json;

use super::context::{StepCx, StepError, StepResult, WaitReason};
use super::keys::{erp_reference, fulfillment_request_id, sales_order_effect_key};
use super::payload::JobPayload;
use super::step::Step;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
/// How long an order a channel holds back (Amazon's Pending: payment not
/// yet verified) is waited for: Amazon keeps an order Pending up to 30 days.
pub(crate) const HELD_BACK_MAX_MS: i64 = 30 * DAY_MS;

/// When to look again at an order held back for `waited` ms: soon at
/// first (most payments clear in minutes), then at most hourly, so a month
/// of waiting costs a few hundred reads, not thousands.
fn held_back_recheck(waited: i64) -> std::time::Duration {
    let ms = (waited / 2).clamp(MINUTE_MS, 60 * MINUTE_MS);
    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn tombstone_key(order_id: &str) -> String {
    format!("cancelled_before_received:{order_id}")
}

pub(super) async fn channel_message(cx: &StepCx<'_>) -> StepResult {
    let (inbox_id, msg) = cx.inbox_message().await?;
    let store = cx.store;
    let channel_name = msg.source.strip_prefix("channel:").unwrap_or(&msg.source);
    let conn = cx.channel(channel_name)?;
    // Where the webhook is only a trigger, the order's current state comes
    // from the channel's API (a retry may carry a payload hours old).
    // A reconciliation poll already read the order's current state from the
    // channel; only a delivered message is a trigger to read it again. The
    // origin is the one the hub recorded, never read from the key, which
    // the sender chose.
    let refetched = if msg.polled() {
        None
    } else {
        conn.connector.refetch(&msg.body).await?
    };
    let body = refetched.as_deref().unwrap_or(&msg.body);
    let map = |body: &[u8]| {
        conn.connector.map_message(body).map_err(|e| {
            let mut changes = Changes::default();
            changes
                .inbox
                .push((inbox_id, InboxStatus::Failed, Some(e.to_string())));
            changes.events.push(cx.event(TimelineEvent::MappingFailed {
                inbox_id,
                error: e.to_string(),
            }));
            StepError::Fail {
                class: ExceptionClass::Mapping,
                reason: format!("{channel_name} message {}: {e}", msg.message_key),
                changes: Box::new(changes),
            }
        })
    };
    let mut event = map(body)?;
    // An order the channel holds back: unless a newer message about it
    // follows (it decides), a polled one is read again at its later looks,
    // since nothing else tells the stored state has moved on.
    let mut held_back = None;
    if matches!(event, ChannelEvent::NotYet { .. }) {
        let span = store.inbox_span(cx.entity_key, inbox_id).await?;
        if !span.1
            && msg.polled()
            && cx.now.saturating_sub(msg.received_at) >= MINUTE_MS
            && let Some(fresh) = conn.connector.refetch(&msg.body).await?
        {
            event = map(&fresh)?;
        }
        held_back = Some(span);
    }
    let mut changes = Changes::default();
    match event {
        ChannelEvent::NotYet {
            external_order_id,
            reason,
        } => {
            let (first_seen, newer) = held_back.unwrap_or_default();
            if newer {
                // A later message about the order follows this one and
                // carries (or triggers a read of) a newer state: it decides.
                changes.inbox.push((
                    inbox_id,
                    InboxStatus::Processed,
                    Some(format!("not taken yet, a newer message follows: {reason}")),
                ));
                changes.events.push(cx.event(TimelineEvent::NotTakenYet {
                    inbox_id,
                    external_order_id,
                    reason,
                }));
                return Ok(changes);
            }
            let waited = cx.now.saturating_sub(first_seen);
            if waited >= HELD_BACK_MAX_MS {
                let reason = format!(
                    "{channel_name} order {external_order_id} is still held back after {} days: {reason}",
                    waited / DAY_MS
                );
                changes
                    .inbox
                    .push((inbox_id, InboxStatus::Failed, Some(reason.clone())));
                return Err(StepError::Fail {
                    class: ExceptionClass::Transient,
                    reason,
                    changes: Box::new(changes),
                });
            }
            // Wait for it: no attempt is spent and nothing is raised. A
            // delivered trigger reads the order again when it comes back;
            // any newer message about the order wakes it at once.
            return Err(StepError::Wait {
                endpoint: format!("channel:{channel_name}"),
                why: WaitReason::PendingPayment,
                retry_after: held_back_recheck(waited),
                note: Some(reason),
            });
        }
        ChannelEvent::Order(order) => {
            let mut order = *order;
            let current = store.order(&order.id).await?;
            match current {
                None => {
                    if let Some(v) = store.meta(&tombstone_key(&order.id)).await? {
                        let cancelled_at: i64 = v.parse().unwrap_or(i64::MAX);
                        if cancelled_at >= order.source_version {
                            // The cancellation overtook the order: keep the order
                            // for the record, cancelled, and never work it.
                            order.status = OrderStatus::Cancelled;
                            order.source_version = cancelled_at;
                            changes.orders.push(order);
                            changes.inbox.push((
                                inbox_id,
                                InboxStatus::Stale,
                                Some("order was already cancelled".into()),
                            ));
                            changes.events.push(
                                cx.event(TimelineEvent::ReceivedAfterCancellation { inbox_id }),
                            );
                            return Ok(changes);
                        }
                    }
                    order.status = OrderStatus::Received;
                    changes.events.push(cx.event(TimelineEvent::Received {
                        inbox_id,
                        source_version: order.source_version,
                        channel: order.channel.clone(),
                    }));
                    changes
                        .jobs
                        .push(cx.next(Step::Validate, JobPayload::order(&order.id)));
                    changes.orders.push(order);
                    changes.inbox.push((inbox_id, InboxStatus::Processed, None));
                }
                Some(mut cur) => {
                    if order.source_version <= cur.source_version {
                        changes.inbox.push((
                            inbox_id,
                            InboxStatus::Stale,
                            Some(format!(
                                "version {} <= applied {}",
                                order.source_version, cur.source_version
                            )),
                        ));
                        changes
                            .events
                            .push(cx.event(TimelineEvent::StaleMessageIgnored {
                                inbox_id,
                                version: Some(order.source_version),
                                applied: Some(cur.source_version),
                            }));
                    } else {
                        // A newer version of an order we hold. Before
                        // validation, or while held, everything is taken and
                        // a held order is validated again (the correction an
                        // operator was waiting for). Later, lines are fixed
                        // by the reservation and the ERP order, and only the
                        // buyer-facing details move, until the warehouse has it.
                        cur.source_version = order.source_version;
                        let held = cur.status == OrderStatus::OnHold
                            && cur.erp_ref.is_none()
                            && !store
                                .reservations(&cur.id)
                                .await?
                                .iter()
                                .any(|r| r.state == "held");
                        if cur.status == OrderStatus::Received || held {
                            let status = cur.status;
                            cur = Order { status, ..order };
                            if held {
                                let superseded =
                                    store.supersede_exceptions(cx.entity_key, cx.now).await?;
                                changes.events.push(cx.event(
                                    TimelineEvent::ExceptionsSuperseded {
                                        count: superseded,
                                        version: cur.source_version,
                                    },
                                ));
                                changes
                                    .jobs
                                    .push(cx.next(Step::Validate, JobPayload::order(&cur.id)));
                            }
                        } else if cur.status < OrderStatus::ReleasedToWarehouse {
                            let moved = cur.customer != order.customer
                                || cur.shipping_address != order.shipping_address
                                || cur.billing_address != order.billing_address;
                            match order_decision(cx, channel_name, DataKind::Customer, &cur).await?
                            {
                                Decision::NotAuthoritative { authority } if moved => {
                                    cx.keep_unapplied(
                                        &mut changes,
                                        DataKind::Customer,
                                        &format!("channel:{channel_name}"),
                                        &authority,
                                        inbox_id,
                                        format!(
                                            "buyer or addresses at version {} not taken: the customer is {authority}'s ([authority].customer)",
                                            order.source_version
                                        ),
                                    );
                                }
                                _ => {
                                    cur.customer = order.customer;
                                    cur.shipping_address = order.shipping_address;
                                    cur.billing_address = order.billing_address;
                                }
                            }
                        }
                        changes.events.push(cx.event(TimelineEvent::OrderUpdated {
                            inbox_id,
                            version: cur.source_version,
                        }));
                        changes.orders.push(cur);
                        changes.inbox.push((inbox_id, InboxStatus::Processed, None));
                    }
                }
            }
        }
        ChannelEvent::Cancelled {
            external_order_id,
            source_version,
            reason,
        } => {
            let order_id = order_id_for(channel_name, &external_order_id);
            match store.order(&order_id).await? {
                None => {
                    store
                        .set_meta(&tombstone_key(&order_id), &source_version.to_string())
                        .await?;
                    changes.events.push(
                        cx.event(TimelineEvent::CancelledBeforeReceived { inbox_id, reason }),
                    );
                    changes.inbox.push((inbox_id, InboxStatus::Processed, None));
                }
                Some(mut cur) => {
                    if source_version <= cur.source_version {
                        changes.inbox.push((
                            inbox_id,
                            InboxStatus::Stale,
                            Some(format!(
                                "version {source_version} <= applied {}",
                                cur.source_version
                            )),
                        ));
                        changes
                            .events
                            .push(cx.event(TimelineEvent::StaleMessageIgnored {
                                inbox_id,
                                version: None,
                                applied: None,
                            }));
                    } else if cur.any_shipped() {
                        let reason = format!(
                            "cancellation of {external_order_id} arrived when the order was {}: units have shipped; arrange a return or refund with the channel",
                            cur.status
                        );
                        return Err(refuse_cancellation(
                            cur,
                            source_version,
                            inbox_id,
                            "cancellation after shipment",
                            reason,
                        ));
                    } else if let Decision::NotAuthoritative { authority } =
                        order_decision(cx, channel_name, DataKind::OrderStatus, &cur).await?
                    {
                        let source = format!("channel:{channel_name}");
                        let reason = format!(
                            "cancellation of {external_order_id} from {source} not applied: the order's status is {authority}'s ([authority].order_status) and the order is {}",
                            cur.status
                        );
                        let mut kept = Changes::default();
                        cx.keep_unapplied(
                            &mut kept,
                            DataKind::OrderStatus,
                            &source,
                            &authority,
                            inbox_id,
                            format!(
                                "cancel at version {source_version} while {}: {reason}",
                                cur.status
                            ),
                        );
                        return Err(refuse_cancellation_with(
                            kept,
                            cur,
                            source_version,
                            inbox_id,
                            "cancellation from a system that is not the order's status authority",
                            reason,
                        ));
                    } else if cur.status.is_terminal() {
                        cur.source_version = source_version;
                        changes.inbox.push((
                            inbox_id,
                            InboxStatus::Processed,
                            Some(format!("order already {}", cur.status)),
                        ));
                        changes.orders.push(cur);
                    } else {
                        // Stop the warehouse first: if units are already
                        // leaving, the order cannot be cancelled and the ERP
                        // sales order must stay.
                        if let Some(outcome) = cancel_at_warehouse(cx, &cur).await? {
                            changes
                                .events
                                .push(cx.event(TimelineEvent::WarehouseCancel {
                                    outcome: json!(outcome),
                                }));
                            if outcome == CancelOutcome::TooLate {
                                let reason = format!(
                                    "cancellation of {external_order_id}: the warehouse says units are already leaving; arrange a return or refund with the channel"
                                );
                                return Err(refuse_cancellation(
                                    cur,
                                    source_version,
                                    inbox_id,
                                    "cancellation too late at the warehouse",
                                    reason,
                                ));
                            }
                        }
                        if let Some(erp_ref) = erp_sales_order_to_cancel(cx, &cur).await? {
                            // Cancelling is idempotent at the ERP, so a retry of this step is safe.
                            cx.connections.erp.cancel_sales_order(&erp_ref).await?;
                            changes
                                .events
                                .push(cx.event(TimelineEvent::ErpSalesOrderCancelled {
                                    erp_ref: erp_ref.clone(),
                                }));
                        }
                        cur.source_version = source_version;
                        cx.transition(
                            &mut cur,
                            OrderStatus::Cancelled,
                            &mut changes,
                            json!({ "reason": reason }),
                        );
                        for l in &mut cur.lines {
                            l.cancelled_quantity = l.quantity - l.shipped_quantity;
                        }
                        changes.reservations.push(ReservationChange::ReleaseOrder {
                            order_id: cur.id.clone(),
                        });
                        changes.orders.push(cur);
                        changes.inbox.push((inbox_id, InboxStatus::Processed, None));
                    }
                }
            }
        }
    }
    Ok(changes)
}

/// A cancellation that is understood but cannot be honoured (units have
/// left). Its version is recorded, so another copy of it (a poll, a
/// redelivery) is stale rather than a second exception.
fn refuse_cancellation(
    order: Order,
    version: i64,
    inbox_id: i64,
    note: &str,
    reason: String,
) -> StepError {
    refuse_cancellation_with(Changes::default(), order, version, inbox_id, note, reason)
}

/// [`refuse_cancellation`] with the writes that keep it (`changes`).
fn refuse_cancellation_with(
    mut changes: Changes,
    mut order: Order,
    version: i64,
    inbox_id: i64,
    note: &str,
    reason: String,
) -> StepError {
    order.source_version = version;
    changes.orders.push(order);
    changes
        .inbox
        .push((inbox_id, InboxStatus::Failed, Some(note.to_owned())));
    StepError::Fail {
        class: ExceptionClass::Authority,
        reason,
        changes: Box::new(changes),
    }
}

/// What the registry says of `channel`'s word on `kind` of `order`.
async fn order_decision(
    cx: &StepCx<'_>,
    channel: &str,
    kind: DataKind,
    order: &Order,
) -> Result<Decision, StepError> {
    let released_to = cx.released_to(&order.id).await?;
    Ok(cx.connections.authority.decide(
        &Source::Channel(channel.to_owned()),
        kind,
        &Subject::Order {
            channel: &order.channel,
            status: order.status,
            released_to: &released_to,
        },
    ))
}

/// The ERP's sales order for `order`, if one exists or may exist: known
/// from the order, or from the effect log, or — when the create was left in
/// doubt — by asking the ERP for our reference.
async fn erp_sales_order_to_cancel(
    cx: &StepCx<'_>,
    order: &Order,
) -> Result<Option<String>, StepError> {
    if let Some(id) = &order.erp_ref {
        return Ok(Some(id.clone()));
    }
    let Some(effect) = cx.store.effect(&sales_order_effect_key(&order.id)).await? else {
        return Ok(None);
    };
    match effect.status {
        EffectStatus::Applied => Ok(effect
            .result
            .as_ref()
            .and_then(|r| r.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)),
        // Known not applied: nothing to cancel.
        EffectStatus::Failed => Ok(None),
        // In doubt: the create may still be on its way. Cancel what the ERP
        // holds; if it holds nothing yet, wait and ask again rather than
        // leave a sales order behind a cancelled order.
        EffectStatus::Pending => {
            match cx
                .connections
                .erp
                .find_sales_order(&erp_reference(order))
                .await?
            {
                Some(doc) => {
                    let json = serde_json::to_value(&doc)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    cx.store
                        .resolve_effect(&effect.key, EffectStatus::Applied, Some(&json), cx.now)
                        .await?;
                    Ok(Some(doc.id))
                }
                None => Err(StepError::Retry {
                    reason:
                        "the ERP sales order create is in doubt; asking again before cancelling"
                            .into(),
                    retry_after: None,
                }),
            }
        }
    }
}

/// Ask the warehouse holding the order's request to stop it. `None` when
/// the order was never released (nothing to stop).
async fn cancel_at_warehouse(
    cx: &StepCx<'_>,
    order: &Order,
) -> Result<Option<CancelOutcome>, StepError> {
    let released = cx
        .store
        .effects_for(cx.entity_key)
        .await?
        .into_iter()
        .filter(|e| e.kind == "release")
        .collect::<Vec<_>>();
    let Some(effect) = released.first() else {
        return Ok(None);
    };
    let location = effect
        .target
        .strip_prefix("warehouse:")
        .unwrap_or(&effect.target);
    let warehouse = cx.warehouse(location)?;
    Ok(Some(
        warehouse
            .cancel_release(&fulfillment_request_id(&order.id, location))
            .await?,
    ))
}
