//! 945 Warehouse Shipping Advice (3PL -> depositor): what actually shipped.
//! Short-ships show up as W12-03 < W12-02; several 945s can answer one 940.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::common::{
    DateTime, Mark, Party, ProductId, Reference, TRACKING_MARKS, TRACKING_QUALIFIERS, decimal,
    expect_set, g62, integer, mark, opt, party_segment, product_ids, reference, req, unit,
};
use crate::envelope::TransactionSet;
use crate::error::EdiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarehouseShippingAdvice {
    /// W06-01 reporting code (`F` final, `N` notification, `P` partial ...).
    pub reporting_code: String,
    /// W06-02; equals the 940's W05-02. Optional because real 945s omit it.
    pub depositor_order_number: Option<String>,
    /// W06-03 ship date.
    pub ship_date: Option<String>,
    /// W06-04 shipment id.
    pub shipment_id: Option<String>,
    /// W06-05 agent shipment id.
    pub agent_shipment_id: Option<String>,
    /// W06-06 purchase order number.
    pub purchase_order_number: Option<String>,
    pub parties: Vec<Party>,
    /// Header N9 references (BM bill of lading, CN PRO, 2I tracking ...).
    pub references: Vec<Reference>,
    pub dates: Vec<DateTime>,
    pub carrier: Option<CarrierDetail>,
    pub lines: Vec<ShippedLine>,
    /// W03 totals as sent (W03-01 often counts cartons, not line units, so it
    /// is reported, not checked).
    pub totals: Option<Totals>,
}

/// W27 carrier detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarrierDetail {
    /// W27-01 transportation method.
    pub transport_method: String,
    /// W27-02 SCAC.
    pub scac: Option<String>,
    /// W27-03 routing.
    pub routing: Option<String>,
    /// W27-04 shipment method of payment.
    pub payment_method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippedLine {
    /// LX-01 (absent when the 945 has no LX loop).
    pub line_number: Option<u32>,
    /// W12-01 (CC complete, CP partial, CL complete?, ...), partner specific.
    pub status: Option<String>,
    /// W12-02.
    pub quantity_ordered: Option<Decimal>,
    /// W12-03.
    pub quantity_shipped: Option<Decimal>,
    /// W12-04.
    pub quantity_difference: Option<Decimal>,
    /// W12-05.
    pub unit: Option<String>,
    /// W12-06.
    pub upc: Option<String>,
    /// W12-07/08.
    pub product_ids: Vec<ProductId>,
    /// W12-09.
    pub lot: Option<String>,
    /// W12-10, W12-11 qualifier, W12-12 unit code.
    pub weight: Option<Decimal>,
    pub weight_qualifier: Option<String>,
    pub weight_unit: Option<String>,
    pub references: Vec<Reference>,
    pub marks: Vec<Mark>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub units_shipped: Option<Decimal>,
    pub weight: Option<Decimal>,
    pub weight_unit: Option<String>,
}

impl WarehouseShippingAdvice {
    /// Tracking/PRO numbers found in header and line N9 (2I, CN) and MAN
    /// (CP, SM), in document order, deduplicated.
    pub fn tracking_numbers(&self) -> Vec<String> {
        let refs = self
            .references
            .iter()
            .chain(self.lines.iter().flat_map(|l| &l.references));
        let mut out: Vec<String> = refs
            .filter(|r| TRACKING_QUALIFIERS.contains(&r.qualifier.as_str()))
            .filter_map(|r| r.id.clone())
            .chain(
                self.lines
                    .iter()
                    .flat_map(|l| &l.marks)
                    .filter(|m| TRACKING_MARKS.contains(&m.qualifier.as_str()))
                    .map(|m| m.number.clone()),
            )
            .collect();
        let mut seen = std::collections::HashSet::new();
        out.retain(|t| seen.insert(t.clone()));
        out
    }

    /// Bill of lading (header N9*BM), if sent.
    pub fn bill_of_lading(&self) -> Option<&str> {
        self.references
            .iter()
            .find(|r| r.qualifier == "BM")
            .and_then(|r| r.id.as_deref())
    }
}

fn empty_line(line_number: Option<u32>) -> ShippedLine {
    ShippedLine {
        line_number,
        status: None,
        quantity_ordered: None,
        quantity_shipped: None,
        quantity_difference: None,
        unit: None,
        upc: None,
        product_ids: Vec::new(),
        lot: None,
        weight: None,
        weight_qualifier: None,
        weight_unit: None,
        references: Vec::new(),
        marks: Vec::new(),
    }
}

