//! A REST ERP by configuration: [`MappedRestErp`] speaks whatever JSON API an
//! [`ErpMapping`] describes (NetSuite REST, Business Central, the simulated
//! ERP…) with no code per ERP.
//!
//! Each resource is a method, a path template and two jq programs (run by
//! jaq): `body` builds the request body from the canonical input and `id`
//! reads the new document's id from the answer. Lookups (`find_sales_order`,
//! `find_invoice`, the in-doubt resolution) are a GET with our reference in
//! the query and a `results` program that extracts `[{id, reference}]`.
//! Every program is compiled once, when the connector is built.
//!
//! # Money stays exact
//!
//! The canonical order carries amounts as decimal strings (`"19.99"`), and
//! answers are read with jaq's own JSON reader, which keeps number literals
//! as written (a 19-digit id stays 19 digits). jq arithmetic is
//! floating point, so a mapping must never compute with money (`tonumber`,
//! `+`, `*` on amounts are forbidden): it moves the strings. An ERP that
//! wants a JSON number gets one from the marker object
//! `{"$decimal": "12.50"}`, which the connector replaces by the exact
//! number `12.50` (checked to be a decimal). A floating-point number in a
//! body (only arithmetic makes one) is refused rather than sent.
//!
//! # Ids are strings
//!
//! The `id` program may yield a JSON string or a number; either becomes the
//! id exactly as written. With `id_from = "location"` the id is the last
//! path segment of the answer's `Location` header instead (NetSuite answers
//! a create with 204 and `Location: …/salesOrder/1234`).
//!
//! # Errors
//!
//! A program that does not compile is refused at construction, naming the
//! field (`sales_order.body: …`). A program that fails at run time or
//! yields the wrong shape is [`ConnectorError::Rejected`] naming the field
//! and the mapping's `version`: a mapping bug is not transient.

pub mod config;

use std::str::FromStr;

use async_trait::async_trait;
use chrono::Utc;
use crossdock_model::{Customer, InventoryPosition, Order};
use jaq_json::Val;
use reqwest::header::LOCATION;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::{AuthConfig, Authorizer};
use crate::http::{base_url, endpoint};
use crate::jq::{
    Program, check_template, exact_number, field, fill, fill_path, id_text, kind, optional,
    read_answer, render, text, to_val,
};
use crate::{ConnectorError, Erp, ErpDocument, HttpClient};

/// `source` of positions read from this ERP.
const STOCK_SOURCE: &str = "erp";

/// How to talk to one ERP's REST API. Versioned: the version is quoted in
/// every mapping error so an operator knows which mapping misbehaved.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErpMapping {
    /// The mapping's own version, shown in errors.
    pub version: u32,
    /// Upsert; `body` runs over `{customer}`. Path placeholders:
    /// `{email}`, `{external_id}` (empty when the customer has none).
    pub customer: ResourceMapping,
    /// Create; `body` runs over `{order, reference, customer_id}`.
    /// Path placeholders: `{reference}`, `{customer_id}`.
    pub sales_order: ResourceMapping,
    /// Create; `body` runs over `{order, reference, sales_order_id}`
    /// (`sales_order_id` is the order's `erp_ref`). Path placeholders:
    /// `{reference}`, `{sales_order_id}`.
    pub invoice: ResourceMapping,
    /// Lookup by our reference (in-doubt resolution of `sales_order`).
    pub find_sales_order: LookupMapping,
    /// Lookup by our reference (in-doubt resolution of `invoice`).
    pub find_invoice: LookupMapping,
    /// `GET path`; `results` yields `[{sku, location, on_hand}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<StockMapping>,
    /// Cancel; `body` (empty: no body) runs over `{id}`. Path placeholder: `{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_sales_order: Option<ResourceMapping>,
}

