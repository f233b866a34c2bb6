//! 856 Ship Notice/Manifest: BSN plus an HL tree (shipment -> order ->
//! tare/pack -> item). The tree is kept as sent because partners use
//! different shapes (S/O/P/I, S/O/I, S/I); [`ShipNotice::items`] flattens it
//! with the order/container context a shipment mapping needs.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::common::{
    DateTime, Mark, Party, ProductId, Reference, TRACKING_MARKS, TRACKING_QUALIFIERS, decimal,
    decimal_req, dtm, expect_set, mark, opt, party_segment, product_ids, reference, req, unit,
};
use crate::envelope::TransactionSet;
use crate::error::{EdiError, Position};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipNotice {
    /// BSN-01 purpose (00 original, 14 advance notification ...).
    pub purpose: String,
    /// BSN-02 shipment identification (the business idempotency key).
    /// Optional because real 856s leave it empty.
    pub shipment_id: Option<String>,
    /// BSN-03, BSN-04.
    pub date: Option<String>,
    pub time: Option<String>,
    /// BSN-05 hierarchical structure code (0001 S/O/P/I, 0002 S/O/I ...).
    pub structure_code: Option<String>,
    /// DTM before the first HL.
    pub dates: Vec<DateTime>,
    /// Root HL levels (normally one shipment level).
    pub levels: Vec<HierarchicalLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HierarchicalLevel {
    /// HL-01.
    pub id: String,
    /// HL-02 as sent; `None` when blank (the parent is then inferred from the
    /// level codes, see [`read_856`]).
    pub parent_id: Option<String>,
    /// HL-03 (S shipment, O order, T tare, P pack, I item ...).
    pub level: String,
    pub references: Vec<Reference>,
    pub dates: Vec<DateTime>,
    pub parties: Vec<Party>,
    pub carriers: Vec<CarrierRouting>,
    /// PRF-01 purchase order number.
    pub purchase_order: Option<String>,
    /// MAN (GM = SSCC-18 container label, CP = carrier package id).
    pub marks: Vec<Mark>,
    pub items: Vec<ShippedItem>,
    pub children: Vec<HierarchicalLevel>,
}

/// TD5 carrier details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarrierRouting {
    /// TD5-03 identification code (SCAC when TD5-02 = 2).
    pub scac: Option<String>,
    /// TD5-04 transportation method.
    pub transport_method: Option<String>,
    /// TD5-05 routing.
    pub routing: Option<String>,
    /// TD5-12 service level.
    pub service_level: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippedItem {
    /// LIN-01.
    pub line_id: Option<String>,
    pub product_ids: Vec<ProductId>,
    /// SN1-02.
    pub quantity_shipped: Option<Decimal>,
    /// SN1-03.
    pub unit: Option<String>,
    /// SN1-05.
    pub quantity_ordered: Option<Decimal>,
    /// PID-05.
    pub description: Option<String>,
}

/// An item with the context of its ancestors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemInContext<'a> {
    pub purchase_order: Option<&'a str>,
    /// MAN numbers of the enclosing levels (pack/tare SSCCs), outermost first.
    pub containers: Vec<&'a str>,
    pub item: &'a ShippedItem,
}

impl ShipNotice {
    /// All items, depth first, with their purchase order and containers.
    pub fn items(&self) -> Vec<ItemInContext<'_>> {
        fn walk<'a>(
            level: &'a HierarchicalLevel,
            po: Option<&'a str>,
            containers: &mut Vec<&'a str>,
            out: &mut Vec<ItemInContext<'a>>,
        ) {
            let po = level.purchase_order.as_deref().or(po);
            let pushed = level.marks.len();
            containers.extend(level.marks.iter().map(|m| m.number.as_str()));
            for item in &level.items {
                out.push(ItemInContext {
                    purchase_order: po,
                    containers: containers.clone(),
                    item,
                });
            }
            for child in &level.children {
                walk(child, po, containers, out);
            }
            containers.truncate(containers.len() - pushed);
        }
        let mut out = Vec::new();
        for level in &self.levels {
            walk(level, None, &mut Vec::new(), &mut out);
        }
        out
    }

    /// Every level, depth first.
    pub fn all_levels(&self) -> Vec<&HierarchicalLevel> {
        fn walk<'a>(l: &'a HierarchicalLevel, out: &mut Vec<&'a HierarchicalLevel>) {
            out.push(l);
            for c in &l.children {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        for l in &self.levels {
            walk(l, &mut out);
        }
        out
    }

    /// REF 2I/CN and MAN CP/SM values anywhere in the tree, deduplicated.
    pub fn tracking_numbers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in self.all_levels() {
            out.extend(
                l.references
                    .iter()
                    .filter(|r| TRACKING_QUALIFIERS.contains(&r.qualifier.as_str()))
                    .filter_map(|r| r.id.clone()),
            );
            out.extend(
                l.marks
                    .iter()
                    .filter(|m| TRACKING_MARKS.contains(&m.qualifier.as_str()))
                    .map(|m| m.number.clone()),
            );
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|t| seen.insert(t.clone()));
        out
    }

    /// REF*BM anywhere in the tree.
    pub fn bill_of_lading(&self) -> Option<&str> {
        self.all_levels()
            .into_iter()
            .flat_map(|l| &l.references)
            .find(|r| r.qualifier == "BM")
            .and_then(|r| r.id.as_deref())
    }
}

