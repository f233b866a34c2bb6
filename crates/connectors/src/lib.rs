//! The system layer: one module per external system, behind three capability
//! traits. A connector owns its system's wire format, auth, pagination and
//! idempotency quirks, and nothing else: it holds no workflow state and never
//! touches the store.

use std::time::Duration;

use async_trait::async_trait;
use crossdock_model::{Customer, FulfillmentRequest, InventoryPosition, Journal, Order, Shipment};
use reqwest::header::HeaderMap;

pub mod auth;
pub mod channel;
pub mod config;
pub mod erp;
mod http;
mod input;
mod jq;
pub mod pacing;
pub mod signature;
mod turns;
pub mod warehouse;

pub use http::{HttpClient, HttpClientOptions};

/// How a call to an external system failed, which decides what the engine does next.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ConnectorError {
    /// May pass if tried again: timeouts, connection errors, 5xx, 429.
    /// `retry_after` is the target's own word on when to come back.
    #[error("transient: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The connection could not be made, so nothing was sent: known not
    /// applied, unlike a timeout. Worth trying again later.
    #[error("unreachable: {reason}")]
    Unreachable { reason: String },
    /// 429: the target turned the call away for its rate limit before doing
    /// anything, and says when to come back. The only failure known not to
    /// have been applied: a 503 or a timeout may come from a proxy after
    /// the target acted.
    #[error("throttled: {reason}")]
    Throttled {
        reason: String,
        retry_after: Duration,
    },
    /// The target answered and refused; trying again will not help.
    #[error("rejected: {reason}")]
    Rejected { reason: String },
    /// Credentials were refused.
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },
    /// Not sent: the endpoint's circuit breaker is open after repeated
    /// failures. Known not applied; worth trying after `retry_after`.
    #[error("circuit open: {endpoint}")]
    CircuitOpen {
        endpoint: String,
        retry_after: Duration,
    },
    /// Not sent: the account's own rate limit has no room before
    /// `retry_after`. Raised only where time is simulated and nothing may
    /// sleep; with real time the governor waits instead.
    #[error("paced: {endpoint}")]
    Paced {
        endpoint: String,
        retry_after: Duration,
    },
}

impl ConnectorError {
    pub fn transient(reason: impl Into<String>) -> Self {
        ConnectorError::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn rejected(reason: impl Into<String>) -> Self {
        ConnectorError::Rejected {
            reason: reason.into(),
        }
    }

    /// Whether the request may have been applied by the target although we
    /// saw an error: a timeout or a dropped connection after sending. Such an
    /// effect is in doubt and must be looked up before it is sent again.
    pub fn is_in_doubt(&self) -> bool {
        matches!(self, ConnectorError::Transient { .. })
    }

    /// Whether the target gave no answer (down, unreachable, timed out):
    /// what a circuit breaker counts as a failure. A refusal is an answer.
    pub fn is_unanswered(&self) -> bool {
        matches!(
            self,
            ConnectorError::Transient { .. } | ConnectorError::Unreachable { .. }
        )
    }
}

/// Inbound payload that could not be read: the message is refused at the door.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{path}: {message}")]
pub struct InputError {
    /// Where in the payload the problem is (`items[3].unit_price`, or `body`).
    pub path: String,
    pub message: String,
    /// The sender could not be authenticated (a missing or wrong signature),
    /// rather than the payload being malformed: answered 401, not 400.
    pub unauthenticated: bool,
    /// Which authentication check refused it, when one did (a bounded
    /// label for the hub's metrics; the message says the rest).
    pub auth_check: Option<AuthCheck>,
}

/// The check an inbound delivery failed to authenticate: one name per way
/// a signature or credential can be wrong, so operators can tell an attack
/// (`mismatch`, `replayed`) from a sender's clock (`stale`) or a sender that
/// does not sign at all (`missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthCheck {
    /// No signature or credential header.
    Missing,
    /// A header that does not read (not ASCII, no `v1,` entry, a timestamp that is not a number).
    Malformed,
    /// Signed, but by none of the configured secrets (or the credential differs).
    Mismatch,
    /// Correctly signed, but its timestamp is outside the replay window.
    Stale,
    /// The very same signed delivery (id and timestamp) was already committed.
    Replayed,
}

impl AuthCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthCheck::Missing => "missing",
            AuthCheck::Malformed => "malformed",
            AuthCheck::Mismatch => "mismatch",
            AuthCheck::Stale => "stale",
            AuthCheck::Replayed => "replayed",
        }
    }
}

impl InputError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            path: path.into(),
            message: message.into(),
            unauthenticated: false,
            auth_check: None,
        }
    }

    /// A signature or credential that does not check out, and which check said so.
    pub fn unauthenticated(
        check: AuthCheck,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        InputError {
            unauthenticated: true,
            auth_check: Some(check),
            ..InputError::new(path, message)
        }
    }
}

