//! Shipment confirmations and their read-back, as the mapping's templates say.

use jaq_json::Val;
use serde_json::value::RawValue;

use super::client::{MappedChannel, url_for};
use crate::jq::{field, fill, id_text, kind, read_answer, render, to_val};
use crate::{ConnectorError, ShipConfirmation};

impl MappedChannel {
    pub(super) async fn confirm_by_template(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        let Some(confirm) = &self.compiled.confirm else {
            return Err(self.fault(
                "confirm_shipment",
                "not mapped: this channel takes no ship confirmations",
            ));
        };
        let input = serde_json::json!({
            "package_id": confirmation.package_id,
            "external_order_id": confirmation.external_order_id,
            "shipment": confirmation.shipment,
        });
        // jq values are not `Send`: the body is built before the first await.
        let body = {
            let out = confirm
                .body
                .run_one(to_val(&input))
                .map_err(|e| self.fault("confirm_shipment.body", e))?;
            let text = render(&out).map_err(|e| self.fault("confirm_shipment.body", e))?;
            RawValue::from_string(text)
                .map_err(|e| self.fault("confirm_shipment.body", format!("not JSON: {e}")))?
        };
        let placeholders = [
            ("external_order_id", confirmation.external_order_id.as_str()),
            ("package_id", confirmation.package_id.as_str()),
        ];
        let url = url_for(&self.base, &confirm.path, &placeholders);
        let (_, answer) = self
            .http
            .send_with_headers(confirm.method.clone(), url.clone(), Some(&*body))
            .await?;
        let answer = read_answer(&url, &answer)?;
        let id = confirm
            .id
            .eval(&answer)
            .map_err(|e| self.fault("confirm_shipment.id", e))?;
        id_text(&id).map_err(|e| self.fault("confirm_shipment.id", e))
    }

    pub(super) async fn find_by_template(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let Some(find) = &self.compiled.find else {
            return Err(self.fault(
                "find_shipment",
                "not mapped: a confirmation in doubt cannot be looked up",
            ));
        };
        let placeholders = [
            ("external_order_id", external_order_id),
            ("package_id", package_id),
        ];
        let url = url_for(&self.base, &find.path, &placeholders);
        let query: Vec<(String, String)> = find
            .query
            .iter()
            .map(|(k, v)| (k.clone(), fill(v, &placeholders)))
            .collect();
        let query: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let Some(answer) = self
            .http
            .get_json_opt::<Box<RawValue>>(&url, &query)
            .await?
        else {
            return Ok(None);
        };
        let answer = read_answer(&url, answer.get().as_bytes())?;
        let out = find
            .results
            .run_one(answer)
            .map_err(|e| self.fault("find_shipment.results", e))?;
        let Val::Arr(items) = out else {
            return Err(self.fault(
                "find_shipment.results",
                format!(
                    "expected an array of {{id, package_id}}, got {}",
                    kind(&out)
                ),
            ));
        };
        for (i, item) in items.iter().enumerate() {
            let id_at = |e: String| self.fault("find_shipment.results", format!("[{i}].id: {e}"));
            let package = match field(item, "package_id") {
                Some(v) => id_text(v).map_err(|e| {
                    self.fault("find_shipment.results", format!("[{i}].package_id: {e}"))
                })?,
                None => {
                    return Err(
                        self.fault("find_shipment.results", format!("[{i}]: no \"package_id\""))
                    );
                }
            };
            if package == package_id {
                let id = field(item, "id").ok_or_else(|| id_at("missing".to_owned()))?;
                return id_text(id).map(Some).map_err(id_at);
            }
        }
        Ok(None)
    }
}
