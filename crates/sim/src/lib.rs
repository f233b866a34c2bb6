//! The simulated estate: a sales channel, an ERP and warehouses, each an HTTP
//! server on loopback speaking its own wire API (see `docs/sim-api.md`), with
//! injectable latency, rate limits, errors and outages.
//!
//! The simulators never deduplicate what the hub sends them (sales orders,
//! fulfilment requests, ship confirmations): their counters are how a test
//! catches a hub that sends an effect twice.
//!
//! `estate.rs` starts and stops them; `channel.rs`, `erp.rs`,
//! `warehouse.rs` and `tpl.rs` are the webstore, ERP, REST warehouse and
//! 3PL; `marketplace/` holds Shopify, Amazon and Walmart, one folder each
//! in one shape. Shared leaves: `faults.rs` (fault injection and the
//! checks of rates), `delivery.rs` (webhooks with retries),
//! `signing.rs` (Standard Webhooks signatures on the webstore's and the
//! warehouses' deliveries), `catalogue.rs`
//! (prices and the buyers' pace), `fixtures.rs` (made-up data), `wire.rs`
//! (strict bodies), `config.rs` (the `[sim]` table).

mod catalogue;
mod channel;
mod config;
mod delivery;
mod erp;
mod estate;
mod faults;
mod fixtures;
mod journals;
mod marketplace;
mod signing;
mod tpl;
mod warehouse;
mod wire;

pub use config::{
    ChannelSimConfig, ErpAuthSimConfig, ErpSimConfig, SimConfig, StockSeed, WarehouseSimConfig,
};
pub use estate::{Estate, EstateHandle};
pub use faults::{Faults, Outage};
pub use marketplace::{AmazonSimConfig, ShopifySimConfig, WalmartSimConfig};
pub use signing::SigningSimConfig;
pub use tpl::{TplSim, TplSimConfig};
