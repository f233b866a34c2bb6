//! The experience layer: webhooks in, the `/v1` JSON API, health, readiness
//! and Prometheus metrics. Handlers never call connectors: a webhook is
//! verified, committed to the inbox and acknowledged; everything else is the
//! engine's work.
//!
//! Every `/v1` route is in one table, `v1_routes`, with the scope it needs;
//! the router is built from it and the key middleware (`auth/`) reads it,
//! so a route cannot be added without a scope. Webhooks are not keyed (they
//! are signed by their senders); `/healthz`, `/readyz` and the contract
//! `/v1/openapi.json` (`openapi.rs`) are open, and `/metrics` unless
//! `ServerOptions::metrics_require_key`. Every `/v1` body is a type of
//! `bodies.rs`, so the contract describes the JSON the handlers write.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, on, post};
use axum::{Extension, Router};
use crossdock_engine::{Engine, order_entity_key};
use crossdock_model::ErrorCode;
use crossdock_store::{ApiScope, ExceptionFilter, OrderFilter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub mod auth;
mod authority_api;
mod bodies;
mod error;
mod extract;
mod keys_api;
mod openapi;
mod schema;
mod settlements_api;
pub mod tls;

pub use auth::{ApiKeys, Caller};
pub use error::{ApiError, ErrorBody};

use bodies::*;
use extract::{ApiPath, ApiQuery};
use schema::QueryOf;

/// The `/v1` contract, OpenAPI 3.1, as `GET /v1/openapi.json` serves it and
/// `docs/openapi.json` keeps it (pretty JSON, final newline).
pub fn openapi_document() -> String {
    openapi::document_text(&keyed_routes(&ServerOptions::default()))
}

/// A JSON answer with its status.
type Answer<T> = Result<(StatusCode, axum::Json<T>), ApiError>;

fn ok<T>(body: T) -> Answer<T> {
    Ok((StatusCode::OK, axum::Json(body)))
}

/// Options of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest webhook body accepted; larger ones get 413 and are kept as rejected.
    pub max_body_bytes: usize,
    /// `/metrics` needs a key with the `read` scope, like `/v1`.
    pub metrics_require_key: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_body_bytes: 1024 * 1024,
            metrics_require_key: false,
        }
    }
}

#[derive(Clone)]
struct AppState {
    engine: Engine,
    keys: ApiKeys,
    metrics: PrometheusHandle,
    options: Arc<ServerOptions>,
    ready: CancellationToken,
}

/// A keyed route: its method, its path template and the scope it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRoute {
    pub method: Method,
    pub path: &'static str,
    pub scope: ApiScope,
}

/// `METHOD "path" scope => handler`: one row of the route table, whose
/// method both routes the request and names the scope.
macro_rules! route_table {
    ($($method:ident $path:literal $scope:ident => $handler:expr),* $(,)?) => {
        vec![$((
            KeyedRoute { method: Method::$method, path: $path, scope: ApiScope::$scope },
            on(MethodFilter::$method, $handler),
        )),*]
    };
}

/// The `/v1` API: every route with the scope it needs. `read` is every
/// GET; `operate` acts on the hub's work (replay; edit and resubmit,
/// settlement resolution when they come); `admin` is keys and configuration.
fn v1_routes() -> Vec<(KeyedRoute, MethodRouter<AppState>)> {
    route_table![
        GET "/v1/orders" Read => list_orders,
        GET "/v1/orders/held" Read => held_orders,
        GET "/v1/orders/{id}" Read => get_order,
        POST "/v1/orders/{id}/release" Operate => release_order,
        GET "/v1/orders/{id}/timeline" Read => order_timeline,
        GET "/v1/exceptions" Read => list_exceptions,
        POST "/v1/exceptions/replay" Operate => replay_exceptions,
        POST "/v1/exceptions/{id}/replay" Operate => replay_one,
        GET "/v1/inventory" Read => list_inventory,
        GET "/v1/inventory/{sku}" Read => get_inventory,
        GET "/v1/availability" Read => availability_stats,
        GET "/v1/availability/{sku}" Read => sku_availability,
        GET "/v1/stats" Read => stats,
        GET "/v1/authority" Read => authority_api::get_authority,
        GET "/v1/keys" Admin => keys_api::list_keys,
        POST "/v1/keys" Admin => keys_api::create_key,
        POST "/v1/keys/{name}/revoke" Admin => keys_api::revoke_key,
        GET "/v1/audit" Admin => keys_api::audit,
        GET "/v1/config/versions" Admin => config_versions,
        GET "/v1/settlements" Read => settlements_api::list_settlements,
        GET "/v1/settlement-residuals" Read => settlements_api::list_residuals,
        GET "/v1/settlements/{id}" Read => settlements_api::get_settlement,
        POST "/v1/settlements" Operate => settlements_api::import,
        POST "/v1/settlement-residuals/{id}/resolve" Operate => settlements_api::resolve,
    ]
}

