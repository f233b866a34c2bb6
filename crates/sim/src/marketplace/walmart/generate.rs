//! The seller's buyers: purchase orders placed at the configured pace,
//! and a line's open units cancelled by some buyers.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
use rust_decimal::Decimal;

use super::state::{
    BUYER_CANCEL_REASON, CancelledUnits, LineState, PoLine, WalmartOrder, WalmartSim,
};
use super::wire::now_ms;
use crate::catalogue::OrderPace;
use crate::fixtures::{CITIES, cents};
use crate::wire::lock;

impl WalmartSim {
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
        let (order, buyer_cancel) = {
            let mut rng = lock(&self.base.rng);
            let order = self.new_order(&mut rng);
            let cancel_line = rng
                .random_bool(self.config.cancel_rate)
                .then(|| rng.random_range(0..order.lines.len()));
            (order, cancel_line)
        };
        let po = order.purchase_order_id.clone();
        {
            let mut state = lock(&self.state);
            state.generated.push(po.clone());
            state.counters.orders_generated += 1;
            state.orders.insert(po.clone(), order);
        }
        if let Some(line) = buyer_cancel {
            let this = self.clone();
            let delay = Duration::from_millis(self.config.buyer_cancel_after_ms);
            tokio::spawn(async move {
                tokio::select! {
                    _ = this.base.shutdown().cancelled() => {}
                    _ = tokio::time::sleep(delay) => this.buyer_cancels(&po, line),
                }
            });
        }
    }

    /// The buyer cancels the units of a line not shipped yet.
    fn buyer_cancels(&self, po: &str, line: usize) {
        let mut state = lock(&self.state);
        let Some(line) = state.orders.get_mut(po).and_then(|o| o.lines.get_mut(line)) else {
            return;
        };
        let open = line.open_units();
        if open == 0 {
            return;
        }
        line.cancelled.push(CancelledUnits {
            quantity: open,
            reason: BUYER_CANCEL_REASON.to_owned(),
        });
        line.status_date = now_ms();
        state.counters.buyer_cancelled_units += u64::from(open);
    }

    /// A numeric id of `digits` digits, as Walmart's PO and customer order ids are.
    fn numeric_id(rng: &mut SmallRng, digits: u32) -> String {
        let low = 10u64.pow(digits - 1);
        rng.random_range(low..low * 10).to_string()
    }

    fn new_order(&self, rng: &mut SmallRng) -> WalmartOrder {
        let c = &self.config;
        let now = now_ms();
        let mut purchase_order_id = Self::numeric_id(rng, 13);
        {
            let state = lock(&self.state);
            while state.orders.contains_key(&purchase_order_id) {
                purchase_order_id = Self::numeric_id(rng, 13);
            }
        }
        let line_count = rng.random_range(1..=c.max_lines.min(c.skus.len() as u32)) as usize;
        let picked = rand::seq::index::sample(rng, c.skus.len(), line_count);
        let method_code = *["Value", "Standard", "Express"]
            .choose(rng)
            .unwrap_or(&"Value");
        let tax_rate = Decimal::new(825, 4);
        let lines = picked
            .iter()
            .enumerate()
            .map(|(i, sku_index)| {
                let sku = c.skus[sku_index].clone();
                let quantity = rng.random_range(c.min_quantity..=c.max_quantity);
                let unit = self
                    .prices
                    .get(&sku)
                    .copied()
                    .unwrap_or(Decimal::new(999, 2));
                let amount = unit * Decimal::from(quantity);
                let shipping = (i == 0 && method_code != "Value").then(|| {
                    let fee = if method_code == "Express" {
                        Decimal::new(1499, 2)
                    } else {
                        Decimal::new(599, 2)
                    };
                    (fee, cents(fee * tax_rate))
                });
                PoLine {
                    line_number: (i + 1).to_string(),
                    sku,
                    quantity,
                    amount,
                    tax: cents(amount * tax_rate),
                    shipping,
                    open_state: LineState::Created,
                    shipped: Vec::new(),
                    cancelled: Vec::new(),
                    status_date: now,
                }
            })
            .collect();
        let (city, state, postal_code) = *CITIES.choose(rng).unwrap_or(&CITIES[0]);
        let mut email = [0u8; 16];
        rng.fill_bytes(&mut email);
        let email: String = email.iter().map(|b| format!("{b:02X}")).collect();
        WalmartOrder {
            customer_order_id: Self::numeric_id(rng, 13),
            customer_email_id: format!("{email}@relay.walmart.com"),
            order_date: now,
            visible_at: now + i64::try_from(c.visibility_delay_ms).unwrap_or(i64::MAX / 2),
            method_code,
            name: format!("Buyer {}", rng.random_range(1..=500u32)),
            phone: format!("555{:07}", rng.random_range(0..10_000_000u32)),
            address1: format!("{} Main St", rng.random_range(1..=999u32)),
            city,
            state,
            postal_code,
            lines,
            purchase_order_id,
            acknowledge_by: (c.acknowledge_within_ms > 0).then(|| {
                now.saturating_add(i64::try_from(c.acknowledge_within_ms).unwrap_or(i64::MAX))
            }),
        }
    }
}
