//! Types and helpers shared by the transaction-set readers and writers.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::envelope::TransactionSet;
use crate::error::EdiError;
use crate::token::Segment;

/// A product/service id with its qualifier (e.g. `UP` UPC, `VN` vendor item,
/// `BP` buyer part, `SK` SKU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductId {
    pub qualifier: String,
    pub id: String,
}

/// An N1 loop (N1/N2/N3/N4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    /// N1-01 entity identifier code (ST ship-to, SF ship-from, WH, BT ...).
    pub entity: String,
    pub name: Option<String>,
    pub id_qualifier: Option<String>,
    pub id: Option<String>,
    /// N3-01/N3-02 lines, in order.
    pub address_lines: Vec<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// A REF or N9 reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    pub qualifier: String,
    pub id: Option<String>,
    pub description: Option<String>,
}

/// A G62 or DTM date. For G62, `time_code` holds G62-03 (time qualifier);
/// for DTM it holds DTM-04 (time zone code). Dates stay as sent (CCYYMMDD or
/// YYMMDD) because X12 carries no time zone; the trading-partner mapping
/// decides how to interpret them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DateTime {
    pub qualifier: String,
    pub date: Option<String>,
    pub time: Option<String>,
    pub time_code: Option<String>,
}

/// A MAN marks-and-numbers entry (MAN-01 qualifier, e.g. `GM` SSCC-18,
/// `CP` carrier package id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mark {
    pub qualifier: String,
    pub number: String,
}

/// Reference qualifiers that carry a carrier tracking or PRO number.
/// `2I` is "tracking number", `CN` "carrier's reference number (PRO)".
pub(crate) const TRACKING_QUALIFIERS: &[&str] = &["2I", "CN"];
/// MAN qualifiers that carry a carrier package id.
pub(crate) const TRACKING_MARKS: &[&str] = &["CP", "SM"];

pub(crate) fn expect_set(set: &TransactionSet, expected: &'static str) -> Result<(), EdiError> {
    if set.id() == expected {
        Ok(())
    } else {
        Err(EdiError::WrongTransactionSet {
            at: set.st.at(1),
            expected,
            found: set.id().to_owned(),
        })
    }
}

/// Trimmed, non-empty text of element `n` as an owned string.
pub(crate) fn opt(seg: &Segment, n: usize) -> Option<String> {
    seg.text(n).map(str::to_owned)
}

pub(crate) fn req(seg: &Segment, n: usize, name: &'static str) -> Result<String, EdiError> {
    opt(seg, n).ok_or_else(|| EdiError::MissingElement {
        at: seg.at(n),
        name,
    })
}

/// Parses an X12 `R` (real) value exactly. Accepts `.5`, `-1.25`, `0010`.
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut dots = 0;
    let mut count = 0;
    for b in digits.bytes() {
        match b {
            b'.' => dots += 1,
            b'0'..=b'9' => count += 1,
            _ => return None,
        }
    }
    // rust_decimal holds 28-29 significant digits; longer input is not a
    // quantity or amount anyone sends, so it is rejected rather than rounded.
    if count == 0 || dots > 1 || count > 28 {
        return None;
    }
    let normalized = if digits.starts_with('.') {
        format!("0{digits}")
    } else {
        digits.to_owned()
    };
    let d = Decimal::from_str(&normalized).ok()?;
    Some(if neg { -d } else { d })
}

pub(crate) fn decimal(
    seg: &Segment,
    n: usize,
    name: &'static str,
) -> Result<Option<Decimal>, EdiError> {
    match seg.text(n) {
        None => Ok(None),
        Some(v) => parse_decimal(v)
            .map(Some)
            .ok_or_else(|| EdiError::InvalidElement {
                at: seg.at(n),
                name,
                found: v.to_owned(),
                expected: "a decimal number".into(),
            }),
    }
}

pub(crate) fn decimal_req(
    seg: &Segment,
    n: usize,
    name: &'static str,
) -> Result<Decimal, EdiError> {
    decimal(seg, n, name)?.ok_or_else(|| EdiError::MissingElement {
        at: seg.at(n),
        name,
    })
}

/// Parses an X12 `Nn` value: an integer with `places` implied decimals
/// (TDS01 `387530` with N2 is 3875.30).
pub(crate) fn implied_decimal(
    seg: &Segment,
    n: usize,
    name: &'static str,
    places: u32,
) -> Result<Option<Decimal>, EdiError> {
    let Some(v) = seg.text(n) else {
        return Ok(None);
    };
    let (neg, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EdiError::InvalidElement {
            at: seg.at(n),
            name,
            found: v.to_owned(),
            expected: format!("digits with {places} implied decimal places"),
        });
    }
    let int: i64 = digits.parse().map_err(|_| EdiError::InvalidElement {
        at: seg.at(n),
        name,
        found: v.to_owned(),
        expected: "an integer".into(),
    })?;
    let d = Decimal::new(if neg { -int } else { int }, places);
    Ok(Some(d))
}

