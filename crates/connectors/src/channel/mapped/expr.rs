//! One compiled jq expression and the readers that turn its values into canonical fields (exact amounts, integers, times, addresses).

use chrono::{DateTime, Utc};
use crossdock_model::{Address, Money};
use jaq_json::Val;

use crate::InputError;
use crate::jq::{Program, exact_decimal, exact_number, field, kind, optional, text};

/// An expression of the mapping: a JSON pointer or a jq program.
pub(super) enum Expr {
    /// Reference tokens, unescaped (`~1` → `/`, `~0` → `~`).
    Pointer(Vec<String>),
    Jq(Program),
}

impl Expr {
    pub(super) fn compile(field: &str, code: &str) -> Result<Expr, String> {
        let code = code.trim();
        if code.is_empty() {
            return Err(format!("{field}: empty expression"));
        }
        if let Some(rest) = code.strip_prefix('/') {
            let tokens = rest
                .split('/')
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect();
            return Ok(Expr::Pointer(tokens));
        }
        Program::compile(field, code).map(Expr::Jq)
    }

    pub(super) fn compile_opt(field: &str, code: &Option<String>) -> Result<Option<Expr>, String> {
        code.as_deref()
            .and_then(optional)
            .map(|c| Expr::compile(field, c))
            .transpose()
    }

    /// The value at the pointer (null when absent), or the program's
    /// output (null when it yields nothing).
    pub(super) fn eval(&self, input: &Val) -> Result<Val, String> {
        match self {
            Expr::Pointer(tokens) => {
                let mut at = input;
                for token in tokens {
                    let next = match at {
                        Val::Obj(_) => field(at, token),
                        Val::Arr(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                        _ => None,
                    };
                    match next {
                        Some(v) => at = v,
                        None => return Ok(Val::Null),
                    }
                }
                Ok(at.clone())
            }
            Expr::Jq(program) => program.run_at_most_one(input.clone()),
        }
    }

    /// The payload path a pointer reads under `base` (`items[3].sku`).
    pub(super) fn source_path(&self, base: &str) -> Option<String> {
        let Expr::Pointer(tokens) = self else {
            return None;
        };
        let mut path = base.to_owned();
        for token in tokens {
            if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
                path.push_str(&format!("[{token}]"));
            } else {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(token);
            }
        }
        Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path
        })
    }

    /// An error about this expression's value: at its payload path when it
    /// is a pointer, else at the canonical field, saying that jq computed it.
    pub(super) fn error(
        &self,
        base: &str,
        canonical: &str,
        message: impl std::fmt::Display,
    ) -> InputError {
        match self.source_path(base) {
            Some(path) => InputError::new(path, message.to_string()),
            None => InputError::new(
                canonical,
                format!("{message} (computed by the mapping's jq program; source path unknown)"),
            ),
        }
    }
}

/// An expression with what it maps to: its errors' canonical name.
pub(super) struct Field {
    pub(super) expr: Expr,
    pub(super) canonical: &'static str,
}

impl Field {
    pub(super) fn compile(
        mapping_field: &str,
        canonical: &'static str,
        code: &str,
    ) -> Result<Field, String> {
        Ok(Field {
            expr: Expr::compile(mapping_field, code)?,
            canonical,
        })
    }

    pub(super) fn compile_opt(
        mapping_field: &str,
        canonical: &'static str,
        code: &Option<String>,
    ) -> Result<Option<Field>, String> {
        Ok(Expr::compile_opt(mapping_field, code)?.map(|expr| Field { expr, canonical }))
    }

    /// Reads the value under `base` (the payload path of `input`), named
    /// `prefix` + canonical name in errors about jq-computed values.
    pub(super) fn read<T>(
        &self,
        input: &Val,
        base: &str,
        prefix: &str,
        convert: impl FnOnce(&Val) -> Result<T, String>,
    ) -> Result<T, InputError> {
        let canonical = format!("{prefix}{}", self.canonical);
        let value = self
            .expr
            .eval(input)
            .map_err(|e| self.expr.error(base, &canonical, e))?;
        convert(&value).map_err(|e| self.expr.error(base, &canonical, e))
    }
}

