//! Canonical customers, orders, invoices and settlement journals to the JSON bodies the API takes. Pure: no I/O.

use crossdock_model::{Journal, JournalLine, Order, TaxTreatment};
use serde::Serialize;

use crate::ConnectorError;

#[derive(Debug, Serialize)]
pub(super) struct CustomerWire<'a> {
    pub(super) email: &'a str,
    pub(super) name: &'a str,
    pub(super) phone: Option<&'a str>,
    pub(super) external_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(super) struct SalesOrderWire<'a> {
    pub(super) reference: &'a str,
    pub(super) customer_id: &'a str,
    pub(super) currency: &'a str,
    pub(super) lines: Vec<SalesOrderLineWire<'a>>,
    pub(super) shipping: String,
    pub(super) total: String,
    /// Who collects the sales tax (`merchant_collected` or
    /// `marketplace_facilitator`): a facilitator's tax is not the
    /// merchant's liability, so the ERP books it apart.
    pub(super) tax_treatment: TaxTreatment,
}

#[derive(Debug, Serialize)]
pub(super) struct SalesOrderLineWire<'a> {
    pub(super) sku: &'a str,
    pub(super) quantity: u32,
    pub(super) unit_price: String,
    pub(super) discount: String,
    pub(super) tax: String,
}

#[derive(Debug, Serialize)]
pub(super) struct InvoiceWire<'a> {
    pub(super) reference: &'a str,
    pub(super) sales_order_id: &'a str,
    pub(super) lines: Vec<InvoiceLineWire<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct InvoiceLineWire<'a> {
    pub(super) sku: &'a str,
    pub(super) quantity: u32,
}

pub(super) fn sales_order_body<'a>(
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
        tax_treatment: order.tax_treatment,
    }
}

pub(super) fn invoice_body<'a>(
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

/// A settlement journal as the API takes it: the lines as the canonical
/// journal writes them (amounts are decimal strings), under our reference.
#[derive(Debug, Serialize)]
pub(super) struct JournalWire<'a> {
    pub(super) reference: &'a str,
    pub(super) settlement_id: &'a str,
    pub(super) month: &'a str,
    pub(super) date: String,
    pub(super) currency: &'a str,
    pub(super) lines: &'a [JournalLine],
}

pub(super) fn journal_body<'a>(reference: &'a str, journal: &'a Journal) -> JournalWire<'a> {
    JournalWire {
        reference,
        settlement_id: &journal.settlement_id,
        month: &journal.month,
        date: journal.date.to_string(),
        currency: journal.currency.as_str(),
        lines: &journal.lines,
    }
}
