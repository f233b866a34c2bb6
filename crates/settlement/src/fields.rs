//! What the three readers share: columns found by header name, and strict
//! readers of amounts, quantities and dates that name the line, the column
//! and the raw value when they refuse.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use csv::ByteRecord;
use rust_decimal::Decimal;

use crate::error::SettlementError;

/// A header row: column names to positions, found by name (trimmed, a
/// UTF-8 byte-order mark dropped), so column order and extra columns do
/// not matter.
pub(crate) struct Header {
    names: Vec<String>,
    line: u64,
}

impl Header {
    pub fn read(record: &ByteRecord, line: u64) -> Result<Header, SettlementError> {
        let mut names = Vec::with_capacity(record.len());
        for (i, raw) in record.iter().enumerate() {
            let name = std::str::from_utf8(raw).map_err(|_| SettlementError::Malformed {
                line,
                problem: format!("header column {} is not UTF-8", i + 1),
            })?;
            names.push(name.trim_start_matches('\u{feff}').trim().to_owned());
        }
        Ok(Header { names, line })
    }

    /// The position of a column the format requires.
    pub fn required(&self, name: &'static str) -> Result<Col, SettlementError> {
        self.optional(name)
            .ok_or_else(|| SettlementError::MissingColumn {
                line: self.line,
                column: name.to_owned(),
            })
    }

    pub fn optional(&self, name: &'static str) -> Option<Col> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|index| Col { index, name })
    }
}

/// A column: its position and its name (for errors).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    index: usize,
    pub name: &'static str,
}

/// One record with its line number; fields read by `Col`, trimmed. A
/// short record reads as empty in its missing columns.
pub(crate) struct Fields<'a> {
    pub record: &'a ByteRecord,
    pub line: u64,
}

impl<'a> Fields<'a> {
    pub fn str(&self, col: Col) -> Result<&'a str, SettlementError> {
        let raw = self.record.get(col.index).unwrap_or(b"");
        std::str::from_utf8(raw).map(str::trim).map_err(|_| {
            SettlementError::field(
                self.line,
                col.name,
                &String::from_utf8_lossy(raw),
                "not UTF-8",
            )
        })
    }

    pub fn opt_str(&self, col: Option<Col>) -> Result<Option<&'a str>, SettlementError> {
        match col {
            Some(col) => Ok(Some(self.str(col)?).filter(|s| !s.is_empty())),
            None => Ok(None),
        }
    }

    pub fn amount(&self, col: Col) -> Result<Decimal, SettlementError> {
        let raw = self.str(col)?;
        parse_amount(raw)
            .ok_or_else(|| SettlementError::field(self.line, col.name, raw, "not a decimal amount"))
    }

    pub fn quantity(&self, col: Option<Col>) -> Result<Option<i64>, SettlementError> {
        let Some(col) = col else { return Ok(None) };
        let raw = self.str(col)?;
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse::<i64>()
            .map(Some)
            .map_err(|_| SettlementError::field(self.line, col.name, raw, "not a whole quantity"))
    }

    pub fn date(&self, col: Option<Col>) -> Result<Option<NaiveDate>, SettlementError> {
        Ok(self.timestamp(col)?.map(|t| t.date_naive()))
    }

    pub fn timestamp(&self, col: Option<Col>) -> Result<Option<DateTime<Utc>>, SettlementError> {
        let Some(col) = col else { return Ok(None) };
        let raw = self.str(col)?;
        if raw.is_empty() {
            return Ok(None);
        }
        parse_timestamp(raw).map(Some).ok_or_else(|| {
            SettlementError::field(self.line, col.name, raw, "not a date this reader knows")
        })
    }
}

/// A plain decimal: optional sign, digits, optional fraction. Thousands
/// separators and decimal commas are refused, never guessed.
pub(crate) fn parse_amount(raw: &str) -> Option<Decimal> {
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    Decimal::from_str_exact(raw.strip_prefix('+').unwrap_or(raw)).ok()
}

/// The date forms seen in settlement reports: RFC 3339 (`2015-12-02T03:27:08+00:00`),
/// `2026-08-29 06:30:00 UTC`, `2026-08-29`, `29.08.2026` and Walmart's
/// `8/29/2026`; a date alone is midnight UTC.
pub(crate) fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(naive) = raw.strip_suffix(" UTC")
        && let Ok(t) = NaiveDateTime::parse_from_str(naive, "%Y-%m-%d %H:%M:%S")
    {
        return Some(t.and_utc());
    }
    if let Ok(t) = DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S %z") {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(raw, f).ok())
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A csv error as a settlement error on its line.
pub(crate) fn csv_error(e: &csv::Error, last_line: u64) -> SettlementError {
    let line = e.position().map_or(last_line, |p| p.line());
    SettlementError::Malformed {
        line,
        problem: format!("unreadable record: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_plain_decimals_only() {
        assert_eq!(parse_amount("-12.30"), Some(Decimal::new(-1230, 2)));
        assert_eq!(parse_amount("+5"), Some(Decimal::new(5, 0)));
        for bad in [
            "", "1,234.56", "1.234,56", "12.", ".5", "1e3", "abc", "- 1", "1_000",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_in_the_forms_reports_use() {
        let want = NaiveDate::from_ymd_opt(2026, 8, 29).unwrap();
        for raw in [
            "2026-08-29T06:30:00+00:00",
            "2026-08-29 06:30:00 UTC",
            "2026-08-29",
            "29.08.2026",
            "8/29/2026",
        ] {
            assert_eq!(
                parse_timestamp(raw).map(|t| t.date_naive()),
                Some(want),
                "{raw}"
            );
        }
        assert_eq!(parse_timestamp("29/08/2026"), None);
    }
}
