//! Strict request parsing shared by the simulators: a malformed body is a 422
//! naming the field, so a hub mapping bug shows up as a refusal, not as data.

use std::fmt;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// 422 with the failing field, e.g. `lines[2].sku`.
pub(crate) fn invalid(field: &str, message: impl fmt::Display) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "error": format!("{field}: {message}"), "field": field })),
    )
        .into_response()
}

/// A refused request body: which field, and why.
#[derive(Debug)]
pub(crate) struct Invalid {
    field: String,
    message: String,
}

impl Invalid {
    pub(crate) fn new(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Invalid {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

impl IntoResponse for Invalid {
    fn into_response(self) -> Response {
        invalid(&self.field, self.message)
    }
}

pub(crate) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

pub(crate) fn with_retry_after(mut response: Response, secs: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Deserializes a JSON body, reporting the path of the first problem.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Invalid> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let (field, message) = describe_path_error(&e);
        Invalid::new(field, message)
    })
}

/// serde reports a missing field at its parent; naming the field itself is
/// what a caller needs to fix its payload.
pub(crate) fn describe_path_error(
    e: &serde_path_to_error::Error<serde_json::Error>,
) -> (String, String) {
    let mut path = e.path().to_string();
    if path == "." {
        path.clear();
    }
    let inner = e.inner();
    let mut message = inner.to_string();
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
    }
    if path.is_empty() {
        path = "body".to_owned();
    }
    (path, message)
}

/// A money amount on the wire: a JSON string holding a decimal, never a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Amount(pub Decimal);

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl Visitor<'_> for AmountVisitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal in a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
                v.parse::<Decimal>()
                    .map(Amount)
                    .map_err(|_| E::custom(format!("expected decimal, got {v:?}")))
            }
        }
        d.deserialize_str(AmountVisitor)
    }
}

pub(crate) fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// A mutex's guard, also after a panic elsewhere poisoned it: simulator
/// state stays readable for the stats a failing test prints.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
