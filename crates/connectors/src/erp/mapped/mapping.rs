//! The ERP mapping's shape (`[erp.mapping]`) and the mapping the simulator speaks. Serde types; compiled by `compile.rs`.

use serde::{Deserialize, Serialize};

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
    /// Post a settlement journal; `body` runs over `{journal, reference}`.
    /// Path placeholder: `{reference}`. Without it (and `find_journal`),
    /// settlements cannot be posted to this ERP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<ResourceMapping>,
    /// Lookup by our reference (in-doubt resolution of `journal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find_journal: Option<LookupMapping>,
}

impl ErpMapping {
    /// Whether settlement journals can be posted: both `journal` and
    /// `find_journal` are mapped. The error names what is missing.
    pub fn journals_mapped(&self) -> Result<(), String> {
        match (&self.journal, &self.find_journal) {
            (Some(_), Some(_)) => Ok(()),
            (None, _) => {
                Err("the ERP mapping has no `journal` call: settlements cannot be posted".into())
            }
            (_, None) => Err(
                "the ERP mapping has no `find_journal` lookup: a journal in doubt could not be \
                 found again, so settlements cannot be posted"
                    .into(),
            ),
        }
    }
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
    pub(super) fn is_body(&self) -> bool {
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
                 shipping: .order.shipping.amount, total: .order.total.amount, \
                 tax_treatment: .order.tax_treatment}",
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
            journal: Some(post(
                "journals",
                "{reference, settlement_id: .journal.settlement_id, month: .journal.month, \
                 date: .journal.date, currency: .journal.currency, lines: .journal.lines}",
            )),
            find_journal: Some(lookup("journals", "journals")),
        }
    }
}
