//! 810 Invoice. Money is `rust_decimal` throughout: IT1-04 is an `R` value,
//! while TDS-01 and SAC-05 are `N2` (two implied decimals), so `387530`
//! means 3875.30.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::common::{
    DateTime, Party, ProductId, Reference, decimal, dtm, expect_set, implied_decimal, opt,
    party_segment, product_ids, reference, req, unit,
};
use crate::envelope::TransactionSet;
use crate::error::EdiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    /// BIG-01.
    pub invoice_date: String,
    /// BIG-02.
    pub invoice_number: String,
    /// BIG-03.
    pub purchase_order_date: Option<String>,
    /// BIG-04.
    pub purchase_order_number: Option<String>,
    pub references: Vec<Reference>,
    pub dates: Vec<DateTime>,
    pub parties: Vec<Party>,
    pub lines: Vec<InvoiceLine>,
    /// TDS-01 total invoice amount (N2).
    pub total_amount: Decimal,
    /// SAC after TDS (invoice-level allowances/charges).
    pub allowances_charges: Vec<AllowanceCharge>,
    /// CAD-04 SCAC / CAD-05 routing, when sent.
    pub carrier_scac: Option<String>,
    pub carrier_routing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    /// IT1-01.
    pub line_id: Option<String>,
    /// IT1-02.
    pub quantity: Decimal,
    /// IT1-03.
    pub unit: Option<String>,
    /// IT1-04.
    pub unit_price: Decimal,
    pub product_ids: Vec<ProductId>,
    pub description: Option<String>,
    pub allowances_charges: Vec<AllowanceCharge>,
}

/// SAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllowanceCharge {
    /// SAC-01: A allowance, C charge, N no allowance/charge.
    pub indicator: String,
    /// SAC-02 code.
    pub code: Option<String>,
    /// SAC-05 amount (N2).
    pub amount: Option<Decimal>,
    /// SAC-15 description.
    pub description: Option<String>,
}

fn sac(seg: &crate::Segment) -> Result<AllowanceCharge, EdiError> {
    Ok(AllowanceCharge {
        indicator: req(seg, 1, "allowance or charge indicator (SAC-01)")?,
        code: opt(seg, 2),
        amount: implied_decimal(seg, 5, "amount (SAC-05)", 2)?,
        description: opt(seg, 15),
    })
}

/// Reads an 810 transaction set.
pub fn read_810(set: &TransactionSet) -> Result<Invoice, EdiError> {
    expect_set(set, "810")?;
    let mut big = None;
    let mut references = Vec::new();
    let mut dates = Vec::new();
    let mut parties = Vec::new();
    let mut lines: Vec<InvoiceLine> = Vec::new();
    let mut total = None;
    let mut summary_sac = Vec::new();
    let mut carrier = (None, None);
    for seg in &set.segments {
        let in_summary = total.is_some();
        match (seg.id.as_str(), lines.last_mut()) {
            ("BIG", _) => {
                big = Some((
                    req(seg, 1, "invoice date (BIG-01)")?,
                    req(seg, 2, "invoice number (BIG-02)")?,
                    opt(seg, 3),
                    opt(seg, 4),
                ));
            }
            ("REF", None) => references.push(reference(seg)?),
            ("DTM", None) => dates.push(dtm(seg)?),
            ("N1" | "N2" | "N3" | "N4", None) => {
                party_segment(&mut parties, seg)?;
            }
            ("IT1", _) if !in_summary => {
                let price_name = "unit price (IT1-04)";
                lines.push(InvoiceLine {
                    line_id: opt(seg, 1),
                    quantity: decimal(seg, 2, "quantity invoiced (IT1-02)")?.ok_or(
                        EdiError::MissingElement {
                            at: seg.at(2),
                            name: "quantity invoiced (IT1-02)",
                        },
                    )?,
                    unit: unit(seg, 3, "unit of measure (IT1-03)")?,
                    unit_price: decimal(seg, 4, price_name)?.ok_or(EdiError::MissingElement {
                        at: seg.at(4),
                        name: price_name,
                    })?,
                    product_ids: product_ids(seg, 6, seg.elements.len()),
                    description: None,
                    allowances_charges: Vec::new(),
                });
            }
            ("PID", Some(line)) if !in_summary => line.description = opt(seg, 5),
            ("SAC", Some(line)) if !in_summary => line.allowances_charges.push(sac(seg)?),
            ("SAC", _) => summary_sac.push(sac(seg)?),
            ("TDS", _) => {
                total = Some(
                    implied_decimal(seg, 1, "total invoice amount (TDS-01)", 2)?.ok_or(
                        EdiError::MissingElement {
                            at: seg.at(1),
                            name: "total invoice amount (TDS-01)",
                        },
                    )?,
                );
            }
            ("CAD", _) => carrier = (opt(seg, 4), opt(seg, 5)),
            _ => {}
        }
    }
    let Some((invoice_date, invoice_number, po_date, po_number)) = big else {
        return Err(EdiError::MissingSegment {
            at: set.st.position(),
            segment: "BIG",
        });
    };
    let Some(total_amount) = total else {
        return Err(EdiError::MissingSegment {
            at: set.se.position(),
            segment: "TDS",
        });
    };
    Ok(Invoice {
        invoice_date,
        invoice_number,
        purchase_order_date: po_date,
        purchase_order_number: po_number,
        references,
        dates,
        parties,
        lines,
        total_amount,
        allowances_charges: summary_sac,
        carrier_scac: carrier.0,
        carrier_routing: carrier.1,
    })
}
