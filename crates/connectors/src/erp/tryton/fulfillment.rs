//! Shipments: the customer shipment of a sale fitted to what the warehouse shipped, then completed.

use serde::Deserialize;
use std::collections::HashMap;

use crossdock_model::Order;
use serde_json::json;

use super::client::{MAX_STEPS, SaleRow, TrytonErp};
use crate::ConnectorError;

#[derive(Debug, Deserialize)]
pub(super) struct ShipmentRow {
    pub(super) state: String,
    pub(super) warehouse_storage: Option<i64>,
    pub(super) warehouse_output: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ShipmentMoves {
    pub(super) id: i64,
    pub(super) state: String,
    #[serde(default)]
    pub(super) inventory_moves: Vec<i64>,
    #[serde(default)]
    pub(super) outgoing_moves: Vec<i64>,
    pub(super) warehouse_storage: Option<i64>,
    pub(super) warehouse_output: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct MoveRow {
    pub(super) id: i64,
    pub(super) product: i64,
    pub(super) quantity: f64,
    pub(super) state: String,
}

impl TrytonErp {
    /// Drives one customer shipment to `done`, each step chosen from its
    /// current state (3-step warehouse: assign → pick → pack → do; 1-step
    /// when storage is the output location: assign → pack → do).
    pub(super) async fn complete_shipment(&self, shipment: i64) -> Result<(), ConnectorError> {
        const MODEL: &str = "stock.shipment.out";
        let fields = ["state", "warehouse_storage", "warehouse_output"];
        for _ in 0..MAX_STEPS {
            let row: ShipmentRow = self.read_one(MODEL, shipment, &fields).await?;
            let button = match row.state.as_str() {
                "done" | "cancelled" => return Ok(()),
                "draft" => "wait",
                "waiting" => {
                    self.button(MODEL, "assign_try", &[shipment]).await?;
                    // assign_try answers null whether it assigned or not.
                    let row: ShipmentRow = self.read_one(MODEL, shipment, &fields).await?;
                    if row.state != "waiting" {
                        continue;
                    }
                    // The warehouse did ship: force it when the user may.
                    if let Err(e) = self.button(MODEL, "assign_force", &[shipment]).await {
                        return Err(ConnectorError::rejected(format!(
                            "Tryton shipment {shipment} cannot be assigned \
                             (not enough stock) and could not be forced: {e}"
                        )));
                    }
                    continue;
                }
                "assigned" if row.warehouse_storage == row.warehouse_output => "pack",
                "assigned" => "pick",
                "picked" => "pack",
                "packed" | "shipped" => "do",
                other => {
                    return Err(ConnectorError::rejected(format!(
                        "Tryton shipment {shipment} is in unknown state {other:?}"
                    )));
                }
            };
            self.button(MODEL, button, &[shipment]).await?;
        }
        Err(ConnectorError::transient(format!(
            "Tryton shipment {shipment} did not reach done"
        )))
    }

    /// Units shipped per Tryton product, from the order's lines.
    pub(super) async fn shipped_by_product(
        &self,
        order: &Order,
    ) -> Result<HashMap<i64, f64>, ConnectorError> {
        if !order.any_shipped() {
            return Err(ConnectorError::rejected(format!(
                "order {} has nothing shipped to invoice",
                order.id
            )));
        }
        let codes: Vec<&str> = order
            .lines
            .iter()
            .filter(|l| l.quantity > 0)
            .map(|l| l.sku.as_str())
            .collect();
        let products = self.products(&codes).await?;
        let mut shipped = HashMap::new();
        for line in order.lines.iter().filter(|l| l.quantity > 0) {
            *shipped.entry(products[line.sku.as_str()].id).or_insert(0.0) +=
                f64::from(line.shipped_quantity);
        }
        Ok(shipped)
    }

    /// Makes the sale's customer shipments say what the order says shipped:
    /// open shipments get the shipped quantities (short lines shrunk, a
    /// shipment with nothing shipped cancelled) and are completed; what
    /// Tryton then plans for the rest (a backorder) is cancelled and the
    /// sale's shipment exception ignored. Re-running finds it all done.
    pub(super) async fn ship(
        &self,
        sale: i64,
        shipped: HashMap<i64, f64>,
    ) -> Result<(), ConnectorError> {
        for _ in 0..MAX_STEPS {
            let row: SaleRow = self
                .read_one("sale.sale", sale, &["state", "shipments", "shipment_state"])
                .await?;
            let shipments: Vec<ShipmentMoves> = self
                .read(
                    "stock.shipment.out",
                    &row.shipments,
                    &[
                        "id",
                        "state",
                        "inventory_moves",
                        "outgoing_moves",
                        "warehouse_storage",
                        "warehouse_output",
                    ],
                )
                .await?;
            let open: Vec<&ShipmentMoves> = shipments
                .iter()
                .filter(|s| !matches!(s.state.as_str(), "done" | "cancelled"))
                .collect();
            if open.is_empty() {
                if row.shipment_state.as_deref() == Some("exception") {
                    self.ignore_exceptions("sale.handle.shipment.exception", sale, "moves")
                        .await?;
                }
                // Creates the invoice of what shipped (the shipment's `do` also
                // queues it; running it again is harmless).
                return self.button("sale.sale", "process", &[sale]).await;
            }
            // What is left to ship: the order's units less those already done.
            let mut left = shipped.clone();
            let done_moves: Vec<i64> = shipments
                .iter()
                .filter(|s| s.state == "done")
                .flat_map(|s| s.outgoing_moves.iter().copied())
                .collect();
            let done: Vec<MoveRow> = self
                .read(
                    "stock.move",
                    &done_moves,
                    &["id", "product", "quantity", "state"],
                )
                .await?;
            for moved in done.iter().filter(|m| m.state == "done") {
                if let Some(units) = left.get_mut(&moved.product) {
                    *units = (*units - moved.quantity).max(0.0);
                }
            }
            for shipment in open {
                self.fit_shipment(shipment, &mut left).await?;
            }
        }
        Err(ConnectorError::transient(format!(
            "Tryton sale {sale}: shipments did not settle"
        )))
    }

    /// Sets an open shipment's quantities to what is `left` to ship (taking
    /// it from `left`), then completes it, or cancels it when nothing of it
    /// shipped.
    pub(super) async fn fit_shipment(
        &self,
        shipment: &ShipmentMoves,
        left: &mut HashMap<i64, f64>,
    ) -> Result<(), ConnectorError> {
        const MODEL: &str = "stock.shipment.out";
        // The moves assignment picks from: inventory moves in a 3-step
        // warehouse, the outgoing ones when storage is the output.
        let assign_moves = if shipment.warehouse_storage == shipment.warehouse_output {
            &shipment.outgoing_moves
        } else {
            &shipment.inventory_moves
        };
        let moves: Vec<MoveRow> = self
            .read(
                "stock.move",
                assign_moves,
                &["id", "product", "quantity", "state"],
            )
            .await?;
        let mut changes = Vec::new();
        let mut total = 0.0;
        for moved in moves.iter().filter(|m| m.state != "cancelled") {
            let units = left.entry(moved.product).or_insert(0.0);
            let take = moved.quantity.min(*units);
            *units -= take;
            total += take;
            if take != moved.quantity {
                changes.push((moved.id, take));
            }
        }
        if total == 0.0 {
            return self.button(MODEL, "cancel", &[shipment.id]).await;
        }
        // Picking and packing fixed the quantities already.
        if !changes.is_empty()
            && matches!(shipment.state.as_str(), "draft" | "waiting" | "assigned")
        {
            if shipment.state == "assigned" {
                // Assigned moves are read-only: back to waiting first.
                self.button(MODEL, "wait", &[shipment.id]).await?;
            }
            for (moved, quantity) in changes {
                self.write("stock.move", &[moved], json!({ "quantity": quantity }))
                    .await?;
            }
        }
        self.complete_shipment(shipment.id).await
    }
}
