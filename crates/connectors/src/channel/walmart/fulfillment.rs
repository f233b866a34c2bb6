//! Shipment confirmations as `shipping` updates of the PO's lines, with Walmart's carrier and method spellings, recognised again by tracking number.

use reqwest::Method;
use serde::Serialize;

use super::client::WalmartChannel;
use super::orders::{LinesOf, OrderLineList, PoLine, Quantity, StatusList};
use crate::{ConnectorError, ShipConfirmation};

/// `methodCode` values `TrackingInfoType` accepts.
pub(super) const METHOD_CODES: [&str; 6] = [
    "Standard",
    "Express",
    "OneDay",
    "Freight",
    "WhiteGlove",
    "Value",
];
/// `CarrierNameType.carrier` values (the code where the spec adds a name).
pub(super) const CARRIERS: [&str; 56] = [
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
    "PILOT",
    "ESTES",
    "SAIA",
    "FDS Express",
    "Seko Worldwide",
    "HIT Delivery",
    "FEDEXSP",
    "RL Carriers",
    "Metropolitan Warehouse & Delivery",
    "China Post",
    "YunExpress",
    "Yellow Freight Sys",
    "AIT Worldwide Logistics",
    "Chukou1",
    "Sendle",
    "Landmark Global",
    "Sunyou",
    "Yanwen",
    "4PX",
    "GLS",
    "OSM Worldwide",
    "FIRST MILE",
    "AM Trucking",
    "CEVA",
    "India Post",
    "SF Express",
    "CNE",
    "TForce Freight",
    "AxleHire",
    "LSO",
    "Royal Mail",
    "ABF Freight System",
    "WanB",
    "Roadrunner Freight",
    "Meyer Distribution",
    "AAA Cooper",
    "Canada Post",
    "Southeastern Freight Lines",
    "Japan Post",
    "Correos de Mexico",
    "XPO Logistics",
    "JD Logistics",
    "YDH",
    "JCEX",
    "Flyt",
    "Deutsche Post",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ShippingRequest<'a> {
    pub(super) order_shipment: LinesOf<ShipLine<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ShipLine<'a> {
    pub(super) line_number: &'a str,
    pub(super) order_line_statuses: StatusList<ShipStatus<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ShipStatus<'a> {
    pub(super) status: &'static str,
    pub(super) status_quantity: Quantity,
    pub(super) tracking_info: TrackingInfo<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TrackingInfo<'a> {
    pub(super) ship_date_time: i64,
    pub(super) carrier_name: CarrierName<'a>,
    pub(super) method_code: &'static str,
    pub(super) tracking_number: &'a str,
    #[serde(rename = "trackingURL", skip_serializing_if = "Option::is_none")]
    pub(super) tracking_url: Option<&'a str>,
}

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum CarrierName<'a> {
    Carrier(&'static str),
    OtherCarrier(&'a str),
}

/// Walmart's spelling of a carrier it knows, or `None` (sent as `otherCarrier`).
pub(super) fn known_carrier(name: &str) -> Option<&'static str> {
    let name = name.trim();
    let alias = match name.to_ascii_lowercase().as_str() {
        "fedex" | "fed ex" | "federal express" => Some("FedEx"),
        "dhl" | "dhl ecommerce" => Some("DHL Ecommerce - US"),
        "lasership" => Some("LS"),
        "ups mail innovations" => Some("UPSMI"),
        "fedex smartpost" => Some("FEDEXSP"),
        _ => None,
    };
    alias.or_else(|| {
        CARRIERS
            .iter()
            .copied()
            .find(|c| c.eq_ignore_ascii_case(name))
    })
}

pub(super) fn method_code(po_method: Option<&str>) -> &'static str {
    po_method
        .and_then(|m| {
            METHOD_CODES
                .iter()
                .copied()
                .find(|c| c.eq_ignore_ascii_case(m.trim()))
        })
        .unwrap_or("Standard")
}

pub(super) fn is_shipped(status: &str) -> bool {
    matches!(status, "Shipped" | "Delivered")
}

