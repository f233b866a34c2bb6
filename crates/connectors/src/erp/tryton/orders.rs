//! Sales orders: created as the web shop's sale keyed by our reference, confirmed and processed, checked against our totals, cancelled.

use serde::Deserialize;

use crossdock_model::{Order, TaxTreatment};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::client::{MAX_STEPS, SaleRow, StateRow, TrytonErp};
use super::mapping::{Dec, date, decimal, price_line};
use crate::{ConnectorError, ErpDocument};

/// Description of the product-less line carrying the order's shipping charge.
pub(super) const SHIPPING_LINE: &str = "Shipping";

#[derive(Debug, Deserialize)]
pub(super) struct SaleAmounts {
    pub(super) untaxed_amount: Option<Dec>,
    pub(super) tax_amount: Option<Dec>,
    pub(super) total_amount: Option<Dec>,
}

impl TrytonErp {
    // ---- sales ----------------------------------------------------------------

    /// The sale created for `reference` (our `web_id` in the hub's web shop).
    pub(super) async fn sale_by_web_id(
        &self,
        reference: &str,
    ) -> Result<Option<i64>, ConnectorError> {
        let shop = self.web_shop().await?;
        Ok(self
            .search(
                "sale.sale",
                json!([["web_shop", "=", shop], ["web_id", "=", reference]]),
                Some(1),
            )
            .await?
            .first()
            .copied())
    }

    pub(super) async fn sale_lines(&self, order: &Order) -> Result<Vec<Value>, ConnectorError> {
        let codes: Vec<&str> = order
            .lines
            .iter()
            .filter(|l| l.quantity > 0)
            .map(|l| l.sku.as_str())
            .collect();
        let products = self.products(&codes).await?;
        let taxes = self.customer_taxes().await?;
        let mut lines = Vec::with_capacity(order.lines.len() + 1);
        for line in order.lines.iter().filter(|l| l.quantity > 0) {
            let product = products[line.sku.as_str()];
            let priced = price_line(line, &taxes)?;
            let mut values = json!({
                "type": "line",
                "product": product.id,
                "description": line.title,
                // Quantities are floats in Tryton; money never is.
                "quantity": f64::from(line.quantity),
                "unit": product.unit,
                "unit_price": decimal(priced.unit_price),
            });
            if let Some(tax) = priced.tax {
                values["taxes"] = json!([["add", [tax]]]);
            }
            lines.push(values);
        }
        if order.shipping.amount > Decimal::ZERO {
            lines.push(json!({
                "type": "line",
                "description": SHIPPING_LINE,
                "quantity": 1.0,
                "unit_price": decimal(order.shipping.amount),
            }));
        }
        Ok(lines)
    }

