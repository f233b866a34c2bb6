//! The plain data the store takes and returns: messages, jobs, effects,
//! events, exception filters, reservations and the `Changes` a step writes.
//! A leaf, free of SQL; the row types made of plain columns derive
//! `sqlx::FromRow` here.

use crossdock_model::{ExceptionClass, Order, Shipment};
use serde::Serialize;

/// A message arriving from outside, to be committed before it is acknowledged.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// `channel:<name>` or `warehouse:<name>`.
    pub source: String,
    /// Unique per source message; a second message with the same key is a duplicate.
    pub message_key: String,
    /// The entity whose jobs the message feeds (`order:<id>`).
    pub entity_key: String,
    pub source_version: Option<i64>,
    pub body: Vec<u8>,
    pub received_at: i64,
    /// The job that processes the message, enqueued in the same transaction.
    pub step: String,
    /// How it reached the hub: delivered to it, or read by its own poll.
    pub origin: MessageOrigin,
}

/// How an inbound message reached the hub, kept with it (`inbox.origin`):
/// a step must not infer it from the message key, which the sender chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageOrigin {
    /// Sent to the hub (a webhook, a file): where the channel's webhooks
    /// are only triggers, the order is read again from its API.
    #[default]
    Delivered,
    /// Read by the hub's reconciliation poll: already the channel's
    /// current state, never read again.
    Polled,
}

impl MessageOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageOrigin::Delivered => "delivered",
            MessageOrigin::Polled => "polled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Accepted {
    /// Committed for the first time, with its inbox id.
    New(i64),
    /// Seen before: acknowledged, counted, not processed again.
    Duplicate(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    /// Committed, waiting for its job.
    Accepted,
    /// Applied to the entity.
    Processed,
    /// Older than the state already applied: recorded, never applied.
    Stale,
    /// Refused at the door (bad signature, malformed, too large).
    Rejected,
    /// Could not be mapped; its job is in the exception queue.
    Failed,
}

impl InboxStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            InboxStatus::Accepted => "accepted",
            InboxStatus::Processed => "processed",
            InboxStatus::Stale => "stale",
            InboxStatus::Rejected => "rejected",
            InboxStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InboxMessage {
    pub id: i64,
    pub source: String,
    pub message_key: String,
    pub entity_key: Option<String>,
    pub source_version: Option<i64>,
    pub status: String,
    pub duplicates: i64,
    pub received_at: i64,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub note: Option<String>,
    /// [`MessageOrigin::as_str`] of how it arrived.
    pub origin: String,
}

