//! Envelope: ISA/IEA, GS/GE, ST/SE nesting and control-number validation.
//!
//! Building the nesting is fatal when it fails (there is nothing sensible to
//! hand back). Control numbers, counts and field formats are checked
//! separately and reported as a list, so [`crate::parse_lenient`] can still
//! give a caller the content of a partner file with, say, a wrong GE02 while
//! [`crate::parse`] rejects it.

use serde::Serialize;

use crate::error::{EdiError, Warning};
use crate::token::{Delimiters, Segment, Tokens};

/// One parsed interchange (ISA ... IEA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interchange {
    pub delimiters: Delimiters,
    pub isa: Segment,
    pub groups: Vec<FunctionalGroup>,
    pub iea: Segment,
    pub warnings: Vec<Warning>,
}

/// One functional group (GS ... GE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionalGroup {
    pub gs: Segment,
    pub sets: Vec<TransactionSet>,
    pub ge: Segment,
}

/// One transaction set. `segments` is the body between ST and SE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionSet {
    pub st: Segment,
    pub segments: Vec<Segment>,
    pub se: Segment,
}

impl Interchange {
    /// ISA06 sender id, without padding.
    pub fn sender_id(&self) -> &str {
        self.isa.text(6).unwrap_or_default()
    }
    pub fn sender_qualifier(&self) -> &str {
        self.isa.text(5).unwrap_or_default()
    }
    /// ISA08 receiver id, without padding.
    pub fn receiver_id(&self) -> &str {
        self.isa.text(8).unwrap_or_default()
    }
    pub fn receiver_qualifier(&self) -> &str {
        self.isa.text(7).unwrap_or_default()
    }
    /// ISA12.
    pub fn version(&self) -> &str {
        self.isa.text(12).unwrap_or_default()
    }
    /// ISA13. With (ISA06, ISA08) this is the interchange's idempotency key.
    pub fn control_number(&self) -> &str {
        self.isa.text(13).unwrap_or_default()
    }
    /// ISA15: `P` production, `T` test, `I` information.
    pub fn usage_indicator(&self) -> &str {
        self.isa.text(15).unwrap_or_default()
    }
    /// Every transaction set in every group, in order.
    pub fn transaction_sets(&self) -> impl Iterator<Item = &TransactionSet> {
        self.groups.iter().flat_map(|g| g.sets.iter())
    }
}

impl FunctionalGroup {
    /// GS01 functional identifier code (e.g. `SW` for 945, `FA` for 997).
    pub fn functional_id(&self) -> &str {
        self.gs.text(1).unwrap_or_default()
    }
    pub fn sender(&self) -> &str {
        self.gs.text(2).unwrap_or_default()
    }
    pub fn receiver(&self) -> &str {
        self.gs.text(3).unwrap_or_default()
    }
    /// GS06.
    pub fn control_number(&self) -> &str {
        self.gs.text(6).unwrap_or_default()
    }
    /// GS08 (e.g. `004010`, `004010VICS`).
    pub fn version(&self) -> &str {
        self.gs.text(8).unwrap_or_default()
    }
}

impl TransactionSet {
    /// ST01 (e.g. `945`).
    pub fn id(&self) -> &str {
        self.st.text(1).unwrap_or_default()
    }
    /// ST02.
    pub fn control_number(&self) -> &str {
        self.st.text(2).unwrap_or_default()
    }
    /// Body segments with the given id.
    pub fn segments_with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Segment> {
        self.segments.iter().filter(move |s| s.id == id)
    }
}