/// Units of `line` shipped under tracking number `number`.
pub(super) fn shipped_under(line: &PoLine, number: &str) -> u32 {
    line.order_line_statuses
        .iter()
        .flat_map(|s| &s.order_line_status)
        .filter(|s| {
            is_shipped(&s.status)
                && s.tracking_info
                    .as_ref()
                    .and_then(|t| t.tracking_number.as_deref())
                    .is_some_and(|t| t.trim() == number)
        })
        .map(|s| {
            s.status_quantity
                .as_ref()
                .and_then(|q| q.amount.trim().parse::<u32>().ok())
                .unwrap_or(0)
        })
        .sum()
}

impl WalmartChannel {
    pub(super) async fn confirm_shipping(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let po_id = confirmation.external_order_id.as_str();
        let tracking = &confirmation.shipment.tracking;
        let tracked = !tracking.number.trim().is_empty();
        let number = if tracked {
            tracking.number.trim()
        } else {
            confirmation.package_id.as_str()
        };
        let po = self.fetch_po(po_id).await?.ok_or_else(|| {
            ConnectorError::rejected(format!("Walmart does not know purchase order {po_id}"))
        })?;
        let mut needed: Vec<(&str, u32)> = Vec::new();
        for line in &confirmation.shipment.lines {
            match needed.iter_mut().find(|(id, _)| *id == line.line_id) {
                Some((_, q)) => *q += line.quantity,
                None => needed.push((&line.line_id, line.quantity)),
            }
        }
        let mut resent = false;
        for (line_id, qty) in &mut needed {
            let line = po
                .order_lines
                .order_line
                .iter()
                .find(|l| l.line_number == *line_id)
                .ok_or_else(|| {
                    ConnectorError::rejected(format!(
                        "purchase order {po_id} has no line {line_id}"
                    ))
                })?;
            let already = shipped_under(line, number);
            resent |= already > 0;
            *qty = qty.saturating_sub(already);
        }
        needed.retain(|(_, q)| *q > 0);
        if needed.is_empty() {
            if resent {
                return Ok(po_id.to_owned());
            }
            return Err(ConnectorError::rejected(format!(
                "shipment {} confirms no units",
                confirmation.package_id
            )));
        }
        // Walmart takes shipping updates only for acknowledged units. The
        // hub acknowledges a PO once it has reserved its stock (the
        // `acknowledge` step), long before it ships; this is the safety net
        // for orders reserved before that step existed, or whose
        // acknowledgement failed and went to the exception queue.
        // Acknowledging twice is harmless.
        if po.unacknowledged() {
            self.acknowledge(po_id).await?;
        }
        let carrier = tracking.carrier.trim();
        let carrier_name = match known_carrier(carrier) {
            Some(c) => CarrierName::Carrier(c),
            None => CarrierName::OtherCarrier(if carrier.is_empty() { "Other" } else { carrier }),
        };
        let tracking_url = tracking
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let method = method_code(
            po.shipping_info
                .as_ref()
                .and_then(|s| s.method_code.as_deref()),
        );
        let ship_date_time = confirmation.shipment.shipped_at.timestamp_millis();
        let request = ShippingRequest {
            order_shipment: LinesOf {
                order_lines: OrderLineList {
                    order_line: needed
                        .iter()
                        .map(|(line, qty)| ShipLine {
                            line_number: line,
                            order_line_statuses: StatusList {
                                order_line_status: vec![ShipStatus {
                                    status: "Shipped",
                                    status_quantity: Quantity {
                                        unit_of_measurement: "EACH",
                                        amount: qty.to_string(),
                                    },
                                    tracking_info: TrackingInfo {
                                        ship_date_time,
                                        carrier_name,
                                        method_code: method,
                                        tracking_number: number,
                                        tracking_url,
                                    },
                                }],
                            },
                        })
                        .collect(),
                },
            },
        };
        let body = serde_json::to_vec(&request).expect("serializable");
        let url = self.url(&["v3", "orders", po_id, "shipping"]);
        self.call_ok("shippingUpdates", Method::POST, &url, Some(body))
            .await?;
        Ok(po_id.to_owned())
    }

    pub(super) async fn find_shipping(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(po) = self.fetch_po(external_order_id).await? else {
            return Ok(None);
        };
        let found = po
            .order_lines
            .order_line
            .iter()
            .any(|l| shipped_under(l, package_id) > 0);
        Ok(found.then(|| external_order_id.to_owned()))
    }
}
