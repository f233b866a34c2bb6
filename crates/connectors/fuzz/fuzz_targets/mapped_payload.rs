//! Arbitrary bytes as the payload of a mapped channel (`kind = "mapped"`),
//! through mappings compiled once: the shipped one,
//! `config/channels/regional.toml` (JSON pointers, jq for the cancel flag
//! and the service level), and a variant of it that reads every field
//! with a jq program (`mappings/regional-jq.toml`: `//` defaults,
//! `tostring`, `select`, `map`, computed total), so the jq evaluation and
//! value conversion (`crates/connectors/src/jq.rs`, `channel/mapped/expr.rs`)
//! see the payload too.
//!
//! For any input: no panic (overflow included), no hang, no runaway
//! allocation. A payload that maps to an order passes
//! `crossdock_connectors_fuzz::check_order` and has lines (the mapping
//! refuses an empty `lines`); a cancellation names its order; mapping the
//! same bytes again gives the same event. Errors render.
#![no_main]

use std::hint::black_box;
use std::sync::LazyLock;

use crossdock_connectors::ChannelEvent;
use crossdock_connectors::channel::mapped::{ChannelMapping, PayloadMapper};
use crossdock_connectors_fuzz::check_order;
use libfuzzer_sys::fuzz_target;

const MAPPINGS: [(&str, &str); 2] = [
    (
        "regional",
        include_str!("../../../../config/channels/regional.toml"),
    ),
    ("regional_jq", include_str!("../mappings/regional-jq.toml")),
];

static COMPILED: LazyLock<Vec<(&'static str, PayloadMapper)>> = LazyLock::new(|| {
    MAPPINGS
        .iter()
        .map(|(channel, text)| {
            let mapping: ChannelMapping =
                toml::from_str(text).unwrap_or_else(|e| panic!("{channel}: {e}"));
            let mapper =
                PayloadMapper::compile(&mapping).unwrap_or_else(|e| panic!("{channel}: {e}"));
            (*channel, mapper)
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    for (channel, mapper) in COMPILED.iter() {
        let first = mapper.map(channel, data);
        match &first {
            Ok(ChannelEvent::Order(order)) => {
                check_order(channel, channel, order);
                assert!(!order.lines.is_empty(), "{channel}: order without lines");
            }
            Ok(ChannelEvent::Cancelled {
                external_order_id,
                reason,
                ..
            }) => drop(black_box((external_order_id, reason))),
            Ok(ChannelEvent::NotYet { .. }) => panic!("{channel}: a mapped channel has no NotYet"),
            Err(e) => drop(black_box(e.to_string())),
        }
        assert_eq!(
            first,
            mapper.map(channel, data),
            "{channel}: not deterministic"
        );
    }
});
