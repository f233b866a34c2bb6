//! The governor: one per outbound target (an ERP account, a channel whose
//! connection asks for pacing), between the engine and the target's
//! connector. The ERP is usually the slowest system in the estate, so every
//! call to it passes three gates, in this order:
//!
//! 1. **Circuit breaker**, per endpoint (operation). While it is open the call
//!    is not sent at all: it fails at once with
//!    [`ConnectorError::CircuitOpen`], which the engine turns into a wait
//!    that costs the job no attempt and raises no exception. The breaker is
//!    [`crate::breaker::Breaker`], the one warehouses use too.
//! 2. **Concurrency slot** (`slots.rs`), handed out by priority class (order
//!    acceptance, then shipment/invoice updates, then stock reads, then bulk
//!    work). A waiting call climbs one class per `aging_ms` waited, so a
//!    steady flow of acceptances delays stock reads but never starves them.
//! 3. **Rate** (`rate.rs`: GCRA, the `governor` crate), shared by all
//!    endpoints of the account; and a hold when the target itself answered
//!    429 with `Retry-After`.
//!
//! The backlog itself is durable: it is the job table. What waits here is at
//! most the engine's claimed jobs, whose leases are renewed while they wait.
//!
//! # Where channels are paced
//!
//! In one place: the engine. A [`crate::ChannelConnection`] may carry a
//! [`ChannelPacing`]; [`crate::Engine::new`] puts that channel's connector
//! behind a [`Governor`] of its own (`ChannelPacing::govern`), and every
//! step and the availability sync then call the paced connector. Why there:
//!
//! - `serve` and `simulate` build their connections differently (from the
//!   hub configuration, from a scenario) but both hand them to
//!   `Engine::new`, so the rehearsal exercises the pacing path production
//!   uses, not one of its own.
//! - The governor must run on the engine's clock: on a manual clock it hands
//!   waits back as [`ConnectorError::Paced`] instead of sleeping, and only
//!   the engine knows which clock that is.
//!
//! This is the hub's own pacing, on top of what a connector does on the
//! wire (a marketplace connector keeps to the budget its API reports in
//! headers: that knowledge belongs to the connector). A connection without
//! pacing is not wrapped: in `serve` a channel is paced only when its
//! configuration has a `[channels.pacing]` table.
//!
//! [`ConnectorError::CircuitOpen`]: crossdock_connectors::ConnectorError::CircuitOpen
//! [`ConnectorError::Paced`]: crossdock_connectors::ConnectorError::Paced

mod gates;
mod governed;
mod options;
mod rate;
mod slots;
#[cfg(test)]
mod tests;

pub use gates::{Governor, GovernorStatus};
pub use governed::{ChannelPacing, GovernedErp};
pub use options::{GovernorOptions, Priority};
