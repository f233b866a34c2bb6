//! Shipping and cancelling a purchase order's lines, unit by unit.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Json, Response};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};

use super::orders::{order_not_found, visible};
use super::state::{CancelledUnits, LineState, ShippedUnits, WalmartSim};
use super::wire::{bad_request, now_ms, parse_json};
use crate::wire::lock;

const CARRIERS: [&str; 12] = [
    "UPS",
    "USPS",
    "FedEx",
    "Airborne",
    "OnTrac",
    "DHL Ecommerce - US",
    "LS",
    "UDS",
    "UPSMI",
    "FDX",
    "FEDEXSP",
    "Canada Post",
];
const METHOD_CODES: [&str; 6] = [
    "Standard",
    "Express",
    "OneDay",
    "Freight",
    "WhiteGlove",
    "Value",
];
const CANCELLATION_REASONS: [&str; 5] = [
    "CUSTOMER_REQUESTED_SELLER_TO_CANCEL",
    "SELLER_CANCEL_PRICING_ERROR",
    "SELLER_CANCEL_OUT_OF_STOCK",
    "SELLER_CANCEL_FRAUD_STOP_SHIPMENT",
    "SELLER_CANCEL_ADDRESS_NOT_SERVICEABLE",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct QuantityWire {
    unit_of_measurement: String,
    amount: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinesWire<L> {
    order_lines: OrderLineListWire<L>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OrderLineListWire<L> {
    order_line: Vec<L>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StatusesWire<S> {
    order_line_status: Vec<S>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShippingWire {
    order_shipment: LinesWire<ShipLineWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShipLineWire {
    line_number: String,
    #[serde(default)]
    seller_order_id: Option<String>,
    #[serde(default)]
    intent_to_cancel_override: Option<bool>,
    order_line_statuses: StatusesWire<ShipStatusWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShipStatusWire {
    status: String,
    status_quantity: QuantityWire,
    tracking_info: TrackingWire,
    #[serde(default)]
    return_center_address: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TrackingWire {
    ship_date_time: i64,
    carrier_name: CarrierWire,
    method_code: String,
    tracking_number: String,
    #[serde(default, rename = "trackingURL")]
    tracking_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CarrierWire {
    #[serde(default)]
    carrier: Option<String>,
    #[serde(default)]
    other_carrier: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CancelWire {
    order_cancellation: LinesWire<CancelLineWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CancelLineWire {
    line_number: String,
    order_line_statuses: StatusesWire<CancelStatusWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CancelStatusWire {
    status: String,
    cancellation_reason: String,
    status_quantity: QuantityWire,
}

/// A `statusQuantity`: `EACH` units as a whole number in a string.
fn units(field: &str, q: &QuantityWire) -> Result<u32, String> {
    if !matches!(q.unit_of_measurement.as_str(), "EACH" | "EA") {
        return Err(format!(
            "{field}.unitOfMeasurement: expected EACH, got {:?}",
            q.unit_of_measurement
        ));
    }
    match q.amount.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{field}.amount: expected a positive whole number, got {:?}",
            q.amount
        )),
    }
}

pub(super) async fn ship_lines(
    State(sim): State<Arc<WalmartSim>>,
    Path(po): Path<String>,
    body: Bytes,
) -> Response {
    const API: &str = "GMP_ORDER_API";
    let request: ShippingWire = match parse_json(API, &body) {
        Ok(r) => r,
        Err(r) => {
            lock(&sim.state).counters.shipping_refused += 1;
            return *r;
        }
    };
    let mut state = lock(&sim.state);
    let state = &mut *state;
    let require_ack = sim.config.require_acknowledgement;
    let Some(order) = visible(state, &po) else {
        return order_not_found(&po);
    };
    let lines = &request.order_shipment.order_lines.order_line;
    let mut refusal: Option<(String, String)> = None;
    let mut duplicates = 0u64;
    let mut over = false;
    // Units this request ships per line, to check the total against what is open.
    let mut asked: HashMap<&str, u32> = HashMap::new();
    let mut accepted: Vec<(usize, u32, Value, String)> = Vec::new();
    'lines: for (i, line) in lines.iter().enumerate() {
        let at = format!("orderShipment.orderLines.orderLine[{i}]");
        let Some(index) = order
            .lines
            .iter()
            .position(|l| l.line_number == line.line_number)
        else {
            refusal = Some((
                format!("{at}.lineNumber"),
                format!("purchase order {po} has no line {:?}", line.line_number),
            ));
            break;
        };
        let po_line = &order.lines[index];
        let _ = (&line.seller_order_id, line.intent_to_cancel_override);
        if line.order_line_statuses.order_line_status.is_empty() {
            refusal = Some((
                format!("{at}.orderLineStatuses.orderLineStatus"),
                "must not be empty".to_owned(),
            ));
            break;
        }
        for (j, st) in line
            .order_line_statuses
            .order_line_status
            .iter()
            .enumerate()
        {
            let sat = format!("{at}.orderLineStatuses.orderLineStatus[{j}]");
            let _ = &st.return_center_address;
            if st.status != "Shipped" {
                refusal = Some((
                    format!("{sat}.status"),
                    format!("expected Shipped, got {:?}", st.status),
                ));
                break 'lines;
            }
            let qty = match units(&format!("{sat}.statusQuantity"), &st.status_quantity) {
                Ok(q) => q,
                Err(e) => {
                    refusal = Some((format!("{sat}.statusQuantity"), e));
                    break 'lines;
                }
            };
            let t = &st.tracking_info;
            let tat = format!("{sat}.trackingInfo");
            let number = t.tracking_number.trim();
            let problem = if number.is_empty() {
                Some(("trackingNumber", "must not be empty".to_owned()))
            } else if !METHOD_CODES.contains(&t.method_code.as_str()) {
                Some((
                    "methodCode",
                    format!(
                        "{:?} is not one of {}",
                        t.method_code,
                        METHOD_CODES.join(", ")
                    ),
                ))
            } else if DateTime::from_timestamp_millis(t.ship_date_time).is_none()
                || t.ship_date_time <= 0
            {
                Some((
                    "shipDateTime",
                    "must be a time in epoch milliseconds".to_owned(),
                ))
            } else {
                match (&t.carrier_name.carrier, &t.carrier_name.other_carrier) {
                    (Some(c), None) if CARRIERS.contains(&c.as_str()) || c.len() > 1 => None,
                    (None, Some(o)) if o.trim().is_empty() => {
                        Some(("carrierName.otherCarrier", "must not be empty".to_owned()))
                    }
                    (None, Some(_))
                        if t.tracking_url
                            .as_deref()
                            .is_none_or(|u| u.trim().is_empty()) =>
                    {
                        Some(("trackingURL", "required with otherCarrier".to_owned()))
                    }
                    (None, Some(_)) => None,
                    _ => Some((
                        "carrierName",
                        "exactly one of carrier and otherCarrier is required".to_owned(),
                    )),
                }
            };
            if let Some((field, message)) = problem {
                refusal = Some((format!("{tat}.{field}"), message));
                break 'lines;
            }
            // Never deduplicated: the same tracking number again on a line
            // is the client's bug, counted, and applied if units are open.
            if po_line.shipped.iter().any(|s| s.tracking_number == number)
                || accepted
                    .iter()
                    .any(|(l, _, _, n)| *l == index && n == number)
            {
                duplicates += 1;
            }
            if require_ack && po_line.open_state == LineState::Created {
                refusal = Some((
                    format!("{at}.lineNumber"),
                    format!(
                        "line {} of purchase order {po} must be acknowledged before it is shipped",
                        po_line.line_number
                    ),
                ));
                break 'lines;
            }
            let total = asked.entry(po_line.line_number.as_str()).or_default();
            *total += qty;
            if *total > po_line.open_units() {
                over = true;
                refusal = Some((
                    format!("{sat}.statusQuantity.amount"),
                    format!(
                        "ships {} units of line {} but only {} are open ({} ordered, {} shipped, {} cancelled)",
                        *total,
                        po_line.line_number,
                        po_line.open_units(),
                        po_line.quantity,
                        po_line.shipped_units(),
                        po_line.cancelled_units()
                    ),
                ));
                break 'lines;
            }
            let mut tracking = json!({
                "shipDateTime": t.ship_date_time,
                "carrierName": match (&t.carrier_name.carrier, &t.carrier_name.other_carrier) {
                    (Some(c), _) => json!({ "carrier": c }),
                    (_, o) => json!({ "otherCarrier": o }),
                },
                "methodCode": t.method_code,
                "trackingNumber": number,
            });
            if let Some(url) = &t.tracking_url {
                tracking["trackingURL"] = Value::String(url.clone());
            }
            accepted.push((index, qty, tracking, number.to_owned()));
        }
    }
    if lines.is_empty() && refusal.is_none() {
        refusal = Some((
            "orderShipment.orderLines.orderLine".to_owned(),
            "must not be empty".to_owned(),
        ));
    }
    state.counters.duplicate_shipments += duplicates;
    if let Some((field, message)) = refusal {
        state.counters.shipping_refused += 1;
        if over {
            state.counters.over_shipments += 1;
        }
        return bad_request(API, &field, message);
    }
    let now = now_ms();
    let shipped = accepted.len() as u64;
    let mut units_shipped = 0u64;
    let Some(order) = visible(state, &po) else {
        return order_not_found(&po);
    };
    for (index, qty, tracking, number) in accepted {
        let line = &mut order.lines[index];
        line.shipped.push(ShippedUnits {
            quantity: qty,
            tracking,
            tracking_number: number,
        });
        line.status_date = now;
        units_shipped += u64::from(qty);
    }
    let body = json!({ "order": sim.order_json(order) });
    state.counters.shipments_recorded += shipped;
    state.counters.units_shipped += units_shipped;
    Json(body).into_response()
}

pub(super) async fn cancel_lines(
    State(sim): State<Arc<WalmartSim>>,
    Path(po): Path<String>,
    body: Bytes,
) -> Response {
    const API: &str = "GMP_ORDER_API";
    let request: CancelWire = match parse_json(API, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let mut state = lock(&sim.state);
    let state = &mut *state;
    let Some(order) = visible(state, &po) else {
        return order_not_found(&po);
    };
    let lines = &request.order_cancellation.order_lines.order_line;
    if lines.is_empty() {
        return bad_request(
            API,
            "orderCancellation.orderLines.orderLine",
            "must not be empty",
        );
    }
    let mut asked: HashMap<usize, u32> = HashMap::new();
    let mut accepted: Vec<(usize, u32, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let at = format!("orderCancellation.orderLines.orderLine[{i}]");
        let Some(index) = order
            .lines
            .iter()
            .position(|l| l.line_number == line.line_number)
        else {
            return bad_request(
                API,
                &format!("{at}.lineNumber"),
                format!("purchase order {po} has no line {:?}", line.line_number),
            );
        };
        for (j, st) in line
            .order_line_statuses
            .order_line_status
            .iter()
            .enumerate()
        {
            let sat = format!("{at}.orderLineStatuses.orderLineStatus[{j}]");
            if st.status != "Cancelled" {
                return bad_request(
                    API,
                    &format!("{sat}.status"),
                    format!("expected Cancelled, got {:?}", st.status),
                );
            }
            if !CANCELLATION_REASONS.contains(&st.cancellation_reason.as_str()) {
                return bad_request(
                    API,
                    &format!("{sat}.cancellationReason"),
                    format!(
                        "{:?} is not one of {}",
                        st.cancellation_reason,
                        CANCELLATION_REASONS.join(", ")
                    ),
                );
            }
            let qty = match units(&format!("{sat}.statusQuantity"), &st.status_quantity) {
                Ok(q) => q,
                Err(e) => return bad_request(API, &format!("{sat}.statusQuantity"), e),
            };
            let total = asked.entry(index).or_default();
            *total += qty;
            let open = order.lines[index].open_units();
            if *total > open {
                return bad_request(
                    API,
                    &format!("{sat}.statusQuantity.amount"),
                    format!(
                        "cancels {} units of line {} but only {open} are open",
                        *total, line.line_number
                    ),
                );
            }
            accepted.push((index, qty, st.cancellation_reason.clone()));
        }
    }
    let now = now_ms();
    let mut cancelled = 0u64;
    for (index, qty, reason) in accepted {
        let line = &mut order.lines[index];
        line.cancelled.push(CancelledUnits {
            quantity: qty,
            reason,
        });
        line.status_date = now;
        cancelled += u64::from(qty);
    }
    let body = json!({ "order": sim.order_json(order) });
    state.counters.seller_cancelled_units += cancelled;
    Json(body).into_response()
}
