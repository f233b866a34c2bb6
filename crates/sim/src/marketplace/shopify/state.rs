//! The shop: its catalogue, locations, orders with their fulfillment
//! orders and fulfillments, stock, and the counters at `/sim/stats`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, FixedOffset, SecondsFormat, TimeDelta, Utc};
use rand::Rng;
use rand::rngs::SmallRng;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::config::ShopifySimConfig;
use super::wire::whole_seconds;
use crate::delivery::Deliverer;
use crate::marketplace::base::Base;
use crate::marketplace::bucket::Bucket;
use crate::wire::lock;

pub(super) struct Variant {
    pub(super) sku: String,
    pub(super) product_id: u64,
    pub(super) variant_id: u64,
    pub(super) inventory_item_id: u64,
    pub(super) price: Decimal,
    pub(super) grams: u32,
    /// Index into `locations`: where it is stocked.
    pub(super) location: usize,
}

pub(super) struct Location {
    pub(super) id: u64,
    pub(super) name: String,
}

pub(super) struct LineItem {
    pub(super) id: u64,
    pub(super) variant: usize,
    pub(super) quantity: u32,
    pub(super) price: Decimal,
    pub(super) discount: Decimal,
    pub(super) tax: Decimal,
}

pub(super) struct FoLine {
    pub(super) id: u64,
    pub(super) line_item_id: u64,
    pub(super) quantity: u32,
    pub(super) fulfillable: u32,
}

pub(super) struct FulfillmentOrder {
    pub(super) id: u64,
    pub(super) location: usize,
    pub(super) status: &'static str,
    pub(super) lines: Vec<FoLine>,
}

pub(super) struct Fulfillment {
    pub(super) id: u64,
    pub(super) created: DateTime<Utc>,
    pub(super) location: usize,
    pub(super) tracking_number: Option<String>,
    pub(super) company: Option<String>,
    pub(super) url: Option<String>,
    /// (order line item id, quantity)
    pub(super) lines: Vec<(u64, u32)>,
}

pub(super) struct Address {
    pub(super) first: String,
    pub(super) last: String,
    pub(super) line1: String,
    pub(super) city: &'static str,
    pub(super) province: &'static str,
    pub(super) zip: &'static str,
}

pub(super) struct ShopifyOrder {
    pub(super) id: u64,
    pub(super) number: u64,
    pub(super) token: String,
    pub(super) created: DateTime<Utc>,
    pub(super) updated: DateTime<Utc>,
    /// When it shows in `orders.json`.
    pub(super) listed_from: Instant,
    pub(super) customer_id: u64,
    pub(super) customer_no: u32,
    pub(super) phone: Option<String>,
    pub(super) address: Option<Address>,
    pub(super) note: Option<String>,
    pub(super) lines: Vec<LineItem>,
    pub(super) shipping: Decimal,
    pub(super) discount_code: Option<String>,
    pub(super) cancelled_at: Option<DateTime<Utc>>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    pub(super) fulfillment_orders: Vec<FulfillmentOrder>,
    pub(super) fulfillments: Vec<Fulfillment>,
}

impl ShopifyOrder {
    /// Shopify's `updated_at` has whole seconds; keep it strictly increasing
    /// so every change is a newer version to a client comparing times.
    pub(super) fn touch(&mut self) {
        let now = whole_seconds(Utc::now());
        self.updated = now.max(self.updated + TimeDelta::seconds(1));
    }

    pub(super) fn is_open(&self) -> bool {
        self.cancelled_at.is_none() && self.closed_at.is_none()
    }
}

/// A Shopify Payments balance transaction (`payouts.rs`).
pub(super) struct BalanceTransaction {
    pub(super) id: u64,
    pub(super) kind: &'static str,
    pub(super) amount: Decimal,
    pub(super) fee: Decimal,
    pub(super) source_order_id: Option<u64>,
    pub(super) source_type: &'static str,
    pub(super) processed_at: DateTime<Utc>,
}

