//! Shared pieces of the end-to-end tests.
#![allow(dead_code)]

pub mod app;
pub mod marketplaces;
/// Tryton's throw-away server, shared with the connectors' tests.
#[path = "../../../../connectors/tests/it/support/tryton_server.rs"]
pub mod tryton_server;
