//! The seller account: orders and their packages, listings' quantities,
//! feed documents and feeds, access tokens, the per-operation buckets, and
//! the counters at `/sim/stats`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::config::AmazonSimConfig;
use super::wire::{Refusal, bad_input, single};
use crate::delivery::Deliverer;
use crate::fixtures::City;
use crate::marketplace::base::Base;
use crate::marketplace::bucket::Bucket;
use crate::wire::lock;

/// The SP-API operations served, each with its own documented usage plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Op {
    GetOrders,
    GetOrder,
    GetOrderItems,
    ConfirmShipment,
    PatchListingsItem,
    CreateFeedDocument,
    CreateFeed,
    GetFeed,
    GetFeedDocument,
    GetReports,
    GetReportDocument,
}

impl Op {
    /// Documented default (rate per second, burst): NOTES.md §1.4.
    pub(super) fn plan(self) -> (f64, f64) {
        match self {
            Op::GetOrders => (0.0167, 20.0),
            Op::GetOrder | Op::GetOrderItems => (0.5, 30.0),
            Op::ConfirmShipment => (2.0, 10.0),
            Op::PatchListingsItem => (5.0, 5.0),
            Op::CreateFeedDocument => (0.5, 15.0),
            Op::CreateFeed => (0.0083, 15.0),
            Op::GetFeed => (2.0, 15.0),
            Op::GetFeedDocument => (0.0222, 10.0),
            Op::GetReports => (0.0222, 10.0),
            Op::GetReportDocument => (0.0167, 15.0),
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Op::GetOrders => "getOrders",
            Op::GetOrder => "getOrder",
            Op::GetOrderItems => "getOrderItems",
            Op::ConfirmShipment => "confirmShipment",
            Op::PatchListingsItem => "patchListingsItem",
            Op::CreateFeedDocument => "createFeedDocument",
            Op::CreateFeed => "createFeed",
            Op::GetFeed => "getFeed",
            Op::GetFeedDocument => "getFeedDocument",
            Op::GetReports => "getReports",
            Op::GetReportDocument => "getReportDocument",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Pending,
    Unshipped,
    PartiallyShipped,
    Shipped,
    Canceled,
}

impl Status {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::Unshipped => "Unshipped",
            Status::PartiallyShipped => "PartiallyShipped",
            Status::Shipped => "Shipped",
            Status::Canceled => "Canceled",
        }
    }
}

pub(super) struct OrderItem {
    pub(super) id: String,
    pub(super) sku: String,
    pub(super) quantity: u32,
    /// Line amount (unit price × quantity), as Amazon's `ItemPrice`.
    pub(super) price: Decimal,
    pub(super) tax: Decimal,
    pub(super) shipping: Decimal,
    pub(super) discount: Decimal,
}

pub(super) struct Package {
    /// `orderItemId` → quantity in this package.
    pub(super) items: BTreeMap<String, u32>,
}

pub(super) struct AmazonOrder {
    pub(super) id: String,
    pub(super) status: Status,
    pub(super) purchased: DateTime<Utc>,
    pub(super) updated: DateTime<Utc>,
    /// When `getOrders` starts showing it (`visibility_delay_ms`).
    pub(super) visible_at: Instant,
    pub(super) items: Vec<OrderItem>,
    pub(super) buyer: String,
    pub(super) city: City,
    pub(super) street: u32,
    pub(super) expedited: bool,
    /// `packageReferenceId` → package.
    pub(super) packages: BTreeMap<String, Package>,
}

impl AmazonOrder {
    pub(super) fn shipped(&self, item_id: &str) -> u32 {
        self.packages
            .values()
            .filter_map(|p| p.items.get(item_id))
            .sum()
    }

    pub(super) fn units(&self) -> (u32, u32) {
        let ordered: u32 = self.items.iter().map(|i| i.quantity).sum();
        let shipped: u32 = self.items.iter().map(|i| self.shipped(&i.id)).sum();
        (shipped, ordered.saturating_sub(shipped))
    }

    pub(super) fn total(&self) -> Decimal {
        self.items
            .iter()
            .map(|i| i.price + i.tax + i.shipping - i.discount)
            .sum()
    }
}

