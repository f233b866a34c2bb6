//! Mapping from read transaction sets to the canonical model (pure: no I/O,
//! no clock; the caller supplies the warehouse/location name and, for 846s,
//! the snapshot time).
//!
//! Rules shared by the 945 and 856 mappings:
//! - `Shipment.id` is `"{warehouse}:{shipment id}"` (W06-04 / BSN-02), and
//!   `external_id` is the shipment id as sent.
//! - `order_id` is the order reference the hub sent in its 940 (W05-02,
//!   echoed in W06-02; W06-06 purchase order as fallback) or the 856 PRF-01.
//!   `fulfillment_request_id` is the same reference: the hub uses its order
//!   id as the 940 depositor order number, so the echoed reference is both.
//! - An 856 that covers several orders (PRF-01 values) yields one shipment
//!   per order, with id `"{warehouse}:{shipment id}:{order}"`.
//! - Quantities are X12 decimals; they map only when whole and not negative.
//!   Lines with nothing shipped are left out of `Shipment.lines` but still
//!   reported as short-shipped when something was ordered.
//! - The first tracking number (N9/REF 2I or CN, MAN CP/SM, else the bill of
//!   lading) becomes `Shipment.tracking`; further ones are reported in
//!   [`MappedShipments::more_tracking`]. The carrier is the SCAC (W27-02,
//!   TD5-03).
//! - X12 dates carry no zone: G62 times and DTM times without DTM-04 are
//!   read as UTC; DTM-04 zone codes with a fixed offset (UT, GM, ES, ED, CS,
//!   CD, MS, MD, PS, PD, AS, AD, HS) are applied, others are rejected.
//!
//! Errors name the segment (by its occurrence within the transaction set)
//! and the element; [`MappingError::position_in`] turns that into the
//! interchange-wide [`Position`] the parser errors use.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use crossdock_model::{InventoryPosition, Shipment, ShipmentLine, Tracking};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::common::{DateTime as EdiDate, ProductId};
use crate::envelope::TransactionSet;
use crate::error::Position;
use crate::sets::i846::InventoryAdvice;
use crate::sets::s856::ShipNotice;
use crate::sets::w945::WarehouseShippingAdvice;

/// Product id qualifiers tried, in order, for the SKU.
const SKU_QUALIFIERS: &[&str] = &["SK", "VN", "IN", "BP", "VP", "UP", "UK", "EN"];

/// Where in a transaction set a mapping problem is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentRef {
    pub segment_id: &'static str,
    /// 1-based occurrence of `segment_id` in the transaction set; `None`
    /// when the segment is absent.
    pub occurrence: Option<usize>,
    pub element: Option<usize>,
}

impl SegmentRef {
    fn absent(segment_id: &'static str) -> Self {
        Self {
            segment_id,
            occurrence: None,
            element: None,
        }
    }

    fn at(segment_id: &'static str, occurrence: usize, element: usize) -> Self {
        Self {
            segment_id,
            occurrence: Some(occurrence),
            element: Some(element),
        }
    }

    fn segment(segment_id: &'static str, occurrence: usize) -> Self {
        Self {
            segment_id,
            occurrence: Some(occurrence),
            element: None,
        }
    }
}

impl fmt::Display for SegmentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.occurrence {
            Some(n) => write!(f, "{} #{n}", self.segment_id)?,
            None => write!(f, "{} (absent)", self.segment_id)?,
        }
        if let Some(e) = self.element {
            write!(f, ", element {e}")?;
        }
        Ok(())
    }
}

/// A transaction set that was read but cannot be expressed in the canonical
/// model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("{at}: required {field} is missing: {hint}")]
    Missing {
        at: SegmentRef,
        field: &'static str,
        hint: String,
    },
    #[error("{at}: {field} {found:?} is invalid: expected {expected}")]
    Invalid {
        at: SegmentRef,
        field: &'static str,
        found: String,
        expected: String,
    },
}

impl MappingError {
    pub fn at(&self) -> &SegmentRef {
        match self {
            Self::Missing { at, .. } | Self::Invalid { at, .. } => at,
        }
    }

