//! The simulated Shopify shop: the Admin REST API the connector calls (orders,
//! the `page_info` cursor, fulfillment orders and fulfillments), the GraphQL
//! inventory mutation `inventorySetQuantities` with `@idempotent` and
//! compare-and-set, signed webhooks, and Shopify's call budget.
//!
//! It is meant to be as strict as Shopify where a connector could get
//! something wrong: the access token is required, a `page_info` request may
//! carry nothing but `limit` (and `fields`), new orders reach the list only
//! after `visibility_delay_ms`, over-fulfilment is refused, the REST leaky
//! bucket answers 429 with `Retry-After: 2.0` when full, and webhooks are
//! signed over the exact bytes delivered. It never deduplicates what the hub
//! sends: `duplicate_fulfillments` is how a test catches a hub that confirms
//! a package twice.
//!
//! Simplifications a connector cannot see through its normal calls: GraphQL
//! answers have a fixed shape per root field (the selection set is parsed
//! but not applied), only `productVariants` and `inventorySetQuantities` are
//! implemented, arguments must be literals or variables, and webhooks are not
//! sent for fulfilment updates.
//!
//! Files: `config.rs` (`[sim.shopify]`), `state.rs` (the shop and its
//! counters), `routes.rs` (the route table, version and token checks, the
//! REST leaky bucket), `rest.rs` (orders, fulfillment orders, fulfillments
//! in Shopify's JSON), `graphql.rs` (inventory and variants) with its
//! `graphql_parser.rs`, `generate.rs` (buyers placing, editing and
//! cancelling orders), `webhooks.rs` (signed deliveries to the hub),
//! `wire.rs` (Shopify's error body, money, ids and times), `payouts.rs`
//! (Shopify Payments payouts and balance transactions of what was charged
//! and refunded, closed on `POST /sim/settlements/close`).

mod config;
mod generate;
mod graphql;
mod graphql_parser;
mod payouts;
mod rest;
mod routes;
mod state;
#[cfg(test)]
mod tests;
mod webhooks;
mod wire;

pub use config::ShopifySimConfig;
pub(crate) use state::ShopifySim;
