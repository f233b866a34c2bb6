//! Amazon `GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2`: tab-separated,
//! columns found by header name (the 23 documented ones required, the
//! 24th `promotion-id` and any other extra column ignored), the summary
//! row first (settlement id, period, deposit date, `total-amount`,
//! currency), then one row per amount component. Read record by record:
//! only the running total is kept, each row goes to the caller's sink.
//! Σ`amount` must equal `total-amount` exactly, else the file is refused.

use std::io::Read;

use crossdock_model::{Currency, SettlementFormat, SettlementHeader, SettlementRow};
use csv::ByteRecord;
use rust_decimal::Decimal;

use crate::classify::{amazon_order_id_is_not_an_order, classify};
use crate::error::SettlementError;
use crate::fields::{Col, Fields, Header, csv_error};

/// The documented columns, all required (the file is refused without one).
pub const REQUIRED_COLUMNS: [&str; 23] = [
    "settlement-id",
    "settlement-start-date",
    "settlement-end-date",
    "deposit-date",
    "total-amount",
    "currency",
    "transaction-type",
    "order-id",
    "merchant-order-id",
    "adjustment-id",
    "shipment-id",
    "marketplace-name",
    "amount-type",
    "amount-description",
    "amount",
    "fulfillment-id",
    "posted-date",
    "posted-date-time",
    "order-item-code",
    "merchant-order-item-id",
    "merchant-adjustment-item-id",
    "sku",
    "quantity-purchased",
];

struct Columns {
    settlement_id: Col,
    start: Col,
    end: Col,
    deposit_date: Col,
    total_amount: Col,
    currency: Col,
    transaction_type: Col,
    order_id: Col,
    adjustment_id: Col,
    shipment_id: Col,
    amount_type: Col,
    amount_description: Col,
    amount: Col,
    posted_date: Col,
    posted_date_time: Col,
    sku: Col,
    quantity: Col,
}

impl Columns {
    fn find(header: &Header) -> Result<Columns, SettlementError> {
        for name in REQUIRED_COLUMNS {
            header.required(name)?;
        }
        Ok(Columns {
            settlement_id: header.required("settlement-id")?,
            start: header.required("settlement-start-date")?,
            end: header.required("settlement-end-date")?,
            deposit_date: header.required("deposit-date")?,
            total_amount: header.required("total-amount")?,
            currency: header.required("currency")?,
            transaction_type: header.required("transaction-type")?,
            order_id: header.required("order-id")?,
            adjustment_id: header.required("adjustment-id")?,
            shipment_id: header.required("shipment-id")?,
            amount_type: header.required("amount-type")?,
            amount_description: header.required("amount-description")?,
            amount: header.required("amount")?,
            posted_date: header.required("posted-date")?,
            posted_date_time: header.required("posted-date-time")?,
            sku: header.required("sku")?,
            quantity: header.required("quantity-purchased")?,
        })
    }
}