/// A `getOrders` result set being paged: the ids matched by the first
/// request, in order; each page shows their current state.
pub(super) struct Paging {
    pub(super) ids: Vec<String>,
    pub(super) offset: usize,
    pub(super) page_size: usize,
}

pub(super) struct Document {
    pub(super) content_type: String,
    /// Query string that makes the presigned URL valid.
    pub(super) signature: String,
    pub(super) expires: Instant,
    pub(super) content: Option<Vec<u8>>,
}

#[derive(Clone)]
pub(super) struct Feed {
    pub(super) id: String,
    pub(super) feed_type: String,
    pub(super) marketplace_ids: Vec<String>,
    pub(super) input: String,
    pub(super) created: DateTime<Utc>,
    pub(super) created_at: Instant,
    /// Set once processed: (final status, result document id).
    pub(super) outcome: Option<(&'static str, String)>,
}

/// A closed settlement and the report that lists it.
pub(super) struct Settlement {
    pub(super) id: String,
    pub(super) start: DateTime<Utc>,
    pub(super) end: DateTime<Utc>,
    pub(super) total: Decimal,
    pub(super) rows: usize,
    pub(super) report_id: String,
    pub(super) document_id: String,
    pub(super) tsv: String,
    pub(super) planted_order: String,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) lwa_tokens_issued: u64,
    pub(super) lwa_refused: u64,
    pub(super) unauthorized: u64,
    pub(super) throttled: u64,
    pub(super) throttled_by_operation: BTreeMap<&'static str, u64>,
    pub(super) requests_by_operation: BTreeMap<&'static str, u64>,
    pub(super) invalid_requests: u64,
    pub(super) bad_next_tokens: u64,
    pub(super) orders_generated: u64,
    pub(super) orders_cancelled: u64,
    pub(super) shipments_confirmed: u64,
    pub(super) package_edits: u64,
    pub(super) duplicate_packages: u64,
    pub(super) confirmations_refused: u64,
    pub(super) notifications_sent: u64,
    pub(super) notifications_duplicated: u64,
    pub(super) notifications_dropped: u64,
    pub(super) listing_patches: u64,
    pub(super) listing_patches_rejected: u64,
    pub(super) feed_documents_created: u64,
    pub(super) feed_documents_uploaded: u64,
    pub(super) expired_document_urls: u64,
    pub(super) feeds_created: u64,
    pub(super) feeds_processed: u64,
    pub(super) feeds_fatal: u64,
    pub(super) feed_messages_accepted: u64,
    pub(super) feed_messages_rejected: u64,
    pub(super) settlements_closed: u64,
}

#[derive(Default)]
pub(super) struct AmazonState {
    pub(super) orders: BTreeMap<String, AmazonOrder>,
    /// Access token → when it expires.
    pub(super) tokens: HashMap<String, Instant>,
    pub(super) buckets: HashMap<Op, Bucket>,
    pub(super) force_throttle: u64,
    pub(super) pages: HashMap<String, Paging>,
    /// getOrderItems NextToken → (order id, offset).
    pub(super) item_pages: HashMap<String, (String, usize)>,
    pub(super) quantities: BTreeMap<String, Option<i64>>,
    pub(super) documents: HashMap<String, Document>,
    pub(super) feeds: HashMap<String, Feed>,
    pub(super) counters: Counters,
    pub(super) next_feed: u64,
    /// Closed settlements, oldest first (`settlements.rs`).
    pub(super) settlements: Vec<Settlement>,
    pub(super) next_settlement: u64,
    /// (order, packageReferenceId) already in a settlement: each once.
    pub(super) settled_packages: BTreeSet<(String, String)>,
    /// (order, orderItemId) → units settled, for the cumulative shares.
    pub(super) settled_units: HashMap<(String, String), u32>,
    /// What the last settlement held back, released by the next.
    pub(super) reserve_held: Decimal,
    pub(super) last_settled_at: Option<Instant>,
}

