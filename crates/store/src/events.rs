//! The audit timeline's events: every kind of event an entity's timeline
//! can hold, and its fields, in one enum.
//!
//! A row of the `events` table is `(kind, detail)`: `kind` is the enum's
//! tag and `detail` the variant's fields as a JSON object. The timeline is
//! an API (`/v1/orders/{id}/timeline`, the CLI, the rehearsal read it), so
//! these names are as reviewed as the metric names: renaming a variant or a
//! field changes what is on disk and on the wire. Writers build a
//! [`TimelineEvent`] and turn it into a row with [`TimelineEvent::at`];
//! readers get it back with [`AuditEvent::event`], so "who writes X, who
//! reads X" is go-to-definition.
//!
//! Some details hold the engine's own types (routing input, governor
//! status, short-ship policy). The store sits below the engine, so those
//! are kept here as the JSON the engine wrote.

use crossdock_model::{ExceptionClass, OrderStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{AuditEvent, NewEvent};

/// One event on an entity's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEvent {
    /// A channel's order was taken for the first time.
    Received {
        inbox_id: i64,
        source_version: i64,
        channel: String,
    },
    /// An order arrived after its own cancellation: kept, cancelled, never worked.
    ReceivedAfterCancellation { inbox_id: i64 },
    /// The channel says the order is not ready to be taken yet.
    NotTakenYet {
        inbox_id: i64,
        external_order_id: String,
        reason: String,
    },
    /// A channel message could not be read as an order.
    MappingFailed { inbox_id: i64, error: String },
    /// A message no newer than what the hub applied. A stale cancellation
    /// carries only its inbox id.
    StaleMessageIgnored {
        inbox_id: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        applied: Option<i64>,
    },
    /// A newer version of an order the hub holds.
    OrderUpdated { inbox_id: i64, version: i64 },
    /// A correction of a held order closed its open exceptions.
    ExceptionsSuperseded { count: u64, version: i64 },
    /// A cancellation overtook its order; a tombstone waits for it.
    CancelledBeforeReceived { inbox_id: i64, reason: String },
    /// What the warehouse answered to a cancellation (the connectors'
    /// `CancelOutcome`).
    WarehouseCancel { outcome: Value },
    /// The ERP's sales order of a cancelled order was cancelled.
    ErpSalesOrderCancelled { erp_ref: String },
    /// A system that is not the system of record for this kind of data
    /// (`[authority]`) sent an update: kept in `unapplied_updates`, not
    /// applied.
    UpdateNotApplied {
        inbox_id: i64,
        /// The registry's kind of data (`order_status`, `shipments`, …).
        data: String,
        source: String,
        authority: String,
    },
    /// The order moved from one status to another.
    StatusChanged {
        from: OrderStatus,
        to: OrderStatus,
        detail: Value,
    },
    /// Which warehouse routing chose, and why.
    RoutingDecision(RoutingDecided),
    /// No one warehouse had it all: whole lines placed at several.
    Split {
        lines: Vec<LinePlaced>,
        reason: String,
    },
    /// An external side effect was applied.
    Effect(EffectApplied),
    /// A re-route's release went out to the warehouse the order moved to.
    ReleasedElsewhere {
        warehouse: String,
        request_id: String,
    },
    /// The order's holding moved from one warehouse to another.
    Rerouted {
        from: String,
        to: String,
        reason: String,
    },
    /// Units a warehouse will not ship were cancelled.
    RemainderCancelled {
        reason: String,
        lines: Vec<LineQuantity>,
    },
    /// A warehouse's last word on its request left units open. `policy` is
    /// the channel's short-ship policy.
    ShortShipped {
        shipment_id: String,
        warehouse: String,
        policy: Value,
        lines: Vec<LineQuantity>,
    },
    /// A warehouse reported a shipment.
    ShipmentReceived {
        shipment_id: String,
        warehouse: String,
        tracking: String,
        lines: Vec<LineQuantity>,
    },
    /// A step waits on a target (breaker open, rate limit) without
    /// spending an attempt. `erp_governor` is the ERP governor's status
    /// when the target is the ERP.
    WaitingForTarget {
        step: String,
        endpoint: String,
        why: String,
        retry_at: i64,
        /// What the target said (a held-back order: the channel's reason).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        erp_governor: Option<Value>,
    },
    /// A step went to the exception queue.
    Exception {
        step: String,
        class: ExceptionClass,
        reason: String,
    },
    /// The order rules ran: the facts they saw and what each rule decided
    /// (the engine's `RuleFacts` and `RulesOutcome`).
    RulesEvaluated { facts: Value, outcome: Value },
    /// An enrichment rule changed a field of the order.
    OrderEnriched {
        rule: String,
        field: String,
        before: Value,
        after: Value,
    },
    /// A hold rule held the order before the ERP; it keeps its reservation.
    /// `until`: when it lapses by itself (ms), if it does.
    HoldPlaced {
        rule: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<i64>,
    },
    /// An operator released a held order.
    HoldReleased {
        rule: String,
        actor: String,
        reason: String,
    },
    /// A hold lapsed at its expiry and the order went on.
    HoldExpired { rule: String },
    /// An operator (or the hub) replayed an exception.
    ExceptionReplayed {
        exception_id: String,
        step: String,
        class: ExceptionClass,
        actor: String,
    },
}

