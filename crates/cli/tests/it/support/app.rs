//! `spawn_app` for the hub's HTTP-surface tests: a whole hub in-process
//! (SQLite in a temp dir, listener on 127.0.0.1:0) in front of the simulated
//! estate, plus request helpers.
//!
//! The hub's `webstore` connection points at a small in-test stand-in of the
//! webstore API rather than at the estate's channel simulator: the simulator
//! only knows the orders it generated itself and answers 404 to a ship
//! confirmation for any other, so a hand-made order could never get past
//! `shipped` against it. The stand-in accepts confirmations for any order and
//! records them. ERP and warehouses are the estate's simulators.

#![allow(dead_code)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use crossdock::config::Config;
use crossdock::hub::{self, RunningHub};
use crossdock_connectors::signature::{self, WebhookSecret};
use crossdock_engine::Engine;
use crossdock_sim::{Estate, EstateHandle, SimConfig};
use crossdock_store::Store;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const CHANNEL: &str = "webstore";

/// The name of the admin key every `TestApp` client sends.
pub const TEST_KEY_NAME: &str = "test-admin";

/// A running hub, its estate and how to talk to them.
pub struct TestApp {
    pub url: String,
    /// Sends `Authorization: Bearer <key>` with the admin key `test-admin`.
    pub client: reqwest::Client,
    /// Sends no key (for the tests of the door itself).
    pub bare: reqwest::Client,
    /// The secret of `test-admin`.
    pub key: String,
    pub keys: crossdock_server::ApiKeys,
    pub engine: Engine,
    pub store: Store,
    pub estate: EstateHandle,
    pub channel: ChannelStandIn,
    pub config: Config,
    /// The key the webstore and the warehouses sign with (the demo's, in
    /// the test's data dir).
    pub signing: WebhookSecret,
    /// The last timestamp each message id was signed with (`post_signed`).
    attempts: Mutex<std::collections::HashMap<String, i64>>,
    hub: Option<RunningHub>,
    _dir: TempDir,
}

/// A reply: status and body (JSON when it parses, else the text as a string).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_, _| {}).await
}

/// Start estate and hub. `tweak` sees the simulator and hub configuration
/// after the test defaults are applied and before anything starts.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut SimConfig, &mut Config)) -> TestApp {
    spawn_app_on_clock(tweak, Arc::new(crossdock_engine::SystemClock)).await
}

/// [`spawn_app_with`] with the hub's engine on `clock`.
pub async fn spawn_app_on_clock(
    tweak: impl FnOnce(&mut SimConfig, &mut Config),
    clock: Arc<dyn crossdock_engine::Clock>,
) -> TestApp {
    init_tracing();
    // Bind the hub first so the simulators know where to deliver.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind hub listener");
    let addr = listener.local_addr().expect("hub address");
    let hub_url = format!("http://{addr}");
    let dir = tempfile::tempdir().expect("temp dir");

    let mut config = Config::demo();
    config.hub.data_dir = dir.path().join("data");
    let secret_path = config
        .use_demo_signing_secret()
        .expect("write the demo signing key");
    let signing = WebhookSecret::parse(&std::fs::read_to_string(&secret_path).expect("read it"))
        .expect("a whsec key");
    let mut sim = config.sim.take().expect("the demo configuration has a sim");
    sim.hub_url = hub_url.clone();
    sim.channel.listen = "127.0.0.1:0".into();
    // No generated orders: every order in these tests is hand-made.
    sim.channel.orders_per_sec = 0.0;
    sim.channel.duplicate_rate = 0.0;
    sim.channel.cancel_rate = 0.0;
    sim.erp.listen = "127.0.0.1:0".into();
    for w in &mut sim.warehouses {
        w.listen = "127.0.0.1:0".into();
        w.ship_delay_ms = 300;
        w.partial_ship_rate = 0.0;
    }
    config.hub.listen = addr.to_string();
    config.hub.database_url = None;
    config.engine.reconcile_interval_ms = 0;
    config.engine.poll_interval_ms = 50;
    config.engine.backoff_base_ms = 50;
    config.engine.backoff_max_ms = 2_000;
    tweak(&mut sim, &mut config);

    let estate = Estate::start(sim.clone()).await.expect("start the estate");
    if sim.channel.orders_per_sec == 0.0 {
        // Belt and braces: a zero rate places nothing; stopping says so too.
        estate.stop_generating();
    }
    let channel = ChannelStandIn::start().await;
    for c in &mut config.channels {
        if c.name == CHANNEL {
            c.base_url = channel.url.clone();
        }
    }
    config.erp.base_url = estate.erp_url();
    for (name, url) in estate.warehouse_urls() {
        if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
            w.set_base_url(url);
        }
    }
    config.sim = Some(sim);
    config
        .validate("spawn_app")
        .expect("valid test configuration");

    let hub = hub::start_with_clock(&config, listener, clock)
        .await
        .expect("start the hub");
    assert_eq!(hub.url, hub_url);
    let engine = hub.engine.clone();
    let store = engine.store().clone();
    let key = admin_key(&hub.keys, TEST_KEY_NAME).await;
    TestApp {
        url: hub_url,
        client: keyed_client(&key),
        bare: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        key,
        keys: hub.keys.clone(),
        engine,
        store,
        estate,
        channel,
        config,
        signing,
        attempts: Mutex::default(),
        hub: Some(hub),
        _dir: dir,
    }
}

