//! The REST ERP API. Sales orders and invoices are not idempotent there, so
//! each has a lookup by our reference for resolving an in-doubt create.
//!
//! Auth is none, a static bearer token or OAuth2 client credentials
//! ([`AuthConfig`]). With client credentials a call refused with 401 (the
//! token was revoked or expired early) runs once more with a new token: a
//! 401 means the API did not apply it.

pub mod config;

use async_trait::async_trait;
use chrono::Utc;
use crossdock_model::{Customer, InventoryPosition, Order};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthConfig, Authorizer};
use crate::http::{base_url, endpoint};
use crate::{ConnectorError, Erp, ErpDocument, HttpClient};

/// `source` of positions read from this ERP.
const STOCK_SOURCE: &str = "erp";

pub struct RestErp {
    base: Url,
    auth: Authorizer,
}

impl RestErp {
    /// An ERP that takes calls without credentials.
    pub fn new(base_url_str: &str, http: HttpClient) -> Result<Self, ConnectorError> {
        Self::with_auth(base_url_str, AuthConfig::None, http)
    }

    /// An ERP that wants every call authenticated as `auth` says.
    pub fn with_auth(
        base_url_str: &str,
        auth: AuthConfig,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        Ok(RestErp {
            base: base_url(base_url_str)?,
            auth: Authorizer::new(&auth, http)?,
        })
    }

    async fn post<B: Serialize + Sync, T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        body: &B,
    ) -> Result<T, ConnectorError> {
        let url = &endpoint(&self.base, &[collection]);
        self.auth
            .run(|http| async move { http.post_json(url, body).await })
            .await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ConnectorError> {
        let url = &endpoint(&self.base, &[collection]);
        self.auth
            .run(|http| async move { http.get_json(url, query).await })
            .await
    }

    async fn find(
        &self,
        collection: &str,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        let answer: serde_json::Map<String, serde_json::Value> =
            self.get(collection, &[("reference", reference)]).await?;
        let key = collection.replace('-', "_");
        let documents: Vec<ErpDocument> = answer
            .get(&key)
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| ConnectorError::transient(format!("unreadable {collection} list: {e}")))?
            .ok_or_else(|| {
                ConnectorError::transient(format!("{collection} list without {key:?}"))
            })?;
        // The ERP may hold several (a duplicate is the very thing this lookup
        // guards against); the oldest is the one to keep.
        Ok(documents.into_iter().find(|d| d.reference == reference))
    }
}

#[derive(Debug, Serialize)]
struct CustomerWire<'a> {
    email: &'a str,
    name: &'a str,
    phone: Option<&'a str>,
    external_id: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct IdWire {
    id: String,
}

#[derive(Debug, Serialize)]
struct SalesOrderWire<'a> {
    reference: &'a str,
    customer_id: &'a str,
    currency: &'a str,
    lines: Vec<SalesOrderLineWire<'a>>,
    shipping: String,
    total: String,
}

#[derive(Debug, Serialize)]
struct SalesOrderLineWire<'a> {
    sku: &'a str,
    quantity: u32,
    unit_price: String,
    discount: String,
    tax: String,
}

#[derive(Debug, Serialize)]
struct InvoiceWire<'a> {
    reference: &'a str,
    sales_order_id: &'a str,
    lines: Vec<InvoiceLineWire<'a>>,
}

#[derive(Debug, Serialize)]
struct InvoiceLineWire<'a> {
    sku: &'a str,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct StockWire {
    positions: Vec<PositionWire>,
}

#[derive(Debug, Deserialize)]
struct PositionWire {
    sku: String,
    location: String,
    on_hand: i64,
}

fn sales_order_body<'a>(
    reference: &'a str,
    customer_id: &'a str,
    order: &'a Order,
) -> SalesOrderWire<'a> {
    SalesOrderWire {
        reference,
        customer_id,
        currency: order.currency.as_str(),
        lines: order
            .lines
            .iter()
            .map(|l| SalesOrderLineWire {
                sku: &l.sku,
                quantity: l.quantity,
                unit_price: l.unit_price.amount.to_string(),
                discount: l.discount.amount.to_string(),
                tax: l.tax.amount.to_string(),
            })
            .collect(),
        shipping: order.shipping.amount.to_string(),
        total: order.total.amount.to_string(),
    }
}

fn invoice_body<'a>(
    reference: &'a str,
    order: &'a Order,
) -> Result<InvoiceWire<'a>, ConnectorError> {
    let sales_order_id = order.erp_ref.as_deref().ok_or_else(|| {
        ConnectorError::rejected(format!(
            "order {} has no ERP sales order to invoice",
            order.id
        ))
    })?;
    let lines: Vec<InvoiceLineWire> = order
        .lines
        .iter()
        .filter(|l| l.shipped_quantity > 0)
        .map(|l| InvoiceLineWire {
            sku: &l.sku,
            quantity: l.shipped_quantity,
        })
        .collect();
    if lines.is_empty() {
        return Err(ConnectorError::rejected(format!(
            "order {} has nothing shipped to invoice",
            order.id
        )));
    }
    Ok(InvoiceWire {
        reference,
        sales_order_id,
        lines,
    })
}