/// Rank of an HL level code, used only to infer a missing HL-02.
fn rank(level: &str) -> u8 {
    match level {
        "S" => 0,
        "O" => 1,
        "T" => 2,
        "P" => 3,
        "I" => 4,
        _ => 5,
    }
}

/// Reads an 856 transaction set.
///
/// A blank HL-02 on a level other than the first is resolved to the nearest
/// preceding level of a higher rank (S > O > T > P > I), because some
/// senders (x12-oopfactory 856_Example4) leave HL-02 empty. An HL-02 that
/// names an id not yet seen, or a duplicate HL-01, is an error.
pub fn read_856(set: &TransactionSet) -> Result<ShipNotice, EdiError> {
    expect_set(set, "856")?;
    let mut bsn = None;
    let mut dates = Vec::new();
    let mut flat: Vec<(HierarchicalLevel, Option<usize>)> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for seg in &set.segments {
        if seg.id == "BSN" {
            bsn = Some((
                req(seg, 1, "purpose code (BSN-01)")?,
                opt(seg, 2),
                opt(seg, 3),
                opt(seg, 4),
                opt(seg, 5),
            ));
            continue;
        }
        if seg.id == "HL" {
            let id = req(seg, 1, "hierarchical id (HL-01)")?;
            let level = req(seg, 3, "hierarchical level code (HL-03)")?;
            let parent_id = opt(seg, 2);
            let parent = match &parent_id {
                Some(p) => Some(*index_of.get(p).ok_or_else(|| EdiError::InvalidElement {
                    at: seg.at(2),
                    name: "hierarchical parent id (HL-02)",
                    found: p.clone(),
                    expected: "the HL-01 of a preceding HL segment".into(),
                })?),
                None => flat
                    .iter()
                    .rposition(|(l, _)| rank(&l.level) < rank(&level)),
            };
            if index_of.insert(id.clone(), flat.len()).is_some() {
                return Err(EdiError::InvalidElement {
                    at: seg.at(1),
                    name: "hierarchical id (HL-01)",
                    found: id,
                    expected: "an id not used by an earlier HL".into(),
                });
            }
            flat.push((
                HierarchicalLevel {
                    id,
                    parent_id,
                    level,
                    references: Vec::new(),
                    dates: Vec::new(),
                    parties: Vec::new(),
                    carriers: Vec::new(),
                    purchase_order: None,
                    marks: Vec::new(),
                    items: Vec::new(),
                    children: Vec::new(),
                },
                parent,
            ));
            continue;
        }
        let Some((level, _)) = flat.last_mut() else {
            match seg.id.as_str() {
                "DTM" => dates.push(dtm(seg)?),
                "LIN" | "SN1" | "MAN" | "PRF" | "TD5" => {
                    return Err(EdiError::Structure {
                        at: seg.position(),
                        message: format!("{} must be inside an HL level", seg.id),
                    });
                }
                _ => {}
            }
            continue;
        };
        match seg.id.as_str() {
            "REF" => level.references.push(reference(seg)?),
            "DTM" => level.dates.push(dtm(seg)?),
            "N1" | "N2" | "N3" | "N4" => {
                party_segment(&mut level.parties, seg)?;
            }
            "TD5" => level.carriers.push(CarrierRouting {
                scac: opt(seg, 3),
                transport_method: opt(seg, 4),
                routing: opt(seg, 5),
                service_level: opt(seg, 12),
            }),
            "PRF" => level.purchase_order = Some(req(seg, 1, "purchase order number (PRF-01)")?),
            "MAN" => level.marks.push(mark(seg)?),
            "LIN" => level.items.push(ShippedItem {
                line_id: opt(seg, 1),
                product_ids: product_ids(seg, 2, seg.elements.len()),
                quantity_shipped: None,
                unit: None,
                quantity_ordered: None,
                description: None,
            }),
            "SN1" => {
                let Some(item) = level.items.last_mut() else {
                    return Err(item_required(seg.position(), "SN1"));
                };
                item.quantity_shipped = Some(decimal_req(seg, 2, "units shipped (SN1-02)")?);
                item.unit = unit(seg, 3, "unit of measure (SN1-03)")?;
                item.quantity_ordered = decimal(seg, 5, "quantity ordered (SN1-05)")?;
            }
            "PID" => {
                if let Some(item) = level.items.last_mut() {
                    item.description = opt(seg, 5);
                }
            }
            _ => {}
        }
    }
    let Some((purpose, shipment_id, date, time, structure_code)) = bsn else {
        return Err(EdiError::MissingSegment {
            at: set.st.position(),
            segment: "BSN",
        });
    };
    // Parents always precede children, so attaching from the back builds the
    // tree in one pass while keeping document order.
    let mut slots: Vec<Option<HierarchicalLevel>> = Vec::with_capacity(flat.len());
    let mut parents = Vec::with_capacity(flat.len());
    for (level, parent) in flat {
        slots.push(Some(level));
        parents.push(parent);
    }
    let mut roots = Vec::new();
    for i in (0..slots.len()).rev() {
        let Some(node) = slots[i].take() else {
            continue;
        };
        match parents[i]
            .and_then(|p| slots.get_mut(p))
            .and_then(Option::as_mut)
        {
            Some(parent) => parent.children.insert(0, node),
            None => roots.insert(0, node),
        }
    }
    Ok(ShipNotice {
        purpose,
        shipment_id,
        date,
        time,
        structure_code,
        dates,
        levels: roots,
    })
}

fn item_required(at: Position, id: &str) -> EdiError {
    EdiError::Structure {
        at,
        message: format!("{id} must follow a LIN segment"),
    }
}
