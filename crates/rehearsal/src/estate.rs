//! The simulated estate in virtual time: channels whose buyers place
//! orders, an ERP with rate and concurrency limits and outages, warehouses
//! and a 3PL with pick capacity, short shipments and batches.
//!
//! Each system is a model behind the hub's own connector traits, and it is
//! as strict as the real one would be: a second sales order with the same
//! reference is a second sales order (counted as a duplicate), a call over
//! the ERP's limit is refused with 429, a release for units the floor does
//! not hold ships short (counted as an oversell). Everything that happens
//! later (a webhook delivery, a pick completing, a feed being processed)
//! goes on the agenda, which the run works through in time order.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use crossdock_connectors::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate,
    CancelOutcome, Channel, ChannelEvent, ConnectorError, Erp, ErpDocument, InboundEnvelope,
    InputError, ShipConfirmation, ShipmentEnvelope, Warehouse,
};
use crossdock_engine::ManualClock;
use crossdock_model::{Customer, FulfillmentRequest, InventoryPosition, Order, Shipment};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::json;

use crate::scenario::{Ingest, Scenario, WarehouseKind};

/// Something the estate does at a moment of virtual time.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A buyer places an order on the channel (and the next arrival is drawn).
    Arrival {
        channel: usize,
    },
    /// A webhook reaches the hub.
    Webhook {
        channel: usize,
        event_id: String,
        body: Vec<u8>,
    },
    /// The buyer asks to cancel.
    BuyerCancel {
        channel: usize,
        order: String,
    },
    /// A warehouse finishes picking a request.
    Picked {
        warehouse: usize,
        request: String,
    },
    /// A 3PL sends the shipments it holds.
    Batch {
        warehouse: usize,
    },
    /// A warehouse's shipment message reaches the hub.
    ShipmentMessage {
        warehouse: usize,
        body: Vec<u8>,
    },
    /// A channel starts showing an availability update.
    Listing {
        channel: usize,
        sku: usize,
        quantity: i64,
    },
    Replenish {
        index: usize,
    },
    /// Owed availability that a channel's limit put off is due again.
    AvailabilityRetry,
    /// The hub's periodic work.
    Poll {
        channel: usize,
    },
    ErpRefresh,
    AvailabilityBulk,
    Sample,
}

/// The estate's books: what each system holds and what it saw.
pub(crate) struct World {
    agenda: BTreeMap<(i64, u64), Event>,
    seq: u64,
    /// Faults and latencies (demand draws from each channel's own stream).
    rng: SmallRng,
    pub skus: Vec<Sku>,
    /// SKU code → index into `skus`.
    sku_index: HashMap<String, usize>,
    /// Cumulative popularity weights over `skus`.
    popularity: Vec<f64>,
    pub channels: Vec<ChannelBook>,
    pub erp: ErpBook,
    pub warehouses: Vec<WarehouseBook>,
    /// Units on each warehouse's floor, by SKU index, with their history
    /// (time, units) so the ERP can report them late.
    pub floor: Vec<Vec<i64>>,
    floor_history: Vec<Vec<VecDeque<(i64, i64)>>>,
    /// Webhooks and shipment messages on their way, picks not finished.
    pub in_flight: i64,
    pub oversold_units: u64,
    pub oversold_orders: BTreeSet<String>,
}

pub(crate) struct Sku {
    pub code: String,
    pub price: Decimal,
}

pub(crate) struct ChannelBook {
    rng: SmallRng,
    next_order: u64,
    /// What buyers can buy now, by SKU index (what the channel lists).
    pub listed: Vec<i64>,
    pub orders: BTreeMap<String, ChannelOrder>,
    /// Confirmations the channel holds, by (order, package).
    pub confirmations: Ledger<(String, String)>,
    /// When each order was placed (for ingest latency).
    pub placed: u64,
    pub not_listed: u64,
    pub buyer_cancellations: u64,
    pub webhooks_delivered: u64,
    pub webhooks_duplicated: u64,
    pub webhooks_reordered: u64,
    pub webhooks_lost: u64,
    pub availability_updates: u64,
    /// Times the hub asked the channel's order API.
    pub polls: u64,
    pub throttled: u64,
    /// Hub learnt of a change → the channel shows it (ms).
    pub sync_lags: Vec<i64>,
    /// Warehouse shipped → channel confirmed (ms), with the warehouse.
    pub ship_confirm: Vec<(usize, i64)>,
    /// Orders placed per hour of the day.
    pub per_hour: BTreeMap<i64, u64>,
}

pub(crate) struct ChannelOrder {
    pub placed_at: i64,
    pub updated_at: i64,
    pub sequence: i64,
    pub cancelled: bool,
    pub confirmed: bool,
    body: serde_json::Value,
}

#[derive(Default)]
pub(crate) struct ErpBook {
    customers: BTreeMap<String, String>,
    /// Sales orders and invoices by our reference.
    pub sales_orders: Ledger<String>,
    pub invoices: Ledger<String>,
    /// Order id → when its sales order was accepted.
    pub accepted_at: BTreeMap<String, i64>,
    recent_calls: VecDeque<i64>,
    in_flight_until: Vec<i64>,
    pub calls: u64,
    pub calls_by_operation: BTreeMap<&'static str, u64>,
    pub throttled: u64,
    pub failed_in_outage: u64,
    /// Calls per sample interval, by interval index.
    pub calls_per_interval: BTreeMap<i64, u64>,
}

