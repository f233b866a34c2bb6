//! Shipment confirmation: one `confirmShipment` per package, `packageReferenceId` derived from our package id.

use chrono::SecondsFormat;
use reqwest::Method;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::client::{AmazonChannel, Operation};
use crate::http::endpoint;
use crate::{ConnectorError, ShipConfirmation};

/// Carrier codes Amazon knows, as it spells them; any other carrier is sent
/// as `Other` with its name.
pub(super) const CARRIER_CODES: [&str; 12] = [
    "UPS",
    "USPS",
    "FedEx",
    "DHL",
    "OnTrac",
    "Amazon Shipping",
    "Royal Mail",
    "DPD",
    "GLS",
    "Hermes",
    "Canada Post",
    "Japan Post",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConfirmShipmentRequest<'a> {
    pub(super) marketplace_id: &'a str,
    pub(super) package_detail: PackageDetail<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PackageDetail<'a> {
    pub(super) package_reference_id: String,
    pub(super) carrier_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) carrier_name: Option<&'a str>,
    pub(super) tracking_number: &'a str,
    pub(super) ship_date: String,
    pub(super) order_items: Vec<ConfirmItem<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConfirmItem<'a> {
    pub(super) order_item_id: &'a str,
    pub(super) quantity: u32,
}

/// The `packageReferenceId` sent for our package id. Amazon takes positive
/// numbers only: a package id that is one (digits, not all zero, at most 18
/// of them) is sent as it is; any other is mapped to a stable number in
/// 1..=2^53−1 from the first 8 bytes of its SHA-256 (the same package id
/// always gives the same number; two package ids of one order collide with
/// odds of about 1 in 2^53).
pub fn package_reference_id(package_id: &str) -> String {
    let id = package_id.trim();
    if !id.is_empty()
        && id.len() <= 18
        && id.bytes().all(|b| b.is_ascii_digit())
        && id.bytes().any(|b| b != b'0')
    {
        return id.trim_start_matches('0').to_owned();
    }
    let digest = Sha256::digest(package_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let max = (1u64 << 53) - 1;
    (u64::from_be_bytes(first) % max + 1).to_string()
}

/// Amazon's carrier code for a carrier name, or `Other`.
pub(super) fn carrier_code(carrier: &str) -> &'static str {
    let c = carrier.trim();
    CARRIER_CODES
        .iter()
        .find(|k| k.eq_ignore_ascii_case(c))
        .copied()
        .unwrap_or("Other")
}

impl AmazonChannel {
    pub(super) async fn confirm_packages(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let shipment = &confirmation.shipment;
        let mut items: Vec<ConfirmItem<'_>> = Vec::new();
        for line in shipment.lines.iter().filter(|l| l.quantity > 0) {
            match items.iter_mut().find(|i| i.order_item_id == line.line_id) {
                Some(i) => i.quantity += line.quantity,
                None => items.push(ConfirmItem {
                    order_item_id: &line.line_id,
                    quantity: line.quantity,
                }),
            }
        }
        if items.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "shipment {} confirms no units",
                confirmation.package_id
            )));
        }
        let carrier = shipment.tracking.carrier.trim();
        let code = carrier_code(carrier);
        let tracking = shipment.tracking.number.trim();
        if tracking.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "shipment {}: Amazon requires a tracking number",
                confirmation.package_id
            )));
        }
        let reference = package_reference_id(&confirmation.package_id);
        let request = ConfirmShipmentRequest {
            marketplace_id: &self.marketplace_id,
            package_detail: PackageDetail {
                package_reference_id: reference.clone(),
                carrier_code: code,
                carrier_name: (code == "Other").then_some(if carrier.is_empty() {
                    "Other"
                } else {
                    carrier
                }),
                tracking_number: tracking,
                ship_date: shipment
                    .shipped_at
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                order_items: items,
            },
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
        let url = endpoint(
            &self.api,
            &[
                "orders",
                "v0",
                "orders",
                &confirmation.external_order_id,
                "shipmentConfirmation",
            ],
        );
        self.call(Operation::ConfirmShipment, Method::POST, &url, Some(body))
            .await?
            .ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "Amazon does not know order {}",
                    confirmation.external_order_id
                ))
            })?;
        Ok(reference)
    }
}
