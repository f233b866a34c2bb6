//! `/v1/keys` and `/v1/audit` (scope `admin`): the API keys without their
//! secrets, a new key (its secret in the answer, once), a revocation, and
//! the audit of writes. `crossdock keys` does the same on the store.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crossdock_model::ErrorCode;
use crossdock_store::ApiScope;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{KeySpec, KeysError};
use crate::{ApiError, AppState};

pub(crate) async fn list_keys(State(s): State<AppState>) -> Result<Response, ApiError> {
    let keys = s.keys.store().api_keys(false).await?;
    Ok(axum::Json(json!({ "keys": keys })).into_response())
}

/// `POST /v1/keys` body: `scopes` as a list or `"read,operate"`;
/// `expires_in` a duration such as `90d`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    name: String,
    scopes: Scopes,
    rate_per_sec: Option<u32>,
    daily_quota: Option<u64>,
    expires_in: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<ApiScope>),
    Text(String),
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(ErrorCode::ApiBadRequest, message)
}

pub(crate) async fn create_key(
    State(s): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: NewKeyBody =
        serde_json::from_slice(&body).map_err(|e| bad(format!("new key: {e}")))?;
    let scopes = match body.scopes {
        Scopes::List(mut l) => {
            l.sort();
            l.dedup();
            l
        }
        Scopes::Text(t) => ApiScope::parse_list(&t).map_err(bad)?,
    };
    let expires_at = body
        .expires_in
        .as_deref()
        .map(|d| {
            humantime::parse_duration(d)
                .map_err(|e| bad(format!("expires_in {d:?}: {e}")))
                .map(|d| s.keys.now_ms() + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
        })
        .transpose()?;
    let spec = KeySpec {
        name: body.name,
        scopes,
        rate_per_sec: body.rate_per_sec,
        daily_quota: body.daily_quota,
        expires_at,
    };
    match s.keys.create(&spec).await {
        Ok((key, secret)) => Ok((
            StatusCode::CREATED,
            axum::Json(json!({ "key": key, "secret": secret.expose() })),
        )
            .into_response()),
        Err(KeysError::Invalid(m) | KeysError::Conflict(m)) => Err(bad(m)),
        Err(KeysError::Store(e)) => Err(e.into()),
    }
}

pub(crate) async fn revoke_key(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if s.keys.revoke(&name).await? {
        Ok(axum::Json(json!({ "revoked": name })).into_response())
    } else {
        Err(ApiError::not_found(format!("no live key named {name}")))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    key: Option<String>,
    limit: Option<i64>,
}

pub(crate) async fn audit(
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let entries = s
        .keys
        .store()
        .api_audit(q.key.as_deref(), q.limit.unwrap_or(100))
        .await?;
    Ok(axum::Json(json!({ "entries": entries })).into_response())
}
