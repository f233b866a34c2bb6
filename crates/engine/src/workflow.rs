//! The order workflow, one job per step:
//!
//! ```text
//! channel message ─▶ validate ─▶ reserve ─▶ accept_in_erp ─▶ release
//!        warehouse shipment ─▶ confirm_shipment (per shipment) ─▶ invoice ─▶ close
//! ```
//!
//! A step reads the entity, may perform effects, and returns the writes
//! (`Changes`) that the runner commits together with the job's completion,
//! including the next step's job. Steps are safe to run again: every
//! external call is an effect, and every write is keyed.

use crossdock_connectors::{CancelOutcome, ChannelEvent, ConnectorError, ShipConfirmation};
use crossdock_model::{
    ExceptionClass, FulfillmentLine, FulfillmentRequest, Order, OrderStatus, order_id_for,
};
use crossdock_store::{
    Changes, EffectStatus, InboxStatus, NewEvent, NewJob, ReservationChange, ReserveLine,
    StoreError,
};
use serde_json::json;

use crate::effects::{EffectError, EffectSpec, run_effect};
use crate::engine::Inner;

/// The workflow steps, as stored in the job table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ChannelMessage,
    Validate,
    Reserve,
    AcceptInErp,
    Release,
    WarehouseShipment,
    ConfirmShipment,
    Invoice,
    Close,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::ChannelMessage,
        Step::Validate,
        Step::Reserve,
        Step::AcceptInErp,
        Step::Release,
        Step::WarehouseShipment,
        Step::ConfirmShipment,
        Step::Invoice,
        Step::Close,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Step::ChannelMessage => "channel_message",
            Step::Validate => "validate",
            Step::Reserve => "reserve",
            Step::AcceptInErp => "accept_in_erp",
            Step::Release => "release",
            Step::WarehouseShipment => "warehouse_shipment",
            Step::ConfirmShipment => "confirm_shipment",
            Step::Invoice => "invoice",
            Step::Close => "close",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The entity key of an order: all its jobs share it.
pub fn order_entity_key(order_id: &str) -> String {
    format!("order:{order_id}")
}

/// Why a step waits without spending an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitReason {
    /// The target's circuit breaker is open (or every eligible warehouse is down).
    BreakerOpen,
    /// The ERP account's rate limit has no room yet (simulated time only).
    RateLimit,
}

impl WaitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::BreakerOpen => "breaker_open",
            WaitReason::RateLimit => "rate_limit",
        }
    }
}

/// Why a step did not complete.
#[derive(Debug)]
pub(crate) enum StepError {
    /// Try again later (target busy, down, or in doubt).
    Retry {
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
    /// Nothing was sent (the target's breaker is open, or its rate limit
    /// has no room): come back later without spending an attempt.
    Wait {
        endpoint: String,
        why: WaitReason,
        retry_after: std::time::Duration,
    },
    /// Give up: to the exception queue, with writes that record the failure.
    Fail {
        class: ExceptionClass,
        reason: String,
        changes: Box<Changes>,
    },
}

impl StepError {
    fn fail(class: ExceptionClass, reason: impl Into<String>) -> Self {
        StepError::Fail {
            class,
            reason: reason.into(),
            changes: Box::default(),
        }
    }
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        StepError::Retry {
            reason: format!("store: {e}"),
            retry_after: None,
        }
    }
}

impl From<EffectError> for StepError {
    fn from(e: EffectError) -> Self {
        match e {
            EffectError::Store(s) => s.into(),
            EffectError::Connector(c) => c.into(),
        }
    }
}

