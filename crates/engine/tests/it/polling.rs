//! Messages from a channel that is polled and whose webhooks are only
//! triggers, against a fake channel that counts what the hub asks it:
//! a polled order is never read again, a delivered one always is, however
//! its key reads; an order the channel holds back (Amazon's Pending) waits,
//! visibly and without spending attempts, until it is ready or cancelled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use crossdock_connectors::erp::RestErp;
use crossdock_connectors::{
    Channel, ChannelEvent, ConnectorError, HttpClient, HttpClientOptions, InboundEnvelope,
    InputError, ShipConfirmation,
};
use crossdock_engine::routing::{Router, RoutingOptions};
use crossdock_engine::{ChannelConnection, Clock, Connections, Engine, EngineOptions, ManualClock};
use crossdock_engine::{ShortShipPolicy, SplitPolicy, order_entity_key};
use crossdock_model::{ErpAcceptance, Order, order_id_for};
use crossdock_store::{ExceptionFilter, Store};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const T0: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// What the fake channel holds per order: its state and version.
#[derive(Clone)]
struct Held {
    state: &'static str,
    version: i64,
}

/// A channel whose webhooks are triggers (`{"key", "id"}`) and whose
/// orders are `{"id", "state", "version"}`; it counts reads of one order.
#[derive(Default)]
struct FakeChannel {
    orders: Mutex<HashMap<String, Held>>,
    refetches: Mutex<u64>,
}

impl FakeChannel {
    fn set(&self, id: &str, state: &'static str, version: i64) {
        self.orders
            .lock()
            .unwrap()
            .insert(id.to_owned(), Held { state, version });
    }

    fn body(id: &str, held: &Held) -> Vec<u8> {
        json!({ "id": id, "state": held.state, "version": held.version })
            .to_string()
            .into_bytes()
    }

    fn refetches(&self) -> u64 {
        *self.refetches.lock().unwrap()
    }
}

fn order(id: &str, version: i64) -> Order {
    serde_json::from_value(json!({
        "id": order_id_for("fake", id),
        "channel": "fake",
        "external_id": id,
        "source_version": version,
        "placed_at": "2027-01-15T10:00:00Z",
        "currency": "USD",
        "customer": { "email": "buyer@example.com", "name": "A Buyer" },
        "lines": [{
            "line_id": "1", "sku": "SKU-001", "title": "Thing", "quantity": 1,
            "unit_price": { "amount": "10.00", "currency": "USD" },
            "discount": { "amount": "0", "currency": "USD" },
            "tax": { "amount": "0", "currency": "USD" }
        }],
        "shipping": { "amount": "0", "currency": "USD" },
        "total": { "amount": "10.00", "currency": "USD" },
        "status": "received"
    }))
    .expect("a canonical order")
}

#[async_trait]
impl Channel for FakeChannel {
    fn name(&self) -> &str {
        "fake"
    }

    fn read_webhook(
        &self,
        _headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| InputError::new("$", e.to_string()))?;
        Ok(InboundEnvelope {
            message_key: v["key"].as_str().unwrap_or_default().to_owned(),
            external_order_id: v["id"].as_str().unwrap_or_default().to_owned(),
            source_version: 0,
        })
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| InputError::new("$", e.to_string()))?;
        let id = v["id"].as_str().unwrap_or_default().to_owned();
        let version = v["version"]
            .as_i64()
            .ok_or_else(|| InputError::new("version", "a trigger is not an order"))?;
        Ok(match v["state"].as_str() {
            Some("pending") => ChannelEvent::NotYet {
                external_order_id: id,
                reason: "Pending: payment not authorized yet".into(),
            },
            Some("canceled") => ChannelEvent::Cancelled {
                external_order_id: id,
                source_version: version,
                reason: "canceled".into(),
            },
            _ => ChannelEvent::Order(Box::new(order(&id, version))),
        })
    }

    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        *self.refetches.lock().unwrap() += 1;
        let v: Value = serde_json::from_slice(delivered)
            .map_err(|e| ConnectorError::rejected(e.to_string()))?;
        let id = v["id"].as_str().unwrap_or_default();
        let held = self.orders.lock().unwrap().get(id).cloned();
        let held = held.ok_or_else(|| ConnectorError::rejected(format!("no order {id}")))?;
        Ok(Some(Self::body(id, &held)))
    }

    async fn poll_updated_since(
        &self,
        _since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let orders = self.orders.lock().unwrap().clone();
        Ok(orders
            .iter()
            .map(|(id, held)| {
                (
                    InboundEnvelope {
                        message_key: format!("fake:poll:{id}:{}", held.version),
                        external_order_id: id.clone(),
                        source_version: held.version,
                    },
                    Self::body(id, held),
                )
            })
            .collect())
    }

    async fn confirm_shipment(&self, _c: &ShipConfirmation) -> Result<String, ConnectorError> {
        Err(ConnectorError::rejected("not in this test"))
    }

    async fn find_shipment_confirmation(
        &self,
        _external_order_id: &str,
        _package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }
}

