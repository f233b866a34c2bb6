//! The Tryton JSON-RPC client: options, session login and renewal, the request envelope and its error arrays, the model helpers (`search_read`, `create`, buttons, warnings), and the `impl Erp` that hands each job to its file.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use crossdock_model::{Clock, Customer, InventoryPosition, Journal, Order, SystemClock};
use reqwest::header::HeaderValue;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::accounts::{AccountRef, SettlementAccounts};
use super::mapping::{ProductRef, TaxRate, decode};
use crate::http::{base_url, endpoint};
use crate::{ConnectorError, Erp, ErpDocument, HttpClient};

pub const DEFAULT_WAREHOUSE_CODE: &str = "WH";
pub const DEFAULT_WEB_SHOP_NAME: &str = "crossdock";

/// Warnings confirmed for one call before giving up (each is one round trip).
pub(super) const MAX_WARNINGS_PER_CALL: usize = 5;
/// Workflow steps tried on one record before giving up on reaching a state.
pub(super) const MAX_STEPS: usize = 8;

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
    /// Where settlement journals are posted (`journals.rs`).
    #[serde(default)]
    pub settlement: SettlementAccounts,
}

pub(super) fn default_warehouse_code() -> String {
    DEFAULT_WAREHOUSE_CODE.to_owned()
}

pub(super) fn default_web_shop_name() -> String {
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
            settlement: SettlementAccounts::default(),
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
            .field("settlement", &self.settlement)
            .finish()
    }
}

pub struct TrytonErp {
    pub(super) options: TrytonErpOptions,
    pub(super) rpc_url: Url,
    pub(super) http: HttpClient,
    pub(super) next_request_id: AtomicU64,
    /// The current session; `None` until the first call or after a 401.
    pub(super) session: tokio::sync::Mutex<Option<Arc<Session>>>,
    pub(super) ids: Mutex<Ids>,
    /// What inventory positions are stamped `as_of`.
    pub(super) clock: Arc<dyn Clock>,
    /// One party upsert at a time per e-mail in this process.
    pub(super) customer_turns: crate::turns::Turns,
}

pub(super) struct Session {
    pub(super) user_id: i64,
    /// The crate's client sending `Authorization: Session …` with every request.
    pub(super) http: HttpClient,
    /// `company`, `company_filter`, `language`: sent with every model call.
    pub(super) context: Map<String, Value>,
}