/// Read an Amazon V2 settlement flat file, handing each amount row to
/// `sink` in file order, and return its header once every row has been
/// read and the total checked. On `Err` the caller must discard whatever
/// the sink received: the file is refused as a whole.
pub fn read_amazon_v2<R: Read>(
    reader: R,
    channel: &str,
    mut sink: impl FnMut(SettlementRow),
) -> Result<SettlementHeader, SettlementError> {
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(false)
        .quoting(false)
        .flexible(true)
        .from_reader(reader);
    let mut record = ByteRecord::new();
    let mut line = 1;
    let mut next = |record: &mut ByteRecord, line: &mut u64| -> Result<bool, SettlementError> {
        let more = csv
            .read_byte_record(record)
            .map_err(|e| csv_error(&e, *line))?;
        if let Some(p) = record.position() {
            *line = p.line();
        }
        Ok(more)
    };

    if !next(&mut record, &mut line)? {
        return Err(SettlementError::Malformed {
            line: 1,
            problem: "empty file: no header row".into(),
        });
    }
    let header_line = line;
    let columns = Columns::find(&Header::read(&record, line)?)?;

    if !next(&mut record, &mut line)? {
        return Err(SettlementError::Malformed {
            line: header_line + 1,
            problem: "no summary row after the header".into(),
        });
    }
    let summary_line = line;
    let summary = Fields {
        record: &record,
        line,
    };
    if let Some(tt) = summary.opt_str(Some(columns.transaction_type))? {
        return Err(SettlementError::field(
            line,
            columns.transaction_type.name,
            tt,
            "expected the summary row (settlement totals, no transaction) right after the header",
        ));
    }
    let settlement_id = summary.str(columns.settlement_id)?.to_owned();
    if settlement_id.is_empty() {
        return Err(SettlementError::field(
            line,
            columns.settlement_id.name,
            "",
            "the summary row has no settlement id",
        ));
    }
    let total_raw = summary.str(columns.total_amount)?.to_owned();
    let declared = summary.amount(columns.total_amount)?;
    let currency_raw = summary.str(columns.currency)?;
    let currency: Currency = currency_raw.parse().map_err(|_| {
        SettlementError::field(
            line,
            columns.currency.name,
            currency_raw,
            "not an ISO 4217 code",
        )
    })?;
    let header = SettlementHeader {
        settlement_id,
        channel: channel.to_owned(),
        format: SettlementFormat::AmazonV2,
        currency,
        period_start: summary.timestamp(Some(columns.start))?,
        period_end: summary.timestamp(Some(columns.end))?,
        deposit_date: summary.date(Some(columns.deposit_date))?,
        deposit_total: declared,
    };

    let mut computed = Decimal::ZERO;
    while next(&mut record, &mut line)? {
        let row = data_row(
            &Fields {
                record: &record,
                line,
            },
            &columns,
            &header.settlement_id,
        )?;
        computed = computed.checked_add(row.amount).ok_or_else(|| {
            SettlementError::field(
                line,
                columns.amount.name,
                &row.amount.to_string(),
                "sum overflows",
            )
        })?;
        sink(row);
    }
    if computed != declared {
        return Err(SettlementError::TotalMismatch {
            line: summary_line,
            column: columns.total_amount.name.to_owned(),
            raw: total_raw,
            declared,
            computed,
        });
    }
    Ok(header)
}

fn data_row(
    f: &Fields<'_>,
    c: &Columns,
    settlement_id: &str,
) -> Result<SettlementRow, SettlementError> {
    let id = f.str(c.settlement_id)?;
    if id != settlement_id {
        return Err(SettlementError::field(
            f.line,
            c.settlement_id.name,
            id,
            format!("row of another settlement than the summary's {settlement_id}"),
        ));
    }
    let transaction_type = f.str(c.transaction_type)?;
    let amount_type = f.str(c.amount_type)?;
    let description = f.str(c.amount_description)?;
    let amount = f.amount(c.amount)?;
    let class = classify(
        SettlementFormat::AmazonV2,
        transaction_type,
        amount_type,
        description,
    );
    let raw_order = f.opt_str(Some(c.order_id))?;
    let (order_id, reference) = match raw_order {
        Some(id) if amazon_order_id_is_not_an_order(transaction_type, id) => (None, Some(id)),
        Some(id) => (
            Some(id),
            f.opt_str(Some(c.shipment_id))?
                .or(f.opt_str(Some(c.adjustment_id))?),
        ),
        None => (None, f.opt_str(Some(c.adjustment_id))?),
    };
    let posted_on = match f.date(Some(c.posted_date))? {
        Some(d) => Some(d),
        None => f.date(Some(c.posted_date_time))?,
    };
    Ok(SettlementRow {
        line: f.line,
        transaction_type: transaction_type.to_owned(),
        amount_type: amount_type.to_owned(),
        description: description.to_owned(),
        order_id: order_id.map(str::to_owned),
        reference: reference.map(str::to_owned),
        sku: f.opt_str(Some(c.sku))?.map(str::to_owned),
        quantity: f.quantity(Some(c.quantity))?,
        amount,
        posted_on,
        category: class.category,
        mapped: class.mapped,
    })
}