/// A write: `method path` with the JSON `body` program's result.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResourceMapping {
    /// `POST`, `PUT`, `PATCH` (or `DELETE`, without a body).
    pub method: String,
    /// Relative to the base URL; `{name}` placeholders are filled and
    /// percent-encoded within their segment.
    pub path: String,
    /// jq program building the request body; empty: no body.
    #[serde(default)]
    pub body: String,
    /// jq program over the answer yielding the new document's id (string
    /// or number). Unused with `id_from = "location"` and for cancel.
    #[serde(default)]
    pub id: String,
    /// Where the new document's id is: the answer's body (default) or the
    /// last segment of its `Location` header.
    #[serde(default, skip_serializing_if = "IdFrom::is_body")]
    pub id_from: IdFrom,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdFrom {
    #[default]
    Body,
    Location,
}

impl IdFrom {
    fn is_body(&self) -> bool {
        *self == IdFrom::Body
    }
}

/// A lookup by our reference: `GET path?query`, then `results` over the answer.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LookupMapping {
    /// May hold `{reference}`.
    pub path: String,
    /// Query pairs; values may hold `{reference}` (encoded when sent).
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// jq program yielding `[{id, reference}]` (`id` string or number).
    pub results: String,
}

/// Stock positions: `GET path?query`, then `results` over the answer.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StockMapping {
    pub path: String,
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// jq program yielding `[{sku, location, on_hand}]` (`on_hand` an integer).
    pub results: String,
}

impl ErpMapping {
    /// The simulated ERP's own API (docs/sim-api.md), for driving the
    /// simulated estate through the mapped connector.
    pub fn simulated() -> ErpMapping {
        let post = |path: &str, body: &str| ResourceMapping {
            method: "POST".into(),
            path: path.into(),
            body: body.into(),
            id: ".id".into(),
            id_from: IdFrom::Body,
        };
        let lookup = |path: &str, key: &str| LookupMapping {
            path: path.into(),
            query: vec![("reference".into(), "{reference}".into())],
            results: format!(".{key} | map({{id, reference}})"),
        };
        ErpMapping {
            version: 1,
            customer: post(
                "customers",
                "{email: .customer.email, name: .customer.name, \
                 phone: .customer.phone, external_id: .customer.external_id}",
            ),
            sales_order: post(
                "sales-orders",
                "{reference, customer_id, currency: .order.currency, \
                 lines: [.order.lines[] | {sku, quantity, unit_price: .unit_price.amount, \
                 discount: .discount.amount, tax: .tax.amount}], \
                 shipping: .order.shipping.amount, total: .order.total.amount}",
            ),
            invoice: post(
                "invoices",
                "{reference, sales_order_id, lines: [.order.lines[] \
                 | select(.shipped_quantity > 0) | {sku, quantity: .shipped_quantity}]}",
            ),
            find_sales_order: lookup("sales-orders", "sales_orders"),
            find_invoice: lookup("invoices", "invoices"),
            stock: Some(StockMapping {
                path: "stock".into(),
                query: vec![],
                results: ".positions | map({sku, location, on_hand})".into(),
            }),
            cancel_sales_order: Some(ResourceMapping {
                method: "POST".into(),
                path: "sales-orders/{id}/cancel".into(),
                body: String::new(),
                id: String::new(),
                id_from: IdFrom::Body,
            }),
        }
    }

    /// Compiles every program and checks every template, naming the field
    /// of the first problem (`sales_order.body: …`).
    pub fn validate(&self) -> Result<(), String> {
        self.compile().map(|_| ())
    }

    fn compile(&self) -> Result<Compiled, String> {
        let customer = Write::compile(
            "customer",
            &self.customer,
            &["email", "external_id"],
            Needs::Id,
        )?;
        let sales_order = Write::compile(
            "sales_order",
            &self.sales_order,
            &["reference", "customer_id"],
            Needs::Id,
        )?;
        let invoice = Write::compile(
            "invoice",
            &self.invoice,
            &["reference", "sales_order_id"],
            Needs::Id,
        )?;
        let cancel = self
            .cancel_sales_order
            .as_ref()
            .map(|m| Write::compile("cancel_sales_order", m, &["id"], Needs::Nothing))
            .transpose()?;
        let find_sales_order = Read::compile(
            "find_sales_order",
            &self.find_sales_order.path,
            &self.find_sales_order.query,
            &self.find_sales_order.results,
            &["reference"],
        )?;
        let find_invoice = Read::compile(
            "find_invoice",
            &self.find_invoice.path,
            &self.find_invoice.query,
            &self.find_invoice.results,
            &["reference"],
        )?;
        let stock = self
            .stock
            .as_ref()
            .map(|m| Read::compile("stock", &m.path, &m.query, &m.results, &[]))
            .transpose()?;
        Ok(Compiled {
            customer,
            sales_order,
            invoice,
            cancel,
            find_sales_order,
            find_invoice,
            stock,
        })
    }
}