pub(crate) struct WarehouseBook {
    pub name: String,
    pub requests: BTreeMap<String, Request>,
    /// Release calls for a request id already held.
    pub duplicate_releases: u64,
    next_pick_at: i64,
    /// A 3PL's shipments waiting for the next batch.
    held: Vec<Vec<u8>>,
    pub shipments: u64,
    pub units_shipped: u64,
    pub short_units: u64,
    pub refused_in_outage: u64,
    pub release_to_ship: Vec<i64>,
    /// Shipment external id → when it left the floor.
    pub shipped_at: HashMap<String, i64>,
}

pub(crate) struct Request {
    released_at: i64,
    request: FulfillmentRequest,
    picked: bool,
    cancelled: bool,
}

/// Documents a system issued, by what they were issued for (a sales
/// order's reference, an order's package). The systems modelled here do not
/// deduplicate: a second request for the same key gets a second document,
/// and every copy after the first is a duplicate effect.
pub(crate) struct Ledger<K> {
    by_key: BTreeMap<K, Vec<String>>,
    issued: usize,
}

impl<K> Default for Ledger<K> {
    fn default() -> Self {
        Ledger {
            by_key: BTreeMap::new(),
            issued: 0,
        }
    }
}

impl<K: Ord> Ledger<K> {
    /// Issue a document for `key`: its id, and how many `key` now has.
    fn issue(&mut self, key: K, prefix: &str) -> (String, usize) {
        self.issued += 1;
        let id = format!("{prefix}{:08}", self.issued);
        let held = self.by_key.entry(key).or_default();
        held.push(id.clone());
        (id, held.len())
    }

    fn first<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&String>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.by_key.get(key).and_then(|ids| ids.first())
    }

    /// Documents issued beyond the first for their key.
    pub fn duplicates(&self) -> u64 {
        self.by_key.values().map(|ids| ids.len() as u64 - 1).sum()
    }
}

/// A generic cell rate: one call per `period`, `burst` back to back.
struct Gcra {
    period_ms: f64,
    tolerance_ms: f64,
    tat: f64,
}

impl Gcra {
    fn new(per_sec: f64, burst: u32) -> Option<Gcra> {
        (per_sec > 0.0).then(|| {
            let period_ms = 1000.0 / per_sec;
            Gcra {
                period_ms,
                tolerance_ms: period_ms * f64::from(burst.max(1) - 1),
                tat: 0.0,
            }
        })
    }

    /// Take a cell at `now`, or say how long until one is free.
    fn take(&mut self, now: i64) -> Result<(), Duration> {
        let now = now as f64;
        let tat = self.tat.max(now);
        if tat - now > self.tolerance_ms {
            return Err(Duration::from_millis(
                (tat - now - self.tolerance_ms).ceil() as u64,
            ));
        }
        self.tat = tat + self.period_ms;
        Ok(())
    }
}

/// The estate, shared by the models the hub calls and by the run.
pub(crate) struct Estate {
    pub clock: ManualClock,
    pub scenario: Scenario,
    world: Mutex<World>,
    channel_api: Mutex<Vec<Option<Gcra>>>,
}

