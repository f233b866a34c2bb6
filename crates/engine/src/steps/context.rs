//! What a step sees and what it returns: [`StepCx`], a narrow view of the
//! engine for one run of one step, and [`StepError`], whose three arms
//! (retry, wait, fail) the runner turns into a retry, a wait or an
//! exception.
//!
//! A step reaches the world only through this context: the store, the
//! connections and their policies, the engine's options, the warehouses'
//! breakers and the moment it runs at. It never sees the runner's state
//! (leases, waiters, the ingest path).

use std::sync::{Arc, Mutex};

use crossdock_connectors::{ConnectorError, Warehouse};
use crossdock_model::{DataKind, ExceptionClass, Order, OrderStatus, UNAUTHORIZED_REASON_PREFIX};
use crossdock_store::events::{EffectApplied, TimelineEvent};
use crossdock_store::{
    Changes, EffectResolution, EffectStatus, InboxMessage, NewEvent, NewJob, Store, StoreError,
    UnappliedUpdate,
};
use serde_json::json;

use super::keys::release_effect_key;
use super::payload::{JobPayload, Lacks};
use super::step::Step;
use crate::connections::{ChannelConnection, Connections};
use crate::effects::EffectError;
use crate::options::EngineOptions;
use crate::telemetry;
use crate::warehouse_breakers::WarehouseBreakers;

/// Why a step waits without spending an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitReason {
    /// The target's circuit breaker is open (or every eligible warehouse is down).
    BreakerOpen,
    /// The ERP account's rate limit has no room yet (simulated time only).
    RateLimit,
    /// The warehouse's daily capacity is taken, and no other can take the
    /// order now.
    CapacityTaken,
    /// The channel holds the order back until the buyer's payment is
    /// authorized (Amazon's Pending): the order waits for it, for days if
    /// need be, and a newer message about it wakes it.
    PendingPayment,
    /// An order rule holds the order for review: it waits before the ERP
    /// until an operator releases it or the hold lapses.
    OrderHold,
}

impl WaitReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WaitReason::BreakerOpen => "breaker_open",
            WaitReason::RateLimit => "rate_limit",
            WaitReason::CapacityTaken => "capacity_taken",
            WaitReason::PendingPayment => "pending_payment",
            WaitReason::OrderHold => "order_hold",
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
        /// What the target said, for the timeline.
        note: Option<String>,
    },
    /// Give up: to the exception queue, with writes that record the failure.
    Fail {
        class: ExceptionClass,
        reason: String,
        changes: Box<Changes>,
    },
}

impl StepError {
    pub(crate) fn fail(class: ExceptionClass, reason: impl Into<String>) -> Self {
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
                note: None,
            },
            ConnectorError::Paced {
                endpoint,
                retry_after,
            } => StepError::Wait {
                endpoint,
                why: WaitReason::RateLimit,
                retry_after,
                note: None,
            },
            ConnectorError::Rejected { reason } => {
                StepError::fail(ExceptionClass::Permanent, reason)
            }
            ConnectorError::Unauthorized { reason } => StepError::fail(
                ExceptionClass::Permanent,
                format!("{UNAUTHORIZED_REASON_PREFIX}{reason}"),
            ),
        }
    }
}

pub(crate) type StepResult = Result<Changes, StepError>;

impl From<Lacks> for StepError {
    fn from(Lacks(name): Lacks) -> Self {
        StepError::fail(ExceptionClass::Mapping, format!("job payload lacks {name}"))
    }
}

/// Context of one step run.
pub(crate) struct StepCx<'a> {
    pub store: &'a Store,
    pub connections: &'a Connections,
    pub options: &'a EngineOptions,
    /// Which warehouses count as down; steps record how their calls went.
    pub warehouses: &'a WarehouseBreakers,
    pub entity_key: &'a str,
    pub payload: &'a JobPayload,
    pub now: i64,
    /// Effects applied by this run, recorded with the step's outcome.
    pub resolutions: Mutex<Vec<EffectResolution>>,
}