    /// The interchange-wide position (as in parser errors) of the segment
    /// and element, when the segment is present in `set`.
    pub fn position_in(&self, set: &TransactionSet) -> Option<Position> {
        let at = self.at();
        let n = at.occurrence?;
        let seg = std::iter::once(&set.st)
            .chain(&set.segments)
            .chain(std::iter::once(&set.se))
            .filter(|s| s.id == at.segment_id)
            .nth(n - 1)?;
        Some(match at.element {
            Some(e) => seg.at(e),
            None => seg.position(),
        })
    }

    /// The message with the interchange-wide position when it can be
    /// resolved, e.g. `segment 12 (W12), element 3: ...`.
    pub fn describe_in(&self, set: &TransactionSet) -> String {
        match self.position_in(set) {
            Some(p) => format!("{p}: {}", self.detail()),
            None => self.to_string(),
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Missing { field, hint, .. } => format!("required {field} is missing: {hint}"),
            Self::Invalid {
                field,
                found,
                expected,
                ..
            } => format!("{field} {found:?} is invalid: expected {expected}"),
        }
    }
}

fn missing(at: SegmentRef, field: &'static str, hint: impl Into<String>) -> MappingError {
    MappingError::Missing {
        at,
        field,
        hint: hint.into(),
    }
}

fn invalid(
    at: SegmentRef,
    field: &'static str,
    found: impl Into<String>,
    expected: impl Into<String>,
) -> MappingError {
    MappingError::Invalid {
        at,
        field,
        found: found.into(),
        expected: expected.into(),
    }
}

/// A line that shipped fewer units than were ordered (945 W12-03 < W12-02,
/// 856 SN1-02 < SN1-05).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShortShip {
    /// `Shipment.id` of the shipment the line belongs to.
    pub shipment_id: String,
    pub line_id: String,
    pub sku: String,
    pub ordered: u32,
    pub shipped: u32,
}

/// A tracking number beyond a shipment's first (multi-package shipments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageTracking {
    pub shipment_id: String,
    pub tracking: Tracking,
}

/// Shipments mapped from one transaction set, with what the canonical
/// `Shipment` cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct MappedShipments {
    pub shipments: Vec<Shipment>,
    pub short_ships: Vec<ShortShip>,
    pub more_tracking: Vec<PackageTracking>,
}

