//! An ERP behind any JSON API, driven by an `ErpMapping`: the `impl Erp` writes and reads documents as the compiled mapping says.

use async_trait::async_trait;
use std::sync::Arc;

use crossdock_model::{Clock, Customer, InventoryPosition, Journal, Order, SystemClock};
use jaq_json::Val;
use reqwest::header::LOCATION;
use reqwest::{Method, Url};
use serde_json::value::RawValue;

use super::compile::{Compiled, Needs, Read, Write, documents, last_segment, positions};
use super::mapping::{ErpMapping, IdFrom};
use crate::auth::{AuthConfig, Authorizer};
use crate::http::{base_url, endpoint};
use crate::jq::{fill, fill_path, id_text, read_answer, render, to_val};
use crate::{ConnectorError, Erp, ErpDocument, HttpClient};

/// `source` of positions read from this ERP.
pub(super) const STOCK_SOURCE: &str = "erp";

/// A REST ERP driven by an [`ErpMapping`].
pub struct MappedRestErp {
    pub(super) base: Url,
    pub(super) auth: Authorizer,
    pub(super) version: u32,
    pub(super) compiled: Compiled,
    /// What inventory positions are stamped `as_of`.
    pub(super) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MappedRestErp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedRestErp")
            .field("base", &self.base.as_str())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl MappedRestErp {
    /// An ERP that takes calls without credentials.
    pub fn new(
        base_url_str: &str,
        mapping: &ErpMapping,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        Self::with_auth(base_url_str, mapping, AuthConfig::None, http)
    }

    /// An ERP that wants every call authenticated as `auth` says. Every jq
    /// program is compiled here; a bad one is refused naming its field.
    pub fn with_auth(
        base_url_str: &str,
        mapping: &ErpMapping,
        auth: AuthConfig,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        let compiled = mapping.compile().map_err(|e| {
            ConnectorError::rejected(format!("ERP mapping version {}: {e}", mapping.version))
        })?;
        Ok(MappedRestErp {
            base: base_url(base_url_str)?,
            auth: Authorizer::new(&auth, http)?,
            version: mapping.version,
            compiled,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same ERP taking time from `clock` (the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(super) fn url_for(&self, template: &str, placeholders: &[(&str, &str)]) -> Url {
        let segments = fill_path(template, placeholders);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        endpoint(&self.base, &segments)
    }

    pub(super) fn fault(&self, field: &str, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::rejected(format!(
            "{field}: {message} (ERP mapping version {})",
            self.version
        ))
    }

    /// Runs a write and returns the new document's id (None for `Needs::Nothing`).
    pub(super) async fn write(
        &self,
        write: &Write,
        input: &serde_json::Value,
        placeholders: &[(&str, &str)],
    ) -> Result<Option<String>, ConnectorError> {
        let body_field = format!("{}.body", write.name);
        let body: Option<Box<RawValue>> = match &write.body {
            Some(program) => {
                let input = to_val(input);
                let out = program
                    .run_one(input)
                    .map_err(|e| self.fault(&body_field, e))?;
                let text = render(&out).map_err(|e| self.fault(&body_field, e))?;
                Some(
                    RawValue::from_string(text)
                        .map_err(|e| self.fault(&body_field, format!("not JSON: {e}")))?,
                )
            }
            None => None,
        };
        let url = &self.url_for(&write.path, placeholders);
        let method = &write.method;
        let body = &body;
        let (headers, answer) = self
            .auth
            .run(|http| async move {
                http.send_with_headers(method.clone(), url.clone(), body.as_deref())
                    .await
            })
            .await?;
        match (&write.needs, write.id_from) {
            (Needs::Nothing, _) => Ok(None),
            (Needs::Id, IdFrom::Location) => {
                let location = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        // The write was applied but we cannot tell its id: in doubt.
                        ConnectorError::transient(format!(
                            "{}: answer from {url} without a Location header",
                            write.name
                        ))
                    })?;
                last_segment(location).map(Some).ok_or_else(|| {
                    ConnectorError::transient(format!(
                        "{}: no id in Location {location:?}",
                        write.name
                    ))
                })
            }
            (Needs::Id, IdFrom::Body) => {
                let id_field = format!("{}.id", write.name);
                let answer = read_answer(url, &answer)?;
                let program = write.id.as_ref().ok_or_else(|| {
                    self.fault(&id_field, "missing (the answer's id cannot be read)")
                })?;
                let out = program
                    .run_one(answer)
                    .map_err(|e| self.fault(&id_field, e))?;
                id_text(&out)
                    .map(Some)
                    .map_err(|e| self.fault(&id_field, e))
            }
        }
    }

    /// Runs a read and returns the `results` program's output.
    pub(super) async fn read(&self, read: &Read, reference: &str) -> Result<Val, ConnectorError> {
        let placeholders = [("reference", reference)];
        let mut url = self.url_for(&read.path, &placeholders);
        if !read.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &read.query {
                pairs.append_pair(key, &fill(value, &placeholders));
            }
        }
        let url = &url;
        let answer = self
            .auth
            .run(|http| async move { http.send(Method::GET, url.clone(), None::<&()>).await })
            .await?;
        let answer = read_answer(url, &answer)?;
        let field = format!("{}.results", read.name);
        read.results
            .run_one(answer)
            .map_err(|e| self.fault(&field, e))
    }

    pub(super) async fn find(
        &self,
        read: &Read,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        let out = self.read(read, reference).await?;
        let field = format!("{}.results", read.name);
        let documents = documents(&out).map_err(|e| self.fault(&field, e))?;
        // The ERP may hold several (a duplicate is the very thing this lookup
        // guards against); the oldest is the one to keep.
        Ok(documents.into_iter().find(|d| d.reference == reference))
    }
}

#[async_trait]
impl Erp for MappedRestErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        let input = serde_json::json!({ "customer": customer });
        let placeholders = [
            ("email", customer.email.as_str()),
            ("external_id", customer.external_id.as_deref().unwrap_or("")),
        ];
        let id = self
            .write(&self.compiled.customer, &input, &placeholders)
            .await?;
        Ok(id.unwrap_or_default())
    }

