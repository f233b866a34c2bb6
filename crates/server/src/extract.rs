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
