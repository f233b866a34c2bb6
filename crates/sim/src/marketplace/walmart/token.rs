//! `POST /v3/token`: client credentials (HTTP Basic) for an access token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use rand::RngCore;
use serde_json::json;

use super::state::WalmartSim;
use super::wire::{bad_request, header_str, walmart_error};
use crate::wire::lock;

/// Standard base64 with padding (for comparing HTTP Basic credentials).
pub(super) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) async fn issue_token(
    State(sim): State<Arc<WalmartSim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refuse = |sim: &WalmartSim, field: &str, description: &str| {
        lock(&sim.state).counters.token_refusals += 1;
        walmart_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED.GMP_GATEWAY_API",
            field,
            description,
        )
    };
    let expected = format!(
        "Basic {}",
        base64(format!("{}:{}", sim.config.client_id, sim.config.client_secret).as_bytes())
    );
    let given = header_str(&headers, header::AUTHORIZATION.as_str()).unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return refuse(&sim, "Authorization", "Invalid client credentials");
    }
    let form = header_str(&headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return bad_request(
            "GMP_GATEWAY_API",
            "Content-Type",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let body = String::from_utf8_lossy(&body);
    let grant = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "grant_type")
        .map(|(_, v)| v);
    if grant != Some("client_credentials") {
        return bad_request(
            "GMP_GATEWAY_API",
            "grant_type",
            "grant_type must be client_credentials",
        );
    }
    let mut bytes = [0u8; 24];
    lock(&sim.base.rng).fill_bytes(&mut bytes);
    let token = format!(
        "eyJ{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let ttl = sim.config.token_ttl_secs;
    {
        let mut state = lock(&sim.state);
        let now = Instant::now();
        state.tokens.retain(|_, expires| *expires > now);
        state
            .tokens
            .insert(token.clone(), now + Duration::from_secs(ttl));
        state.counters.tokens_issued += 1;
    }
    Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl }))
        .into_response()
}
