//! A real Tryton 8.0 ERP over JSON-RPC (`POST <url>/<database>/rpc/`).
//!
//! Sessions: `common.db.login` once, then `Authorization: Session …` on every
//! call; a 401 logs in again once. Every model call carries the user's
//! context (company, `company_filter`, language) as its last parameter.
//!
//! Idempotency: a sales order is created with `web_shop` + `web_id` = our
//! reference, a pair the `web_shop` module keeps unique, so a second create is
//! refused by Tryton and continues from the existing sale. Every later step
//! (quote, confirm, shipment assign/pick/pack/do, invoice post, cancel) is
//! chosen from the record's current state, so re-running one is safe.
//!
//! Mapping notes:
//! - `create` runs no on_change: unit, unit price (net of the line's
//!   discount share), taxes (the customer tax whose rate reproduces the
//!   line's tax) and both addresses are sent. The shipping charge is a
//!   product-less line, which Tryton books on the default revenue account of
//!   its accounting configuration (it refuses to invoice one without).
//! - Invoicing is on fulfilment: Tryton invoices the product-less shipping
//!   line at confirmation and the goods when they ship; `post_invoice` joins
//!   the drafts into one invoice carrying our reference.
//! - Tryton's warnings ("no default taxes", …) are confirmed as a user
//!   would, through `res.user.warning`.

pub mod config;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use crossdock_model::{Address, Customer, InventoryPosition, Order, OrderLine};
use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

// The wire format lives beside this file (`erp/tryton_wire.rs`).
#[path = "tryton_wire.rs"]
mod wire;

use crate::http::{base_url, endpoint};
use crate::{ConnectorError, Erp, ErpDocument, HttpClient};
use wire::{
    Answer, Dec, Request, RpcError, date, decimal, decode, read_answer, session_authorization,
};

/// `source` of positions read from this ERP.
const STOCK_SOURCE: &str = "erp";
pub const DEFAULT_WAREHOUSE_CODE: &str = "WH";
pub const DEFAULT_WEB_SHOP_NAME: &str = "crossdock";
/// Products per `search_read` page when reading stock.
const STOCK_PAGE: u64 = 500;
/// Warnings confirmed for one call before giving up (each is one round trip).
const MAX_WARNINGS_PER_CALL: usize = 5;
/// Workflow steps tried on one record before giving up on reaching a state.
const MAX_STEPS: usize = 8;
/// Description of the product-less line carrying the order's shipping charge.
const SHIPPING_LINE: &str = "Shipping";
/// Tryton's sale line `unit_price` has 4 decimals.
const UNIT_PRICE_DP: u32 = 4;

/// How to reach Tryton and which of its records the hub works with.
#[derive(Clone, Deserialize)]
pub struct TrytonErpOptions {
    /// Server root, e.g. `http://127.0.0.1:8000` (the RPC path is added).
    pub url: String,
    pub database: String,
    pub username: String,
    pub password: String,
    /// Code of the `stock.location` warehouse sales ship from and stock is read at.
    #[serde(default = "default_warehouse_code")]
    pub warehouse_code: String,
    /// Hub location name the ERP's stock is reported under (e.g. "east").
    pub location: String,
    /// Name of the `web.shop` whose (`web_shop`, `web_id`) pair keeps sales unique.
    #[serde(default = "default_web_shop_name")]
    pub web_shop_name: String,
}

fn default_warehouse_code() -> String {
    DEFAULT_WAREHOUSE_CODE.to_owned()
}

fn default_web_shop_name() -> String {
    DEFAULT_WEB_SHOP_NAME.to_owned()
}

impl TrytonErpOptions {
    /// Options with the default warehouse code and web shop name.
    pub fn new(
        url: impl Into<String>,
        database: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
        location: impl Into<String>,
    ) -> Self {
        TrytonErpOptions {
            url: url.into(),
            database: database.into(),
            username: username.into(),
            password: password.into(),
            warehouse_code: default_warehouse_code(),
            location: location.into(),
            web_shop_name: default_web_shop_name(),
        }
    }
}

