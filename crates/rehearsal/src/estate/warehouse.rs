//! A warehouse or 3PL as a model: releases, picks within capacity,
//! shipments from what the floor holds (short when it does not), the 3PL's
//! batches, and goods received.

use std::sync::Arc;

use async_trait::async_trait;
use crossdock_connectors::{
    CancelOutcome, ConnectorError, InputError, ShipmentEnvelope, Warehouse,
};
use crossdock_model::{FulfillmentRequest, Shipment};
use rand::Rng;
use reqwest::header::HeaderMap;
use serde_json::json;

use super::agenda::Event;
use super::state::{Estate, Request, World, ms_to_rfc3339};
use crate::report::OversoldLine;
use crate::scenario::WarehouseKind;

impl Estate {
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
                let units = u64::try_from(want - on_floor).unwrap_or(0);
                w.oversold_units += units;
                w.oversold_orders.insert(fr.order_id.clone());
                let detail = self.shortfall_detail(w, warehouse, sku, request);
                w.oversold_lines.push(OversoldLine {
                    order_id: fr.order_id.clone(),
                    cause: "short_at_pick".into(),
                    sku: line.sku.clone(),
                    location: Some(spec.name.clone()),
                    units,
                    at_ms: self.offset(now),
                    detail,
                });
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
                w.agenda
                    .schedule(now + 5_000, Event::ShipmentMessage { warehouse, body });
            }
            WarehouseKind::ThirdParty => {
                w.in_flight += 1;
                book.held.push(body);
            }
        }
    }

    /// What the estate saw when `warehouse`'s floor came up short on `sku`
    /// for `request`: the floor, the ERP's late view of it, units released
    /// there and not yet picked, units that left the floor within the
    /// ERP's lag, and units picked for orders their buyers cancelled.
    fn shortfall_detail(&self, w: &World, warehouse: usize, sku: usize, request: &str) -> String {
        let now = self.now();
        let lag = self.scenario.erp.stock_lag_ms;
        let history = &w.floor_history[warehouse][sku];
        let erp_view = history
            .iter()
            .rev()
            .find(|(t, _)| *t <= now - lag)
            .or(history.front())
            .map_or(0, |(_, u)| *u);
        let mut left_within_lag = 0;
        let mut previous: Option<i64> = None;
        for (t, units) in history {
            if let Some(p) = previous
                && *t > now - lag
                && *units < p
            {
                left_within_lag += p - units;
            }
            previous = Some(*units);
        }
        let code = &w.skus[sku].code;
        let units_of = |r: &Request| -> i64 {
            r.request
                .lines
                .iter()
                .filter(|l| &l.sku == code)
                .map(|l| i64::from(l.quantity))
                .sum()
        };
        let book = &w.warehouses[warehouse];
        let released_ahead: i64 = book
            .requests
            .iter()
            .filter(|(id, r)| id.as_str() != request && !r.picked && !r.cancelled)
            .map(|(_, r)| units_of(r))
            .sum();
        let cancelled_shipped: i64 = book
            .requests
            .values()
            .filter(|r| r.picked && self.buyer_cancelled(w, &r.request))
            .map(units_of)
            .sum();
        format!(
            "floor {} (ERP view {erp_view}, {left_within_lag} left within its lag); \
             {released_ahead} released and not picked; {cancelled_shipped} picked for cancelled orders",
            w.floor[warehouse][sku]
        )
    }

    fn buyer_cancelled(&self, w: &World, request: &FulfillmentRequest) -> bool {
        self.scenario
            .channels
            .iter()
            .position(|c| c.name == request.channel)
            .and_then(|c| w.channels[c].orders.get(&request.channel_order_id))
            .is_some_and(|o| o.cancelled)
    }

    /// A 3PL sends what it shipped since its last batch.
    pub fn batch(&self, warehouse: usize) {
        let now = self.now();
        let mut world = self.world();
        let w = &mut *world;
        let held = std::mem::take(&mut w.warehouses[warehouse].held);
        for body in held {
            w.agenda
                .schedule(now + 60_000, Event::ShipmentMessage { warehouse, body });
        }
        let every = self.scenario.warehouses[warehouse].batch_every_ms;
        if every > 0 {
            w.agenda.schedule(now + every, Event::Batch { warehouse });
        }
    }

    pub fn shipment_delivered(&self) {
        self.world().in_flight -= 1;
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
        w.agenda.schedule(
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
