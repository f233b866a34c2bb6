//! A simulated warehouse: takes fulfilment requests, ships them after a
//! delay and reports each parcel to the hub by webhook.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::{SecondsFormat, Utc};
use crossdock_model::{FulfillmentLine, FulfillmentRequest};
use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::WarehouseSimConfig;
use crate::delivery::{Deliverer, DeliveryCounters};
use crate::faults::{FaultGate, gate};
use crate::signing::Signer;
use crate::wire::lock;
use crate::wire::{invalid, not_found, parse_body};

#[derive(Debug, Clone, Serialize)]
struct ShipmentMessage {
    shipment_id: String,
    request_id: String,
    order_id: String,
    carrier: String,
    tracking_number: String,
    shipped_at: String,
    lines: Vec<FulfillmentLine>,
}

const RECEIVED: &str = "received";
const PARTIALLY_SHIPPED: &str = "partially_shipped";
const SHIPPED: &str = "shipped";
const CANCELLED: &str = "cancelled";

struct Held {
    id: String,
    request_id: String,
    /// `received` | `partially_shipped` | `shipped` | `cancelled`.
    status: &'static str,
    /// Stops the parcels still scheduled for this request.
    stop: CancellationToken,
}

#[derive(Default)]
struct WarehouseState {
    requests: Vec<Held>,
    first_by_request_id: HashMap<String, usize>,
    /// Every request held under each request id, duplicates included.
    by_request_id: HashMap<String, Vec<usize>>,
    requests_per_order: BTreeMap<String, u64>,
    duplicate_requests: u64,
    /// Held requests stopped by a cancellation (a repeated cancel counts once).
    cancellations: u64,
    /// Cancellations refused because units had already shipped.
    cancellations_too_late: u64,
    /// Parcels shipped for a cancelled request: must stay 0.
    shipments_after_cancel: u64,
}

pub(crate) struct WarehouseSim {
    config: WarehouseSimConfig,
    webhook_url: String,
    rng: Arc<Mutex<SmallRng>>,
    state: Mutex<WarehouseState>,
    pub(crate) gate: Arc<FaultGate>,
    deliverer: Deliverer,
    /// Signs every shipment webhook when `[sim.warehouses.signing]` is set.
    signer: Option<Arc<Signer>>,
    pub(crate) deliveries: Arc<DeliveryCounters>,
    shipments_sent: AtomicU64,
}

