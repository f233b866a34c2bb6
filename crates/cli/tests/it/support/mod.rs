//! Shared pieces of the end-to-end tests.
#![allow(dead_code)]

pub mod app;
pub mod marketplaces;
/// Tryton's throw-away server, shared with the connectors' tests.
#[path = "../../../../connectors/tests/it/support/tryton_server.rs"]
pub mod tryton_server;

/// The hub's binary, as a command to run.
pub fn crossdock() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_crossdock"))
}
