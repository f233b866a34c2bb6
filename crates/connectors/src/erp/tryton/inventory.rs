//! Stock: quantities per product in the configured warehouse, read page by page.

use serde::Deserialize;

use crossdock_model::InventoryPosition;
use serde_json::json;

use super::client::TrytonErp;
use crate::ConnectorError;

/// `source` of positions read from this ERP.
pub(super) const STOCK_SOURCE: &str = "erp";

/// Products per `search_read` page when reading stock.
pub(super) const STOCK_PAGE: u64 = 500;

#[derive(Debug, Deserialize)]
pub(super) struct StockRow {
    pub(super) code: Option<String>,
    pub(super) quantity: Option<f64>,
}

impl TrytonErp {
    pub(super) async fn stock_positions(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        let warehouse = self.warehouse().await?;
        let context = json!({ "locations": [warehouse], "with_childs": true });
        let domain = json!([
            ["type", "=", "goods"],
            ["salable", "=", true],
            ["code", "!=", null],
        ]);
        let as_of = self.clock.now();
        let mut positions = Vec::new();
        let mut offset = 0;
        loop {
            let page: Vec<StockRow> = self
                .search_read(
                    "product.product",
                    domain.clone(),
                    (offset, Some(STOCK_PAGE)),
                    &["code", "quantity"],
                    Some(&context),
                )
                .await?;
            let count = page.len() as u64;
            positions.extend(page.into_iter().filter_map(|row| {
                let sku = row.code.filter(|c| !c.is_empty())?;
                Some(InventoryPosition {
                    sku,
                    location: self.options.location.clone(),
                    // Units: whole numbers in a float.
                    on_hand: row.quantity.unwrap_or(0.0).round() as i64,
                    reserved: 0,
                    source: STOCK_SOURCE.to_owned(),
                    as_of,
                })
            }));
            if count < STOCK_PAGE {
                return Ok(positions);
            }
            offset += count;
        }
    }
}