/// What the hub needs to know about an inbound message before it commits it:
/// the cheap envelope, not the mapped content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEnvelope {
    /// Unique per source message: the dedupe key.
    pub message_key: String,
    /// The channel's order id the message is about.
    pub external_order_id: String,
    /// Source version (sequence or `updated_at` in ms) of the state the message carries.
    pub source_version: i64,
}

/// A channel message mapped to canonical form.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelEvent {
    /// A new order, or a newer version of one (status `Received`).
    Order(Box<Order>),
    /// The channel cancelled the order (or the buyer did).
    Cancelled {
        external_order_id: String,
        source_version: i64,
        reason: String,
    },
    /// The order exists but may not be taken yet (an Amazon order still
    /// Pending: no prices, no address). The hub's step waits for it without
    /// spending attempts, until the channel tells (or the poll sees) that
    /// it changed, for up to 30 days.
    NotYet {
        external_order_id: String,
        reason: String,
    },
}

/// A shipment confirmation to send to a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipConfirmation {
    /// Our package id; the channel stores it so a resend is recognised.
    pub package_id: String,
    pub external_order_id: String,
    pub shipment: Shipment,
}

/// Units a channel should offer for one SKU, as the hub computed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityUpdate {
    pub sku: String,
    /// Absolute quantity to show (never negative).
    pub quantity: i64,
    /// What the hub last saw the channel acknowledge for this SKU, for
    /// channels that compare-and-set (`None`: unknown, no comparison).
    pub previous: Option<i64>,
    /// Stable per (channel, SKU, change): a resend after a timeout carries
    /// the same key, so a channel that honours idempotency keys applies it once.
    pub idempotency_key: String,
    /// When the hub learnt of the change behind this quantity (ms since the
    /// epoch). Not sent to channels; it measures how long updates travel.
    pub changed_at: i64,
}

/// What a channel said about one SKU of an availability push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvailabilityOutcome {
    /// The channel now shows the quantity.
    Accepted,
    /// The channel's quantity was not `previous` (compare-and-set refused);
    /// `current` is what it holds, when it said.
    Stale { current: Option<i64> },
    /// Refused for this SKU (unknown listing, invalid quantity, …); the
    /// channel's message, kept for operators.
    Rejected { reason: String },
}

/// One SKU's result of an availability push, matched by SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityResult {
    pub sku: String,
    pub outcome: AvailabilityOutcome,
}

/// How urgently a batch of availability must reach the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvailabilityCadence {
    /// A hot SKU (selling fast or nearly out): use the channel's fastest
    /// per-item API (Amazon `patchListingsItem`, Walmart single-item update).
    Urgent,
    /// The long tail on a schedule: the channel's native bulk format
    /// (Amazon `JSON_LISTINGS_FEED`, Walmart bulk inventory feed, …).
    Batch,
}

/// What a channel said to an order's acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acknowledgement {
    /// The channel holds the order acknowledged.
    Acknowledged,
    /// The channel has no acknowledgement to give (the default).
    NotNeeded,
}

/// One settlement as the channel serves it, downloaded, in the form the
/// hub's settlement import reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementDocument {
    pub format: crossdock_model::SettlementFormat,
    /// The channel's id of the report or payout (for logs; the import reads
    /// the settlement id from the file).
    pub id: String,
    /// The report (Amazon V2 TSV, Shopify payout JSON, Walmart recon CSV).
    pub file: Vec<u8>,
    /// Shopify: the payout's balance transactions (JSON).
    pub transactions: Option<Vec<u8>>,
}

/// A marketplace, storefront or regional sales channel.
#[async_trait]
pub trait Channel: Send + Sync {
    fn name(&self) -> &str;

    /// Verify and read the envelope of a webhook delivery. Must be cheap: it
    /// runs before the message is committed.
    fn read_webhook(&self, headers: &HeaderMap, body: &[u8])
    -> Result<InboundEnvelope, InputError>;

    /// The hub committed the delivery `read_webhook` accepted with these
    /// headers. A connector that refuses replayed deliveries remembers it
    /// here (after the commit, so a retry of an attempt the hub could not
    /// commit is not taken for a replay). Default: nothing to remember.
    fn webhook_committed(&self, _headers: &HeaderMap) {}

    /// Map a stored message body to canonical form. Errors name the failing field.
    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError>;

    /// For channels whose webhooks are only triggers: the order's current
    /// state from the channel's API, as a body `map_message` accepts, given
    /// the delivered body. `None` (the default) processes what was delivered.
    async fn refetch(&self, _delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        Ok(None)
    }

    /// 429s the channel answered since the connector was built (counted by
    /// the hub's metrics; 0 for a connector that does not count them).
    fn throttled_responses(&self) -> u64 {
        0
    }

    /// Raw order messages updated at or after `since_ms` (reconciliation poll).
    /// Each comes back as a body `map_message` accepts, with its envelope.
    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError>;

    /// Tell the channel units have shipped. Returns the channel's confirmation id.
    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError>;

    /// Whether the channel already holds a confirmation for `package_id`.
    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError>;