/// Maps a 945 to the shipment it reports.
pub fn shipments_from_945(
    advice: &WarehouseShippingAdvice,
    warehouse: &str,
) -> Result<MappedShipments, MappingError> {
    let external_id = advice.shipment_id.clone().ok_or_else(|| {
        missing(
            SegmentRef::at("W06", 1, 4),
            "shipment id (W06-04)",
            "it names the shipment",
        )
    })?;
    let order = advice
        .depositor_order_number
        .clone()
        .or_else(|| advice.purchase_order_number.clone())
        .ok_or_else(|| {
            missing(
                SegmentRef::at("W06", 1, 2),
                "depositor order number (W06-02)",
                "neither W06-02 nor W06-06 (purchase order number) is sent, so the shipment cannot be tied to an order",
            )
        })?;
    let shipped_at = ship_time_945(advice)?;
    let carrier = match &advice.carrier {
        None => {
            return Err(missing(
                SegmentRef::absent("W27"),
                "carrier SCAC (W27-02)",
                "the 945 has no W27 segment",
            ));
        }
        Some(c) => c.scac.clone().ok_or_else(|| {
            missing(
                SegmentRef::at("W27", 1, 2),
                "carrier SCAC (W27-02)",
                "no carrier to track the shipment with",
            )
        })?,
    };
    let mut numbers = advice.tracking_numbers();
    if numbers.is_empty()
        && let Some(bol) = advice.bill_of_lading()
    {
        numbers.push(bol.to_owned());
    }
    let id = format!("{warehouse}:{external_id}");
    let (tracking, more_tracking) = split_tracking(&id, &carrier, numbers).ok_or_else(|| {
        missing(
            SegmentRef::absent("N9"),
            "tracking number",
            "no N9 2I/CN, MAN CP/SM or N9 BM (bill of lading) in the 945",
        )
    })?;

    let mut lines = Vec::new();
    let mut short_ships = Vec::new();
    for (i, l) in advice.lines.iter().enumerate() {
        // Each line has exactly one W12 (read_945 rejects an LX loop without
        // one), so line i is the (i+1)th W12.
        let w12 = i + 1;
        let line_id = l.line_number.unwrap_or(w12 as u32).to_string();
        let sku = sku_of(&l.product_ids, l.upc.as_deref()).ok_or_else(|| {
            missing(
                SegmentRef::at("W12", w12, 7),
                "product id (W12-07/08 or W12-06 UPC)",
                "the line names no item",
            )
        })?;
        let shipped_raw = l.quantity_shipped.ok_or_else(|| {
            missing(
                SegmentRef::at("W12", w12, 3),
                "number of units shipped (W12-03)",
                "the line does not say how many units shipped",
            )
        })?;
        let shipped = whole_u32(
            shipped_raw,
            SegmentRef::at("W12", w12, 3),
            "number of units shipped (W12-03)",
        )?;
        let ordered = l
            .quantity_ordered
            .map(|q| {
                whole_u32(
                    q,
                    SegmentRef::at("W12", w12, 2),
                    "quantity ordered (W12-02)",
                )
            })
            .transpose()?;
        record_line(
            &id,
            line_id,
            sku,
            ordered,
            shipped,
            &mut lines,
            &mut short_ships,
        );
    }
    Ok(MappedShipments {
        shipments: vec![Shipment {
            id,
            order_id: order.clone(),
            warehouse: warehouse.to_owned(),
            external_id,
            fulfillment_request_id: order,
            lines,
            tracking,
            shipped_at,
            // A 945 is the warehouse's final word on the order it answers,
            // unless a line says the balance is still to follow.
            completes_request: !balance_to_follow(advice),
        }],
        short_ships,
        more_tracking,
    })
}

/// W12-01 `PR` (partial shipment) or `BP` (shipment partial, balance to
/// follow): another 945 will answer the same 940. `CP` (partial, no
/// backorder) and `CC` (complete) close it.
fn balance_to_follow(advice: &WarehouseShippingAdvice) -> bool {
    advice
        .lines
        .iter()
        .any(|l| matches!(l.status.as_deref(), Some("PR" | "BP")))
}

fn ship_time_945(advice: &WarehouseShippingAdvice) -> Result<DateTime<Utc>, MappingError> {
    // Header G62s are the only dates read_945 keeps, so index i is the
    // (i+1)th G62 of the set.
    if let Some((i, d)) = advice
        .dates
        .iter()
        .enumerate()
        .find(|(_, d)| d.qualifier == "11")
    {
        // G62-03 is a time qualifier, not a zone: the time is read as UTC.
        return date_time(d, None, "G62", i + 1, (2, 4));
    }
    match &advice.ship_date {
        Some(date) => {
            let day = parse_date(date).ok_or_else(|| {
                invalid(
                    SegmentRef::at("W06", 1, 3),
                    "shipment date (W06-03)",
                    date.clone(),
                    "a date CCYYMMDD or YYMMDD",
                )
            })?;
            Ok(Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)))
        }
        None => Err(missing(
            SegmentRef::absent("G62"),
            "ship date (G62*11)",
            "no G62 with qualifier 11 (shipped on this date) and no W06-03",
        )),
    }
}