    async fn create_sales_order(
        &self,
        reference: &str,
        customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let input = serde_json::json!({
            "order": order, "reference": reference, "customer_id": customer_id,
        });
        let placeholders = [("reference", reference), ("customer_id", customer_id)];
        let id = self
            .write(&self.compiled.sales_order, &input, &placeholders)
            .await?;
        Ok(ErpDocument {
            id: id.unwrap_or_default(),
            reference: reference.to_owned(),
        })
    }

    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find(&self.compiled.find_sales_order, reference).await
    }

    async fn post_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        let sales_order_id = order.erp_ref.as_deref().ok_or_else(|| {
            ConnectorError::rejected(format!(
                "order {} has no ERP sales order to invoice",
                order.id
            ))
        })?;
        if order.lines.iter().all(|l| l.shipped_quantity == 0) {
            return Err(ConnectorError::rejected(format!(
                "order {} has nothing shipped to invoice",
                order.id
            )));
        }
        let input = serde_json::json!({
            "order": order, "reference": reference, "sales_order_id": sales_order_id,
        });
        let placeholders = [("reference", reference), ("sales_order_id", sales_order_id)];
        let id = self
            .write(&self.compiled.invoice, &input, &placeholders)
            .await?;
        Ok(ErpDocument {
            id: id.unwrap_or_default(),
            reference: reference.to_owned(),
        })
    }

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find(&self.compiled.find_invoice, reference).await
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        let Some(read) = &self.compiled.stock else {
            return Err(self.fault("stock", "not mapped: this ERP's stock cannot be read"));
        };
        let out = self.read(read, "").await?;
        let as_of = self.clock.now();
        let positions = positions(&out).map_err(|e| self.fault("stock.results", e))?;
        Ok(positions
            .into_iter()
            .map(|(sku, location, on_hand)| InventoryPosition {
                sku,
                location,
                on_hand,
                reserved: 0,
                source: STOCK_SOURCE.to_owned(),
                as_of,
            })
            .collect())
    }

    async fn post_journal(
        &self,
        reference: &str,
        journal: &Journal,
    ) -> Result<ErpDocument, ConnectorError> {
        let Some(write) = &self.compiled.journal else {
            return Err(self.fault(
                "journal",
                "not mapped: this ERP's mapping has no `journal` call, so settlements cannot be posted",
            ));
        };
        let input = serde_json::json!({ "journal": journal, "reference": reference });
        let id = self
            .write(write, &input, &[("reference", reference)])
            .await?;
        Ok(ErpDocument {
            id: id.unwrap_or_default(),
            reference: reference.to_owned(),
        })
    }

    async fn find_journal(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        let Some(read) = &self.compiled.find_journal else {
            return Err(self.fault(
                "find_journal",
                "not mapped: this ERP's mapping has no `find_journal` lookup",
            ));
        };
        self.find(read, reference).await
    }

    async fn cancel_sales_order(&self, erp_id: &str) -> Result<(), ConnectorError> {
        let Some(write) = &self.compiled.cancel else {
            return Err(self.fault(
                "cancel_sales_order",
                "not mapped: this ERP's sales orders cannot be cancelled",
            ));
        };
        let input = serde_json::json!({ "id": erp_id });
        self.write(write, &input, &[("id", erp_id)]).await?;
        Ok(())
    }
}