    /// Whether the channel wants each order acknowledged (Walmart cancels a
    /// purchase order left unacknowledged for hours). When it does, the hub
    /// acknowledges an order as soon as it has committed it and reserved
    /// its stock, not when it ships. The default: no acknowledgement.
    fn acknowledges_orders(&self) -> bool {
        false
    }

    /// Tell the channel the seller has the order and will ship it. Must be
    /// harmless to repeat; the engine still sends it once, as an effect
    /// with [`Channel::find_acknowledgement`] as its lookup.
    async fn acknowledge_order(
        &self,
        _external_order_id: &str,
    ) -> Result<Acknowledgement, ConnectorError> {
        Ok(Acknowledgement::NotNeeded)
    }

    /// Whether the channel already shows the order acknowledged (`None`
    /// when not, or when it does not know the order).
    async fn find_acknowledgement(
        &self,
        _external_order_id: &str,
    ) -> Result<Option<Acknowledgement>, ConnectorError> {
        Ok(None)
    }

    /// Settlement documents the channel issued at or after `since_ms`, each
    /// downloaded whole (the hub's import is idempotent by channel and
    /// settlement id, so one listed again is harmless). The default: the
    /// channel has no settlements to fetch.
    async fn settlements_since(
        &self,
        _since_ms: i64,
    ) -> Result<Vec<SettlementDocument>, ConnectorError> {
        Ok(Vec::new())
    }

    /// The most SKUs one `publish_availability` call takes at `cadence`.
    fn availability_batch_limit(&self, _cadence: AvailabilityCadence) -> usize {
        1
    }

    /// Set the quantity the channel offers for each SKU in `updates` (at most
    /// `availability_batch_limit`), in its native format, and report a result
    /// per SKU. A call-level failure (transport, 429, auth) is an error; a
    /// per-SKU refusal is a result. The default refuses: the channel does
    /// not take availability from the hub.
    async fn publish_availability(
        &self,
        _updates: &[AvailabilityUpdate],
        _cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        Err(ConnectorError::rejected(format!(
            "channel {} does not take availability updates",
            self.name()
        )))
    }
}

/// The ERP's id for a document it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErpDocument {
    pub id: String,
    /// Our reference stored on the document, unique per channel order.
    pub reference: String,
}

/// The system of record for customers, sales orders and invoices.
#[async_trait]
pub trait Erp: Send + Sync {
    /// Create or update the customer; returns the ERP's customer id.
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError>;

    /// Create a sales order carrying `reference`. Not idempotent on the ERP
    /// side: the engine guards it with an effect and `find_sales_order`.
    async fn create_sales_order(
        &self,
        reference: &str,
        customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError>;

    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError>;

    /// Invoice what shipped on the sales order.
    async fn post_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError>;

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError>;

    /// Stock positions the ERP holds.
    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError>;

    /// Cancel the sales order `erp_id` (idempotent: cancelling a cancelled order is fine).
    async fn cancel_sales_order(&self, erp_id: &str) -> Result<(), ConnectorError>;

    /// Post a balanced journal carrying `reference` (one per settlement and month). Not idempotent
    /// on the ERP side: the engine guards it with an effect and `find_journal`.
    async fn post_journal(
        &self,
        reference: &str,
        journal: &Journal,
    ) -> Result<ErpDocument, ConnectorError>;

    async fn find_journal(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError>;
}

/// What a warehouse answered to a cancellation of a request it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// Stopped before anything shipped (or already cancelled): nothing will ship.
    Cancelled,
    /// Units already left or are leaving: their shipment messages will follow.
    TooLate,
    /// The warehouse never received the request.
    NotFound,
}

/// A warehouse or 3PL.
#[async_trait]
pub trait Warehouse: Send + Sync {
    fn name(&self) -> &str;

    /// Ask the warehouse to ship. Returns the warehouse's id for the request.
    async fn release(&self, request: &FulfillmentRequest) -> Result<String, ConnectorError>;

    /// Whether the warehouse already holds the request with our id.
    async fn find_release(&self, request_id: &str) -> Result<Option<String>, ConnectorError>;

    /// Ask the warehouse to stop a request it holds. `Ok(CancelOutcome::Cancelled)` when it
    /// stopped before anything shipped (also when it was already cancelled: cancelling is
    /// idempotent); `Ok(CancelOutcome::TooLate)` when units already left or are leaving;
    /// `Ok(CancelOutcome::NotFound)` when it never received the request.
    async fn cancel_release(&self, request_id: &str) -> Result<CancelOutcome, ConnectorError>;

    /// Verify and read the envelope of a shipment webhook.
    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<ShipmentEnvelope, InputError>;

    /// The hub committed the shipment webhook `read_webhook` accepted with
    /// these headers (see [`Channel::webhook_committed`]).
    fn webhook_committed(&self, _headers: &HeaderMap) {}

    /// Map a stored shipment message to canonical form.
    fn map_shipment(&self, body: &[u8]) -> Result<Shipment, InputError>;
}

/// Envelope of a warehouse shipment message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentEnvelope {
    pub message_key: String,
    pub order_id: String,
}
