//! `crossdock translate --from <kind> FILE`: map a marketplace order payload to
//! the canonical order and print it as JSON. Pure: reads one file, no store.
//!
//! Kinds and file shapes:
//! - `shopify-order`: a Shopify order (webhook body) or `{"order": {...}}`.
//! - `amazon-order`: `{"order": <getOrder response or Order>, "items":
//!   <getOrderItems response or OrderItemsList>}`. A Pending or Canceled
//!   order is reported and not translated (exit status 1).
//! - `walmart-order`: a Walmart purchase order or `{"order": {...}}`.

use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;
use crossdock_connectors::channel::{
    AmazonOrder, amazon_order_bundle, shopify_order, walmart_order,
};
use crossdock_model::Order;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    ShopifyOrder,
    AmazonOrder,
    WalmartOrder,
}

impl Source {
    /// The channel name stamped on the translated order.
    pub fn channel(&self) -> &'static str {
        match self {
            Source::ShopifyOrder => "shopify",
            Source::AmazonOrder => "amazon",
            Source::WalmartOrder => "walmart",
        }
    }
}

/// Maps `body` as `from`; the error names the failing field.
pub fn translate(from: Source, body: &[u8]) -> anyhow::Result<Order> {
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
    }
}

pub fn run(from: Source, file: &Path) -> anyhow::Result<()> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let order = translate(from, &body).with_context(|| format!("{}", file.display()))?;
    println!("{}", serde_json::to_string_pretty(&order)?);
    Ok(())
}
