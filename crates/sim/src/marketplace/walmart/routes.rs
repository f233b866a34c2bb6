//! The seller's route table, and Walmart's gateway in front of it:
//! headers, access token, and the endpoint group's token bucket; every
//! answer says how many tokens are left and when the next one comes.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::RateGroup;
use super::feeds::{feed_status, submit_feed};
use super::inventory::{get_inventory, put_inventory};
use super::orders::{acknowledge, get_order, list_orders};
use super::recon;
use super::shipping::{cancel_lines, ship_lines};
use super::state::{WalmartSim, WalmartState};
use super::token::issue_token;
use super::wire::{header_str, now_ms, parse_json, walmart_error};
use crate::faults::gate;
use crate::marketplace::base::Base;
use crate::marketplace::bucket::Bucket;
use crate::marketplace::simulator::{Generation, Marketplace};
use crate::wire::lock;

type Sim = Arc<WalmartSim>;

impl WalmartSim {
    fn routes(self: Arc<Self>) -> Router {
        // Every path below `/v3/` goes through the gateway, an unknown one
        // too (its endpoint group is read from the path, see `RateGroup::of`).
        Router::new()
            .route("/v3/token", post(issue_token))
            .route("/v3/orders", get(list_orders))
            .route("/v3/orders/{po}", get(get_order))
            .route("/v3/orders/{po}/acknowledge", post(acknowledge))
            .route("/v3/orders/{po}/shipping", post(ship_lines))
            .route("/v3/orders/{po}/cancel", post(cancel_lines))
            .route("/v3/inventory", get(get_inventory).put(put_inventory))
            .route("/v3/feeds", post(submit_feed))
            .route("/v3/feeds/{feed_id}", get(feed_status))
            .route(
                "/v3/report/reconreport/availableReconFiles",
                get(recon::available_recon_files),
            )
            .route("/v3/report/reconreport/reconFile", get(recon::recon_file))
            .layer(from_fn_with_state(self.clone(), walmart_gate))
            .layer(from_fn_with_state(self.base.gate.clone(), gate))
            // Test doors, outside the gateway.
            .route("/sim/settlements", get(recon::list_settlements))
            .route("/sim/settlements/close", post(recon::close_settlement_now))
            .with_state(self)
    }
}

/// Walmart's gateway: headers, token and rate limit, before any handler;
/// the rate-limit headers go on every answer.
async fn walmart_gate(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let Some(group) = RateGroup::of(request.method(), &path) else {
        return walmart_error(
            StatusCode::NOT_FOUND,
            "CONTENT_NOT_FOUND.GMP_GATEWAY_API",
            "path",
            format!("no resource at {path}"),
        );
    };
    let refusal = admit(&sim, group, request.headers());
    let mut response = match refusal {
        Some(r) => r,
        None => next.run(request).await,
    };
    let (count, at) = {
        let mut state = lock(&sim.state);
        match state.buckets.get_mut(&group) {
            Some(b) => replenishment(b, Instant::now()),
            None => (0, now_ms()),
        }
    };
    let forced = response.extensions().get::<ForcedReplenish>().map(|f| f.0);
    let (count, at) = match forced {
        Some(at) => (0, at),
        None => (count, at),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-current-token-count", count.to_string()),
        ("x-next-replenishment-time", at.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// Marks a forced 429: its replenish time is the forced one, not the bucket's.
#[derive(Clone, Copy)]
struct ForcedReplenish(i64);

/// `None` when the call may go on; otherwise Walmart's refusal.
fn admit(sim: &WalmartSim, group: RateGroup, headers: &HeaderMap) -> Option<Response> {
    let mut state = lock(&sim.state);
    for name in ["WM_SVC.NAME", "WM_QOS.CORRELATION_ID"] {
        if header_str(headers, name).is_none() {
            state.counters.header_refusals += 1;
            return Some(walmart_error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
                name,
                format!("{name} header is required"),
            ));
        }
    }
    if let Some(id) = header_str(headers, "WM_QOS.CORRELATION_ID")
        && !state.correlation_ids.insert(id.to_owned())
    {
        // Walmart does not refuse a reused id; it is counted as a client bug.
        state.counters.correlation_id_reuses += 1;
    }
    let accepts_json = header_str(headers, header::ACCEPT.as_str())
        .is_some_and(|a| a.contains("application/json"));
    if !accepts_json {
        state.counters.header_refusals += 1;
        return Some(walmart_error(
            StatusCode::NOT_ACCEPTABLE,
            "INVALID_REQUEST_HEADER.GMP_GATEWAY_API",
            "Accept",
            "Accept must be application/json",
        ));
    }
    if group != RateGroup::Token {
        let valid = header_str(headers, "WM_SEC.ACCESS_TOKEN")
            .and_then(|t| state.tokens.get(t))
            .is_some_and(|expires| *expires > Instant::now());
        if !valid {
            state.counters.auth_refusals += 1;
            return Some(walmart_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED.GMP_GATEWAY_API",
                "WM_SEC.ACCESS_TOKEN",
                "Unauthorized token or invalid service name",
            ));
        }
    }
    let throttled = |state: &mut WalmartState| {
        *state.counters.throttled.entry(group.key()).or_default() += 1;
        walmart_error(
            StatusCode::TOO_MANY_REQUESTS,
            "REQUEST_THRESHOLD_VIOLATED.GMP_GATEWAY_API",
            "",
            "Too many requests: the rate limit for this API is exceeded",
        )
    };
    if state.forced_throttles_left > 0 {
        state.forced_throttles_left -= 1;
        state.counters.forced_throttles += 1;
        let mut response = throttled(&mut state);
        let at = now_ms() + i64::try_from(sim.config.force_throttle_ms).unwrap_or(i64::MAX / 2);
        response.extensions_mut().insert(ForcedReplenish(at));
        return Some(response);
    }
    let admitted = state
        .buckets
        .get_mut(&group)
        .is_none_or(|b| b.take(1.0, Instant::now()));
    if !admitted {
        return Some(throttled(&mut state));
    }
    None
}

/// `(x-current-token-count, x-next-replenishment-time in epoch ms)` of a bucket.
pub(super) fn replenishment(bucket: &mut Bucket, now: Instant) -> (u64, i64) {
    bucket.refill(now);
    let wait_secs = bucket.secs_to_next_token();
    let at = Utc::now().timestamp_millis() + (wait_secs * 1_000.0).ceil() as i64;
    (bucket.tokens().floor() as u64, at)
}

impl Marketplace for WalmartSim {
    fn kind(&self) -> &'static str {
        "walmart"
    }

    fn title(&self) -> &'static str {
        "Walmart"
    }

    fn listen(&self) -> &str {
        &self.config.listen
    }

    fn api(self: Arc<Self>) -> Router {
        self.routes()
    }

    fn generate(self: Arc<Self>) -> Generation {
        Box::pin(self.place_orders())
    }

    fn stats(&self) -> Value {
        WalmartSim::stats(self)
    }

    /// Sets the throttles still owed.
    fn force_throttle(&self, body: &[u8]) -> Response {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            count: u32,
        }
        let body: Body = match parse_json("SIM", body) {
            Ok(b) => b,
            Err(r) => return *r,
        };
        let mut state = lock(&self.state);
        state.forced_throttles_left = body.count;
        Json(json!({ "forced_throttles_left": body.count })).into_response()
    }

    fn base(&self) -> &Base {
        &self.base
    }
}
