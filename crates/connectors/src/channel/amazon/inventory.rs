//! Availability: `patchListingsItem` per SKU for urgent pushes, one `JSON_LISTINGS_FEED` and its processing report for batches.

use std::collections::HashMap;

use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Deserialize;
use tokio::time::Instant;

use super::client::{AmazonChannel, MAX_WAIT, Operation};
use crate::http::endpoint;
use crate::http::unreadable;
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate, Channel,
    ConnectorError,
};

/// SKUs one urgent push takes: `patchListingsItem`'s burst, so a push
/// never waits on its own rate limit.
pub(super) const URGENT_BATCH: usize = 5;
/// Messages one `JSON_LISTINGS_FEED` may carry.
pub(super) const FEED_BATCH: usize = 10_000;
pub(super) const LISTINGS_FEED: &str = "JSON_LISTINGS_FEED";
pub(super) const FEED_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
/// The product type Amazon takes for offer-only changes (quantity, price)
/// of a listing whose catalogue product type is not known to us.
pub(super) const AVAILABILITY_PRODUCT_TYPE: &str = "PRODUCT";

#[derive(Deserialize)]
pub(super) struct ListingsSubmission {
    pub(super) status: String,
    #[serde(default)]
    pub(super) issues: Vec<ListingsIssue>,
}