impl StepCx<'_> {
    /// `event` on this entity's timeline, now.
    pub fn event(&self, event: TimelineEvent) -> NewEvent {
        event.at(self.entity_key, self.now)
    }

    /// Keeps an update from `source` that the registry refused (`authority`
    /// owns `kind` here): the record, its event on the timeline, its count.
    /// The caller leaves the update itself unapplied.
    pub fn keep_unapplied(
        &self,
        changes: &mut Changes,
        kind: DataKind,
        source: &str,
        authority: &str,
        inbox_id: i64,
        note: String,
    ) {
        tracing::warn!(
            entity = self.entity_key,
            kind = kind.as_str(),
            source,
            authority,
            "Update from a system that is not its system of record kept, not applied."
        );
        telemetry::authority_rejected(kind, source, 1);
        changes.unapplied.push(UnappliedUpdate {
            kind: kind.as_str().to_owned(),
            source: source.to_owned(),
            authority: authority.to_owned(),
            entity_key: self.entity_key.to_owned(),
            inbox_id: Some(inbox_id),
            note,
            received_at: self.now,
        });
        changes
            .events
            .push(self.event(TimelineEvent::UpdateNotApplied {
                inbox_id,
                data: kind.as_str().to_owned(),
                source: source.to_owned(),
                authority: authority.to_owned(),
            }));
    }

    /// The warehouses `order_id` was released to (a release effect, in
    /// doubt or applied, exists there): its warehouses of record.
    pub async fn released_to(&self, order_id: &str) -> Result<Vec<String>, StepError> {
        let mut out = Vec::new();
        for w in &self.connections.warehouses {
            if let Some(e) = self
                .store
                .effect(&release_effect_key(order_id, w.name()))
                .await?
                && e.status != EffectStatus::Failed
            {
                out.push(w.name().to_owned());
            }
        }
        Ok(out)
    }

    pub fn next(&self, step: Step, payload: JobPayload) -> NewJob {
        NewJob {
            entity_key: self.entity_key.to_owned(),
            step: step.as_str().to_owned(),
            payload: payload.to_value(),
            run_at: self.now,
        }
    }

    /// The inbound message this job is about, with its id.
    pub async fn inbox_message(&self) -> Result<(i64, InboxMessage), StepError> {
        let inbox_id = self.payload.inbox_id()?;
        let msg = self.store.inbox_message(inbox_id).await?.ok_or_else(|| {
            StepError::fail(
                ExceptionClass::Mapping,
                format!("inbox message {inbox_id} is gone"),
            )
        })?;
        Ok((inbox_id, msg))
    }

    pub async fn order(&self) -> Result<Order, StepError> {
        let id = self.payload.require_order_id()?;
        self.store.order(id).await?.ok_or_else(|| {
            StepError::fail(
                ExceptionClass::Validation,
                format!("order {id} does not exist"),
            )
        })
    }

    /// Move `order` to `status`, with an audit event. Refuses to move backwards.
    pub fn transition(
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
        changes
            .events
            .push(self.event(TimelineEvent::StatusChanged {
                from,
                to: status,
                detail,
            }));
    }

    /// The channel connection named `name`.
    pub fn channel(&self, name: &str) -> Result<&ChannelConnection, StepError> {
        self.connections.channels.get(name).ok_or_else(|| {
            StepError::fail(
                ExceptionClass::Mapping,
                format!("no channel connection named {name:?}"),
            )
        })
    }

    /// The warehouse connection named `name`.
    pub fn warehouse(&self, name: &str) -> Result<&Arc<dyn Warehouse>, StepError> {
        self.connections
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
    pub fn advance(
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
                .push(self.next(step, JobPayload::order(&order.id)));
        }
        changes.orders.push(order);
    }

    /// The end of a step whose work was one effect: the effect on the
    /// timeline, then the order moved on to `status` and `next`.
    pub fn effect_then_advance(
        &self,
        effect: EffectApplied,
        order: Order,
        status: OrderStatus,
        detail: serde_json::Value,
        next: Step,
    ) -> Changes {
        let mut changes = Changes::default();
        changes
            .events
            .push(self.event(TimelineEvent::Effect(effect)));
        self.advance(order, status, detail, Some(next), &mut changes);
        changes
    }

    /// Put the order on hold and fail the step.
    pub fn hold(&self, mut order: Order, class: ExceptionClass, reason: String) -> StepError {
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