/// The detail of a routing decision: the engine's `RoutingInput` and
/// `RoutingDecision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecided {
    pub input: Value,
    pub decision: Value,
}

/// An order line placed at a warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePlaced {
    pub line_id: String,
    pub warehouse: String,
}

/// Units of an order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineQuantity {
    pub line_id: String,
    pub quantity: u32,
}

/// How an effect came to be applied, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectOutcome {
    /// Called now and applied.
    Applied,
    /// Was in doubt; the target already held it.
    FoundAtTarget,
    /// Applied by an earlier attempt; not called again.
    AlreadyApplied,
}

/// Which effect was applied, with what it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum EffectApplied {
    CreateSalesOrder {
        erp_ref: String,
        outcome: EffectOutcome,
    },
    Release {
        warehouse: String,
        request_id: String,
        warehouse_id: String,
        outcome: EffectOutcome,
    },
    ShipConfirm {
        shipment_id: String,
        confirmation_id: String,
        outcome: EffectOutcome,
    },
    PostInvoice {
        invoice: String,
        outcome: EffectOutcome,
    },
    /// The channel was told the order is taken (Walmart's PO acknowledgement).
    Acknowledge {
        external_order_id: String,
        outcome: EffectOutcome,
    },
    /// A settlement journal (or a resolution's delta) is in the ERP.
    PostJournal {
        reference: String,
        journal: String,
        outcome: EffectOutcome,
    },
}

impl TimelineEvent {
    /// This event as a row on `entity_key`'s timeline at `at`.
    pub fn at(&self, entity_key: &str, at: i64) -> NewEvent {
        let mut detail = serde_json::to_value(self).expect("a timeline event is plain JSON");
        let Some(Value::String(kind)) = detail.as_object_mut().and_then(|o| o.remove("kind"))
        else {
            unreachable!("a timeline event is an object tagged by its kind")
        };
        NewEvent {
            entity_key: entity_key.to_owned(),
            at,
            kind,
            detail,
        }
    }

    /// The kind stored for this event (`"status_changed"`, …).
    pub fn kind(&self) -> String {
        self.at("", 0).kind
    }
}

impl AuditEvent {
    /// The stored event, typed. An error for a row this version does not
    /// know (a kind from another version of the hub).
    pub fn event(&self) -> Result<TimelineEvent, serde_json::Error> {
        let mut tagged = match &self.detail {
            Value::Object(fields) => fields.clone(),
            _ => serde_json::Map::new(),
        };
        tagged.insert("kind".to_owned(), Value::String(self.kind.clone()));
        serde_json::from_value(Value::Object(tagged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(kind: &str, detail: Value) -> AuditEvent {
        AuditEvent {
            id: 1,
            entity_key: "order:x".into(),
            at: 0,
            kind: kind.into(),
            detail,
        }
    }

    #[test]
    fn kind_and_detail_are_the_tag_and_the_fields() {
        let e = TimelineEvent::Effect(EffectApplied::PostInvoice {
            invoice: "INV-1".into(),
            outcome: EffectOutcome::FoundAtTarget,
        })
        .at("order:x", 7);
        assert_eq!(e.kind, "effect");
        assert_eq!(
            e.detail.to_string(),
            json!({ "effect": "post_invoice", "invoice": "INV-1", "outcome": "found_at_target" })
                .to_string()
        );
        let stale = TimelineEvent::StaleMessageIgnored {
            inbox_id: 3,
            version: None,
            applied: None,
        }
        .at("order:x", 7);
        assert_eq!(stale.detail, json!({ "inbox_id": 3 }));
    }

    #[test]
    fn stored_rows_read_back_typed() {
        let e = row(
            "status_changed",
            json!({ "from": "received", "to": "validated", "detail": {} }),
        );
        assert_eq!(
            e.event().unwrap(),
            TimelineEvent::StatusChanged {
                from: OrderStatus::Received,
                to: OrderStatus::Validated,
                detail: json!({}),
            }
        );
        let r = row(
            "routing_decision",
            json!({ "input": { "a": 1 }, "decision": { "b": 2 } }),
        );
        assert!(matches!(
            r.event().unwrap(),
            TimelineEvent::RoutingDecision(RoutingDecided { .. })
        ));
        assert!(row("from_the_future", json!({})).event().is_err());
    }
}
