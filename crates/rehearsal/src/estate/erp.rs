//! The ERP as a model: customers, sales orders, invoices and the stock
//! it reports late, behind its rate and concurrency limits and outages.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crossdock_connectors::{ConnectorError, Erp, ErpDocument};
use crossdock_model::{Customer, InventoryPosition, Journal, Order};
use rand::Rng;

use super::state::Estate;

impl Estate {
    /// The stock every warehouse holds, as the ERP reports it: as it was
    /// `stock_lag` ago.
    pub(super) fn erp_view(&self, now: i64) -> Vec<InventoryPosition> {
        let as_of = now - self.scenario.erp.stock_lag_ms;
        let world = self.world();
        let mut out = Vec::new();
        for (w, spec) in self.scenario.warehouses.iter().enumerate() {
            for (s, sku) in world.skus.iter().enumerate() {
                let history = &world.floor_history[w][s];
                let units = history
                    .iter()
                    .rev()
                    .find(|(t, _)| *t <= as_of)
                    .or(history.front())
                    .map_or(0, |(_, u)| *u);
                out.push(InventoryPosition {
                    sku: sku.code.clone(),
                    location: spec.name.clone(),
                    on_hand: units,
                    reserved: 0,
                    source: "erp".into(),
                    as_of: DateTime::<Utc>::from_timestamp_millis(
                        as_of.max(self.scenario.start_ms()),
                    )
                    .unwrap_or_default(),
                });
            }
        }
        out
    }
}

/// The ERP: customers, sales orders, invoices, stock.
pub(crate) struct SimErp {
    pub estate: Arc<Estate>,
}

impl SimErp {
    /// Admit a call: refused while down, over the rate (per minute, as a
    /// cloud ERP counts it) or over the concurrency limit; returns when the
    /// call completes.
    fn admit(&self, operation: &'static str) -> Result<i64, ConnectorError> {
        let now = self.estate.now();
        let spec = &self.estate.scenario.erp;
        let down = self.estate.in_window(&spec.outages, now);
        let interval = self.estate.scenario.sample_every_ms;
        let offset = self.estate.offset(now);
        let mut world = self.estate.world();
        let w = &mut *world;
        let erp = &mut w.erp;
        if down {
            erp.failed_in_outage += 1;
            return Err(ConnectorError::Unreachable {
                reason: "connection refused (ERP down)".into(),
            });
        }
        while erp.recent_calls.front().is_some_and(|t| *t <= now - 60_000) {
            erp.recent_calls.pop_front();
        }
        erp.in_flight_until.retain(|until| *until > now);
        let per_minute = (spec.requests_per_sec * 60.0).floor().max(1.0) as usize;
        if erp.recent_calls.len() >= per_minute
            || erp.in_flight_until.len() >= spec.max_concurrency as usize
        {
            erp.throttled += 1;
            return Err(ConnectorError::Throttled {
                reason: "429 Too Many Requests".into(),
                retry_after: Duration::from_secs(1),
            });
        }
        let slow = w.rng.random_range(0.0..1.0) < spec.slow_share;
        let latency = if slow {
            (spec.latency_ms as f64 * spec.slow_factor) as i64
        } else {
            spec.latency_ms / 2 + w.rng.random_range(0..=spec.latency_ms.max(1))
        };
        let erp = &mut w.erp;
        erp.recent_calls.push_back(now);
        erp.in_flight_until.push(now + latency);
        erp.calls += 1;
        *erp.calls_by_operation.entry(operation).or_default() += 1;
        *erp.calls_per_interval.entry(offset / interval).or_default() += 1;
        Ok(now + latency)
    }
}

#[async_trait]
impl Erp for SimErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        self.admit("customer.upsert")?;
        let mut world = self.estate.world();
        let n = world.erp.customers.len() + 1;
        Ok(world
            .erp
            .customers
            .entry(customer.email.clone())
            .or_insert_with(|| format!("C{n:07}"))
            .clone())
    }

    async fn create_sales_order(
        &self,
        reference: &str,
        _customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let done = self.admit("sales_order.create")?;
        let mut world = self.estate.world();
        let erp = &mut world.erp;
        let (id, _) = erp.sales_orders.issue(reference.to_owned(), "SO");
        erp.accepted_at.entry(order.id.clone()).or_insert(done);
        Ok(ErpDocument {
            id,
            reference: reference.to_owned(),
        })
    }

    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        self.admit("sales_order.find")?;
        let world = self.estate.world();
        Ok(world
            .erp
            .sales_orders
            .first(reference)
            .map(|id| ErpDocument {
                id: id.clone(),
                reference: reference.to_owned(),
            }))
    }

    async fn post_invoice(
        &self,
        reference: &str,
        _order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.admit("invoice.post")?;
        let mut world = self.estate.world();
        let (id, _) = world.erp.invoices.issue(reference.to_owned(), "INV");
        Ok(ErpDocument {
            id,
            reference: reference.to_owned(),
        })
    }

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.admit("invoice.find")?;
        let world = self.estate.world();
        Ok(world.erp.invoices.first(reference).map(|id| ErpDocument {
            id: id.clone(),
            reference: reference.to_owned(),
        }))
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        self.admit("stock.read")?;
        Ok(self.estate.erp_view(self.estate.now()))
    }

    async fn cancel_sales_order(&self, _erp_id: &str) -> Result<(), ConnectorError> {
        self.admit("sales_order.cancel")?;
        Ok(())
    }

    async fn post_journal(
        &self,
        reference: &str,
        journal: &Journal,
    ) -> Result<ErpDocument, ConnectorError> {
        self.admit("journal.post")?;
        if !journal.is_balanced() {
            return Err(ConnectorError::rejected(format!(
                "journal {reference} does not balance: debits {} ≠ credits {}",
                journal.debits(),
                journal.credits()
            )));
        }
        let mut world = self.estate.world();
        let (id, _) = world.erp.journals.issue(reference.to_owned(), "JE");
        Ok(ErpDocument {
            id,
            reference: reference.to_owned(),
        })
    }

    async fn find_journal(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.admit("journal.find")?;
        let world = self.estate.world();
        Ok(world.erp.journals.first(reference).map(|id| ErpDocument {
            id: id.clone(),
            reference: reference.to_owned(),
        }))
    }
}
