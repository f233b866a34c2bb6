//! An ERP mapping compiled once: its jq programs and templates checked, then the readers of documents and stock positions.

use std::str::FromStr;

use jaq_json::Val;
use reqwest::Method;

use super::mapping::{ErpMapping, IdFrom, ResourceMapping};
use crate::ErpDocument;
use crate::jq::{Program, check_template, exact_number, field, id_text, kind, optional, text};

impl ErpMapping {
    /// Compiles every program and checks every template, naming the field
    /// of the first problem (`sales_order.body: …`).
    pub fn validate(&self) -> Result<(), String> {
        self.compile().map(|_| ())
    }

    pub(super) fn compile(&self) -> Result<Compiled, String> {
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
        let journal = self
            .journal
            .as_ref()
            .map(|m| Write::compile("journal", m, &["reference"], Needs::Id))
            .transpose()?;
        let find_journal = self
            .find_journal
            .as_ref()
            .map(|m| {
                Read::compile(
                    "find_journal",
                    &m.path,
                    &m.query,
                    &m.results,
                    &["reference"],
                )
            })
            .transpose()?;
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
            journal,
            find_journal,
        })
    }
}

/// Every program of a mapping, compiled.
pub(super) struct Compiled {
    pub(super) customer: Write,
    pub(super) sales_order: Write,
    pub(super) invoice: Write,
    pub(super) cancel: Option<Write>,
    pub(super) find_sales_order: Read,
    pub(super) find_invoice: Read,
    pub(super) stock: Option<Read>,
    pub(super) journal: Option<Write>,
    pub(super) find_journal: Option<Read>,
}

pub(super) enum Needs {
    Id,
    Nothing,
}

pub(super) struct Write {
    pub(super) name: &'static str,
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) body: Option<Program>,
    pub(super) id: Option<Program>,
    pub(super) id_from: IdFrom,
    pub(super) needs: Needs,
}

impl Write {
    pub(super) fn compile(
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

pub(super) struct Read {
    pub(super) name: &'static str,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) results: Program,
}

impl Read {
    pub(super) fn compile(
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

pub(super) fn items(v: &Val, what: &str) -> Result<Vec<Val>, String> {
    match v {
        Val::Arr(items) => Ok(items.iter().cloned().collect()),
        other => Err(format!("expected an array of {what}, got {}", kind(other))),
    }
}

pub(super) fn documents(v: &Val) -> Result<Vec<ErpDocument>, String> {
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

pub(super) fn positions(v: &Val) -> Result<Vec<(String, String, i64)>, String> {
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
pub(super) fn last_segment(location: &str) -> Option<String> {
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
