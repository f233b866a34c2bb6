//! The seller account: purchase orders line by line, inventory, feeds,
//! access tokens, the buckets, and the counters at `/sim/stats`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDate;
use rand::rngs::SmallRng;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::config::{RateGroup, WalmartSimConfig};
use crate::delivery::Deliverer;
use crate::marketplace::base::Base;
use crate::marketplace::bucket::Bucket;
use crate::wire::lock;

/// The reason Walmart shows on units the buyer cancelled.
pub(super) const BUYER_CANCEL_REASON: &str = "CUSTOMER_CANCEL";
/// The reason shown on units cancelled because the seller did not
/// acknowledge them in time.
pub(super) const UNACKNOWLEDGED_CANCEL_REASON: &str = "AUTO_CANCEL_NOT_ACKNOWLEDGED";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LineState {
    Created,
    Acknowledged,
}

#[derive(Debug, Clone)]
pub(super) struct ShippedUnits {
    pub(super) quantity: u32,
    /// `trackingInfo` as the seller sent it (validated).
    pub(super) tracking: Value,
    pub(super) tracking_number: String,
}

#[derive(Debug, Clone)]
pub(super) struct CancelledUnits {
    pub(super) quantity: u32,
    pub(super) reason: String,
}

#[derive(Debug, Clone)]
pub(super) struct PoLine {
    pub(super) line_number: String,
    pub(super) sku: String,
    pub(super) quantity: u32,
    /// The `PRODUCT` charge: the line's amount for all its units.
    pub(super) amount: Decimal,
    pub(super) tax: Decimal,
    /// A `SHIPPING` charge and its tax, on the first line only.
    pub(super) shipping: Option<(Decimal, Decimal)>,
    pub(super) open_state: LineState,
    pub(super) shipped: Vec<ShippedUnits>,
    pub(super) cancelled: Vec<CancelledUnits>,
    pub(super) status_date: i64,
}

impl PoLine {
    pub(super) fn shipped_units(&self) -> u32 {
        self.shipped.iter().map(|s| s.quantity).sum()
    }

    pub(super) fn cancelled_units(&self) -> u32 {
        self.cancelled.iter().map(|c| c.quantity).sum()
    }

    /// Units neither shipped nor cancelled.
    pub(super) fn open_units(&self) -> u32 {
        self.quantity
            .saturating_sub(self.shipped_units() + self.cancelled_units())
    }
}

#[derive(Debug, Clone)]
pub(super) struct WalmartOrder {
    pub(super) purchase_order_id: String,
    pub(super) customer_order_id: String,
    pub(super) customer_email_id: String,
    pub(super) order_date: i64,
    pub(super) visible_at: i64,
    pub(super) method_code: &'static str,
    pub(super) name: String,
    pub(super) phone: String,
    pub(super) address1: String,
    pub(super) city: &'static str,
    pub(super) state: &'static str,
    pub(super) postal_code: &'static str,
    pub(super) lines: Vec<PoLine>,
    /// When units still unacknowledged are cancelled (`None`: never).
    pub(super) acknowledge_by: Option<i64>,
}

impl WalmartOrder {
    /// Cancels the units still `Created` once the acknowledgement deadline
    /// has passed at `now`, dated at the deadline; returns how many.
    pub(super) fn expire_unacknowledged(&mut self, now: i64) -> u64 {
        let Some(deadline) = self.acknowledge_by.filter(|d| *d <= now) else {
            return 0;
        };
        let mut cancelled = 0;
        for line in &mut self.lines {
            let open = line.open_units();
            if line.open_state == LineState::Created && open > 0 {
                line.cancelled.push(CancelledUnits {
                    quantity: open,
                    reason: UNACKNOWLEDGED_CANCEL_REASON.to_owned(),
                });
                line.status_date = line.status_date.max(deadline);
                cancelled += u64::from(open);
            }
        }
        cancelled
    }

    pub(super) fn last_modified(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.status_date)
            .fold(self.order_date, i64::max)
    }
}

#[derive(Debug, Clone)]
pub(super) struct FeedItem {
    pub(super) sku: String,
    /// The quantity to set, or why the item is refused.
    pub(super) outcome: Result<i64, String>,
}

#[derive(Debug, Clone)]
pub(super) struct Feed {
    pub(super) feed_id: String,
    pub(super) submitted_ms: i64,
    pub(super) due: Instant,
    pub(super) received_until: Instant,
    pub(super) processed: bool,
    pub(super) items: Vec<FeedItem>,
}

/// A closed reconciliation report (`recon.rs`).
pub(super) struct ReconReport {
    pub(super) date: NaiveDate,
    pub(super) total: Decimal,
    pub(super) rows: usize,
    pub(super) csv: String,
    pub(super) planted_order: String,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) tokens_issued: u64,
    pub(super) token_refusals: u64,
    pub(super) auth_refusals: u64,
    pub(super) header_refusals: u64,
    pub(super) correlation_id_reuses: u64,
    pub(super) throttled: BTreeMap<&'static str, u64>,
    pub(super) forced_throttles: u64,
    pub(super) orders_generated: u64,
    pub(super) acknowledgements: u64,
    pub(super) shipments_recorded: u64,
    pub(super) units_shipped: u64,
    pub(super) duplicate_shipments: u64,
    pub(super) shipping_refused: u64,
    pub(super) over_shipments: u64,
    pub(super) seller_cancelled_units: u64,
    pub(super) buyer_cancelled_units: u64,
    pub(super) unacknowledged_cancelled_units: u64,
    pub(super) inventory_updates: u64,
    pub(super) inventory_refused: u64,
    pub(super) feeds_received: u64,
    pub(super) feeds_processed: u64,
    pub(super) feed_items_accepted: u64,
    pub(super) feed_items_rejected: u64,
}

