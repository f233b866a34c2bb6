//! X12 EDI reader/writer for Crossdock. Pure functions over bytes: no I/O,
//! no clock, no persistence, so connectors, the simulator and tests can all
//! use it deterministically.
//!
//! Reading: [`parse`] (strict: envelope errors fail) or [`parse_lenient`]
//! (structure must be sound; control-number/count/format problems are
//! returned alongside the content), then a typed reader such as
//! [`read_945`]. Writing: [`write_940`], [`write_997`] with caller-supplied
//! delimiters and control numbers.

// Errors carry the position and the offending text so operators can fix the
// partner file without a hex editor; they are built only on the failure path,
// so the larger `Err` is an accepted cost.
#![allow(clippy::result_large_err)]

pub mod canonical;
mod common;
mod envelope;
mod error;
pub mod sets;
mod token;
mod write;

pub use canonical::{
    MappedShipments, MappingError, PackageTracking, SegmentRef, ShortShip, positions_from_846,
    shipments_from_856, shipments_from_945,
};
pub use common::{DateTime, Mark, Party, ProductId, Reference, parse_decimal};
pub use envelope::{FunctionalGroup, Interchange, TransactionSet};
pub use error::{EdiError, Position, Warning, WriteError};
pub use sets::a997::{
    AckStatus, ElementError, FunctionalAck, SegmentError, SetAck, acknowledge, read_997,
};
pub use sets::b810::{AllowanceCharge, Invoice, InvoiceLine, read_810};
pub use sets::i846::{InventoryAdvice, InventoryItem, Quantity, read_846};
pub use sets::p855::{AckLine, LineAck, PoAcknowledgment, read_855};
pub use sets::s856::{HierarchicalLevel, ItemInContext, ShipNotice, ShippedItem, read_856};
pub use sets::w940::{OrderLine, WarehouseShippingOrder, Weight, read_940};
pub use sets::w945::{CarrierDetail, ShippedLine, Totals, WarehouseShippingAdvice, read_945};
pub use token::{Delimiters, Element, Segment, Tokens, tokenize};
pub use write::{
    ControlNumbers, EnvelopeParams, OutSegment, format_decimal, segments_940, segments_997,
    write_940, write_997, write_interchange,
};

/// An interchange whose structure is sound, with every envelope problem
/// (counts, control numbers, field formats) found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LenientParse {
    pub interchange: Interchange,
    /// In document order; empty when [`parse`] would succeed.
    pub issues: Vec<EdiError>,
}

/// Parses and fully validates one interchange. Never panics.
///
/// Fails with the first problem in document order.
pub fn parse(bytes: &[u8]) -> Result<Interchange, EdiError> {
    let LenientParse {
        interchange,
        issues,
    } = parse_lenient(bytes)?;
    match issues.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(interchange),
    }
}

/// Parses one interchange, failing only when the delimiters or the
/// ISA/GS/ST nesting cannot be established. Use it to read (and reject with
/// a 997/TA1, or quarantine) partner files with envelope mistakes.
pub fn parse_lenient(bytes: &[u8]) -> Result<LenientParse, EdiError> {
    let interchange = envelope::build(tokenize(bytes)?)?;
    let issues = envelope::validate(&interchange);
    Ok(LenientParse {
        interchange,
        issues,
    })
}
