//! The engine's clock is the model's: [`crossdock_model::clock`] sits below
//! the connectors so they take time from the same `Clock`; re-exported here
//! so `crossdock_engine::clock::…` keeps naming it.

pub use crossdock_model::clock::{Clock, ManualClock, SystemClock};
