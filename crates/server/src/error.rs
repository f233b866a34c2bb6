use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crossdock_engine::Refusal;
use serde_json::json;

/// An API error: HTTP status, a stable code operators can look up, and a
/// message. Every error the hub returns has this JSON shape:
/// `{"error": {"code": "CD-IN-0400", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "CD-API-0404", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CD-SRV-0500",
            e.to_string(),
        )
    }
}

impl ApiError {
    /// The hub could not answer now (store or engine trouble).
    pub fn unavailable(e: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "CD-SRV-0503",
            e.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

impl From<crossdock_store::StoreError> for ApiError {
    fn from(e: crossdock_store::StoreError) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "CD-SRV-0503",
            format!("store: {e}"),
        )
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::UnknownSource { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "CD-IN-0404", r.to_string())
            }
            Refusal::BadPayload(e) if e.unauthenticated => {
                ApiError::new(StatusCode::UNAUTHORIZED, "CD-IN-0401", e.to_string())
            }
            Refusal::BadPayload(e) => {
                ApiError::new(StatusCode::BAD_REQUEST, "CD-IN-0400", e.to_string())
            }
            Refusal::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "CD-IN-0503", m)
            }
        }
    }
}
