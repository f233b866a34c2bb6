//! The account's buyers: orders placed at the configured pace, paid for
//! after `pending_secs`, and cancelled by some before anything ships.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::seq::IndexedRandom;
use rust_decimal::Decimal;

use super::state::{AmazonOrder, AmazonSim, OrderItem, Status};
use crate::catalogue::OrderPace;
use crate::fixtures::{CITIES, cents};
use crate::wire::lock;

impl AmazonSim {
    /// Places orders until the configured limit or `stop`; spawned by the estate.
    pub(super) async fn place_orders(self: Arc<Self>) {
        let c = &self.config;
        let pace = OrderPace {
            orders_per_sec: c.orders_per_sec,
            max_orders: c.max_orders,
            duration_secs: c.duration_secs,
        };
        self.base
            .place_orders(pace, |n| {
                self.placed.store(n, Ordering::SeqCst);
                self.place_order();
            })
            .await;
        tracing::debug!(
            sim = self.config.name.as_str(),
            orders = self.placed.load(Ordering::SeqCst),
            "Amazon order generation finished"
        );
    }

    fn place_order(self: &Arc<Self>) {
        let c = &self.config;
        let now = self.now();
        let (order, cancel_after) = {
            let mut rng = lock(&self.base.rng);
            let id = format!(
                "{:03}-{:07}-{:07}",
                rng.random_range(100..1000u32),
                rng.random_range(0..10_000_000u32),
                rng.random_range(0..10_000_000u32)
            );
            let lines = rng.random_range(1..=c.max_lines.min(c.skus.len() as u32)) as usize;
            let picked = rand::seq::index::sample(&mut *rng, c.skus.len(), lines);
            let items = picked
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let sku = c.skus[k].clone();
                    let quantity = rng.random_range(1..=c.max_quantity);
                    let unit = self
                        .prices
                        .get(&sku)
                        .copied()
                        .unwrap_or(Decimal::new(999, 2));
                    let price = unit * Decimal::from(quantity);
                    let discount = if rng.random_bool(0.2) {
                        cents(price * Decimal::new(10, 2))
                    } else {
                        Decimal::ZERO
                    };
                    OrderItem {
                        id: format!(
                            "{:014}",
                            rng.random_range(10_000_000_000_000u64..99_999_999_999_999)
                        ),
                        sku,
                        quantity,
                        tax: cents((price - discount) * Decimal::new(825, 4)),
                        price,
                        shipping: if i == 0 {
                            Decimal::new(499, 2)
                        } else {
                            Decimal::ZERO
                        },
                        discount,
                    }
                })
                .collect();
            let order = AmazonOrder {
                id,
                status: Status::Pending,
                purchased: now,
                updated: now,
                visible_at: Instant::now() + Duration::from_millis(c.visibility_delay_ms),
                items,
                buyer: format!("Buyer {}", rng.random_range(1..=500u32)),
                city: *CITIES.choose(&mut *rng).unwrap_or(&CITIES[0]),
                street: rng.random_range(1..=999),
                expedited: rng.random_bool(0.2),
                packages: BTreeMap::new(),
            };
            let cancel_after = rng.random_bool(c.cancel_rate).then(|| {
                // Before or soon after payment is authorized, before anyone ships.
                let latest = (c.pending_secs * 1.5).max(0.5);
                Duration::from_secs_f64(rng.random_range(0.0..latest))
            });
            (order, cancel_after)
        };
        let order_id = order.id.clone();
        let notice = self.notification(&order, "OrderStatusChange", "New order");
        {
            let mut state = lock(&self.state);
            state.counters.orders_generated += 1;
            state.orders.insert(order_id.clone(), order);
        }
        self.notify(notice);
        self.schedule(
            order_id.clone(),
            Duration::from_secs_f64(c.pending_secs),
            |o| (o.status == Status::Pending).then_some((Status::Unshipped, "Payment authorized")),
        );
        if let Some(delay) = cancel_after {
            self.schedule(order_id, delay, |o| {
                (matches!(o.status, Status::Pending | Status::Unshipped) && o.packages.is_empty())
                    .then_some((Status::Canceled, "Buyer Requested Cancel"))
            });
        }
    }

    /// After `delay`, moves the order to the status `change` picks (if any)
    /// and notifies.
    fn schedule(
        self: &Arc<Self>,
        order_id: String,
        delay: Duration,
        change: fn(&AmazonOrder) -> Option<(Status, &'static str)>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.base.shutdown().cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let notice = {
                let mut state = lock(&this.state);
                let Some(order) = state.orders.get_mut(&order_id) else {
                    return;
                };
                let Some((status, reason)) = change(order) else {
                    return;
                };
                order.status = status;
                order.updated = this.now();
                let notice = this.notification(order, "OrderStatusChange", reason);
                if status == Status::Canceled {
                    state.counters.orders_cancelled += 1;
                }
                notice
            };
            this.notify(notice);
        });
    }
}