impl fmt::Debug for TrytonErpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrytonErpOptions")
            .field("url", &self.url)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("warehouse_code", &self.warehouse_code)
            .field("location", &self.location)
            .field("web_shop_name", &self.web_shop_name)
            .finish()
    }
}

pub struct TrytonErp {
    options: TrytonErpOptions,
    rpc_url: Url,
    http: HttpClient,
    next_request_id: AtomicU64,
    /// The current session; `None` until the first call or after a 401.
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    ids: Mutex<Ids>,
}

struct Session {
    user_id: i64,
    /// The crate's client sending `Authorization: Session …` with every request.
    http: HttpClient,
    /// `company`, `company_filter`, `language`: sent with every model call.
    context: Map<String, Value>,
}

/// Ids looked up once and kept for the connector's life.
#[derive(Default)]
struct Ids {
    warehouse: Option<i64>,
    web_shop: Option<i64>,
    payment_term: Option<Option<i64>>,
    currencies: HashMap<String, i64>,
    countries: HashMap<String, Option<i64>>,
    subdivisions: HashMap<String, Option<i64>>,
    taxes: Option<Arc<Vec<TaxRate>>>,
    products: HashMap<String, ProductRef>,
}

#[derive(Debug, Clone, Deserialize)]
struct TaxRate {
    id: i64,
    rate: Dec,
}

#[derive(Debug, Clone, Copy)]
struct ProductRef {
    id: i64,
    unit: i64,
}

