//! The shop's buyers: orders placed at the configured pace, and the edits
//! and cancellations that follow some of them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use rand::rngs::SmallRng;
use rust_decimal::Decimal;

use super::state::{
    Address, FoLine, FulfillmentOrder, LineItem, ShopifyOrder, ShopifySim, ShopifyState,
};
use super::wire::whole_seconds;
use crate::catalogue::OrderPace;
use crate::fixtures::{CITIES, cents, uuid};
use crate::wire::lock;

impl ShopifySim {
    /// Places orders until the configured limit or `stop`; spawned by the estate.
    pub(super) async fn place_orders(self: Arc<Self>) {
        let c = &self.config;
        let pace = OrderPace {
            orders_per_sec: c.orders_per_sec,
            max_orders: c.max_orders,
            duration_secs: c.duration_secs,
        };
        self.base
            .place_orders(pace, |_| {
                self.place_order();
            })
            .await;
    }

    fn place_order(self: &Arc<Self>) {
        let c = &self.config;
        let mut rng = lock(&self.base.rng);
        let mut state = lock(&self.state);
        let order = self.new_order(&mut rng, &mut state);
        let id = order.id;
        for line in &order.lines {
            let at = (line.variant, self.variants[line.variant].location);
            // Shopify commits stock at checkout: `available` drops then.
            *state.available.entry(at).or_default() -= i64::from(line.quantity);
        }
        let body = self.order_json(&order);
        state.generated.push(id.to_string());
        state.counters.orders_generated += 1;
        state.orders.insert(id, order);
        let edit = rng
            .random_bool(c.update_rate)
            .then(|| Duration::from_millis(rng.random_range(100..=c.update_delay_ms.max(100))));
        let cancel = rng
            .random_bool(c.cancel_rate)
            .then(|| Duration::from_millis(rng.random_range(500..=5_000)));
        drop(state);
        drop(rng);
        self.emit("orders/create", id, &body);
        if let Some(delay) = edit {
            self.later(delay, id, Change::Edit);
        }
        if let Some(delay) = cancel {
            self.later(delay, id, Change::Cancel);
        }
    }

    fn new_order(&self, rng: &mut SmallRng, state: &mut ShopifyState) -> ShopifyOrder {
        let c = &self.config;
        let line_count = rng.random_range(1..=c.max_lines.min(self.variants.len() as u32)) as usize;
        let picked = rand::seq::index::sample(rng, self.variants.len(), line_count);
        let discounted = rng.random_bool(c.discount_rate);
        let mut lines = Vec::with_capacity(line_count);
        for variant in picked.iter() {
            let quantity = rng.random_range(1..=c.max_quantity);
            let price = self.variants[variant].price;
            let gross = price * Decimal::from(quantity);
            let discount = if discounted {
                cents(gross * Decimal::new(10, 2))
            } else {
                Decimal::ZERO
            };
            lines.push(LineItem {
                id: state.id(rng),
                variant,
                quantity,
                price,
                discount,
                tax: cents((gross - discount) * Decimal::new(825, 4)),
            });
        }
        let customer_no = rng.random_range(1..=500u32);
        let address = (!rng.random_bool(c.no_shipping_address_rate)).then(|| {
            let (city, province, zip) = CITIES[rng.random_range(0..CITIES.len())];
            Address {
                first: "Buyer".to_owned(),
                last: customer_no.to_string(),
                line1: format!("{} Main St", rng.random_range(1..=999u32)),
                city,
                province,
                zip,
            }
        });
        let shipping = match &address {
            None => Decimal::ZERO,
            Some(_) if rng.random_bool(0.2) => Decimal::new(1499, 2),
            Some(_) => Decimal::new(499, 2),
        };
        // One fulfillment order per location holding the order's lines.
        let mut fulfillment_orders: Vec<FulfillmentOrder> = Vec::new();
        for line in &lines {
            let location = self.variants[line.variant].location;
            let at = match fulfillment_orders
                .iter()
                .position(|f| f.location == location)
            {
                Some(at) => at,
                None => {
                    fulfillment_orders.push(FulfillmentOrder {
                        id: state.id(rng),
                        location,
                        status: "open",
                        lines: Vec::new(),
                    });
                    fulfillment_orders.len() - 1
                }
            };
            let fo_line = FoLine {
                id: state.id(rng),
                line_item_id: line.id,
                quantity: line.quantity,
                fulfillable: line.quantity,
            };
            fulfillment_orders[at].lines.push(fo_line);
        }
        let now = whole_seconds(Utc::now());
        state.next_number += 1;
        ShopifyOrder {
            id: state.id(rng),
            number: state.next_number,
            token: uuid(rng).replace('-', ""),
            created: now,
            updated: now,
            listed_from: Instant::now() + Duration::from_millis(c.visibility_delay_ms),
            customer_id: 7_000_000_000_000_000 + u64::from(customer_no),
            customer_no,
            phone: rng
                .random_bool(0.5)
                .then(|| format!("+1555{:07}", rng.random_range(0..10_000_000u32))),
            address,
            note: None,
            lines,
            shipping,
            discount_code: discounted.then(|| "SAVE10".to_owned()),
            cancelled_at: None,
            closed_at: None,
            fulfillment_orders,
            fulfillments: Vec::new(),
        }
    }

    /// A buyer's change some time after checkout.
    fn later(self: &Arc<Self>, delay: Duration, order_id: u64, change: Change) {
        // Owed from now on, so the estate is not idle while it waits.
        let slot = self.base.deliverer.reserve(&self.base.deliveries);
        let this = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = this.base.shutdown().cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let (topic, body) = {
                let mut state = lock(&this.state);
                let state = &mut *state;
                let Some(order) = state.orders.get_mut(&order_id) else {
                    return;
                };
                match change {
                    Change::Edit => {
                        if order.cancelled_at.is_some() {
                            return;
                        }
                        order.note = Some("Please leave at the back door".to_owned());
                        order.touch();
                        state.counters.orders_updated += 1;
                        ("orders/updated", this.order_json(order))
                    }
                    Change::Cancel => {
                        // A buyer can cancel only what has not left.
                        if !order.fulfillments.is_empty() || order.cancelled_at.is_some() {
                            return;
                        }
                        order.cancelled_at = Some(Utc::now());
                        order.closed_at = order.cancelled_at;
                        for fo in &mut order.fulfillment_orders {
                            fo.status = "closed";
                            for l in &mut fo.lines {
                                l.fulfillable = 0;
                            }
                        }
                        // Restock.
                        for line in &order.lines {
                            let at = (line.variant, this.variants[line.variant].location);
                            *state.available.entry(at).or_default() += i64::from(line.quantity);
                        }
                        order.touch();
                        state.counters.orders_cancelled += 1;
                        state.cancelled.push(order_id.to_string());
                        ("orders/cancelled", this.order_json(order))
                    }
                }
            };
            drop(slot);
            this.emit(topic, order_id, &body);
        });
    }
}

#[derive(Clone, Copy)]
enum Change {
    Edit,
    Cancel,
}
