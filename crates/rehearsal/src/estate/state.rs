//! The estate's state: the books each modelled system keeps, the world
//! they live in and the [`Estate`] the models share. A leaf below the
//! models: it holds their books, they hold the behaviour.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use crossdock_engine::ManualClock;
use crossdock_model::FulfillmentRequest;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use super::agenda::{Agenda, Event};
use super::ledger::Ledger;
use super::rate::Gcra;
use crate::report::OversoldLine;
use crate::scenario::{Outage, Scenario};

/// The estate's books: what each system holds and what it saw.
pub(crate) struct World {
    pub agenda: Agenda,
    /// Faults and latencies (demand draws from each channel's own stream).
    pub(super) rng: SmallRng,
    pub skus: Vec<Sku>,
    /// SKU code → index into `skus`.
    pub(super) sku_index: HashMap<String, usize>,
    /// Cumulative popularity weights over `skus`.
    pub(super) popularity: Vec<f64>,
    pub channels: Vec<ChannelBook>,
    pub erp: ErpBook,
    pub warehouses: Vec<WarehouseBook>,
    /// Units on each warehouse's floor, by SKU index, with their history
    /// (time, units) so the ERP can report them late.
    pub floor: Vec<Vec<i64>>,
    pub(super) floor_history: Vec<Vec<VecDeque<(i64, i64)>>>,
    /// Webhooks and shipment messages on their way, picks not finished.
    pub in_flight: i64,
    pub oversold_units: u64,
    pub oversold_orders: BTreeSet<String>,
    /// Each line a floor came up short on, with what the estate saw then.
    pub oversold_lines: Vec<OversoldLine>,
}

pub(crate) struct Sku {
    pub code: String,
    pub price: Decimal,
}

pub(crate) struct ChannelBook {
    pub(super) rng: SmallRng,
    pub(super) next_order: u64,
    /// What buyers can buy now, by SKU index (what the channel lists).
    pub listed: Vec<i64>,
    /// When each SKU's listing was last set by the hub's update.
    pub listed_at: Vec<i64>,
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
    pub(super) body: serde_json::Value,
    /// Per line bought: the SKU, what the channel listed of it then and
    /// how long before its listing was last set (ms).
    pub listed: Vec<(String, i64, i64)>,
}

#[derive(Default)]
pub(crate) struct ErpBook {
    pub(super) customers: BTreeMap<String, String>,
    /// Sales orders and invoices by our reference.
    pub sales_orders: Ledger<String>,
    pub invoices: Ledger<String>,
    /// Settlement journals by our reference.
    pub journals: Ledger<String>,
    /// Order id → when its sales order was accepted.
    pub accepted_at: BTreeMap<String, i64>,
    pub(super) recent_calls: VecDeque<i64>,
    pub(super) in_flight_until: Vec<i64>,
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
    pub(super) next_pick_at: i64,
    /// A 3PL's shipments waiting for the next batch.
    pub(super) held: Vec<Vec<u8>>,
    pub shipments: u64,
    pub units_shipped: u64,
    pub short_units: u64,
    pub refused_in_outage: u64,
    pub release_to_ship: Vec<i64>,
    /// Shipment external id → when it left the floor.
    pub shipped_at: HashMap<String, i64>,
}

pub(crate) struct Request {
    pub(super) released_at: i64,
    pub(super) request: FulfillmentRequest,
    pub(super) picked: bool,
    pub(super) cancelled: bool,
}

/// The estate, shared by the models the hub calls and by the run.
pub(crate) struct Estate {
    pub clock: ManualClock,
    pub scenario: Scenario,
    world: Mutex<World>,
    pub(super) channel_api: Mutex<Vec<Option<Gcra>>>,
}

pub(super) fn ms_to_rfc3339(ms: i64) -> String {
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
                listed_at: vec![start; skus.len()],
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
                agenda: Agenda::default(),
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
                oversold_lines: Vec::new(),
            }),
            channel_api: Mutex::new(channel_api),
            scenario,
        })
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put `event` on the agenda at `at`.
    pub fn schedule(&self, at: i64, event: Event) {
        self.world().agenda.schedule(at, event);
    }

    pub(super) fn now(&self) -> i64 {
        use crossdock_engine::Clock;
        self.clock.now_ms()
    }

    pub(super) fn offset(&self, at: i64) -> i64 {
        at - self.scenario.start_ms()
    }

    pub(super) fn in_window(&self, windows: &[Outage], at: i64) -> bool {
        let offset = self.offset(at);
        windows
            .iter()
            .any(|o| o.from_ms <= offset && offset < o.from_ms + o.duration_ms)
    }
}

impl World {
    pub(super) fn set_floor(&mut self, warehouse: usize, sku: usize, units: i64, at: i64) {
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
