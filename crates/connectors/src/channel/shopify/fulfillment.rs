//! Shipment confirmations as fulfillments of the order's open fulfillment orders, recognised again by their tracking numbers.

use std::collections::HashMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::client::ShopifyChannel;
use crate::http::unreadable;
use crate::input::JsonId;
use crate::{ConnectorError, ShipConfirmation};

/// Fulfillment order statuses that accept a fulfillment.
pub(super) const FULFILLABLE: [&str; 2] = ["open", "in_progress"];
/// Fulfillment statuses that did not (or no longer) fulfil anything.
pub(super) const DEAD_FULFILLMENT: [&str; 3] = ["cancelled", "error", "failure"];

#[derive(Debug, Deserialize)]
pub(super) struct FulfillmentOrdersWire {
    pub(super) fulfillment_orders: Vec<FulfillmentOrderWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FulfillmentOrderWire {
    pub(super) id: JsonId,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) assigned_location_id: Option<JsonId>,
    #[serde(default)]
    pub(super) line_items: Vec<FulfillmentOrderLineWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FulfillmentOrderLineWire {
    pub(super) id: JsonId,
    pub(super) line_item_id: JsonId,
    #[serde(default)]
    pub(super) fulfillable_quantity: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct FulfillmentsWire {
    pub(super) fulfillments: Vec<FulfillmentWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FulfillmentWire {
    pub(super) id: JsonId,
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) tracking_number: Option<String>,
    #[serde(default)]
    pub(super) tracking_numbers: Vec<String>,
    #[serde(default)]
    pub(super) line_items: Vec<FulfilledLineWire>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FulfilledLineWire {
    /// The order's line item id.
    pub(super) id: JsonId,
    pub(super) quantity: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct CreatedFulfillmentWire {
    pub(super) fulfillment: CreatedFulfillment,
}

#[derive(Debug, Deserialize)]
pub(super) struct CreatedFulfillment {
    pub(super) id: JsonId,
}

#[derive(Debug, Serialize)]
pub(super) struct FulfillmentRequest<'a> {
    pub(super) fulfillment: FulfillmentBody<'a>,
}

#[derive(Debug, Serialize)]
pub(super) struct FulfillmentBody<'a> {
    pub(super) line_items_by_fulfillment_order: Vec<ByFulfillmentOrder>,
    pub(super) tracking_info: TrackingInfo<'a>,
    pub(super) notify_customer: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct ByFulfillmentOrder {
    pub(super) fulfillment_order_id: Box<RawValue>,
    pub(super) fulfillment_order_line_items: Vec<FulfillmentOrderLineItem>,
}

#[derive(Debug, Serialize)]
pub(super) struct FulfillmentOrderLineItem {
    pub(super) id: Box<RawValue>,
    pub(super) quantity: u32,
}

#[derive(Debug, Serialize)]
pub(super) struct TrackingInfo<'a> {
    pub(super) number: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) company: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) url: Option<&'a str>,
}

/// A Shopify id back in JSON: a whole number as a number (exact, from its
/// text), anything else as a string.
pub(super) fn id_json(id: &str) -> Box<RawValue> {
    let text = if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        id.to_owned()
    } else {
        serde_json::Value::String(id.to_owned()).to_string()
    };
    RawValue::from_string(text).expect("valid JSON")
}

impl ShopifyChannel {
    /// The order's fulfillments that stand (not cancelled or failed).
    pub(super) async fn live_fulfillments(
        &self,
        external_order_id: &str,
    ) -> Result<Option<Vec<FulfillmentWire>>, ConnectorError> {
        let url = self.url(&["orders", external_order_id, "fulfillments.json"]);
        let answer: Option<FulfillmentsWire> = self.get_json_opt(&url).await?;
        Ok(answer.map(|a| {
            a.fulfillments
                .into_iter()
                .filter(|f| {
                    !f.status
                        .as_deref()
                        .is_some_and(|s| DEAD_FULFILLMENT.contains(&s))
                })
                .collect()
        }))
    }