struct Hub {
    engine: Engine,
    clock: Arc<ManualClock>,
    channel: Arc<FakeChannel>,
    _dir: tempfile::TempDir,
}

async fn hub() -> Hub {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let store = Store::open(&url).await.expect("store");
    let channel = Arc::new(FakeChannel::default());
    let http = HttpClient::new(HttpClientOptions::default()).expect("http");
    // Nothing here reaches the ERP; a step that tries finds it closed.
    let erp = Arc::new(RestErp::new("http://127.0.0.1:9/", http).expect("erp"));
    let connections = Connections {
        channels: HashMap::from([(
            "fake".to_owned(),
            ChannelConnection {
                connector: channel.clone(),
                acceptance: ErpAcceptance::Async,
                poll: true,
                short_ship: ShortShipPolicy::default(),
                split: SplitPolicy::default(),
                pacing: None,
            },
        )]),
        erp,
        erp_governor: None,
        warehouses: Vec::new(),
        router: crossdock_engine::live(Router::new(&RoutingOptions::default()).expect("router")),
        rules: Default::default(),
        availability: None,
        authority: Default::default(),
    };
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::new(
        store,
        connections,
        clock.clone() as Arc<dyn Clock>,
        EngineOptions::default(),
    );
    Hub {
        engine,
        clock,
        channel,
        _dir: dir,
    }
}

impl Hub {
    async fn webhook(&self, key: &str, id: &str) {
        let body = json!({ "key": key, "id": id }).to_string();
        self.engine
            .receive_channel_webhook("fake", &HeaderMap::new(), body.as_bytes())
            .await
            .expect("committed");
    }

    async fn timeline_kinds(&self, id: &str) -> Vec<Value> {
        let key = order_entity_key(&order_id_for("fake", id));
        self.engine
            .store()
            .timeline(&key)
            .await
            .expect("timeline")
            .into_iter()
            .map(|e| json!(e))
            .collect()
    }

    /// Exceptions raised by the intake step (a taken order goes on to
    /// validation, which holds it here: the fake ERP has no stock).
    async fn exceptions(&self) -> usize {
        self.engine
            .store()
            .exceptions(&ExceptionFilter {
                step: Some("channel_message".into()),
                ..ExceptionFilter::default()
            })
            .await
            .expect("exceptions")
            .len()
    }
}

#[tokio::test]
async fn a_polled_order_is_not_read_again_and_a_delivered_one_always_is() {
    let hub = hub().await;
    for i in 0..5 {
        hub.channel.set(&format!("P{i}"), "ready", T0 - 1_000 + i);
    }
    assert_eq!(hub.engine.reconcile_once("fake").await.expect("poll"), 5);
    hub.engine.run_due_steps().await.expect("steps");
    for i in 0..5 {
        let id = order_id_for("fake", &format!("P{i}"));
        assert!(
            hub.engine.store().order(&id).await.expect("read").is_some(),
            "polled order P{i} was taken"
        );
    }
    assert_eq!(
        hub.channel.refetches(),
        0,
        "the poll read these orders' current state: no extra read each"
    );

    // A delivered trigger is read again whatever its key looks like: the
    // origin is what the hub recorded, not what the sender wrote.
    hub.channel.set("W1", "ready", T0);
    hub.webhook("poll:W1:1", "W1").await;
    hub.channel.set("W2", "ready", T0);
    hub.webhook("evt-2", "W2").await;
    hub.engine.run_due_steps().await.expect("steps");
    assert_eq!(
        hub.channel.refetches(),
        2,
        "each delivered trigger was read from the channel once"
    );
    for id in ["W1", "W2"] {
        let order = hub
            .engine
            .store()
            .order(&order_id_for("fake", id))
            .await
            .expect("read");
        assert!(order.is_some(), "delivered order {id} was taken");
    }
}

/// Waits recorded on the order's timeline for a held-back order.
fn pending_waits(timeline: &[Value]) -> Vec<&Value> {
    timeline
        .iter()
        .filter(|e| e.to_string().contains("pending_payment"))
        .collect()
}

