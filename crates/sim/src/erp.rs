//! The simulated ERP: customers, sales orders, invoices and stock. Sales
//! orders and invoices are deliberately not idempotent.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use rand::rngs::SmallRng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::ErpSimConfig;
use crate::faults::{FaultGate, gate};
use crate::wire::{Amount, Invalid, invalid, is_currency_code, not_found, parse_body};

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
}

pub(crate) struct ErpSim {
    config: ErpSimConfig,
    known_skus: HashSet<String>,
    state: Mutex<ErpState>,
    pub(crate) gate: Arc<FaultGate>,
}

impl ErpSim {
    pub(crate) fn new(config: ErpSimConfig, rng: SmallRng, started: Instant) -> Arc<Self> {
        let gate = Arc::new(FaultGate::new(
            config.faults.clone(),
            started,
            Arc::new(Mutex::new(rng)),
        ));
        Arc::new(ErpSim {
            known_skus: config.skus.iter().cloned().collect(),
            config,
            state: Mutex::new(ErpState::default()),
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
            .layer(axum::middleware::from_fn_with_state(
                self.gate.clone(),
                gate,
            ))
            .route(
                "/sim/stats",
                get(|State(sim): State<Arc<ErpSim>>| async move { Json(sim.stats()) }),
            )
            .route("/sim/health", get(|| async { Json(json!({ "ok": true })) }))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, ErpState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
        out.insert("invoices".into(), state.invoices.len().into());
        out.insert(
            "invoices_per_reference".into(),
            json!(state.invoices_per_reference),
        );
        out.insert(
            "duplicate_invoices".into(),
            extra(&state.invoices_per_reference).into(),
        );
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
    Json(json!({ "positions": sim.config.stock })).into_response()
}
