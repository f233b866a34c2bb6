//! jq programs (run by jaq) and the JSON around them, shared by the
//! connectors that are configured rather than coded: the mapped REST ERP
//! (`erp::mapped`) and the mapped channel (`channel::mapped`).
//!
//! Values are read with jaq's own JSON reader, which keeps number literals
//! as written (`19.99` stays the text `19.99`, a 19-digit id stays 19
//! digits), so money and ids never pass through f64. jq arithmetic is
//! floating point: a float in an output can only come from arithmetic and
//! is refused wherever money or ids are read.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::{Num, Val};
use reqwest::Url;
use rust_decimal::Decimal;

use crate::ConnectorError;

/// The marker object that becomes an exact JSON number in a body.
pub(crate) const DECIMAL_MARKER: &str = "$decimal";
const NO_VALUE: &str = "the program yielded no value";

pub(crate) fn optional(code: &str) -> Option<&str> {
    Some(code).filter(|c| !c.trim().is_empty())
}

pub(crate) type JqFilter = jaq_core::Filter<data::JustLut<Val>>;

/// One compiled jq program.
pub(crate) struct Program {
    filter: JqFilter,
}

impl Program {
    pub(crate) fn compile(field: &str, code: &str) -> Result<Program, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let at = |s: &str| {
            let offset = (s.as_ptr() as usize).saturating_sub(code.as_ptr() as usize);
            if offset <= code.len() {
                format!("at {offset}")
            } else {
                "in the standard library".to_owned()
            }
        };
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                let mut parts = Vec::new();
                for (_, error) in errors {
                    match error {
                        jaq_core::load::Error::Io(items) => {
                            parts.extend(items.into_iter().map(|(path, e)| format!("{path}: {e}")))
                        }
                        jaq_core::load::Error::Lex(items) => {
                            parts.extend(items.into_iter().map(|(expect, s)| {
                                format!("expected {} {}", expect.as_str(), at(s))
                            }))
                        }
                        jaq_core::load::Error::Parse(items) => {
                            parts.extend(items.into_iter().map(|(expect, s)| {
                                format!("expected {} {}", expect.as_str(), at(s))
                            }))
                        }
                    }
                }
                format!("{field}: jq syntax error: {}", parts.join("; "))
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let parts: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, errors)| errors)
                    .map(|(name, undefined)| {
                        format!("undefined {} {name:?} {}", undefined.as_str(), at(name))
                    })
                    .collect();
                format!("{field}: jq compile error: {}", parts.join("; "))
            })?;
        Ok(Program { filter })
    }

    /// Runs the program over `input`; no value is `null` (so `.x // empty`
    /// reads as absent), more than one is an error.
    pub(crate) fn run_at_most_one(&self, input: Val) -> Result<Val, String> {
        match self.run_one(input) {
            Err(e) if e == NO_VALUE => Ok(Val::Null),
            other => other,
        }
    }

    /// Runs the program over `input`; it must yield exactly one value.
    pub(crate) fn run_one(&self, input: Val) -> Result<Val, String> {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = self.filter.id.run((ctx, input)).map(unwrap_valr);
        let first = match out.next() {
            None => return Err(NO_VALUE.to_owned()),
            Some(Err(e)) => return Err(format!("jq error: {e}")),
            Some(Ok(v)) => v,
        };
        match out.next() {
            None => Ok(first),
            Some(Err(e)) => Err(format!("jq error: {e}")),
            Some(Ok(_)) => Err("the program yielded more than one value".to_owned()),
        }
    }
}

/// How deep a JSON document read into a jq value may nest. jaq's reader
/// recurses once per level with no limit of its own: a mapped channel's
/// webhook body of 60,000 `[` overflowed the stack, which aborts the whole
/// hub, not just the request (found fuzzing, `crates/connectors/FUZZING.md`).
/// serde_json, which reads every other payload, stops at 128 levels; no
/// real payload comes near either.
pub(crate) const MAX_JSON_DEPTH: usize = 128;

/// One JSON document as a jq value, numbers kept as written; a document
/// nested deeper than [`MAX_JSON_DEPTH`] is refused before jaq reads it.
pub(crate) fn parse_json(body: &[u8]) -> Result<Val, String> {
    if nests_deeper_than(body, MAX_JSON_DEPTH) {
        return Err(format!(
            "nested deeper than {MAX_JSON_DEPTH} arrays or objects"
        ));
    }
    jaq_json::read::parse_single(body).map_err(|e| format!("not valid JSON: {e}"))
}

/// Whether `body` opens more than `max` arrays or objects at once, counted
/// outside strings (an upper bound of the reader's recursion on any input,
/// valid or not: it recurses only on an opening bracket outside a string).
fn nests_deeper_than(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A canonical input as a jq value. serde_json writes our model's numbers
/// as integers and its money as strings, and jaq's reader keeps literals.
pub(crate) fn to_val(input: &serde_json::Value) -> Val {
    let text = input.to_string();
    parse_json(text.as_bytes()).unwrap_or_default()
}

/// An answer as a jq value, numbers kept as written. A 2xx we cannot read
/// took effect with an unknown result: in doubt, like `http::decode`.
pub(crate) fn read_answer(url: &Url, body: &[u8]) -> Result<Val, ConnectorError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"null".as_slice()
    } else {
        body
    };
    parse_json(body).map_err(|e| ConnectorError::Transient {
        reason: format!("unreadable answer from {url}: {e}"),
        retry_after: None,
    })
}

pub(crate) fn kind(v: &Val) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::BStr(_) => "a byte string",
        Val::TStr(_) => "a string",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An exact number's text; floats only come from arithmetic and are refused.