impl WarehouseSim {
    pub(crate) fn new(
        config: WarehouseSimConfig,
        hub_url: &str,
        rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
        signer: Option<Signer>,
    ) -> Arc<Self> {
        let rng = Arc::new(Mutex::new(rng));
        Arc::new(WarehouseSim {
            webhook_url: format!(
                "{}/webhooks/warehouses/{}",
                hub_url.trim_end_matches('/'),
                config.name
            ),
            gate: Arc::new(FaultGate::new(config.faults.clone(), started, rng.clone())),
            config,
            rng,
            state: Mutex::new(WarehouseState::default()),
            deliverer,
            signer: signer.map(Arc::new),
            deliveries: Arc::new(DeliveryCounters::default()),
            shipments_sent: AtomicU64::new(0),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/fulfillment-requests", post(create_request))
            .route("/fulfillment-requests/{request_id}", get(get_request))
            .route(
                "/fulfillment-requests/{request_id}/cancel",
                post(cancel_request),
            )
            .layer(axum::middleware::from_fn_with_state(
                self.gate.clone(),
                gate,
            ))
            .route(
                "/sim/stats",
                get(|State(sim): State<Arc<WarehouseSim>>| async move { Json(sim.stats()) }),
            )
            .route("/sim/health", get(|| async { Json(json!({ "ok": true })) }))
            .with_state(self.clone())
    }

    pub(crate) fn stats(&self) -> Value {
        let state = lock(&self.state);
        let mut out = Map::new();
        out.insert("requests".into(), state.requests.len().into());
        out.insert("requests_per_order".into(), json!(state.requests_per_order));
        out.insert("duplicate_requests".into(), state.duplicate_requests.into());
        out.insert("cancellations".into(), state.cancellations.into());
        out.insert(
            "cancellations_too_late".into(),
            state.cancellations_too_late.into(),
        );
        out.insert(
            "shipments_after_cancel".into(),
            state.shipments_after_cancel.into(),
        );
        out.insert(
            "shipments_sent".into(),
            self.shipments_sent.load(Ordering::Relaxed).into(),
        );
        out.insert(
            "shipment_deliveries_pending".into(),
            self.deliveries.pending().into(),
        );
        self.deliveries.write_stats(&mut out);
        self.gate.write_stats(&mut out);
        Value::Object(out)
    }

    /// Splits the request into the parcels it will ship in.
    fn plan_parcels(&self, request: &FulfillmentRequest) -> Vec<Vec<FulfillmentLine>> {
        let units: u32 = request.lines.iter().map(|l| l.quantity).sum();
        let partial = units > 1 && lock(&self.rng).random_bool(self.config.partial_ship_rate);
        if !partial {
            return vec![request.lines.clone()];
        }
        let mut first_left = units / 2;
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for line in &request.lines {
            let take = line.quantity.min(first_left);
            first_left -= take;
            if take > 0 {
                first.push(FulfillmentLine {
                    quantity: take,
                    ..line.clone()
                });
            }
            if line.quantity > take {
                second.push(FulfillmentLine {
                    quantity: line.quantity - take,
                    ..line.clone()
                });
            }
        }
        vec![first, second]
    }

    fn ship(self: &Arc<Self>, index: usize, request: FulfillmentRequest, stop: CancellationToken) {
        let parcels = self.plan_parcels(&request);
        // Owed from acceptance on, so a quiet estate means nothing is left to ship.
        let slots: Vec<_> = parcels
            .iter()
            .map(|_| self.deliverer.reserve(&self.deliveries))
            .collect();
        let this = self.clone();
        let delay = Duration::from_millis(self.config.ship_delay_ms);
        tokio::spawn(async move {
            let count = parcels.len();
            for (n, (lines, slot)) in parcels.into_iter().zip(slots).enumerate() {
                // Returning drops the slots of the parcels left, so a cancelled
                // request stops being owed to the hub at once.
                tokio::select! {
                    _ = this.deliverer.cancel.cancelled() => return,
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                {
                    // Status check and update under one lock: a cancellation
                    // either comes first (nothing ships) or sees this parcel
                    // as gone (409).
                    let mut state = lock(&this.state);
                    let held = &mut state.requests[index];
                    if held.status == CANCELLED {
                        // The stop and the parcel's time came together.
                        return;
                    }
                    held.status = if n + 1 == count {
                        SHIPPED
                    } else {
                        PARTIALLY_SHIPPED
                    };
                }
                let message = this.shipment_message(&request, lines);
                {
                    // Tripwire: nothing may leave once the request is cancelled.
                    let mut state = lock(&this.state);
                    if state.requests[index].status == CANCELLED {
                        state.shipments_after_cancel += 1;
                        tracing::error!(request_id = %request.id, "shipped a cancelled request");
                    }
                }
                let body = serde_json::to_value(&message).unwrap_or(Value::Null);
                // The shipment's id names the message: a retry carries it again.
                let id = message.shipment_id.clone();
                this.deliverer.spawn_signed(
                    slot,
                    this.webhook_url.clone(),
                    Vec::new(),
                    this.signer.clone(),
                    id,
                    body,
                );
            }
        });
    }

    fn shipment_message(
        &self,
        request: &FulfillmentRequest,
        lines: Vec<FulfillmentLine>,
    ) -> ShipmentMessage {
        let n = self.shipments_sent.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rng = lock(&self.rng);
        let carrier = *["UPS", "FedEx", "USPS"].choose(&mut *rng).unwrap_or(&"UPS");
        let digits = |rng: &mut SmallRng, len: usize| -> String {
            (0..len)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect()
        };
        let tracking_number = match carrier {
            "UPS" => format!("1Z{}", digits(&mut rng, 16)),
            "FedEx" => digits(&mut rng, 12),
            _ => digits(&mut rng, 22),
        };
        ShipmentMessage {
            shipment_id: format!("SH-{}-{n:06}", self.config.name.to_uppercase()),
            request_id: request.id.clone(),
            order_id: request.order_id.clone(),
            carrier: carrier.to_owned(),
            tracking_number,
            shipped_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            lines,
        }
    }
}

async fn create_request(State(sim): State<Arc<WarehouseSim>>, body: Bytes) -> Response {
    let request: FulfillmentRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    for (field, value) in [("id", &request.id), ("order_id", &request.order_id)] {
        if value.trim().is_empty() {
            return invalid(field, "must not be empty");
        }
    }
    if request.warehouse != sim.config.name {
        return invalid(
            "warehouse",
            format!("this is warehouse {:?}", sim.config.name),
        );
    }
    if request.lines.is_empty() {
        return invalid("lines", "must not be empty");
    }
    for (i, line) in request.lines.iter().enumerate() {
        if line.quantity == 0 {
            return invalid(&format!("lines[{i}].quantity"), "must be positive");
        }
    }
    let (index, id, stop) = {
        let mut state = sim.lock_state();
        let index = state.requests.len();
        let id = format!("{}-R{:06}", sim.config.name.to_uppercase(), index + 1);
        if state.first_by_request_id.contains_key(&request.id) {
            state.duplicate_requests += 1;
        } else {
            state.first_by_request_id.insert(request.id.clone(), index);
        }
        *state
            .requests_per_order
            .entry(request.order_id.clone())
            .or_default() += 1;
        let stop = CancellationToken::new();
        state.requests.push(Held {
            id: id.clone(),
            request_id: request.id.clone(),
            status: RECEIVED,
            stop: stop.clone(),
        });
        state
            .by_request_id
            .entry(request.id.clone())
            .or_default()
            .push(index);
        (index, id, stop)
    };
    let request_id = request.id.clone();
    sim.ship(index, request, stop);
    (
        StatusCode::CREATED,
        Json(json!({ "id": id, "request_id": request_id })),
    )
        .into_response()
}

async fn get_request(
    State(sim): State<Arc<WarehouseSim>>,
    Path(request_id): Path<String>,
) -> Response {
    let state = sim.lock_state();
    match state
        .first_by_request_id
        .get(&request_id)
        .map(|&i| &state.requests[i])
    {
        Some(held) => {
            Json(json!({ "id": held.id, "request_id": held.request_id, "status": held.status }))
                .into_response()
        }
        None => not_found(),
    }
}

/// Stops every request held under `request_id` (duplicates included) that
/// has not shipped anything. 409 when any of them already has: those units
/// left, the others are stopped all the same.
async fn cancel_request(
    State(sim): State<Arc<WarehouseSim>>,
    Path(request_id): Path<String>,
) -> Response {
    let mut state = sim.lock_state();
    let state = &mut *state;
    let Some(indices) = state.by_request_id.get(&request_id) else {
        return not_found();
    };
    let mut shipped = None;
    for &i in indices {
        let held = &mut state.requests[i];
        match held.status {
            RECEIVED => {
                held.status = CANCELLED;
                held.stop.cancel();
                state.cancellations += 1;
            }
            CANCELLED => {}
            status => {
                // `shipped` wins over `partially_shipped` in the answer.
                if shipped != Some(SHIPPED) {
                    shipped = Some(status);
                }
            }
        }
    }
    match shipped {
        Some(status) => {
            state.cancellations_too_late += 1;
            (
                StatusCode::CONFLICT,
                Json(json!({ "error": "already shipped", "status": status })),
            )
                .into_response()
        }
        None => Json(json!({ "request_id": request_id, "status": CANCELLED })).into_response(),
    }
}

impl WarehouseSim {
    fn lock_state(&self) -> MutexGuard<'_, WarehouseState> {
        lock(&self.state)
    }
}