pub(crate) fn integer(
    seg: &Segment,
    n: usize,
    name: &'static str,
) -> Result<Option<u32>, EdiError> {
    match seg.text(n) {
        None => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .map(Some)
            .map_err(|_| EdiError::InvalidElement {
                at: seg.at(n),
                name,
                found: v.to_owned(),
                expected: "a whole number".into(),
            }),
    }
}

/// Product ids from qualifier/id element pairs starting at `first`
/// (e.g. LIN-02/03, LIN-04/05 ...), up to and including element `last`.
pub(crate) fn product_ids(seg: &Segment, first: usize, last: usize) -> Vec<ProductId> {
    let mut ids = Vec::new();
    let mut n = first;
    while n < last {
        if let (Some(qualifier), Some(id)) = (opt(seg, n), opt(seg, n + 1)) {
            ids.push(ProductId { qualifier, id });
        }
        n += 2;
    }
    ids
}

pub(crate) fn reference(seg: &Segment) -> Result<Reference, EdiError> {
    Ok(Reference {
        qualifier: req(seg, 1, "reference qualifier")?,
        id: opt(seg, 2),
        description: opt(seg, 3),
    })
}

/// DTM: qualifier, date, time, time code.
pub(crate) fn dtm(seg: &Segment) -> Result<DateTime, EdiError> {
    Ok(DateTime {
        qualifier: req(seg, 1, "date/time qualifier (DTM-01)")?,
        date: opt(seg, 2),
        time: opt(seg, 3),
        time_code: opt(seg, 4),
    })
}

/// G62: date qualifier, date, time qualifier, time.
pub(crate) fn g62(seg: &Segment) -> Result<DateTime, EdiError> {
    Ok(DateTime {
        qualifier: req(seg, 1, "date qualifier (G62-01)")?,
        date: opt(seg, 2),
        time_code: opt(seg, 3),
        time: opt(seg, 4),
    })
}

pub(crate) fn mark(seg: &Segment) -> Result<Mark, EdiError> {
    Ok(Mark {
        qualifier: req(seg, 1, "marks qualifier (MAN-01)")?,
        number: req(seg, 2, "marks and numbers (MAN-02)")?,
    })
}

/// Applies N1/N2/N3/N4 to the party list. Returns `Ok(false)` for any other
/// segment. N2-N4 without a preceding N1 is a structural error.
pub(crate) fn party_segment(parties: &mut Vec<Party>, seg: &Segment) -> Result<bool, EdiError> {
    match seg.id.as_str() {
        "N1" => {
            parties.push(Party {
                entity: req(seg, 1, "entity identifier code (N1-01)")?,
                name: opt(seg, 2),
                id_qualifier: opt(seg, 3),
                id: opt(seg, 4),
                ..Party::default()
            });
            Ok(true)
        }
        "N2" | "N3" | "N4" => {
            let Some(p) = parties.last_mut() else {
                return Err(EdiError::Structure {
                    at: seg.position(),
                    message: format!("{} must follow an N1 segment", seg.id),
                });
            };
            match seg.id.as_str() {
                // N2 continues the name; appended so no text is lost.
                "N2" => {
                    for n in 1..=2 {
                        if let Some(more) = seg.text(n) {
                            let name = p.name.get_or_insert_with(String::new);
                            if !name.is_empty() {
                                name.push(' ');
                            }
                            name.push_str(more);
                        }
                    }
                }
                "N3" => p.address_lines.extend((1..=2).filter_map(|n| opt(seg, n))),
                _ => {
                    p.city = opt(seg, 1);
                    p.state = opt(seg, 2);
                    p.postal_code = opt(seg, 3);
                    p.country = opt(seg, 4);
                }
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Two-character unit-of-measure code check (X12 data element 355 is ID 2/2).
/// A longer value usually means a lost segment terminator glued two segments
/// together.
pub(crate) fn unit(
    seg: &Segment,
    n: usize,
    name: &'static str,
) -> Result<Option<String>, EdiError> {
    let Some(el) = seg.element(n) else {
        return Ok(None);
    };
    let Some(code) = el.component(1).map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(EdiError::InvalidElement {
            at: seg.at(n),
            name,
            found: el.raw.clone(),
            expected: "a 2-character unit of measure code".into(),
        });
    }
    Ok(Some(code.to_owned()))
}
