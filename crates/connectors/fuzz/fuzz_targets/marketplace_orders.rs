//! Arbitrary bytes into the Shopify, Amazon and Walmart order translators:
//! the pure functions `crossdock translate --from shopify-order |
//! amazon-order | walmart-order` and the channels' webhook and poll paths
//! run on a payload.
//!
//! All three run on every input (a JSON document one of them accepts is
//! usually refused by the others, and that refusal path is fuzzed too).
//! For any input: no panic (overflow included), no hang (`-timeout`), no
//! runaway allocation (`-rss_limit_mb`). For a payload that translates:
//! `crossdock_connectors_fuzz::check_order` (channel, id, status, money
//! non-negative and in one currency, JSON round trip, helpers), and
//! translating the same bytes again gives the same result (no hidden clock
//! or randomness). Errors must name a field path and render.
#![no_main]

use std::hint::black_box;

use crossdock_connectors::InputError;
use crossdock_connectors::channel::{
    AmazonOrder, amazon_order_bundle, shopify_order, walmart_order,
};
use crossdock_connectors_fuzz::check_order;
use libfuzzer_sys::fuzz_target;

fn rendered(e: &InputError) {
    black_box(e.to_string());
}

fn order_kind(
    what: &str,
    channel: &str,
    data: &[u8],
    translate: fn(&str, &[u8]) -> Result<crossdock_model::Order, InputError>,
) {
    let first = translate(channel, data);
    match &first {
        Ok(order) => {
            check_order(what, channel, order);
            assert!(!order.lines.is_empty(), "{what}: order without lines");
        }
        Err(e) => rendered(e),
    }
    assert_eq!(first, translate(channel, data), "{what}: not deterministic");
}

fuzz_target!(|data: &[u8]| {
    order_kind("shopify_order", "shopify", data, shopify_order);
    order_kind("walmart_order", "walmart", data, walmart_order);

    let first = amazon_order_bundle("amazon", data);
    match &first {
        Ok(AmazonOrder::Ready(order)) => {
            check_order("amazon_order_bundle", "amazon", order);
            assert!(
                !order.lines.is_empty(),
                "amazon_order_bundle: order without lines"
            );
        }
        Ok(other) => drop(black_box(format!("{other:?}"))),
        Err(e) => rendered(e),
    }
    assert_eq!(
        first,
        amazon_order_bundle("amazon", data),
        "amazon_order_bundle: not deterministic"
    );
});