impl InboxMessage {
    /// Whether the hub's own poll read this message from the channel.
    pub fn polled(&self) -> bool {
        self.origin == MessageOrigin::Polled.as_str()
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct InboxCounts {
    pub accepted: i64,
    pub processed: i64,
    pub stale: i64,
    pub rejected: i64,
    pub failed: i64,
    /// Extra deliveries of messages already in the inbox.
    pub duplicates: i64,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub entity_key: String,
    pub step: String,
    pub payload: serde_json::Value,
    pub run_at: i64,
}

/// A job claimed by a worker, held under a lease.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: i64,
    pub entity_key: String,
    pub step: String,
    pub payload: serde_json::Value,
    /// Attempts including this one.
    pub attempts: i64,
    pub created_at: i64,
    /// The worker that claimed it.
    pub lease_owner: String,
    /// Unique to this claim: completing, retrying or failing the job
    /// requires it, so a worker whose lease expired and was claimed again
    /// (even by its own process) cannot write.
    pub lease_token: String,
}

/// Steps running under one holder's leases, as [`Store::running_leases`]
/// sees them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder: a hub run's owner name (the claim token without its
    /// per-claim suffix).
    pub owner: String,
    pub jobs: i64,
    /// Of those, jobs whose lease has run out: their holder stopped
    /// renewing (killed, hung or cut off from the store).
    pub expired: i64,
    /// The earliest end of its leases (ms).
    pub earliest_until: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct QueueStats {
    pub ready: i64,
    pub running: i64,
    pub failed: i64,
    /// Age in ms of the oldest job due and not yet run (0 when none); jobs
    /// set to run later do not count.
    pub oldest_ready_age_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EffectStatus {
    /// Recorded before the call; not yet known to be applied. After a crash
    /// this is the in-doubt state: ask the target before calling again.
    Pending,
    Applied,
    /// The target refused it: known not applied.
    Failed,
}

impl EffectStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            EffectStatus::Pending => "pending",
            EffectStatus::Applied => "applied",
            EffectStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<EffectStatus> {
        [
            EffectStatus::Pending,
            EffectStatus::Applied,
            EffectStatus::Failed,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Effect {
    pub key: String,
    pub target: String,
    pub kind: String,
    pub entity_key: String,
    pub status: EffectStatus,
    /// Times the effect was begun (1 on first record).
    pub attempts: i64,
    pub result: Option<serde_json::Value>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    /// Set by `begin_effect` only: an earlier attempt recorded the effect and
    /// never resolved it, so the call may have reached the target.
    pub in_doubt: bool,
}

#[derive(Debug, Clone)]
pub struct NewEffect {
    pub key: String,
    pub target: String,
    pub kind: String,
    pub entity_key: String,
    pub at: i64,
}

/// One audit event on an entity's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub entity_key: String,
    pub at: i64,
    pub kind: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub entity_key: String,
    pub at: i64,
    pub kind: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct NewException {
    pub entity_key: String,
    pub channel: Option<String>,
    pub step: String,
    pub class: ExceptionClass,
    pub reason: String,
    pub payload: serde_json::Value,
    pub at: i64,
}

/// Which exceptions to list or replay. Empty fields match everything.
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ExceptionFilter {
    pub id: Option<String>,
    pub status: Option<String>,
    pub channel: Option<String>,
    pub step: Option<String>,
    pub class: Option<String>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Created before (ms).
    pub until: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Default, serde::Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default)]
pub struct OrderFilter {
    pub status: Option<String>,
    pub channel: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StoredShipment {
    pub shipment: Shipment,
    /// When the channel acknowledged the ship confirmation.
    pub confirmed_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    Held,
    Released,
    Consumed,
}

impl ReservationState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReservationState::Held => "held",
            ReservationState::Released => "released",
            ReservationState::Consumed => "consumed",
        }
    }
}

/// One line to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveLine {
    pub line_id: String,
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ReservationRow {
    pub order_id: String,
    pub line_id: String,
    pub sku: String,
    pub location: String,
    /// Units still held (for held rows) or the units at release/consumption.
    pub quantity: i64,
    pub state: String,
}

/// Units of one SKU reserved by orders the hub took in at one moment (the
/// sales the availability sync's velocity is rebuilt from after a restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ReservedUnits {
    pub sku: String,
    /// When the orders were taken in (ms since the epoch).
    pub at: i64,
    pub units: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PositionRow {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub source: String,
    pub as_of: i64,
}

/// A change to reservations applied with a step's other writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservationChange {
    /// Units left the warehouse: take them off `on_hand` and the reservation.
    Consume {
        order_id: String,
        line_id: String,
        quantity: i64,
    },
    /// Give back whatever the order still holds (cancel).
    ReleaseOrder { order_id: String },
    /// Give back what one line still holds (its short-shipped remainder).
    ReleaseLine { order_id: String, line_id: String },
}

/// Everything one workflow step writes, applied atomically together with the
/// completion of its job.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub orders: Vec<Order>,
    pub shipments: Vec<(Shipment, Option<i64>)>,
    pub jobs: Vec<NewJob>,
    pub events: Vec<NewEvent>,
    pub inbox: Vec<(i64, InboxStatus, Option<String>)>,
    pub reservations: Vec<ReservationChange>,
    /// Effects the step applied, resolved with its other writes. Until they
    /// are written the effects stay pending (in doubt), which is safe: the
    /// next attempt looks them up at the target.
    pub effects: Vec<EffectResolution>,
    /// Updates from a system that is not the data's system of record:
    /// kept, not applied.
    pub unapplied: Vec<UnappliedUpdate>,
    /// Settlement journals the step posted to the ERP.
    pub settlements_posted: Vec<SettlementPosted>,
}

/// An update a system sent about data another system is the record of
/// (`[authority]`): kept, visible, never applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct UnappliedUpdate {
    /// The registry's kind of data (`order_status`, `shipments`, …).
    pub kind: String,
    /// Who sent it (`channel:<name>`, `warehouse:<name>`, `erp`).
    pub source: String,
    /// Whose word applies instead.
    pub authority: String,
    /// The entity's timeline key (`order:<id>`).
    pub entity_key: String,
    /// The inbox message it came in, when it came in one.
    pub inbox_id: Option<i64>,
    /// What it would have changed, for the operator.
    pub note: String,
    pub received_at: i64,
}

/// The outcome of an effect, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectResolution {
    pub key: String,
    pub status: EffectStatus,
    pub result: Option<serde_json::Value>,
    pub at: i64,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
            && self.orders.is_empty()
            && self.shipments.is_empty()
            && self.jobs.is_empty()
            && self.events.is_empty()
            && self.inbox.is_empty()
            && self.reservations.is_empty()
            && self.unapplied.is_empty()
            && self.settlements_posted.is_empty()
    }
}

/// A journal the ERP now holds, written with the job that posted it: its
/// settlement becomes `posted` (once posted, it stays).
#[derive(Debug, Clone, PartialEq)]
pub struct SettlementPosted {
    pub reference: String,
    pub erp_id: String,
    pub at: i64,
}