fn ms_to_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stream of its own per purpose, so the hub's behaviour cannot change
/// what buyers do.
fn stream(seed: u64, purpose: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl Estate {
    pub fn new(scenario: Scenario, seed: u64) -> Arc<Estate> {
        let start = scenario.start_ms();
        let mut setup = stream(seed, 1);
        let c = &scenario.catalogue;
        let skus: Vec<Sku> = (0..c.skus)
            .map(|i| {
                let span = (c.price_max - c.price_min)
                    * Decimal::from(setup.random_range(0..=100u32))
                    / Decimal::from(100u32);
                Sku {
                    code: format!("SKU-{:05}", i + 1),
                    price: (c.price_min + span).round_dp(2),
                }
            })
            .collect();
        let mut popularity = Vec::with_capacity(skus.len());
        let mut total = 0.0;
        for rank in 1..=skus.len() {
            total += 1.0 / (rank as f64).powf(c.popularity_skew);
            popularity.push(total);
        }
        let mut floor = vec![vec![0i64; skus.len()]; scenario.warehouses.len()];
        let initial: Vec<i64> = skus
            .iter()
            .map(|_| {
                i64::from(
                    setup.random_range(scenario.stock.initial_min..=scenario.stock.initial_max),
                )
            })
            .collect();
        for (sku, &units) in initial.iter().enumerate() {
            let mut left = units;
            for (w, spec) in scenario.warehouses.iter().enumerate() {
                let here = if w + 1 == scenario.warehouses.len() {
                    left
                } else {
                    ((units as f64) * spec.stock_share).round() as i64
                };
                let here = here.min(left);
                floor[w][sku] = here;
                left -= here;
            }
        }
        let floor_history = floor
            .iter()
            .map(|skus| skus.iter().map(|u| VecDeque::from([(start, *u)])).collect())
            .collect();
        let channels = scenario
            .channels
            .iter()
            .enumerate()
            .map(|(i, _)| ChannelBook {
                rng: stream(seed, 100 + i as u64),
                next_order: 0,
                listed: vec![0; skus.len()],
                orders: BTreeMap::new(),
                confirmations: Ledger::default(),
                placed: 0,
                not_listed: 0,
                buyer_cancellations: 0,
                webhooks_delivered: 0,
                webhooks_duplicated: 0,
                webhooks_reordered: 0,
                webhooks_lost: 0,
                availability_updates: 0,
                polls: 0,
                throttled: 0,
                sync_lags: Vec::new(),
                ship_confirm: Vec::new(),
                per_hour: BTreeMap::new(),
            })
            .collect();
        let warehouses = scenario
            .warehouses
            .iter()
            .map(|spec| WarehouseBook {
                name: spec.name.clone(),
                requests: BTreeMap::new(),
                duplicate_releases: 0,
                next_pick_at: start,
                held: Vec::new(),
                shipments: 0,
                units_shipped: 0,
                short_units: 0,
                refused_in_outage: 0,
                release_to_ship: Vec::new(),
                shipped_at: HashMap::new(),
            })
            .collect();
        let channel_api = scenario
            .channels
            .iter()
            .map(|c| Gcra::new(c.api_requests_per_sec, 10))
            .collect();
        Arc::new(Estate {
            clock: ManualClock::new(start),
            world: Mutex::new(World {
                agenda: BTreeMap::new(),
                seq: 0,
                rng: stream(seed, 2),
                sku_index: skus
                    .iter()
                    .enumerate()
                    .map(|(i, sku)| (sku.code.clone(), i))
                    .collect(),
                skus,
                popularity,
                channels,
                erp: ErpBook::default(),
                warehouses,
                floor,
                floor_history,
                in_flight: 0,
                oversold_units: 0,
                oversold_orders: BTreeSet::new(),
            }),
            channel_api: Mutex::new(channel_api),
            scenario,
        })
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> i64 {
        use crossdock_engine::Clock;
        self.clock.now_ms()
    }

    fn offset(&self, at: i64) -> i64 {
        at - self.scenario.start_ms()
    }

    fn in_window(&self, windows: &[crate::scenario::Outage], at: i64) -> bool {
        let offset = self.offset(at);
        windows
            .iter()
            .any(|o| o.from_ms <= offset && offset < o.from_ms + o.duration_ms)
    }

    /// The stock every warehouse holds, as the ERP reports it: as it was
    /// `stock_lag` ago.
    fn erp_view(&self, now: i64) -> Vec<InventoryPosition> {
        let as_of = now - self.scenario.erp.stock_lag_ms;
        let world = self.world();
        let mut out = Vec::new();
        for (w, spec) in self.scenario.warehouses.iter().enumerate() {
            for (s, sku) in world.skus.iter().enumerate() {
                let history = &world.floor_history[w][s];
                let units = history
                    .iter()
                    .rev()
                    .find(|(t, _)| *t <= as_of)
                    .or(history.front())
                    .map_or(0, |(_, u)| *u);
                out.push(InventoryPosition {
                    sku: sku.code.clone(),
                    location: spec.name.clone(),
                    on_hand: units,
                    reserved: 0,
                    source: "erp".into(),
                    as_of: DateTime::<Utc>::from_timestamp_millis(
                        as_of.max(self.scenario.start_ms()),
                    )
                    .unwrap_or_default(),
                });
            }
        }
        out
    }
}

impl World {
    pub fn schedule(&mut self, at: i64, event: Event) {
        self.seq += 1;
        self.agenda.insert((at, self.seq), event);
    }

    pub fn next_event_at(&self) -> Option<i64> {
        self.agenda.first_key_value().map(|((at, _), _)| *at)
    }

    /// The next event if it is due by `now`.
    pub fn pop_due(&mut self, now: i64) -> Option<Event> {
        match self.agenda.first_key_value() {
            Some(((at, _), _)) if *at <= now => self.agenda.pop_first().map(|(_, e)| e),
            _ => None,
        }
    }

    fn pick_sku(rng: &mut SmallRng, popularity: &[f64]) -> usize {
        let total = popularity.last().copied().unwrap_or(1.0);
        let x = rng.random_range(0.0..total);
        popularity
            .partition_point(|c| *c <= x)
            .min(popularity.len() - 1)
    }

    fn set_floor(&mut self, warehouse: usize, sku: usize, units: i64, at: i64) {
        self.floor[warehouse][sku] = units;
        let history = &mut self.floor_history[warehouse][sku];
        history.push_back((at, units));
        // The ERP looks back at most its lag; older entries only need the
        // last one before that horizon.
        while history.len() > 64 {
            history.pop_front();
        }
    }
}

impl Estate {
    /// A buyer on `channel` places an order now, if the channel lists what
    /// they want; draws and schedules the next arrival.
    pub fn arrive(&self, channel: usize) {
        let now = self.now();
        let spec = &self.scenario.channels[channel];
        let cat = &self.scenario.catalogue;
        let end = self.scenario.start_ms() + self.scenario.duration_ms;
        let mut world = self.world();
        let w = &mut *world;
        let book = &mut w.channels[channel];
        // Thinning: arrivals are drawn at the day's highest rate and kept
        // with the share the rate at that moment has of it.
        let peak = spec.peaks.iter().map(|p| p.multiplier).fold(1.0, f64::max);
        let rate_max = spec.base_orders_per_hour * peak;
        let keep =
            spec.base_orders_per_hour * Scenario::multiplier(spec, self.offset(now)) / rate_max;
        let placed = book.rng.random_range(0.0..1.0) < keep;
        if rate_max > 0.0 {
            let gap = -(1.0 - book.rng.random_range(0.0..1.0f64)).ln() * 3_600_000.0 / rate_max;
            let next = now + gap.ceil() as i64;
            if next < end {
                w.schedule(next, Event::Arrival { channel });
            }
        }
        if !placed {
            return;
        }
        let book = &mut w.channels[channel];
        let lines = book.rng.random_range(1..=cat.max_lines);
        let mut items = Vec::new();
        let mut total = Decimal::ZERO;
        let mut wanted: Vec<usize> = Vec::new();
        for _ in 0..lines {
            let sku = World::pick_sku(&mut book.rng, &w.popularity);
            if wanted.contains(&sku) {
                continue;
            }
            wanted.push(sku);
            let qty = i64::from(book.rng.random_range(1..=cat.max_quantity)).min(book.listed[sku]);
            if qty <= 0 {
                book.not_listed += 1;
                continue;
            }
            book.listed[sku] -= qty;
            let price = w.skus[sku].price;
            let tax = (price * Decimal::from(qty) * Decimal::new(8, 2)).round_dp(2);
            total += price * Decimal::from(qty) + tax;
            items.push(json!({
                "line_id": format!("{}", items.len() + 1),
                "sku": w.skus[sku].code,
                "title": format!("Item {}", w.skus[sku].code),
                "quantity": qty,
                "unit_price": price.to_string(),
                "discount": "0.00",
                "tax": tax.to_string(),
            }));
        }
        if items.is_empty() {
            return;
        }
        book.next_order += 1;
        let n = book.next_order;
        let external = format!("{}-{:06}", spec.name.to_uppercase(), n);
        let shipping = Decimal::new(499, 2);
        total += shipping;
        let body = json!({
            "order_id": external,
            "sequence": 1,
            "status": "open",
            "created_at": ms_to_rfc3339(now),
            "currency": "USD",
            "buyer": {
                "id": format!("{}-buyer-{n}", spec.name),
                "email": format!("buyer{n}@{}.example", spec.name),
                "name": format!("Buyer {n}"),
            },
            "ship_to": {
                "name": format!("Buyer {n}"),
                "line1": format!("{n} Market Street"),
                "city": "Springfield",
                "region": "IL",
                "postal_code": "62701",
                "country": "US",
            },
            "items": items,
            "shipping": shipping.to_string(),
            "total": total.round_dp(2).to_string(),
            "service_level": "standard",
        });
        book.placed += 1;
        *book
            .per_hour
            .entry(self.offset(now) / 3_600_000)
            .or_default() += 1;
        let cancels = book.rng.random_range(0.0..1.0) < spec.cancel_rate;
        let cancel_at = now
            + book
                .rng
                .random_range(60_000..=spec.cancel_within_ms.max(60_001));
        book.orders.insert(
            external.clone(),
            ChannelOrder {
                placed_at: now,
                updated_at: now,
                sequence: 1,
                cancelled: false,
                confirmed: false,
                body: body.clone(),
            },
        );
        if cancels {
            w.schedule(
                cancel_at,
                Event::BuyerCancel {
                    channel,
                    order: external.clone(),
                },
            );
        }
        if spec.ingest == Ingest::Webhook {
            self.send_webhook(w, channel, &external, 1, &body);
        }
    }

    /// Send the order's webhook, with the channel's faults.
    fn send_webhook(
        &self,
        w: &mut World,
        channel: usize,
        order: &str,
        sequence: i64,
        body: &serde_json::Value,
    ) {
        let now = self.now();
        let spec = &self.scenario.channels[channel];
        let faults = &spec.faults;
        let event_id = format!("{order}:{sequence}");
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let roll = w.rng.random_range(0.0..1.0);
        let book = &mut w.channels[channel];
        if roll < faults.loss {
            book.webhooks_lost += 1;
            return;
        }
        let mut at = now + spec.webhook_delay_ms;
        if roll < faults.loss + faults.reorder {
            // Held back long enough that a later event overtakes it.
            book.webhooks_reordered += 1;
            at += 10 * 60_000;
        }
        let duplicate = w.rng.random_range(0.0..1.0) < faults.duplicate;
        let book = &mut w.channels[channel];
        if duplicate {
            book.webhooks_duplicated += 1;
        }
        for extra in 0..=i64::from(duplicate) {
            w.in_flight += 1;
            w.schedule(
                at + extra * 30_000,
                Event::Webhook {
                    channel,
                    event_id: event_id.clone(),
                    body: bytes.clone(),
                },
            );
        }
    }

    /// The buyer cancels, unless the channel already holds a shipment.
    pub fn buyer_cancel(&self, channel: usize, order: &str) {
        let now = self.now();
        let mut world = self.world();
        let w = &mut *world;
        let Some(o) = w.channels[channel].orders.get_mut(order) else {
            return;
        };
        if o.confirmed || o.cancelled {
            return;
        }
        o.cancelled = true;
        o.sequence += 1;
        o.updated_at = now;
        o.body["sequence"] = json!(o.sequence);
        o.body["status"] = json!("cancelled");
        let (sequence, body) = (o.sequence, o.body.clone());
        w.channels[channel].buyer_cancellations += 1;
        if self.scenario.channels[channel].ingest == Ingest::Webhook {
            self.send_webhook(w, channel, order, sequence, &body);
        }
    }

    /// A webhook was handed to the hub.
    pub fn delivered(&self, channel: usize) {
        let mut world = self.world();
        world.in_flight -= 1;
        world.channels[channel].webhooks_delivered += 1;
    }

    /// A warehouse finished picking: ship what the floor holds.
    pub fn picked(&self, warehouse: usize, request: &str) {
        let now = self.now();
        let spec = &self.scenario.warehouses[warehouse];
        let mut world = self.world();
        let w = &mut *world;
        w.in_flight -= 1;
        let Some(req) = w.warehouses[warehouse].requests.get_mut(request) else {
            return;
        };
        if req.cancelled || req.picked {
            return;
        }
        req.picked = true;
        let released_at = req.released_at;
        let fr = req.request.clone();
        let mut lines = Vec::new();
        let mut short = 0u64;
        for line in &fr.lines {
            let Some(&sku) = w.sku_index.get(&line.sku) else {
                continue;
            };
            let want = i64::from(line.quantity);
            let on_floor = w.floor[warehouse][sku];
            if on_floor < want {
                // Sold, reserved and released, and not on the floor.
                w.oversold_units += u64::try_from(want - on_floor).unwrap_or(0);
                w.oversold_orders.insert(fr.order_id.clone());
            }
            let mut ship = want.min(on_floor).max(0);
            if ship > 0 && w.rng.random_range(0.0..1.0) < spec.short_ship_rate {
                ship -= 1;
            }
            short += u64::try_from(want - ship).unwrap_or(0);
            w.set_floor(warehouse, sku, on_floor - ship, now);
            lines.push(json!({ "line_id": line.line_id, "sku": line.sku, "quantity": ship }));
        }
        let book = &mut w.warehouses[warehouse];
        book.shipments += 1;
        let shipped: u64 = lines.iter().filter_map(|l| l["quantity"].as_u64()).sum();
        book.units_shipped += shipped;
        book.short_units += short;
        book.release_to_ship.push(now - released_at);
        let external = format!("{}-S{:06}", spec.name.to_uppercase(), book.shipments);
        book.shipped_at.insert(external.clone(), now);
        let shipment = json!({
            "id": format!("{}:{external}", spec.name),
            "order_id": fr.order_id,
            "warehouse": spec.name,
            "external_id": external,
            "fulfillment_request_id": fr.id,
            "lines": lines,
            "tracking": { "carrier": "UPS", "number": format!("1Z{external}") },
            "shipped_at": ms_to_rfc3339(now),
            "completes_request": true,
        });
        let body = serde_json::to_vec(&shipment).unwrap_or_default();
        match spec.kind {
            WarehouseKind::Wms => {
                w.in_flight += 1;
                w.schedule(now + 5_000, Event::ShipmentMessage { warehouse, body });
            }
            WarehouseKind::ThirdParty => {
                w.in_flight += 1;
                book.held.push(body);
            }
        }
    }

    /// A 3PL sends what it shipped since its last batch.
    pub fn batch(&self, warehouse: usize) {
        let now = self.now();
        let mut world = self.world();
        let w = &mut *world;
        let held = std::mem::take(&mut w.warehouses[warehouse].held);
        for body in held {
            w.schedule(now + 60_000, Event::ShipmentMessage { warehouse, body });
        }
        let every = self.scenario.warehouses[warehouse].batch_every_ms;
        if every > 0 {
            w.schedule(now + every, Event::Batch { warehouse });
        }
    }

    pub fn shipment_delivered(&self) {
        self.world().in_flight -= 1;
    }

    pub fn listing(&self, channel: usize, sku: usize, quantity: i64) {
        self.world().channels[channel].listed[sku] = quantity;
    }

    /// Goods received: every SKU below the threshold gets the units.
    pub fn replenish(&self, index: usize) {
        let now = self.now();
        let r = &self.scenario.stock.replenishments[index];
        let Some(warehouse) = self
            .scenario
            .warehouses
            .iter()
            .position(|w| w.name == r.warehouse)
        else {
            return;
        };
        let mut world = self.world();
        for sku in 0..world.skus.len() {
            let units = world.floor[warehouse][sku];
            if units < i64::from(r.below) {
                world.set_floor(warehouse, sku, units + i64::from(r.units), now);
            }
        }
    }

    fn channel_api(&self, channel: usize) -> Result<(), ConnectorError> {
        let now = self.now();
        let mut api = self.channel_api.lock().unwrap_or_else(|p| p.into_inner());
        match api[channel].as_mut().map(|g| g.take(now)) {
            Some(Err(wait)) => {
                self.world().channels[channel].throttled += 1;
                Err(ConnectorError::Throttled {
                    reason: "429 Too Many Requests".into(),
                    retry_after: wait,
                })
            }
            _ => Ok(()),
        }
    }
}

/// A channel as the hub sees it: webhooks in the webstore format (read by
/// the hub's own webstore connector), an order API to poll, shipment
/// confirmations and availability updates.
pub(crate) struct SimChannel {
    pub estate: Arc<Estate>,
    pub index: usize,
    pub name: String,
    /// The hub's connector for this wire format: reads what the model sends.
    pub wire: crossdock_connectors::channel::WebstoreChannel,
}

#[async_trait]
impl Channel for SimChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        self.wire.read_webhook(headers, body)
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        self.wire.map_message(body)
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        let mut world = self.estate.world();
        world.channels[self.index].polls += 1;
        Ok(world.channels[self.index]
            .orders
            .iter()
            .filter(|(_, o)| o.updated_at >= since_ms)
            .map(|(id, o)| {
                (
                    InboundEnvelope {
                        message_key: format!("{id}:{}", o.sequence),
                        external_order_id: id.clone(),
                        source_version: o.sequence,
                    },
                    serde_json::to_vec(&o.body).unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        self.estate.channel_api(self.index)?;
        let now = self.estate.now();
        let mut world = self.estate.world();
        let w = &mut *world;
        let warehouse = w
            .warehouses
            .iter()
            .position(|b| b.name == confirmation.shipment.warehouse);
        let shipped_at = warehouse.and_then(|i| {
            w.warehouses[i]
                .shipped_at
                .get(&confirmation.shipment.external_id)
                .copied()
        });
        let book = &mut w.channels[self.index];
        let Some(order) = book.orders.get_mut(&confirmation.external_order_id) else {
            return Err(ConnectorError::rejected(format!(
                "404: no order {}",
                confirmation.external_order_id
            )));
        };
        order.confirmed = true;
        let (id, copies) = book.confirmations.issue(
            (
                confirmation.external_order_id.clone(),
                confirmation.package_id.clone(),
            ),
            "CONF",
        );
        if copies == 1
            && let (Some(warehouse), Some(shipped_at)) = (warehouse, shipped_at)
        {
            book.ship_confirm.push((warehouse, now - shipped_at));
        }
        Ok(id)
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let world = self.estate.world();
        Ok(world.channels[self.index]
            .confirmations
            .first(&(external_order_id.to_owned(), package_id.to_owned()))
            .cloned())
    }

    fn availability_batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        match cadence {
            AvailabilityCadence::Urgent => self.estate.scenario.channels[self.index].urgent_batch,
            AvailabilityCadence::Batch => {
                self.estate.scenario.channels[self.index].availability_batch
            }
        }
    }

    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        _cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        self.estate.channel_api(self.index)?;
        let now = self.estate.now();
        let shows_at = now + self.estate.scenario.channels[self.index].listing_delay_ms;
        let mut world = self.estate.world();
        let w = &mut *world;
        let mut results = Vec::with_capacity(updates.len());
        for u in updates {
            let Some(&sku) = w.sku_index.get(&u.sku) else {
                results.push(AvailabilityResult {
                    sku: u.sku.clone(),
                    outcome: AvailabilityOutcome::Rejected {
                        reason: format!("no listing for {}", u.sku),
                    },
                });
                continue;
            };
            let book = &mut w.channels[self.index];
            book.availability_updates += 1;
            book.sync_lags.push(shows_at - u.changed_at);
            if shows_at <= now {
                book.listed[sku] = u.quantity;
            } else {
                w.schedule(
                    shows_at,
                    Event::Listing {
                        channel: self.index,
                        sku,
                        quantity: u.quantity,
                    },
                );
            }
            results.push(AvailabilityResult {
                sku: u.sku.clone(),
                outcome: AvailabilityOutcome::Accepted,
            });
        }
        Ok(results)
    }
}

/// The ERP: customers, sales orders, invoices, stock.
pub(crate) struct SimErp {
    pub estate: Arc<Estate>,
}

impl SimErp {
    /// Admit a call: refused while down, over the rate (per minute, as a
    /// cloud ERP counts it) or over the concurrency limit; returns when the
    /// call completes.
    fn admit(&self, operation: &'static str) -> Result<i64, ConnectorError> {
        let now = self.estate.now();
        let spec = &self.estate.scenario.erp;
        let down = self.estate.in_window(&spec.outages, now);
        let interval = self.estate.scenario.sample_every_ms;
        let offset = self.estate.offset(now);
        let mut world = self.estate.world();
        let w = &mut *world;
        let erp = &mut w.erp;
        if down {
            erp.failed_in_outage += 1;
            return Err(ConnectorError::Unreachable {
                reason: "connection refused (ERP down)".into(),
            });
        }
        while erp.recent_calls.front().is_some_and(|t| *t <= now - 60_000) {
            erp.recent_calls.pop_front();
        }
        erp.in_flight_until.retain(|until| *until > now);
        let per_minute = (spec.requests_per_sec * 60.0).floor().max(1.0) as usize;
        if erp.recent_calls.len() >= per_minute
            || erp.in_flight_until.len() >= spec.max_concurrency as usize
        {
            erp.throttled += 1;
            return Err(ConnectorError::Throttled {
                reason: "429 Too Many Requests".into(),
                retry_after: Duration::from_secs(1),
            });
        }
        let slow = w.rng.random_range(0.0..1.0) < spec.slow_share;
        let latency = if slow {
            (spec.latency_ms as f64 * spec.slow_factor) as i64
        } else {
            spec.latency_ms / 2 + w.rng.random_range(0..=spec.latency_ms.max(1))
        };
        let erp = &mut w.erp;
        erp.recent_calls.push_back(now);
        erp.in_flight_until.push(now + latency);
        erp.calls += 1;
        *erp.calls_by_operation.entry(operation).or_default() += 1;
        *erp.calls_per_interval.entry(offset / interval).or_default() += 1;
        Ok(now + latency)
    }
}

#[async_trait]
impl Erp for SimErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        self.admit("customer.upsert")?;
        let mut world = self.estate.world();
        let n = world.erp.customers.len() + 1;
        Ok(world
            .erp
            .customers
            .entry(customer.email.clone())
            .or_insert_with(|| format!("C{n:07}"))
            .clone())
    }

    async fn create_sales_order(
        &self,
        reference: &str,
        _customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let done = self.admit("sales_order.create")?;
        let mut world = self.estate.world();
        let erp = &mut world.erp;
        let (id, _) = erp.sales_orders.issue(reference.to_owned(), "SO");
        erp.accepted_at.entry(order.id.clone()).or_insert(done);
        Ok(ErpDocument {
            id,
            reference: reference.to_owned(),
        })
    }

    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        self.admit("sales_order.find")?;
        let world = self.estate.world();
        Ok(world
            .erp
            .sales_orders
            .first(reference)
            .map(|id| ErpDocument {
                id: id.clone(),
                reference: reference.to_owned(),
            }))
    }

    async fn post_invoice(
        &self,
        reference: &str,
        _order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.admit("invoice.post")?;
        let mut world = self.estate.world();
        let (id, _) = world.erp.invoices.issue(reference.to_owned(), "INV");
        Ok(ErpDocument {
            id,
            reference: reference.to_owned(),
        })
    }

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.admit("invoice.find")?;
        let world = self.estate.world();
        Ok(world.erp.invoices.first(reference).map(|id| ErpDocument {
            id: id.clone(),
            reference: reference.to_owned(),
        }))
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        self.admit("stock.read")?;
        Ok(self.estate.erp_view(self.estate.now()))
    }

    async fn cancel_sales_order(&self, _erp_id: &str) -> Result<(), ConnectorError> {
        self.admit("sales_order.cancel")?;
        Ok(())
    }
}

