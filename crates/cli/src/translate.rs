//! `crossdock translate --from <kind> FILE`: map a marketplace payload to
//! canonical form and print it as JSON. Pure: reads one file, no store.
//!
//! Order kinds print an `Order`; refund kinds a `Refund`; fulfilment kinds a
//! `Shipment`; inventory kinds an array of `InventoryPosition`. Kinds and
//! file shapes:
//! - `shopify-order`: a Shopify order (webhook body) or `{"order": {...}}`.
//! - `amazon-order`: `{"order": <getOrder response or Order>, "items":
//!   <getOrderItems response or OrderItemsList>}`. A Pending or Canceled
//!   order is reported and not translated (exit status 1).
//! - `walmart-order`: a Walmart purchase order or `{"order": {...}}`.
//! - `shopify-refund`: a Shopify refund or `{"refund": {...}}`.
//! - `shopify-fulfillment`: a Shopify fulfillment or `{"fulfillment": {...}}`.
//!   One that is not `success` (cancelled, failed, pending) is reported and
//!   not translated (exit status 1).
//! - `shopify-inventory-level`: a level, `{"inventory_level": {...}}` or
//!   `{"inventory_levels": [...]}` (`sku` is Shopify's inventory item id).
//! - `walmart-inventory`: `{sku, quantity}`, a bulk inventory feed (1.4 or
//!   1.5), or a multi-node answer (`{sku, nodes}` or a page of them).
//! - `amazon-shipment-confirmation`: `{"orderId": "...", "body":
//!   <confirmShipment body>}` (the order id is a path parameter on the wire).
//! - `amazon-listings-feed`: a `JSON_LISTINGS_FEED` document; its
//!   `fulfillment_availability` quantities.
//!
//! Walmart and Amazon inventory payloads state no time: their positions are
//! stamped with the time of translation.
//! - `<channel-name>` with `--config FILE`: a webhook body of that channel
//!   of the hub configuration, which must be `kind = "mapped"`; mapped by
//!   its `[channels.mapping]` (no network, no secrets needed). A
//!   cancellation is reported and not translated (exit status 1).

use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;
use crossdock_connectors::channel::{
    AmazonOrder, ShopifyFulfillment, amazon_listings_feed_quantities, amazon_order_bundle,
    amazon_shipment_confirmation_bundle, shopify_fulfillment, shopify_inventory_levels,
    shopify_order, shopify_refund, walmart_inventory, walmart_order,
};
use crossdock_model::Order;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    ShopifyOrder,
    AmazonOrder,
    WalmartOrder,
    ShopifyRefund,
    ShopifyFulfillment,
    ShopifyInventoryLevel,
    WalmartInventory,
    AmazonShipmentConfirmation,
    AmazonListingsFeed,
}

impl Source {
    /// The channel name stamped on the translated document (the `source`
    /// of inventory positions).
    pub fn channel(&self) -> &'static str {
        match self {
            Source::ShopifyOrder
            | Source::ShopifyRefund
            | Source::ShopifyFulfillment
            | Source::ShopifyInventoryLevel => "shopify",
            Source::AmazonOrder
            | Source::AmazonShipmentConfirmation
            | Source::AmazonListingsFeed => "amazon",
            Source::WalmartOrder | Source::WalmartInventory => "walmart",
        }
    }
}

/// Maps `body` as `from` to its canonical JSON; the error names the failing field.
pub fn translate(from: Source, body: &[u8]) -> anyhow::Result<Value> {
    let channel = from.channel();
    let json = match from {
        Source::ShopifyOrder | Source::WalmartOrder | Source::AmazonOrder => {
            serde_json::to_value(translate_order(from, body)?)
        }
        Source::ShopifyRefund => serde_json::to_value(shopify_refund(channel, body)?),
        Source::ShopifyFulfillment => match shopify_fulfillment(channel, body)? {
            ShopifyFulfillment::Shipped(shipment) => serde_json::to_value(shipment),
            ShopifyFulfillment::NotShipped {
                external_id,
                status,
                ..
            } => anyhow::bail!(
                "Shopify fulfillment {external_id} is {status}: nothing shipped to translate"
            ),
        },
        Source::ShopifyInventoryLevel => {
            serde_json::to_value(shopify_inventory_levels(channel, body)?)
        }
        Source::WalmartInventory => {
            serde_json::to_value(walmart_inventory(channel, body, chrono::Utc::now())?)
        }
        Source::AmazonShipmentConfirmation => {
            serde_json::to_value(amazon_shipment_confirmation_bundle(channel, body)?)
        }
        Source::AmazonListingsFeed => serde_json::to_value(amazon_listings_feed_quantities(
            channel,
            body,
            chrono::Utc::now(),
        )?),
    };
    Ok(json?)
}

