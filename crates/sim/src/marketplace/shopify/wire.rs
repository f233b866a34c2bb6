//! Shopify's ways of writing things: the REST error body, money as a
//! two-decimal string, `gid://shopify/...` ids, times in whole seconds.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fixtures::two_decimals;

/// Shopify's REST error body: `{"errors": …}`.
pub(super) fn rest_error(status: StatusCode, errors: Value) -> Response {
    (status, Json(json!({ "errors": errors }))).into_response()
}

pub(super) fn not_found() -> Response {
    rest_error(StatusCode::NOT_FOUND, json!("Not Found"))
}

/// `{"errors": {"<field>": "<message>"}}`, Shopify's shape for a bad parameter.
pub(super) fn bad_param(status: StatusCode, field: &str, message: impl Into<String>) -> Response {
    rest_error(status, json!({ field: message.into() }))
}

pub(super) fn throttled(retry_after_secs: f64, message: &str) -> Response {
    let mut r = rest_error(StatusCode::TOO_MANY_REQUESTS, json!(message));
    if let Ok(v) = HeaderValue::from_str(&format!("{retry_after_secs:.1}")) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Money as Shopify writes it: a string with two decimals.
pub(super) fn money(d: Decimal) -> String {
    two_decimals(d)
}

pub(super) fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

pub(super) fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// The numeric id of `gid://shopify/{kind}/{id}`.
pub(super) fn parse_gid(kind: &str, value: &str) -> Option<u64> {
    value
        .strip_prefix("gid://shopify/")?
        .strip_prefix(kind)?
        .strip_prefix('/')?
        .parse()
        .ok()
}
