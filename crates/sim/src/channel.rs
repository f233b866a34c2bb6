//! The simulated webstore: generates orders, pushes them to the hub by
//! webhook, and takes shipment confirmations.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use chrono::{SecondsFormat, Utc};
use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::ChannelSimConfig;
use crate::delivery::{Deliverer, DeliveryCounters};
use crate::faults::{FaultGate, gate};
use crate::fixtures::{CITIES, cents, uuid};
use crate::signing::Signer;
use crate::wire::lock;
use crate::wire::{Amount, invalid, not_found, parse_body};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct OrderDoc {
    order_id: String,
    sequence: i64,
    status: &'static str,
    updated_at: String,
    created_at: String,
    currency: String,
    buyer: Buyer,
    ship_to: ShipTo,
    items: Vec<Item>,
    shipping: Amount,
    total: Amount,
    service_level: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct Buyer {
    id: String,
    email: String,
    name: String,
    phone: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct ShipTo {
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: String,
    postal_code: String,
    country: String,
}

#[derive(Debug, Clone, Serialize)]
struct Item {
    line_id: String,
    sku: String,
    title: String,
    quantity: u32,
    unit_price: Amount,
    discount: Amount,
    tax: Amount,
}

struct StoredOrder {
    doc: OrderDoc,
    updated_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
struct Confirmation {
    confirmation_id: String,
    package_id: String,
    carrier: String,
    tracking_number: String,
    lines: Vec<ConfirmedLine>,
    confirmed_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmedLine {
    line_id: String,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmationBody {
    package_id: String,
    carrier: String,
    tracking_number: String,
    lines: Vec<ConfirmedLine>,
}

#[derive(Default)]
struct ChannelState {
    orders: BTreeMap<String, StoredOrder>,
    generated: Vec<String>,
    cancelled: Vec<String>,
    confirmations: HashMap<String, Vec<Confirmation>>,
    confirmations_per_line: BTreeMap<String, u64>,
    confirmed_quantity: HashMap<(String, String), u32>,
    ship_confirmations: u64,
    duplicate_ship_confirmations: u64,
    over_confirmed_lines: u64,
    confirmations_for_cancelled: u64,
}

pub(crate) struct ChannelSim {
    config: ChannelSimConfig,
    webhook_url: String,
    rng: Arc<Mutex<SmallRng>>,
    prices: HashMap<String, Decimal>,
    state: Mutex<ChannelState>,
    pub(crate) gate: Arc<FaultGate>,
    deliverer: Deliverer,
    /// Signs every delivery when `[sim.channel.signing]` is set.
    signer: Option<Arc<Signer>>,
    pub(crate) deliveries: Arc<DeliveryCounters>,
    pub(crate) generation_done: AtomicBool,
    pub(crate) stop: CancellationToken,
    duplicates_sent: AtomicU64,
    cancellations_sent: AtomicU64,
}

impl ChannelSim {
    pub(crate) fn new(
        config: ChannelSimConfig,
        hub_url: &str,
        rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
        signer: Option<Signer>,
    ) -> Arc<Self> {
        let rng = Arc::new(Mutex::new(rng));
        let prices = crate::catalogue::price_list(&config.skus, &rng, 299..=19_999);
        let gate = Arc::new(FaultGate::new(config.faults.clone(), started, rng.clone()));
        let stop = deliverer.cancel.child_token();
        Arc::new(ChannelSim {
            webhook_url: format!(
                "{}/webhooks/channels/{}",
                hub_url.trim_end_matches('/'),
                config.name
            ),
            config,
            rng,
            prices,
            state: Mutex::new(ChannelState::default()),
            gate,
            deliverer,
            signer: signer.map(Arc::new),
            deliveries: Arc::new(DeliveryCounters::default()),
            generation_done: AtomicBool::new(false),
            stop,
            duplicates_sent: AtomicU64::new(0),
            cancellations_sent: AtomicU64::new(0),
        })
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/orders", get(list_orders))
            .route("/orders/{order_id}", get(get_order))
            .route(
                "/orders/{order_id}/shipments",
                get(list_shipments).post(confirm_shipment),
            )
            .layer(axum::middleware::from_fn_with_state(
                self.gate.clone(),
                gate,
            ))
            .route(
                "/sim/stats",
                get(|State(sim): State<Arc<ChannelSim>>| async move { Json(sim.stats()) }),
            )
            .route("/sim/health", get(|| async { Json(json!({ "ok": true })) }))
            .with_state(self.clone())
    }

    /// Places orders at the configured rate until a limit is reached or generation is stopped.
    pub(crate) async fn generate(self: Arc<Self>) {
        let c = &self.config;
        let pace = crate::catalogue::OrderPace {
            orders_per_sec: c.orders_per_sec,
            max_orders: c.max_orders,
            duration_secs: c.duration_secs,
        };
        crate::catalogue::place_orders(pace, &self.stop, &self.generation_done, |n| {
            self.place_order(n);
        })
        .await;
    }

    fn place_order(self: &Arc<Self>, n: u64) {
        let (doc, duplicate, cancel_after) = {
            let mut rng = lock(&self.rng);
            let doc = self.new_order(&mut rng, n);
            let duplicate = rng.random_bool(self.config.duplicate_rate);
            // A buyer's cancellation request, some time after checkout.
            let cancel_after = rng
                .random_bool(self.config.cancel_rate)
                .then(|| Duration::from_millis(rng.random_range(500..=5000)));
            (doc, duplicate, cancel_after)
        };
        let order_id = doc.order_id.clone();
        {
            let mut state = lock(&self.state);
            state.generated.push(order_id.clone());
            state.orders.insert(
                order_id.clone(),
                StoredOrder {
                    doc: doc.clone(),
                    updated_ms: Utc::now().timestamp_millis(),
                },
            );
        }
        self.send_event(&doc, duplicate);
        if let Some(delay) = cancel_after {
            self.schedule_cancellation(order_id, delay);
        }
    }

    fn send_event(&self, doc: &OrderDoc, duplicate: bool) {
        let event_id = self.event_id();
        let body = serde_json::to_value(doc).unwrap_or(Value::Null);
        let copies = if duplicate { 2 } else { 1 };
        if duplicate {
            self.duplicates_sent.fetch_add(1, Ordering::Relaxed);
        }
        for _ in 0..copies {
            let slot = self.deliverer.reserve(&self.deliveries);
            // The webstore's own event header too: a mapped channel may key on it.
            self.deliverer.spawn_signed(
                slot,
                self.webhook_url.clone(),
                vec![("x-webstore-event-id", event_id.clone())],
                self.signer.clone(),
                event_id.clone(),
                body.clone(),
            );
        }
    }

    fn schedule_cancellation(self: &Arc<Self>, order_id: String, delay: Duration) {
        // Owed from now on, so the estate is not idle while the cancellation waits.
        let slot = self.deliverer.reserve(&self.deliveries);
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.deliverer.cancel.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let doc = {
                let mut state = lock(&this.state);
                if state
                    .confirmations
                    .get(&order_id)
                    .is_some_and(|c| !c.is_empty())
                {
                    return;
                }
                let Some(stored) = state.orders.get_mut(&order_id) else {
                    return;
                };
                let now = Utc::now();
                stored.doc.status = "cancelled";
                stored.doc.sequence += 1;
                stored.doc.updated_at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
                stored.updated_ms = now.timestamp_millis();
                let doc = stored.doc.clone();
                state.cancelled.push(order_id.clone());
                doc
            };
            this.cancellations_sent.fetch_add(1, Ordering::Relaxed);
            let event_id = this.event_id();
            let body = serde_json::to_value(&doc).unwrap_or(Value::Null);
            this.deliverer.spawn_signed(
                slot,
                this.webhook_url.clone(),
                vec![("x-webstore-event-id", event_id.clone())],
                this.signer.clone(),
                event_id,
                body,
            );
        });
    }

    fn event_id(&self) -> String {
        uuid(&mut lock(&self.rng))
    }

    fn new_order(&self, rng: &mut SmallRng, n: u64) -> OrderDoc {
        let c = &self.config;
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let buyer_no = rng.random_range(1..=500u32);
        let name = format!("Buyer {buyer_no}");
        let (city, region, postal_code) = *CITIES.choose(rng).unwrap_or(&CITIES[0]);
        let line_count = rng.random_range(1..=c.max_lines.min(c.skus.len() as u32)) as usize;
        let picked = rand::seq::index::sample(rng, c.skus.len(), line_count);
        let cent = Decimal::new(1, 2);
        let mut items = Vec::with_capacity(line_count);
        let mut total = Decimal::ZERO;
        for (i, sku_index) in picked.iter().enumerate() {
            let sku = &c.skus[sku_index];
            let quantity = rng.random_range(1..=c.max_quantity);
            let unit_price = self
                .prices
                .get(sku)
                .copied()
                .unwrap_or(cent * Decimal::from(999));
            let gross = unit_price * Decimal::from(quantity);
            let discount = if rng.random_bool(0.2) {
                cents(gross * Decimal::new(10, 2))
            } else {
                Decimal::ZERO
            };
            let tax = cents((gross - discount) * Decimal::new(825, 4));
            total += gross - discount + tax;
            items.push(Item {
                line_id: (i + 1).to_string(),
                sku: sku.clone(),
                title: format!("Item {sku}"),
                quantity,
                unit_price: Amount(unit_price),
                discount: Amount(discount.round_dp(2)),
                tax: Amount(tax),
            });
        }
        let express = rng.random_bool(0.2);
        let shipping = if express {
            Decimal::new(1499, 2)
        } else {
            Decimal::new(499, 2)
        };
        total += shipping;
        OrderDoc {
            order_id: format!("WS-{n:06}"),
            sequence: 1,
            status: "open",
            updated_at: now.clone(),
            created_at: now,
            currency: c.currency.clone(),
            buyer: Buyer {
                id: format!("B-{buyer_no}"),
                email: format!("b{buyer_no}@example.com"),
                name: name.clone(),
                phone: rng
                    .random_bool(0.5)
                    .then(|| format!("+1555{:07}", rng.random_range(0..10_000_000u32))),
            },
            ship_to: ShipTo {
                name,
                line1: format!("{} Main St", rng.random_range(1..=999u32)),
                line2: None,
                city: city.to_owned(),
                region: region.to_owned(),
                postal_code: postal_code.to_owned(),
                country: "US".to_owned(),
            },
            items,
            shipping: Amount(shipping),
            total: Amount(total),
            service_level: if express { "express" } else { "standard" },
        }
    }

    pub(crate) fn stats(&self) -> Value {
        let state = lock(&self.state);
        let mut out = Map::new();
        out.insert("orders_generated".into(), state.generated.len().into());
        self.deliveries.write_stats(&mut out);
        out.insert(
            "webhook_deliveries_pending".into(),
            self.deliveries.pending().into(),
        );
        out.insert(
            "duplicates_sent".into(),
            self.duplicates_sent.load(Ordering::Relaxed).into(),
        );
        out.insert(
            "cancellations_sent".into(),
            self.cancellations_sent.load(Ordering::Relaxed).into(),
        );
        out.insert("ship_confirmations".into(), state.ship_confirmations.into());
        out.insert(
            "ship_confirmations_per_order_line".into(),
            json!(state.confirmations_per_line),
        );
        out.insert(
            "duplicate_ship_confirmations".into(),
            state.duplicate_ship_confirmations.into(),
        );
        out.insert(
            "over_confirmed_lines".into(),
            state.over_confirmed_lines.into(),
        );
        out.insert(
            "confirmations_for_cancelled".into(),
            state.confirmations_for_cancelled.into(),
        );
        out.insert("generated_order_ids".into(), json!(state.generated));
        out.insert("cancelled_order_ids".into(), json!(state.cancelled));
        out.insert(
            "generation_done".into(),
            self.generation_done.load(Ordering::SeqCst).into(),
        );
        self.gate.write_stats(&mut out);
        Value::Object(out)
    }
}

async fn list_orders(
    State(sim): State<Arc<ChannelSim>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(raw) = query.get("updated_since") else {
        return invalid("updated_since", "missing query parameter");
    };
    let Ok(since) = raw.parse::<i64>() else {
        return invalid("updated_since", "expected milliseconds since the epoch");
    };
    let state = lock(&sim.state);
    let orders: Vec<&OrderDoc> = state
        .orders
        .values()
        .filter(|o| o.updated_ms >= since)
        .map(|o| &o.doc)
        .collect();
    Json(json!({ "orders": orders })).into_response()
}

async fn get_order(State(sim): State<Arc<ChannelSim>>, Path(order_id): Path<String>) -> Response {
    match lock(&sim.state).orders.get(&order_id) {
        Some(o) => Json(&o.doc).into_response(),
        None => not_found(),
    }
}

async fn list_shipments(
    State(sim): State<Arc<ChannelSim>>,
    Path(order_id): Path<String>,
) -> Response {
    let state = lock(&sim.state);
    if !state.orders.contains_key(&order_id) {
        return not_found();
    }
    let shipments = state
        .confirmations
        .get(&order_id)
        .cloned()
        .unwrap_or_default();
    Json(json!({ "shipments": shipments })).into_response()
}

async fn confirm_shipment(
    State(sim): State<Arc<ChannelSim>>,
    Path(order_id): Path<String>,
    body: Bytes,
) -> Response {
    let body: ConfirmationBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    for (field, value) in [
        ("package_id", &body.package_id),
        ("carrier", &body.carrier),
        ("tracking_number", &body.tracking_number),
    ] {
        if value.trim().is_empty() {
            return invalid(field, "must not be empty");
        }
    }
    if body.lines.is_empty() {
        return invalid("lines", "must not be empty");
    }
    let mut state = lock(&sim.state);
    let state = &mut *state;
    let Some(order) = state.orders.get(&order_id) else {
        return not_found();
    };
    // A resent package is the hub's bug whether or not the line still has room for it.
    if state
        .confirmations
        .get(&order_id)
        .is_some_and(|cs| cs.iter().any(|c| c.package_id == body.package_id))
    {
        state.duplicate_ship_confirmations += 1;
    }
    if order.doc.status == "cancelled" {
        state.confirmations_for_cancelled += 1;
        return invalid("order_id", "order is cancelled");
    }
    for (i, line) in body.lines.iter().enumerate() {
        let Some(item) = order.doc.items.iter().find(|it| it.line_id == line.line_id) else {
            return invalid(&format!("lines[{i}].line_id"), "no such line on the order");
        };
        if line.quantity == 0 {
            return invalid(&format!("lines[{i}].quantity"), "must be positive");
        }
        let already = state
            .confirmed_quantity
            .get(&(order_id.clone(), line.line_id.clone()))
            .copied()
            .unwrap_or(0);
        if already + line.quantity > item.quantity {
            state.over_confirmed_lines += 1;
            return invalid(
                &format!("lines[{i}].quantity"),
                format!(
                    "confirms {} more of {} ordered, {} already confirmed",
                    line.quantity, item.quantity, already
                ),
            );
        }
    }
    state.ship_confirmations += 1;
    let confirmation_id = format!("SC-{:06}", state.ship_confirmations);
    for line in &body.lines {
        *state
            .confirmed_quantity
            .entry((order_id.clone(), line.line_id.clone()))
            .or_default() += line.quantity;
        *state
            .confirmations_per_line
            .entry(format!("{order_id}/{}", line.line_id))
            .or_default() += 1;
    }
    state
        .confirmations
        .entry(order_id)
        .or_default()
        .push(Confirmation {
            confirmation_id: confirmation_id.clone(),
            package_id: body.package_id,
            carrier: body.carrier,
            tracking_number: body.tracking_number,
            lines: body.lines,
            confirmed_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        });
    (
        StatusCode::CREATED,
        Json(json!({ "confirmation_id": confirmation_id })),
    )
        .into_response()
}
