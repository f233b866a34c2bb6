//! How the page writes numbers, latencies and names: fixed precision
//! everywhere, so the same report renders to the same bytes. A leaf.

use std::fmt;

use crate::report::Quantiles;

pub(super) const MS_PER_MIN: i64 = 60_000;
pub(super) const MS_PER_HOUR: i64 = 3_600_000;

/// A coordinate written into SVG: always one decimal, never NaN or "-0.0",
/// so the output is byte-stable.
pub(super) struct Px(pub(super) f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() {
            self.0 + 0.0
        } else {
            0.0
        };
        write!(f, "{v:.1}")
    }
}

/// Rough width of sans-serif text at 11 px, enough to lay out a legend.
pub(super) fn text_width(s: &str) -> f64 {
    s.chars().fold(0.0, |w, _| w + 6.5)
}

// Chart coordinates only: precision loss past 2^53 ms (~285,000 years) or
// 2^53 bars cannot happen, and would only blur a pixel if it did.
#[allow(clippy::cast_precision_loss)]
pub(super) fn ms_to_f64(ms: i64) -> f64 {
    ms as f64
}

#[allow(clippy::cast_precision_loss)]
pub(super) fn count_f64(n: usize) -> f64 {
    n as f64
}

// ---------------------------------------------------------------------------
// Text

/// Escapes text for HTML element content and attribute values alike.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Shortens long names for chart labels; tables show them in full.
pub(super) fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(super) fn badge(value: u64) -> &'static str {
    if value == 0 {
        "<span class=\"badge pass\">PASS</span>"
    } else {
        "<span class=\"badge fail\">FAIL</span>"
    }
}

/// One quantile cell; a flow with no samples has no latency to show.
pub(super) fn q(quantiles: &Quantiles, pick: impl Fn(&Quantiles) -> i64) -> String {
    if quantiles.count == 0 {
        "–".to_owned()
    } else {
        fmt_ms(pick(quantiles))
    }
}

/// A latency for humans: "850 ms", "12.4 s", "3 min 20 s", "1 h 05 min".
pub(super) fn fmt_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    // Each unit rounds to its own precision; a value that rounds up into the
    // next unit is shown in that unit ("60.0 s" becomes "1 min 00 s").
    if ms < 1_000 {
        return format!("{sign}{ms} ms");
    }
    let tenths = ms.saturating_add(50) / 100;
    if tenths < 600 {
        return format!("{sign}{}.{} s", tenths / 10, tenths % 10);
    }
    let secs = ms.saturating_add(500) / 1_000;
    if secs < 3_600 {
        return format!("{sign}{} min {:02} s", secs / 60, secs % 60);
    }
    let mins = ms.saturating_add(30_000) / 60_000;
    format!("{sign}{} h {:02} min", mins / 60, mins % 60)
}

/// A span of simulated time, dropping zero parts: "24 h", "1 h 30 min".
pub(super) fn fmt_span(ms: i64) -> String {
    if ms <= 0 {
        return "0 s".to_owned();
    }
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    let secs = ms.unsigned_abs().saturating_add(500) / 1_000;
    let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// An offset from the start as HH:MM (hours may pass 24 on a long run).
pub(super) fn fmt_offset(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let minutes = ms.unsigned_abs() / 60_000;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A count with thousands separators: 12,345.
pub(super) fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A configured rate such as 5 or 2.5, without trailing zeros.
pub(super) fn fmt_decimal(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let s = format!("{:.2}", v + 0.0);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(super) fn fmt_pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1} %", v + 0.0)
    } else {
        "–".to_owned()
    }
}

/// Breaches as a percentage of samples, in integer arithmetic so it cannot
/// be NaN and rounds the same everywhere.
pub(super) fn breach_pct(breaches: u64, samples: u64) -> String {
    if samples == 0 {
        return "–".to_owned();
    }
    let samples = u128::from(samples);
    let basis_points = (u128::from(breaches) * 10_000 + samples / 2) / samples;
    format!("{}.{:02} %", basis_points / 100, basis_points % 100)
}