/// Maps an order kind; the error names the failing field.
fn translate_order(from: Source, body: &[u8]) -> anyhow::Result<Order> {
    let channel = from.channel();
    match from {
        Source::ShopifyOrder => Ok(shopify_order(channel, body)?),
        Source::WalmartOrder => Ok(walmart_order(channel, body)?),
        Source::AmazonOrder => match amazon_order_bundle(channel, body)? {
            AmazonOrder::Ready(order) => Ok(*order),
            AmazonOrder::Pending {
                external_id,
                status,
                ..
            } => anyhow::bail!(
                "Amazon order {external_id} is {status}: Amazon sends no prices or address \
                 until payment is authorized; translate it again once it is Unshipped"
            ),
            AmazonOrder::Canceled { external_id, .. } => {
                anyhow::bail!("Amazon order {external_id} is Canceled: nothing to translate")
            }
        },
        other => anyhow::bail!("{other:?} is not an order kind"),
    }
}

/// What `--from` names: a built-in payload kind or a configured channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    Builtin(Source),
    Channel(String),
}

impl std::str::FromStr for From {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match Source::from_str(s, false) {
            Ok(source) => Ok(From::Builtin(source)),
            Err(_) if !s.trim().is_empty() => Ok(From::Channel(s.to_owned())),
            Err(e) => Err(e),
        }
    }
}

/// Maps `body` as channel `name` of `config` (a `kind = "mapped"` channel).
pub fn translate_mapped(
    config: &crate::config::Config,
    name: &str,
    body: &[u8],
) -> anyhow::Result<Order> {
    use crossdock_connectors::ChannelEvent;
    use crossdock_connectors::channel::mapped::map_payload;
    let channel = config
        .channels
        .iter()
        .find(|c| c.name == name)
        .with_context(|| {
            let known: Vec<&str> = config.channels.iter().map(|c| c.name.as_str()).collect();
            format!(
                "no channel {name:?} in the configuration (channels: {}; built-in kinds: \
                 shopify-order, amazon-order, walmart-order)",
                known.join(", ")
            )
        })?;
    if channel.kind() != crate::config::ChannelKind::Mapped {
        anyhow::bail!(
            "channel {name:?} is kind {:?}, not \"mapped\": translate its payloads with \
             --from shopify-order, amazon-order or walmart-order",
            channel.kind()
        );
    }
    let mapping = channel
        .channel_mapping()
        .map_err(|e| anyhow::anyhow!("channel {name}: mapping: {e}"))?;
    match map_payload(name, &mapping, body)? {
        ChannelEvent::Order(order) => Ok(*order),
        ChannelEvent::Cancelled {
            external_order_id,
            source_version,
            reason,
        } => anyhow::bail!(
            "order {external_order_id} (version {source_version}) is a cancellation \
             ({reason}): nothing to translate"
        ),
        ChannelEvent::NotYet {
            external_order_id,
            reason,
        } => anyhow::bail!("order {external_order_id} is not to be taken yet: {reason}"),
    }
}

pub fn run(from: From, config: Option<&Path>, file: &Path) -> anyhow::Result<()> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let translated = match from {
        From::Builtin(source) => translate(source, &body),
        From::Channel(name) => {
            let config = config.with_context(|| {
                format!(
                    "--from {name}: not a built-in kind (shopify-order, amazon-order, \
                     walmart-order); give --config FILE, the hub configuration defining \
                     channel {name:?}"
                )
            })?;
            let config = crate::config::Config::load(config)?;
            translate_mapped(&config, &name, &body).and_then(|o| Ok(serde_json::to_value(o)?))
        }
    }
    .with_context(|| format!("{}", file.display()))?;
    println!("{}", serde_json::to_string_pretty(&translated)?);
    Ok(())
}
