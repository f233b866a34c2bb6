//! Sales channel connectors.

pub mod amazon;
pub mod amazon_mapping;
pub mod shopify;
pub mod shopify_mapping;
pub mod walmart;
pub mod walmart_mapping;
pub mod webstore;

pub use amazon::{AmazonChannel, AmazonOptions};
pub use amazon_mapping::{AmazonOrder, amazon_order, amazon_order_bundle};
pub use shopify::{ShopifyChannel, ShopifyOptions};
pub use shopify_mapping::shopify_order;
pub use walmart::{WalmartChannel, WalmartOptions};
pub use walmart_mapping::walmart_order;
pub use webstore::WebstoreChannel;