impl From<ConnectorError> for StepError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::Transient {
                reason,
                retry_after,
            } => StepError::Retry {
                reason,
                retry_after,
            },
            ConnectorError::Unreachable { reason } => StepError::Retry {
                reason,
                retry_after: None,
            },
            ConnectorError::Throttled {
                reason,
                retry_after,
            } => StepError::Retry {
                reason,
                retry_after: Some(retry_after),
            },
            ConnectorError::CircuitOpen {
                endpoint,
                retry_after,
            } => StepError::Wait {
                endpoint,
                why: WaitReason::BreakerOpen,
                retry_after,
            },
            ConnectorError::Paced {
                endpoint,
                retry_after,
            } => StepError::Wait {
                endpoint,
                why: WaitReason::RateLimit,
                retry_after,
            },
            ConnectorError::Rejected { reason } => {
                StepError::fail(ExceptionClass::Permanent, reason)
            }
            ConnectorError::Unauthorized { reason } => {
                StepError::fail(ExceptionClass::Permanent, format!("unauthorized: {reason}"))
            }
        }
    }
}

pub(crate) type StepResult = Result<Changes, StepError>;

/// Context of one step run.
pub(crate) struct StepCx<'a> {
    pub inner: &'a Inner,
    pub entity_key: &'a str,
    pub payload: &'a serde_json::Value,
    pub now: i64,
    /// Effects applied by this run, recorded with the step's outcome.
    pub resolutions: std::sync::Mutex<Vec<crossdock_store::EffectResolution>>,
}

impl StepCx<'_> {
    fn event(&self, kind: &str, detail: serde_json::Value) -> NewEvent {
        NewEvent {
            entity_key: self.entity_key.to_owned(),
            at: self.now,
            kind: kind.to_owned(),
            detail,
        }
    }

    fn next(&self, step: Step, payload: serde_json::Value) -> NewJob {
        NewJob {
            entity_key: self.entity_key.to_owned(),
            step: step.as_str().to_owned(),
            payload,
            run_at: self.now,
        }
    }

    fn str_field(&self, name: &str) -> Result<&str, StepError> {
        self.payload
            .get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                StepError::fail(ExceptionClass::Mapping, format!("job payload lacks {name}"))
            })
    }

    fn inbox_id(&self) -> Result<i64, StepError> {
        self.payload
            .get("inbox_id")
            .and_then(|v| v.as_i64())
            .ok_or_else(|| StepError::fail(ExceptionClass::Mapping, "job payload lacks inbox_id"))
    }

    async fn order(&self) -> Result<Order, StepError> {
        let id = self.str_field("order_id")?;
        self.inner.store.order(id).await?.ok_or_else(|| {
            StepError::fail(
                ExceptionClass::Validation,
                format!("order {id} does not exist"),
            )
        })
    }

    /// Move `order` to `status`, with an audit event. Refuses to move backwards.
    fn transition(
        &self,
        order: &mut Order,
        status: OrderStatus,
        changes: &mut Changes,
        detail: serde_json::Value,
    ) {
        if order.status == status || !order.status.may_become(status) {
            return;
        }
        let from = order.status;
        order.status = status;
        changes.events.push(self.event(
            "status_changed",
            json!({ "from": from, "to": status, "detail": detail }),
        ));
    }

    /// The channel connection named `name`.
    fn channel(&self, name: &str) -> Result<&crate::engine::ChannelConnection, StepError> {
        self.inner.connections.channels.get(name).ok_or_else(|| {
            StepError::fail(
                ExceptionClass::Mapping,
                format!("no channel connection named {name:?}"),
            )
        })
    }

    /// The warehouse connection named `name`.
    fn warehouse(
        &self,
        name: &str,
    ) -> Result<&std::sync::Arc<dyn crossdock_connectors::Warehouse>, StepError> {
        self.inner
            .connections
            .warehouses
            .iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| {
                StepError::fail(
                    ExceptionClass::Mapping,
                    format!("no warehouse connection named {name:?}"),
                )
            })
    }

    /// Move the order on and write it, with the job of its next step.
    fn advance(
        &self,
        mut order: Order,
        status: OrderStatus,
        detail: serde_json::Value,
        next: Option<Step>,
        changes: &mut Changes,
    ) {
        self.transition(&mut order, status, changes, detail);
        if let Some(step) = next {
            changes
                .jobs
                .push(self.next(step, json!({ "order_id": order.id })));
        }
        changes.orders.push(order);
    }

    /// Put the order on hold and fail the step.
    fn hold(&self, mut order: Order, class: ExceptionClass, reason: String) -> StepError {
        let mut changes = Changes::default();
        self.transition(
            &mut order,
            OrderStatus::OnHold,
            &mut changes,
            json!({ "reason": reason }),
        );
        changes.orders.push(order);
        StepError::Fail {
            class,
            reason,
            changes: Box::new(changes),
        }
    }
}