/// Builds the nesting. Fails on anything that leaves the structure ambiguous.
pub(crate) fn build(tokens: Tokens) -> Result<Interchange, EdiError> {
    let Tokens {
        delimiters,
        segments,
        warnings,
    } = tokens;
    let mut it = segments.into_iter();
    let Some(isa) = it.next() else {
        return Err(EdiError::Empty);
    };
    let mut groups = Vec::new();
    let mut iea = None;
    while let Some(seg) = it.next() {
        match seg.id.as_str() {
            "GS" => groups.push(build_group(seg, &mut it)?),
            "IEA" => {
                iea = Some(seg);
                break;
            }
            _ => {
                return Err(EdiError::UnexpectedSegment {
                    at: seg.position(),
                    found: seg.id,
                    expected: "GS or IEA",
                });
            }
        }
    }
    let Some(iea) = iea else {
        return Err(EdiError::MissingTrailer {
            at: isa.position(),
            trailer: "IEA",
        });
    };
    // One interchange per input: a second ISA (batched files) is reported
    // rather than silently dropped.
    if let Some(extra) = it.next() {
        return Err(EdiError::UnexpectedSegment {
            at: extra.position(),
            found: extra.id,
            expected: "end of input after IEA (one interchange per input)",
        });
    }
    Ok(Interchange {
        delimiters,
        isa,
        groups,
        iea,
        warnings,
    })
}

fn build_group(
    gs: Segment,
    it: &mut impl Iterator<Item = Segment>,
) -> Result<FunctionalGroup, EdiError> {
    let mut sets = Vec::new();
    while let Some(seg) = it.next() {
        match seg.id.as_str() {
            "ST" => sets.push(build_set(seg, it)?),
            "GE" => return Ok(FunctionalGroup { gs, sets, ge: seg }),
            _ => {
                return Err(EdiError::UnexpectedSegment {
                    at: seg.position(),
                    found: seg.id,
                    expected: "ST or GE",
                });
            }
        }
    }
    Err(EdiError::MissingTrailer {
        at: gs.position(),
        trailer: "GE",
    })
}

fn build_set(
    st: Segment,
    it: &mut impl Iterator<Item = Segment>,
) -> Result<TransactionSet, EdiError> {
    let mut segments = Vec::new();
    for seg in it.by_ref() {
        match seg.id.as_str() {
            "SE" => {
                return Ok(TransactionSet {
                    st,
                    segments,
                    se: seg,
                });
            }
            "ISA" | "IEA" | "GS" | "GE" | "ST" => {
                return Err(EdiError::UnexpectedSegment {
                    at: seg.position(),
                    found: seg.id,
                    expected: "SE before a new envelope segment",
                });
            }
            _ => segments.push(seg),
        }
    }
    Err(EdiError::MissingTrailer {
        at: st.position(),
        trailer: "SE",
    })
}

/// ISA12 values published by X12. Anything else is a typo or corruption
/// (e.g. "00040") and gets reported.
const KNOWN_VERSIONS: &[&str] = &[
    "00200", "00201", "00204", "00300", "00301", "00302", "00303", "00304", "00305", "00306",
    "00307", "00400", "00401", "00402", "00403", "00404", "00405", "00406", "00500", "00501",
    "00502", "00503", "00504", "00505", "00600", "00601", "00602", "00603", "00604", "00605",
    "00700", "00701", "00702", "00703", "00704", "00705", "00706", "00800", "00801", "00802",
];

/// ISA element widths (ISA01..ISA16), fixed by the standard.
const ISA_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];

/// Checks counts, control numbers and envelope field formats. Returns every
/// problem found, in document order.
pub(crate) fn validate(ic: &Interchange) -> Vec<EdiError> {
    let mut issues = Vec::new();
    validate_isa(&ic.isa, &mut issues);
    for g in &ic.groups {
        validate_group(g, &mut issues);
    }
    check_count(
        &ic.iea,
        ic.groups.len(),
        &mut issues,
        |at, declared, actual| EdiError::GroupCountMismatch {
            at,
            declared,
            actual,
        },
    );
    check_control(
        &ic.iea,
        2,
        "interchange control number (IEA02)",
        &ic.isa,
        13,
        "ISA13",
        &mut issues,
    );
    issues.sort_by_key(|e| e.position().map(|p| (p.segment, p.element.unwrap_or(0))));
    issues
}

