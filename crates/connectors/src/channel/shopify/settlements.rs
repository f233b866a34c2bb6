//! Payouts (Shopify Payments, REST Admin): `shopify_payments/payouts.json`
//! (status `paid`, dated on or after the cursor's day, `Link` pages), then
//! per payout `payouts/{id}.json` and its
//! `balance/transactions.json?payout_id=` — the two documents the hub's
//! Shopify payout reader takes. Every call goes through the REST call
//! budget like the connector's other calls.

use chrono::DateTime;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::client::ShopifyChannel;
use super::orders::next_page_info;
use crate::http::unreadable;
use crate::{ConnectorError, SettlementDocument};

const MAX_PAGES: usize = 100;

#[derive(Deserialize)]
struct PayoutsPage {
    #[serde(default)]
    payouts: Vec<PayoutHead>,
}

#[derive(Deserialize)]
struct PayoutHead {
    id: Box<RawValue>,
}

impl ShopifyChannel {
    pub(super) async fn fetch_payouts(
        &self,
        since_ms: i64,
    ) -> Result<Vec<SettlementDocument>, ConnectorError> {
        let date_min = DateTime::from_timestamp_millis(since_ms)
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "1970-01-01".to_owned());
        let list = self.url(&["shopify_payments", "payouts.json"]);
        let mut url = list.clone();
        url.query_pairs_mut()
            .append_pair("status", "paid")
            .append_pair("date_min", &date_min)
            .append_pair("limit", "250");
        let mut ids = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some((headers, body)) = self.get_opt(&url).await? else {
                return Err(ConnectorError::rejected(format!("{url}: HTTP 404")));
            };
            let page: PayoutsPage =
                serde_json::from_slice(&body).map_err(|e| unreadable(&url, e))?;
            ids.extend(
                page.payouts
                    .into_iter()
                    .map(|p| p.id.get().trim_matches('"').to_owned()),
            );
            let Some(page_info) = next_page_info(&headers) else {
                let mut documents = Vec::with_capacity(ids.len());
                // Oldest first, as the hub imports them.
                for id in ids.into_iter().rev() {
                    documents.push(self.payout_document(id).await?);
                }
                return Ok(documents);
            };
            url = list.clone();
            url.query_pairs_mut()
                .append_pair("limit", "250")
                .append_pair("page_info", &page_info);
        }
        Err(ConnectorError::rejected(format!(
            "payouts.json pagination did not end after {MAX_PAGES} pages"
        )))
    }

    async fn payout_document(&self, id: String) -> Result<SettlementDocument, ConnectorError> {
        let payout = self.url(&["shopify_payments", "payouts", &format!("{id}.json")]);
        let (_, file) = self
            .get_opt(&payout)
            .await?
            .ok_or_else(|| ConnectorError::rejected(format!("{payout}: HTTP 404")))?;
        let mut transactions = self.url(&["shopify_payments", "balance", "transactions.json"]);
        transactions
            .query_pairs_mut()
            .append_pair("payout_id", &id)
            .append_pair("limit", "250");
        let (_, rows) = self
            .get_opt(&transactions)
            .await?
            .ok_or_else(|| ConnectorError::rejected(format!("{transactions}: HTTP 404")))?;
        Ok(SettlementDocument {
            format: crossdock_model::SettlementFormat::ShopifyPayout,
            id,
            file,
            transactions: Some(rows),
        })
    }
}