#[derive(Deserialize)]
pub(super) struct ListingsIssue {
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) severity: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreatedFeedDocument {
    pub(super) feed_document_id: String,
    pub(super) url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreatedFeed {
    pub(super) feed_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FeedStatus {
    pub(super) processing_status: String,
    #[serde(default)]
    pub(super) result_feed_document_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FeedDocumentLocation {
    pub(super) url: String,
    #[serde(default)]
    pub(super) compression_algorithm: Option<String>,
}

/// The parts of a listings feed processing report
/// (listings-feed-processing-report-schema-v2.json) the results come from.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProcessingReport {
    #[serde(default)]
    pub(super) issues: Vec<ReportIssue>,
    #[serde(default)]
    pub(super) summary: Option<ReportSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReportIssue {
    #[serde(default)]
    pub(super) message_id: Option<u64>,
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) severity: String,
    #[serde(default)]
    pub(super) message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReportSummary {
    #[serde(default)]
    pub(super) messages_accepted: Option<u64>,
}

/// The `patches` that set a listing's merchant-fulfilled quantity.
pub(super) fn availability_patches(quantity: i64) -> serde_json::Value {
    serde_json::json!([{
        "op": "replace",
        "path": "/attributes/fulfillment_availability",
        "value": [{ "fulfillment_channel_code": "DEFAULT", "quantity": quantity }],
    }])
}

/// `code: message` of each ERROR issue, joined.
pub(super) fn issue_text<'a>(issues: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    issues
        .map(|(code, message)| {
            if code.is_empty() {
                message.to_owned()
            } else {
                format!("{code}: {message}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A per-SKU refusal found before anything is sent.
pub(super) fn precheck(update: &AvailabilityUpdate) -> Option<AvailabilityOutcome> {
    if update.sku.trim().is_empty() {
        return Some(AvailabilityOutcome::Rejected {
            reason: "empty SKU".to_owned(),
        });
    }
    if update.quantity < 0 {
        return Some(AvailabilityOutcome::Rejected {
            reason: format!("quantity {} is negative", update.quantity),
        });
    }
    None
}

impl AmazonChannel {
    pub(super) fn seller_id(&self) -> Result<&str, ConnectorError> {
        self.seller_id.as_deref().ok_or_else(|| {
            ConnectorError::rejected(format!(
                "Amazon channel {}: no seller id configured; availability needs it",
                self.name
            ))
        })
    }

    pub(super) fn parse<T: serde::de::DeserializeOwned>(
        url: &Url,
        body: &[u8],
    ) -> Result<T, ConnectorError> {
        serde_json::from_slice(body).map_err(|e| unreadable(url, e))
    }

    /// One `patchListingsItem` per SKU. Amazon answers 200 with `ACCEPTED` or
    /// `INVALID` and its issues; a 400 or 404 for one SKU is that SKU's
    /// refusal, not the batch's.
    pub(super) async fn patch_availability(
        &self,
        seller: &str,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut results = Vec::with_capacity(updates.len());
        for update in updates {
            if let Some(outcome) = precheck(update) {
                results.push(AvailabilityResult {
                    sku: update.sku.clone(),
                    outcome,
                });
                continue;
            }
            let mut url = endpoint(
                &self.api,
                &["listings", "2021-08-01", "items", seller, &update.sku],
            );
            url.query_pairs_mut()
                .append_pair("marketplaceIds", &self.marketplace_id)
                .append_pair("issueLocale", "en_US");
            let body = serde_json::json!({
                "productType": AVAILABILITY_PRODUCT_TYPE,
                "patches": availability_patches(update.quantity),
            });
            let body = serde_json::to_vec(&body)
                .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
            let outcome = match self
                .call(
                    Operation::PatchListingsItem,
                    Method::PATCH,
                    &url,
                    Some(body),
                )
                .await
            {
                Ok(Some(answer)) => {
                    let submission: ListingsSubmission = Self::parse(&url, &answer)?;
                    if submission.status == "ACCEPTED" || submission.status == "VALID" {
                        AvailabilityOutcome::Accepted
                    } else {
                        let errors = submission
                            .issues
                            .iter()
                            .filter(|i| i.severity != "WARNING" && i.severity != "INFO")
                            .map(|i| (i.code.as_str(), i.message.as_str()));
                        let text = issue_text(errors);
                        AvailabilityOutcome::Rejected {
                            reason: if text.is_empty() {
                                format!("Amazon answered {}", submission.status)
                            } else {
                                text
                            },
                        }
                    }
                }
                Ok(None) => AvailabilityOutcome::Rejected {
                    reason: format!("Amazon has no listing for SKU {}", update.sku),
                },
                Err(ConnectorError::Rejected { reason }) => {
                    AvailabilityOutcome::Rejected { reason }
                }
                Err(e) => return Err(e),
            };
            results.push(AvailabilityResult {
                sku: update.sku.clone(),
                outcome,
            });
        }
        Ok(results)
    }

    /// One `JSON_LISTINGS_FEED`: createFeedDocument, upload to its presigned
    /// URL, createFeed, getFeed until it ends (at most the configured
    /// wait), then the processing report's issues per `messageId`.
    pub(super) async fn feed_availability(
        &self,
        seller: &str,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let mut outcomes: Vec<Option<AvailabilityOutcome>> = updates.iter().map(precheck).collect();
        // messageId n (from 1) is the n-th update that passed the precheck.
        let sent: Vec<usize> = (0..updates.len())
            .filter(|i| outcomes[*i].is_none())
            .collect();
        if !sent.is_empty() {
            let messages: Vec<serde_json::Value> = sent
                .iter()
                .enumerate()
                .map(|(n, i)| {
                    serde_json::json!({
                        "messageId": n + 1,
                        "sku": updates[*i].sku,
                        "operationType": "PATCH",
                        "productType": AVAILABILITY_PRODUCT_TYPE,
                        "patches": availability_patches(updates[*i].quantity),
                    })
                })
                .collect();
            let feed = serde_json::json!({
                "header": { "sellerId": seller, "version": "2.0", "issueLocale": "en_US" },
                "messages": messages,
            });
            let report = self.run_feed(&feed).await?;
            let mut rejected: HashMap<u64, Vec<(&str, &str)>> = HashMap::new();
            let mut feed_level = Vec::new();
            for issue in report.issues.iter().filter(|i| i.severity == "ERROR") {
                let text = (issue.code.as_str(), issue.message.as_str());
                match issue.message_id {
                    Some(id) => rejected.entry(id).or_default().push(text),
                    None => feed_level.push(text),
                }
            }
            // An error about the feed as a whole refuses every message
            // unless the summary says some were accepted.
            let none_accepted = report
                .summary
                .as_ref()
                .and_then(|s| s.messages_accepted)
                .is_none_or(|n| n == 0);
            for (n, i) in sent.iter().enumerate() {
                let id = n as u64 + 1;
                outcomes[*i] = Some(match rejected.remove(&id) {
                    Some(issues) => AvailabilityOutcome::Rejected {
                        reason: issue_text(issues.into_iter()),
                    },
                    None if !feed_level.is_empty() && none_accepted => {
                        AvailabilityOutcome::Rejected {
                            reason: issue_text(feed_level.iter().copied()),
                        }
                    }
                    None => AvailabilityOutcome::Accepted,
                });
            }
        }
        Ok(updates
            .iter()
            .zip(outcomes)
            .map(|(u, outcome)| AvailabilityResult {
                sku: u.sku.clone(),
                outcome: outcome.unwrap_or(AvailabilityOutcome::Accepted),
            })
            .collect())
    }

    /// Submits a feed document and reads its processing report.
    pub(super) async fn run_feed(
        &self,
        feed: &serde_json::Value,
    ) -> Result<ProcessingReport, ConnectorError> {
        let content = serde_json::to_vec(feed)
            .map_err(|e| ConnectorError::rejected(format!("cannot write feed: {e}")))?;
        let documents = endpoint(&self.api, &["feeds", "2021-06-30", "documents"]);
        let request = serde_json::to_vec(&serde_json::json!({ "contentType": FEED_CONTENT_TYPE }))
            .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
        let answer = self
            .call(
                Operation::CreateFeedDocument,
                Method::POST,
                &documents,
                Some(request),
            )
            .await?
            .ok_or_else(|| ConnectorError::rejected(format!("{documents}: HTTP 404")))?;
        let document: CreatedFeedDocument = Self::parse(&documents, &answer)?;
        self.upload(&document.url, content).await?;

        let feeds = endpoint(&self.api, &["feeds", "2021-06-30", "feeds"]);
        let request = serde_json::to_vec(&serde_json::json!({
            "feedType": LISTINGS_FEED,
            "marketplaceIds": [self.marketplace_id],
            "inputFeedDocumentId": document.feed_document_id,
        }))
        .map_err(|e| ConnectorError::rejected(format!("cannot write request: {e}")))?;
        let answer = self
            .call(Operation::CreateFeed, Method::POST, &feeds, Some(request))
            .await?
            .ok_or_else(|| ConnectorError::rejected(format!("{feeds}: HTTP 404")))?;
        let created: CreatedFeed = Self::parse(&feeds, &answer)?;
        let feed_id = created.feed_id;

        let status_url = endpoint(&self.api, &["feeds", "2021-06-30", "feeds", &feed_id]);
        let polling = self.feed_polling;
        // A bound on waits made with the runtime's own sleeps, so it is read
        // on the runtime's timer (real elapsed time), not on the channel's clock.
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        let result_id = loop {
            let answer = self
                .get(Operation::GetFeed, &status_url)
                .await?
                .ok_or_else(|| {
                    ConnectorError::rejected(format!("Amazon does not know feed {feed_id}"))
                })?;
            let status: FeedStatus = Self::parse(&status_url, &answer)?;
            match status.processing_status.as_str() {
                "DONE" => {
                    break status.result_feed_document_id.ok_or_else(|| {
                        ConnectorError::transient(format!(
                            "feed {feed_id} is DONE without a result document"
                        ))
                    })?;
                }
                "FATAL" => {
                    let detail = match status.result_feed_document_id {
                        Some(id) => {
                            let report = self.read_report(&id).await?;
                            issue_text(
                                report
                                    .issues
                                    .iter()
                                    .map(|i| (i.code.as_str(), i.message.as_str())),
                            )
                        }
                        None => String::new(),
                    };
                    return Err(ConnectorError::rejected(format!(
                        "Amazon refused listings feed {feed_id} (FATAL): {detail}"
                    )));
                }
                "CANCELLED" => {
                    return Err(ConnectorError::transient(format!(
                        "listings feed {feed_id} was cancelled"
                    )));
                }
                other => {
                    if started.elapsed() + polling.interval > polling.max_wait {
                        // The feed may still apply; its quantities are absolute,
                        // so sending them again later is harmless.
                        return Err(ConnectorError::Transient {
                            reason: format!(
                                "listings feed {feed_id} still {other} after {:?}",
                                started.elapsed()
                            ),
                            retry_after: Some(polling.interval),
                        });
                    }
                    tokio::time::sleep(polling.interval).await;
                }
            }
        };
        self.read_report(&result_id).await
    }

    /// PUT to a presigned document URL: not an SP-API call (no token, no
    /// SP-API rate limit), signed for the declared content type.
    pub(super) async fn upload(&self, url: &str, content: Vec<u8>) -> Result<(), ConnectorError> {
        let target = Url::parse(url)
            .map_err(|e| ConnectorError::transient(format!("unusable feed document URL: {e}")))?;
        let (status, _, body) = self
            .http
            .exchange_raw(
                Method::PUT,
                target,
                HeaderMap::new(),
                Some((FEED_CONTENT_TYPE, content)),
            )
            .await?;
        if status.is_success() {
            return Ok(());
        }
        // An expired or refused presigned URL: a new document is needed, so
        // the whole push is worth trying again.
        Err(ConnectorError::transient(format!(
            "feed document upload: HTTP {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&body).trim()
        )))
    }

    /// getFeedDocument for a result document, then its content.
    pub(super) async fn read_report(
        &self,
        document_id: &str,
    ) -> Result<ProcessingReport, ConnectorError> {
        let url = endpoint(
            &self.api,
            &["feeds", "2021-06-30", "documents", document_id],
        );
        // The feed has been applied: waiting longer for this slow operation's
        // token beats sending the whole feed again.
        let answer = self
            .call_waiting(
                Operation::GetFeedDocument,
                Method::GET,
                &url,
                None,
                self.feed_polling.max_wait.max(MAX_WAIT),
            )
            .await?
            .ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "Amazon does not know feed document {document_id}"
                ))
            })?;
        let location: FeedDocumentLocation = Self::parse(&url, &answer)?;
        if let Some(algorithm) = location.compression_algorithm.filter(|a| !a.is_empty()) {
            return Err(ConnectorError::rejected(format!(
                "feed processing report {document_id} is {algorithm}-compressed, \
                 which is not supported"
            )));
        }
        let target = Url::parse(&location.url)
            .map_err(|e| ConnectorError::transient(format!("unusable report URL: {e}")))?;
        let (status, _, body) = self
            .http
            .exchange_raw(Method::GET, target.clone(), HeaderMap::new(), None)
            .await?;
        if !status.is_success() {
            return Err(ConnectorError::transient(format!(
                "feed processing report download: HTTP {}",
                status.as_u16()
            )));
        }
        Self::parse(&target, &body)
    }
}

impl AmazonChannel {
    pub(super) fn batch_limit(&self, cadence: AvailabilityCadence) -> usize {
        match cadence {
            AvailabilityCadence::Urgent => URGENT_BATCH,
            AvailabilityCadence::Batch => FEED_BATCH,
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
                "{} availability updates exceed the {cadence:?} limit of {limit}",
                updates.len()
            )));
        }
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let seller = self.seller_id()?;
        match cadence {
            AvailabilityCadence::Urgent => self.patch_availability(seller, updates).await,
            AvailabilityCadence::Batch => self.feed_availability(seller, updates).await,
        }
    }
}