#[tokio::test]
async fn a_pending_order_waits_visibly_without_spending_attempts_until_it_is_ready() {
    let hub = hub().await;
    hub.channel.set("A1", "pending", T0);
    hub.webhook("evt-1", "A1").await;
    hub.engine.run_due_steps().await.expect("steps");

    let store = hub.engine.store();
    let now = hub.clock.now_ms();
    let next = store.next_job_at(now).await.expect("next");
    assert!(
        next.is_some_and(|at| at > now),
        "the pending order's message waits for a later look, got {next:?}"
    );
    let timeline = hub.timeline_kinds("A1").await;
    assert_eq!(
        pending_waits(&timeline).len(),
        1,
        "the wait and its reason are on the timeline: {timeline:?}"
    );

    // Far more looks than there are attempts, over three days: still
    // waiting, never an exception, each look a read of the channel.
    let attempts = hub.engine.options().max_attempts;
    let mut looks = 0;
    while let Some(at) = store.next_job_at(hub.clock.now_ms()).await.expect("next") {
        if at > T0 + 3 * DAY {
            break;
        }
        hub.clock.set(at);
        hub.engine.run_due_steps().await.expect("steps");
        looks += 1;
    }
    assert!(looks > attempts * 2, "{looks} looks");
    assert_eq!(hub.exceptions().await, 0, "waiting raises nothing");
    assert_eq!(hub.channel.refetches(), 1 + looks as u64);
    assert_eq!(
        store
            .waiting_counts()
            .await
            .expect("counts")
            .get("pending_payment"),
        Some(&1),
        "counted for /v1/stats"
    );

    // Payment clears: the notification about it is taken at once, not at
    // the waiting message's next look.
    hub.channel.set("A1", "ready", T0 + 3 * DAY);
    hub.webhook("evt-2", "A1").await;
    hub.engine.run_due_steps().await.expect("steps");
    let order = store
        .order(&order_id_for("fake", "A1"))
        .await
        .expect("read");
    assert!(order.is_some(), "taken once Unshipped");
    assert_eq!(hub.exceptions().await, 0);
    assert_eq!(
        store
            .waiting_counts()
            .await
            .expect("counts")
            .get("pending_payment"),
        None
    );
}

#[tokio::test]
async fn a_pending_order_seen_by_the_poll_waits_and_a_cancellation_ends_it() {
    let hub = hub().await;
    hub.channel.set("A2", "pending", T0 - 1_000);
    hub.engine.reconcile_once("fake").await.expect("poll");
    hub.engine.run_due_steps().await.expect("steps");
    let store = hub.engine.store();
    assert_eq!(
        store
            .waiting_counts()
            .await
            .expect("counts")
            .get("pending_payment"),
        Some(&1)
    );
    hub.clock.advance(10 * MINUTE);
    hub.channel.set("A2", "canceled", T0 + MINUTE);
    hub.engine.reconcile_once("fake").await.expect("poll");
    hub.engine.run_due_steps().await.expect("steps");
    assert_eq!(hub.exceptions().await, 0);
    assert_eq!(
        store
            .waiting_counts()
            .await
            .expect("counts")
            .get("pending_payment"),
        None,
        "the cancellation ended the wait"
    );
    assert_eq!(hub.channel.refetches(), 0, "polled: never read again");
}

#[tokio::test]
async fn a_pending_order_is_raised_after_thirty_days() {
    let hub = hub().await;
    hub.channel.set("A3", "pending", T0);
    hub.webhook("evt-3", "A3").await;
    hub.engine.run_due_steps().await.expect("steps");
    hub.clock.set(T0 + 30 * DAY);
    hub.engine.run_due_steps().await.expect("steps");
    let raised = hub
        .engine
        .store()
        .exceptions(&ExceptionFilter {
            step: Some("channel_message".into()),
            ..ExceptionFilter::default()
        })
        .await
        .expect("exceptions");
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        raised[0].reason.contains("held back after 30 days"),
        "{}",
        raised[0].reason
    );
}

#[tokio::test]
async fn a_polled_pending_order_is_read_again_when_its_state_moved_within_its_version() {
    let hub = hub().await;
    hub.channel.set("A4", "pending", T0 - 1_000);
    hub.engine.reconcile_once("fake").await.expect("poll");
    hub.engine.run_due_steps().await.expect("steps");
    assert_eq!(hub.channel.refetches(), 0, "the poll's read is fresh");
    // Payment cleared within the same second: the channel's version (whole
    // seconds) did not move, so the poll sees nothing new.
    hub.channel.set("A4", "ready", T0 - 1_000);
    assert_eq!(hub.engine.reconcile_once("fake").await.expect("poll"), 0);
    let store = hub.engine.store();
    let at = store
        .next_job_at(hub.clock.now_ms())
        .await
        .expect("next")
        .expect("waiting");
    hub.clock.set(at);
    hub.engine.run_due_steps().await.expect("steps");
    assert_eq!(hub.channel.refetches(), 1, "read again at its next look");
    let order = store
        .order(&order_id_for("fake", "A4"))
        .await
        .expect("read");
    assert!(order.is_some(), "taken once the channel let it go");
}