/// Ids looked up once and kept for the connector's life.
#[derive(Default)]
pub(super) struct Ids {
    pub(super) warehouse: Option<i64>,
    pub(super) web_shop: Option<i64>,
    pub(super) payment_term: Option<Option<i64>>,
    pub(super) currencies: HashMap<String, i64>,
    pub(super) countries: HashMap<String, Option<i64>>,
    pub(super) subdivisions: HashMap<String, Option<i64>>,
    pub(super) taxes: Option<Arc<Vec<TaxRate>>>,
    pub(super) products: HashMap<String, ProductRef>,
    /// Settlement accounts by configured code or name (`#<id>` for those an invoice named).
    pub(super) accounts: HashMap<String, AccountRef>,
    pub(super) settlement_journal: Option<i64>,
    pub(super) settlement_party: Option<i64>,
    pub(super) company_currency: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct StateRow {
    pub(super) id: i64,
    pub(super) state: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct SaleRow {
    pub(super) state: String,
    #[serde(default)]
    pub(super) shipments: Vec<i64>,
    #[serde(default)]
    pub(super) invoices: Vec<i64>,
    pub(super) shipment_state: Option<String>,
    pub(super) invoice_state: Option<String>,
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
            clock: Arc::new(SystemClock),
            customer_turns: Default::default(),
        })
    }

    /// The same ERP taking time from `clock` (the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(super) fn ids(&self) -> MutexGuard<'_, Ids> {
        // The cache holds plain ids: one left half-written by a panic is still usable.
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- transport ----------------------------------------------------------

    /// One JSON-RPC round trip on `http` (the session's client, or the bare
    /// one for the login). HTTP statuses map as everywhere in the crate; a 200
    /// carries either the result or Tryton's error array.
    pub(super) async fn post(
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
        // A real round trip's latency for the debug log, not a time the
        // connector acts on: it is measured on the wall clock.
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        let outcome = http
            .send(Method::POST, self.rpc_url.clone(), Some(&request))
            .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::debug!(method, elapsed_ms, ok = outcome.is_ok(), "tryton call");
        read_answer(method, &outcome.map_err(|e| about(method, e))?)
    }

    /// The current session, logging in when there is none.
    pub(super) async fn session(&self) -> Result<Arc<Session>, ConnectorError> {
        let mut current = self.session.lock().await;
        if let Some(session) = current.as_ref() {
            return Ok(session.clone());
        }
        let session = Arc::new(self.login().await?);
        *current = Some(session.clone());
        Ok(session)
    }

    /// Drops `stale` (unless another task already replaced it).
    pub(super) async fn forget_session(&self, stale: &Arc<Session>) {
        let mut current = self.session.lock().await;
        if current.as_ref().is_some_and(|s| Arc::ptr_eq(s, stale)) {
            *current = None;
        }
    }

    pub(super) async fn login(&self) -> Result<Session, ConnectorError> {
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
    pub(super) async fn call(
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
    pub(super) async fn skip_warning(
        &self,
        session: &Session,
        name: &str,
    ) -> Result<(), ConnectorError> {
        const METHOD: &str = "model.res.user.warning.create";
        let params = [
            json!([{ "user": session.user_id, "name": name, "always": false }]),
            Value::Object(session.context.clone()),
        ];
        result_of(METHOD, self.post(&session.http, METHOD, &params).await?).map(drop)
    }

    // ---- model helpers --------------------------------------------------------

    pub(super) async fn model(
        &self,
        model: &str,
        method: &str,
        args: &[Value],
        extra: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        self.call(&format!("model.{model}.{method}"), args, extra)
            .await
    }

    pub(super) async fn search_read<T: DeserializeOwned>(
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

    pub(super) async fn read<T: DeserializeOwned>(
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

    pub(super) async fn read_one<T: DeserializeOwned>(
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
    pub(super) async fn search(
        &self,
        model: &str,
        domain: Value,
        limit: Option<u64>,
    ) -> Result<Vec<i64>, ConnectorError> {
        let args = [domain, json!(0), json!(limit), json!([["id", "ASC"]])];
        let value = self.model(model, "search", &args, None).await?;
        decode(&format!("{model}.search"), value)
    }

    pub(super) async fn create(&self, model: &str, values: Value) -> Result<i64, ConnectorError> {
        let value = self
            .model(model, "create", &[json!([values])], None)
            .await?;
        let ids: Vec<i64> = decode(&format!("{model}.create"), value)?;
        ids.first()
            .copied()
            .ok_or_else(|| ConnectorError::transient(format!("{model}.create returned no id")))
    }

    pub(super) async fn write(
        &self,
        model: &str,
        ids: &[i64],
        values: Value,
    ) -> Result<(), ConnectorError> {
        self.model(model, "write", &[json!(ids), values], None)
            .await
            .map(drop)
    }

    /// A workflow button (`quote`, `confirm`, `pick`, `post`, …) on `ids`.
    pub(super) async fn button(
        &self,
        model: &str,
        name: &str,
        ids: &[i64],
    ) -> Result<(), ConnectorError> {
        self.model(model, name, &[json!(ids)], None).await.map(drop)
    }

    /// Runs one of the sale's "handle exception" wizards, ignoring every
    /// cancelled record it offers (`domain_*` → `ignore_*`, nothing recreated).
    pub(super) async fn ignore_exceptions(
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
}

/// Adds the RPC method to an error's reason.
pub(super) fn about(method: &str, mut error: ConnectorError) -> ConnectorError {
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

pub(super) fn result_of(method: &str, answer: Answer) -> Result<Value, ConnectorError> {
    match answer {
        Answer::Result(value) => Ok(value),
        Answer::Error(e) => Err(e.into_connector_error(method)),
    }
}

#[async_trait]
impl Erp for TrytonErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        self.upsert_party(customer).await
    }

    async fn create_sales_order(
        &self,
        reference: &str,
        customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.upsert_sale(reference, customer_id, order).await
    }

    /// The sale once Tryton accepted it (processing, done or cancelled). A sale
    /// still in draft, quotation or confirmed is not reported: calling
    /// `create_sales_order` again finishes it.
    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find_sale(reference).await
    }

    async fn post_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.post_sale_invoice(reference, order).await
    }

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find_sale_invoice(reference).await
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        self.stock_positions().await
    }

    /// Draft/quotation sales are cancelled. A confirmed one goes back to draft
    /// first. One already processing cannot become "cancelled" in Tryton:
    /// its shipments and draft invoices are cancelled and the sale's
    /// exceptions handled by ignoring them, which leaves it `done` with
    /// nothing shipped or invoiced. A shipment already done is refused.
    async fn cancel_sales_order(&self, erp_id: &str) -> Result<(), ConnectorError> {
        self.cancel_sale(erp_id).await
    }

    /// One posted `account.move` carrying `reference` as its description;
    /// a draft left by a call that died before its post is replaced.
    async fn post_journal(
        &self,
        reference: &str,
        journal: &Journal,
    ) -> Result<ErpDocument, ConnectorError> {
        self.post_settlement_journal(reference, journal).await
    }

    /// The posted move carrying `reference` (a draft one is not reported).
    async fn find_journal(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.find_settlement_journal(reference).await
    }
}

/// A request: `{"id": n, "method": "model.sale.sale.create", "params": [...]}`.
#[derive(Debug, Serialize)]
pub(super) struct Request<'a> {
    pub id: u64,
    pub method: &'a str,
    pub params: &'a [Value],
}

