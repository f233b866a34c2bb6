//! Tokenizer: bytes -> delimiters + segments.
//!
//! The delimiters are never assumed; they are read from the fixed-format ISA
//! header, because partners really do use `~` as an element separator, `*` or
//! newline as a terminator, and even control characters (see the reference
//! samples).

use serde::Serialize;

use crate::error::{EdiError, Position, Warning};

/// The four X12 delimiters of one interchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Delimiters {
    pub element: u8,
    /// ISA16.
    pub component: u8,
    /// ISA11, only from version 00402 on; before that ISA11 is the standards
    /// identifier (`U`) and there is no repetition separator.
    pub repetition: Option<u8>,
    /// The byte right after ISA16.
    pub segment: u8,
}

impl Delimiters {
    /// `*`, `>`, `^`, `~`: the most common set in the field.
    pub const STANDARD: Self = Self {
        element: b'*',
        component: b'>',
        repetition: Some(b'^'),
        segment: b'~',
    };

    /// Checks the delimiters are ASCII, not letters/digits and pairwise
    /// distinct; returns a reason when not.
    pub fn check(&self) -> Result<(), String> {
        let mut all = vec![
            ("element separator", self.element),
            ("component separator", self.component),
            ("segment terminator", self.segment),
        ];
        if let Some(r) = self.repetition {
            all.push(("repetition separator", r));
        }
        for (name, b) in &all {
            if !b.is_ascii() {
                return Err(format!(
                    "{name} {} is not an ASCII character",
                    show_byte(*b)
                ));
            }
            if b.is_ascii_alphanumeric() {
                return Err(format!("{name} {} is a letter or digit", show_byte(*b)));
            }
        }
        for (i, (na, a)) in all.iter().enumerate() {
            for (nb, b) in &all[i + 1..] {
                if a == b {
                    return Err(format!("{na} and {nb} are both {}", show_byte(*a)));
                }
            }
        }
        if matches!(self.element, b' ' | b'\r' | b'\n') {
            return Err("element separator cannot be whitespace".into());
        }
        Ok(())
    }
}

/// Human-readable form of a delimiter byte for messages.
pub(crate) fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02X}")
    }
}

/// One data element. The raw text is kept whole; components and repetitions
/// are split on demand, because whether an element is composite or
/// repeatable depends on the transaction-set dictionary, not on the bytes
/// (e.g. node-x12's 856 uses `-` as the repetition separator while ZIP codes
/// like `31139-0020` contain `-`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Element {
    pub raw: String,
    #[serde(skip)]
    component: u8,
    #[serde(skip)]
    repetition: Option<u8>,
}

impl Element {
    pub fn new(raw: impl Into<String>, delimiters: &Delimiters) -> Self {
        Self {
            raw: raw.into(),
            component: delimiters.component,
            repetition: delimiters.repetition,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The components of a composite element (a simple element yields one).
    pub fn components(&self) -> Vec<&str> {
        self.raw.split(self.component as char).collect()
    }

    /// Component `n` (1-based), `None` when absent or empty.
    pub fn component(&self, n: usize) -> Option<&str> {
        let c = self
            .raw
            .split(self.component as char)
            .nth(n.checked_sub(1)?)?;
        (!c.is_empty()).then_some(c)
    }

    /// The repetitions of a repeatable element (one when no repetition
    /// separator is defined or present).
    pub fn repetitions(&self) -> Vec<&str> {
        match self.repetition {
            Some(r) => self.raw.split(r as char).collect(),
            None => vec![self.raw.as_str()],
        }
    }
}

/// One segment with its place in the interchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub id: String,
    pub elements: Vec<Element>,
    /// 1-based index of the segment in the interchange (ISA = 1).
    pub index: usize,
    /// Byte offset of the segment's first byte in the input.
    pub offset: usize,
}

impl Segment {
    /// Element `n` (1-based, as in "W12-03").
    pub fn element(&self, n: usize) -> Option<&Element> {
        self.elements.get(n.checked_sub(1)?)
    }

