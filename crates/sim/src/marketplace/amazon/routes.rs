//! The account's route table, and SP-API's gateway in front of each
//! operation: the access token, then the operation's token bucket (its
//! documented rate and burst); every answer names the operation's rate.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, get, patch, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::feeds::{
    create_feed, create_feed_document, download_document, get_feed, get_feed_document,
    upload_document,
};
use super::listings::patch_listings_item;
use super::lwa::lwa_token;
use super::orders::{confirm_shipment, get_order, get_order_items, get_orders};
use super::settlements::{
    close_settlement_now, download_settlement, get_report_document, get_reports, list_settlements,
};
use super::state::{AmazonSim, Op};
use super::wire::{ACCESS_DENIED, Refusal, sp_refusal};
use crate::faults::gate;
use crate::fixtures::uuid;
use crate::marketplace::base::Base;
use crate::marketplace::bucket::Bucket;
use crate::marketplace::simulator::{Generation, Marketplace};
use crate::wire::lock;

const RATE_LIMIT_HEADER: &str = "x-amzn-ratelimit-limit";
const ACCESS_TOKEN_HEADER: &str = "x-amz-access-token";

type Sim = Arc<AmazonSim>;

impl AmazonSim {
    fn routes(self: Arc<Self>) -> Router {
        // An SP-API operation: its handler behind the token and its bucket.
        let op = |op: Op, route: MethodRouter<Sim>| {
            route.route_layer(from_fn_with_state((self.clone(), op), sp_api))
        };
        Router::new()
            .route("/orders/v0/orders", op(Op::GetOrders, get(get_orders)))
            .route(
                "/orders/v0/orders/{order_id}",
                op(Op::GetOrder, get(get_order)),
            )
            .route(
                "/orders/v0/orders/{order_id}/orderItems",
                op(Op::GetOrderItems, get(get_order_items)),
            )
            .route(
                "/orders/v0/orders/{order_id}/shipmentConfirmation",
                op(Op::ConfirmShipment, post(confirm_shipment)),
            )
            .route(
                "/listings/2021-08-01/items/{seller_id}/{sku}",
                op(Op::PatchListingsItem, patch(patch_listings_item)),
            )
            .route(
                "/feeds/2021-06-30/documents",
                op(Op::CreateFeedDocument, post(create_feed_document)),
            )
            .route(
                "/feeds/2021-06-30/documents/{document_id}",
                op(Op::GetFeedDocument, get(get_feed_document)),
            )
            .route(
                "/feeds/2021-06-30/feeds",
                op(Op::CreateFeed, post(create_feed)),
            )
            .route(
                "/feeds/2021-06-30/feeds/{feed_id}",
                op(Op::GetFeed, get(get_feed)),
            )
            .route(
                "/reports/2021-06-30/reports",
                op(Op::GetReports, get(get_reports)),
            )
            .route(
                "/reports/2021-06-30/documents/{document_id}",
                op(Op::GetReportDocument, get(get_report_document)),
            )
            .route("/auth/o2/token", post(lwa_token))
            .layer(from_fn_with_state(self.base.gate.clone(), gate))
            // The presigned document URLs are S3's, not SP-API's: no faults.
            .route(
                "/sim/s3/{document_id}",
                get(download_document).put(upload_document),
            )
            .route("/sim/expire-tokens", post(expire_tokens))
            .route("/sim/settlements", get(list_settlements))
            .route("/sim/settlements/close", post(close_settlement_now))
            .route("/sim/settlements/{settlement_id}", get(download_settlement))
            .with_state(self)
    }

    /// Checks the access token and takes a token from the operation's
    /// bucket. `Err` is the refusal to send (403 or 429).
    fn admit(&self, op: Op, headers: &HeaderMap) -> Result<(), Refusal> {
        let mut state = lock(&self.state);
        *state
            .counters
            .requests_by_operation
            .entry(op.as_str())
            .or_default() += 1;
        let now = Instant::now();
        let token = headers
            .get(ACCESS_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let refusal = match token.map(|t| state.tokens.get(t).copied()) {
            None => Some(ACCESS_DENIED),
            Some(None) => Some("The access token you provided is revoked, malformed or invalid."),
            Some(Some(expires)) if expires <= now => {
                Some("The access token you provided has expired.")
            }
            Some(Some(_)) => None,
        };
        if let Some(message) = refusal {
            state.counters.unauthorized += 1;
            return Err(sp_refusal(StatusCode::FORBIDDEN, "Unauthorized", message));
        }
        let multiplier = self.config.rate_multiplier;
        let forced = state.force_throttle > 0;
        let bucket = state.buckets.entry(op).or_insert_with(|| {
            let (rate, burst) = op.plan();
            Bucket::full(burst, rate * multiplier, now)
        });
        bucket.refill(now);
        let throttled = if forced {
            state.force_throttle -= 1;
            true
        } else {
            !bucket.take(1.0, now)
        };
        if throttled {
            state.counters.throttled += 1;
            *state
                .counters
                .throttled_by_operation
                .entry(op.as_str())
                .or_default() += 1;
            return Err(sp_refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "QuotaExceeded",
                "You exceeded your quota for the requested resource.",
            ));
        }
        Ok(())
    }
}

/// Runs an SP-API operation: auth, rate limit, then the handler; the answer
/// carries the operation's `x-amzn-RateLimit-Limit` and a request id.
async fn sp_api(State((sim, op)): State<(Sim, Op)>, request: Request, next: Next) -> Response {
    let mut response = match sim.admit(op, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    };
    if response.status() == StatusCode::BAD_REQUEST {
        lock(&sim.state).counters.invalid_requests += 1;
    }
    let rate = op.plan().0 * sim.config.rate_multiplier;
    if let Ok(value) = HeaderValue::from_str(&format!("{rate}")) {
        response.headers_mut().insert(RATE_LIMIT_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&uuid(&mut lock(&sim.base.rng))) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// Expires every access token issued so far (tests of the 403 → refresh path).
async fn expire_tokens(State(sim): State<Sim>) -> Response {
    let mut state = lock(&sim.state);
    let now = Instant::now();
    for expiry in state.tokens.values_mut() {
        *expiry = now;
    }
    Json(json!({ "expired": state.tokens.len() })).into_response()
}

impl Marketplace for AmazonSim {
    fn kind(&self) -> &'static str {
        "amazon"
    }

    fn title(&self) -> &'static str {
        "Amazon"
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
        AmazonSim::stats(self)
    }

    /// Sets the throttles still owed.
    fn force_throttle(&self, body: &[u8]) -> Response {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            count: u64,
        }
        match crate::wire::parse_body::<Body>(body) {
            Ok(b) => {
                lock(&self.state).force_throttle = b.count;
                Json(json!({ "force_throttle": b.count })).into_response()
            }
            Err(e) => e.into_response(),
        }
    }

    fn base(&self) -> &Base {
        &self.base
    }
}