#[async_trait]
impl Erp for RestErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        let body = CustomerWire {
            email: &customer.email,
            name: &customer.name,
            phone: customer.phone.as_deref(),
            external_id: customer.external_id.as_deref(),
        };
        let answer: IdWire = self.post("customers", &body).await?;
        Ok(answer.id)
    }

    async fn create_sales_order(
        &self,
        reference: &str,
        customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let body = sales_order_body(reference, customer_id, order);
        let answer: IdWire = self.post("sales-orders", &body).await?;
        Ok(ErpDocument {
            id: answer.id,
            reference: reference.to_owned(),
        })
    }

    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find("sales-orders", reference).await
    }

    async fn post_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let body = invoice_body(reference, order)?;
        let answer: IdWire = self.post("invoices", &body).await?;
        Ok(ErpDocument {
            id: answer.id,
            reference: reference.to_owned(),
        })
    }

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find("invoices", reference).await
    }

    async fn cancel_sales_order(&self, erp_id: &str) -> Result<(), ConnectorError> {
        let url = &endpoint(&self.base, &["sales-orders", erp_id, "cancel"]);
        self.auth
            .run(|http| async move { http.post_expecting(url, &[]).await })
            .await?;
        Ok(())
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        let answer: StockWire = self.get("stock", &[]).await?;
        let as_of = Utc::now();
        Ok(answer
            .positions
            .into_iter()
            .map(|p| InventoryPosition {
                sku: p.sku,
                location: p.location,
                on_hand: p.on_hand,
                reserved: 0,
                source: STOCK_SOURCE.to_owned(),
                as_of,
            })
            .collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crossdock_model::{Currency, Money, OrderLine, OrderStatus, TaxTreatment};
    use rust_decimal::Decimal;
    use serde_json::json;

    pub(crate) fn order() -> Order {
        let usd = |cents: i64| Money::new(Decimal::new(cents, 2), Currency::USD);
        Order {
            id: "o-1".into(),
            channel: "webstore".into(),
            external_id: "WS-000001".into(),
            source_version: 1,
            placed_at: Utc::now(),
            currency: Currency::USD,
            customer: Customer {
                external_id: Some("B-1".into()),
                email: "b1@example.com".into(),
                name: "Buyer 1".into(),
                phone: None,
            },
            shipping_address: None,
            billing_address: None,
            lines: vec![
                OrderLine {
                    line_id: "1".into(),
                    sku: "SKU-001".into(),
                    title: "Widget".into(),
                    quantity: 2,
                    unit_price: usd(1999),
                    discount: usd(0),
                    tax: usd(320),
                    shipped_quantity: 0,
                    cancelled_quantity: 0,
                },
                OrderLine {
                    line_id: "2".into(),
                    sku: "SKU-002".into(),
                    title: "Gadget".into(),
                    quantity: 1,
                    unit_price: usd(500),
                    discount: usd(50),
                    tax: usd(37),
                    shipped_quantity: 0,
                    cancelled_quantity: 0,
                },
            ],
            shipping: usd(499),
            total: usd(5304),
            tax_treatment: TaxTreatment::MerchantCollected,
            service_level: "standard".into(),
            status: OrderStatus::Received,
            erp_ref: None,
        }
    }

    #[test]
    fn sales_order_carries_amounts_as_decimal_strings() {
        let order = order();
        let body = serde_json::to_value(sales_order_body("ref-1", "C-000001", &order)).unwrap();
        assert_eq!(
            body,
            json!({
                "reference": "ref-1", "customer_id": "C-000001", "currency": "USD",
                "lines": [
                    { "sku": "SKU-001", "quantity": 2, "unit_price": "19.99", "discount": "0.00", "tax": "3.20" },
                    { "sku": "SKU-002", "quantity": 1, "unit_price": "5.00", "discount": "0.50", "tax": "0.37" }
                ],
                "shipping": "4.99", "total": "53.04"
            })
        );
    }

    #[test]
    fn invoice_needs_a_sales_order_and_shipped_units() {
        let mut order = order();
        assert!(matches!(
            invoice_body("inv-1", &order),
            Err(ConnectorError::Rejected { .. })
        ));
        order.erp_ref = Some("SO-000001".into());
        assert!(matches!(
            invoice_body("inv-1", &order),
            Err(ConnectorError::Rejected { .. })
        ));
        order.lines[1].shipped_quantity = 1;
        let body = serde_json::to_value(invoice_body("inv-1", &order).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({ "reference": "inv-1", "sales_order_id": "SO-000001", "lines": [{ "sku": "SKU-002", "quantity": 1 }] })
        );
    }
}
