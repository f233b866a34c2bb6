//! The simulated ERP: customers, sales orders, invoices and stock. Sales
//! orders and invoices are deliberately not idempotent.
//!
//! With `auth` configured it wants OAuth2 client credentials: tokens from
//! `POST /oauth2/token`, and a valid one on every API call.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::ErpSimConfig;
use crate::faults::{FaultGate, gate};
use crate::wire::{Amount, Invalid, error, invalid, is_currency_code, not_found, parse_body};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerBody {
    email: String,
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SalesOrderBody {
    reference: String,
    customer_id: String,
    currency: String,
    lines: Vec<SalesOrderLine>,
    shipping: Amount,
    total: Amount,
    /// Required: who collects the sales tax.
    tax_treatment: TaxTreatmentWire,
}

/// Who collects an order's sales tax, as the API spells it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum TaxTreatmentWire {
    MerchantCollected,
    MarketplaceFacilitator,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SalesOrderLine {
    sku: String,
    quantity: u32,
    unit_price: Amount,
    discount: Amount,
    tax: Amount,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceBody {
    reference: String,
    sales_order_id: String,
    lines: Vec<InvoiceLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceLine {
    sku: String,
    quantity: u32,
}

#[derive(Debug, Clone, Serialize)]
struct Document {
    id: String,
    reference: String,
}

struct SalesOrder {
    doc: Document,
    skus: HashSet<String>,
    cancelled: bool,
}

#[derive(Default)]
struct ErpState {
    customers: HashMap<String, String>,
    customer_ids: HashSet<String>,
    sales_orders: Vec<SalesOrder>,
    sales_orders_per_reference: BTreeMap<String, u64>,
    invoices: Vec<Document>,
    invoices_per_reference: BTreeMap<String, u64>,
    sales_orders_cancelled: u64,
    /// References of sales orders whose tax the marketplace collects.
    facilitator_references: Vec<String>,
    /// Access tokens issued and when each expires.
    tokens: HashMap<String, Instant>,
    tokens_issued: u64,
    /// API calls refused for a missing, unknown or expired token.
    unauthorized: u64,
    /// Token requests refused (bad client, grant type or form).
    token_refusals: u64,
}

pub(crate) struct ErpSim {
    config: ErpSimConfig,
    known_skus: HashSet<String>,
    state: Mutex<ErpState>,
    /// Stock on hand per (SKU, location): the configured seed, changed by
    /// `POST /sim/stock` (a goods receipt, a count correction).
    stock: Mutex<Vec<crate::config::StockSeed>>,
    /// Draws access tokens; split off the ERP's RNG only when auth is on,
    /// so the fault draws of an estate without auth stay as they were.
    token_rng: Mutex<SmallRng>,
    /// Settlement journals (`journals.rs`).
    journals: crate::journals::Journals,
    pub(crate) gate: Arc<FaultGate>,
}

impl ErpSim {
    pub(crate) fn new(config: ErpSimConfig, mut rng: SmallRng, started: Instant) -> Arc<Self> {
        let token_rng = match config.auth {
            Some(_) => SmallRng::from_rng(&mut rng),
            None => SmallRng::seed_from_u64(0),
        };
        let gate = Arc::new(FaultGate::new(
            config.faults.clone(),
            started,
            Arc::new(Mutex::new(rng)),
        ));
        Arc::new(ErpSim {
            known_skus: config.skus.iter().cloned().collect(),
            stock: Mutex::new(config.stock.clone()),
            config,
            state: Mutex::new(ErpState::default()),
            token_rng: Mutex::new(token_rng),
            journals: Default::default(),
            gate,
        })
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/customers", post(upsert_customer))
            .route(
                "/sales-orders",
                post(create_sales_order).get(find_sales_orders),
            )
            .route("/sales-orders/{id}/cancel", post(cancel_sales_order))
            .route("/invoices", post(create_invoice).get(find_invoices))
            .route("/stock", get(stock))
            .merge(crate::journals::router(self.journals.clone()))
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                require_token,
            ))
            .route("/oauth2/token", post(issue_token))
            .layer(axum::middleware::from_fn_with_state(
                self.gate.clone(),
                gate,
            ))
            .route(
                "/sim/stats",
                get(|State(sim): State<Arc<ErpSim>>| async move { Json(sim.stats()) }),
            )
            .route("/sim/health", get(|| async { Json(json!({ "ok": true })) }))
            .route("/sim/revoke-tokens", post(revoke_tokens))
            .route("/sim/stock", post(set_stock))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, ErpState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn journals(&self) -> MutexGuard<'_, crate::journals::JournalBook> {
        self.journals.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn stats(&self) -> Value {
        let state = self.lock();
        let extra = |m: &BTreeMap<String, u64>| m.values().map(|n| n - 1).sum::<u64>();
        let mut out = Map::new();
        out.insert("customers".into(), state.customers.len().into());
        out.insert("sales_orders".into(), state.sales_orders.len().into());
        out.insert(
            "sales_orders_per_reference".into(),
            json!(state.sales_orders_per_reference),
        );
        out.insert(
            "duplicate_sales_orders".into(),
            extra(&state.sales_orders_per_reference).into(),
        );
        out.insert(
            "sales_orders_cancelled".into(),
            state.sales_orders_cancelled.into(),
        );
        out.insert(
            "marketplace_facilitator_sales_orders".into(),
            json!(state.facilitator_references),
        );
        out.insert("invoices".into(), state.invoices.len().into());
        out.insert(
            "invoices_per_reference".into(),
            json!(state.invoices_per_reference),
        );
        out.insert(
            "duplicate_invoices".into(),
            extra(&state.invoices_per_reference).into(),
        );
        out.insert("tokens_issued".into(), state.tokens_issued.into());
        out.insert("unauthorized".into(), state.unauthorized.into());
        out.insert("token_refusals".into(), state.token_refusals.into());
        drop(state);
        self.journals().write_stats(&mut out);
        self.gate.write_stats(&mut out);
        Value::Object(out)
    }
}

fn required(field: &str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        Err(Invalid::new(field, "must not be empty"))
    } else {
        Ok(())
    }
}

async fn upsert_customer(State(sim): State<Arc<ErpSim>>, body: Bytes) -> Response {
    let body: CustomerBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    if !body.email.contains('@') {
        return invalid("email", "not an email address");
    }
    if let Err(r) = required("name", &body.name) {
        return r.into_response();
    }
    let _ = (&body.phone, &body.external_id);
    let mut state = sim.lock();
    let next = format!("C-{:06}", state.customers.len() + 1);
    let id = state
        .customers
        .entry(body.email.to_lowercase())
        .or_insert(next)
        .clone();
    state.customer_ids.insert(id.clone());
    Json(json!({ "id": id })).into_response()
}

fn check_sales_order(sim: &ErpSim, state: &ErpState, body: &SalesOrderBody) -> Result<(), Invalid> {
    required("reference", &body.reference)?;
    if !state.customer_ids.contains(&body.customer_id) {
        return Err(Invalid::new("customer_id", "unknown customer"));
    }
    if !is_currency_code(&body.currency) {
        return Err(Invalid::new("currency", "expected an ISO 4217 code"));
    }
    if body.lines.is_empty() {
        return Err(Invalid::new("lines", "must not be empty"));
    }
    let mut expected = body.shipping.0;
    for (i, line) in body.lines.iter().enumerate() {
        if !sim.known_skus.is_empty() && !sim.known_skus.contains(&line.sku) {
            return Err(Invalid::new(
                format!("lines[{i}].sku"),
                format!("unknown SKU {:?}", line.sku),
            ));
        }
        if line.quantity == 0 {
            return Err(Invalid::new(
                format!("lines[{i}].quantity"),
                "must be positive",
            ));
        }
        for (name, amount) in [
            ("unit_price", line.unit_price),
            ("discount", line.discount),
            ("tax", line.tax),
        ] {
            if amount.0 < Decimal::ZERO {
                return Err(Invalid::new(
                    format!("lines[{i}].{name}"),
                    "must not be negative",
                ));
            }
        }
        expected += line.unit_price.0 * Decimal::from(line.quantity) - line.discount.0 + line.tax.0;
    }
    if body.shipping.0 < Decimal::ZERO {
        return Err(Invalid::new("shipping", "must not be negative"));
    }
    if expected != body.total.0 {
        return Err(Invalid::new(
            "total",
            format!(
                "lines and shipping add up to {expected}, not {}",
                body.total.0
            ),
        ));
    }
    Ok(())
}

async fn create_sales_order(State(sim): State<Arc<ErpSim>>, body: Bytes) -> Response {
    let body: SalesOrderBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut state = sim.lock();
    if let Err(r) = check_sales_order(&sim, &state, &body) {
        return r.into_response();
    }
    let doc = Document {
        id: format!("SO-{:06}", state.sales_orders.len() + 1),
        reference: body.reference.clone(),
    };
    *state
        .sales_orders_per_reference
        .entry(body.reference.clone())
        .or_default() += 1;
    if body.tax_treatment == TaxTreatmentWire::MarketplaceFacilitator {
        state.facilitator_references.push(body.reference.clone());
    }
    state.sales_orders.push(SalesOrder {
        doc: doc.clone(),
        skus: body.lines.iter().map(|l| l.sku.clone()).collect(),
        cancelled: false,
    });
    (StatusCode::CREATED, Json(doc)).into_response()
}

/// Idempotent: cancelling a cancelled sales order answers the same.
async fn cancel_sales_order(State(sim): State<Arc<ErpSim>>, Path(id): Path<String>) -> Response {
    let mut state = sim.lock();
    let state = &mut *state;
    let Some(order) = state.sales_orders.iter_mut().find(|so| so.doc.id == id) else {
        return not_found();
    };
    if !order.cancelled {
        order.cancelled = true;
        state.sales_orders_cancelled += 1;
    }
    Json(json!({ "id": id, "status": "cancelled" })).into_response()
}

fn reference_query(query: &HashMap<String, String>) -> Result<&str, Invalid> {
    query
        .get("reference")
        .map(String::as_str)
        .ok_or_else(|| Invalid::new("reference", "missing query parameter"))
}

async fn find_sales_orders(
    State(sim): State<Arc<ErpSim>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let reference = match reference_query(&query) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let state = sim.lock();
    let found: Vec<&Document> = state
        .sales_orders
        .iter()
        .map(|so| &so.doc)
        .filter(|d| d.reference == reference)
        .collect();
    Json(json!({ "sales_orders": found })).into_response()
}

async fn create_invoice(State(sim): State<Arc<ErpSim>>, body: Bytes) -> Response {
    let body: InvoiceBody = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = required("reference", &body.reference) {
        return r.into_response();
    }
    let mut state = sim.lock();
    let Some(order) = state
        .sales_orders
        .iter()
        .find(|so| so.doc.id == body.sales_order_id)
    else {
        return invalid("sales_order_id", "unknown sales order");
    };
    if order.cancelled {
        return invalid("sales_order_id", "sales order is cancelled");
    }
    if body.lines.is_empty() {
        return invalid("lines", "must not be empty");
    }
    for (i, line) in body.lines.iter().enumerate() {
        if !order.skus.contains(&line.sku) {
            return invalid(&format!("lines[{i}].sku"), "not on the sales order");
        }
        if line.quantity == 0 {
            return invalid(&format!("lines[{i}].quantity"), "must be positive");
        }
    }
    let doc = Document {
        id: format!("INV-{:06}", state.invoices.len() + 1),
        reference: body.reference.clone(),
    };
    *state
        .invoices_per_reference
        .entry(body.reference)
        .or_default() += 1;
    state.invoices.push(doc.clone());
    (StatusCode::CREATED, Json(doc)).into_response()
}

async fn find_invoices(
    State(sim): State<Arc<ErpSim>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let reference = match reference_query(&query) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let state = sim.lock();
    let found: Vec<&Document> = state
        .invoices
        .iter()
        .filter(|d| d.reference == reference)
        .collect();
    Json(json!({ "invoices": found })).into_response()
}

async fn stock(State(sim): State<Arc<ErpSim>>) -> Response {
    let stock = sim.stock.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Json(json!({ "positions": stock })).into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStock {
    positions: Vec<crate::config::StockSeed>,
}

/// `POST /sim/stock {"positions":[{sku, location, on_hand}]}`: the ERP's
/// stock changes (receipts, counts); what `GET /stock` answers from now on.
async fn set_stock(State(sim): State<Arc<ErpSim>>, body: Bytes) -> Response {
    let update: SetStock = match crate::wire::parse_body(&body) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    if let Some((i, p)) = update
        .positions
        .iter()
        .enumerate()
        .find(|(_, p)| p.on_hand < 0)
    {
        return crate::wire::invalid(
            &format!("positions[{i}].on_hand"),
            format!("{} is negative", p.on_hand),
        );
    }
    let mut stock = sim.stock.lock().unwrap_or_else(|e| e.into_inner());
    for p in update.positions {
        match stock
            .iter_mut()
            .find(|s| s.sku == p.sku && s.location == p.location)
        {
            Some(s) => s.on_hand = p.on_hand,
            None => stock.push(p),
        }
    }
    Json(json!({ "positions": stock.len() })).into_response()
}

/// RFC 6749 §5.2 error answer.
fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response();
    no_store(response.headers_mut());
    response
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// `POST /oauth2/token`: the client credentials grant, strictly (RFC 6749
/// §4.4): form body, client authenticated by HTTP Basic only.
async fn issue_token(State(sim): State<Arc<ErpSim>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(auth) = &sim.config.auth else {
        return not_found();
    };
    let refused = |response: Response| {
        sim.lock().token_refusals += 1;
        response
    };
    let Some((client_id, client_secret)) = basic_credentials(&headers) else {
        let mut response = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication by HTTP Basic required",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sim-erp\""),
        );
        return refused(response);
    };
    if client_id != auth.client_id || client_secret != auth.client_secret {
        let mut response = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sim-erp\""),
        );
        return refused(response);
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return refused(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "body must be application/x-www-form-urlencoded",
        ));
    }
    let Some(form) = parse_form(&body) else {
        return refused(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "malformed form body or repeated parameter",
        ));
    };
    if form.contains_key("client_id") || form.contains_key("client_secret") {
        return refused(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client credentials go in the Authorization header, not the body",
        ));
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return refused(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
        None => {
            return refused(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            ));
        }
    }
    let token = {
        let mut rng = sim.token_rng.lock().unwrap_or_else(|p| p.into_inner());
        format!("sim-{:032x}", rng.random::<u128>())
    };
    let ttl = Duration::from_secs(auth.token_ttl_secs);
    {
        let mut state = sim.lock();
        let now = Instant::now();
        state.tokens.retain(|_, expires| *expires > now);
        state.tokens.insert(token.clone(), now + ttl);
        state.tokens_issued += 1;
    }
    let mut answer = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": auth.token_ttl_secs,
    });
    if let Some(scope) = form.get("scope") {
        answer["scope"] = json!(scope);
    }
    let mut response = Json(answer).into_response();
    no_store(response.headers_mut());
    response
}