/// A REST ERP driven by an [`ErpMapping`].
pub struct MappedRestErp {
    base: Url,
    auth: Authorizer,
    version: u32,
    compiled: Compiled,
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
        })
    }

    fn url_for(&self, template: &str, placeholders: &[(&str, &str)]) -> Url {
        let segments = fill_path(template, placeholders);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        endpoint(&self.base, &segments)
    }

    fn fault(&self, field: &str, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::rejected(format!(
            "{field}: {message} (ERP mapping version {})",
            self.version
        ))
    }

    /// Runs a write and returns the new document's id (None for `Needs::Nothing`).
    async fn write(
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
    async fn read(&self, read: &Read, reference: &str) -> Result<Val, ConnectorError> {
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

    async fn find(
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
        let as_of = Utc::now();
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

/// Every program of a mapping, compiled.
struct Compiled {
    customer: Write,
    sales_order: Write,
    invoice: Write,
    cancel: Option<Write>,
    find_sales_order: Read,
    find_invoice: Read,
    stock: Option<Read>,
}

enum Needs {
    Id,
    Nothing,
}

struct Write {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Program>,
    id: Option<Program>,
    id_from: IdFrom,
    needs: Needs,
}

impl Write {
    fn compile(
        name: &'static str,
        mapping: &ResourceMapping,
        placeholders: &[&str],
        needs: Needs,
    ) -> Result<Write, String> {
        let method = match mapping.method.to_ascii_uppercase().as_str() {
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            other => {
                return Err(format!(
                    "{name}.method: {other:?} is not POST, PUT, PATCH or DELETE"
                ));
            }
        };
        check_template(&format!("{name}.path"), &mapping.path, placeholders)?;
        let body = optional(&mapping.body)
            .map(|code| Program::compile(&format!("{name}.body"), code))
            .transpose()?;
        if method == Method::DELETE && body.is_some() {
            return Err(format!("{name}.body: a DELETE carries no body"));
        }
        let id = optional(&mapping.id)
            .map(|code| Program::compile(&format!("{name}.id"), code))
            .transpose()?;
        if matches!(needs, Needs::Id) && mapping.id_from == IdFrom::Body && id.is_none() {
            return Err(format!(
                "{name}.id: missing (a program reading the new document's id from the answer, \
                 or id_from = \"location\")"
            ));
        }
        Ok(Write {
            name,
            method,
            path: mapping.path.clone(),
            body,
            id,
            id_from: mapping.id_from,
            needs,
        })
    }
}

struct Read {
    name: &'static str,
    path: String,
    query: Vec<(String, String)>,
    results: Program,
}

impl Read {
    fn compile(
        name: &'static str,
        path: &str,
        query: &[(String, String)],
        results: &str,
        placeholders: &[&str],
    ) -> Result<Read, String> {
        check_template(&format!("{name}.path"), path, placeholders)?;
        for (key, value) in query {
            check_template(&format!("{name}.query.{key}"), value, placeholders)?;
        }
        Ok(Read {
            name,
            path: path.to_owned(),
            query: query.to_vec(),
            results: Program::compile(&format!("{name}.results"), results)?,
        })
    }
}

fn items(v: &Val, what: &str) -> Result<Vec<Val>, String> {
    match v {
        Val::Arr(items) => Ok(items.iter().cloned().collect()),
        other => Err(format!("expected an array of {what}, got {}", kind(other))),
    }
}

fn documents(v: &Val) -> Result<Vec<ErpDocument>, String> {
    items(v, "{id, reference}")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let id = field(item, "id")
                .ok_or_else(|| format!("[{i}]: no \"id\""))
                .and_then(|id| id_text(id).map_err(|e| format!("[{i}].id: {e}")))?;
            let reference = match field(item, "reference") {
                Some(Val::TStr(s)) => text(s),
                Some(Val::Num(n)) => {
                    exact_number(n).map_err(|e| format!("[{i}].reference: {e}"))?
                }
                Some(other) => {
                    return Err(format!(
                        "[{i}].reference: expected a string, got {}",
                        kind(other)
                    ));
                }
                None => return Err(format!("[{i}]: no \"reference\"")),
            };
            Ok(ErpDocument { id, reference })
        })
        .collect()
}

fn positions(v: &Val) -> Result<Vec<(String, String, i64)>, String> {
    items(v, "{sku, location, on_hand}")?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let string = |key: &str| match field(item, key) {
                Some(Val::TStr(s)) => Ok(text(s)),
                Some(other) => Err(format!(
                    "[{i}].{key}: expected a string, got {}",
                    kind(other)
                )),
                None => Err(format!("[{i}]: no {key:?}")),
            };
            let on_hand = match field(item, "on_hand") {
                Some(Val::Num(n)) => exact_number(n)
                    .ok()
                    .and_then(|t| i64::from_str(&t).ok())
                    .ok_or_else(|| format!("[{i}].on_hand: {n} is not an integer"))?,
                Some(other) => {
                    return Err(format!(
                        "[{i}].on_hand: expected an integer, got {}",
                        kind(other)
                    ));
                }
                None => return Err(format!("[{i}]: no \"on_hand\"")),
            };
            Ok((string("sku")?, string("location")?, on_hand))
        })
        .collect()
}

