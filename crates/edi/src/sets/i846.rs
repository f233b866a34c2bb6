//! 846 Inventory Inquiry/Advice: stock positions per item. Quantity
//! qualifiers (QTY-01) mean different things per partner, so they are kept
//! raw; the connector maps them.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::common::{
    DateTime, Party, ProductId, Reference, decimal, decimal_req, dtm, expect_set, opt,
    party_segment, product_ids, reference, req, unit,
};
use crate::envelope::TransactionSet;
use crate::error::EdiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryAdvice {
    /// BIA-01 purpose (00 original).
    pub purpose: String,
    /// BIA-02 report type (CM, DM, MB ...).
    pub report_type: String,
    /// BIA-03 reference; with BIA-04 the snapshot's identity.
    pub reference: Option<String>,
    /// BIA-04.
    pub date: Option<String>,
    /// BIA-05.
    pub time: Option<String>,
    /// CUR-02.
    pub currency: Option<String>,
    pub dates: Vec<DateTime>,
    pub parties: Vec<Party>,
    pub references: Vec<Reference>,
    pub items: Vec<InventoryItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InventoryItem {
    /// LIN-01.
    pub assigned_id: Option<String>,
    /// LIN-02/03, LIN-04/05, ...
    pub product_ids: Vec<ProductId>,
    pub quantities: Vec<Quantity>,
    pub references: Vec<Reference>,
    /// DTM directly under the LIN (before any QTY).
    pub dates: Vec<DateTime>,
    /// CTP-03 unit price, when sent.
    pub unit_price: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quantity {
    /// QTY-01 (33 available, 17 on hand, QH, QB, 87 ... partner specific).
    pub qualifier: String,
    pub quantity: Decimal,
    /// QTY-03, or the UIT that follows the QTY.
    pub unit: Option<String>,
    /// DTM following the QTY.
    pub dates: Vec<DateTime>,
}

/// Reads an 846 transaction set.
pub fn read_846(set: &TransactionSet) -> Result<InventoryAdvice, EdiError> {
    expect_set(set, "846")?;
    let mut out = InventoryAdvice {
        purpose: String::new(),
        report_type: String::new(),
        reference: None,
        date: None,
        time: None,
        currency: None,
        dates: Vec::new(),
        parties: Vec::new(),
        references: Vec::new(),
        items: Vec::new(),
    };
    let mut seen_bia = false;
    for seg in &set.segments {
        let item = out.items.last_mut();
        match (seg.id.as_str(), item) {
            ("BIA", _) => {
                seen_bia = true;
                out.purpose = req(seg, 1, "purpose code (BIA-01)")?;
                out.report_type = req(seg, 2, "report type code (BIA-02)")?;
                out.reference = opt(seg, 3);
                out.date = opt(seg, 4);
                out.time = opt(seg, 5);
            }
            ("CUR", None) => out.currency = opt(seg, 2),
            ("N1" | "N2" | "N3" | "N4", None) => {
                party_segment(&mut out.parties, seg)?;
            }
            ("DTM", None) => out.dates.push(dtm(seg)?),
            ("REF", None) => out.references.push(reference(seg)?),
            ("LIN", _) => out.items.push(InventoryItem {
                assigned_id: opt(seg, 1),
                product_ids: product_ids(seg, 2, seg.elements.len()),
                quantities: Vec::new(),
                references: Vec::new(),
                dates: Vec::new(),
                unit_price: None,
            }),
            ("QTY", Some(item)) => item.quantities.push(Quantity {
                qualifier: req(seg, 1, "quantity qualifier (QTY-01)")?,
                quantity: decimal_req(seg, 2, "quantity (QTY-02)")?,
                unit: unit(seg, 3, "unit of measure (QTY-03)")?,
                dates: Vec::new(),
            }),
            ("UIT", Some(item)) => {
                let u = unit(seg, 1, "unit of measure (UIT-01)")?;
                if let Some(q) = item.quantities.last_mut()
                    && q.unit.is_none()
                {
                    q.unit = u;
                }
            }
            ("DTM", Some(item)) => {
                let d = dtm(seg)?;
                match item.quantities.last_mut() {
                    Some(q) => q.dates.push(d),
                    None => item.dates.push(d),
                }
            }
            ("REF", Some(item)) => item.references.push(reference(seg)?),
            ("CTP", Some(item)) => item.unit_price = decimal(seg, 3, "unit price (CTP-03)")?,
            ("QTY" | "UIT" | "CTP", None) => {
                return Err(EdiError::Structure {
                    at: seg.position(),
                    message: format!("{} must follow a LIN segment", seg.id),
                });
            }
            _ => {}
        }
    }
    if !seen_bia {
        return Err(EdiError::MissingSegment {
            at: set.st.position(),
            segment: "BIA",
        });
    }
    Ok(out)
}
