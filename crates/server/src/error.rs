use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crossdock_engine::Refusal;
use crossdock_model::ErrorCode;
use serde::Serialize;

/// An API error: HTTP status, a stable code operators can look up (from the
/// one catalogue, `crossdock_model::ErrorCode`, with a page per code under
/// `docs/errors/`), and a message. Every error the hub returns has this
/// JSON shape: `{"error": {"code": "CD-IN-0400", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    /// Headers the status needs (`WWW-Authenticate`, `Retry-After`).
    headers: Vec<(&'static str, String)>,
}

/// The JSON of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong, for a person; may change between releases.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::ApiNotFound, message)
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::SrvInternal,
            e.to_string(),
        )
    }
}

impl ApiError {
    /// The hub could not answer now (store or engine trouble).
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::SrvUnavailable,
            e.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code,
                    message: self.message,
                },
            }),
        )
            .into_response();
        for (name, value) in self.headers {
            if let Ok(value) = axum::http::HeaderValue::try_from(value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

impl From<crossdock_store::StoreError> for ApiError {
    fn from(e: crossdock_store::StoreError) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::SrvUnavailable,
            format!("store: {e}"),
        )
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::UnknownSource { .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::InUnknownSource,
                r.to_string(),
            ),
            Refusal::BadPayload(e) if e.unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InUnauthenticated,
                e.to_string(),
            ),
            Refusal::BadPayload(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InBadPayload,
                e.to_string(),
            ),
            Refusal::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::InUnavailable, m)
            }
        }
    }
}
