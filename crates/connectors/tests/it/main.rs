//! The connectors' integration tests, one binary: one module per connector
//! or concern, tests named `<module>::<test>`; a stand-in hub and a Tryton
//! server in `support/`.

// Tests play the other side of the wire: they build their own HTTP clients
// (clippy.toml keeps that to `src/http.rs` in the product).
#![allow(clippy::disallowed_methods)]

mod support;

mod against_sim;
mod amazon_channel;
mod amazon_sim;
mod mapped_channel;
mod mapped_erp;
mod marketplace_mapping;
mod marketplace_payloads;
mod shopify_channel;
mod shopify_sim;
mod signed_webhooks;
mod tryton;
mod walmart_channel;
mod walmart_sim;
mod x12_files;