/// The last non-empty path segment of a `Location` (absolute or relative),
/// percent-decoded.
fn last_segment(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next()?;
    let segment = path.rsplit('/').find(|s| !s.is_empty())?;
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = segment.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(code: &str, input: &str) -> Result<Val, String> {
        Program::compile("t", code)
            .unwrap()
            .run_one(jaq_json::read::parse_single(input.as_bytes()).unwrap())
    }

    #[test]
    fn the_simulated_mapping_compiles() {
        ErpMapping::simulated().validate().unwrap();
    }

    #[test]
    fn decimal_markers_become_exact_numbers() {
        let out = run(
            r#"{a: {"$decimal": .x}, b: {"$decimal": .y}, c: .x, n: .n}"#,
            r#"{"x": "1234567.89", "y": "0.30", "n": 12345678901234567890123}"#,
        )
        .unwrap();
        assert_eq!(
            render(&out).unwrap(),
            r#"{"a":1234567.89,"b":0.30,"c":"1234567.89","n":12345678901234567890123}"#
        );
        let float = run(r#"{a: (.x | tonumber) * 1}"#, r#"{"x": "0.1"}"#).unwrap();
        assert!(render(&float).unwrap_err().contains("floating-point"));
        let bad = run(r#"{a: {"$decimal": "twelve"}}"#, "null").unwrap();
        assert!(render(&bad).unwrap_err().contains("not a decimal"));
    }

    #[test]
    fn ids_keep_every_digit() {
        let out = run(".id", r#"{"id": 1234567890123456789}"#).unwrap();
        assert_eq!(id_text(&out).unwrap(), "1234567890123456789");
        assert_eq!(
            last_segment("https://x/record/v1/salesOrder/1234567890123456789").as_deref(),
            Some("1234567890123456789")
        );
        assert_eq!(last_segment("/a/b%2Fc/").as_deref(), Some("b/c"));
    }

    #[test]
    fn templates_name_unknown_placeholders() {
        assert!(check_template("f", "a/{reference}", &["reference"]).is_ok());
        let err = check_template("f", "a/{id}", &["reference"]).unwrap_err();
        assert_eq!(err, "f: unknown placeholder {id} (known: {reference})");
        assert_eq!(
            fill_path("orders({id})/cancel", &[("id", "a/b")]),
            vec!["orders(a/b)", "cancel"]
        );
    }
}
