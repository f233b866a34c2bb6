//! Sales channel connectors, one folder per external system. Each folder
//! uses the same file names for the same jobs: `client.rs` (HTTP plumbing and
//! the `impl Channel`), `webhook.rs`, `orders.rs`, `fulfillment.rs`,
//! `inventory.rs`, `mapping.rs` (pure: payload to canonical order) and
//! `tests.rs`; a system has only the files it needs.

pub mod amazon;
pub mod mapped;
mod poll;
pub mod shopify;
pub mod spec;
pub mod walmart;
pub mod webstore;

pub use amazon::{
    AmazonChannel, AmazonOptions, AmazonOrder, amazon_listings_feed_quantities, amazon_order,
    amazon_order_bundle, amazon_shipment_confirmation, amazon_shipment_confirmation_bundle,
};
pub(crate) use poll::polled_order;
pub use shopify::{
    ShopifyChannel, ShopifyFulfillment, ShopifyOptions, shopify_fulfillment,
    shopify_inventory_levels, shopify_order, shopify_refund,
};
pub use walmart::{
    WALMART_DEFAULT_NODE, WalmartChannel, WalmartOptions, walmart_inventory, walmart_order,
};
pub use webstore::WebstoreChannel;

pub use amazon::config::AmazonConfig;
pub use mapped::config::MappedChannelConfig;
pub use shopify::config::ShopifyConfig;
pub use spec::{ChannelKind, ChannelSpec, ChannelTables};
pub use walmart::config::WalmartConfig;
pub use webstore::config::WebstoreConfig;
