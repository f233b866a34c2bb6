//! The canonical model: the one shape every connector maps into and out of.
//!
//! This crate does no I/O and is not async (the `clock`'s `SystemClock`
//! reads the time, the one wall-clock read of the hub). Money is `rust_decimal::Decimal`
//! with an ISO 4217 currency; external ids are strings (Shopify ids exceed
//! 2^53). The JSON Schema of every type is generated from the types
//! themselves (`crossdock schema`).

mod authority;
pub mod clock;
mod codes;
mod exception;
mod fulfillment;
mod ids;
mod inventory;
mod money;
mod order;
mod returns;
mod schema;
mod settlement;

pub use authority::{Authority, DataKind, Decision, Owner, Rule, Source, Subject};
pub use clock::{Clock, ManualClock, SystemClock};
pub use codes::ErrorCode;
pub use exception::{ExceptionClass, ExceptionRecord, ExceptionStatus, UNAUTHORIZED_REASON_PREFIX};
pub use fulfillment::{FulfillmentLine, FulfillmentRequest, Shipment, ShipmentLine, Tracking};
pub use ids::order_id_for;
pub use inventory::{InventoryPosition, Reservation, ReservationState};
pub use money::{Currency, CurrencyError, Money, MoneyError};
pub use order::{
    Address, Customer, ErpAcceptance, Order, OrderHold, OrderLine, OrderStatus, TaxTreatment,
};
pub use returns::{Refund, RefundLine, Return, ReturnLine};
pub use schema::canonical_schemas;
pub use settlement::{
    Category, Journal, JournalAccount, JournalLine, ReserveSummary, Residual, ResidualReason,
    ResidualStatus, Resolution, ResolutionKind, Settlement, SettlementFormat, SettlementHeader,
    SettlementRow, SettlementStatus, SettlementSummary, TaxSummary,
};

/// Version of the canonical model. Stored with every persisted document so a
/// later model can migrate older rows.
pub const MODEL_VERSION: u32 = 1;
