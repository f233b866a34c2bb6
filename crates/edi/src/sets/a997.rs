//! 997 Functional Acknowledgment: read (partner acks our 940s) and build
//! (we ack their 945/846/856s; see [`crate::write::write_997`]).

use serde::Serialize;

use crate::common::{expect_set, integer, opt, req};
use crate::envelope::{Interchange, TransactionSet};
use crate::error::EdiError;

/// AK5-01 / AK9-01 acknowledgment codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AckStatus {
    /// `A`
    Accepted,
    /// `E`
    AcceptedWithErrors,
    /// `P` (AK9 only)
    PartiallyAccepted,
    /// `R`
    Rejected,
    /// Any other code (M, W, X ...), kept verbatim.
    Other(String),
}

impl AckStatus {
    pub fn from_code(code: &str) -> Self {
        match code {
            "A" => Self::Accepted,
            "E" => Self::AcceptedWithErrors,
            "P" => Self::PartiallyAccepted,
            "R" => Self::Rejected,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Accepted => "A",
            Self::AcceptedWithErrors => "E",
            Self::PartiallyAccepted => "P",
            Self::Rejected => "R",
            Self::Other(c) => c,
        }
    }
}

/// One 997: the acknowledgment of one functional group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionalAck {
    /// AK1-01 functional id of the acknowledged group.
    pub functional_id: String,
    /// AK1-02 = the acknowledged GS06.
    pub group_control_number: String,
    /// AK1-03 (5010 only).
    pub version: Option<String>,
    pub sets: Vec<SetAck>,
    /// AK9-01.
    pub status: AckStatus,
    /// AK9-02..04.
    pub sets_included: u32,
    pub sets_received: u32,
    pub sets_accepted: u32,
    /// AK9-05..09 error codes.
    pub group_errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetAck {
    /// AK2-01.
    pub set_id: String,
    /// AK2-02 = the acknowledged ST02.
    pub control_number: String,
    pub segment_errors: Vec<SegmentError>,
    /// AK5-01.
    pub status: AckStatus,
    /// AK5-02..06.
    pub errors: Vec<String>,
}

/// AK3 with its AK4s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentError {
    pub segment_id: String,
    /// AK3-02, position within the set (ST = 1).
    pub position: u32,
    pub loop_id: Option<String>,
    pub code: Option<String>,
    pub element_errors: Vec<ElementError>,
}

/// AK4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementError {
    /// AK4-01-1.
    pub position: u32,
    /// AK4-01-2.
    pub component: Option<u32>,
    /// AK4-02.
    pub reference: Option<String>,
    /// AK4-03.
    pub code: String,
    /// AK4-04.
    pub bad_value: Option<String>,
}

