//! The REST warehouse API: fulfilment requests out (not idempotent there),
//! shipment messages in by webhook, signed the Standard
//! Webhooks way (`crate::signature`).

mod client;
pub mod config;
#[cfg(test)]
mod tests;

pub use client::RestWarehouse;
