//! Errors and positions.
//!
//! Every error that can be tied to a place in the input carries a [`Position`]
//! (1-based segment index within the interchange, the segment id, and the
//! 1-based element/component), because an operator fixing a partner's file
//! needs "segment 14 (SE), element 1", not "invalid input".

use std::fmt;

use serde::Serialize;

/// Where in an interchange something is. Segment indexes count every segment
/// from the ISA (= 1), which is what partners' EDI tools show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    pub segment: usize,
    pub segment_id: String,
    pub element: Option<usize>,
    pub component: Option<usize>,
}

impl Position {
    pub fn segment(segment: usize, segment_id: impl Into<String>) -> Self {
        Self {
            segment,
            segment_id: segment_id.into(),
            element: None,
            component: None,
        }
    }

    pub fn element(segment: usize, segment_id: impl Into<String>, element: usize) -> Self {
        Self {
            segment,
            segment_id: segment_id.into(),
            element: Some(element),
            component: None,
        }
    }

    #[must_use]
    pub fn with_component(mut self, component: usize) -> Self {
        self.component = Some(component);
        self
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {} ({})", self.segment, self.segment_id)?;
        if let Some(e) = self.element {
            write!(f, ", element {e}")?;
        }
        if let Some(c) = self.component {
            write!(f, ", component {c}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong reading X12.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdiError {
    #[error("input is empty (no ISA segment)")]
    Empty,
    #[error(
        "input looks like EBCDIC (starts with bytes C9 E2 C1, EBCDIC for \"ISA\"); only ASCII/UTF-8 X12 is supported, convert it first"
    )]
    Ebcdic,
    #[error("input does not start with an ISA segment (first bytes: {found})")]
    NotX12 { found: String },
    #[error("{at}: ISA segment is truncated: {detail}")]
    IsaTruncated { at: Position, detail: String },
    #[error("{at}: {name} {found} is not usable: {reason}")]
    InvalidDelimiter {
        at: Position,
        name: &'static str,
        found: String,
        reason: String,
    },
    #[error("{at}: invalid segment identifier {found:?} (expected 2-3 upper-case letters/digits)")]
    InvalidSegmentId { at: Position, found: String },
    #[error("{at}: unexpected {found} segment; expected {expected}")]
    UnexpectedSegment {
        at: Position,
        found: String,
        expected: &'static str,
    },
    #[error("{at}: no matching {trailer} before the end of the input")]
    MissingTrailer { at: Position, trailer: &'static str },
    #[error(
        "{at}: segment count {declared} does not match {actual} segments in the transaction set"
    )]
    SegmentCountMismatch {
        at: Position,
        declared: u64,
        actual: usize,
    },
    #[error(
        "{at}: transaction set count {declared} does not match {actual} transaction sets in the functional group"
    )]
    SetCountMismatch {
        at: Position,
        declared: u64,
        actual: usize,
    },
    #[error(
        "{at}: functional group count {declared} does not match {actual} functional groups in the interchange"
    )]
    GroupCountMismatch {
        at: Position,
        declared: u64,
        actual: usize,
    },
    #[error("{at}: {name} {found:?} does not match {header} {expected:?}")]
    ControlNumberMismatch {
        at: Position,
        name: &'static str,
        found: String,
        header: &'static str,
        expected: String,
    },
    #[error("{at}: {segment} has {found} elements; at most {max} are allowed")]
    TooManyElements {
        at: Position,
        segment: String,
        max: usize,
        found: usize,
    },
    #[error("{at}: required {name} is missing")]
    MissingElement { at: Position, name: &'static str },
    #[error("{at}: {name} {found:?} is invalid: expected {expected}")]
    InvalidElement {
        at: Position,
        name: &'static str,
        found: String,
        expected: String,
    },
    #[error("{at}: required {segment} segment is missing from the transaction set")]
    MissingSegment { at: Position, segment: &'static str },
    #[error("{at}: expected transaction set {expected}, found {found}")]
    WrongTransactionSet {
        at: Position,
        expected: &'static str,
        found: String,
    },
    #[error("{at}: {message}")]
    Structure { at: Position, message: String },
}

impl EdiError {
    /// The position the error refers to, if it refers to one.
    pub fn position(&self) -> Option<&Position> {
        match self {
            Self::Empty | Self::Ebcdic | Self::NotX12 { .. } => None,
            Self::IsaTruncated { at, .. }
            | Self::InvalidDelimiter { at, .. }
            | Self::InvalidSegmentId { at, .. }
            | Self::UnexpectedSegment { at, .. }
            | Self::MissingTrailer { at, .. }
            | Self::SegmentCountMismatch { at, .. }
            | Self::SetCountMismatch { at, .. }
            | Self::GroupCountMismatch { at, .. }
            | Self::ControlNumberMismatch { at, .. }
            | Self::TooManyElements { at, .. }
            | Self::MissingElement { at, .. }
            | Self::InvalidElement { at, .. }
            | Self::MissingSegment { at, .. }
            | Self::WrongTransactionSet { at, .. }
            | Self::Structure { at, .. } => Some(at),
        }
    }
}

/// A deviation that is tolerated (never fails a parse) but worth surfacing to
/// operations, e.g. a blank ISA11 or a missing final terminator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub at: Position,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// Errors from the writers: the caller handed us something that cannot be
/// expressed in X12 with the chosen delimiters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("invalid delimiters: {0}")]
    Delimiters(String),
    #[error("{segment}{element:02}: value {value:?} contains the delimiter {delimiter:?}")]
    DelimiterInValue {
        segment: &'static str,
        element: usize,
        value: String,
        delimiter: char,
    },
    #[error("{field}: {reason} (value {value:?})")]
    InvalidField {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}
