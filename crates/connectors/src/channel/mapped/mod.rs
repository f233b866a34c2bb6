//! A sales channel by configuration: [`MappedChannel`] reads whatever JSON
//! webhooks and polling API a [`ChannelMapping`] describes (a regional
//! marketplace, a storefront, the simulated webstore…) with no code per
//! channel, and sends ship confirmations back in that channel's shape.
//!
//! # Expressions
//!
//! Every field of the mapping that reads a payload is an *expression*: a
//! value starting with `/` is a JSON pointer (RFC 6901, `/items`,
//! `/buyer/email`); anything else is a jq program run by jaq (a jq program
//! cannot start with `/`). Pointers are preferred where they suffice: an
//! error in a value read by pointer names the payload path exactly
//! (`items[3].unit_price: expected decimal`). A value computed by jq has no
//! source path; its error names the canonical field (`lines[3].unit_price`)
//! and the mapping field whose program computed it. Every program is
//! compiled once, when the mapping is compiled.
//!
//! # Money stays exact
//!
//! Payloads are read with jaq's JSON reader, which keeps number literals as
//! written. An amount may come out of an expression as a string (`"19.99"`)
//! or a number literal (`19.99`); either is parsed from its text into a
//! `rust_decimal`. A floating-point number can only come from jq arithmetic
//! and is refused: amounts are moved, never computed, in jq. The order's
//! total is computed in Rust when the mapping does not read one.
//!
//! # Versions
//!
//! `version` is the mapping format's version. Only
//! [`SUPPORTED_MAPPING_VERSIONS`] are accepted; anything else is refused
//! when the mapping is compiled, so a mapping written for a newer hub never
//! runs with a silently different meaning.

mod client;
mod compile;
pub mod config;
mod expr;
mod fulfillment;
mod inventory;
mod mapping;
mod orders;
#[cfg(test)]
mod tests;
mod webhook;

pub use client::MappedChannel;
pub use compile::{MappingError, PayloadMapper, map_payload};
pub use mapping::{
    AvailabilityMapping, ChannelAuth, ChannelMapping, ConfirmShipmentMapping, EnvelopeMapping,
    FindShipmentMapping, LineMapping, OrderMapping, PollMapping, SUPPORTED_MAPPING_VERSIONS,
    SignatureEncoding, SignatureMapping, SinceFormat, WebhookMapping,
};