/// A required string: a non-blank string, or a number's literal text (ids).
pub(super) fn required_string(v: &Val) -> Result<String, String> {
    match v {
        Val::Null => Err("missing field".to_owned()),
        Val::TStr(s) if text(s).trim().is_empty() => Err("must not be empty".to_owned()),
        Val::TStr(s) => Ok(text(s)),
        Val::Num(n) => exact_number(n),
        other => Err(format!("expected a string, got {}", kind(other))),
    }
}

/// An optional string: null and blank are absent.
pub(super) fn optional_string(v: &Val) -> Result<Option<String>, String> {
    match v {
        Val::Null => Ok(None),
        other => match required_string(other) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e == "must not be empty" => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// A non-negative amount, exact.
pub(super) fn amount(v: &Val, currency: crossdock_model::Currency) -> Result<Money, String> {
    let amount = exact_decimal(v)?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err("must not be negative".to_owned());
    }
    Ok(Money::new(amount, currency))
}

pub(super) fn integer(v: &Val) -> Result<i64, String> {
    match v {
        Val::Num(n) => exact_number(n)?
            .parse::<i64>()
            .map_err(|_| format!("expected an integer, got {n}")),
        Val::Null => Err("missing field".to_owned()),
        other => Err(format!("expected an integer, got {}", kind(other))),
    }
}

pub(super) fn quantity(v: &Val) -> Result<u32, String> {
    let q = integer(v)?;
    if q < 0 {
        return Err("must not be negative".to_owned());
    }
    u32::try_from(q).map_err(|_| "too large".to_owned())
}

pub(super) fn rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("expected an RFC 3339 time, got {s:?}"))
}

/// An RFC 3339 string or ms since the epoch.
pub(super) fn timestamp(v: &Val) -> Result<DateTime<Utc>, String> {
    match v {
        Val::TStr(s) => rfc3339(&text(s)),
        Val::Num(_) => {
            let ms = integer(v)?;
            DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| format!("{ms} ms is out of range"))
        }
        Val::Null => Err("missing field".to_owned()),
        other => Err(format!(
            "expected an RFC 3339 time or ms since the epoch, got {}",
            kind(other)
        )),
    }
}

/// A source version: an integer (or its text), or an RFC 3339 time in ms.
pub(super) fn version_ms(v: &Val) -> Result<i64, String> {
    match v {
        Val::TStr(s) => {
            let s = text(s);
            match s.trim().parse::<i64>() {
                Ok(n) => Ok(n),
                Err(_) => rfc3339(&s)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| format!("expected an integer or an RFC 3339 time, got {s:?}")),
            }
        }
        other => integer(other),
    }
}

/// A canonical address from an object with the canonical keys; null is
/// none. An error names the key it is about, if any.
pub(super) fn address(v: &Val) -> Result<Option<Address>, (Option<&'static str>, String)> {
    if matches!(v, Val::Null) {
        return Ok(None);
    }
    if !matches!(v, Val::Obj(_)) {
        return Err((None, format!("expected an address object, got {}", kind(v))));
    }
    let get = |k: &str| field(v, k).cloned().unwrap_or(Val::Null);
    let required = |k: &'static str| required_string(&get(k)).map_err(|e| (Some(k), e));
    let optional = |k: &'static str| optional_string(&get(k)).map_err(|e| (Some(k), e));
    Ok(Some(Address {
        name: optional("name")?.unwrap_or_default(),
        line1: required("line1")?,
        line2: optional("line2")?,
        city: optional("city")?.unwrap_or_default(),
        region: optional("region")?,
        postal_code: optional("postal_code")?.unwrap_or_default(),
        country: required("country")?,
    }))
}
