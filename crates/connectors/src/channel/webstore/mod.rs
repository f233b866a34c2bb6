//! The webstore channel API: orders pushed by webhook (signed the Standard
//! Webhooks way, `webhook-id` per delivery event, see `crate::signature`),
//! polled by `updated_since`, and shipment confirmations that the webstore
//! does not deduplicate.

mod client;
pub mod config;
mod mapping;
#[cfg(test)]
mod tests;

pub use client::WebstoreChannel;
