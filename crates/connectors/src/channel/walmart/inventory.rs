//! Availability: `PUT inventory` per SKU for urgent pushes, one multipart inventory feed and its item statuses for batches.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::client::{WalmartChannel, walmart_message};
use crate::http::unreadable;
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ConnectorError,
};

/// SKUs one urgent push sends (one `PUT /v3/inventory` each).
pub const URGENT_BATCH_LIMIT: usize = 10;
/// SKUs one bulk inventory feed carries.
pub const FEED_BATCH_LIMIT: usize = 5_000;

/// `getFeedItemStatus` returns at most 50 item details per call.
pub(super) const FEED_DETAIL_PAGE: usize = 50;
pub(super) const FEED_POLL_FIRST: Duration = Duration::from_millis(250);
pub(super) const FEED_POLL_MAX: Duration = Duration::from_secs(5);
/// Our own multipart boundary: a fixed one, checked not to occur in the file.
pub(super) const FEED_BOUNDARY: &str = "crossdock-walmart-inventory-feed-5f0c2b7e9d41";
pub(super) const FEED_CONTENT_TYPE: &str =
    "multipart/form-data; boundary=crossdock-walmart-inventory-feed-5f0c2b7e9d41";

#[derive(Serialize)]
pub(super) struct InventoryItem<'a> {
    pub(super) sku: &'a str,
    pub(super) quantity: InventoryQuantity,
}

#[derive(Serialize)]
pub(super) struct InventoryQuantity {
    pub(super) unit: &'static str,
    pub(super) amount: i64,
}

/// The bulk inventory feed file (`InventoryHeader` spec 1.4).
#[derive(Serialize)]
pub(super) struct InventoryFeed<'a> {
    #[serde(rename = "InventoryHeader")]
    pub(super) header: InventoryHeader,
    #[serde(rename = "Inventory")]
    pub(super) inventory: Vec<InventoryItem<'a>>,
}