/// A payout and its balance transactions, the `payout` row last.
pub(super) struct Payout {
    pub(super) id: u64,
    pub(super) date: DateTime<Utc>,
    pub(super) amount: Decimal,
    pub(super) transactions: Vec<BalanceTransaction>,
    pub(super) planted_order: u64,
}

/// A stored `@idempotent` result: what was asked, and what was answered.
pub(super) struct IdempotentResult {
    pub(super) request: Value,
    pub(super) answer: Value,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) orders_generated: u64,
    pub(super) orders_cancelled: u64,
    pub(super) orders_updated: u64,
    pub(super) events: u64,
    pub(super) duplicates_sent: u64,
    pub(super) deliveries_delayed: u64,
    pub(super) webhooks_dropped: u64,
    pub(super) fulfillments_created: u64,
    pub(super) duplicate_fulfillments: u64,
    pub(super) over_fulfillment_refusals: u64,
    pub(super) fulfillments_refused: u64,
    pub(super) throttled_429: u64,
    pub(super) forced_throttles_served: u64,
    pub(super) graphql_throttled: u64,
    pub(super) unauthorized: u64,
    pub(super) inventory_mutations_applied: u64,
    pub(super) idempotent_replays: u64,
    pub(super) stale_refusals: u64,
    pub(super) inventory_user_errors: u64,
}

pub(super) struct ShopifyState {
    pub(super) orders: BTreeMap<u64, ShopifyOrder>,
    pub(super) generated: Vec<String>,
    pub(super) cancelled: Vec<String>,
    pub(super) dropped: Vec<String>,
    /// (variant index, location index) → available.
    pub(super) available: HashMap<(usize, usize), i64>,
    pub(super) idempotent: HashMap<String, IdempotentResult>,
    pub(super) next_id: u64,
    pub(super) next_number: u64,
    pub(super) counters: Counters,
    /// Orders whose charge and refund are in a payout (`payouts.rs`): each once.
    pub(super) charged_orders: BTreeSet<u64>,
    pub(super) refunded_orders: BTreeSet<u64>,
    pub(super) payouts: Vec<Payout>,
    pub(super) payouts_closed: u64,
}

impl ShopifyState {
    /// Ids beyond 2^53, increasing, unique across kinds, so a client that
    /// reads them through a float loses them.
    pub(super) fn id(&mut self, rng: &mut SmallRng) -> u64 {
        self.next_id += rng.random_range(1..=997u64);
        self.next_id
    }
}

pub(crate) struct ShopifySim {
    pub(super) config: ShopifySimConfig,
    pub(super) base: Base,
    pub(super) offset: FixedOffset,
    pub(super) variants: Vec<Variant>,
    pub(super) locations: Vec<Location>,
    pub(super) shop_id: u64,
    pub(super) state: Mutex<ShopifyState>,
    /// The REST leaky bucket (one call, one unit).
    pub(super) rest_bucket: Mutex<Bucket>,
    /// The GraphQL cost bucket (points per query).
    pub(super) graphql_bucket: Mutex<Bucket>,
    pub(super) forced_throttles: AtomicU64,
}