/// With auth on, an API call needs a valid, unexpired bearer token.
async fn require_token(State(sim): State<Arc<ErpSim>>, request: Request, next: Next) -> Response {
    if sim.config.auth.is_none() {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let valid = {
        let mut state = sim.lock();
        let now = Instant::now();
        let valid = token
            .and_then(|t| state.tokens.get(t))
            .is_some_and(|expires| *expires > now);
        if !valid {
            state.unauthorized += 1;
        }
        valid
    };
    if valid {
        return next.run(request).await;
    }
    let mut response = error(StatusCode::UNAUTHORIZED, "invalid_token");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// `POST /sim/revoke-tokens`: every issued token stops working.
async fn revoke_tokens(State(sim): State<Arc<ErpSim>>) -> Response {
    let mut state = sim.lock();
    let revoked = state.tokens.len();
    state.tokens.clear();
    Json(json!({ "revoked": revoked })).into_response()
}

/// `(client_id, client_secret)` from `Authorization: Basic …`, each
/// form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// An `application/x-www-form-urlencoded` body; `None` when malformed or
/// when a parameter repeats (RFC 6749 §3.2).
fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut form = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if form
            .insert(form_decode(name)?, form_decode(value)?)
            .is_some()
        {
            return None;
        }
    }
    Some(form)
}

