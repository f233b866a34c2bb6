//! The Shopify Admin REST channel (API version pinned per shop, default
//! `2025-07`).
//!
//! - **Webhooks** (`orders/create`, `orders/updated`, `orders/cancelled`) are
//!   verified against `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(webhook
//!   secret, raw body)) in constant time before the body is read. The dedupe
//!   key is `shopify:<X-Shopify-Event-Id>`. Shopify retries carry the original
//!   payload, so a webhook is a trigger: [`ShopifyChannel::fetch_order`]
//!   reads the current order.
//! - **Ids** stay the JSON text Shopify sent (they exceed 2^53).
//! - **Poll**: `orders.json?status=any&updated_at_min=…&limit=250`, then the
//!   `Link: <…>; rel="next"` cursor. Only its `page_info` is taken (verbatim),
//!   and the next page is asked of our own shop URL, so the access token never
//!   goes to a host named by a response.
//! - **Shipment confirmations** are fulfillments of the order's open
//!   fulfillment orders, one `POST fulfillments.json` per location. Shopify
//!   keeps no external id on a fulfillment, so a package is recognised by what
//!   it carries:
//!   - the tracking number is the carrier's; a package without one is sent
//!     with our package id as its tracking number (no carrier is named);
//!   - `confirm_shipment` first reads `orders/{id}/fulfillments.json`: units
//!     already fulfilled under the same tracking number are not sent again
//!     (a resend after a lost answer, or after one location of several went
//!     through), and when nothing is left it returns the existing ids;
//!   - `find_shipment_confirmation` finds fulfillments whose tracking number is
//!     the package id, i.e. untracked packages. A tracked package is not found
//!     there; the engine then resends and the resend is recognised above.
//!
//!   Limit: two packages of ours with the same tracking number and the same
//!   lines look like one resend; the second is then not confirmed.
//! - A 429 comes back as [`ConnectorError::Throttled`] with its `Retry-After`.

mod client;
pub mod config;
mod fulfillment;
mod inventory;
mod mapping;
mod orders;
mod settlements;
#[cfg(test)]
mod tests;
mod webhook;

pub use client::{DEFAULT_API_VERSION, ShopifyChannel, ShopifyOptions};
pub use mapping::{
    ShopifyFulfillment, shopify_fulfillment, shopify_inventory_levels, shopify_order,
    shopify_refund,
};
