//! The door of every keyed route: a bearer key that may be used now (401),
//! the route's scope (403), the key's rate and daily quota (429), then the
//! handler; a write is audited with the key's name after it answered.
//! Every refusal is counted (`crossdock_api_refusals_total`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use crossdock_engine::telemetry;
use crossdock_model::ErrorCode;
use crossdock_store::{ApiScope, NewApiAuditEntry};

use super::keys::{ApiKeys, Refused};
use crate::ApiError;

/// Who is calling: put in the request's extensions for the handler.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_name: String,
}

/// What the door needs: the keys, and the scope of each keyed route by
/// method and route template (from the one route table, `v1_routes`).
#[derive(Clone)]
pub(super) struct Door {
    pub(super) keys: ApiKeys,
    pub(super) scopes: Arc<HashMap<(Method, &'static str), ApiScope>>,
}

const REALM: &str = "Bearer realm=\"crossdock\"";

fn unauthenticated(reason: &'static str, message: String) -> Response {
    telemetry::api_refused("401", reason);
    let challenge = if reason == "missing" {
        REALM.to_owned()
    } else {
        format!("{REALM}, error=\"invalid_token\"")
    };
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::ApiUnauthenticated,
        message,
    )
    .with_header("www-authenticate", challenge)
    .into_response()
}

/// Seconds for `Retry-After`: whole, rounded up, at least 1.
fn retry_after(wait: Duration) -> String {
    wait.as_millis().div_ceil(1000).max(1).to_string()
}

/// The bearer token of `Authorization`, if any (the scheme's case is free).
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub(super) async fn require_key(
    State(door): State<Door>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return ApiError::internal("a keyed route without its path").into_response();
    };
    let method = request.method().clone();
    let lookup = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    // A route missing from the table is refused, never let through. The
    // router serves only the table's methods on a path, so a method the
    // table lacks for a path it has (TRACE, say) is the client's: 405.
    let Some(&needed) = door.scopes.get(&(lookup, route.as_str())) else {
        let mut allowed: Vec<&str> = door
            .scopes
            .keys()
            .filter(|(_, path)| *path == route)
            .flat_map(|(m, _)| {
                if *m == Method::GET {
                    vec!["GET", "HEAD"]
                } else {
                    vec![m.as_str()]
                }
            })
            .collect();
        if allowed.is_empty() {
            return ApiError::internal(format!("{method} {route} has no scope")).into_response();
        }
        allowed.sort_unstable();
        let allow = allowed.join(", ");
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::ApiBadRequest,
            format!("{method} is not served on {route}; it allows {allow}"),
        )
        .with_header("allow", allow)
        .into_response();
    };
    let Some(presented) = bearer(&request) else {
        return unauthenticated("missing", "missing Authorization: Bearer <key>".into());
    };
    let key = match door.keys.authenticate(presented) {
        Ok(key) => key,
        Err(Refused::Revoked) => return unauthenticated("revoked", "API key revoked".into()),
        Err(Refused::Expired(at)) => {
            let when = chrono::DateTime::from_timestamp_millis(at)
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| at.to_string());
            return unauthenticated("expired", format!("API key expired at {when}"));
        }
        Err(_) => return unauthenticated("unknown", "unknown API key".into()),
    };
    if !key.key.grants(needed) {
        telemetry::api_refused("403", "scope");
        let held = key
            .key
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::ApiForbidden,
            format!(
                "{method} {route} needs scope {needed}; key {} has {held}",
                key.key.name
            ),
        )
        .with_header(
            "www-authenticate",
            format!("{REALM}, error=\"insufficient_scope\", scope=\"{needed}\""),
        )
        .into_response();
    }
    match door.keys.admit(&key) {
        Ok(()) => {}
        Err(Refused::Rate(wait)) => {
            telemetry::api_refused("429", "rate");
            let rate = key.key.rate_per_sec.unwrap_or(0);
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::ApiRateLimited,
                format!("key {} is over its rate of {rate}/s", key.key.name),
            )
            .with_header("retry-after", retry_after(wait))
            .into_response();
        }
        Err(Refused::Quota(wait)) => {
            telemetry::api_refused("429", "quota");
            let quota = key.key.daily_quota.unwrap_or(0);
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::ApiQuotaExceeded,
                format!(
                    "key {} has used its quota of {quota} requests today (UTC)",
                    key.key.name
                ),
            )
            .with_header("retry-after", retry_after(wait))
            .into_response();
        }
        Err(other) => {
            return ApiError::internal(format!("admission: {other:?}")).into_response();
        }
    }
    let key_name = key.key.name.clone();
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(Caller {
        key_name: key_name.clone(),
    });
    let response = next.run(request).await;
    if method != Method::GET && method != Method::HEAD {
        let entry = NewApiAuditEntry {
            at: door.keys.now_ms(),
            key_name,
            method: method.to_string(),
            path,
            route,
            status: i64::from(response.status().as_u16()),
        };
        // The write is done; a failed audit cannot undo it, so it is
        // shouted about rather than turned into an error for the caller.
        if let Err(e) = door.keys.store().record_api_audit(&entry).await {
            tracing::error!(error = %e, key = %entry.key_name, method = %entry.method, path = %entry.path, "Could not audit an API write.");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        assert_eq!(retry_after(Duration::from_millis(1)), "1");
        assert_eq!(retry_after(Duration::ZERO), "1");
        assert_eq!(retry_after(Duration::from_millis(1001)), "2");
        assert_eq!(retry_after(Duration::from_secs(3600)), "3600");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        let req = |v: &str| {
            axum::http::Request::builder()
                .header("authorization", v)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(bearer(&req("Bearer cdk_x")), Some("cdk_x"));
        assert_eq!(bearer(&req("bearer  cdk_x ")), Some("cdk_x"));
        assert_eq!(bearer(&req("Basic cdk_x")), None);
        assert_eq!(bearer(&req("Bearer ")), None);
        assert_eq!(bearer(&req("cdk_x")), None);
    }
}
