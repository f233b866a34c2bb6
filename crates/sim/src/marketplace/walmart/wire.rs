//! Walmart's ways of writing things: the `{"errors":{"error":[…]}}` body,
//! money as numbers, quantities, times in epoch milliseconds, strict JSON
//! bodies, and the cursor's query encoding.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::wire::describe_path_error;

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Walmart's error body: `{"errors":{"error":[{code, field, description, …}]}}`.
pub(super) fn walmart_error(
    status: StatusCode,
    code: &str,
    field: &str,
    description: impl Into<String>,
) -> Response {
    let category = if status.is_server_error() {
        "SYSTEM"
    } else if status == StatusCode::NOT_FOUND {
        "APPLICATION"
    } else {
        "DATA"
    };
    let severity = if status == StatusCode::NOT_FOUND {
        "INFO"
    } else {
        "ERROR"
    };
    let info = status.canonical_reason().unwrap_or("Error");
    (
        status,
        Json(json!({ "errors": { "error": [ {
            "code": code,
            "field": field,
            "description": description.into(),
            "info": info,
            "severity": severity,
            "category": category,
            "causes": [],
            "errorIdentifiers": {}
        } ] } })),
    )
        .into_response()
}

pub(super) fn bad_request(api: &str, field: &str, description: impl Into<String>) -> Response {
    walmart_error(
        StatusCode::BAD_REQUEST,
        &format!("INVALID_REQUEST_CONTENT.{api}"),
        field,
        description,
    )
}

/// Parses a JSON body strictly, naming the first bad field in Walmart's shape.
pub(super) fn parse_json<T: DeserializeOwned>(api: &str, body: &[u8]) -> Result<T, Box<Response>> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let (field, message) = describe_path_error(&e);
        Box::new(bad_request(api, &field, format!("{field}: {message}")))
    })
}

pub(super) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A Walmart amount: a JSON number (Walmart sends money as numbers). The
/// number is written from the decimal's own text; two-decimal amounts come
/// back exactly from their shortest representation.
pub(super) fn money(currency: &str, amount: Decimal) -> Value {
    let number = serde_json::from_str::<Value>(&amount.normalize().to_string())
        .unwrap_or_else(|_| Value::from(0));
    json!({ "currency": currency, "amount": number })
}

pub(super) fn quantity(amount: u32) -> Value {
    json!({ "unitOfMeasurement": "EACH", "amount": amount.to_string() })
}

/// A time query parameter: RFC 3339, a bare date, or epoch ms.
pub(super) fn parse_time(field: &str, raw: &str) -> Result<i64, Box<Response>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().timestamp_millis());
    }
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    Err(Box::new(bad_request(
        "GMP_ORDER_API",
        field,
        format!("{field}: {raw:?} is not a date-time (ISO 8601)"),
    )))
}

pub(super) fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Percent-encodes a query value (unreserved characters stay).
pub(super) fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
