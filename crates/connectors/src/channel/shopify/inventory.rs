//! Availability through GraphQL `inventorySetQuantities`: the SKU lookup, the rounds that drop refused SKUs, the idempotency keys.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::client::{InventoryTarget, ShopifyChannel};
use crate::http::unreadable;
use crate::pacing::Bucket;
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate,
    ConnectorError,
};

/// SKUs per `inventorySetQuantities` on the schedule (Shopify takes 250).
pub(super) const BATCH_LIMIT: usize = 50;
/// SKUs per call for a hot SKU: small, so one slow SKU does not hold others.
pub(super) const URGENT_LIMIT: usize = 5;

/// Rounds of `inventorySetQuantities` per push: the mutation is all or
/// nothing, so each round drops the SKUs Shopify refused and resends the rest.
pub(super) const MAX_ROUNDS: usize = 4;

// ---- GraphQL (inventory) ----

pub(super) const VARIANTS_QUERY: &str = "query InventoryTargets($query: String!, $first: Int!) { \
    productVariants(first: $first, query: $query) { nodes { sku inventoryItem { id \
    inventoryLevels(first: 10) { nodes { location { id } \
    quantities(names: [\"available\"]) { name quantity } } } } } } }";

pub(super) const SET_MUTATION: &str = "mutation SetAvailable($input: InventorySetQuantitiesInput!, $key: String!) { \
    inventorySetQuantities(input: $input) @idempotent(key: $key) { \
    inventoryAdjustmentGroup { createdAt } userErrors { field message code } } }";

#[derive(Debug, Deserialize)]
pub(super) struct GraphqlAnswer<T> {
    #[serde(default = "none")]
    pub(super) data: Option<T>,
    #[serde(default)]
    pub(super) errors: Vec<GraphqlError>,
    #[serde(default)]
    pub(super) extensions: Option<GraphqlExtensions>,
}

pub(super) fn none<T>() -> Option<T> {
    None
}