pub(crate) fn exact_number(n: &Num) -> Result<String, String> {
    match n {
        Num::Float(_) => Err(format!(
            "floating-point number {n} (jq arithmetic or tonumber on money? \
             pass amounts as strings or {{\"{DECIMAL_MARKER}\": …}})"
        )),
        other => Ok(other.to_string()),
    }
}

/// Writes a body value as JSON text, replacing `{"$decimal": "…"}` markers
/// by exact numbers.
pub(crate) fn render(v: &Val) -> Result<String, String> {
    let mut out = String::new();
    write_json(v, &mut out)?;
    Ok(out)
}

/// Writes a value as JSON text as it is: markers stay objects, numbers keep
/// their literal text (a payload passed through, not a body we built).
pub(crate) fn plain_json(v: &Val) -> String {
    match v {
        Val::Null => "null".to_owned(),
        Val::Bool(b) => b.to_string(),
        Val::Num(n) => n.to_string(),
        Val::TStr(s) | Val::BStr(s) => serde_json::Value::String(text(s)).to_string(),
        Val::Arr(items) => {
            let items: Vec<String> = items.iter().map(plain_json).collect();
            format!("[{}]", items.join(","))
        }
        Val::Obj(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Val::TStr(s) | Val::BStr(s) => text(s),
                        other => plain_json(other),
                    };
                    format!("{}:{}", serde_json::Value::String(key), plain_json(v))
                })
                .collect();
            format!("{{{}}}", entries.join(","))
        }
    }
}

/// An exact decimal from a string (`"19.99"`) or a number literal (`19.99`),
/// read from its text; a float (jq arithmetic) is refused.
pub(crate) fn exact_decimal(v: &Val) -> Result<Decimal, String> {
    let raw = match v {
        Val::TStr(s) => text(s),
        Val::Num(n) => exact_number(n)?,
        other => return Err(format!("expected decimal, got {}", kind(other))),
    };
    let t = raw.trim();
    Decimal::from_str_exact(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| format!("expected decimal, got {raw:?}"))
}

fn write_json(v: &Val, out: &mut String) -> Result<(), String> {
    match v {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => out.push_str(&exact_number(n)?),
        Val::TStr(s) => out.push_str(&serde_json::Value::String(text(s)).to_string()),
        Val::BStr(_) => return Err("a byte string cannot be sent as JSON".to_owned()),
        Val::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out)?;
            }
            out.push(']');
        }
        Val::Obj(map) => {
            if map.len() == 1
                && let Some((Val::TStr(key), value)) = map.iter().next()
                && key.as_ref().as_ref() == DECIMAL_MARKER.as_bytes()
            {
                out.push_str(&decimal(value)?);
                return Ok(());
            }
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let Val::TStr(key) = key else {
                    return Err(format!("object key is {}, not a string", kind(key)));
                };
                out.push_str(&serde_json::Value::String(text(key)).to_string());
                out.push(':');
                write_json(value, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// The text of an exact JSON number for a `$decimal` marker's value.
pub(crate) fn decimal(value: &Val) -> Result<String, String> {
    let raw = match value {
        Val::TStr(s) => text(s),
        Val::Num(n) => exact_number(n)?,
        other => {
            return Err(format!(
                "\"{DECIMAL_MARKER}\" holds {}, not a decimal string",
                kind(other)
            ));
        }
    };
    let parsed = Decimal::from_str_exact(raw.trim())
        .or_else(|_| Decimal::from_scientific(raw.trim()))
        .map_err(|_| format!("\"{DECIMAL_MARKER}\" holds {raw:?}, not a decimal"))?;
    // `Decimal`'s text keeps the scale ("12.50") and is a valid JSON number.
    Ok(parsed.to_string())
}

/// An id as written: a string, or a number's literal text.
pub(crate) fn id_text(v: &Val) -> Result<String, String> {
    let id = match v {
        Val::TStr(s) => text(s),
        Val::Num(n) => exact_number(n)?,
        other => {
            return Err(format!(
                "expected an id (string or number), got {}",
                kind(other)
            ));
        }
    };
    if id.is_empty() {
        return Err("the id is empty".to_owned());
    }
    Ok(id)
}

pub(crate) fn field<'v>(obj: &'v Val, key: &str) -> Option<&'v Val> {
    let Val::Obj(map) = obj else { return None };
    map.iter()
        .find(|(k, _)| matches!(k, Val::TStr(s) if s.as_ref().as_ref() == key.as_bytes()))
        .map(|(_, v)| v)
}

/// Checks that a template's `{name}` placeholders are all known.
pub(crate) fn check_template(field: &str, template: &str, known: &[&str]) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{field}: unclosed {{ in {template:?}"))?;
        let name = &after[..close];
        if !known.contains(&name) {
            return Err(format!(
                "{field}: unknown placeholder {{{name}}} (known: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known
                        .iter()
                        .map(|k| format!("{{{k}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

pub(crate) fn fill(template: &str, placeholders: &[(&str, &str)]) -> String {
    placeholders
        .iter()
        .fold(template.to_owned(), |acc, (name, value)| {
            acc.replace(&format!("{{{name}}}"), value)
        })
}

/// Path segments with placeholders filled; `endpoint` percent-encodes each
/// segment, so a filled value holding `/` or `?` stays inside its segment.
pub(crate) fn fill_path(template: &str, placeholders: &[(&str, &str)]) -> Vec<String> {
    template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|segment| fill(segment, placeholders))
        .collect()
}