/// A warehouse or 3PL: takes releases, picks within its capacity, ships
/// what its floor holds and sends shipment messages (at once, or in the
/// 3PL's batches) in the hub's canonical shipment form, which is what the
/// hub's file-exchange connector commits after reading a 945.
pub(crate) struct SimWarehouse {
    pub estate: Arc<Estate>,
    pub index: usize,
    pub name: String,
}

#[async_trait]
impl Warehouse for SimWarehouse {
    fn name(&self) -> &str {
        &self.name
    }

    async fn release(&self, request: &FulfillmentRequest) -> Result<String, ConnectorError> {
        let now = self.estate.now();
        let spec = &self.estate.scenario.warehouses[self.index];
        let down = self.estate.in_window(&spec.outages, now);
        let mut world = self.estate.world();
        let w = &mut *world;
        let book = &mut w.warehouses[self.index];
        if down {
            book.refused_in_outage += 1;
            return Err(ConnectorError::Unreachable {
                reason: "connection refused (warehouse down)".into(),
            });
        }
        if book.requests.contains_key(&request.id) {
            // A real floor would pick it twice.
            book.duplicate_releases += 1;
            return Ok(format!("{}-{}", self.name, request.id));
        }
        let slot = 3_600_000.0 / spec.capacity_per_hour;
        let start = book.next_pick_at.max(now);
        book.next_pick_at = start + slot.ceil() as i64;
        let pick = spec.pick_time_ms / 2 + w.rng.random_range(0..=spec.pick_time_ms.max(1));
        let book = &mut w.warehouses[self.index];
        book.requests.insert(
            request.id.clone(),
            Request {
                released_at: now,
                request: request.clone(),
                picked: false,
                cancelled: false,
            },
        );
        w.in_flight += 1;
        w.schedule(
            start + pick,
            Event::Picked {
                warehouse: self.index,
                request: request.id.clone(),
            },
        );
        Ok(format!("{}-{}", self.name, request.id))
    }

