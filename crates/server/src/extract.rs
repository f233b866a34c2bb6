//! axum's `Query` and `Path` with their refusals in the API's error shape:
//! axum's own answer a bad query string or path with a `text/plain` 400,
//! which no client of `/v1` expects and the contract does not describe.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use crossdock_model::ErrorCode;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A client's mistake is a 400; axum's own (a route whose handler wants
/// other parameters than its path has) stays a server error.
fn refusal(status: StatusCode, message: String) -> ApiError {
    if status.is_client_error() {
        ApiError::bad_request(ErrorCode::ApiBadRequest, message)
    } else {
        ApiError::internal(message)
    }
}

/// The query string as `T`, or 400 `CD-API-0400` naming what is wrong.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| refusal(e.status(), e.body_text()))
    }
}

/// The path's parameters as `T`, or 400 `CD-API-0400` (a segment that is
/// not UTF-8 once percent-decoded, say).
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| ApiPath(p))
            .map_err(|e| refusal(e.status(), e.body_text()))
    }
}

/// A JSON body that must be an object, read as `T`. serde would also read
/// a struct from an array (`[null, null]` as a filter of nothing, which a
/// replay takes as "everything"); the contract says object, so only an
/// object is read.
pub(crate) fn json_object<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let bad = |m: String| ApiError::bad_request(ErrorCode::ApiBadRequest, format!("{what}: {m}"));
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    if !value.is_object() {
        return Err(bad("expected a JSON object".into()));
    }
    integral_numbers(&mut value);
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// JSON has one number type: `5.0` is the integer 5 (JSON Schema says so,
/// and some clients write every number with a point). serde would refuse
/// it for an integer field, so whole numbers are made integers first.
fn integral_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && (-9.2e18..=1.8e19).contains(&f) {
                *value = if f < 0.0 {
                    serde_json::Value::from(f as i64)
                } else {
                    serde_json::Value::from(f as u64)
                };
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}
