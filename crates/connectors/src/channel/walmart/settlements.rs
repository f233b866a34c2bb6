//! Reconciliation reports (v1): `availableReconFiles` lists the report
//! dates (MMDDYYYY); each dated on or after a week before the cursor's day
//! is read with `reconFile`. Both go through the connector's per-operation
//! rate budget like its other calls. The real file comes as a zip holding
//! the CSV; the hub does not unpack zips yet, so one is refused by name
//! (the simulator serves the CSV itself).

use chrono::{DateTime, Duration, NaiveDate};
use reqwest::Method;
use serde::Deserialize;

use super::client::WalmartChannel;
use crate::{ConnectorError, SettlementDocument};

/// How far before the cursor's day report dates are listed again: Walmart
/// may publish a report some days after its date.
const LOOKBACK_DAYS: i64 = 7;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AvailableFiles {
    #[serde(default)]
    available_ap_report_dates: Vec<String>,
}

impl WalmartChannel {
    pub(super) async fn fetch_recon_reports(
        &self,
        since_ms: i64,
    ) -> Result<Vec<SettlementDocument>, ConnectorError> {
        let from = DateTime::from_timestamp_millis(since_ms)
            .map(|t| t.date_naive() - Duration::days(LOOKBACK_DAYS))
            .unwrap_or(NaiveDate::MIN);
        let mut list = self.url(&["v3", "report", "reconreport", "availableReconFiles"]);
        list.query_pairs_mut().append_pair("reportVersion", "v1");
        self.pace("availableReconFiles").await;
        let body = self
            .call_ok("availableReconFiles", Method::GET, &list, None)
            .await?;
        let files: AvailableFiles = serde_json::from_slice(&body).map_err(|e| {
            ConnectorError::transient(format!("unreadable availableReconFiles answer: {e}"))
        })?;
        let mut dates: Vec<(NaiveDate, String)> = Vec::new();
        for raw in files.available_ap_report_dates {
            match NaiveDate::parse_from_str(&raw, "%m%d%Y") {
                Ok(date) if date >= from => dates.push((date, raw)),
                Ok(_) => {}
                Err(e) => {
                    return Err(ConnectorError::rejected(format!(
                        "availableReconFiles: report date {raw:?} is not MMDDYYYY: {e}"
                    )));
                }
            }
        }
        // Oldest first, as the hub imports them.
        dates.sort();
        let mut documents = Vec::with_capacity(dates.len());
        for (_, raw) in dates {
            let mut url = self.url(&["v3", "report", "reconreport", "reconFile"]);
            url.query_pairs_mut()
                .append_pair("reportDate", &raw)
                .append_pair("reportVersion", "v1");
            self.pace("reconFile").await;
            let file = self.call_ok("reconFile", Method::GET, &url, None).await?;
            if file.starts_with(b"PK") {
                return Err(ConnectorError::rejected(format!(
                    "reconciliation report {raw} is a zip, which is not supported yet"
                )));
            }
            documents.push(SettlementDocument {
                format: crossdock_model::SettlementFormat::WalmartRecon,
                id: raw,
                file,
                transactions: None,
            });
        }
        Ok(documents)
    }
}
