//! Shared pieces of the connectors' tests.

pub mod recording_hub;
pub mod signing;
pub mod tryton_server;
