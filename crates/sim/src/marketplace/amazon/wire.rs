//! Amazon's ways of writing things: SP-API's and S3's error documents,
//! money, ISO times, opaque `NextToken`s, and query-string checks.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use rand::rngs::SmallRng;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::fixtures::two_decimals;

pub(super) const ACCESS_DENIED: &str = "Access to requested resource is denied.";

pub(super) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn iso_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn money(currency: &str, amount: Decimal) -> Value {
    json!({ "CurrencyCode": currency, "Amount": two_decimals(amount) })
}

/// SP-API's error document: `{"errors":[{"code","message","details"}]}`.
pub(super) fn sp_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "errors": [{ "code": code, "message": message.into(), "details": "" }] })),
    )
        .into_response()
}

pub(super) fn invalid_input(message: impl Into<String>) -> Response {
    sp_error(StatusCode::BAD_REQUEST, "InvalidInput", message)
}

/// A refusal on its way back to the caller (boxed: a `Response` is large).
pub(super) struct Refusal(Box<Response>);

impl From<Response> for Refusal {
    fn from(response: Response) -> Self {
        Refusal(Box::new(response))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub(super) fn bad_input(message: impl Into<String>) -> Refusal {
    invalid_input(message).into()
}

pub(super) fn sp_refusal(status: StatusCode, code: &str, message: impl Into<String>) -> Refusal {
    sp_error(status, code, message).into()
}

pub(super) fn s3_refusal(code: &str, message: &str) -> Refusal {
    s3_error(code, message).into()
}

/// S3's XML error for a presigned URL it will not honour.
pub(super) fn s3_error(code: &str, message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
        .into_response()
}

/// An opaque token holding `+`, `/` and `=` as Amazon's do, so a client
/// that encodes it wrongly (or twice) sends one that does not match.
pub(super) fn opaque_token(rng: &mut SmallRng) -> String {
    let mut bytes = [0u8; 18];
    rng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}+{}/{}==", &hex[..12], &hex[12..24], &hex[24..])
}

pub(super) fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, Refusal> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad_input(format!(
                "Invalid {field}: {value:?} is not an ISO 8601 date-time"
            ))
        })
}

/// Query pairs in order, repeated keys kept; `+` reads as a space, as in
/// any form-encoded query (so an unencoded NextToken does not match).
pub(super) type Pairs = Query<Vec<(String, String)>>;

pub(super) fn single<'a>(
    pairs: &'a [(String, String)],
    key: &str,
) -> Result<Option<&'a str>, Refusal> {
    let mut found = pairs.iter().filter(|(k, _)| k == key);
    let first = found.next().map(|(_, v)| v.as_str());
    if found.next().is_some() {
        return Err(bad_input(format!("{key} must be given once")));
    }
    Ok(first)
}

pub(super) fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}