    /// Raw text of element `n`, `None` when absent or empty.
    pub fn get(&self, n: usize) -> Option<&str> {
        self.element(n)
            .map(Element::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Text of element `n` with surrounding spaces removed (ISA fields are
    /// space-padded and samples carry trailing blanks); `None` when blank.
    pub fn text(&self, n: usize) -> Option<&str> {
        self.element(n)
            .map(|e| e.as_str().trim())
            .filter(|s| !s.is_empty())
    }

    pub fn position(&self) -> Position {
        Position::segment(self.index, self.id.clone())
    }

    pub fn at(&self, element: usize) -> Position {
        Position::element(self.index, self.id.clone(), element)
    }
}

/// Output of [`tokenize`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub delimiters: Delimiters,
    pub segments: Vec<Segment>,
    pub warnings: Vec<Warning>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";
const EBCDIC_ISA: &[u8] = b"\xC9\xE2\xC1";
/// Length of the fixed-format ISA up to and including ISA16 (no terminator).
const ISA_LEN: usize = 105;

/// Splits an interchange into segments. Does not check the envelope.
pub fn tokenize(input: &[u8]) -> Result<Tokens, EdiError> {
    let mut pos = 0;
    if input.starts_with(BOM) {
        pos = BOM.len();
    }
    while pos < input.len() && input[pos].is_ascii_whitespace() {
        pos += 1;
    }
    let bytes = &input[pos..];
    if bytes.is_empty() {
        return Err(EdiError::Empty);
    }
    if bytes.starts_with(EBCDIC_ISA) {
        return Err(EdiError::Ebcdic);
    }
    if !bytes.starts_with(b"ISA") {
        let found = bytes
            .iter()
            .take(12)
            .map(|b| show_byte(*b))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(EdiError::NotX12 { found });
    }
    let isa_pos = |element: usize| Position::element(1, "ISA", element);
    let Some(&element_sep) = bytes.get(3) else {
        return Err(EdiError::IsaTruncated {
            at: Position::segment(1, "ISA"),
            detail: "no element separator after \"ISA\"".into(),
        });
    };
    // Walk 15 separators to reach ISA16 instead of trusting byte 104, so a
    // mis-padded ISA still yields its delimiters (and a precise width error
    // later in envelope validation).
    let mut seps = Vec::with_capacity(16);
    for (i, &b) in bytes.iter().enumerate().skip(3) {
        if b == element_sep {
            seps.push(i);
            if seps.len() == 16 {
                break;
            }
        }
        if i > ISA_LEN * 2 {
            break;
        }
    }
    if seps.len() < 16 {
        return Err(EdiError::IsaTruncated {
            at: isa_pos(seps.len()),
            detail: format!(
                "found {} of 16 elements separated by {}",
                seps.len(),
                show_byte(element_sep)
            ),
        });
    }
    let isa16_at = seps[15] + 1;
    let (Some(&component), Some(&terminator)) = (bytes.get(isa16_at), bytes.get(isa16_at + 1))
    else {
        return Err(EdiError::IsaTruncated {
            at: isa_pos(16),
            detail: "input ends before ISA16 and the segment terminator".into(),
        });
    };
    let field = |n: usize| -> &[u8] {
        let start = seps[n - 1] + 1;
        let end = if n == 16 { isa16_at + 1 } else { seps[n] };
        &bytes[start..end]
    };
    let version = field(12);
    let isa11 = field(11);
    // ISA11 became the repetition separator in 00402; before that it is the
    // standards identifier ("U") and must not be treated as a delimiter.
    let version_num = std::str::from_utf8(version)
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    let mut warnings = Vec::new();
    let repetition = match (version_num, isa11) {
        // Translators that still write "U" (or a blank) in a 00402+ ISA are
        // common (x12-oopfactory 945, ISA12 00501): treat it as "no
        // repetition separator" rather than rejecting the file.
        (Some(v), [r]) if v >= 402 && (r.is_ascii_alphanumeric() || *r == b' ') => {
            warnings.push(Warning {
                at: isa_pos(11),
                message: format!(
                    "ISA11 {} is not a usable repetition separator for version {}; repetitions are not split",
                    show_byte(*r),
                    String::from_utf8_lossy(version)
                ),
            });
            None
        }
        (Some(v), [r]) if v >= 402 => Some(*r),
        _ => None,
    };
    let delimiters = Delimiters {
        element: element_sep,
        component,
        repetition,
        segment: terminator,
    };
    check_delimiter_bytes(&delimiters)?;

    if version_num.is_some_and(|v| v < 402) && isa11 != b"U" {
        warnings.push(Warning {
            at: isa_pos(11),
            message: format!(
                "ISA11 {:?} should be the standards identifier \"U\" before version 00402",
                String::from_utf8_lossy(isa11)
            ),
        });
    }

    let mut segments = Vec::new();
    let isa_end = isa16_at + 1;
    segments.push(make_segment(&bytes[..isa_end], &delimiters, 1, pos)?);
    let mut i = isa_end + 1;
    loop {
        // Indentation and CR/LF after terminators are layout, not data. When
        // the terminator itself is CR or LF this also skips blank lines.
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let (end, next, terminated) = match bytes[i..].iter().position(|&b| b == terminator) {
            Some(n) => (i + n, i + n + 1, true),
            None => (bytes.len(), bytes.len(), false),
        };
        let mut raw = &bytes[start..end];
        // A CR before an LF terminator is line-ending noise, not data.
        if terminator == b'\n' {
            raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        }
        let index = segments.len() + 1;
        if !terminated {
            raw = raw.trim_ascii_end();
            warnings.push(Warning {
                at: Position::segment(index, String::from_utf8_lossy(seg_id(raw, element_sep))),
                message: format!(
                    "last segment is not terminated by {}",
                    show_byte(terminator)
                ),
            });
        }
        segments.push(make_segment(raw, &delimiters, index, pos + start)?);
        i = next;
    }
    Ok(Tokens {
        delimiters,
        segments,
        warnings,
    })
}

fn check_delimiter_bytes(d: &Delimiters) -> Result<(), EdiError> {
    let checks = [
        (4usize, "element separator", d.element),
        (16, "component separator (ISA16)", d.component),
        (16, "segment terminator (byte after ISA16)", d.segment),
    ];
    for (element, name, b) in checks {
        if !b.is_ascii() {
            return Err(EdiError::InvalidDelimiter {
                at: Position::element(1, "ISA", element),
                name,
                found: show_byte(b),
                reason: "delimiters must be single ASCII characters (is the terminator a multi-byte UTF-8 character?)".into(),
            });
        }
        if b.is_ascii_alphanumeric() {
            return Err(EdiError::InvalidDelimiter {
                at: Position::element(1, "ISA", element),
                name,
                found: show_byte(b),
                reason: "a letter or digit cannot be a delimiter (is the ISA fixed-width?)".into(),
            });
        }
    }
    if let Err(reason) = d.check() {
        return Err(EdiError::InvalidDelimiter {
            at: Position::element(1, "ISA", 16),
            name: "delimiter set",
            found: format!(
                "{} {} {} {}",
                show_byte(d.element),
                d.repetition.map_or("none".into(), show_byte),
                show_byte(d.component),
                show_byte(d.segment)
            ),
            reason,
        });
    }
    Ok(())
}

fn seg_id(raw: &[u8], element_sep: u8) -> &[u8] {
    raw.split(|&b| b == element_sep).next().unwrap_or_default()
}

/// Decodes element bytes: UTF-8 when valid, otherwise Latin-1 byte by byte,
/// so partner files in a legacy code page never fail or lose data.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

fn make_segment(
    raw: &[u8],
    d: &Delimiters,
    index: usize,
    offset: usize,
) -> Result<Segment, EdiError> {
    let mut parts = raw.split(|&b| b == d.element);
    let id_bytes = parts.next().unwrap_or_default();
    let valid_id = (2..=3).contains(&id_bytes.len())
        && id_bytes[0].is_ascii_uppercase()
        && id_bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !valid_id {
        let found = decode(&id_bytes[..id_bytes.len().min(20)]);
        return Err(EdiError::InvalidSegmentId {
            at: Position::segment(index, found.clone()),
            found,
        });
    }
    let id = decode(id_bytes);
    let elements = parts.map(|p| Element::new(decode(p), d)).collect();
    Ok(Segment {
        id,
        elements,
        index,
        offset,
    })
}
