//! The simulated marketplaces: one folder per marketplace, each with the
//! same files for the same jobs (`config.rs`, `state.rs`, `routes.rs`,
//! `generate.rs`, `wire.rs`, `tests.rs`, then one file per API of its
//! own), so what differs between Shopify, Amazon and Walmart is what
//! differs between the real ones.
//!
//! Shared by all of them, in leaves: [`simulator::Marketplace`], what the
//! estate asks of each (and the `/sim/*` routes every one serves);
//! `base.rs`, what each carries besides its own state (random generator,
//! fault gate, webhook delivery, the stop switch); `bucket.rs`, the one
//! rate bucket; `settlement.rs`, the commission, reserve, shares of a split
//! line and the planted entries every settlement report is written with.
//! They deliberately share nothing with the connectors: a fake
//! derived from the client could not catch the client's mistakes.

mod amazon;
mod base;
mod bucket;
mod settlement;
mod shopify;
mod simulator;
mod walmart;

pub use amazon::AmazonSimConfig;
pub use shopify::ShopifySimConfig;
pub use walmart::WalmartSimConfig;

pub(crate) use amazon::AmazonSim;
pub(crate) use shopify::ShopifySim;
pub(crate) use simulator::{Marketplace, router};
pub(crate) use walmart::WalmartSim;