pub(crate) async fn run_step(step: Step, cx: &StepCx<'_>) -> StepResult {
    match step {
        Step::ChannelMessage => channel_message(cx).await,
        Step::Validate => validate(cx).await,
        Step::Reserve => reserve(cx).await,
        Step::AcceptInErp => accept_in_erp(cx).await,
        Step::Release => release(cx).await,
        Step::WarehouseShipment => warehouse_shipment(cx).await,
        Step::ConfirmShipment => confirm_shipment(cx).await,
        Step::Invoice => invoice(cx).await,
        Step::Close => close(cx).await,
    }
}

fn tombstone_key(order_id: &str) -> String {
    format!("cancelled_before_received:{order_id}")
}

async fn channel_message(cx: &StepCx<'_>) -> StepResult {
    let inbox_id = cx.inbox_id()?;
    let store = &cx.inner.store;
    let msg = store.inbox_message(inbox_id).await?.ok_or_else(|| {
        StepError::fail(
            ExceptionClass::Mapping,
            format!("inbox message {inbox_id} is gone"),
        )
    })?;
    let channel_name = msg.source.strip_prefix("channel:").unwrap_or(&msg.source);
    let conn = cx.channel(channel_name)?;
    // Where the webhook is only a trigger, the order's current state comes
    // from the channel's API (a retry may carry a payload hours old).
    // A reconciliation poll already read the order's current state from the
    // channel; only a webhook delivery is a trigger to read it again.
    let polled = msg.message_key.starts_with("poll:");
    let refetched = if polled {
        None
    } else {
        conn.connector.refetch(&msg.body).await?
    };
    let body = refetched.as_deref().unwrap_or(&msg.body);
    let event = match conn.connector.map_message(body) {
        Ok(e) => e,
        Err(e) => {
            let mut changes = Changes::default();
            changes
                .inbox
                .push((inbox_id, InboxStatus::Failed, Some(e.to_string())));
            changes.events.push(cx.event(
                "mapping_failed",
                json!({ "inbox_id": inbox_id, "error": e.to_string() }),
            ));
            return Err(StepError::Fail {
                class: ExceptionClass::Mapping,
                reason: format!("{channel_name} message {}: {e}", msg.message_key),
                changes: Box::new(changes),
            });
        }
    };
    let mut changes = Changes::default();
    match event {
        ChannelEvent::NotYet {
            external_order_id,
            reason,
        } => {
            changes.inbox.push((
                inbox_id,
                InboxStatus::Processed,
                Some(format!("not taken yet: {reason}")),
            ));
            changes.events.push(cx.event(
                "not_taken_yet",
                json!({ "inbox_id": inbox_id, "external_order_id": external_order_id, "reason": reason }),
            ));
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
                            changes.events.push(cx.event(
                                "received_after_cancellation",
                                json!({ "inbox_id": inbox_id }),
                            ));
                            return Ok(changes);
                        }
                    }
                    order.status = OrderStatus::Received;
                    changes.events.push(cx.event(
                        "received",
                        json!({ "inbox_id": inbox_id, "source_version": order.source_version, "channel": order.channel }),
                    ));
                    changes
                        .jobs
                        .push(cx.next(Step::Validate, json!({ "order_id": order.id })));
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
                        changes.events.push(cx.event(
                            "stale_message_ignored",
                            json!({ "inbox_id": inbox_id, "version": order.source_version, "applied": cur.source_version }),
                        ));
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
                                    "exceptions_superseded",
                                    json!({ "count": superseded, "version": cur.source_version }),
                                ));
                                changes
                                    .jobs
                                    .push(cx.next(Step::Validate, json!({ "order_id": cur.id })));
                            }
                        } else if cur.status < OrderStatus::ReleasedToWarehouse {
                            cur.customer = order.customer;
                            cur.shipping_address = order.shipping_address;
                            cur.billing_address = order.billing_address;
                        }
                        changes.events.push(cx.event(
                            "order_updated",
                            json!({ "inbox_id": inbox_id, "version": cur.source_version }),
                        ));
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
                    changes.events.push(cx.event(
                        "cancelled_before_received",
                        json!({ "inbox_id": inbox_id, "reason": reason }),
                    ));
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
                        changes.events.push(
                            cx.event("stale_message_ignored", json!({ "inbox_id": inbox_id })),
                        );
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
                                .push(cx.event("warehouse_cancel", json!({ "outcome": outcome })));
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
                            cx.inner
                                .connections
                                .erp
                                .cancel_sales_order(&erp_ref)
                                .await?;
                            changes.events.push(
                                cx.event(
                                    "erp_sales_order_cancelled",
                                    json!({ "erp_ref": erp_ref }),
                                ),
                            );
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
    mut order: Order,
    version: i64,
    inbox_id: i64,
    note: &str,
    reason: String,
) -> StepError {
    order.source_version = version;
    let changes = Changes {
        orders: vec![order],
        inbox: vec![(inbox_id, InboxStatus::Failed, Some(note.to_owned()))],
        ..Changes::default()
    };
    StepError::Fail {
        class: ExceptionClass::Authority,
        reason,
        changes: Box::new(changes),
    }
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
    let Some(effect) = cx
        .inner
        .store
        .effect(&sales_order_effect_key(&order.id))
        .await?
    else {
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
                .inner
                .connections
                .erp
                .find_sales_order(&erp_reference(order))
                .await?
            {
                Some(doc) => {
                    let json = serde_json::to_value(&doc)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    cx.inner
                        .store
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

fn sales_order_effect_key(order_id: &str) -> String {
    format!("erp:sales_order:{order_id}")
}

/// The id of the fulfilment request for `order` at `location`.
fn fulfillment_request_id(order_id: &str, location: &str) -> String {
    format!("{order_id}:{location}")
}

/// Ask the warehouse holding the order's request to stop it. `None` when
/// the order was never released (nothing to stop).
async fn cancel_at_warehouse(
    cx: &StepCx<'_>,
    order: &Order,
) -> Result<Option<CancelOutcome>, StepError> {
    let released = cx
        .inner
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

async fn validate(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    if order.status.is_terminal()
        || order.status > OrderStatus::Validated && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    let mut problems = Vec::new();
    if order.lines.is_empty() {
        problems.push("order has no lines".to_owned());
    }
    for (i, l) in order.lines.iter().enumerate() {
        if l.quantity == 0 {
            problems.push(format!("lines[{i}].quantity: must be at least 1"));
        }
        for (field, m) in [
            ("unit_price", l.unit_price),
            ("discount", l.discount),
            ("tax", l.tax),
        ] {
            if m.currency != order.currency {
                problems.push(format!(
                    "lines[{i}].{field}: currency {} differs from order currency {}",
                    m.currency, order.currency
                ));
            }
            if m.amount.is_sign_negative() {
                problems.push(format!("lines[{i}].{field}: negative amount {}", m.amount));
            }
        }
    }
    if order.shipping_address.is_none() {
        problems.push("shipping_address: missing".to_owned());
    }
    if problems.is_empty() {
        match order.computed_total() {
            Ok(t) if t == order.total => {}
            Ok(t) => problems.push(format!(
                "total: channel says {} but lines and shipping add up to {}",
                order.total, t
            )),
            Err(e) => problems.push(format!("total: {e}")),
        }
    }
    let positions = cx.inner.store.positions(None).await?;
    for (i, l) in order.lines.iter().enumerate() {
        if !positions.iter().any(|p| p.sku == l.sku) {
            problems.push(format!("lines[{i}].sku: unknown SKU {:?}", l.sku));
        }
    }
    if !problems.is_empty() {
        return Err(cx.hold(order, ExceptionClass::Validation, problems.join("; ")));
    }
    let mut changes = Changes::default();
    cx.advance(
        order,
        OrderStatus::Validated,
        json!({}),
        Some(Step::Reserve),
        &mut changes,
    );
    Ok(changes)
}

async fn reserve(cx: &StepCx<'_>) -> StepResult {
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
    let decision = cx.inner.connections.router.decide(&input);
    let decided = cx.event(
        crate::routing::ROUTING_EVENT,
        json!({ "input": input, "decision": decision }),
    );
    let mut location = cx
        .inner
        .store
        .reserve(&order.id, &lines, &decision.order)
        .await?;
    let split = cx
        .inner
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
        let ranked = cx.inner.connections.router.decide(&partial);
        if let Some(placed) = cx
            .inner
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
            split_event = Some(cx.event(
                "split",
                json!({ "lines": placed.iter().map(|(l, w)| json!({"line_id": l, "warehouse": w})).collect::<Vec<_>>(),
                        "reason": ranked.reason }),
            ));
        }
    }
    let Some(location) = location else {
        // Eligible but for being down: wait for a warehouse to come back
        // rather than hold an order that will be shippable.
        if input.candidates.iter().any(|c| c.down && c.can_serve_all) {
            return Err(StepError::Wait {
                endpoint: "warehouses".to_owned(),
                why: WaitReason::BreakerOpen,
                retry_after: std::time::Duration::from_millis(
                    cx.inner.options.warehouse_breaker.open_ms,
                ),
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
) -> Result<crate::routing::RoutingInput, StepError> {
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
        positions.extend(cx.inner.store.positions(Some(sku)).await?);
    }
    let address = order.shipping_address.as_ref();
    // Today's releases per warehouse, only when a capacity rule needs them.
    let released_today = if cx.inner.connections.router.uses_capacity() {
        let day_start = cx.now - cx.now.rem_euclid(86_400_000);
        cx.inner.store.releases_since(day_start).await?
    } else {
        Vec::new()
    };
    let candidates = cx
        .inner
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
            crate::routing::CandidateFacts {
                down: cx.inner.warehouse_down(&name),
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
    Ok(crate::routing::RoutingInput {
        order: crate::routing::OrderFacts {
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

/// Our reference on ERP documents: unique per channel order, readable by people.
fn erp_reference(order: &Order) -> String {
    format!("{}:{}", order.channel, order.external_id)
}

async fn accept_in_erp(cx: &StepCx<'_>) -> StepResult {
    let mut order = cx.order().await?;
    if order.status.is_terminal()
        || order.status > OrderStatus::AcceptedByErp && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    let erp = &cx.inner.connections.erp;
    let reference = erp_reference(&order);
    let (doc, outcome) = run_effect(
        &cx.inner.store,
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
                &cx.inner.store,
                cx.now,
                &cx.resolutions,
                EffectSpec {
                    key: format!("erp:customer:{}", order.id),
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
    let mut changes = Changes::default();
    order.erp_ref = Some(doc.id.clone());
    changes.events.push(cx.event(
        "effect",
        json!({ "effect": "create_sales_order", "erp_ref": doc.id, "outcome": outcome }),
    ));
    cx.advance(
        order,
        OrderStatus::AcceptedByErp,
        json!({ "erp_ref": doc.id }),
        Some(Step::Release),
        &mut changes,
    );
    Ok(changes)
}

async fn release(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    // A re-route (after a fallback or a short ship) releases what the order
    // still holds to the warehouse it was moved to.
    let rerouting = cx
        .payload
        .get("reroute")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if order.status.is_terminal()
        || !rerouting
            && order.status >= OrderStatus::ReleasedToWarehouse
            && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    if let Some(from) = cx.payload.get("short_from").and_then(|v| v.as_str()) {
        return reroute_short_ship(cx, order, from).await;
    }
    let reservations = cx.inner.store.reservations(&order.id).await?;
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
        let key = format!("warehouse:release:{}", fulfillment_request_id(&order.id, l));
        let applied = cx
            .inner
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
    let effect_key = format!("warehouse:release:{}", request.id);
    // A warehouse that counts as down gets nothing new: if nothing was sent
    // to it for this request, the order moves to the next warehouse now.
    if cx.inner.warehouse_down(&location) {
        return fall_back(
            cx,
            order,
            &location,
            &effect_key,
            "its circuit breaker is open",
            false,
        )
        .await;
    }
    let warehouse = cx.warehouse(&location)?;
    let target = format!("warehouse:{location}");
    let released = run_effect(
        &cx.inner.store,
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
            cx.inner.warehouse_outcome(&location, false);
            done
        }
        Err(EffectError::Connector(e)) => {
            cx.inner.warehouse_outcome(&location, e.is_unanswered());
            if let ConnectorError::Rejected { reason } = &e {
                let why = format!("it refused the request: {reason}");
                return fall_back(cx, order, &location, &effect_key, &why, true).await;
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    let mut changes = Changes::default();
    changes.events.push(cx.event(
        "effect",
        json!({ "effect": "release", "warehouse": location, "request_id": request.id, "warehouse_id": warehouse_id, "outcome": outcome }),
    ));
    if more_after {
        changes.jobs.push(cx.next(
            Step::Release,
            json!({ "order_id": order.id, "reroute": true }),
        ));
    }
    if rerouting {
        changes.events.push(cx.event(
            "released_elsewhere",
            json!({ "warehouse": location, "request_id": request.id }),
        ));
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
        .inner
        .store
        .effects_for(cx.entity_key)
        .await?
        .into_iter()
        .filter(|e| e.kind == "release")
        .map(|e| e.key)
        .collect();
    Ok(cx
        .inner
        .connections
        .warehouses
        .iter()
        .map(|w| w.name().to_owned())
        .filter(|w| w != from)
        .filter(|w| {
            let key = format!("warehouse:release:{}", fulfillment_request_id(order_id, w));
            !used.contains(&key)
        })
        .filter(|w| !skip_down || !cx.inner.warehouse_down(w))
        .collect())
}

/// The order's holding moved from `from` to `to`: say so on its timeline
/// and release it there.
fn rerouted(cx: &StepCx<'_>, order_id: &str, from: &str, to: &str, reason: &str) -> Changes {
    let mut changes = Changes::default();
    changes.events.push(cx.event(
        "rerouted",
        json!({ "from": from, "to": to, "reason": reason }),
    ));
    changes.jobs.push(cx.next(
        Step::Release,
        json!({ "order_id": order_id, "reroute": true }),
    ));
    changes
}

/// Cancel the units a warehouse will not ship and give their stock back.
fn cancel_remainder(
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
    changes.events.push(cx.event(
        "remainder_cancelled",
        json!({ "reason": "short ship", "lines": short.iter().map(|(l, q)| json!({"line_id": l, "quantity": q})).collect::<Vec<_>>() }),
    ));
}

/// A short ship's remainder: move it to another warehouse and release it
/// there, or cancel it when none has it. Runs after the shipment's own
/// step, so only the unshipped units are still held at `from`.
async fn reroute_short_ship(cx: &StepCx<'_>, mut order: Order, from: &str) -> StepResult {
    let held = cx.inner.store.reservations(&order.id).await?;
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
        .inner
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
            .inner
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
    refused: bool,
) -> StepResult {
    let wait = StepError::Wait {
        endpoint: format!("warehouse:{from}"),
        why: WaitReason::BreakerOpen,
        retry_after: std::time::Duration::from_millis(cx.inner.options.warehouse_breaker.open_ms),
    };
    let sent = cx.inner.store.effect(effect_key).await?;
    if sent.as_ref().is_some_and(|e| {
        e.status == crossdock_store::EffectStatus::Pending
            || e.status == crossdock_store::EffectStatus::Applied
    }) {
        return Err(wait);
    }
    let all = move_candidates(cx, &order.id, from, false).await?;
    let up: Vec<String> = all
        .iter()
        .filter(|w| !cx.inner.warehouse_down(w))
        .cloned()
        .collect();
    if let Some(to) = cx
        .inner
        .store
        .move_reservation(&order.id, from, &up)
        .await?
        .filter(|to| to != from)
    {
        return Ok(rerouted(
            cx,
            &order.id,
            from,
            &to,
            &format!("{from}: {why}"),
        ));
    }
    // Nowhere to go now. A warehouse that is only down comes back (its own
    // or another one); one that refused, with no other that can take the
    // order, needs a person.
    if !refused || all.len() > up.len() {
        return Err(wait);
    }
    let reason = format!(
        "{from} refused the order ({why}) and no other warehouse can serve it (tried: [{}])",
        up.join(", ")
    );
    Err(cx.hold(order, ExceptionClass::Authority, reason))
}

async fn warehouse_shipment(cx: &StepCx<'_>) -> StepResult {
    let inbox_id = cx.inbox_id()?;
    let store = &cx.inner.store;
    let msg = store.inbox_message(inbox_id).await?.ok_or_else(|| {
        StepError::fail(
            ExceptionClass::Mapping,
            format!("inbox message {inbox_id} is gone"),
        )
    })?;
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
            .inner
            .connections
            .channels
            .get(&order.channel)
            .map(|c| c.short_ship)
            .unwrap_or_default();
        changes.events.push(cx.event(
            "short_shipped",
            json!({ "shipment_id": shipment.id, "warehouse": shipment.warehouse, "policy": policy,
                    "lines": short.iter().map(|(l, q)| json!({"line_id": l, "quantity": q})).collect::<Vec<_>>() }),
        ));
        match policy {
            // After this step's writes (the shipped units leave the
            // reservation), a release step moves what is still held.
            crate::engine::ShortShipPolicy::Reroute => follow_up = Some(shipment.warehouse.clone()),
            crate::engine::ShortShipPolicy::Cancel => {
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
    changes.events.push(cx.event(
        "shipment_received",
        json!({ "shipment_id": shipment.id, "warehouse": shipment.warehouse, "tracking": shipment.tracking.number,
                "lines": shipment.lines.iter().map(|l| json!({"line_id": l.line_id, "quantity": l.quantity})).collect::<Vec<_>>() }),
    ));
    changes.jobs.push(cx.next(
        Step::ConfirmShipment,
        json!({ "order_id": order.id, "shipment_id": shipment.id }),
    ));
    if let Some(from) = follow_up {
        // Runs after the confirmation: the channel hears of the shipped
        // part first, then the rest goes out from elsewhere or is cancelled.
        changes.jobs.push(cx.next(
            Step::Release,
            json!({ "order_id": order.id, "reroute": true, "short_from": from }),
        ));
    }
    changes.shipments.push((shipment, None));
    changes.orders.push(order);
    changes.inbox.push((inbox_id, InboxStatus::Processed, None));
    Ok(changes)
}

async fn confirm_shipment(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    let shipment_id = cx.str_field("shipment_id")?;
    let store = &cx.inner.store;
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
        changes.events.push(cx.event(
            "effect",
            json!({ "effect": "ship_confirm", "shipment_id": stored.shipment.id, "confirmation_id": confirmation_id, "outcome": outcome }),
        ));
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

async fn invoice(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    if order.status != OrderStatus::ConfirmedToChannel {
        return Ok(Changes::default());
    }
    let erp = &cx.inner.connections.erp;
    let reference = format!("{}:invoice", erp_reference(&order));
    let (doc, outcome) = run_effect(
        &cx.inner.store,
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
    let mut changes = Changes::default();
    changes.events.push(cx.event(
        "effect",
        json!({ "effect": "post_invoice", "invoice": doc.id, "outcome": outcome }),
    ));
    cx.advance(
        order,
        OrderStatus::Invoiced,
        json!({ "invoice": doc.id }),
        Some(Step::Close),
        &mut changes,
    );
    Ok(changes)
}

async fn close(cx: &StepCx<'_>) -> StepResult {
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
