//! The experience layer: webhooks in, the `/v1` JSON API, health, readiness
//! and Prometheus metrics. Handlers never call connectors: a webhook is
//! verified, committed to the inbox and acknowledged; everything else is the
//! engine's work.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crossdock_engine::{Engine, order_entity_key};
use crossdock_model::ErrorCode;
use crossdock_store::{ExceptionFilter, OrderFilter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

mod error;

pub use error::ApiError;

/// Options of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest webhook body accepted; larger ones get 413 and are kept as rejected.
    pub max_body_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 1024 * 1024,
        }
    }
}

#[derive(Clone)]
struct AppState {
    engine: Engine,
    metrics: PrometheusHandle,
    options: Arc<ServerOptions>,
    ready: CancellationToken,
}

/// Install the process-wide Prometheus recorder once and return its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (tests running several hubs):
                // render from a private one instead of failing.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The router of the hub's HTTP surface.
pub fn router(engine: Engine, options: ServerOptions, ready: CancellationToken) -> Router {
    let state = AppState {
        engine,
        metrics: metrics_handle(),
        options: Arc::new(options),
        ready,
    };
    Router::new()
        .route("/webhooks/channels/{name}", post(channel_webhook))
        .route("/webhooks/warehouses/{name}", post(warehouse_webhook))
        .route("/v1/orders", get(list_orders))
        .route("/v1/orders/held", get(held_orders))
        .route("/v1/orders/{id}", get(get_order))
        .route("/v1/orders/{id}/release", post(release_order))
        .route("/v1/orders/{id}/timeline", get(order_timeline))
        .route("/v1/exceptions", get(list_exceptions))
        .route("/v1/exceptions/replay", post(replay_exceptions))
        .route("/v1/exceptions/{id}/replay", post(replay_one))
        .route("/v1/inventory", get(list_inventory))
        .route("/v1/inventory/{sku}", get(get_inventory))
        .route("/v1/availability", get(availability_stats))
        .route("/v1/availability/{sku}", get(sku_availability))
        .route("/v1/stats", get(stats))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such route") })
        // Bodies are read by the handlers with their own limit, so an
        // oversized webhook can still be recorded before it is refused.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

async fn read_body(state: &AppState, source: &str, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.options.max_body_bytes;
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(_) => {
            let reason = format!("body exceeds {limit} bytes");
            // The sender's bytes past the limit are not read; the record
            // keeps the fact and the reason.
            state
                .engine
                .reject(source, &reason, b"", state.engine.clock().now_ms())
                .await;
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InTooLarge,
                reason,
            ))
        }
    }
}

async fn channel_webhook(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&s, &format!("channel:{name}"), body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match s
        .engine
        .receive_channel_webhook(&name, &headers, &body)
        .await
    {
        Ok(receipt) => {
            let status = match &receipt.acceptance {
                Some(crossdock_engine::AcceptanceOutcome::Refused { .. }) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                _ => StatusCode::OK,
            };
            (status, axum::Json(receipt)).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn warehouse_webhook(
    State(s): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&s, &format!("warehouse:{name}"), body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match s
        .engine
        .receive_warehouse_webhook(&name, &headers, &body)
        .await
    {
        Ok(receipt) => (StatusCode::OK, axum::Json(receipt)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn list_orders(
    State(s): State<AppState>,
    Query(filter): Query<OrderFilter>,
) -> Result<Response, ApiError> {
    let orders = s.engine.store().orders(&filter).await?;
    Ok(axum::Json(json!({ "orders": orders })).into_response())
}

async fn get_order(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = s.engine.store();
    let order = store
        .order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {id} not found")))?;
    let shipments = store.shipments_for(&id).await?;
    let reservations = store.reservations(&id).await?;
    let effects = store.effects_for(&order_entity_key(&id)).await?;
    Ok(axum::Json(json!({ "order": order, "shipments": shipments, "reservations": reservations, "effects": effects })).into_response())
}

async fn order_timeline(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = s.engine.store();
    if store.order(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("order {id} not found")));
    }
    let events = store.timeline(&order_entity_key(&id)).await?;
    Ok(axum::Json(json!({ "order_id": id, "events": events })).into_response())
}

async fn list_exceptions(
    State(s): State<AppState>,
    Query(filter): Query<ExceptionFilter>,
) -> Result<Response, ApiError> {
    let exceptions = s.engine.store().exceptions(&filter).await?;
    Ok(axum::Json(json!({ "exceptions": exceptions })).into_response())
}

async fn replay_exceptions(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let filter: ExceptionFilter = if body.is_empty() {
        ExceptionFilter::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(ErrorCode::ApiBadRequest, format!("replay filter: {e}"))
        })?
    };
    let actor = actor(&headers);
    let replayed = s
        .engine
        .replay(&filter, &actor)
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(json!({ "replayed": replayed.len(), "exceptions": replayed })).into_response())
}

async fn replay_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let filter = ExceptionFilter {
        id: Some(id.clone()),
        ..Default::default()
    };
    let replayed = s
        .engine
        .replay(&filter, &actor(&headers))
        .await
        .map_err(ApiError::internal)?;
    if replayed.is_empty() {
        return Err(ApiError::not_found(format!("no open exception {id}")));
    }
    Ok(axum::Json(json!({ "replayed": replayed.len(), "exceptions": replayed })).into_response())
}

