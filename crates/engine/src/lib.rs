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
mod cel_env;
pub mod clock;
pub mod connections;
pub mod effects;
mod engine;
mod failpoint;
pub mod governor;
pub mod holds;
mod ingest;
mod inner;
pub mod options;
mod retry;
pub mod routing;
pub mod rules;
mod runner;
pub mod settlements;
pub mod steps;
pub mod telemetry;
mod warehouse_breakers;

pub use clock::{Clock, ManualClock, SystemClock};
pub use connections::{ChannelConnection, Connections, Live, ShortShipPolicy, SplitPolicy, live};
pub use engine::{Engine, EngineHandle, Receipt, Refusal};
pub use governor::{ChannelPacing, GovernedErp, Governor, GovernorOptions, Priority};
pub use holds::ReleaseError;
pub use ingest::{IngestError, Ingestor};
pub use inner::AcceptanceOutcome;
pub use options::EngineOptions;
pub use retry::backoff_delay;
pub use steps::{JobPayload, Step, order_entity_key};
pub use telemetry::nearest_rank;