pub(crate) struct AmazonSim {
    pub(super) config: AmazonSimConfig,
    pub(super) base: Base,
    pub(super) prices: HashMap<String, Decimal>,
    pub(super) state: Mutex<AmazonState>,
    /// Orders placed so far, for the log line when generation ends.
    pub(super) placed: AtomicU64,
}

impl AmazonSim {
    pub(crate) fn new(
        config: AmazonSimConfig,
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
        let prices = crate::catalogue::price_list(&config.skus, &base.rng, 499..=9_999);
        let state = AmazonState {
            quantities: config
                .skus
                .iter()
                .map(|s| (s.clone(), Some(config.initial_quantity)))
                .collect(),
            force_throttle: config.force_throttle,
            ..AmazonState::default()
        };
        Arc::new(AmazonSim {
            config,
            base,
            prices,
            state: Mutex::new(state),
            placed: AtomicU64::new(0),
        })
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        Utc::now() - chrono::Duration::seconds(self.config.backdate_secs as i64)
    }

    pub(crate) fn stats(&self) -> Value {
        let state = lock(&self.state);
        let c = &state.counters;
        let mut out = Map::new();
        let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
        for o in state.orders.values() {
            *by_status.entry(o.status.as_str()).or_default() += 1;
        }
        for (key, value) in [
            ("orders_generated", c.orders_generated),
            ("orders_cancelled", c.orders_cancelled),
            ("lwa_tokens_issued", c.lwa_tokens_issued),
            ("lwa_refused", c.lwa_refused),
            ("unauthorized", c.unauthorized),
            ("throttled", c.throttled),
            ("invalid_requests", c.invalid_requests),
            ("bad_next_tokens", c.bad_next_tokens),
            ("shipments_confirmed", c.shipments_confirmed),
            ("package_edits", c.package_edits),
            ("duplicate_packages", c.duplicate_packages),
            ("confirmations_refused", c.confirmations_refused),
            ("notifications_sent", c.notifications_sent),
            ("notifications_duplicated", c.notifications_duplicated),
            ("notifications_dropped", c.notifications_dropped),
            ("listing_patches", c.listing_patches),
            ("listing_patches_rejected", c.listing_patches_rejected),
            ("feed_documents_created", c.feed_documents_created),
            ("feed_documents_uploaded", c.feed_documents_uploaded),
            ("expired_document_urls", c.expired_document_urls),
            ("feeds_created", c.feeds_created),
            ("feeds_processed", c.feeds_processed),
            ("feeds_fatal", c.feeds_fatal),
            ("feed_messages_accepted", c.feed_messages_accepted),
            ("feed_messages_rejected", c.feed_messages_rejected),
            ("settlements_closed", c.settlements_closed),
        ] {
            out.insert(key.into(), value.into());
        }
        out.insert("orders_by_status".into(), json!(by_status));
        out.insert(
            "throttled_by_operation".into(),
            json!(c.throttled_by_operation),
        );
        out.insert(
            "requests_by_operation".into(),
            json!(c.requests_by_operation),
        );
        out.insert("quantities".into(), json!(state.quantities));
        out.insert(
            "generated_order_ids".into(),
            json!(state.orders.keys().collect::<Vec<_>>()),
        );
        out.insert(
            "cancelled_order_ids".into(),
            json!(
                state
                    .orders
                    .values()
                    .filter(|o| o.status == Status::Canceled)
                    .map(|o| o.id.as_str())
                    .collect::<Vec<_>>()
            ),
        );
        drop(state);
        self.base.write_delivery_stats(&mut out);
        self.base.gate.write_stats(&mut out);
        Value::Object(out)
    }

    /// The marketplace ids a request names must include this seller's.
    pub(super) fn check_marketplace(
        &self,
        pairs: &[(String, String)],
        key: &str,
    ) -> Result<(), Refusal> {
        let Some(ids) = single(pairs, key)? else {
            return Err(bad_input(format!("{key} is required")));
        };
        if !ids
            .split(',')
            .any(|m| m.trim() == self.config.marketplace_id)
        {
            return Err(bad_input(format!(
                "Invalid {key}: {ids:?} holds no marketplace this seller sells in"
            )));
        }
        Ok(())
    }
}