/// Maps an 856 to its shipment(s): one per purchase order it covers.
pub fn shipments_from_856(
    notice: &ShipNotice,
    warehouse: &str,
) -> Result<MappedShipments, MappingError> {
    let external_id = notice.shipment_id.clone().ok_or_else(|| {
        missing(
            SegmentRef::at("BSN", 1, 2),
            "shipment identification (BSN-02)",
            "it names the shipment",
        )
    })?;
    let shipped_at = ship_time_856(notice)?;
    let levels = notice.all_levels();
    let (td5_index, scac) = levels
        .iter()
        .flat_map(|l| &l.carriers)
        .enumerate()
        .map(|(i, c)| (i + 1, c.scac.clone()))
        .next()
        .ok_or_else(|| {
            missing(
                SegmentRef::absent("TD5"),
                "carrier SCAC (TD5-03)",
                "the 856 has no TD5 segment",
            )
        })?;
    let carrier = scac.ok_or_else(|| {
        missing(
            SegmentRef::at("TD5", td5_index, 3),
            "carrier SCAC (TD5-03)",
            "no carrier to track the shipment with",
        )
    })?;
    let mut numbers = notice.tracking_numbers();
    if numbers.is_empty()
        && let Some(bol) = notice.bill_of_lading()
    {
        numbers.push(bol.to_owned());
    }
    if numbers.is_empty() {
        return Err(missing(
            SegmentRef::absent("REF"),
            "tracking number",
            "no REF 2I/CN, MAN CP/SM or REF BM (bill of lading) in the 856",
        ));
    }

    let items = notice.items();
    if items.is_empty() {
        return Err(missing(
            SegmentRef::absent("LIN"),
            "item (LIN)",
            "the 856 ships no items",
        ));
    }
    // Orders in order of first appearance, each with its items and the
    // items' LIN/SN1 occurrences (items() is depth first, i.e. document
    // order for senders that nest levels after their parents).
    let mut orders: Vec<(&str, Vec<OrderItem<'_>>)> = Vec::new();
    let mut sn1_seen = 0;
    for (k, ctx) in items.iter().enumerate() {
        let sn1 = ctx.item.quantity_shipped.map(|_| {
            sn1_seen += 1;
            sn1_seen
        });
        let po = ctx.purchase_order.ok_or_else(|| {
            missing(
                SegmentRef::segment("LIN", k + 1),
                "purchase order number (PRF-01)",
                "no PRF on the item's level or an enclosing level",
            )
        })?;
        match orders.iter_mut().find(|(o, _)| *o == po) {
            Some((_, v)) => v.push((k + 1, sn1, ctx.item)),
            None => orders.push((po, vec![(k + 1, sn1, ctx.item)])),
        }
    }

    let several = orders.len() > 1;
    let mut out = MappedShipments::default();
    for (po, order_items) in orders {
        let id = if several {
            format!("{warehouse}:{external_id}:{po}")
        } else {
            format!("{warehouse}:{external_id}")
        };
        let mut lines = Vec::new();
        for (ordinal, (lin, sn1, item)) in order_items.into_iter().enumerate() {
            let line_id = item
                .line_id
                .clone()
                .unwrap_or_else(|| (ordinal + 1).to_string());
            let sku = sku_of(&item.product_ids, None).ok_or_else(|| {
                missing(
                    SegmentRef::at("LIN", lin, 2),
                    "product id (LIN-02/03)",
                    "the item names no product",
                )
            })?;
            let (Some(sn1), Some(shipped_raw)) = (sn1, item.quantity_shipped) else {
                return Err(missing(
                    SegmentRef::segment("LIN", lin),
                    "units shipped (SN1-02)",
                    "the item has no SN1 segment",
                ));
            };
            let shipped = whole_u32(
                shipped_raw,
                SegmentRef::at("SN1", sn1, 2),
                "units shipped (SN1-02)",
            )?;
            let ordered = item
                .quantity_ordered
                .map(|q| {
                    whole_u32(
                        q,
                        SegmentRef::at("SN1", sn1, 5),
                        "quantity ordered (SN1-05)",
                    )
                })
                .transpose()?;
            record_line(
                &id,
                line_id,
                sku,
                ordered,
                shipped,
                &mut lines,
                &mut out.short_ships,
            );
        }
        let Some((tracking, more)) = split_tracking(&id, &carrier, numbers.clone()) else {
            continue; // unreachable: numbers is not empty
        };
        out.more_tracking.extend(more);
        out.shipments.push(Shipment {
            id,
            order_id: po.to_owned(),
            warehouse: warehouse.to_owned(),
            external_id: external_id.clone(),
            fulfillment_request_id: po.to_owned(),
            lines,
            tracking,
            shipped_at,
            // An ASN announces one shipment; more may follow.
            completes_request: false,
        });
    }
    Ok(out)
}

/// An 856 item with its LIN occurrence and SN1 occurrence (if it has one).
type OrderItem<'a> = (usize, Option<usize>, &'a crate::ShippedItem);

