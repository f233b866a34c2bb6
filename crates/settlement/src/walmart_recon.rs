//! Walmart's reconciliation report (v1, the CSV inside the zip): columns
//! found by header name, one summary row (`Transaction Type` =
//! `PaymentSummary`) carrying `Total Payable` and the period, the other
//! rows one amount each, keyed by `Transaction Key`, orders by
//! `Purchase Order #`. Σ`Amount` must equal `Total Payable` exactly.

use std::io::Read;

use crossdock_model::{Currency, SettlementFormat, SettlementHeader, SettlementRow};
use csv::ByteRecord;
use rust_decimal::Decimal;

use crate::classify::classify;
use crate::error::SettlementError;
use crate::fields::{Col, Fields, Header, csv_error};

/// The `Transaction Type` of the summary row.
pub const SUMMARY_TYPE: &str = "PaymentSummary";

pub const REQUIRED_COLUMNS: [&str; 13] = [
    "Period Start Date",
    "Period End Date",
    "Total Payable",
    "Currency",
    "Transaction Key",
    "Transaction Posted Timestamp",
    "Transaction Type",
    "Transaction Description",
    "Customer Order #",
    "Purchase Order #",
    "Amount",
    "Amount Type",
    "Ship Qty",
];

struct Columns {
    start: Col,
    end: Col,
    total: Col,
    currency: Col,
    key: Col,
    posted: Col,
    transaction_type: Col,
    description: Col,
    purchase_order: Col,
    amount: Col,
    amount_type: Col,
    quantity: Col,
    sku: Option<Col>,
}

struct Summary {
    line: u64,
    raw_total: String,
    header: SettlementHeader,
}

/// Read a Walmart recon CSV, handing each amount row to `sink`, and return
/// the header (settlement id `<period start>..<period end>`, ISO dates)
/// once the total is checked. On `Err` discard what the sink received.
pub fn read_walmart_recon<R: Read>(
    reader: R,
    channel: &str,
    mut sink: impl FnMut(SettlementRow),
) -> Result<SettlementHeader, SettlementError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = ByteRecord::new();
    let read = |csv: &mut csv::Reader<R>, record: &mut ByteRecord, line: u64| {
        let more = csv
            .read_byte_record(record)
            .map_err(|e| csv_error(&e, line))?;
        Ok::<_, SettlementError>(more.then(|| record.position().map_or(line + 1, |p| p.line())))
    };
    let Some(header_line) = read(&mut csv, &mut record, 0)? else {
        return Err(SettlementError::Malformed {
            line: 1,
            problem: "empty file: no header row".into(),
        });
    };
    let header = Header::read(&record, header_line)?;
    for name in REQUIRED_COLUMNS {
        header.required(name)?;
    }
    let c = Columns {
        start: header.required("Period Start Date")?,
        end: header.required("Period End Date")?,
        total: header.required("Total Payable")?,
        currency: header.required("Currency")?,
        key: header.required("Transaction Key")?,
        posted: header.required("Transaction Posted Timestamp")?,
        transaction_type: header.required("Transaction Type")?,
        description: header.required("Transaction Description")?,
        purchase_order: header.required("Purchase Order #")?,
        amount: header.required("Amount")?,
        amount_type: header.required("Amount Type")?,
        quantity: header.required("Ship Qty")?,
        sku: header.optional("Partner Item Id"),
    };

    let mut summary: Option<Summary> = None;
    let mut computed = Decimal::ZERO;
    let mut line = header_line;
    while let Some(at) = read(&mut csv, &mut record, line)? {
        line = at;
        let f = Fields {
            record: &record,
            line,
        };
        let transaction_type = f.str(c.transaction_type)?;
        if transaction_type == SUMMARY_TYPE {
            if let Some(first) = &summary {
                return Err(SettlementError::field(
                    line,
                    c.transaction_type.name,
                    transaction_type,
                    format!("a second summary row (the first is line {})", first.line),
                ));
            }
            summary = Some(summary_row(&f, &c, channel)?);
            continue;
        }
        let amount_type = f.str(c.amount_type)?;
        let description = f.str(c.description)?;
        let amount = f.amount(c.amount)?;
        computed = computed.checked_add(amount).ok_or_else(|| {
            SettlementError::field(line, c.amount.name, &amount.to_string(), "sum overflows")
        })?;
        let class = classify(
            SettlementFormat::WalmartRecon,
            transaction_type,
            amount_type,
            description,
        );
        sink(SettlementRow {
            line,
            transaction_type: transaction_type.to_owned(),
            amount_type: amount_type.to_owned(),
            description: description.to_owned(),
            order_id: f.opt_str(Some(c.purchase_order))?.map(str::to_owned),
            reference: f.opt_str(Some(c.key))?.map(str::to_owned),
            sku: f.opt_str(c.sku)?.map(str::to_owned),
            quantity: f.quantity(Some(c.quantity))?,
            amount,
            posted_on: f.date(Some(c.posted))?,
            category: class.category,
            mapped: class.mapped,
        });
    }
    let Some(summary) = summary else {
        return Err(SettlementError::Malformed {
            line,
            problem: format!(
                "no summary row (`Transaction Type` = {SUMMARY_TYPE}) with `Total Payable`"
            ),
        });
    };
    if computed != summary.header.deposit_total {
        return Err(SettlementError::TotalMismatch {
            line: summary.line,
            column: c.total.name.to_owned(),
            raw: summary.raw_total,
            declared: summary.header.deposit_total,
            computed,
        });
    }
    Ok(summary.header)
}

fn summary_row(f: &Fields<'_>, c: &Columns, channel: &str) -> Result<Summary, SettlementError> {
    let raw_currency = f.str(c.currency)?;
    let currency: Currency = raw_currency.parse().map_err(|_| {
        SettlementError::field(
            f.line,
            c.currency.name,
            raw_currency,
            "not an ISO 4217 code",
        )
    })?;
    let period_start = f.timestamp(Some(c.start))?;
    let period_end = f.timestamp(Some(c.end))?;
    let (Some(start), Some(end)) = (period_start, period_end) else {
        return Err(SettlementError::field(
            f.line,
            c.start.name,
            f.str(c.start)?,
            "the summary row needs the period start and end dates",
        ));
    };
    Ok(Summary {
        line: f.line,
        raw_total: f.str(c.total)?.to_owned(),
        header: SettlementHeader {
            settlement_id: format!("{}..{}", start.date_naive(), end.date_naive()),
            channel: channel.to_owned(),
            format: SettlementFormat::WalmartRecon,
            currency,
            period_start,
            period_end,
            deposit_date: None,
            deposit_total: f.amount(c.total)?,
        },
    })
}
