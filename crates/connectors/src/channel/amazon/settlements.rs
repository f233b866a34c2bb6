//! Settlement reports (Reports API 2021-06-30): `getReports` for
//! `GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2` created since the cursor
//! (paged by `nextToken`), then per report `getReportDocument` and the
//! presigned URL it answers. Both calls take their operation's own pacing
//! bucket. A compressed document is refused with its algorithm named (the
//! hub does not unpack GZIP yet; the simulator serves them uncompressed).

use chrono::{DateTime, Duration, SecondsFormat};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::Deserialize;

use super::client::{AmazonChannel, Operation};
use super::inventory::FeedDocumentLocation;
use crate::http::endpoint;
use crate::{ConnectorError, SettlementDocument};

const REPORT_TYPE: &str = "GET_V2_SETTLEMENT_REPORT_DATA_FLAT_FILE_V2";
/// Amazon lists reports of the last 90 days at most.
const MAX_AGE_DAYS: i64 = 89;
const MAX_PAGES: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportsPage {
    #[serde(default)]
    reports: Vec<Report>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    report_id: String,
    processing_status: String,
    #[serde(default)]
    report_document_id: Option<String>,
}

impl AmazonChannel {
    pub(super) async fn fetch_settlements(
        &self,
        since_ms: i64,
    ) -> Result<Vec<SettlementDocument>, ConnectorError> {
        let now = self.clock.now();
        let since = DateTime::from_timestamp_millis(since_ms)
            .unwrap_or(now)
            .max(now - Duration::days(MAX_AGE_DAYS));
        let list = endpoint(&self.api, &["reports", "2021-06-30", "reports"]);
        let mut url = list.clone();
        url.query_pairs_mut().extend_pairs([
            ("reportTypes", REPORT_TYPE),
            ("processingStatuses", "DONE"),
            ("pageSize", "100"),
            (
                "createdSince",
                &since.to_rfc3339_opts(SecondsFormat::Secs, true),
            ),
        ]);
        let mut documents = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = self
                .get(Operation::GetReports, &url)
                .await?
                .ok_or_else(|| ConnectorError::rejected(format!("{url}: HTTP 404")))?;
            let page: ReportsPage = Self::parse(&url, &body)?;
            for report in page.reports {
                let Some(document_id) = report
                    .report_document_id
                    .filter(|_| report.processing_status == "DONE")
                else {
                    continue;
                };
                let file = self.report_document(&document_id).await?;
                documents.push(SettlementDocument {
                    format: crossdock_model::SettlementFormat::AmazonV2,
                    id: report.report_id,
                    file,
                    transactions: None,
                });
            }
            let Some(token) = page.next_token.filter(|t| !t.is_empty()) else {
                // Oldest first, as the hub imports them (a reserve carries
                // from one settlement to the next).
                documents.reverse();
                return Ok(documents);
            };
            url = list.clone();
            url.query_pairs_mut().append_pair("nextToken", &token);
        }
        Err(ConnectorError::rejected(format!(
            "getReports pagination did not end after {MAX_PAGES} pages"
        )))
    }

    /// `getReportDocument`, then the document at its presigned URL.
    async fn report_document(&self, document_id: &str) -> Result<Vec<u8>, ConnectorError> {
        let url = endpoint(
            &self.api,
            &["reports", "2021-06-30", "documents", document_id],
        );
        let answer = self
            .call(Operation::GetReportDocument, Method::GET, &url, None)
            .await?
            .ok_or_else(|| {
                ConnectorError::rejected(format!(
                    "Amazon does not know report document {document_id}"
                ))
            })?;
        let location: FeedDocumentLocation = Self::parse(&url, &answer)?;
        if let Some(algorithm) = location.compression_algorithm.filter(|a| !a.is_empty()) {
            return Err(ConnectorError::rejected(format!(
                "settlement report document {document_id} is {algorithm}-compressed, \
                 which is not supported"
            )));
        }
        let target = Url::parse(&location.url)
            .map_err(|e| ConnectorError::transient(format!("unusable report URL: {e}")))?;
        let (status, _, body) = self
            .http
            .exchange_raw(Method::GET, target, HeaderMap::new(), None)
            .await?;
        if !status.is_success() {
            return Err(ConnectorError::transient(format!(
                "settlement report {document_id} download: HTTP {}",
                status.as_u16()
            )));
        }
        Ok(body)
    }
}
