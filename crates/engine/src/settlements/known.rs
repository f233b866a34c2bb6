//! What reconciliation asks the hub, answered from the store: the orders it
//! saw (channel order id → the hub's order, its tax treatment and, once
//! invoiced, its invoice total) and the last settlement's held reserve. Read once per import for the
//! orders the file names, so reconciliation itself stays pure.

use std::collections::HashMap;

use crossdock_model::{Order, OrderStatus};
use crossdock_settlement::{KnownOrder, KnownOrders};
use crossdock_store::{Store, StoreError};
use rust_decimal::Decimal;

/// The store's answers for one settlement's orders.
#[derive(Debug, Clone, Default)]
pub struct StoreOrders {
    orders: HashMap<String, KnownOrder>,
    /// The previous settlement's key and the reserve it held (negative).
    previous_reserve: Option<(String, Decimal)>,
}

/// An order as reconciliation knows it: its invoice total once the hub
/// invoiced it.
fn known(o: &Order) -> KnownOrder {
    let invoiced = matches!(o.status, OrderStatus::Invoiced | OrderStatus::Closed);
    KnownOrder {
        order_id: o.id.clone(),
        invoice_total: invoiced.then_some(o.total.amount),
        tax_treatment: o.tax_treatment,
    }
}

impl StoreOrders {
    /// Read what the store knows about `order_refs` of `channel`, and the
    /// settlement before `settlement` (by period end) for its reserve.
    pub async fn load(
        store: &Store,
        channel: &str,
        settlement: &str,
        ends_at: Option<i64>,
        order_refs: &[String],
    ) -> Result<StoreOrders, StoreError> {
        let orders = store
            .orders_by_external_ids(channel, order_refs)
            .await?
            .iter()
            .map(|o| (o.external_id.clone(), known(o)))
            .collect();
        let previous_reserve = store
            .previous_settlement(channel, settlement, ends_at)
            .await?
            .and_then(|s| s.current_reserve.map(|r| (s.key, r)));
        Ok(StoreOrders {
            orders,
            previous_reserve,
        })
    }

    /// The reserve the previous settlement held back (negative), if known.
    pub fn previous_reserve(&self) -> Option<Decimal> {
        self.previous_reserve.as_ref().map(|(_, r)| *r)
    }
}

impl KnownOrders for StoreOrders {
    fn order(&self, channel_order_id: &str) -> Option<KnownOrder> {
        self.orders.get(channel_order_id).cloned()
    }
}