    pub(super) async fn create_sale(
        &self,
        reference: &str,
        party: i64,
        order: &Order,
    ) -> Result<i64, ConnectorError> {
        // Everything that may refuse the order is resolved before anything is written.
        let lines = self.sale_lines(order).await?;
        let warehouse = self.warehouse().await?;
        let shop = self.web_shop().await?;
        let currency = self.currency(order.currency.as_str()).await?;
        let payment_term = self.payment_term().await?;
        let shipment_address = self
            .ensure_address(party, order.shipping_address.as_ref())
            .await?;
        let invoice_address = match &order.billing_address {
            Some(billing) if Some(billing) != order.shipping_address.as_ref() => {
                self.ensure_address(party, Some(billing)).await?
            }
            _ => shipment_address,
        };
        let mut values = json!({
            "party": party,
            "invoice_address": invoice_address,
            "shipment_address": shipment_address,
            "reference": reference,
            "description": format!("{} order {}", order.channel, order.external_id),
            "currency": currency,
            "payment_term": payment_term,
            // 8.x: invoice what was shipped ("shipment" before 8.0).
            "invoice_method": "fulfillment",
            "shipment_method": "order",
            "sale_date": date(order.placed_at.date_naive()),
            "warehouse": warehouse,
            "web_shop": shop,
            "web_id": reference,
            "lines": [["create", lines]],
        });
        if order.tax_treatment == TaxTreatment::MarketplaceFacilitator {
            // The marketplace collects and remits this sale's tax; the
            // accountant sees why the tax is not the company's to pay.
            values["comment"] = json!(
                "Tax treatment: marketplace_facilitator (the marketplace collects and remits the sales tax)."
            );
        }
        match self.create("sale.sale", values).await {
            Ok(id) => Ok(id),
            // The (web_shop, web_id) pair is unique: a refusal may mean an
            // earlier attempt created the sale. Continue from it if so.
            Err(refused @ ConnectorError::Rejected { .. }) => {
                match self.sale_by_web_id(reference).await? {
                    Some(id) => {
                        tracing::info!(reference, sale = id, "sale already in Tryton");
                        Ok(id)
                    }
                    None => Err(refused),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Quotes, confirms and processes the sale, from whatever state it is in.
    pub(super) async fn accept_sale(&self, sale: i64) -> Result<(), ConnectorError> {
        for _ in 0..MAX_STEPS {
            let row: StateRow = self.read_one("sale.sale", sale, &["state"]).await?;
            let button = match row.state.as_str() {
                "draft" => "quote",
                "quotation" => "confirm",
                // `confirm` queues `process`, which runs after the commit in
                // the same request, and only logs its own failure: called
                // here, a refusal reaches us.
                "confirmed" => "process",
                "processing" | "done" => return Ok(()),
                "cancelled" => {
                    return Err(ConnectorError::rejected(format!(
                        "Tryton sale {sale} is cancelled"
                    )));
                }
                other => {
                    return Err(ConnectorError::rejected(format!(
                        "Tryton sale {sale} is in unknown state {other:?}"
                    )));
                }
            };
            self.button("sale.sale", button, &[sale]).await?;
        }
        Err(ConnectorError::transient(format!(
            "Tryton sale {sale} did not reach processing"
        )))
    }

    pub(super) async fn check_amounts(
        &self,
        sale: i64,
        order: &Order,
    ) -> Result<(), ConnectorError> {
        let amounts: SaleAmounts = self
            .read_one(
                "sale.sale",
                sale,
                &["untaxed_amount", "tax_amount", "total_amount"],
            )
            .await?;
        let total = amounts.total_amount.map(|d| d.0);
        if total != Some(order.total.amount) {
            // Tryton computed its own taxes: rounding per document or half-even
            // can differ from the channel's by a cent.
            tracing::warn!(
                sale,
                order = %order.id,
                expected = %order.total.amount,
                untaxed = ?amounts.untaxed_amount.map(|d| d.0),
                tax = ?amounts.tax_amount.map(|d| d.0),
                total = ?total,
                "Tryton sale total differs from the order's"
            );
        }
        Ok(())
    }
}

impl TrytonErp {
    pub(super) async fn upsert_sale(
        &self,
        reference: &str,
        customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let party: i64 = customer_id.parse().map_err(|_| {
            ConnectorError::rejected(format!("not a Tryton party id: {customer_id:?}"))
        })?;
        let sale = match self.sale_by_web_id(reference).await? {
            Some(existing) => existing,
            None => self.create_sale(reference, party, order).await?,
        };
        self.accept_sale(sale).await?;
        self.check_amounts(sale, order).await?;
        Ok(ErpDocument {
            id: sale.to_string(),
            reference: reference.to_owned(),
        })
    }

    pub(super) async fn find_sale(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        let sales: Vec<StateRow> = self
            .search_read(
                "sale.sale",
                json!([["reference", "=", reference]]),
                (0, None),
                &["id", "state"],
                None,
            )
            .await?;
        Ok(sales
            .into_iter()
            .find(|s| matches!(s.state.as_str(), "processing" | "done" | "cancelled"))
            .map(|s| ErpDocument {
                id: s.id.to_string(),
                reference: reference.to_owned(),
            }))
    }

    pub(super) async fn cancel_sale(&self, erp_id: &str) -> Result<(), ConnectorError> {
        let sale: i64 = erp_id
            .parse()
            .map_err(|_| ConnectorError::rejected(format!("not a Tryton sale id: {erp_id:?}")))?;
        let fields = [
            "state",
            "shipments",
            "invoices",
            "shipment_state",
            "invoice_state",
        ];
        let row: SaleRow = self.read_one("sale.sale", sale, &fields).await?;
        match row.state.as_str() {
            "cancelled" => return Ok(()),
            "draft" | "quotation" => return self.button("sale.sale", "cancel", &[sale]).await,
            "confirmed" => {
                self.button("sale.sale", "draft", &[sale]).await?;
                return self.button("sale.sale", "cancel", &[sale]).await;
            }
            _ => {}
        }
        let shipments: Vec<StateRow> = self
            .read("stock.shipment.out", &row.shipments, &["id", "state"])
            .await?;
        if let Some(done) = shipments.iter().find(|s| s.state == "done") {
            return Err(ConnectorError::rejected(format!(
                "Tryton sale {sale} already shipped (shipment {} is done)",
                done.id
            )));
        }
        let invoices: Vec<StateRow> = self
            .read("account.invoice", &row.invoices, &["id", "state"])
            .await?;
        if let Some(posted) = invoices
            .iter()
            .find(|i| matches!(i.state.as_str(), "posted" | "paid"))
        {
            return Err(ConnectorError::rejected(format!(
                "Tryton sale {sale} already invoiced (invoice {} is {})",
                posted.id, posted.state
            )));
        }
        let open: Vec<i64> = shipments
            .iter()
            .filter(|s| s.state != "cancelled")
            .map(|s| s.id)
            .collect();
        if !open.is_empty() {
            self.button("stock.shipment.out", "cancel", &open).await?;
        }
        let drafts: Vec<i64> = invoices
            .iter()
            .filter(|i| matches!(i.state.as_str(), "draft" | "validated"))
            .map(|i| i.id)
            .collect();
        if !drafts.is_empty() {
            self.button("account.invoice", "cancel", &drafts).await?;
        }
        let row: SaleRow = self.read_one("sale.sale", sale, &fields).await?;
        if row.shipment_state.as_deref() == Some("exception") {
            self.ignore_exceptions("sale.handle.shipment.exception", sale, "moves")
                .await?;
        }
        let row: SaleRow = self.read_one("sale.sale", sale, &fields).await?;
        if row.invoice_state.as_deref() == Some("exception") {
            self.ignore_exceptions("sale.handle.invoice.exception", sale, "invoices")
                .await?;
        }
        Ok(())
    }
}
