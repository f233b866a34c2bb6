//! Invoices: the sale's draft invoices joined into one carrying our reference, then posted.

use serde::Deserialize;

use crossdock_model::Order;
use serde_json::json;

use super::client::{SaleRow, TrytonErp};
use crate::{ConnectorError, ErpDocument};

#[derive(Debug, Deserialize)]
pub(super) struct InvoiceRow {
    pub(super) id: i64,
    pub(super) state: String,
    pub(super) reference: Option<String>,
    #[serde(default)]
    pub(super) lines: Vec<i64>,
}

impl TrytonErp {
    /// Our sale for an invoice: the order's ERP id when it has one, else by reference.
    pub(super) async fn sale_for_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<i64, ConnectorError> {
        if let Some(id) = order.erp_ref.as_deref().and_then(|r| r.parse::<i64>().ok()) {
            return Ok(id);
        }
        let sale_reference = reference.strip_suffix(":invoice").unwrap_or(reference);
        match self.sale_by_web_id(sale_reference).await? {
            Some(id) => Ok(id),
            None => self
                .search(
                    "sale.sale",
                    json!([["reference", "=", sale_reference]]),
                    Some(1),
                )
                .await?
                .first()
                .copied()
                .ok_or_else(|| {
                    ConnectorError::rejected(format!(
                        "Tryton has no sale {sale_reference} to invoice"
                    ))
                }),
        }
    }
}

impl TrytonErp {
    /// Gathers the lines of the sale's draft invoices on the oldest one (with
    /// invoicing on fulfilment, the shipping line is invoiced at confirmation
    /// and the goods when they ship) so the order has one invoice.
    pub(super) async fn merge_draft_invoices(
        &self,
        invoices: &[InvoiceRow],
    ) -> Result<Option<i64>, ConnectorError> {
        let mut drafts: Vec<&InvoiceRow> = invoices.iter().filter(|i| i.state == "draft").collect();
        drafts.sort_by_key(|i| i.id);
        let Some((keep, others)) = drafts.split_first() else {
            return Ok(None);
        };
        if !others.is_empty() {
            let lines: Vec<i64> = others.iter().flat_map(|i| i.lines.clone()).collect();
            if !lines.is_empty() {
                self.write(
                    "account.invoice",
                    &[keep.id],
                    json!({ "lines": [["add", lines]] }),
                )
                .await?;
            }
            let emptied: Vec<i64> = others.iter().map(|i| i.id).collect();
            self.model("account.invoice", "delete", &[json!(emptied)], None)
                .await?;
        }
        Ok(Some(keep.id))
    }

    pub(super) async fn invoices_of(&self, sale: i64) -> Result<Vec<InvoiceRow>, ConnectorError> {
        let row: SaleRow = self
            .read_one("sale.sale", sale, &["state", "invoices"])
            .await?;
        self.read(
            "account.invoice",
            &row.invoices,
            &["id", "state", "reference", "lines"],
        )
        .await
    }
}

impl TrytonErp {
    pub(super) async fn post_sale_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let shipped = self.shipped_by_product(order).await?;
        let sale = self.sale_for_invoice(reference, order).await?;
        let row: SaleRow = self
            .read_one("sale.sale", sale, &["state", "shipments", "invoices"])
            .await?;
        match row.state.as_str() {
            "confirmed" | "processing" | "done" => {}
            other => {
                return Err(ConnectorError::rejected(format!(
                    "Tryton sale {sale} is {other}: nothing to invoice"
                )));
            }
        }
        if row.state == "confirmed" {
            self.accept_sale(sale).await?;
        }
        self.ship(sale, shipped).await?;

        let invoices = self.invoices_of(sale).await?;
        if let Some(draft) = self.merge_draft_invoices(&invoices).await? {
            self.write(
                "account.invoice",
                &[draft],
                json!({ "reference": reference }),
            )
            .await?;
            self.button("account.invoice", "post", &[draft]).await?;
        }
        let invoices = self.invoices_of(sale).await?;
        let posted = invoices
            .iter()
            .filter(|i| matches!(i.state.as_str(), "posted" | "paid"))
            .filter(|i| i.reference.as_deref() == Some(reference))
            // The oldest, as `find_invoice` answers.
            .min_by_key(|i| i.id)
            .ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "Tryton sale {sale} has no invoice to post (nothing shipped?)"
                ))
            })?;
        Ok(ErpDocument {
            id: posted.id.to_string(),
            reference: reference.to_owned(),
        })
    }

    pub(super) async fn find_sale_invoice(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        let found = self
            .search(
                "account.invoice",
                json!([
                    ["type", "=", "out"],
                    ["reference", "=", reference],
                    ["state", "in", ["posted", "paid"]],
                ]),
                Some(1),
            )
            .await?;
        Ok(found.first().map(|id| ErpDocument {
            id: id.to_string(),
            reference: reference.to_owned(),
        }))
    }
}