fn ship_time_856(notice: &ShipNotice) -> Result<DateTime<Utc>, MappingError> {
    // Header DTMs come first in the set; level DTMs follow in level order.
    let all = notice
        .dates
        .iter()
        .chain(notice.all_levels().into_iter().flat_map(|l| &l.dates));
    for (i, d) in all.enumerate() {
        if d.qualifier == "011" {
            return date_time(d, d.time_code.as_deref(), "DTM", i + 1, (2, 3));
        }
    }
    Err(missing(
        SegmentRef::absent("DTM"),
        "ship date (DTM*011)",
        "no DTM with qualifier 011 (shipped)",
    ))
}

/// Maps an 846 to one position per item. `on_hand` is QTY*17 (quantity on
/// hand), else QTY*33 (quantity available); `source` is `location`.
pub fn positions_from_846(
    advice: &InventoryAdvice,
    location: &str,
    as_of: DateTime<Utc>,
) -> Result<Vec<InventoryPosition>, MappingError> {
    let mut out = Vec::with_capacity(advice.items.len());
    let mut qty_before = 0;
    for (k, item) in advice.items.iter().enumerate() {
        let lin = k + 1;
        let sku = sku_of(&item.product_ids, None).ok_or_else(|| {
            missing(
                SegmentRef::at("LIN", lin, 2),
                "product id (LIN-02/03)",
                "the item names no product",
            )
        })?;
        let found = ["17", "33"].iter().find_map(|q| {
            item.quantities
                .iter()
                .position(|x| x.qualifier == *q)
                .map(|j| (j, &item.quantities[j]))
        });
        let Some((j, qty)) = found else {
            let sent: Vec<&str> = item
                .quantities
                .iter()
                .map(|q| q.qualifier.as_str())
                .collect();
            return Err(missing(
                SegmentRef::segment("LIN", lin),
                "on-hand quantity (QTY-01 17 or 33)",
                format!("the item's QTY qualifiers are {sent:?}"),
            ));
        };
        let at = SegmentRef::at("QTY", qty_before + j + 1, 2);
        let on_hand = qty
            .quantity
            .trunc()
            .eq(&qty.quantity)
            .then(|| qty.quantity.to_i64())
            .flatten()
            .ok_or_else(|| {
                invalid(
                    at,
                    "quantity (QTY-02)",
                    qty.quantity.to_string(),
                    "a whole number of units",
                )
            })?;
        qty_before += item.quantities.len();
        out.push(InventoryPosition {
            sku,
            location: location.to_owned(),
            on_hand,
            reserved: 0,
            source: location.to_owned(),
            as_of,
        });
    }
    Ok(out)
}

fn sku_of(ids: &[ProductId], upc: Option<&str>) -> Option<String> {
    SKU_QUALIFIERS
        .iter()
        .find_map(|q| ids.iter().find(|p| p.qualifier == *q))
        .map(|p| p.id.clone())
        .or_else(|| upc.map(str::to_owned))
        .or_else(|| ids.first().map(|p| p.id.clone()))
}

fn split_tracking(
    shipment_id: &str,
    carrier: &str,
    numbers: Vec<String>,
) -> Option<(Tracking, Vec<PackageTracking>)> {
    let mut it = numbers.into_iter().map(|number| Tracking {
        carrier: carrier.to_owned(),
        number,
        url: None,
    });
    let first = it.next()?;
    let more = it
        .map(|tracking| PackageTracking {
            shipment_id: shipment_id.to_owned(),
            tracking,
        })
        .collect();
    Some((first, more))
}

