//! The hub's integration tests, one binary (each test binary links the
//! whole stack; one link instead of twelve). One module per concern; tests
//! are named `<module>::<test>`, and `.config/nextest.toml` selects the
//! estate-starting modules (`crash`, `tryton`, `fulfilment`,
//! `marketplaces`, `availability`) by that prefix.

// Tests are the hub's outside clients: they build their own HTTP clients
// (clippy.toml keeps that to the connectors' one builder in the product).
#![allow(clippy::disallowed_methods)]

mod support;

mod api;
mod api_keys;
mod authority;
mod availability;
mod cli;
mod crash;
mod edi_cli;
mod fulfilment;
mod marketplaces;
mod openapi;
mod ops;
mod order_rules;
mod routing_cli;
mod runner_bounds;
mod settlement;
mod shopify;
mod signed_webhooks;
mod translate_cli;
mod translate_mapped;
mod tryton;
