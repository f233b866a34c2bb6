//! The webstore channel API: orders pushed by webhook (`x-webstore-event-id`
//! per delivery event), polled by `updated_since`, and shipment confirmations
//! that the webstore does not deduplicate.

mod client;
pub mod config;
mod mapping;
#[cfg(test)]
mod tests;

pub use client::WebstoreChannel;