#[derive(Serialize)]
pub(super) struct InventoryHeader {
    pub(super) version: &'static str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FeedIdAnswer {
    pub(super) feed_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FeedStatusAnswer {
    pub(super) feed_status: String,
    #[serde(default)]
    pub(super) items_received: Option<u64>,
    #[serde(default)]
    pub(super) ingestion_errors: Option<IngestionErrorsWire>,
    #[serde(default)]
    pub(super) item_details: Option<ItemDetailsWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ItemDetailsWire {
    #[serde(default)]
    pub(super) item_ingestion_status: Vec<ItemStatusWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ItemStatusWire {
    #[serde(default)]
    pub(super) sku: Option<String>,
    #[serde(default)]
    pub(super) index: Option<usize>,
    pub(super) ingestion_status: String,
    #[serde(default)]
    pub(super) ingestion_errors: Option<IngestionErrorsWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IngestionErrorsWire {
    #[serde(default)]
    pub(super) ingestion_error: Vec<IngestionErrorWire>,
}

#[derive(Deserialize)]
pub(super) struct IngestionErrorWire {
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
}

impl IngestionErrorsWire {
    pub(super) fn describe(&self) -> Option<String> {
        let parts: Vec<String> = self
            .ingestion_error
            .iter()
            .map(|e| match (&e.code, &e.description) {
                (Some(c), Some(d)) => format!("{c}: {d}"),
                (None, Some(d)) => d.clone(),
                (Some(c), None) => c.clone(),
                (None, None) => "unspecified error".to_owned(),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// An update the hub should never send: refused before any call.
pub(super) fn invalid_update(update: &AvailabilityUpdate) -> Option<AvailabilityResult> {
    let reason = if update.sku.trim().is_empty() {
        "sku must not be empty".to_owned()
    } else if update.quantity < 0 {
        format!("quantity must not be negative, got {}", update.quantity)
    } else {
        return None;
    };
    Some(AvailabilityResult {
        sku: update.sku.clone(),
        outcome: AvailabilityOutcome::Rejected { reason },
    })
}

impl WalmartChannel {
    /// One SKU by `PUT /v3/inventory?sku=…`: its result, or the call's failure.
    pub(super) async fn put_inventory(
        &self,
        update: &AvailabilityUpdate,
    ) -> Result<AvailabilityResult, ConnectorError> {
        const OPERATION: &str = "updateInventoryForAnItem";
        let mut url = self.url(&["v3", "inventory"]);
        url.query_pairs_mut().append_pair("sku", &update.sku);
        let body = serde_json::to_vec(&InventoryItem {
            sku: &update.sku,
            quantity: InventoryQuantity {
                unit: "EACH",
                amount: update.quantity,
            },
        })
        .expect("serializable");
        self.pace(OPERATION).await;
        let (status, headers, answer) = self.call(OPERATION, Method::PUT, &url, Some(body)).await?;
        let outcome = if status.is_success() {
            AvailabilityOutcome::Accepted
        } else if status.is_client_error()
            && !matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
            )
        {
            // Walmart's word on this SKU (unknown item, invalid quantity).
            AvailabilityOutcome::Rejected {
                reason: walmart_message(status, &answer),
            }
        } else {
            self.finish(status, &headers, answer)?;
            unreachable!("finish refuses every status that is not a success")
        };
        Ok(AvailabilityResult {
            sku: update.sku.clone(),
            outcome,
        })
    }

    /// Uploads one bulk inventory feed (spec 1.4); returns its `feedId`.
    pub(super) async fn submit_inventory_feed(
        &self,
        updates: &[&AvailabilityUpdate],
    ) -> Result<String, ConnectorError> {
        const OPERATION: &str = "updateBulkInventory";
        let feed = InventoryFeed {
            header: InventoryHeader { version: "1.4" },
            inventory: updates
                .iter()
                .map(|u| InventoryItem {
                    sku: &u.sku,
                    quantity: InventoryQuantity {
                        unit: "EACH",
                        amount: u.quantity,
                    },
                })
                .collect(),
        };
        let file = serde_json::to_vec(&feed).expect("serializable");
        if file
            .windows(FEED_BOUNDARY.len())
            .any(|w| w == FEED_BOUNDARY.as_bytes())
        {
            return Err(ConnectorError::rejected(
                "a SKU in the inventory feed contains the multipart boundary",
            ));
        }
        let mut body = Vec::with_capacity(file.len() + 256);
        body.extend_from_slice(
            format!(
                "--{FEED_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"inventory.json\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&file);
        body.extend_from_slice(format!("\r\n--{FEED_BOUNDARY}--\r\n").as_bytes());
        let mut url = self.url(&["v3", "feeds"]);
        url.query_pairs_mut().append_pair("feedType", "inventory");
        self.pace(OPERATION).await;
        let (status, headers, answer) = self
            .call_typed(
                OPERATION,
                Method::POST,
                &url,
                Some((FEED_CONTENT_TYPE, body)),
            )
            .await?;
        let answer = self.finish(status, &headers, answer)?;
        let id: FeedIdAnswer = serde_json::from_slice(&answer).map_err(|e| unreadable(&url, e))?;
        if id.feed_id.trim().is_empty() {
            return Err(unreadable(&url, "empty feedId"));
        }
        Ok(id.feed_id)
    }

    /// One page of a feed's status with item details. A 429 whose wait
    /// fits before `deadline` is waited out and the page asked again.
    // A bound on waits made with the runtime's own sleeps, so it is read
    // on the runtime's timer (real elapsed time), not on the channel's clock.
    #[allow(clippy::disallowed_methods)]
    pub(super) async fn feed_page(
        &self,
        feed_id: &str,
        offset: usize,
        deadline: tokio::time::Instant,
    ) -> Result<FeedStatusAnswer, ConnectorError> {
        const OPERATION: &str = "getFeedItemStatus";
        let mut url = self.url(&["v3", "feeds", feed_id]);
        url.query_pairs_mut()
            .append_pair("includeDetails", "true")
            .append_pair("offset", &offset.to_string())
            .append_pair("limit", &FEED_DETAIL_PAGE.to_string());
        loop {
            self.pace(OPERATION).await;
            match self.call_ok(OPERATION, Method::GET, &url, None).await {
                Ok(body) => {
                    return serde_json::from_slice(&body).map_err(|e| unreadable(&url, e));
                }
                Err(ConnectorError::Throttled { retry_after, .. })
                    if tokio::time::Instant::now() + retry_after < deadline =>
                {
                    tokio::time::sleep(retry_after).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits (bounded by `feed_wait`) for the feed to be processed and
    /// returns every item's status.
    // A bound on waits made with the runtime's own sleeps, so it is read
    // on the runtime's timer (real elapsed time), not on the channel's clock.
    #[allow(clippy::disallowed_methods)]
    pub(super) async fn await_feed(
        &self,
        feed_id: &str,
        items: usize,
    ) -> Result<(String, Option<String>, Vec<ItemStatusWire>), ConnectorError> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.feed_wait;
        let mut delay = FEED_POLL_FIRST;
        let first = loop {
            tokio::time::sleep(delay).await;
            let page = self.feed_page(feed_id, 0, deadline).await?;
            if matches!(page.feed_status.as_str(), "PROCESSED" | "ERROR") {
                break page;
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(ConnectorError::transient(format!(
                    "Walmart inventory feed {feed_id} still {} after {:?}",
                    page.feed_status,
                    started.elapsed()
                )));
            }
            delay = (delay * 2).min(FEED_POLL_MAX);
        };
        let feed_error = first
            .ingestion_errors
            .as_ref()
            .and_then(IngestionErrorsWire::describe);
        let received = first
            .items_received
            .map_or(items, |n| usize::try_from(n).unwrap_or(items));
        let mut details = first
            .item_details
            .map(|d| d.item_ingestion_status)
            .unwrap_or_default();
        let mut offset = FEED_DETAIL_PAGE;
        while offset < received && details.len() < received {
            let page = self.feed_page(feed_id, offset, deadline).await?;
            let more = page
                .item_details
                .map(|d| d.item_ingestion_status)
                .unwrap_or_default();
            if more.is_empty() {
                break;
            }
            details.extend(more);
            offset += FEED_DETAIL_PAGE;
        }
        Ok((first.feed_status, feed_error, details))
    }

    pub(super) async fn publish_feed(
        &self,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut results: Vec<Option<AvailabilityResult>> =
            updates.iter().map(invalid_update).collect();
        // Feed index → update index, for the updates actually sent.
        let sent: Vec<usize> = (0..updates.len())
            .filter(|i| results[*i].is_none())
            .collect();
        if !sent.is_empty() {
            let batch: Vec<&AvailabilityUpdate> = sent.iter().map(|i| &updates[*i]).collect();
            let feed_id = self.submit_inventory_feed(&batch).await?;
            let (status, feed_error, details) = self.await_feed(&feed_id, batch.len()).await?;
            for (n, detail) in details.iter().enumerate() {
                // Matched by the feed's index; by SKU when Walmart omits it.
                let position = detail
                    .index
                    .filter(|i| *i < sent.len())
                    .or_else(|| {
                        let sku = detail.sku.as_deref()?;
                        sent.iter()
                            .position(|i| updates[*i].sku == sku && results[*i].is_none())
                    })
                    .unwrap_or(n);
                let Some(&index) = sent.get(position) else {
                    continue;
                };
                let outcome = if detail.ingestion_status == "SUCCESS" {
                    AvailabilityOutcome::Accepted
                } else {
                    AvailabilityOutcome::Rejected {
                        reason: format!(
                            "Walmart feed {feed_id}: {}",
                            detail
                                .ingestion_errors
                                .as_ref()
                                .and_then(IngestionErrorsWire::describe)
                                .unwrap_or_else(|| detail.ingestion_status.clone())
                        ),
                    }
                };
                results[index] = Some(AvailabilityResult {
                    sku: updates[index].sku.clone(),
                    outcome,
                });
            }
            for &index in &sent {
                if results[index].is_none() {
                    let reason = match (&feed_error, status.as_str()) {
                        (Some(e), _) => format!("Walmart feed {feed_id} failed: {e}"),
                        (None, "ERROR") => format!("Walmart feed {feed_id} failed"),
                        _ => format!("Walmart feed {feed_id} reported nothing for this SKU"),
                    };
                    results[index] = Some(AvailabilityResult {
                        sku: updates[index].sku.clone(),
                        outcome: AvailabilityOutcome::Rejected { reason },
                    });
                }
            }
        }
        Ok(results.into_iter().flatten().collect())
    }
}

impl WalmartChannel {
    pub(super) fn batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        match cadence {
            AvailabilityCadence::Urgent => URGENT_BATCH_LIMIT,
            AvailabilityCadence::Batch => FEED_BATCH_LIMIT,
        }
    }

    pub(super) async fn push_availability(
        &self,
        updates: &[AvailabilityUpdate],
        cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let limit = self.availability_batch_limit(cadence);
        if updates.len() > limit {
            return Err(ConnectorError::rejected(format!(
                "{} availability updates; Walmart takes at most {limit} per {cadence:?} push",
                updates.len()
            )));
        }
        match cadence {
            AvailabilityCadence::Urgent => {
                let mut results = Vec::with_capacity(updates.len());
                for update in updates {
                    match invalid_update(update) {
                        Some(refused) => results.push(refused),
                        None => results.push(self.put_inventory(update).await?),
                    }
                }
                Ok(results)
            }
            AvailabilityCadence::Batch => self.publish_feed(updates).await,
        }
    }
}