impl ShopifySim {
    pub(crate) fn new(
        config: ShopifySimConfig,
        hub_url: &str,
        mut rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
    ) -> Arc<Self> {
        let mut next_id: u64 = (1 << 53) + rng.random_range(1_000_000..9_000_000u64);
        let mut id = |rng: &mut SmallRng| {
            next_id += rng.random_range(1..=997u64);
            next_id
        };
        let shop_id = id(&mut rng);
        let locations: Vec<Location> = (0..config.locations)
            .map(|i| Location {
                id: id(&mut rng),
                name: format!("Warehouse {}", i + 1),
            })
            .collect();
        let variants: Vec<Variant> = config
            .skus
            .iter()
            .enumerate()
            .map(|(i, sku)| Variant {
                sku: sku.clone(),
                product_id: id(&mut rng),
                variant_id: id(&mut rng),
                inventory_item_id: id(&mut rng),
                price: Decimal::new(rng.random_range(299..=19_999), 2),
                grams: rng.random_range(50..=3_000),
                location: i % locations.len().max(1),
            })
            .collect();
        let available = variants
            .iter()
            .enumerate()
            .map(|(i, v)| ((i, v.location), config.initial_available))
            .collect();
        let offset = FixedOffset::east_opt(config.utc_offset_minutes * 60)
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
        let base = Base::new(
            &config.name,
            hub_url,
            &config.faults,
            rng,
            started,
            deliverer,
        );
        let now = Instant::now();
        let rest_bucket = Bucket::full(f64::from(config.bucket_size), config.leak_per_sec, now);
        let graphql_bucket = Bucket::full(
            f64::from(config.graphql_bucket),
            config.graphql_restore_per_sec,
            now,
        );
        Arc::new(ShopifySim {
            offset,
            forced_throttles: AtomicU64::new(config.force_throttle),
            config,
            base,
            variants,
            locations,
            shop_id,
            state: Mutex::new(ShopifyState {
                orders: BTreeMap::new(),
                generated: Vec::new(),
                cancelled: Vec::new(),
                dropped: Vec::new(),
                available,
                idempotent: HashMap::new(),
                next_id,
                next_number: 1000,
                counters: Counters::default(),
                charged_orders: BTreeSet::new(),
                refunded_orders: BTreeSet::new(),
                payouts: Vec::new(),
                payouts_closed: 0,
            }),
            rest_bucket: Mutex::new(rest_bucket),
            graphql_bucket: Mutex::new(graphql_bucket),
        })
    }

    pub(super) fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.offset)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    pub(crate) fn stats(&self) -> Value {
        let state = lock(&self.state);
        let c = &state.counters;
        let mut out = Map::new();
        out.insert("name".into(), self.config.name.as_str().into());
        for (key, value) in [
            ("orders_generated", c.orders_generated),
            ("orders_cancelled", c.orders_cancelled),
            ("orders_updated", c.orders_updated),
            ("webhook_events", c.events),
            ("duplicates_sent", c.duplicates_sent),
            ("deliveries_delayed", c.deliveries_delayed),
            ("webhooks_dropped", c.webhooks_dropped),
            ("fulfillments_created", c.fulfillments_created),
            ("duplicate_fulfillments", c.duplicate_fulfillments),
            ("over_fulfillment_refusals", c.over_fulfillment_refusals),
            ("fulfillments_refused", c.fulfillments_refused),
            ("throttled_429", c.throttled_429),
            ("forced_throttles_served", c.forced_throttles_served),
            ("graphql_throttled", c.graphql_throttled),
            ("unauthorized", c.unauthorized),
            ("inventory_mutations_applied", c.inventory_mutations_applied),
            ("idempotent_replays", c.idempotent_replays),
            ("stale_refusals", c.stale_refusals),
            ("inventory_user_errors", c.inventory_user_errors),
        ] {
            out.insert(key.to_owned(), value.into());
        }
        let mut available: BTreeMap<&str, i64> = BTreeMap::new();
        for ((variant, _), q) in &state.available {
            *available.entry(&self.variants[*variant].sku).or_default() += q;
        }
        out.insert("available".into(), json!(available));
        out.insert("generated_order_ids".into(), json!(state.generated));
        out.insert("cancelled_order_ids".into(), json!(state.cancelled));
        out.insert("dropped_order_ids".into(), json!(state.dropped));
        drop(state);
        self.base.write_delivery_stats(&mut out);
        out.insert("generation_done".into(), self.base.generation_done().into());
        self.base.gate.write_stats(&mut out);
        Value::Object(out)
    }
}
