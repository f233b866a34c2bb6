//! 855 Purchase Order Acknowledgment: per line, what the supplier accepted.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::common::{
    DateTime, Party, ProductId, Reference, decimal, dtm, expect_set, opt, party_segment,
    product_ids, reference, req, unit,
};
use crate::envelope::TransactionSet;
use crate::error::EdiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoAcknowledgment {
    /// BAK-01 purpose.
    pub purpose: String,
    /// BAK-02 acknowledgment type (AD, AC, RJ ...).
    pub ack_type: String,
    /// BAK-03.
    pub purchase_order_number: String,
    /// BAK-04.
    pub purchase_order_date: Option<String>,
    /// BAK-06 request reference (the seller's order number in practice).
    pub seller_reference: Option<String>,
    /// BAK-09 acknowledgment date.
    pub ack_date: Option<String>,
    /// CUR-02.
    pub currency: Option<String>,
    pub references: Vec<Reference>,
    pub dates: Vec<DateTime>,
    pub parties: Vec<Party>,
    pub lines: Vec<AckLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AckLine {
    /// PO1-01.
    pub line_id: Option<String>,
    /// PO1-02.
    pub quantity: Option<Decimal>,
    /// PO1-03.
    pub unit: Option<String>,
    /// PO1-04.
    pub unit_price: Option<Decimal>,
    pub product_ids: Vec<ProductId>,
    pub description: Option<String>,
    pub acks: Vec<LineAck>,
}

/// ACK line item status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineAck {
    /// ACK-01 (IA accepted, IR rejected, IB backordered ...).
    pub status: String,
    /// ACK-02/03.
    pub quantity: Option<Decimal>,
    pub unit: Option<String>,
    /// ACK-04 qualifier, ACK-05 date.
    pub date_qualifier: Option<String>,
    pub date: Option<String>,
}

/// Reads an 855 transaction set.
pub fn read_855(set: &TransactionSet) -> Result<PoAcknowledgment, EdiError> {
    expect_set(set, "855")?;
    let mut bak = None;
    let mut currency = None;
    let mut references = Vec::new();
    let mut dates = Vec::new();
    let mut parties = Vec::new();
    let mut lines: Vec<AckLine> = Vec::new();
    for seg in &set.segments {
        match (seg.id.as_str(), lines.last_mut()) {
            ("BAK", _) => {
                bak = Some((
                    req(seg, 1, "purpose code (BAK-01)")?,
                    req(seg, 2, "acknowledgment type (BAK-02)")?,
                    req(seg, 3, "purchase order number (BAK-03)")?,
                    opt(seg, 4),
                    opt(seg, 6),
                    opt(seg, 9),
                ));
            }
            ("CUR", None) => currency = opt(seg, 2),
            ("REF", None) => references.push(reference(seg)?),
            ("DTM", None) => dates.push(dtm(seg)?),
            ("N1" | "N2" | "N3" | "N4", None) => {
                party_segment(&mut parties, seg)?;
            }
            ("PO1", _) => lines.push(AckLine {
                line_id: opt(seg, 1),
                quantity: decimal(seg, 2, "quantity ordered (PO1-02)")?,
                unit: unit(seg, 3, "unit of measure (PO1-03)")?,
                unit_price: decimal(seg, 4, "unit price (PO1-04)")?,
                product_ids: product_ids(seg, 6, seg.elements.len()),
                description: None,
                acks: Vec::new(),
            }),
            ("PID", Some(line)) => line.description = opt(seg, 5),
            ("ACK", Some(line)) => line.acks.push(LineAck {
                status: req(seg, 1, "line item status code (ACK-01)")?,
                quantity: decimal(seg, 2, "quantity (ACK-02)")?,
                unit: unit(seg, 3, "unit of measure (ACK-03)")?,
                date_qualifier: opt(seg, 4),
                date: opt(seg, 5),
            }),
            ("ACK", None) => {
                return Err(EdiError::Structure {
                    at: seg.position(),
                    message: "ACK must follow a PO1 segment".into(),
                });
            }
            _ => {}
        }
    }
    let Some((purpose, ack_type, po, po_date, seller_reference, ack_date)) = bak else {
        return Err(EdiError::MissingSegment {
            at: set.st.position(),
            segment: "BAK",
        });
    };
    Ok(PoAcknowledgment {
        purpose,
        ack_type,
        purchase_order_number: po,
        purchase_order_date: po_date,
        seller_reference,
        ack_date,
        currency,
        references,
        dates,
        parties,
        lines,
    })
}
