//! The shop's route table, and the gateway in front of it: the API
//! version and the access token for every Admin API call, then the REST
//! leaky bucket (every REST call costs one unit, an unknown path too) or,
//! for GraphQL, the forced throttles (its cost bucket needs the parsed query).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, any, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::is_api_version;
use super::graphql;
use super::payouts;
use super::rest;
use super::state::ShopifySim;
use super::wire::{not_found, rest_error, throttled};
use crate::faults::gate;
use crate::marketplace::base::Base;
use crate::marketplace::simulator::{Generation, Marketplace};
use crate::wire::lock;

type Sim = Arc<ShopifySim>;

impl ShopifySim {
    fn routes(self: Arc<Self>) -> Router {
        // One REST endpoint: any other method (HEAD too) is Shopify's 404,
        // and every call pays the leaky bucket first.
        let rest_call = |route: MethodRouter<Sim>| -> MethodRouter<Sim> {
            route
                .head(rest::unknown)
                .fallback(rest::unknown)
                .layer(from_fn_with_state(self.clone(), rest_bucket))
        };
        let version = "/admin/api/{version}";
        Router::new()
            .route(
                &format!("{version}/graphql.json"),
                post(graphql::graphql)
                    .route_layer(from_fn_with_state(self.clone(), forced_throttle))
                    .head(rest::unknown)
                    .fallback(rest::unknown),
            )
            .route(
                &format!("{version}/orders.json"),
                rest_call(get(rest::list_orders)),
            )
            .route(
                &format!("{version}/orders/{{order_file}}"),
                rest_call(get(rest::get_order)),
            )
            .route(
                &format!("{version}/orders/{{order_id}}/fulfillment_orders.json"),
                rest_call(get(rest::fulfillment_orders)),
            )
            .route(
                &format!("{version}/orders/{{order_id}}/fulfillments.json"),
                rest_call(get(rest::fulfillments)),
            )
            .route(
                &format!("{version}/fulfillments.json"),
                rest_call(post(rest::create_fulfillment)),
            )
            .route(
                &format!("{version}/shopify_payments/payouts.json"),
                rest_call(get(payouts::list_payouts)),
            )
            .route(
                &format!("{version}/shopify_payments/payouts/{{payout_file}}"),
                rest_call(get(payouts::get_payout)),
            )
            .route(
                &format!("{version}/shopify_payments/balance/transactions.json"),
                rest_call(get(payouts::balance_transactions)),
            )
            .route(
                &format!("{version}/{{*rest}}"),
                rest_call(any(rest::unknown)),
            )
            .route_layer(from_fn_with_state(self.clone(), admin_gate))
            .layer(from_fn_with_state(self.base.gate.clone(), gate))
            // Test doors, outside the Admin API's gates.
            .route("/sim/settlements", get(payouts::list_settlements))
            .route(
                "/sim/settlements/close",
                post(payouts::close_settlement_now),
            )
            .with_state(self)
    }

    /// One unit of the REST bucket: the 429 to answer instead (bucket full,
    /// or a forced throttle), and how full the bucket is after the call.
    fn charge_rest_call(&self) -> (Option<Response>, u32) {
        let c = &self.config;
        let mut bucket = lock(&self.rest_bucket);
        let now = Instant::now();
        bucket.refill(now);
        if self.take_forced_throttle() || !bucket.take(1.0, now) {
            lock(&self.state).counters.throttled_429 += 1;
            let used = bucket.used().ceil() as u32;
            let refusal = throttled(
                c.retry_after_secs,
                "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
            );
            (Some(refusal), used.max(c.bucket_size))
        } else {
            (None, bucket.used().ceil() as u32)
        }
    }

    fn take_forced_throttle(&self) -> bool {
        let taken = self
            .forced_throttles
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if taken {
            lock(&self.state).counters.forced_throttles_served += 1;
        }
        taken
    }
}

/// Every Admin API call: a known API version, then the access token.
async fn admin_gate(
    State(sim): State<Sim>,
    Path(params): Path<HashMap<String, String>>,
    request: Request,
    next: Next,
) -> Response {
    if !params.get("version").is_some_and(|v| is_api_version(v)) {
        return not_found();
    }
    let token = request
        .headers()
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(sim.config.access_token.as_str()) {
        lock(&sim.state).counters.unauthorized += 1;
        return rest_error(
            StatusCode::UNAUTHORIZED,
            json!("[API] Invalid API key or access token (unrecognized login or wrong password)"),
        );
    }
    next.run(request).await
}

/// A REST call costs one unit of the leaky bucket; a full bucket (or a
/// forced throttle) is a 429. Every answer says how full the bucket is.
async fn rest_bucket(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    let (refusal, used) = sim.charge_rest_call();
    let mut response = match refusal {
        Some(throttled) => throttled,
        None => next.run(request).await,
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{used}/{}", sim.config.bucket_size)) {
        response
            .headers_mut()
            .insert("x-shopify-shop-api-call-limit", v);
    }
    response
}

/// GraphQL's forced throttles; its cost bucket is charged once the query is read.
async fn forced_throttle(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    if sim.take_forced_throttle() {
        return throttled(sim.config.retry_after_secs, "Throttled");
    }
    next.run(request).await
}

impl Marketplace for ShopifySim {
    fn kind(&self) -> &'static str {
        "shopify"
    }

    fn title(&self) -> &'static str {
        "Shopify"
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
        ShopifySim::stats(self)
    }

    /// Adds to the throttles still owed.
    fn force_throttle(&self, body: &[u8]) -> Response {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            count: u64,
        }
        match crate::wire::parse_body::<Body>(body) {
            Ok(b) => {
                let left = self.forced_throttles.fetch_add(b.count, Ordering::SeqCst) + b.count;
                Json(json!({ "forced_throttles_left": left })).into_response()
            }
            Err(e) => e.into_response(),
        }
    }

    fn base(&self) -> &Base {
        &self.base
    }
}
