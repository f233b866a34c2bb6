//! Arbitrary mapping source through the compile step a mapped channel's
//! mapping goes through when the hub loads its configuration (and
//! `crossdock config check`, `mapping diff`): TOML into `ChannelMapping`,
//! then `PayloadMapper::compile` (every jq program parsed and compiled,
//! every template and header name checked).
//!
//! The input is used twice:
//!
//! 1. as a whole mapping file (TOML);
//! 2. as the source of one expression (chosen by the input's length) put
//!    into the shipped `config/channels/regional.toml`, so most inputs reach
//!    the jq parser and compiler instead of stopping at TOML syntax.
//!
//! For any input: no panic (overflow, deep nesting), no hang, no runaway
//! allocation; errors render. A mapping that reads also survives the TOML
//! round trip `--print-config` and `config plan` rely on (written back, it
//! reads as the same mapping). Compiled programs are not run here: a jq
//! program may legitimately loop (`def f: f; f`), so running arbitrary
//! ones would only find that; `mapped_payload` runs fixed mappings on
//! arbitrary payloads.
#![no_main]

use std::hint::black_box;
use std::sync::LazyLock;

use crossdock_connectors::channel::mapped::{ChannelMapping, PayloadMapper};
use libfuzzer_sys::fuzz_target;

static REGIONAL: LazyLock<ChannelMapping> = LazyLock::new(|| {
    toml::from_str(include_str!("../../../../config/channels/regional.toml"))
        .expect("regional.toml reads")
});

fn compile(mapping: &ChannelMapping) {
    match PayloadMapper::compile(mapping) {
        Ok(mapper) => drop(black_box(mapper)),
        Err(e) => drop(black_box(e)),
    }
}

/// Puts `source` into the expression field number `which` of `m`.
fn with_expression(m: &mut ChannelMapping, which: usize, source: &str) {
    let s = source.to_owned();
    match which % 12 {
        0 => m.envelope.external_order_id = s,
        1 => m.envelope.source_version = s,
        2 => m.envelope.cancelled = Some(s),
        3 => m.order.currency = s,
        4 => m.order.customer_name = s,
        5 => m.order.lines = s,
        6 => m.order.line.sku = s,
        7 => m.order.line.unit_price = s,
        8 => m.order.service_level = Some(s),
        9 => m.order.shipping_address = Some(s),
        10 => {
            if let Some(p) = m.poll.as_mut() {
                p.items = s;
            }
        }
        _ => {
            if let Some(c) = m.confirm_shipment.as_mut() {
                c.body = s;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match toml::from_str::<ChannelMapping>(text) {
        Ok(mapping) => {
            compile(&mapping);
            let written = toml::to_string(&mapping).expect("a mapping writes as TOML");
            match toml::from_str::<ChannelMapping>(&written) {
                Ok(again) => assert_eq!(again, mapping, "mapping changes through TOML"),
                Err(e) => panic!("written mapping does not read back: {e}\n{written}"),
            }
        }
        Err(e) => drop(black_box(e.to_string())),
    }
    let mut mapping = REGIONAL.clone();
    with_expression(&mut mapping, text.len(), text);
    compile(&mapping);
});
