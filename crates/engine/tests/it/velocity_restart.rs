//! Sales velocity survives a restart: it sizes `cover_minutes`, and it
//! lived only in memory, so a hub restarted at the peak offered its best
//! sellers with nothing held back until an hour of sales had been seen
//! again. A fresh sync rebuilds it from the store's recent reservations.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crossdock_availability::{AvailabilityConfig, ChannelPolicy, LocationPolicy};
use crossdock_connectors::{ConnectorError, Erp, ErpDocument};
use crossdock_engine::ManualClock;
use crossdock_engine::availability::{AvailabilityPlan, AvailabilitySync, InventoryOptions};
use crossdock_model::{
    Currency, Customer, InventoryPosition, Journal, Money, Order, OrderLine, OrderStatus,
    TaxTreatment,
};
use crossdock_store::{Changes, NewJob, PositionRow, ReserveLine, Store};
use rust_decimal::Decimal;

const T0: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;
const SKU: &str = "SKU-HOT";
const ON_HAND: i64 = 200;

/// The sync reads no ERP in this test.
struct NoErp;

#[async_trait]
impl Erp for NoErp {
    async fn upsert_customer(&self, _: &Customer) -> Result<String, ConnectorError> {
        Err(unreachable_erp())
    }
    async fn create_sales_order(
        &self,
        _: &str,
        _: &str,
        _: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        Err(unreachable_erp())
    }
    async fn find_sales_order(&self, _: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        Err(unreachable_erp())
    }
    async fn post_invoice(&self, _: &str, _: &Order) -> Result<ErpDocument, ConnectorError> {
        Err(unreachable_erp())
    }
    async fn find_invoice(&self, _: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        Err(unreachable_erp())
    }
    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        Err(unreachable_erp())
    }
    async fn cancel_sales_order(&self, _: &str) -> Result<(), ConnectorError> {
        Err(unreachable_erp())
    }
    async fn post_journal(&self, _: &str, _: &Journal) -> Result<ErpDocument, ConnectorError> {
        Err(unreachable_erp())
    }
    async fn find_journal(&self, _: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        Err(unreachable_erp())
    }
}

fn unreachable_erp() -> ConnectorError {
    ConnectorError::Unreachable {
        reason: "no ERP in this test".into(),
    }
}

fn order(n: usize, quantity: u32, at: i64) -> Order {
    let usd = |cents: i64| Money::new(Decimal::new(cents, 2), Currency::USD);
    Order {
        id: format!("shop-{n}"),
        channel: "shop".into(),
        external_id: format!("S-{n}"),
        source_version: 1,
        placed_at: DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default(),
        currency: Currency::USD,
        customer: Customer {
            external_id: None,
            email: "b@example.com".into(),
            name: "Buyer".into(),
            phone: None,
        },
        shipping_address: None,
        billing_address: None,
        lines: vec![OrderLine {
            line_id: "1".into(),
            sku: SKU.into(),
            title: "Best seller".into(),
            quantity,
            unit_price: usd(1000),
            discount: usd(0),
            tax: usd(0),
            shipped_quantity: 0,
            cancelled_quantity: 0,
        }],
        shipping: usd(0),
        total: usd(1000 * i64::from(quantity)),
        tax_treatment: TaxTreatment::MerchantCollected,
        service_level: "standard".into(),
        status: OrderStatus::Reserved,
        erp_ref: None,
        shipping_method: None,
        customer_group: None,
        gift: false,
        priority: 0,
        hold: None,
    }
}

/// Store `order` as the hub does when it takes one in at `at`, and reserve it.
async fn take_in(store: &Store, order: &Order, at: i64) {
    let key = format!("order:{}", order.id);
    store
        .enqueue(
            &[NewJob {
                entity_key: key,
                step: "ingest".into(),
                payload: serde_json::json!({}),
                run_at: at,
            }],
            at,
        )
        .await
        .expect("enqueue");
    let jobs = store.claim_jobs("w", at, 60_000, 10).await.expect("claim");
    assert_eq!(jobs.len(), 1);
    let changes = Changes {
        orders: vec![order.clone()],
        ..Changes::default()
    };
    store
        .complete_job(&jobs[0], &changes, at)
        .await
        .expect("complete");
    let lines: Vec<ReserveLine> = order
        .lines
        .iter()
        .map(|l| ReserveLine {
            line_id: l.line_id.clone(),
            sku: l.sku.clone(),
            quantity: i64::from(l.quantity),
        })
        .collect();
    let held = store
        .reserve(&order.id, &lines, &["dc".to_owned()])
        .await
        .expect("reserve");
    assert_eq!(held.as_deref(), Some("dc"));
}

fn plan() -> AvailabilityPlan {
    AvailabilityPlan::new(
        AvailabilityConfig {
            locations: vec![LocationPolicy {
                name: "dc".into(),
                network: "own".into(),
                safety_stock: 0,
            }],
            channels: vec![ChannelPolicy {
                cover_minutes: 30,
                ..ChannelPolicy::for_networks("shop", &["own"])
            }],
        },
        InventoryOptions::default(),
    )
    .expect("plan")
}

#[tokio::test]
async fn a_restarted_sync_holds_back_cover_for_the_sales_before_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_dir(dir.path()).await.expect("store");
    store
        .set_positions(&[PositionRow {
            sku: SKU.into(),
            location: "dc".into(),
            on_hand: ON_HAND,
            reserved: 0,
            source: "erp".into(),
            as_of: T0 - 120 * MINUTE,
        }])
        .await
        .expect("positions");
    // The hour before the restart: 2 units every 3 minutes, 40 an hour.
    let mut sold = 0;
    for n in 0..20 {
        let at = T0 - 60 * MINUTE + n as i64 * 3 * MINUTE;
        take_in(&store, &order(n, 2, at), at).await;
        sold += 2;
    }
    // The process restarts: a new sync over the same store, nothing in memory.
    let clock = ManualClock::new(T0);
    let sync = AvailabilitySync::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(NoErp),
        HashMap::new(),
        Some(plan()),
        Arc::new(crossdock_model::Authority::default()),
    );
    let handle = sync.handle();
    handle.sync_once(true, false).await.expect("sync");
    let sku = handle.sku(SKU).await.expect("sku").expect("a plan");
    let velocity = sku.velocity_per_hour.expect("a running sync knows it");
    // Σ 2 × e^(−age) over the hour ≈ 25 units an hour.
    assert!(
        velocity > 20.0,
        "velocity after a restart is {velocity} units/h; the hour before sold {sold} units"
    );
    let shop = &sku.explanation.channels[0];
    let free = ON_HAND - sold;
    assert!(
        shop.reason.cover > 0,
        "cover after a restart is {}: nothing held back for the best seller",
        shop.reason.cover
    );
    assert_eq!(shop.quantity, free - shop.reason.cover);
    // And the owed row the channel would be sent is the reduced quantity.
    let rows = store
        .availability(Some("shop"), Some(&[SKU.to_owned()]))
        .await
        .expect("availability");
    assert_eq!(rows[0].target, Some(free - shop.reason.cover));
}
