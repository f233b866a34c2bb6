//! A channel as a model: buyers placing and cancelling orders, the
//! order webhooks with the channel's faults, the order API the hub polls,
//! shipment confirmations and the listings availability updates change.

use std::sync::Arc;

use async_trait::async_trait;
use crossdock_connectors::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ChannelEvent, ConnectorError, InboundEnvelope, InputError, ShipConfirmation,
};
use rand::Rng;
use rand::rngs::SmallRng;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::json;

use super::agenda::Event;
use super::state::{ChannelOrder, Estate, World, ms_to_rfc3339};
use crate::scenario::{Ingest, Scenario};

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
                w.agenda.schedule(next, Event::Arrival { channel });
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
        let mut bought = Vec::new();
        for _ in 0..lines {
            let sku = pick_sku(&mut book.rng, &w.popularity);
            if wanted.contains(&sku) {
                continue;
            }
            wanted.push(sku);
            let qty = i64::from(book.rng.random_range(1..=cat.max_quantity)).min(book.listed[sku]);
            if qty <= 0 {
                book.not_listed += 1;
                continue;
            }
            bought.push((
                w.skus[sku].code.clone(),
                book.listed[sku],
                now - book.listed_at[sku],
            ));
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
                listed: bought,
            },
        );
        if cancels {
            w.agenda.schedule(
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
            w.agenda.schedule(
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

    pub fn listing(&self, channel: usize, sku: usize, quantity: i64) {
        let now = self.now();
        let book = &mut self.world().channels[channel];
        book.listed[sku] = quantity;
        book.listed_at[sku] = now;
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

    fn webhook_committed(&self, headers: &HeaderMap) {
        self.wire.webhook_committed(headers);
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
                book.listed_at[sku] = now;
            } else {
                w.agenda.schedule(
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

/// A SKU drawn by popularity (cumulative weights).
fn pick_sku(rng: &mut SmallRng, popularity: &[f64]) -> usize {
    let total = popularity.last().copied().unwrap_or(1.0);
    let x = rng.random_range(0.0..total);
    popularity
        .partition_point(|c| *c <= x)
        .min(popularity.len() - 1)
}
