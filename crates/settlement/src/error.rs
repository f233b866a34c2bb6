//! Why a settlement file is rejected. Every error names the line and, where
//! there is one, the column and the raw value; one error rejects the whole
//! file (nothing of it is kept).

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    /// A value that cannot be read (amount, date, currency, quantity).
    #[error("line {line}, column `{column}`: {problem} (raw value {raw:?})")]
    Field {
        line: u64,
        column: String,
        raw: String,
        problem: String,
    },
    /// The header lacks a column the format requires.
    #[error("line {line}: required column `{column}` is missing from the header")]
    MissingColumn { line: u64, column: String },
    /// The declared total is not the sum of the amounts.
    #[error(
        "line {line}, column `{column}`: total does not add up: declared {declared} (raw value {raw:?}), computed {computed}"
    )]
    TotalMismatch {
        line: u64,
        column: String,
        raw: String,
        declared: Decimal,
        computed: Decimal,
    },
    /// The file's shape is wrong (no summary row, unreadable record, …).
    #[error("line {line}: {problem}")]
    Malformed { line: u64, problem: String },
}

impl SettlementError {
    /// The line the error is about.
    pub fn line(&self) -> u64 {
        match self {
            SettlementError::Field { line, .. }
            | SettlementError::MissingColumn { line, .. }
            | SettlementError::TotalMismatch { line, .. }
            | SettlementError::Malformed { line, .. } => *line,
        }
    }

    pub(crate) fn field(line: u64, column: &str, raw: &str, problem: impl Into<String>) -> Self {
        SettlementError::Field {
            line,
            column: column.to_owned(),
            raw: raw.to_owned(),
            problem: problem.into(),
        }
    }
}