#[derive(Debug, Deserialize)]
struct ProductRow {
    id: i64,
    code: Option<String>,
    sale_uom: Option<i64>,
    default_uom: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct StockRow {
    code: Option<String>,
    quantity: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct PartyOfMechanism {
    party: i64,
}

#[derive(Debug, Deserialize)]
struct NameRow {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StateRow {
    id: i64,
    state: String,
}

#[derive(Debug, Deserialize)]
struct SaleRow {
    state: String,
    #[serde(default)]
    shipments: Vec<i64>,
    #[serde(default)]
    invoices: Vec<i64>,
    shipment_state: Option<String>,
    invoice_state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SaleAmounts {
    untaxed_amount: Option<Dec>,
    tax_amount: Option<Dec>,
    total_amount: Option<Dec>,
}

#[derive(Debug, Deserialize)]
struct ShipmentRow {
    state: String,
    warehouse_storage: Option<i64>,
    warehouse_output: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct ShipmentMoves {
    id: i64,
    state: String,
    #[serde(default)]
    inventory_moves: Vec<i64>,
    #[serde(default)]
    outgoing_moves: Vec<i64>,
    warehouse_storage: Option<i64>,
    warehouse_output: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct MoveRow {
    id: i64,
    product: i64,
    quantity: f64,
    state: String,
}

#[derive(Debug, Deserialize)]
struct InvoiceRow {
    id: i64,
    state: String,
    reference: Option<String>,
    #[serde(default)]
    lines: Vec<i64>,
}

/// An address as stored on `party.address`, compared field by field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct AddressFields {
    party_name: Option<String>,
    street_unstructured: Option<String>,
    postal_code: Option<String>,
    city: Option<String>,
    country: Option<i64>,
    subdivision: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct AddressRow {
    id: i64,
    #[serde(flatten)]
    fields: AddressFields,
}

impl TrytonErp {
    pub fn new(options: TrytonErpOptions, http: HttpClient) -> Result<Self, ConnectorError> {
        if options.database.is_empty() || options.username.is_empty() {
            return Err(ConnectorError::rejected(
                "Tryton options need a database and a username",
            ));
        }
        let base = base_url(&options.url)?;
        // The trailing empty segment gives `/<database>/rpc/`, the 8.x route.
        let rpc_url = endpoint(&base, &[&options.database, "rpc", ""]);
        Ok(TrytonErp {
            options,
            rpc_url,
            http,
            next_request_id: AtomicU64::new(1),
            session: tokio::sync::Mutex::new(None),
            ids: Mutex::new(Ids::default()),
        })
    }

    fn ids(&self) -> MutexGuard<'_, Ids> {
        // The cache holds plain ids: one left half-written by a panic is still usable.
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- transport ----------------------------------------------------------

    /// One JSON-RPC round trip on `http` (the session's client, or the bare
    /// one for the login). HTTP statuses map as everywhere in the crate; a 200
    /// carries either the result or Tryton's error array.
    async fn post(
        &self,
        http: &HttpClient,
        method: &str,
        params: &[Value],
    ) -> Result<Answer, ConnectorError> {
        let request = Request {
            id: self.next_request_id.fetch_add(1, Ordering::Relaxed),
            method,
            params,
        };
        let started = Instant::now();
        let outcome = http
            .send(Method::POST, self.rpc_url.clone(), Some(&request))
            .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(method, elapsed_ms, ok = outcome.is_ok(), "tryton call");
        read_answer(method, &outcome.map_err(|e| about(method, e))?)
    }

    /// The current session, logging in when there is none.
    async fn session(&self) -> Result<Arc<Session>, ConnectorError> {
        let mut current = self.session.lock().await;
        if let Some(session) = current.as_ref() {
            return Ok(session.clone());
        }
        let session = Arc::new(self.login().await?);
        *current = Some(session.clone());
        Ok(session)
    }

    /// Drops `stale` (unless another task already replaced it).
    async fn forget_session(&self, stale: &Arc<Session>) {
        let mut current = self.session.lock().await;
        if current.as_ref().is_some_and(|s| Arc::ptr_eq(s, stale)) {
            *current = None;
        }
    }

    async fn login(&self) -> Result<Session, ConnectorError> {
        const LOGIN: &str = "common.db.login";
        let params = [
            json!(self.options.username),
            json!({ "password": self.options.password }),
            json!("en"),
        ];
        let answer = match self.post(&self.http, LOGIN, &params).await {
            // The body is the server's HTML page; the status says it all.
            Err(ConnectorError::Unauthorized { .. }) => {
                return Err(ConnectorError::Unauthorized {
                    reason: format!(
                        "Tryton refused the login of {:?} to database {:?}",
                        self.options.username, self.options.database
                    ),
                });
            }
            other => other?,
        };
        let (user_id, key, _bus): (i64, String, Value) = decode(LOGIN, result_of(LOGIN, answer)?)?;
        let authorization = HeaderValue::from_str(&session_authorization(
            &self.options.username,
            user_id,
            &key,
        ))
        .map_err(|_| ConnectorError::rejected("Tryton login name cannot go in an HTTP header"))?;
        let http = self.http.with_authorization(authorization);
        // The desktop client's context: company and language for defaults and record rules.
        const PREFERENCES: &str = "model.res.user.get_preferences";
        let preferences = result_of(
            PREFERENCES,
            self.post(&http, PREFERENCES, &[json!(true), json!({})])
                .await?,
        )?;
        let company = preferences
            .get("company")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "Tryton user {} has no current company",
                    self.options.username
                ))
            })?;
        let language = preferences
            .get("language")
            .and_then(Value::as_str)
            .unwrap_or("en")
            .to_owned();
        let mut context = Map::new();
        context.insert("company".into(), json!(company));
        context.insert("company_filter".into(), json!("one"));
        context.insert("language".into(), json!(language));
        tracing::debug!(user_id, company, "logged in to Tryton");
        Ok(Session {
            user_id,
            http,
            context,
        })
    }

    /// Calls `method` with `args` and the session context (plus `extra`) as
    /// the last parameter. Logs in again once on a 401, and confirms the
    /// warnings Tryton asks about (as its client does when a user clicks "Yes").
    async fn call(
        &self,
        method: &str,
        args: &[Value],
        extra: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        let mut logged_in_again = false;
        let mut warnings = 0;
        loop {
            let session = self.session().await?;
            let mut context = session.context.clone();
            if let Some(Value::Object(extra)) = extra {
                context.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let mut params = args.to_vec();
            params.push(Value::Object(context));
            match self.post(&session.http, method, &params).await {
                Err(ConnectorError::Unauthorized { .. }) if !logged_in_again => {
                    // The session expired or the server lost it; the call did not run.
                    logged_in_again = true;
                    self.forget_session(&session).await;
                }
                Err(e) => return Err(e),
                Ok(Answer::Result(value)) => return Ok(value),
                Ok(Answer::Error(RpcError::Warning { name, message }))
                    if warnings < MAX_WARNINGS_PER_CALL =>
                {
                    tracing::info!(method, warning = %name, %message, "confirming Tryton warning");
                    self.skip_warning(&session, &name).await?;
                    warnings += 1;
                }
                Ok(Answer::Error(e)) => return Err(e.into_connector_error(method)),
            }
        }
    }

    /// Records that the user answered "yes" to warning `name` once.
    async fn skip_warning(&self, session: &Session, name: &str) -> Result<(), ConnectorError> {
        const METHOD: &str = "model.res.user.warning.create";
        let params = [
            json!([{ "user": session.user_id, "name": name, "always": false }]),
            Value::Object(session.context.clone()),
        ];
        result_of(METHOD, self.post(&session.http, METHOD, &params).await?).map(drop)
    }

    // ---- model helpers --------------------------------------------------------

    async fn model(
        &self,
        model: &str,
        method: &str,
        args: &[Value],
        extra: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        self.call(&format!("model.{model}.{method}"), args, extra)
            .await
    }

    async fn search_read<T: DeserializeOwned>(
        &self,
        model: &str,
        domain: Value,
        page: (u64, Option<u64>),
        fields: &[&str],
        extra: Option<&Value>,
    ) -> Result<Vec<T>, ConnectorError> {
        let (offset, limit) = page;
        let args = [
            domain,
            json!(offset),
            json!(limit),
            json!([["id", "ASC"]]),
            json!(fields),
        ];
        let value = self.model(model, "search_read", &args, extra).await?;
        decode(&format!("{model}.search_read"), value)
    }

    async fn read<T: DeserializeOwned>(
        &self,
        model: &str,
        ids: &[i64],
        fields: &[&str],
    ) -> Result<Vec<T>, ConnectorError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let value = self
            .model(model, "read", &[json!(ids), json!(fields)], None)
            .await?;
        decode(&format!("{model}.read"), value)
    }

    async fn read_one<T: DeserializeOwned>(
        &self,
        model: &str,
        id: i64,
        fields: &[&str],
    ) -> Result<T, ConnectorError> {
        self.read(model, &[id], fields)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ConnectorError::rejected(format!("Tryton has no {model} {id}")))
    }

    /// Ids matching `domain`, oldest first.
    async fn search(
        &self,
        model: &str,
        domain: Value,
        limit: Option<u64>,
    ) -> Result<Vec<i64>, ConnectorError> {
        let args = [domain, json!(0), json!(limit), json!([["id", "ASC"]])];
        let value = self.model(model, "search", &args, None).await?;
        decode(&format!("{model}.search"), value)
    }

    async fn create(&self, model: &str, values: Value) -> Result<i64, ConnectorError> {
        let value = self
            .model(model, "create", &[json!([values])], None)
            .await?;
        let ids: Vec<i64> = decode(&format!("{model}.create"), value)?;
        ids.first()
            .copied()
            .ok_or_else(|| ConnectorError::transient(format!("{model}.create returned no id")))
    }

    async fn write(&self, model: &str, ids: &[i64], values: Value) -> Result<(), ConnectorError> {
        self.model(model, "write", &[json!(ids), values], None)
            .await
            .map(drop)
    }

    /// A workflow button (`quote`, `confirm`, `pick`, `post`, …) on `ids`.
    async fn button(&self, model: &str, name: &str, ids: &[i64]) -> Result<(), ConnectorError> {
        self.model(model, name, &[json!(ids)], None).await.map(drop)
    }

    /// Runs one of the sale's "handle exception" wizards, ignoring every
    /// cancelled record it offers (`domain_*` → `ignore_*`, nothing recreated).
    async fn ignore_exceptions(
        &self,
        wizard: &str,
        sale: i64,
        kind: &str,
    ) -> Result<(), ConnectorError> {
        let context =
            json!({ "active_model": "sale.sale", "active_id": sale, "active_ids": [sale] });
        let create = format!("wizard.{wizard}.create");
        let (session, start, _end): (Value, String, String) =
            decode(&create, self.call(&create, &[], Some(&context)).await?)?;
        let execute = format!("wizard.{wizard}.execute");
        let view = self
            .call(
                &execute,
                &[session.clone(), json!({}), json!(start)],
                Some(&context),
            )
            .await?;
        let offered = view
            .pointer(&format!("/view/defaults/domain_{kind}"))
            .cloned()
            .unwrap_or_else(|| json!([]));
        let mut form = Map::new();
        form.insert(
            start,
            json!({
                format!("domain_{kind}"): offered,
                format!("ignore_{kind}"): offered,
                format!("recreate_{kind}"): [],
            }),
        );
        self.call(
            &execute,
            &[session.clone(), Value::Object(form), json!("handle")],
            Some(&context),
        )
        .await?;
        let delete = format!("wizard.{wizard}.delete");
        if let Err(e) = self.call(&delete, &[session], Some(&context)).await {
            // The work is done; a leftover wizard session is only clutter.
            tracing::debug!(wizard, error = %e, "could not delete wizard session");
        }
        Ok(())
    }

    // ---- cached lookups -------------------------------------------------------

    async fn warehouse(&self) -> Result<i64, ConnectorError> {
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

    async fn web_shop(&self) -> Result<i64, ConnectorError> {
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
    async fn payment_term(&self) -> Result<Option<i64>, ConnectorError> {
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

    async fn currency(&self, code: &str) -> Result<i64, ConnectorError> {
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
    async fn country(&self, code: &str) -> Result<Option<i64>, ConnectorError> {
        let code = code.trim().to_ascii_uppercase();
        self.by_code("country.country", code, |ids| &mut ids.countries)
            .await
    }

    /// The subdivision by ISO 3166-2 code (`US-TX`).
    async fn subdivision(&self, code: String) -> Result<Option<i64>, ConnectorError> {
        self.by_code("country.subdivision", code, |ids| &mut ids.subdivisions)
            .await
    }

    /// The record of `model` with `code`, looked up once: found or not, the
    /// answer is kept in the map `cache` picks.
    async fn by_code(
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
    async fn customer_taxes(&self) -> Result<Arc<Vec<TaxRate>>, ConnectorError> {
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
    async fn products(
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

    // ---- parties --------------------------------------------------------------

    async fn party_by_email(&self, email: &str) -> Result<Option<i64>, ConnectorError> {
        let rows: Vec<PartyOfMechanism> = self
            .search_read(
                "party.contact_mechanism",
                json!([["type", "=", "email"], ["value", "=", email]]),
                (0, Some(1)),
                &["party"],
                None,
            )
            .await?;
        Ok(rows.first().map(|r| r.party))
    }

    async fn address_fields(&self, address: &Address) -> Result<AddressFields, ConnectorError> {
        let street = match address.line2.as_deref().map(str::trim) {
            Some(line2) if !line2.is_empty() => format!("{}\n{line2}", address.line1.trim()),
            _ => address.line1.trim().to_owned(),
        };
        let country = self.country(&address.country).await?;
        let subdivision = match (&address.region, country) {
            (Some(region), Some(_)) if !region.trim().is_empty() => {
                self.subdivision(format!(
                    "{}-{}",
                    address.country.trim().to_ascii_uppercase(),
                    region.trim().to_ascii_uppercase()
                ))
                .await?
            }
            _ => None,
        };
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AddressFields {
            party_name: text(&address.name),
            street_unstructured: text(&street),
            postal_code: text(&address.postal_code),
            city: text(&address.city),
            country,
            subdivision,
        })
    }

    /// An address of `party` equal to `wanted` (created if none is); with no
    /// address wanted, the party's first address (created empty if it has none).
    async fn ensure_address(
        &self,
        party: i64,
        wanted: Option<&Address>,
    ) -> Result<i64, ConnectorError> {
        let existing: Vec<AddressRow> = self
            .search_read(
                "party.address",
                json!([["party", "=", party]]),
                (0, None),
                &[
                    "id",
                    "party_name",
                    "street_unstructured",
                    "postal_code",
                    "city",
                    "country",
                    "subdivision",
                ],
                None,
            )
            .await?;
        let values = match wanted {
            None => {
                if let Some(first) = existing.first() {
                    return Ok(first.id);
                }
                json!({ "party": party })
            }
            Some(address) => {
                let fields = self.address_fields(address).await?;
                if let Some(same) = existing.iter().find(|a| a.fields == fields) {
                    return Ok(same.id);
                }
                json!({
                    "party": party,
                    "party_name": fields.party_name,
                    "street_unstructured": fields.street_unstructured,
                    "postal_code": fields.postal_code,
                    "city": fields.city,
                    "country": fields.country,
                    "subdivision": fields.subdivision,
                })
            }
        };
        self.create("party.address", values).await
    }

    // ---- sales ----------------------------------------------------------------

    /// The sale created for `reference` (our `web_id` in the hub's web shop).
    async fn sale_by_web_id(&self, reference: &str) -> Result<Option<i64>, ConnectorError> {
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

    async fn sale_lines(&self, order: &Order) -> Result<Vec<Value>, ConnectorError> {
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

    async fn create_sale(
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
        let values = json!({
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
    async fn accept_sale(&self, sale: i64) -> Result<(), ConnectorError> {
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

    async fn check_amounts(&self, sale: i64, order: &Order) -> Result<(), ConnectorError> {
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

    /// Our sale for an invoice: the order's ERP id when it has one, else by reference.
    async fn sale_for_invoice(
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

    /// Drives one customer shipment to `done`, each step chosen from its
    /// current state (3-step warehouse: assign → pick → pack → do; 1-step
    /// when storage is the output location: assign → pack → do).
    async fn complete_shipment(&self, shipment: i64) -> Result<(), ConnectorError> {
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
    async fn shipped_by_product(&self, order: &Order) -> Result<HashMap<i64, f64>, ConnectorError> {
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
    async fn ship(&self, sale: i64, shipped: HashMap<i64, f64>) -> Result<(), ConnectorError> {
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
    async fn fit_shipment(
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

    /// Gathers the lines of the sale's draft invoices on the oldest one (with
    /// invoicing on fulfilment, the shipping line is invoiced at confirmation
    /// and the goods when they ship) so the order has one invoice.
    async fn merge_draft_invoices(
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

    async fn invoices_of(&self, sale: i64) -> Result<Vec<InvoiceRow>, ConnectorError> {
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

/// Adds the RPC method to an error's reason.
fn about(method: &str, mut error: ConnectorError) -> ConnectorError {
    match &mut error {
        ConnectorError::Transient { reason, .. }
        | ConnectorError::Throttled { reason, .. }
        | ConnectorError::Rejected { reason }
        | ConnectorError::Unauthorized { reason } => {
            *reason = format!("Tryton {method}: {reason}");
        }
        _ => {}
    }
    error
}

fn result_of(method: &str, answer: Answer) -> Result<Value, ConnectorError> {
    match answer {
        Answer::Result(value) => Ok(value),
        Answer::Error(e) => Err(e.into_connector_error(method)),
    }
}

/// A sale line's price and tax as Tryton holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PricedLine {
    /// Unit price net of the line's discount share, 4 decimals.
    unit_price: Decimal,
    tax: Option<i64>,
}

/// The unit price net of discount, and the customer tax whose rate gives the
/// line's tax: `tax == round((quantity × unit_price − discount) × rate, 2)`.
fn price_line(line: &OrderLine, taxes: &[TaxRate]) -> Result<PricedLine, ConnectorError> {
    let quantity = Decimal::from(line.quantity);
    let net = line.unit_price.amount * quantity - line.discount.amount;
    let unit_price = (net / quantity)
        .round_dp_with_strategy(UNIT_PRICE_DP, RoundingStrategy::MidpointNearestEven)
        .normalize();
    let tax_amount = line.tax.amount;
    if tax_amount.is_zero() {
        return Ok(PricedLine {
            unit_price,
            tax: None,
        });
    }
    let cents = |d: Decimal, strategy| d.round_dp_with_strategy(2, strategy);
    let reproduces = |rate: Decimal| {
        let exact = net * rate;
        cents(exact, RoundingStrategy::MidpointAwayFromZero) == tax_amount
            || cents(exact, RoundingStrategy::MidpointNearestEven) == tax_amount
    };
    let effective = (!net.is_zero()).then(|| tax_amount / net);
    // Several rates can round to the same cents on a small amount: the one
    // nearest the effective rate wins, then the older tax.
    let best = taxes
        .iter()
        .filter(|t| !t.rate.0.is_zero() && reproduces(t.rate.0))
        .min_by_key(|t| (effective.map(|e| (t.rate.0 - e).abs()), t.id));
    match best {
        Some(tax) => Ok(PricedLine {
            unit_price,
            tax: Some(tax.id),
        }),
        None => Err(ConnectorError::rejected(format!(
            "line {} ({}): no Tryton customer tax gives tax {} on {} (rate {})",
            line.line_id,
            line.sku,
            tax_amount,
            net,
            effective.map_or_else(
                || "undefined".to_owned(),
                |r| format!("{}%", (r * Decimal::ONE_HUNDRED).round_dp(4).normalize())
            ),
        ))),
    }
}

#[async_trait]
impl Erp for TrytonErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        let email = customer.email.trim();
        if email.is_empty() {
            return Err(ConnectorError::rejected("customer without e-mail"));
        }
        let name = customer.name.trim();
        if let Some(party) = self.party_by_email(email).await? {
            let current: NameRow = self.read_one("party.party", party, &["name"]).await?;
            if !name.is_empty() && current.name.as_deref() != Some(name) {
                self.write("party.party", &[party], json!({ "name": name }))
                    .await?;
            }
            return Ok(party.to_string());
        }
        let mut mechanisms = vec![json!({ "type": "email", "value": email })];
        if let Some(phone) = customer.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            mechanisms.push(json!({ "type": "phone", "value": phone.trim() }));
        }
        let values = json!({
            "name": if name.is_empty() { email } else { name },
            "contact_mechanisms": [["create", mechanisms]],
        });
        let party = match self.create("party.party", values.clone()).await {
            // Two creates raced for the next party code (Tryton numbers
            // parties from a sequence): the other may have been this very
            // customer, or the next number is free now.
            Err(ConnectorError::Rejected { reason }) if reason.contains("must be unique") => {
                tracing::debug!(%reason, "Tryton refused a party code; looking again.");
                match self.party_by_email(email).await? {
                    Some(party) => party,
                    None => self.create("party.party", values).await?,
                }
            }
            created => created?,
        };
        Ok(party.to_string())
    }

    async fn create_sales_order(
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

    /// The sale once Tryton accepted it (processing, done or cancelled). A sale
    /// still in draft, quotation or confirmed is not reported: calling
    /// `create_sales_order` again finishes it.
    async fn find_sales_order(
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

    async fn post_invoice(
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

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
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

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        let warehouse = self.warehouse().await?;
        let context = json!({ "locations": [warehouse], "with_childs": true });
        let domain = json!([
            ["type", "=", "goods"],
            ["salable", "=", true],
            ["code", "!=", null],
        ]);
        let as_of = Utc::now();
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

    /// Draft/quotation sales are cancelled. A confirmed one goes back to draft
    /// first. One already processing cannot become "cancelled" in Tryton:
    /// its shipments and draft invoices are cancelled and the sale's
    /// exceptions handled by ignoring them, which leaves it `done` with
    /// nothing shipped or invoiced. A shipment already done is refused.
    async fn cancel_sales_order(&self, erp_id: &str) -> Result<(), ConnectorError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crossdock_model::{Currency, Money};
    use rust_decimal::dec;

    fn usd(amount: Decimal) -> Money {
        Money::new(amount, Currency::USD)
    }

    fn line(quantity: u32, unit_price: Decimal, discount: Decimal, tax: Decimal) -> OrderLine {
        OrderLine {
            line_id: "1".into(),
            sku: "SKU-001".into(),
            title: "Widget".into(),
            quantity,
            unit_price: usd(unit_price),
            discount: usd(discount),
            tax: usd(tax),
            shipped_quantity: 0,
            cancelled_quantity: 0,
        }
    }

    fn taxes() -> Vec<TaxRate> {
        [(1, dec!(0.0825)), (2, dec!(0.10)), (3, dec!(0))]
            .into_iter()
            .map(|(id, rate)| TaxRate {
                id,
                rate: Dec(rate),
            })
            .collect()
    }

    #[test]
    fn unit_price_carries_the_discount_share_and_tax_is_found_by_rate() {
        // 2 × 19.99 = 39.98, tax 8.25 % = 3.29835 → 3.30
        let priced = price_line(&line(2, dec!(19.99), dec!(0), dec!(3.30)), &taxes()).unwrap();
        assert_eq!(
            priced,
            PricedLine {
                unit_price: dec!(19.99),
                tax: Some(1)
            }
        );
        // 3 × 10.00 − 1.00 = 29.00 → 9.6667 a unit; tax 10 % = 2.90
        let priced = price_line(&line(3, dec!(10.00), dec!(1.00), dec!(2.90)), &taxes()).unwrap();
        assert_eq!(
            priced,
            PricedLine {
                unit_price: dec!(9.6667),
                tax: Some(2)
            }
        );
        // Zero tax: no tax at all on the line.
        let priced = price_line(&line(1, dec!(5), dec!(0), dec!(0)), &taxes()).unwrap();
        assert_eq!(priced.tax, None);
    }

    #[test]
    fn a_tax_no_rate_reproduces_is_refused_naming_the_line() {
        let err = price_line(&line(1, dec!(100), dec!(0), dec!(7.00)), &taxes()).unwrap_err();
        match err {
            ConnectorError::Rejected { reason } => {
                assert!(reason.contains("line 1 (SKU-001)"), "{reason}");
                assert!(reason.contains("7%"), "{reason}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn rpc_url_is_the_database_route() {
        let http = HttpClient::new(Default::default()).unwrap();
        let erp = TrytonErp::new(
            TrytonErpOptions::new("http://127.0.0.1:8000", "crossdock", "admin", "pw", "east"),
            http,
        )
        .unwrap();
        assert_eq!(erp.rpc_url.as_str(), "http://127.0.0.1:8000/crossdock/rpc/");
        assert!(!format!("{:?}", erp.options).contains("pw\""));
    }
}