/// Reads a 945 transaction set.
pub fn read_945(set: &TransactionSet) -> Result<WarehouseShippingAdvice, EdiError> {
    expect_set(set, "945")?;
    let mut w06 = None;
    let mut parties = Vec::new();
    let mut references = Vec::new();
    let mut dates = Vec::new();
    let mut carrier = None;
    let mut lines: Vec<ShippedLine> = Vec::new();
    // Whether the current line already has its W12: a second W12 without LX
    // starts a new line (some 3PLs send no LX loop at all).
    let mut line_has_w12 = false;
    let mut totals = None;
    for seg in &set.segments {
        match seg.id.as_str() {
            "W06" => {
                w06 = Some([1, 2, 3, 4, 5, 6].map(|n| opt(seg, n)));
                if seg.text(1).is_none() {
                    return Err(EdiError::MissingElement {
                        at: seg.at(1),
                        name: "reporting code (W06-01)",
                    });
                }
            }
            "N1" | "N2" | "N3" | "N4" if lines.is_empty() => {
                party_segment(&mut parties, seg)?;
            }
            "G62" if lines.is_empty() => dates.push(g62(seg)?),
            "W27" => {
                carrier = Some(CarrierDetail {
                    transport_method: req(seg, 1, "transportation method (W27-01)")?,
                    scac: opt(seg, 2),
                    routing: opt(seg, 3),
                    payment_method: opt(seg, 4),
                });
            }
            "LX" => {
                lines.push(empty_line(integer(seg, 1, "assigned number (LX-01)")?));
                line_has_w12 = false;
            }
            "N9" => {
                let r = reference(seg)?;
                match lines.last_mut() {
                    Some(line) => line.references.push(r),
                    None => references.push(r),
                }
            }
            "MAN" => {
                let m = mark(seg)?;
                match lines.last_mut() {
                    Some(line) => line.marks.push(m),
                    None => {
                        return Err(EdiError::Structure {
                            at: seg.position(),
                            message: "MAN must be inside a line (LX) loop".into(),
                        });
                    }
                }
            }
            "W12" => {
                if lines.is_empty() || line_has_w12 {
                    lines.push(empty_line(None));
                }
                line_has_w12 = true;
                let Some(line) = lines.last_mut() else {
                    continue;
                };
                line.status = opt(seg, 1);
                line.quantity_ordered = decimal(seg, 2, "quantity ordered (W12-02)")?;
                line.quantity_shipped = decimal(seg, 3, "number of units shipped (W12-03)")?;
                line.quantity_difference = decimal(seg, 4, "quantity difference (W12-04)")?;
                line.unit = unit(seg, 5, "unit of measure (W12-05)")?;
                line.upc = opt(seg, 6);
                line.product_ids = product_ids(seg, 7, 8);
                line.lot = opt(seg, 9);
                line.weight = decimal(seg, 10, "weight (W12-10)")?;
                line.weight_qualifier = opt(seg, 11);
                line.weight_unit = opt(seg, 12);
            }
            "W03" => {
                totals = Some(Totals {
                    units_shipped: decimal(seg, 1, "number of units shipped (W03-01)")?,
                    weight: decimal(seg, 2, "weight (W03-02)")?,
                    weight_unit: opt(seg, 3),
                });
            }
            _ => {}
        }
    }
    let Some(
        [
            reporting_code,
            depositor_order_number,
            ship_date,
            shipment_id,
            agent,
            po,
        ],
    ) = w06
    else {
        return Err(EdiError::MissingSegment {
            at: set.st.position(),
            segment: "W06",
        });
    };
    if let Some(line) = lines
        .iter()
        .find(|l| l.status.is_none() && l.quantity_shipped.is_none())
    {
        let at = set
            .segments
            .iter()
            .find(|s| s.id == "LX" && s.text(1).and_then(|v| v.parse().ok()) == line.line_number)
            .map_or_else(|| set.st.position(), |s| s.position());
        return Err(EdiError::Structure {
            at,
            message: "line (LX loop) has no W12 segment".into(),
        });
    }
    Ok(WarehouseShippingAdvice {
        reporting_code: reporting_code.unwrap_or_default(),
        depositor_order_number,
        ship_date,
        shipment_id,
        agent_shipment_id: agent,
        purchase_order_number: po,
        parties,
        references,
        dates,
        carrier,
        lines,
        totals,
    })
}
