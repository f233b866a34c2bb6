//! 940 Warehouse Shipping Order (depositor -> 3PL). We mostly write these;
//! the reader exists so the writer can be checked by round trip and so an
//! inbound 940 (hub acting as warehouse in the simulator) can be read.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::common::{
    DateTime, Party, ProductId, Reference, decimal, decimal_req, expect_set, g62, integer, opt,
    party_segment, product_ids, reference, req, unit,
};
use crate::envelope::TransactionSet;
use crate::error::EdiError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarehouseShippingOrder {
    /// W05-01 order status code (`N` original, `C` cancel, `R` replace ...).
    pub status_code: String,
    /// W05-02; ties the 945 (W06-02) back to this order.
    pub depositor_order_number: String,
    /// W05-03.
    pub purchase_order_number: Option<String>,
    pub parties: Vec<Party>,
    /// Header N9 references.
    pub references: Vec<Reference>,
    /// G62 dates (e.g. 10 requested ship, 02 delivery requested).
    pub dates: Vec<DateTime>,
    pub carrier: Option<CarrierRouting>,
    pub lines: Vec<OrderLine>,
    /// W76-02/W76-03. W76-01 (total quantity) is derived from the lines.
    pub total_weight: Option<Weight>,
}

/// W66 carrier and routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarrierRouting {
    /// W66-01 shipment method of payment (CC collect, PP prepaid ...).
    pub payment_method: String,
    /// W66-02 transportation method (H customer pickup, M motor ...).
    pub transport_method: Option<String>,
    /// W66-05 routing.
    pub routing: Option<String>,
    /// W66-10 SCAC.
    pub scac: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weight {
    pub value: Decimal,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    /// LX-01.
    pub line_number: u32,
    /// W01-01.
    pub quantity: Decimal,
    /// W01-02.
    pub unit: String,
    /// W01-03.
    pub upc: Option<String>,
    /// W01-04/05, W01-06/07, W01-14/15.
    pub product_ids: Vec<ProductId>,
    /// G69-01.
    pub description: Option<String>,
    /// Line N9 references.
    pub references: Vec<Reference>,
}

/// Reads a 940 transaction set.
pub fn read_940(set: &TransactionSet) -> Result<WarehouseShippingOrder, EdiError> {
    expect_set(set, "940")?;
    let mut header = None;
    let mut order_parties = Vec::new();
    let mut references = Vec::new();
    let mut dates = Vec::new();
    let mut carrier = None;
    let mut lines: Vec<OrderLine> = Vec::new();
    let mut pending_lx: Option<(u32, crate::Position)> = None;
    let mut total_weight = None;
    let mut w76 = None;
    for seg in &set.segments {
        let in_lines = pending_lx.is_some() || !lines.is_empty();
        match seg.id.as_str() {
            "W05" => {
                header = Some((
                    req(seg, 1, "order status code (W05-01)")?,
                    req(seg, 2, "depositor order number (W05-02)")?,
                    opt(seg, 3),
                ));
            }
            "N1" | "N2" | "N3" | "N4" if !in_lines => {
                party_segment(&mut order_parties, seg)?;
            }
            "G62" if !in_lines => dates.push(g62(seg)?),
            "W66" => {
                carrier = Some(CarrierRouting {
                    payment_method: req(seg, 1, "shipment method of payment (W66-01)")?,
                    transport_method: opt(seg, 2),
                    routing: opt(seg, 5),
                    scac: opt(seg, 10),
                });
            }
            "LX" => {
                let n = integer(seg, 1, "assigned number (LX-01)")?.ok_or(
                    EdiError::MissingElement {
                        at: seg.at(1),
                        name: "assigned number (LX-01)",
                    },
                )?;
                pending_lx = Some((n, seg.position()));
            }
            "W01" => {
                let Some((line_number, _)) = pending_lx.take() else {
                    return Err(EdiError::Structure {
                        at: seg.position(),
                        message: "W01 must follow an LX segment".into(),
                    });
                };
                let mut product = product_ids(seg, 4, 7);
                product.extend(product_ids(seg, 14, 15));
                lines.push(OrderLine {
                    line_number,
                    quantity: decimal_req(seg, 1, "quantity ordered (W01-01)")?,
                    unit: unit(seg, 2, "unit of measure (W01-02)")?.ok_or(
                        EdiError::MissingElement {
                            at: seg.at(2),
                            name: "unit of measure (W01-02)",
                        },
                    )?,
                    upc: opt(seg, 3),
                    product_ids: product,
                    description: None,
                    references: Vec::new(),
                });
            }
            "G69" => {
                if let Some(line) = lines.last_mut() {
                    line.description = opt(seg, 1);
                }
            }
            "N9" => {
                let r = reference(seg)?;
                match lines.last_mut() {
                    Some(line) if pending_lx.is_none() => line.references.push(r),
                    _ => references.push(r),
                }
            }
            "W76" => {
                w76 = Some(seg);
                total_weight = decimal(seg, 2, "weight (W76-02)")?.map(|value| Weight {
                    value,
                    unit: opt(seg, 3),
                });
            }
            // NTE, W20, G61 and partner extras: kept in the set, not mapped.
            _ => {}
        }
    }
    if let Some((_, at)) = pending_lx {
        return Err(EdiError::Structure {
            at,
            message: "LX without a following W01".into(),
        });
    }
    let Some((status_code, depositor_order_number, purchase_order_number)) = header else {
        return Err(EdiError::MissingSegment {
            at: set.st.position(),
            segment: "W05",
        });
    };
    // W76-01 is a hash total of W01-01; a mismatch means lines were lost.
    if let Some(w76) = w76 {
        let declared = decimal_req(w76, 1, "total quantity (W76-01)")?;
        let actual: Decimal = lines.iter().map(|l| l.quantity).sum();
        if declared != actual {
            return Err(EdiError::InvalidElement {
                at: w76.at(1),
                name: "total quantity (W76-01)",
                found: declared.to_string(),
                expected: format!("the sum of W01-01 over all lines ({actual})"),
            });
        }
    }
    Ok(WarehouseShippingOrder {
        status_code,
        depositor_order_number,
        purchase_order_number,
        parties: order_parties,
        references,
        dates,
        carrier,
        lines,
        total_weight,
    })
}