    async fn find_release(&self, request_id: &str) -> Result<Option<String>, ConnectorError> {
        let world = self.estate.world();
        Ok(world.warehouses[self.index]
            .requests
            .contains_key(request_id)
            .then(|| format!("{}-{request_id}", self.name)))
    }

    async fn cancel_release(&self, request_id: &str) -> Result<CancelOutcome, ConnectorError> {
        let mut world = self.estate.world();
        Ok(
            match world.warehouses[self.index].requests.get_mut(request_id) {
                None => CancelOutcome::NotFound,
                Some(r) if r.picked => CancelOutcome::TooLate,
                Some(r) => {
                    r.cancelled = true;
                    CancelOutcome::Cancelled
                }
            },
        )
    }

    fn read_webhook(
        &self,
        _headers: &HeaderMap,
        body: &[u8],
    ) -> Result<ShipmentEnvelope, InputError> {
        let shipment = self.map_shipment(body)?;
        Ok(ShipmentEnvelope {
            message_key: format!("{}:{}", self.name, shipment.external_id),
            order_id: shipment.order_id,
        })
    }

    fn map_shipment(&self, body: &[u8]) -> Result<Shipment, InputError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de)
            .map_err(|e| InputError::new(e.path().to_string(), e.inner().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossdock_connectors::{HttpClient, HttpClientOptions};
    use crossdock_engine::Clock;
    use crossdock_model::FulfillmentLine;

    fn estate() -> Arc<Estate> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/peak-season.toml");
        let scenario = Scenario::from_file(&path).expect("scenario");
        Estate::new(scenario, 5)
    }

    fn order(estate: &Arc<Estate>) -> Order {
        // Fill the shelves so the buyer finds something, and place orders
        // until one is taken.
        for listed in &mut estate.world().channels[2].listed {
            *listed = 10;
        }
        while estate.world().channels[2].orders.is_empty() {
            estate.arrive(2);
        }
        let body = {
            let w = estate.world();
            serde_json::to_vec(&w.channels[2].orders.values().next().expect("one").body)
                .expect("json")
        };
        let wire = crossdock_connectors::channel::WebstoreChannel::new(
            "shopify",
            "http://channel.invalid/",
            HttpClient::new(HttpClientOptions::default()).expect("client"),
        )
        .expect("connector");
        match wire
            .map_message(&body)
            .expect("the hub reads what the channel sends")
        {
            ChannelEvent::Order(order) => *order,
            other => panic!("not an order: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_second_sales_order_for_one_reference_is_a_duplicate() {
        let estate = estate();
        let erp = SimErp {
            estate: estate.clone(),
        };
        let order = order(&estate);
        erp.create_sales_order("REF-1", "C1", &order)
            .await
            .expect("created");
        estate.clock.advance(10_000);
        erp.create_sales_order("REF-1", "C1", &order)
            .await
            .expect("created again");
        let w = estate.world();
        assert_eq!(
            w.erp.sales_orders.duplicates(),
            1,
            "the ERP does not deduplicate: a second sales order for REF-1"
        );
        assert!(w.erp.sales_orders.first("REF-1").is_some());
        assert!(w.erp.accepted_at.contains_key(&order.id));
    }

    #[tokio::test]
    async fn the_erp_refuses_over_its_limit_and_fails_while_down() {
        let estate = estate();
        let erp = SimErp {
            estate: estate.clone(),
        };
        // The limit is counted per minute, as a cloud ERP counts it: that
        // many calls within a minute pass, the next is refused.
        let per_minute = (estate.scenario.erp.requests_per_sec * 60.0).floor() as i64;
        for _ in 0..per_minute {
            erp.find_invoice("X").await.expect("within the limit");
            estate.clock.advance(50_000 / per_minute);
        }
        let refused = erp.find_invoice("X").await.expect_err("over the limit");
        assert!(
            matches!(refused, ConnectorError::Throttled { .. }),
            "{refused:?}"
        );
        // 13:10 is the scenario's outage.
        estate
            .clock
            .set(estate.scenario.start_ms() + (13 * 60 + 15) * 60_000);
        let down = erp.find_invoice("X").await.expect_err("down");
        assert!(
            matches!(down, ConnectorError::Unreachable { .. }) && !down.is_in_doubt(),
            "{down:?}"
        );
        let w = estate.world();
        assert_eq!((w.erp.throttled, w.erp.failed_in_outage), (1, 1));
    }

    #[tokio::test]
    async fn a_release_for_units_not_on_the_floor_is_an_oversell() {
        let estate = estate();
        let wh = SimWarehouse {
            estate: estate.clone(),
            index: 0,
            name: "dc-east".into(),
        };
        let sku = estate.world().skus[0].code.clone();
        let on_floor = estate.world().floor[0][0];
        let request = FulfillmentRequest {
            id: "FR-1".into(),
            order_id: "O-1".into(),
            channel: "shopify".into(),
            channel_order_id: "S-1".into(),
            warehouse: "dc-east".into(),
            service_level: "standard".into(),
            ship_to: None,
            lines: vec![FulfillmentLine {
                line_id: "1".into(),
                sku,
                quantity: u32::try_from(on_floor + 3).expect("units"),
            }],
        };
        wh.release(&request).await.expect("released");
        wh.release(&request).await.expect("a resend is answered");
        let picked_at = estate.world().next_event_at().expect("a pick is due");
        estate.clock.set(picked_at);
        estate.picked(0, "FR-1");
        let w = estate.world();
        assert_eq!(w.warehouses[0].duplicate_releases, 1);
        assert_eq!(w.oversold_units, 3);
        assert!(w.oversold_orders.contains("O-1"));
        assert_eq!(w.floor[0][0], 0, "what was there shipped");
    }

    #[test]
    fn the_erp_reports_the_floor_as_it_was_its_lag_ago() {
        let estate = estate();
        let start = estate.clock.now_ms();
        let before = estate.world().floor[0][0];
        estate.clock.set(start + 60_000);
        estate.world().set_floor(0, 0, before - 5, start + 60_000);
        let code = estate.world().skus[0].code.clone();
        let seen = |at: i64| {
            estate
                .erp_view(at)
                .into_iter()
                .find(|p| p.sku == code && p.location == "dc-east")
                .expect("position")
                .on_hand
        };
        assert_eq!(seen(start + 10 * 60_000), before, "20 minutes late");
        assert_eq!(seen(start + 21 * 60_000), before - 5);
    }
}