fn form_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding (RFC 4648 §4), as HTTP Basic uses it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (n, chunk) in bytes.chunks(4).enumerate() {
        let last = n == bytes.len() / 4 - 1;
        let padding = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut group = 0u32;
        for &c in &chunk[..4 - padding] {
            group = (group << 6) | sextet(c)?;
        }
        group <<= 6 * padding as u32;
        let decoded = group.to_be_bytes();
        out.extend_from_slice(&decoded[1..4 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_form_decoding() {
        assert_eq!(base64_decode("aHViOnMzY3JldA==").unwrap(), b"hub:s3cret");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("YWI").is_none());
        assert!(base64_decode("YW=j").is_none());
        assert!(base64_decode("YQ==YWJj").is_none());
        assert_eq!(form_decode("a+b%2Bc%3A%C3%A9").unwrap(), "a b+c:é");
        assert!(form_decode("%4").is_none());
        let form = parse_form(b"grant_type=client_credentials&scope=a+b").unwrap();
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["scope"], "a b");
        assert!(
            parse_form(b"grant_type=a&grant_type=b").is_none(),
            "repeated"
        );
    }

    #[test]
    fn auth_config_defaults_and_redacts() {
        let config: ErpSimConfig = serde_json::from_value(json!({
            "auth": { "client_id": "hub", "client_secret": "s3cret" }
        }))
        .unwrap();
        let auth = config.auth.as_ref().unwrap();
        assert_eq!(auth.token_ttl_secs, 3600);
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            serde_json::from_value::<ErpSimConfig>(json!({
                "auth": { "client_id": "hub", "client_secret": "s", "ttl": 5 }
            }))
            .is_err()
        );
        assert!(ErpSimConfig::default().auth.is_none(), "off by default");
    }

    #[tokio::test]
    async fn token_endpoint_is_strict_and_api_wants_a_valid_token() {
        let mut config = crate::SimConfig::demo("http://127.0.0.1:9");
        config.channel.orders_per_sec = 0.0;
        config.erp.auth = Some(crate::config::ErpAuthSimConfig {
            client_id: "hub".into(),
            client_secret: "s3cret".into(),
            token_ttl_secs: 60,
        });
        let estate = crate::Estate::start(config).await.unwrap();
        let url = estate.erp_url();
        let client = reqwest::Client::new();
        let token_request = |id: &str, secret: &str, body: &'static str| {
            client
                .post(format!("{url}/oauth2/token"))
                .basic_auth(id, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };
        let oauth_error = |r: reqwest::Response| async move {
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        };

        let r = token_request("hub", "wrong", "grant_type=client_credentials")
            .await
            .unwrap();
        assert!(r.headers().contains_key("www-authenticate"));
        assert_eq!(oauth_error(r).await, (401, "invalid_client".into()));
        let r = token_request("hub", "s3cret", "grant_type=password")
            .await
            .unwrap();
        assert_eq!(oauth_error(r).await, (400, "unsupported_grant_type".into()));
        let r = token_request(
            "hub",
            "s3cret",
            "grant_type=client_credentials&client_secret=s3cret",
        )
        .await
        .unwrap();
        assert_eq!(oauth_error(r).await, (400, "invalid_request".into()));
        let r = client
            .post(format!("{url}/oauth2/token"))
            .basic_auth("hub", Some("s3cret"))
            .json(&json!({ "grant_type": "client_credentials" }))
            .send()
            .await
            .unwrap();
        assert_eq!(oauth_error(r).await, (400, "invalid_request".into()));

        // The API wants a token; the simulator's own routes do not.
        let r = client.get(format!("{url}/stock")).send().await.unwrap();
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(oauth_error(r).await, (401, "invalid_token".into()));
        let r = client
            .get(format!("{url}/sim/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        let r = token_request("hub", "s3cret", "grant_type=client_credentials&scope=erp")
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["token_type"], "Bearer");
        assert_eq!(answer["expires_in"], 60);
        assert_eq!(answer["scope"], "erp");
        let token = answer["access_token"].as_str().unwrap().to_owned();
        let stock = || {
            client
                .get(format!("{url}/stock"))
                .bearer_auth(&token)
                .send()
        };
        assert_eq!(stock().await.unwrap().status(), 200);

        let r = client
            .post(format!("{url}/sim/revoke-tokens"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["revoked"], 1);
        assert_eq!(stock().await.unwrap().status(), 401);

        let stats = &estate.stats().await["erp"];
        assert_eq!(stats["tokens_issued"], 1);
        assert_eq!(stats["unauthorized"], 2);
        assert_eq!(stats["token_refusals"], 4);
        estate.shutdown().await;
    }

    #[tokio::test]
    async fn without_auth_there_is_no_token_endpoint() {
        let estate = crate::Estate::start(crate::SimConfig::demo("http://127.0.0.1:9"))
            .await
            .unwrap();
        estate.stop_generating();
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{}/oauth2/token", estate.erp_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
        let r = client
            .get(format!("{}/stock", estate.erp_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(estate.stats().await["erp"]["tokens_issued"], 0);
        estate.shutdown().await;
    }
}
