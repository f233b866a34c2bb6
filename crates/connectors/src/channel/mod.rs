//! Sales channel connectors.

pub mod amazon;
pub mod amazon_mapping;
pub mod mapped;
pub mod shopify;
pub mod shopify_mapping;
pub mod spec;
pub mod walmart;
pub mod walmart_mapping;
pub mod webstore;

pub use amazon::{AmazonChannel, AmazonOptions};
pub use amazon_mapping::{
    AmazonOrder, amazon_listings_feed_quantities, amazon_order, amazon_order_bundle,
    amazon_shipment_confirmation, amazon_shipment_confirmation_bundle,
};
pub use shopify::{ShopifyChannel, ShopifyOptions};
pub use shopify_mapping::{
    ShopifyFulfillment, shopify_fulfillment, shopify_inventory_levels, shopify_order,
    shopify_refund,
};
pub use walmart::{WalmartChannel, WalmartOptions};
pub use walmart_mapping::{WALMART_DEFAULT_NODE, walmart_inventory, walmart_order};
pub use webstore::WebstoreChannel;

pub use amazon::config::AmazonConfig;
pub use mapped::config::MappedChannelConfig;
pub use shopify::config::ShopifyConfig;
pub use spec::{ChannelKind, ChannelSpec, ChannelTables};
pub use walmart::config::WalmartConfig;
pub use webstore::config::WebstoreConfig;

/// A polled order as an inbox message keyed `<source>:poll:<id>:<version>`,
/// or `None` when its id or version cannot be read: logged and left out,
/// since one bad order must not hold up the reconciliation of the rest (its
/// webhook twin is refused at the door the same way).
pub(crate) fn polled_order(
    channel: &str,
    source: &str,
    raw: Vec<u8>,
    // Reads the order's id and source version from its raw body.
    read_envelope: impl Fn(&[u8]) -> Result<(String, i64), crate::InputError>,
) -> Option<(crate::InboundEnvelope, Vec<u8>)> {
    match read_envelope(&raw) {
        Ok((id, version)) => Some((
            crate::InboundEnvelope {
                message_key: format!("{source}:poll:{id}:{version}"),
                external_order_id: id,
                source_version: version,
            },
            raw,
        )),
        Err(error) => {
            tracing::warn!(channel, source, %error, "skipping an unreadable polled order");
            None
        }
    }
}