/// A new admin key on a running hub's keys; its secret.
pub async fn admin_key(keys: &crossdock_server::ApiKeys, name: &str) -> String {
    let (_, secret) = keys
        .create(&crossdock_server::auth::KeySpec {
            name: name.to_owned(),
            scopes: vec![crossdock_store::ApiScope::Admin],
            rate_per_sec: None,
            daily_quota: None,
            expires_at: None,
        })
        .await
        .expect("create a test key");
    secret.expose().to_owned()
}

/// A client that sends `key` with every request.
pub fn keyed_client(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("header value"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .expect("http client")
}

impl TestApp {
    pub async fn stop(mut self) {
        if let Some(hub) = self.hub.take() {
            hub.stop().await.expect("stop the hub");
        }
        self.estate.shutdown().await;
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.expect("read body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            body,
            content_type,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Self::reply(resp).await
    }

    /// POST raw bytes with the given headers.
    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Self::reply(resp).await
    }

    pub async fn post_json(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        self.post_raw(path, headers, serde_json::to_vec(body).expect("json"))
            .await
    }

    /// Deliver a webstore order document like the webstore does: signed.
    pub async fn post_order(&self, doc: &Value, event_id: &str) -> Reply {
        let body = serde_json::to_vec(doc).expect("json");
        self.post_signed(&format!("/webhooks/channels/{CHANNEL}"), event_id, body)
            .await
    }

    /// POST `body` signed with the demo key as an attempt of message `id`.
    /// Like a real sender, each attempt is signed at its own time: a second
    /// one within the same second gets the next second, so it is a
    /// redelivery (a duplicate) and never the same attempt (a replay).
    pub async fn post_signed(&self, path: &str, id: &str, body: Vec<u8>) -> Reply {
        let timestamp = {
            let mut last = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            let at = match last.get(id) {
                Some(previous) if *previous >= now_secs() => previous + 1,
                _ => now_secs(),
            };
            last.insert(id.to_owned(), at);
            at
        };
        let headers = signed_headers(&self.signing, id, timestamp, &body);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_raw(path, &headers, body).await
    }

    /// `GET /v1/orders/{id}` → `{"order","shipments","reservations","effects"}`, or None on 404.
    pub async fn order_view(&self, order_id: &str) -> Option<Value> {
        let r = self.get(&format!("/v1/orders/{order_id}")).await;
        match r.status {
            200 => Some(r.body),
            404 => None,
            s => panic!("GET /v1/orders/{order_id}: {s} {}", r.body),
        }
    }

    pub async fn order_status(&self, order_id: &str) -> Option<String> {
        self.order_view(order_id).await.map(|v| {
            v["order"]["status"]
                .as_str()
                .expect("order.status")
                .to_owned()
        })
    }

    /// Poll `GET /v1/orders/{id}` until its status is `status`.
    pub async fn wait_for_status(&self, order_id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let view = self.order_view(order_id).await;
            if let Some(v) = view.as_ref().filter(|v| v["order"]["status"] == status) {
                return v.clone();
            }
            if Instant::now() >= deadline {
                let timeline = self.timeline(order_id).await;
                let exceptions = self.get("/v1/exceptions").await.body;
                panic!(
                    "order {order_id} did not reach {status} within {within:?}; last view: {}\n\
                     timeline: {}\nexceptions: {exceptions}",
                    view.unwrap_or(Value::Null),
                    Value::Array(timeline)
                )
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The order's audit events, oldest first.
    pub async fn timeline(&self, order_id: &str) -> Vec<Value> {
        let r = self.get(&format!("/v1/orders/{order_id}/timeline")).await;
        if r.status == 404 {
            return Vec::new();
        }
        assert_eq!(r.status, 200, "timeline: {}", r.body);
        r.body["events"].as_array().expect("events").clone()
    }

    /// `to` of every `status_changed` event, in timeline order.
    pub async fn status_changes(&self, order_id: &str) -> Vec<String> {
        self.timeline(order_id)
            .await
            .iter()
            .filter(|e| e["kind"] == "status_changed")
            .map(|e| e["detail"]["to"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    pub async fn erp_stats(&self) -> Value {
        self.estate.stats().await["erp"].clone()
    }

    /// Sales orders the ERP simulator holds for a webstore order.
    pub async fn sales_orders_for(&self, external_id: &str) -> u64 {
        self.erp_stats().await["sales_orders_per_reference"][format!("{CHANNEL}:{external_id}")]
            .as_u64()
            .unwrap_or(0)
    }

    pub async fn exceptions(&self, query: &str) -> Vec<Value> {
        let r = self.get(&format!("/v1/exceptions{query}")).await;
        assert_eq!(r.status, 200, "exceptions: {}", r.body);
        r.body["exceptions"].as_array().expect("exceptions").clone()
    }
}

/// The Standard Webhooks headers of one attempt of message `id`.
pub fn signed_headers(
    secret: &WebhookSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        (signature::ID_HEADER, id.to_owned()),
        (signature::TIMESTAMP_HEADER, timestamp.to_string()),
        (
            signature::SIGNATURE_HEADER,
            signature::sign(secret, id, timestamp, body),
        ),
    ]
}

/// Seconds since the epoch, as a sender stamps an attempt.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The hub's id of a webstore order.
pub fn order_id(external_id: &str) -> String {
    crossdock_model::order_id_for(CHANNEL, external_id)
}

/// Poll `check` every 100 ms until it yields `Some`, for at most `within`.
pub async fn wait_until<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A webstore order document (docs/sim-api.md) with one line: 2 × SKU-001 at
/// 19.99, tax 3.20, shipping 4.99, so the total is exactly 48.17.
pub fn order_doc(external_id: &str, sequence: i64) -> Value {
    json!({
        "order_id": external_id,
        "sequence": sequence,
        "status": "open",
        "updated_at": "2026-11-26T20:00:00Z",
        "created_at": "2026-11-26T20:00:00Z",
        "currency": "USD",
        "buyer": { "id": "B-42", "email": "b42@example.com", "name": "Buyer 42", "phone": null },
        "ship_to": { "name": "Buyer 42", "line1": "1 Main St", "line2": null, "city": "Springfield",
                     "region": "IL", "postal_code": "62701", "country": "US" },
        "items": [ { "line_id": "1", "sku": "SKU-001", "title": "Widget", "quantity": 2,
                     "unit_price": "19.99", "discount": "0.00", "tax": "3.20" } ],
        "shipping": "4.99",
        "total": "48.17",
        "service_level": "standard"
    })
}

pub fn event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Ship confirmations received by the stand-in: `(order_id, body)`.
#[derive(Clone, Default)]
struct StandInState {
    confirmations: Arc<Mutex<Vec<(String, Value)>>>,
}

/// The webstore API subset the hub calls, for orders the estate's channel
/// simulator did not generate.
pub struct ChannelStandIn {
    pub url: String,
    state: StandInState,
}

impl ChannelStandIn {
    async fn start() -> ChannelStandIn {
        let state = StandInState::default();
        let router = Router::new()
            .route("/orders", get(|| async { Json(json!({ "orders": [] })) }))
            .route(
                "/orders/{order_id}/shipments",
                get(list_confirmations).post(confirm_shipment),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("stand-in address")
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        ChannelStandIn { url, state }
    }

    /// Ship confirmations received for a webstore order.
    pub fn confirmations_for(&self, external_id: &str) -> Vec<Value> {
        self.state
            .confirmations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(o, _)| o == external_id)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

async fn list_confirmations(
    State(s): State<StandInState>,
    Path(order_id): Path<String>,
) -> Json<Value> {
    let all = s.confirmations.lock().unwrap_or_else(|p| p.into_inner());
    let shipments: Vec<Value> = all
        .iter()
        .enumerate()
        .filter(|(_, (o, _))| *o == order_id)
        .map(|(i, (_, b))| {
            json!({ "confirmation_id": format!("SC-{:06}", i + 1), "package_id": b["package_id"] })
        })
        .collect();
    Json(json!({ "shipments": shipments }))
}

async fn confirm_shipment(
    State(s): State<StandInState>,
    Path(order_id): Path<String>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let mut all = s.confirmations.lock().unwrap_or_else(|p| p.into_inner());
    all.push((order_id, body));
    let id = format!("SC-{:06}", all.len());
    (StatusCode::CREATED, Json(json!({ "confirmation_id": id })))
}