/// `GET /v1/orders/held`: orders an order rule holds, the longest held first.
async fn held_orders(State(s): State<AppState>) -> Result<Response, ApiError> {
    let held = crossdock_engine::holds::held_orders(s.engine.store(), 1_000)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(axum::Json(json!({ "orders": held })).into_response())
}

/// `POST /v1/orders/{id}/release` with `{"reason": "…"}`: release an order
/// an order rule holds; it goes on to the ERP at once.
async fn release_order(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Release {
        reason: String,
    }
    let req: Release = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            ErrorCode::ApiBadRequest,
            format!("body: expected {{\"reason\": \"…\"}}: {e}"),
        )
    })?;
    use crossdock_engine::ReleaseError;
    match s
        .engine
        .release_hold(&id, &actor(&headers), &req.reason)
        .await
    {
        Ok(rule) => Ok(axum::Json(json!({ "order_id": id, "released": rule })).into_response()),
        Err(e @ ReleaseError::NoSuchOrder(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e @ (ReleaseError::NotHeld(_) | ReleaseError::AlreadyReleased { .. })) => Err(
            ApiError::new(StatusCode::CONFLICT, ErrorCode::ApiConflict, e.to_string()),
        ),
        Err(e @ ReleaseError::NoReason) => Err(ApiError::bad_request(
            ErrorCode::ApiBadRequest,
            e.to_string(),
        )),
        Err(e @ ReleaseError::Store(_)) => Err(ApiError::unavailable(e)),
    }
}

fn actor(headers: &HeaderMap) -> String {
    headers
        .get("x-crossdock-actor")
        .and_then(|v| v.to_str().ok())
        .map(|a| format!("api:{a}"))
        .unwrap_or_else(|| "api".to_owned())
}

async fn list_inventory(State(s): State<AppState>) -> Result<Response, ApiError> {
    let positions = s.engine.store().positions(None).await?;
    Ok(axum::Json(json!({ "positions": positions })).into_response())
}

async fn get_inventory(
    State(s): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Response, ApiError> {
    let positions = s.engine.store().positions(Some(&sku)).await?;
    if positions.is_empty() {
        return Err(ApiError::not_found(format!("no positions for SKU {sku}")));
    }
    let available: i64 = positions.iter().map(|p| p.on_hand - p.reserved).sum();
    Ok(
        axum::Json(json!({ "sku": sku, "available": available, "positions": positions }))
            .into_response(),
    )
}

/// Sync lag and exposure per channel that is sent availability.
async fn availability_stats(State(s): State<AppState>) -> Result<Response, ApiError> {
    let channels = s
        .engine
        .availability()
        .stats()
        .await
        .map_err(ApiError::unavailable)?;
    Ok(axum::Json(json!({ "channels": channels })).into_response())
}

/// One SKU: positions, what each channel shows and is owed, and why.
async fn sku_availability(
    State(s): State<AppState>,
    Path(sku): Path<String>,
) -> Result<Response, ApiError> {
    match s
        .engine
        .availability()
        .sku(&sku)
        .await
        .map_err(ApiError::unavailable)?
    {
        Some(described) => Ok(axum::Json(described).into_response()),
        None => Err(ApiError::not_found(
            "this hub has no [availability] policies: channels are not sent stock",
        )),
    }
}

async fn stats(State(s): State<AppState>) -> Result<Response, ApiError> {
    let store = s.engine.store();
    let now = s.engine.clock().now_ms();
    let orders: serde_json::Map<String, serde_json::Value> = store
        .order_status_counts()
        .await?
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    Ok(axum::Json(json!({
        "orders": orders,
        "inbox": store.inbox_counts().await?,
        "jobs": store.queue_stats(now).await?,
        // Jobs waiting without spending attempts, by why: a breaker, a rate
        // limit, or an order its channel holds back (`pending_payment`).
        "waiting": store.waiting_counts().await?,
        "exceptions": store.exception_counts().await?.into_iter()
            .map(|(class, status, n)| json!({ "class": class, "status": status, "count": n })).collect::<Vec<_>>(),
        "effects": store.effect_counts().await?.into_iter()
            .map(|(target, status, n)| json!({ "target": target, "status": status, "count": n })).collect::<Vec<_>>(),
        "erp_governor": s.engine.erp_governor_status(),
    }))
    .into_response())
}

async fn readyz(State(s): State<AppState>) -> Response {
    if !s.ready.is_cancelled() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::SrvUnavailable,
            "starting",
        )
        .into_response();
    }
    match s
        .engine
        .store()
        .queue_stats(s.engine.clock().now_ms())
        .await
    {
        Ok(_) => axum::Json(json!({ "status": "ready" })).into_response(),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::SrvUnavailable,
            format!("store: {e}"),
        )
        .into_response(),
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        s.metrics.render(),
    )
        .into_response()
}