fn validate_isa(isa: &Segment, issues: &mut Vec<EdiError>) {
    if isa.elements.len() != 16 {
        issues.push(EdiError::TooManyElements {
            at: isa.at(17),
            segment: "ISA".into(),
            max: 16,
            found: isa.elements.len(),
        });
    }
    for (i, width) in ISA_WIDTHS.iter().enumerate() {
        let n = i + 1;
        let Some(el) = isa.element(n) else { continue };
        if el.as_str().chars().count() != *width {
            issues.push(EdiError::InvalidElement {
                at: isa.at(n),
                name: "ISA element",
                found: el.raw.clone(),
                expected: format!("exactly {width} characters (the ISA is fixed-width)"),
            });
        }
    }
    let digits = |n: usize, name: &'static str, issues: &mut Vec<EdiError>| {
        if let Some(v) = isa.element(n).map(|e| e.as_str())
            && !v.bytes().all(|b| b.is_ascii_digit())
        {
            issues.push(EdiError::InvalidElement {
                at: isa.at(n),
                name,
                found: v.to_owned(),
                expected: "digits only".into(),
            });
        }
    };
    digits(9, "interchange date (ISA09)", issues);
    digits(10, "interchange time (ISA10)", issues);
    digits(13, "interchange control number (ISA13)", issues);
    if let Some(v) = isa.element(12).map(|e| e.as_str())
        && !KNOWN_VERSIONS.contains(&v)
    {
        issues.push(EdiError::InvalidElement {
            at: isa.at(12),
            name: "interchange version (ISA12)",
            found: v.to_owned(),
            expected: "a published X12 version such as 00401 or 00501".into(),
        });
    }
    if let Some(v) = isa.element(14).map(|e| e.as_str())
        && !matches!(v, "0" | "1")
    {
        issues.push(EdiError::InvalidElement {
            at: isa.at(14),
            name: "acknowledgment requested (ISA14)",
            found: v.to_owned(),
            expected: "0 or 1".into(),
        });
    }
    if let Some(v) = isa.element(15).map(|e| e.as_str())
        && !matches!(v, "P" | "T" | "I")
    {
        issues.push(EdiError::InvalidElement {
            at: isa.at(15),
            name: "usage indicator (ISA15)",
            found: v.to_owned(),
            expected: "P, T or I".into(),
        });
    }
}

fn validate_group(g: &FunctionalGroup, issues: &mut Vec<EdiError>) {
    let gs = &g.gs;
    if gs.elements.len() > 8 {
        issues.push(EdiError::TooManyElements {
            at: gs.at(9),
            segment: "GS".into(),
            max: 8,
            found: gs.elements.len(),
        });
        // The remaining fields are shifted, so checking them would only add
        // misleading follow-up errors; the extra element is the root cause.
    } else {
        validate_gs_fields(gs, issues);
    }
    for set in &g.sets {
        validate_set(set, issues);
    }
    check_count(&g.ge, g.sets.len(), issues, |at, declared, actual| {
        EdiError::SetCountMismatch {
            at,
            declared,
            actual,
        }
    });
    check_control(
        &g.ge,
        2,
        "group control number (GE02)",
        gs,
        6,
        "GS06",
        issues,
    );
}

