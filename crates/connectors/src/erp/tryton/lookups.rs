//! Lookups cached for the life of the connector: warehouse, web shop, payment term, currencies, countries, taxes and products by code.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::client::{Ids, TrytonErp};
use super::mapping::Dec;
use crate::ConnectorError;

#[derive(Debug, Clone, Deserialize)]
pub(super) struct TaxRate {
    pub(super) id: i64,
    pub(super) rate: Dec,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct ProductRef {
    pub(super) id: i64,
    pub(super) unit: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct ProductRow {
    pub(super) id: i64,
    pub(super) code: Option<String>,
    pub(super) sale_uom: Option<i64>,
    pub(super) default_uom: Option<i64>,
}

impl TrytonErp {
    // ---- cached lookups -------------------------------------------------------

    pub(super) async fn warehouse(&self) -> Result<i64, ConnectorError> {
        if let Some(id) = self.ids().warehouse {
            return Ok(id);
        }
        let code = &self.options.warehouse_code;
        let id = self
            .search(
                "stock.location",
                json!([["type", "=", "warehouse"], ["code", "=", code]]),
                Some(1),
            )
            .await?
            .first()
            .copied()
            .ok_or_else(|| {
                ConnectorError::rejected(format!("Tryton has no warehouse with code {code:?}"))
            })?;
        self.ids().warehouse = Some(id);
        Ok(id)
    }

    pub(super) async fn web_shop(&self) -> Result<i64, ConnectorError> {
        if let Some(id) = self.ids().web_shop {
            return Ok(id);
        }
        let name = &self.options.web_shop_name;
        let id = self
            .search("web.shop", json!([["name", "=", name]]), Some(1))
            .await?
            .first()
            .copied()
            .ok_or_else(|| {
                ConnectorError::rejected(format!("Tryton has no web shop named {name:?}"))
            })?;
        self.ids().web_shop = Some(id);
        Ok(id)
    }

    /// The first payment term (Tryton's defaults only apply through on_change).
    pub(super) async fn payment_term(&self) -> Result<Option<i64>, ConnectorError> {
        if let Some(term) = self.ids().payment_term {
            return Ok(term);
        }
        let term = self
            .search("account.invoice.payment_term", json!([]), Some(1))
            .await?
            .first()
            .copied();
        self.ids().payment_term = Some(term);
        Ok(term)
    }

    pub(super) async fn currency(&self, code: &str) -> Result<i64, ConnectorError> {
        if let Some(id) = self.ids().currencies.get(code) {
            return Ok(*id);
        }
        let id = self
            .search("currency.currency", json!([["code", "=", code]]), Some(1))
            .await?
            .first()
            .copied()
            .ok_or_else(|| ConnectorError::rejected(format!("Tryton has no currency {code}")))?;
        self.ids().currencies.insert(code.to_owned(), id);
        Ok(id)
    }

    /// The country by ISO code; `None` when Tryton has none loaded (a fresh
    /// database has no countries until they are imported).
    pub(super) async fn country(&self, code: &str) -> Result<Option<i64>, ConnectorError> {
        let code = code.trim().to_ascii_uppercase();
        self.by_code("country.country", code, |ids| &mut ids.countries)
            .await
    }

    /// The subdivision by ISO 3166-2 code (`US-TX`).
    pub(super) async fn subdivision(&self, code: String) -> Result<Option<i64>, ConnectorError> {
        self.by_code("country.subdivision", code, |ids| &mut ids.subdivisions)
            .await
    }

    /// The record of `model` with `code`, looked up once: found or not, the
    /// answer is kept in the map `cache` picks.
    pub(super) async fn by_code(
        &self,
        model: &str,
        code: String,
        cache: fn(&mut Ids) -> &mut HashMap<String, Option<i64>>,
    ) -> Result<Option<i64>, ConnectorError> {
        if let Some(id) = cache(&mut self.ids()).get(&code) {
            return Ok(*id);
        }
        let id = self
            .search(model, json!([["code", "=", code]]), Some(1))
            .await?
            .first()
            .copied();
        cache(&mut self.ids()).insert(code, id);
        Ok(id)
    }

    /// Percentage taxes usable on sales.
    pub(super) async fn customer_taxes(&self) -> Result<Arc<Vec<TaxRate>>, ConnectorError> {
        if let Some(taxes) = self.ids().taxes.clone() {
            return Ok(taxes);
        }
        let domain = json!([
            ["type", "=", "percentage"],
            ["parent", "=", null],
            [
                "OR",
                ["group", "=", null],
                ["group.kind", "in", ["sale", "both"]]
            ],
        ]);
        let taxes: Vec<TaxRate> = self
            .search_read("account.tax", domain, (0, None), &["id", "rate"], None)
            .await?;
        let taxes = Arc::new(taxes);
        self.ids().taxes = Some(taxes.clone());
        Ok(taxes)
    }

    /// Products by code; unknown codes are refused, naming them.
    pub(super) async fn products(
        &self,
        codes: &[&str],
    ) -> Result<HashMap<String, ProductRef>, ConnectorError> {
        let missing: Vec<&str> = {
            let ids = self.ids();
            codes
                .iter()
                .copied()
                .filter(|c| !ids.products.contains_key(*c))
                .collect()
        };
        if !missing.is_empty() {
            let rows: Vec<ProductRow> = self
                .search_read(
                    "product.product",
                    json!([["code", "in", missing], ["salable", "=", true]]),
                    (0, None),
                    &["id", "code", "sale_uom", "default_uom"],
                    None,
                )
                .await?;
            let mut ids = self.ids();
            for row in rows {
                let (Some(code), Some(unit)) = (row.code, row.sale_uom.or(row.default_uom)) else {
                    continue;
                };
                ids.products
                    .entry(code)
                    .or_insert(ProductRef { id: row.id, unit });
            }
        }
        let ids = self.ids();
        let mut found = HashMap::new();
        for code in codes {
            let product = ids.products.get(*code).ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "unknown SKU {code}: Tryton has no salable product with that code"
                ))
            })?;
            found.insert((*code).to_owned(), *product);
        }
        Ok(found)
    }
}
