//! The order workflow, one job per step:
//!
//! ```text
//! channel message ─▶ validate ─▶ reserve ─▶ [acknowledge] ─▶ accept_in_erp ─▶ release
//!        warehouse shipment ─▶ confirm_shipment (per shipment) ─▶ invoice ─▶ close
//! ```
//!
//! A step reads the entity, may perform effects, and returns the writes
//! (`Changes`) that the runner commits together with the job's completion,
//! including the next step's job. Steps are safe to run again: every
//! external call is an effect, and every write is keyed.
//!
//! One file per part of the lifecycle: `intake` (channel messages and
//! cancellations), `validate`, `reserve` (with routing's input),
//! `acknowledge` (to channels that cancel unacknowledged orders), `erp`
//! (the sales order), `release` (with fallback, re-route and short ship),
//! `shipment` (warehouse shipments and their confirmation to the channel)
//! and `close` (invoice, then close); `settlement` posts a settlement's
//! journals (its own entity, not an order's step). [`run_step`] below is the one table
//! from a step's name to its code; the steps are a closed set, so it is a
//! `match`, not a trait. What a step may touch is [`context::StepCx`].

pub(crate) mod context;
mod keys;
pub mod payload;
mod step;

mod acknowledge;
mod close;
mod erp;
mod intake;
mod release;
mod reserve;
mod settlement;
mod shipment;
mod validate;

pub use payload::JobPayload;
pub use step::{Step, order_entity_key, settlement_entity_key};

use context::{StepCx, StepResult};

/// Run `step` in `cx`: the table of steps.
pub(crate) async fn run_step(step: Step, cx: &StepCx<'_>) -> StepResult {
    match step {
        Step::ChannelMessage => intake::channel_message(cx).await,
        Step::Validate => validate::validate(cx).await,
        Step::Reserve => reserve::reserve(cx).await,
        Step::Acknowledge => acknowledge::acknowledge(cx).await,
        Step::AcceptInErp => erp::accept_in_erp(cx).await,
        Step::Release => release::release(cx).await,
        Step::WarehouseShipment => shipment::warehouse_shipment(cx).await,
        Step::ConfirmShipment => shipment::confirm_shipment(cx).await,
        Step::Invoice => close::invoice(cx).await,
        Step::Close => close::close(cx).await,
        Step::PostSettlement => settlement::post_settlement(cx).await,
    }
}