fn validate_gs_fields(gs: &Segment, issues: &mut Vec<EdiError>) {
    for (n, name) in [
        (1, "functional identifier (GS01)"),
        (2, "application sender (GS02)"),
        (3, "application receiver (GS03)"),
        (4, "group date (GS04)"),
        (5, "group time (GS05)"),
        (6, "group control number (GS06)"),
        (7, "responsible agency (GS07)"),
        (8, "version (GS08)"),
    ] {
        if gs.text(n).is_none() {
            issues.push(EdiError::MissingElement { at: gs.at(n), name });
        }
    }
    // GS04 is CCYYMMDD from 004010 on, YYMMDD before (the 003060 sample).
    if let Some(d) = gs.get(4)
        && !(matches!(d.len(), 6 | 8) && d.bytes().all(|b| b.is_ascii_digit()))
    {
        issues.push(EdiError::InvalidElement {
            at: gs.at(4),
            name: "group date (GS04)",
            found: d.to_owned(),
            expected: "CCYYMMDD (or YYMMDD before 004010)".into(),
        });
    }
    if let Some(c) = gs.get(6)
        && !(c.len() <= 9 && c.bytes().all(|b| b.is_ascii_digit()))
    {
        issues.push(EdiError::InvalidElement {
            at: gs.at(6),
            name: "group control number (GS06)",
            found: c.to_owned(),
            expected: "1 to 9 digits".into(),
        });
    }
}

fn validate_set(set: &TransactionSet, issues: &mut Vec<EdiError>) {
    let st = &set.st;
    match st.get(1) {
        None => issues.push(EdiError::MissingElement {
            at: st.at(1),
            name: "transaction set identifier (ST01)",
        }),
        Some(id) if !(id.len() == 3 && id.bytes().all(|b| b.is_ascii_digit())) => {
            issues.push(EdiError::InvalidElement {
                at: st.at(1),
                name: "transaction set identifier (ST01)",
                found: id.to_owned(),
                expected: "3 digits".into(),
            });
        }
        Some(_) => {}
    }
    match st.get(2) {
        None => issues.push(EdiError::MissingElement {
            at: st.at(2),
            name: "transaction set control number (ST02)",
        }),
        Some(c) if !(4..=9).contains(&c.chars().count()) => {
            issues.push(EdiError::InvalidElement {
                at: st.at(2),
                name: "transaction set control number (ST02)",
                found: c.to_owned(),
                expected: "4 to 9 characters".into(),
            });
        }
        Some(_) => {}
    }
    // SE01 counts ST and SE themselves.
    check_count(
        &set.se,
        set.segments.len() + 2,
        issues,
        |at, declared, actual| EdiError::SegmentCountMismatch {
            at,
            declared,
            actual,
        },
    );
    check_control(
        &set.se,
        2,
        "transaction set control number (SE02)",
        st,
        2,
        "ST02",
        issues,
    );
}

fn check_count(
    trailer: &Segment,
    actual: usize,
    issues: &mut Vec<EdiError>,
    mismatch: impl Fn(crate::Position, u64, usize) -> EdiError,
) {
    match trailer.text(1) {
        None => issues.push(EdiError::MissingElement {
            at: trailer.at(1),
            name: "count",
        }),
        Some(v) => match v.parse::<u64>() {
            Ok(declared) if declared == actual as u64 => {}
            Ok(declared) => issues.push(mismatch(trailer.at(1), declared, actual)),
            Err(_) => issues.push(EdiError::InvalidElement {
                at: trailer.at(1),
                name: "count",
                found: v.to_owned(),
                expected: "a number".into(),
            }),
        },
    }
}

fn check_control(
    trailer: &Segment,
    n: usize,
    name: &'static str,
    header: &Segment,
    hn: usize,
    header_name: &'static str,
    issues: &mut Vec<EdiError>,
) {
    let found = trailer.text(n).unwrap_or_default();
    let expected = header.text(hn).unwrap_or_default();
    if found.is_empty() {
        issues.push(EdiError::MissingElement {
            at: trailer.at(n),
            name,
        });
        return;
    }
    // Zero padding differs between partners' translators ("1" vs "000000001"),
    // so numeric control numbers compare by value.
    let same = match (found.parse::<u64>(), expected.parse::<u64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => found == expected,
    };
    if !same {
        issues.push(EdiError::ControlNumberMismatch {
            at: trailer.at(n),
            name,
            found: found.to_owned(),
            header: header_name,
            expected: expected.to_owned(),
        });
    }
}