/// What a 200 answer carried.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
    Result(Value),
    Error(RpcError),
}

/// A refusal carried in a 200 answer's `error` array.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RpcError {
    /// `["UserError", [message, description, domain]]`: a business rule refused the call.
    User {
        message: String,
        description: String,
    },
    /// `["UserWarning", [name, message, description]]`: the call asks to be
    /// confirmed; it is skipped by recording `name` in `res.user.warning`.
    Warning { name: String, message: String },
    /// `["ConcurrencyException", message]`: a record changed under the call.
    Concurrency { message: String },
    /// `["LoginException", [name, message, type]]`: more login parameters wanted.
    Login { message: String },
    /// Any other exception: `[str(exception), traceback]`.
    Server { message: String },
}

impl RpcError {
    /// The error class the engine acts on. The server rolled the call back in
    /// every case (Tryton answers only after its transaction ended).
    pub(crate) fn into_connector_error(self, method: &str) -> ConnectorError {
        match self {
            RpcError::User {
                message,
                description,
            } => {
                let detail = if description.is_empty() {
                    message
                } else {
                    format!("{message} ({description})")
                };
                ConnectorError::rejected(format!("Tryton refused {method}: {detail}"))
            }
            RpcError::Warning { name, message } => ConnectorError::rejected(format!(
                "Tryton asks to confirm {method}: {message} (warning {name})"
            )),
            RpcError::Concurrency { message } => {
                ConnectorError::transient(format!("Tryton {method}: concurrent change: {message}"))
            }
            RpcError::Login { message } => ConnectorError::Unauthorized {
                reason: format!("Tryton {method}: {message}"),
            },
            RpcError::Server { message } => {
                ConnectorError::transient(format!("Tryton {method} failed: {message}"))
            }
        }
    }
}

/// Reads a 200 answer. An unreadable one means the call ran but we cannot
/// tell its result: in doubt.
pub(super) fn read_answer(method: &str, body: &[u8]) -> Result<Answer, ConnectorError> {
    let unreadable =
        |why: String| ConnectorError::transient(format!("unreadable answer to {method}: {why}"));
    let mut envelope: serde_json::Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| unreadable(e.to_string()))?;
    if let Some(error) = envelope.remove("error") {
        return Ok(Answer::Error(read_error(error)));
    }
    match envelope.remove("result") {
        Some(result) => Ok(Answer::Result(result)),
        None => Err(unreadable("neither result nor error".into())),
    }
}

pub(super) fn read_error(error: Value) -> RpcError {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let (kind, args) = match &error {
        Value::Array(items) => (items.first(), items.get(1)),
        other => {
            return RpcError::Server {
                message: other.to_string(),
            };
        }
    };
    let arg = |i: usize| text(args.and_then(|a| a.as_array()).and_then(|a| a.get(i)));
    match kind.and_then(Value::as_str) {
        Some("UserError") => RpcError::User {
            message: arg(0),
            description: arg(1),
        },
        Some("UserWarning") => RpcError::Warning {
            name: arg(0),
            message: arg(1),
        },
        Some("ConcurrencyException") => RpcError::Concurrency {
            message: text(args),
        },
        Some("LoginException") => RpcError::Login { message: arg(1) },
        // `[str(exception), traceback]`: the traceback is for the server log.
        _ => RpcError::Server {
            message: text(kind),
        },
    }
}

/// `Authorization: Session base64(login:user_id:session_key)`.
pub(super) fn session_authorization(login: &str, user_id: i64, key: &str) -> String {
    format!(
        "Session {}",
        base64(format!("{login}:{user_id}:{key}").as_bytes())
    )
}

/// Standard base64 with padding (RFC 4648 §4).
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}
