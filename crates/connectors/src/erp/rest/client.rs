//! The hub's own JSON ERP API: one call per `Erp` operation, documents found again by our reference.

use async_trait::async_trait;
use std::sync::Arc;

use crossdock_model::{Clock, Customer, InventoryPosition, Journal, Order, SystemClock};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::mapping::{CustomerWire, invoice_body, journal_body, sales_order_body};
use crate::auth::{AuthConfig, Authorizer};
use crate::http::{base_url, endpoint};
use crate::{ConnectorError, Erp, ErpDocument, HttpClient};

/// `source` of positions read from this ERP.
pub(super) const STOCK_SOURCE: &str = "erp";

pub struct RestErp {
    pub(super) base: Url,
    pub(super) auth: Authorizer,
    /// What inventory positions are stamped `as_of`.
    pub(super) clock: Arc<dyn Clock>,
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
            clock: Arc::new(SystemClock),
        })
    }

    /// The same ERP taking time from `clock` (the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(super) async fn post<B: Serialize + Sync, T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        body: &B,
    ) -> Result<T, ConnectorError> {
        let url = &endpoint(&self.base, &[collection]);
        self.auth
            .run(|http| async move { http.post_json(url, body).await })
            .await
    }

    pub(super) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ConnectorError> {
        let url = &endpoint(&self.base, &[collection]);
        self.auth
            .run(|http| async move { http.get_json(url, query).await })
            .await
    }

    pub(super) async fn find(
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

#[derive(Debug, Deserialize)]
pub(super) struct IdWire {
    pub(super) id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct StockWire {
    pub(super) positions: Vec<PositionWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PositionWire {
    pub(super) sku: String,
    pub(super) location: String,
    pub(super) on_hand: i64,
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

    async fn post_journal(
        &self,
        reference: &str,
        journal: &Journal,
    ) -> Result<ErpDocument, ConnectorError> {
        let answer: IdWire = self
            .post("journals", &journal_body(reference, journal))
            .await?;
        Ok(ErpDocument {
            id: answer.id,
            reference: reference.to_owned(),
        })
    }

    async fn find_journal(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find("journals", reference).await
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        let answer: StockWire = self.get("stock", &[]).await?;
        let as_of = self.clock.now();
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