/// The keyed routes of the router, as its key middleware sees them (for
/// tests that walk every route, and for documentation).
pub fn keyed_routes(options: &ServerOptions) -> Vec<KeyedRoute> {
    let mut routes: Vec<KeyedRoute> = v1_routes().into_iter().map(|(r, _)| r).collect();
    if options.metrics_require_key {
        routes.push(KeyedRoute {
            method: Method::GET,
            path: "/metrics",
            scope: ApiScope::Read,
        });
    }
    routes
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

/// The router of the hub's HTTP surface; `keys` are the API keys `/v1`
/// accepts.
pub fn router(
    engine: Engine,
    keys: ApiKeys,
    options: ServerOptions,
    ready: CancellationToken,
) -> Router {
    let keyed_table = keyed_routes(&options);
    let metrics_keyed = options.metrics_require_key;
    let state = AppState {
        engine,
        keys: keys.clone(),
        metrics: metrics_handle(),
        options: Arc::new(options),
        ready,
    };
    let mut keyed = Router::new();
    for (route, handler) in v1_routes() {
        keyed = keyed.route(route.path, handler);
    }
    let mut open = Router::new()
        .route("/webhooks/channels/{name}", post(channel_webhook))
        .route("/webhooks/warehouses/{name}", post(warehouse_webhook))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        // Open like /healthz: the contract is public knowledge, holds no
        // data, and a client needs it before it has a key.
        .route("/v1/openapi.json", get(openapi_json));
    if metrics_keyed {
        keyed = keyed.route("/metrics", get(metrics));
    } else {
        open = open.route("/metrics", get(metrics));
    }
    let keyed = auth::behind_keys(keyed, keys, &keyed_table);
    open.merge(keyed)
        .fallback(|| async { ApiError::not_found("no such route") })
        // Bodies are read by the handlers with their own limit, so an
        // oversized webhook can still be recorded before it is refused.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` is cancelled; HTTPS when
/// `tls` is given (see [`tls::server_config`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let stop = async move { shutdown.cancelled().await };
    match tls {
        None => {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop)
            .await
        }
        Some(config) => {
            axum::serve(tls::TlsListener::new(listener, config)?, router)
                .with_graceful_shutdown(stop)
                .await
        }
    }
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

/// Orders, the most recently changed first.
#[utoipa::path(get, path = "/v1/orders", tag = "orders",
    params(QueryOf<OrderFilter>),
    responses(
        (status = 200, description = "Orders matching the filter", body = ref("#/components/schemas/OrderList"), content_type = "application/json"),
        (status = 400, description = "A query parameter that does not parse (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn list_orders(
    State(s): State<AppState>,
    ApiQuery(filter): ApiQuery<OrderFilter>,
) -> Answer<OrderList> {
    let orders = s.engine.store().orders(&filter).await?;
    ok(OrderList { orders })
}

/// One order with its shipments, reservations and effects.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "The hub's order id")),
    responses(
        (status = 200, description = "The order", body = ref("#/components/schemas/OrderDetail"), content_type = "application/json"),
        (status = 404, description = "No such order (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn get_order(State(s): State<AppState>, ApiPath(id): ApiPath<String>) -> Answer<OrderDetail> {
    let store = s.engine.store();
    let order = store
        .order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {id} not found")))?;
    let shipments = store.shipments_for(&id).await?;
    let reservations = store.reservations(&id).await?;
    let effects = store.effects_for(&order_entity_key(&id)).await?;
    ok(OrderDetail {
        order,
        shipments,
        reservations,
        effects,
    })
}

/// The order's timeline: every event the hub recorded for it, in order.
#[utoipa::path(get, path = "/v1/orders/{id}/timeline", tag = "orders",
    params(("id" = String, Path, description = "The hub's order id")),
    responses(
        (status = 200, description = "The events", body = ref("#/components/schemas/OrderTimeline"), content_type = "application/json"),
        (status = 404, description = "No such order (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn order_timeline(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Answer<OrderTimeline> {
    let store = s.engine.store();
    if store.order(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("order {id} not found")));
    }
    let events = store.timeline(&order_entity_key(&id)).await?;
    ok(OrderTimeline {
        order_id: id,
        events,
    })
}

/// The exception queue: steps that gave up, oldest first.
#[utoipa::path(get, path = "/v1/exceptions", tag = "exceptions",
    params(QueryOf<ExceptionFilter>),
    responses(
        (status = 200, description = "Exceptions matching the filter", body = ref("#/components/schemas/ExceptionList"), content_type = "application/json"),
        (status = 400, description = "A query parameter that does not parse (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn list_exceptions(
    State(s): State<AppState>,
    ApiQuery(filter): ApiQuery<ExceptionFilter>,
) -> Answer<ExceptionList> {
    let exceptions = s.engine.store().exceptions(&filter).await?;
    ok(ExceptionList { exceptions })
}

/// Replay every open exception the filter matches (an empty body matches
/// all); effects already applied are not repeated.
#[utoipa::path(post, path = "/v1/exceptions/replay", tag = "exceptions",
    params(
        ("X-Crossdock-Actor" = Option<String>, Header, description = "The person a shared key acts for (recorded, not verified)"),
    ),
    request_body(content = ref("#/components/schemas/ExceptionFilter"), content_type = "application/json",
        description = "Which exceptions; empty fields (or no body) match everything"),
    responses(
        (status = 200, description = "What was replayed", body = ref("#/components/schemas/Replayed"), content_type = "application/json"),
        (status = 400, description = "A body that is not a filter (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn replay_exceptions(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Replayed> {
    let filter: ExceptionFilter = if body.is_empty() {
        ExceptionFilter::default()
    } else {
        extract::json_object(&body, "replay filter")?
    };
    let actor = actor(&caller, &headers);
    let replayed = s
        .engine
        .replay(&filter, &actor)
        .await
        .map_err(ApiError::internal)?;
    ok(Replayed {
        replayed: replayed.len(),
        exceptions: replayed,
    })
}

/// Replay one open exception.
#[utoipa::path(post, path = "/v1/exceptions/{id}/replay", tag = "exceptions",
    params(
        ("id" = String, Path, description = "The exception's id"),
        ("X-Crossdock-Actor" = Option<String>, Header, description = "The person a shared key acts for (recorded, not verified)"),
    ),
    responses(
        (status = 200, description = "It was replayed", body = ref("#/components/schemas/Replayed"), content_type = "application/json"),
        (status = 404, description = "No open exception with this id (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn replay_one(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Answer<Replayed> {
    let filter = ExceptionFilter {
        id: Some(id.clone()),
        ..Default::default()
    };
    let replayed = s
        .engine
        .replay(&filter, &actor(&caller, &headers))
        .await
        .map_err(ApiError::internal)?;
    if replayed.is_empty() {
        return Err(ApiError::not_found(format!("no open exception {id}")));
    }
    ok(Replayed {
        replayed: replayed.len(),
        exceptions: replayed,
    })
}

/// Orders an order rule holds, the longest held first.
#[utoipa::path(get, path = "/v1/orders/held", tag = "orders",
    responses(
        (status = 200, description = "Held orders", body = ref("#/components/schemas/OrderList"), content_type = "application/json"),
    ))]
async fn held_orders(State(s): State<AppState>) -> Answer<OrderList> {
    let orders = crossdock_engine::holds::held_orders(s.engine.store(), 1_000)
        .await
        .map_err(ApiError::unavailable)?;
    ok(OrderList { orders })
}

/// Release an order an order rule holds; it goes on to the ERP at once.
/// The release and its reason go on the order's timeline.
#[utoipa::path(post, path = "/v1/orders/{id}/release", tag = "orders",
    params(
        ("id" = String, Path, description = "The hub's order id"),
        ("X-Crossdock-Actor" = Option<String>, Header, description = "The person a shared key acts for (recorded, not verified)"),
    ),
    request_body(content = ref("#/components/schemas/ReleaseRequest"), content_type = "application/json"),
    responses(
        (status = 200, description = "Released", body = ref("#/components/schemas/Released"), content_type = "application/json"),
        (status = 400, description = "No body, a body of another shape, or an empty reason (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
        (status = 404, description = "No such order (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
        (status = 409, description = "The order is not held, or its hold was released already (CD-API-0409)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn release_order(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer<Released> {
    let req: ReleaseRequest = extract::json_object(&body, "body: expected {\"reason\": \"…\"}")?;
    use crossdock_engine::ReleaseError;
    match s
        .engine
        .release_hold(&id, &actor(&caller, &headers), &req.reason)
        .await
    {
        Ok(rule) => ok(Released {
            order_id: id,
            released: rule,
        }),
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

/// Who acted, for the timeline: `api:<key name>`, and the person a shared
/// key acted for when the client says (`X-Crossdock-Actor`, unverified),
/// `api:<key name>/<actor>`.
fn actor(caller: &Caller, headers: &HeaderMap) -> String {
    match headers
        .get("x-crossdock-actor")
        .and_then(|v| v.to_str().ok())
    {
        Some(a) => format!("api:{}/{a}", caller.key_name),
        None => format!("api:{}", caller.key_name),
    }
}

/// Every stock position (SKU × location).
#[utoipa::path(get, path = "/v1/inventory", tag = "inventory",
    responses(
        (status = 200, description = "The positions", body = ref("#/components/schemas/PositionList"), content_type = "application/json"),
    ))]
async fn list_inventory(State(s): State<AppState>) -> Answer<PositionList> {
    let positions = s.engine.store().positions(None).await?;
    ok(PositionList { positions })
}

/// One SKU's positions and what is available of it.
#[utoipa::path(get, path = "/v1/inventory/{sku}", tag = "inventory",
    params(("sku" = String, Path, description = "The SKU")),
    responses(
        (status = 200, description = "The SKU's positions", body = ref("#/components/schemas/SkuPositions"), content_type = "application/json"),
        (status = 404, description = "No position for the SKU (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn get_inventory(
    State(s): State<AppState>,
    ApiPath(sku): ApiPath<String>,
) -> Answer<SkuPositions> {
    let positions = s.engine.store().positions(Some(&sku)).await?;
    if positions.is_empty() {
        return Err(ApiError::not_found(format!("no positions for SKU {sku}")));
    }
    let available: i64 = positions.iter().map(|p| p.on_hand - p.reserved).sum();
    ok(SkuPositions {
        sku,
        available,
        positions,
    })
}

/// Sync lag and exposure per channel that is sent availability.
#[utoipa::path(get, path = "/v1/availability", tag = "inventory",
    responses(
        (status = 200, description = "One entry per channel sent availability (none without [availability] policies)", body = ref("#/components/schemas/AvailabilityStats"), content_type = "application/json"),
    ))]
async fn availability_stats(State(s): State<AppState>) -> Answer<AvailabilityStats> {
    let channels = s
        .engine
        .availability()
        .stats()
        .await
        .map_err(ApiError::unavailable)?;
    ok(AvailabilityStats { channels })
}

/// One SKU: positions, what each channel shows and is owed, and why.
#[utoipa::path(get, path = "/v1/availability/{sku}", tag = "inventory",
    params(("sku" = String, Path, description = "The SKU")),
    responses(
        (status = 200, description = "The SKU's availability with its reasons", body = ref("#/components/schemas/SkuAvailability"), content_type = "application/json"),
        (status = 404, description = "This hub has no [availability] policies (CD-API-0404)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn sku_availability(
    State(s): State<AppState>,
    ApiPath(sku): ApiPath<String>,
) -> Answer<crossdock_engine::availability::SkuAvailability> {
    match s
        .engine
        .availability()
        .sku(&sku)
        .await
        .map_err(ApiError::unavailable)?
    {
        Some(described) => ok(described),
        None => Err(ApiError::not_found(
            "this hub has no [availability] policies: channels are not sent stock",
        )),
    }
}

/// What the hub holds and does: orders by status, the inbox, the job
/// queue, waiting jobs, exceptions, effects and the ERP's governor.
#[utoipa::path(get, path = "/v1/stats", tag = "hub",
    responses(
        (status = 200, description = "The counts", body = ref("#/components/schemas/Stats"), content_type = "application/json"),
    ))]
async fn stats(State(s): State<AppState>) -> Answer<Stats> {
    let store = s.engine.store();
    let now = s.engine.clock().now_ms();
    ok(Stats {
        orders: store.order_status_counts().await?.into_iter().collect(),
        inbox: store.inbox_counts().await?,
        jobs: store.queue_stats(now).await?,
        waiting: store.waiting_counts().await?,
        exceptions: store
            .exception_counts()
            .await?
            .into_iter()
            .map(|(class, status, count)| ExceptionCount {
                class,
                status,
                count,
            })
            .collect(),
        effects: store
            .effect_counts()
            .await?
            .into_iter()
            .map(|(target, status, count)| EffectCount {
                target,
                status,
                count,
            })
            .collect(),
        erp_governor: s.engine.erp_governor_status(),
    })
}

async fn openapi_json() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.get_or_init(openapi_document).clone(),
    )
        .into_response()
}

/// `GET /v1/config/versions?limit=N`: the configurations the hubs on this
/// store ran or refused, newest first (hash, time, who, what triggered it).
#[utoipa::path(get, path = "/v1/config/versions", tag = "hub",
    params(QueryOf<VersionsQuery>),
    responses(
        (status = 200, description = "The versions", body = ref("#/components/schemas/ConfigVersionList"), content_type = "application/json"),
        (status = 400, description = "A query parameter that does not parse (CD-API-0400)", body = ref("#/components/schemas/ErrorBody"), content_type = "application/json"),
    ))]
async fn config_versions(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Answer<ConfigVersionList> {
    let versions = s
        .engine
        .store()
        .config_versions(q.limit.unwrap_or(100))
        .await?;
    ok(ConfigVersionList { versions })
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
