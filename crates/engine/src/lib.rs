//! The process layer: a durable journal and job queue in the store, the
//! order workflow, effects with idempotency keys, the exception queue.
//!
//! Every inbound message is committed (inbox + first job, group-committed by
//! the [`Ingestor`]) before it is acknowledged. Every workflow step is a job
//! keyed by its entity, so one order's steps run in order while different
//! orders run in parallel. Every external side effect goes through
//! [`effects::run_effect`]: recorded before the call, resolved after it, and
//! looked up at the target when a crash left it in doubt.

pub mod availability;
pub mod breaker;
pub mod clock;
pub mod effects;
mod engine;
mod failpoint;
pub mod governor;
mod ingest;
pub mod options;
mod retry;
pub mod routing;
pub mod telemetry;
mod workflow;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    AcceptanceOutcome, ChannelConnection, Connections, Engine, EngineHandle, Receipt, Refusal,
    ShortShipPolicy, SplitPolicy,
};
pub use governor::{ChannelPacing, GovernedErp, Governor, GovernorOptions, Priority};
pub use ingest::{IngestError, Ingestor};
pub use options::EngineOptions;
pub use retry::backoff_delay;
pub use telemetry::nearest_rank;
pub use workflow::{Step, order_entity_key};