    pub(super) async fn post_fulfillments(
        &self,
        external_order_id: &str,
        needed: &[(String, u32)],
        tracking: &TrackingInfo<'_>,
    ) -> Result<Vec<String>, ConnectorError> {
        let url = self.url(&["orders", external_order_id, "fulfillment_orders.json"]);
        let (_, body) = self.send(Method::GET, &url, None::<&()>).await?;
        let orders: FulfillmentOrdersWire =
            serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
        // (location, [(fulfillment order id, [(fulfillment order line id, quantity)])])
        type Plan = Vec<(String, Vec<(String, Vec<(String, u32)>)>)>;
        let mut plan: Plan = Vec::new();
        let mut taken: HashMap<String, i64> = HashMap::new();
        for (line_id, quantity) in needed {
            let mut remaining = i64::from(*quantity);
            for fo in &orders.fulfillment_orders {
                if remaining == 0 {
                    break;
                }
                if !fo
                    .status
                    .as_deref()
                    .is_some_and(|s| FULFILLABLE.contains(&s))
                {
                    continue;
                }
                for item in fo
                    .line_items
                    .iter()
                    .filter(|i| i.line_item_id.0 == *line_id)
                {
                    let used = taken.entry(item.id.0.clone()).or_default();
                    let free = (item.fulfillable_quantity - *used).max(0);
                    let take = free.min(remaining);
                    if take == 0 {
                        continue;
                    }
                    *used += take;
                    remaining -= take;
                    let location = fo
                        .assigned_location_id
                        .as_ref()
                        .map(|l| l.0.clone())
                        .unwrap_or_default();
                    let at = match plan.iter().position(|(l, _)| *l == location) {
                        Some(at) => at,
                        None => {
                            plan.push((location, Vec::new()));
                            plan.len() - 1
                        }
                    };
                    let group = &mut plan[at].1;
                    let at = match group.iter().position(|(f, _)| *f == fo.id.0) {
                        Some(at) => at,
                        None => {
                            group.push((fo.id.0.clone(), Vec::new()));
                            group.len() - 1
                        }
                    };
                    let lines = &mut group[at].1;
                    let take = u32::try_from(take).unwrap_or(u32::MAX);
                    match lines.iter_mut().find(|(id, _)| *id == item.id.0) {
                        Some((_, q)) => *q += take,
                        None => lines.push((item.id.0.clone(), take)),
                    }
                    if remaining == 0 {
                        break;
                    }
                }
            }
            if remaining > 0 {
                return Err(ConnectorError::rejected(format!(
                    "line item {line_id}: {remaining} of {quantity} units are not open for \
                     fulfillment on Shopify order {external_order_id}"
                )));
            }
        }
        let url = self.url(&["fulfillments.json"]);
        let mut ids = Vec::with_capacity(plan.len());
        // One fulfillment per location: Shopify refuses fulfillment orders of
        // several locations in one request.
        for (_, group) in plan {
            let body = FulfillmentRequest {
                fulfillment: FulfillmentBody {
                    line_items_by_fulfillment_order: group
                        .into_iter()
                        .map(|(fo, lines)| ByFulfillmentOrder {
                            fulfillment_order_id: id_json(&fo),
                            fulfillment_order_line_items: lines
                                .into_iter()
                                .map(|(id, quantity)| FulfillmentOrderLineItem {
                                    id: id_json(&id),
                                    quantity,
                                })
                                .collect(),
                        })
                        .collect(),
                    tracking_info: TrackingInfo {
                        number: tracking.number,
                        company: tracking.company,
                        url: tracking.url,
                    },
                    notify_customer: false,
                },
            };
            let (_, answer) = self.send(Method::POST, &url, Some(&body)).await?;
            let created: CreatedFulfillmentWire =
                serde_json::from_slice(&answer).map_err(|e| unreadable(&url, e))?;
            ids.push(created.fulfillment.id.0);
        }
        Ok(ids)
    }
}

/// Whether a fulfillment carries `number` as a tracking number.
pub(super) fn carries(f: &FulfillmentWire, number: &str) -> bool {
    f.tracking_number.as_deref().map(str::trim) == Some(number)
        || f.tracking_numbers.iter().any(|n| n.trim() == number)
}

impl ShopifyChannel {
    pub(super) async fn confirm_fulfillment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let order_id = &confirmation.external_order_id;
        let tracking = &confirmation.shipment.tracking;
        let tracked = !tracking.number.trim().is_empty();
        let info = TrackingInfo {
            number: if tracked {
                tracking.number.trim()
            } else {
                &confirmation.package_id
            },
            company: Some(tracking.carrier.trim()).filter(|c| tracked && !c.is_empty()),
            url: tracking
                .url
                .as_deref()
                .map(str::trim)
                .filter(|u| tracked && !u.is_empty()),
        };
        // Units per line still to confirm, less what a fulfillment under the
        // same tracking number already holds (an earlier send of this package).
        let mut needed: Vec<(String, u32)> = Vec::new();
        for line in &confirmation.shipment.lines {
            match needed.iter_mut().find(|(id, _)| *id == line.line_id) {
                Some((_, q)) => *q += line.quantity,
                None => needed.push((line.line_id.clone(), line.quantity)),
            }
        }
        let mut ids = Vec::new();
        let existing = self.live_fulfillments(order_id).await?.ok_or_else(|| {
            ConnectorError::rejected(format!("Shopify does not know order {order_id}"))
        })?;
        for f in existing.iter().filter(|f| carries(f, info.number)) {
            let mut ours = false;
            for fl in &f.line_items {
                if let Some((_, q)) = needed.iter_mut().find(|(id, _)| *id == fl.id.0) {
                    *q = q.saturating_sub(u32::try_from(fl.quantity.max(0)).unwrap_or(u32::MAX));
                    ours = true;
                }
            }
            if ours {
                ids.push(f.id.0.clone());
            }
        }
        needed.retain(|(_, q)| *q > 0);
        if !needed.is_empty() {
            ids.extend(self.post_fulfillments(order_id, &needed, &info).await?);
        }
        if ids.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "shipment {} confirms no units",
                confirmation.package_id
            )));
        }
        Ok(ids.join(","))
    }

    pub(super) async fn find_fulfillment(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(existing) = self.live_fulfillments(external_order_id).await? else {
            return Ok(None);
        };
        let ids: Vec<String> = existing
            .into_iter()
            .filter(|f| carries(f, package_id))
            .map(|f| f.id.0)
            .collect();
        Ok((!ids.is_empty()).then(|| ids.join(",")))
    }
}