pub(super) struct WalmartState {
    pub(super) tokens: HashMap<String, Instant>,
    pub(super) correlation_ids: HashSet<String>,
    pub(super) buckets: HashMap<RateGroup, Bucket>,
    pub(super) forced_throttles_left: u32,
    pub(super) orders: BTreeMap<String, WalmartOrder>,
    pub(super) generated: Vec<String>,
    pub(super) inventory: BTreeMap<String, i64>,
    pub(super) feeds: Vec<Feed>,
    pub(super) counters: Counters,
    /// Closed reconciliation reports, oldest first (`recon.rs`).
    pub(super) recon_reports: Vec<ReconReport>,
    /// (PO, line number) → shipped units already in a report.
    pub(super) recon_units: HashMap<(String, String), u32>,
}

impl WalmartState {
    /// Applies the acknowledgement deadline of every PO (see
    /// [`WalmartOrder::expire_unacknowledged`]), counting what it cancels.
    pub(super) fn expire_unacknowledged(&mut self) {
        let now = super::wire::now_ms();
        let cancelled: u64 = self
            .orders
            .values_mut()
            .map(|o| o.expire_unacknowledged(now))
            .sum();
        self.counters.unacknowledged_cancelled_units += cancelled;
    }
}

pub(crate) struct WalmartSim {
    pub(super) config: WalmartSimConfig,
    pub(super) base: Base,
    pub(super) prices: HashMap<String, Decimal>,
    pub(super) state: Mutex<WalmartState>,
}

impl WalmartSim {
    pub(crate) fn new(
        config: WalmartSimConfig,
        hub_url: &str,
        rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
    ) -> Arc<Self> {
        let base = Base::new(
            &config.name,
            hub_url,
            &config.faults,
            rng,
            started,
            deliverer,
        );
        let prices = crate::catalogue::price_list(&config.skus, &base.rng, 299..=19_999);
        let now = Instant::now();
        let buckets = config
            .rate_limits
            .all()
            .into_iter()
            .map(|(group, l)| (group, Bucket::full(f64::from(l.burst), l.per_sec, now)))
            .collect();
        let inventory = config
            .skus
            .iter()
            .map(|s| (s.clone(), config.initial_quantity))
            .collect();
        let state = WalmartState {
            tokens: HashMap::new(),
            correlation_ids: HashSet::new(),
            buckets,
            forced_throttles_left: config.force_throttle,
            orders: BTreeMap::new(),
            generated: Vec::new(),
            inventory,
            feeds: Vec::new(),
            counters: Counters::default(),
            recon_reports: Vec::new(),
            recon_units: HashMap::new(),
        };
        Arc::new(WalmartSim {
            config,
            base,
            prices,
            state: Mutex::new(state),
        })
    }

    /// Applies every feed whose processing time has come, in submission order.
    pub(super) fn settle_feeds(state: &mut WalmartState) {
        let now = Instant::now();
        let WalmartState {
            feeds,
            inventory,
            counters,
            ..
        } = state;
        for feed in feeds.iter_mut().filter(|f| !f.processed && f.due <= now) {
            feed.processed = true;
            counters.feeds_processed += 1;
            for item in &feed.items {
                match item.outcome {
                    Ok(q) => {
                        inventory.insert(item.sku.clone(), q);
                        counters.feed_items_accepted += 1;
                    }
                    Err(_) => counters.feed_items_rejected += 1,
                }
            }
        }
    }

    pub(crate) fn stats(&self) -> Value {
        let mut state = lock(&self.state);
        Self::settle_feeds(&mut state);
        state.expire_unacknowledged();
        let c = &state.counters;
        let mut out = Map::new();
        out.insert("name".into(), self.config.name.as_str().into());
        for (key, value) in [
            ("orders_generated", c.orders_generated),
            ("tokens_issued", c.tokens_issued),
            ("token_refusals", c.token_refusals),
            ("auth_refusals", c.auth_refusals),
            ("header_refusals", c.header_refusals),
            ("correlation_id_reuses", c.correlation_id_reuses),
            ("forced_throttles", c.forced_throttles),
            ("acknowledgements", c.acknowledgements),
            ("shipments_recorded", c.shipments_recorded),
            ("units_shipped", c.units_shipped),
            ("duplicate_shipments", c.duplicate_shipments),
            ("shipping_refused", c.shipping_refused),
            ("over_shipments", c.over_shipments),
            ("seller_cancelled_units", c.seller_cancelled_units),
            ("buyer_cancelled_units", c.buyer_cancelled_units),
            (
                "unacknowledged_cancelled_units",
                c.unacknowledged_cancelled_units,
            ),
            ("inventory_updates", c.inventory_updates),
            ("inventory_refused", c.inventory_refused),
            ("feeds_received", c.feeds_received),
            ("feeds_processed", c.feeds_processed),
            ("feed_items_accepted", c.feed_items_accepted),
            ("feed_items_rejected", c.feed_items_rejected),
        ] {
            out.insert(key.to_owned(), value.into());
        }
        out.insert("throttled".into(), c.throttled.values().sum::<u64>().into());
        out.insert("throttled_per_bucket".into(), json!(c.throttled));
        out.insert(
            "forced_throttles_left".into(),
            state.forced_throttles_left.into(),
        );
        out.insert("inventory".into(), json!(state.inventory));
        out.insert("generated_po_ids".into(), json!(state.generated));
        out.insert("generation_done".into(), self.base.generation_done().into());
        self.base.gate.write_stats(&mut out);
        Value::Object(out)
    }
}
