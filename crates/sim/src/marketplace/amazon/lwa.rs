//! Login with Amazon: `POST /auth/o2/token` trades the refresh token for
//! an access token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::state::AmazonSim;
use crate::fixtures::{form_pairs, uuid};
use crate::wire::lock;

pub(super) async fn lwa_token(
    State(sim): State<Arc<AmazonSim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let refuse = |status: StatusCode, error: &str, description: &str| {
        lock(&sim.state).counters.lwa_refused += 1;
        (
            status,
            Json(json!({ "error": error, "error_description": description })),
        )
            .into_response()
    };
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let Some(pairs) = std::str::from_utf8(&body).ok().and_then(form_pairs) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Malformed form body",
        );
    };
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let c = &sim.config;
    if get("grant_type") != Some("refresh_token") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        );
    }
    if get("client_id") != Some(c.client_id.as_str())
        || get("client_secret") != Some(c.client_secret.as_str())
    {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if get("refresh_token") != Some(c.refresh_token.as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    let token = format!("Atza|{}", uuid(&mut lock(&sim.base.rng)));
    {
        let mut state = lock(&sim.state);
        state.counters.lwa_tokens_issued += 1;
        state.tokens.insert(
            token.clone(),
            Instant::now() + Duration::from_secs(c.token_lifetime_secs),
        );
    }
    Json(json!({
        "access_token": token,
        "refresh_token": c.refresh_token,
        "token_type": "bearer",
        "expires_in": c.token_lifetime_secs,
    }))
    .into_response()
}