#[derive(Debug, Deserialize)]
pub(super) struct GraphqlError {
    pub(super) message: String,
    #[serde(default)]
    pub(super) extensions: Option<GraphqlErrorExtensions>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GraphqlErrorExtensions {
    #[serde(default)]
    pub(super) code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct GraphqlExtensions {
    #[serde(default)]
    pub(super) cost: Option<QueryCost>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueryCost {
    #[serde(default)]
    pub(super) requested_query_cost: Option<f64>,
    #[serde(default)]
    pub(super) throttle_status: Option<ThrottleStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ThrottleStatus {
    pub(super) maximum_available: f64,
    pub(super) currently_available: f64,
    pub(super) restore_rate: f64,
}

#[derive(Debug, Deserialize)]
pub(super) struct Nodes<T> {
    pub(super) nodes: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VariantsData {
    pub(super) product_variants: Nodes<VariantNode>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VariantNode {
    #[serde(default)]
    pub(super) sku: Option<String>,
    pub(super) inventory_item: InventoryItemNode,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InventoryItemNode {
    pub(super) id: String,
    pub(super) inventory_levels: Nodes<LevelNode>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LevelNode {
    pub(super) location: IdNode,
    #[serde(default)]
    pub(super) quantities: Vec<QuantityNode>,
}

#[derive(Debug, Deserialize)]
pub(super) struct IdNode {
    pub(super) id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct QuantityNode {
    pub(super) name: String,
    pub(super) quantity: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SetData {
    pub(super) inventory_set_quantities: Option<SetPayload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SetPayload {
    #[serde(default)]
    pub(super) user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UserError {
    #[serde(default)]
    pub(super) field: Option<Vec<String>>,
    pub(super) message: String,
    #[serde(default)]
    pub(super) code: Option<String>,
}

/// What a lookup found for one SKU: where to set it and what it shows, or
/// why it cannot be set.
pub(super) type Found = Result<(InventoryTarget, Option<i64>), String>;

/// A Shopify search term matching exactly `sku`.
pub(super) fn sku_term(sku: &str) -> String {
    let escaped = sku.replace('\\', "\\\\").replace('"', "\\\"");
    format!("sku:\"{escaped}\"")
}

/// The `@idempotent` key of one round: the update's own key when it goes
/// alone, else a digest of the keys of the SKUs in the call, so a resend of
/// the same batch carries the same key and a different batch never does.
pub(super) fn round_key(keys: &[&str]) -> String {
    if let [only] = keys
        && !only.is_empty()
        && only.len() <= 255
    {
        return (*only).to_owned();
    }
    let mut digest = Sha256::new();
    for key in keys {
        digest.update(key.as_bytes());
        digest.update(b"\n");
    }
    let hex: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("crossdock-batch-{hex}")
}

impl ShopifyChannel {
    /// One GraphQL call; top-level errors are call failures (`THROTTLED`
    /// is [`ConnectorError::Throttled`], with the wait the cost bucket implies).
    pub(super) async fn graphql<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<T, ConnectorError> {
        let url = self.graphql.clone();
        let request = serde_json::json!({ "query": query, "variables": variables });
        let (_, body) = self.send(Method::POST, &url, Some(&request)).await?;
        let answer: GraphqlAnswer<T> =
            serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
        let cost = answer.extensions.and_then(|e| e.cost);
        let requested = cost.as_ref().and_then(|c| c.requested_query_cost);
        let status = cost.and_then(|c| c.throttle_status);
        if let Some(t) = &status {
            let used = t.maximum_available - t.currently_available;
            let mut budget = self
                .graphql_budget
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let now = self.clock.instant();
            match budget.as_mut() {
                Some(b) => b.observe(used, t.maximum_available, t.restore_rate, now),
                None => *budget = Some(Bucket::new(used, t.maximum_available, t.restore_rate, now)),
            }
        }
        if !answer.errors.is_empty() {
            let throttled = answer.errors.iter().any(|e| {
                e.extensions.as_ref().and_then(|x| x.code.as_deref()) == Some("THROTTLED")
            });
            let messages: Vec<&str> = answer.errors.iter().map(|e| e.message.as_str()).collect();
            let reason = format!("Shopify GraphQL: {}", messages.join("; "));
            if throttled {
                let wait = match (&status, requested) {
                    (Some(t), Some(r)) if t.restore_rate > 0.0 => ((r - t.currently_available)
                        / t.restore_rate)
                        .ceil()
                        .max(1.0),
                    _ => 1.0,
                };
                return Err(ConnectorError::Throttled {
                    reason,
                    retry_after: Duration::from_secs_f64(wait),
                });
            }
            return Err(ConnectorError::rejected(reason));
        }
        answer
            .data
            .ok_or_else(|| unreadable(&url, "no data and no errors"))
    }

    /// Where each SKU's `available` is set, and what it shows now. A SKU
    /// must be on exactly one variant stocked at exactly one location: the
    /// hub publishes one number per SKU and cannot split it.
    pub(super) async fn lookup(
        &self,
        skus: &[&str],
    ) -> Result<HashMap<String, Found>, ConnectorError> {
        let mut out = HashMap::new();
        for chunk in skus.chunks(BATCH_LIMIT) {
            let query: Vec<String> = chunk.iter().map(|s| sku_term(s)).collect();
            let data: VariantsData = self
                .graphql(
                    VARIANTS_QUERY,
                    serde_json::json!({ "query": query.join(" OR "), "first": 250 }),
                )
                .await?;
            for sku in chunk {
                let variants: Vec<&VariantNode> = data
                    .product_variants
                    .nodes
                    .iter()
                    .filter(|v| v.sku.as_deref().map(str::trim) == Some(*sku))
                    .collect();
                let found = match variants.as_slice() {
                    [] => Err("no variant with this SKU on Shopify".to_owned()),
                    [v] => match v.inventory_item.inventory_levels.nodes.as_slice() {
                        [level] => Ok((
                            InventoryTarget {
                                inventory_item_id: v.inventory_item.id.clone(),
                                location_id: level.location.id.clone(),
                            },
                            level
                                .quantities
                                .iter()
                                .find(|q| q.name == "available")
                                .map(|q| q.quantity),
                        )),
                        levels => Err(format!(
                            "stocked at {} locations on Shopify; one is needed",
                            levels.len()
                        )),
                    },
                    many => Err(format!("{} variants carry this SKU on Shopify", many.len())),
                };
                out.insert((*sku).to_owned(), found);
            }
        }
        Ok(out)
    }
}

impl ShopifyChannel {
    pub(super) fn batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        match cadence {
            AvailabilityCadence::Batch => BATCH_LIMIT,
            AvailabilityCadence::Urgent => URGENT_LIMIT,
        }
    }

    pub(super) async fn set_quantities(
        &self,
        updates: &[AvailabilityUpdate],
        _cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut outcomes: Vec<Option<AvailabilityOutcome>> = vec![None; updates.len()];
        let mut targets: Vec<Option<InventoryTarget>> = vec![None; updates.len()];
        let mut missing: Vec<&str> = Vec::new();
        {
            let cache = self
                .inventory_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (i, u) in updates.iter().enumerate() {
                if u.quantity < 0 {
                    outcomes[i] = Some(AvailabilityOutcome::Rejected {
                        reason: format!("negative quantity {}", u.quantity),
                    });
                } else if let Some(t) = cache.get(&u.sku) {
                    targets[i] = Some(t.clone());
                } else if !missing.contains(&u.sku.as_str()) {
                    missing.push(&u.sku);
                }
            }
        }
        if !missing.is_empty() {
            let found = self.lookup(&missing).await?;
            let mut cache = self
                .inventory_targets
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (i, u) in updates.iter().enumerate() {
                match found.get(&u.sku) {
                    Some(Ok((t, _))) => {
                        cache.insert(u.sku.clone(), t.clone());
                        targets[i] = Some(t.clone());
                    }
                    Some(Err(reason)) if outcomes[i].is_none() => {
                        outcomes[i] = Some(AvailabilityOutcome::Rejected {
                            reason: reason.clone(),
                        });
                    }
                    _ => {}
                }
            }
        }
        for _ in 0..MAX_ROUNDS {
            let pending: Vec<usize> = (0..updates.len())
                .filter(|i| outcomes[*i].is_none() && targets[*i].is_some())
                .collect();
            if pending.is_empty() {
                break;
            }
            let keys: Vec<&str> = pending
                .iter()
                .map(|i| updates[*i].idempotency_key.as_str())
                .collect();
            let quantities: Vec<serde_json::Value> = pending
                .iter()
                .filter_map(|i| {
                    let t = targets[*i].as_ref()?;
                    Some(serde_json::json!({
                        "inventoryItemId": t.inventory_item_id,
                        "locationId": t.location_id,
                        "quantity": updates[*i].quantity,
                        "changeFromQuantity": updates[*i].previous,
                    }))
                })
                .collect();
            let input = serde_json::json!({
                "name": "available",
                "reason": "correction",
                "quantities": quantities,
            });
            let data: SetData = self
                .graphql(
                    SET_MUTATION,
                    serde_json::json!({ "input": input, "key": round_key(&keys) }),
                )
                .await?;
            let payload = data.inventory_set_quantities.ok_or_else(|| {
                ConnectorError::transient("Shopify answered inventorySetQuantities with null")
            })?;
            if payload.user_errors.is_empty() {
                for i in pending {
                    outcomes[i] = Some(AvailabilityOutcome::Accepted);
                }
                break;
            }
            let mut progressed = false;
            for e in &payload.user_errors {
                let code = e.code.as_deref().unwrap_or("");
                let at = e.field.as_deref().and_then(|f| match f {
                    [input, quantities, n, ..]
                        if input == "input" && quantities == "quantities" =>
                    {
                        n.parse::<usize>()
                            .ok()
                            .and_then(|n| pending.get(n).copied())
                    }
                    _ => None,
                });
                let Some(i) = at else { continue };
                if outcomes[i].is_some() {
                    continue;
                }
                progressed = true;
                outcomes[i] = Some(if code.ends_with("_STALE") {
                    AvailabilityOutcome::Stale { current: None }
                } else {
                    if matches!(
                        code,
                        "INVALID_INVENTORY_ITEM"
                            | "INVALID_LOCATION"
                            | "ITEM_NOT_STOCKED_AT_LOCATION"
                    ) {
                        // The listing moved: look it up afresh next time.
                        self.inventory_targets
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&updates[i].sku);
                    }
                    AvailabilityOutcome::Rejected {
                        reason: format!("{code}: {}", e.message),
                    }
                });
            }
            if !progressed {
                // An error about the whole call (reason, name): nothing of
                // it can pass, and another round would say the same.
                let reason: Vec<String> = payload
                    .user_errors
                    .iter()
                    .map(|e| format!("{}: {}", e.code.as_deref().unwrap_or("ERROR"), e.message))
                    .collect();
                for i in pending {
                    outcomes[i] = Some(AvailabilityOutcome::Rejected {
                        reason: reason.join("; "),
                    });
                }
                break;
            }
        }
        // What Shopify holds for the stale SKUs, so the hub can recompute;
        // best effort: the refusal stands without it.
        let stale: Vec<&str> = updates
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Some(AvailabilityOutcome::Stale { .. })))
            .map(|(u, _)| u.sku.as_str())
            .collect();
        if !stale.is_empty()
            && let Ok(found) = self.lookup(&stale).await
        {
            for (u, o) in updates.iter().zip(outcomes.iter_mut()) {
                if let (Some(AvailabilityOutcome::Stale { current }), Some(Ok((_, now)))) =
                    (o.as_mut(), found.get(&u.sku))
                {
                    *current = *now;
                }
            }
        }
        Ok(updates
            .iter()
            .zip(outcomes)
            .map(|(u, o)| AvailabilityResult {
                sku: u.sku.clone(),
                outcome: o.unwrap_or_else(|| AvailabilityOutcome::Rejected {
                    reason: format!("not applied after {MAX_ROUNDS} rounds of refusals"),
                }),
            })
            .collect())
    }
}