fn whole_u32(q: Decimal, at: SegmentRef, field: &'static str) -> Result<u32, MappingError> {
    if q.trunc() == q
        && !q.is_sign_negative()
        && let Some(n) = q.to_u32()
    {
        return Ok(n);
    }
    if q.is_zero() {
        return Ok(0); // -0
    }
    Err(invalid(
        at,
        field,
        q.to_string(),
        "a whole number of units, 0 or more",
    ))
}

/// Date `d.date` + time `d.time` (+ zone) of a G62/DTM; `elements` are the
/// (date, time) element numbers for error positions.
fn date_time(
    d: &EdiDate,
    zone: Option<&str>,
    segment_id: &'static str,
    occurrence: usize,
    (date_el, time_el): (usize, usize),
) -> Result<DateTime<Utc>, MappingError> {
    let date = d.date.as_deref().ok_or_else(|| {
        missing(
            SegmentRef::at(segment_id, occurrence, date_el),
            "date",
            "the ship date segment has no date",
        )
    })?;
    let day = parse_date(date).ok_or_else(|| {
        invalid(
            SegmentRef::at(segment_id, occurrence, date_el),
            "date",
            date,
            "a date CCYYMMDD or YYMMDD",
        )
    })?;
    let time = match d.time.as_deref() {
        None => NaiveTime::MIN,
        Some(t) => parse_time(t).ok_or_else(|| {
            invalid(
                SegmentRef::at(segment_id, occurrence, time_el),
                "time",
                t,
                "a time HHMM or HHMMSS",
            )
        })?,
    };
    let offset = match zone {
        None => 0,
        Some(z) => zone_offset_hours(z).ok_or_else(|| {
            invalid(
                SegmentRef::at(segment_id, occurrence, 4),
                "time code (DTM-04)",
                z,
                "a fixed-offset zone code (UT, GM, ES, ED, CS, CD, MS, MD, PS, PD, AS, AD, HS)",
            )
        })?,
    };
    FixedOffset::east_opt(offset * 3600)
        .and_then(|tz| tz.from_local_datetime(&day.and_time(time)).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            invalid(
                SegmentRef::at(segment_id, occurrence, date_el),
                "date",
                date,
                "a representable date and time",
            )
        })
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, rest) = match s.len() {
        8 => (s[..4].parse::<i32>().ok()?, &s[4..]),
        // YYMMDD: 00-49 is 20xx, 50-99 is 19xx.
        6 => {
            let yy = s[..2].parse::<i32>().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        _ => return None,
    };
    NaiveDate::from_ymd_opt(y, rest[..2].parse().ok()?, rest[2..].parse().ok()?)
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    if !s.bytes().all(|b| b.is_ascii_digit()) || !matches!(s.len(), 4 | 6 | 7 | 8) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|v| v.parse::<u32>().ok());
    let sec = if s.len() >= 6 { n(4..6)? } else { 0 };
    NaiveTime::from_hms_opt(n(0..2)?, n(2..4)?, sec)
}

fn zone_offset_hours(code: &str) -> Option<i32> {
    Some(match code {
        "UT" | "GM" | "Z" => 0,
        "AD" => -3,
        "AS" | "ED" => -4,
        "ES" | "CD" => -5,
        "CS" | "MD" => -6,
        "MS" | "PD" => -7,
        "PS" => -8,
        "HS" => -10,
        _ => return None,
    })
}

/// One shipped line, the same rule for every document: fewer units shipped
/// than ordered is a short ship (listed even when nothing shipped), and
/// only units that left become a shipment line.
fn record_line(
    shipment_id: &str,
    line_id: String,
    sku: String,
    ordered: Option<u32>,
    shipped: u32,
    lines: &mut Vec<ShipmentLine>,
    short_ships: &mut Vec<ShortShip>,
) {
    if let Some(ordered) = ordered
        && shipped < ordered
    {
        short_ships.push(ShortShip {
            shipment_id: shipment_id.to_owned(),
            line_id: line_id.clone(),
            sku: sku.clone(),
            ordered,
            shipped,
        });
    }
    if shipped > 0 {
        lines.push(ShipmentLine {
            line_id,
            sku,
            quantity: shipped,
        });
    }
}