/// Reads a 997 transaction set.
pub fn read_997(set: &TransactionSet) -> Result<FunctionalAck, EdiError> {
    expect_set(set, "997")?;
    let mut ack: Option<FunctionalAck> = None;
    let mut saw_ak9 = false;
    for seg in &set.segments {
        let structure = |message: &str| EdiError::Structure {
            at: seg.position(),
            message: message.to_owned(),
        };
        match seg.id.as_str() {
            "AK1" => {
                if ack.is_some() {
                    return Err(structure("only one AK1 is allowed per 997"));
                }
                ack = Some(FunctionalAck {
                    functional_id: req(seg, 1, "functional identifier (AK1-01)")?,
                    group_control_number: req(seg, 2, "group control number (AK1-02)")?,
                    version: opt(seg, 3),
                    sets: Vec::new(),
                    status: AckStatus::Other(String::new()),
                    sets_included: 0,
                    sets_received: 0,
                    sets_accepted: 0,
                    group_errors: Vec::new(),
                });
            }
            "AK2" => {
                let a = ack
                    .as_mut()
                    .ok_or_else(|| structure("AK2 must follow AK1"))?;
                a.sets.push(SetAck {
                    set_id: req(seg, 1, "transaction set identifier (AK2-01)")?,
                    control_number: req(seg, 2, "transaction set control number (AK2-02)")?,
                    segment_errors: Vec::new(),
                    status: AckStatus::Other(String::new()),
                    errors: Vec::new(),
                });
            }
            "AK3" => {
                let set_ack = ack
                    .as_mut()
                    .and_then(|a| a.sets.last_mut())
                    .ok_or_else(|| structure("AK3 must follow AK2"))?;
                set_ack.segment_errors.push(SegmentError {
                    segment_id: req(seg, 1, "segment id code (AK3-01)")?,
                    position: integer(seg, 2, "segment position (AK3-02)")?.unwrap_or(0),
                    loop_id: opt(seg, 3),
                    code: opt(seg, 4),
                    element_errors: Vec::new(),
                });
            }
            "AK4" => {
                let seg_err = ack
                    .as_mut()
                    .and_then(|a| a.sets.last_mut())
                    .and_then(|s| s.segment_errors.last_mut())
                    .ok_or_else(|| structure("AK4 must follow AK3"))?;
                let el = seg.element(1);
                let parse_u32 = |v: Option<&str>, comp: usize| -> Result<Option<u32>, EdiError> {
                    v.map(|v| {
                        v.trim()
                            .parse::<u32>()
                            .map_err(|_| EdiError::InvalidElement {
                                at: seg.at(1).with_component(comp),
                                name: "element position (AK4-01)",
                                found: v.to_owned(),
                                expected: "a whole number".into(),
                            })
                    })
                    .transpose()
                };
                let position = parse_u32(el.and_then(|e| e.component(1)), 1)?.ok_or(
                    EdiError::MissingElement {
                        at: seg.at(1),
                        name: "element position (AK4-01)",
                    },
                )?;
                seg_err.element_errors.push(ElementError {
                    position,
                    component: parse_u32(el.and_then(|e| e.component(2)), 2)?,
                    reference: opt(seg, 2),
                    code: req(seg, 3, "element syntax error code (AK4-03)")?,
                    bad_value: opt(seg, 4),
                });
            }
            "AK5" => {
                let set_ack = ack
                    .as_mut()
                    .and_then(|a| a.sets.last_mut())
                    .ok_or_else(|| structure("AK5 must follow AK2"))?;
                set_ack.status =
                    AckStatus::from_code(&req(seg, 1, "acknowledgment code (AK5-01)")?);
                set_ack.errors = (2..=6).filter_map(|n| opt(seg, n)).collect();
            }
            "AK9" => {
                let a = ack
                    .as_mut()
                    .ok_or_else(|| structure("AK9 must follow AK1"))?;
                saw_ak9 = true;
                a.status = AckStatus::from_code(&req(seg, 1, "acknowledgment code (AK9-01)")?);
                let count = |n, name| {
                    integer(seg, n, name)?.ok_or(EdiError::MissingElement {
                        at: seg.at(n),
                        name,
                    })
                };
                a.sets_included = count(2, "number of included sets (AK9-02)")?;
                a.sets_received = count(3, "number of received sets (AK9-03)")?;
                a.sets_accepted = count(4, "number of accepted sets (AK9-04)")?;
                a.group_errors = (5..=9).filter_map(|n| opt(seg, n)).collect();
            }
            _ => {}
        }
    }
    let Some(ack) = ack else {
        return Err(EdiError::MissingSegment {
            at: set.st.position(),
            segment: "AK1",
        });
    };
    // Every AK2 needs its AK5 verdict; an empty status would read as neither
    // accepted nor rejected.
    if ack
        .sets
        .iter()
        .any(|s| s.status == AckStatus::Other(String::new()))
    {
        return Err(EdiError::MissingSegment {
            at: set.se.position(),
            segment: "AK5",
        });
    }
    if !saw_ak9 {
        return Err(EdiError::MissingSegment {
            at: set.se.position(),
            segment: "AK9",
        });
    }
    Ok(ack)
}

/// Builds an all-accepted acknowledgment for every group of a parsed
/// interchange (the caller can downgrade statuses before writing, e.g. for
/// sets its typed reader rejected).
pub fn acknowledge(interchange: &Interchange) -> Vec<FunctionalAck> {
    interchange
        .groups
        .iter()
        .map(|g| {
            let n = u32::try_from(g.sets.len()).unwrap_or(u32::MAX);
            FunctionalAck {
                functional_id: g.functional_id().to_owned(),
                group_control_number: g.control_number().to_owned(),
                version: None,
                sets: g
                    .sets
                    .iter()
                    .map(|s| SetAck {
                        set_id: s.id().to_owned(),
                        control_number: s.control_number().to_owned(),
                        segment_errors: Vec::new(),
                        status: AckStatus::Accepted,
                        errors: Vec::new(),
                    })
                    .collect(),
                status: AckStatus::Accepted,
                sets_included: n,
                sets_received: n,
                sets_accepted: n,
                group_errors: Vec::new(),
            }
        })
        .collect()
}
