//! Reading inbound payloads into wire types, with errors that name the field.

use std::fmt;

use crossdock_model::{Currency, Money};
use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};

use crate::InputError;

/// Deserializes JSON, reporting where the first problem is (`items[2].unit_price`).
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, InputError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut path = e.path().to_string();
        if path == "." {
            path.clear();
        }
        let inner = e.inner();
        let mut message = strip_position(&inner.to_string());
        // serde reports a missing field at its parent; the field is what to fix.
        if let Some(rest) = message.strip_prefix("missing field `")
            && let Some(name) = rest.split('`').next()
        {
            path = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            message = "missing field".to_owned();
        } else if inner.is_syntax() || inner.is_eof() {
            path.clear();
            message = format!("not valid JSON: {message}");
        }
        if path.is_empty() {
            path = "body".to_owned();
        }
        InputError::new(path, message)
    })
}

/// serde_json appends " at line L column C"; the path says more than that.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// An amount on the wire: a JSON string holding a decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireDecimal(pub Decimal);

impl<'de> Deserialize<'de> for WireDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DecimalVisitor;
        impl Visitor<'_> for DecimalVisitor {
            type Value = WireDecimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("expected decimal")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WireDecimal, E> {
                v.trim()
                    .parse::<Decimal>()
                    .map(WireDecimal)
                    .map_err(|_| E::custom(format!("expected decimal, got {v:?}")))
            }
        }
        d.deserialize_str(DecimalVisitor)
    }
}

pub(crate) fn currency(path: &str, code: &str) -> Result<Currency, InputError> {
    code.parse()
        .map_err(|e: crossdock_model::CurrencyError| InputError::new(path, e.to_string()))
}

/// A non-negative amount in `currency`.
pub(crate) fn money(
    path: &str,
    amount: WireDecimal,
    currency: Currency,
) -> Result<Money, InputError> {
    if amount.0.is_sign_negative() && !amount.0.is_zero() {
        return Err(InputError::new(path, "must not be negative"));
    }
    Ok(Money::new(amount.0, currency))
}

/// Quantities arrive as plain JSON integers; a negative one is refused by name.
pub(crate) fn quantity(path: &str, value: i64) -> Result<u32, InputError> {
    if value < 0 {
        return Err(InputError::new(path, "must not be negative"));
    }
    u32::try_from(value).map_err(|_| InputError::new(path, "too large"))
}

pub(crate) fn timestamp(
    path: &str,
    value: &str,
) -> Result<chrono::DateTime<chrono::Utc>, InputError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| InputError::new(path, format!("expected an RFC 3339 time, got {value:?}")))
}

pub(crate) fn non_empty(path: &str, value: &str) -> Result<(), InputError> {
    if value.trim().is_empty() {
        Err(InputError::new(path, "must not be empty"))
    } else {
        Ok(())
    }
}

/// The JSON text of a value: a string's content, or a number's digits as sent.
/// Never passes through f64. Only works under `serde_json` (it reads a raw value).
fn raw_text<'de, D: Deserializer<'de>>(d: D) -> Result<(bool, String), D::Error> {
    let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
    let text = raw.get().trim();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(serde::de::Error::custom)?;
        Ok((true, s))
    } else {
        Ok((false, text.to_owned()))
    }
}

/// An amount sent as a JSON string (`"19.99"`) or a JSON number (`19.99`),
/// read exactly from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonDecimal(pub Decimal);

impl<'de> Deserialize<'de> for JsonDecimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (quoted, text) = raw_text(d)?;
        let shown = if quoted {
            format!("{text:?}")
        } else {
            text.clone()
        };
        let t = text.trim();
        let number_like = !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
        let parsed = if !number_like {
            None
        } else if t.contains(['e', 'E']) {
            Decimal::from_scientific(t).ok()
        } else {
            t.parse::<Decimal>().ok()
        };
        parsed
            .map(JsonDecimal)
            .ok_or_else(|| serde::de::Error::custom(format!("expected decimal, got {shown}")))
    }
}

/// An id sent as a JSON string or a JSON integer, kept exactly as its text
/// (Shopify ids exceed 2^53 and must never pass through f64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonId(pub String);

impl<'de> Deserialize<'de> for JsonId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (quoted, text) = raw_text(d)?;
        let ok = if quoted {
            !text.trim().is_empty()
        } else {
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
        };
        if ok {
            Ok(JsonId(text))
        } else {
            Err(serde::de::Error::custom(format!(
                "expected an id (non-empty string or whole number), got {text}"
            )))
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub(crate) fn timestamp_ms(path: &str, value: &str) -> Result<i64, InputError> {
    Ok(timestamp(path, value)?.timestamp_millis())
}

/// Prefixes an error's path with where the parsed document sat in the input.
pub(crate) fn under(prefix: &str) -> impl Fn(InputError) -> InputError + '_ {
    move |mut e| {
        if !prefix.is_empty() {
            e.path = if e.path == "body" {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", e.path)
            };
        }
        e
    }
}
