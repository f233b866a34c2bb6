//! Canonical fulfillment requests to X12 940s and back: pure, no I/O.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use crossdock_edi::{
    AckStatus, ControlNumbers, Delimiters, EnvelopeParams, FunctionalAck, Interchange, Party,
    ProductId, Reference, WarehouseShippingOrder,
};
use crossdock_model::FulfillmentRequest;
use rust_decimal::Decimal;

use super::client::X12PartnerOptions;

pub(super) fn params(
    o: &X12PartnerOptions,
    now: DateTime<Utc>,
) -> Result<EnvelopeParams, crossdock_edi::WriteError> {
    let p = EnvelopeParams {
        delimiters: Delimiters::STANDARD,
        sender_qualifier: o.sender_qualifier.clone(),
        sender_id: o.sender_id.clone(),
        receiver_qualifier: o.receiver_qualifier.clone(),
        receiver_id: o.receiver_id.clone(),
        application_sender: o.sender_id.clone(),
        application_receiver: o.receiver_id.clone(),
        date: now.format("%Y%m%d").to_string(),
        time: now.format("%H%M").to_string(),
        version: "00401".into(),
        group_version: "004010".into(),
        usage: o.usage,
        ack_requested: false,
    };
    // 00401 has no repetition separator.
    let p = EnvelopeParams {
        delimiters: Delimiters {
            repetition: None,
            ..p.delimiters
        },
        ..p
    };
    crossdock_edi::write_interchange(
        &p,
        ControlNumbers {
            interchange: 1,
            group: 1,
            first_set: 1,
        },
        "OW",
        &[],
    )?;
    Ok(p)
}

/// Free text with the delimiters (and line breaks) replaced by spaces.
pub(super) fn text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '*' | '>' | '^' | '~' | '\r' | '\n') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The 940 for a request: W05-02 is the order id (echoed in 945 W06-02,
/// the canonical shipment's `order_id`), W05-03 the request id (echoed in
/// W06-06), each line's id in `N9*LI` (LX-01 is its position).
pub(super) fn order_940(r: &FulfillmentRequest) -> WarehouseShippingOrder {
    let mut parties = Vec::new();
    if let Some(a) = &r.ship_to {
        parties.push(Party {
            entity: "ST".into(),
            name: Some(text(&a.name)),
            address_lines: std::iter::once(&a.line1)
                .chain(a.line2.as_ref())
                .map(|l| text(l))
                .collect(),
            city: Some(text(&a.city)),
            state: a.region.as_deref().map(text),
            postal_code: Some(text(&a.postal_code)),
            country: Some(text(&a.country)),
            ..Party::default()
        });
    }
    let reference = |qualifier: &str, id: &str| Reference {
        qualifier: qualifier.into(),
        id: Some(id.to_owned()),
        description: None,
    };
    WarehouseShippingOrder {
        status_code: "N".into(),
        depositor_order_number: r.order_id.clone(),
        purchase_order_number: Some(r.id.clone()),
        parties,
        references: vec![
            reference("CO", &r.channel_order_id),
            Reference {
                qualifier: "ZZ".into(),
                id: Some(text(&r.service_level)),
                description: Some("service level".into()),
            },
        ],
        dates: Vec::new(),
        carrier: None,
        lines: r
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| crossdock_edi::OrderLine {
                line_number: i as u32 + 1,
                quantity: Decimal::from(l.quantity),
                unit: "EA".into(),
                upc: None,
                product_ids: vec![ProductId {
                    qualifier: "SK".into(),
                    id: l.sku.clone(),
                }],
                description: None,
                references: vec![reference("LI", &l.line_id)],
            })
            .collect(),
        total_weight: None,
    }
}

/// The request ids (W05-03) of the 940s in one of our interchanges.
pub(super) fn request_ids_in_940(bytes: &[u8]) -> Result<Vec<String>, String> {
    let interchange = crossdock_edi::parse(bytes).map_err(|e| e.to_string())?;
    interchange
        .transaction_sets()
        .filter(|s| s.id() == "940")
        .map(|s| {
            let order = crossdock_edi::read_940(s).map_err(|e| e.to_string())?;
            order
                .purchase_order_number
                .ok_or_else(|| format!("940 {} has no W05-03", s.control_number()))
        })
        .collect()
}

/// GS04/GS05 of the first group, as UTC (X12 carries no zone).
pub(super) fn envelope_time(i: &Interchange) -> Option<DateTime<Utc>> {
    let gs = &i.groups.first()?.gs;
    let date = NaiveDate::parse_from_str(gs.text(4)?, "%Y%m%d").ok()?;
    let time = NaiveTime::parse_from_str(gs.text(5)?.get(..4)?, "%H%M").ok()?;
    Some(Utc.from_utc_datetime(&date.and_time(time)))
}

/// Whether `status` means the 997 accepted the acknowledged group.
pub fn ack_accepted(ack: &FunctionalAck) -> bool {
    matches!(
        ack.status,
        AckStatus::Accepted | AckStatus::AcceptedWithErrors
    )
}
