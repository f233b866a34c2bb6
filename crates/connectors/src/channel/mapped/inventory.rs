//! Availability pushes: one call per batch or per SKU, the answer read per SKU by the mapping.

use jaq_json::Val;
use serde_json::value::RawValue;

use super::client::{MappedChannel, url_for};
use super::compile::CompiledAvailability;
use crate::jq::{field, id_text, kind, read_answer, render, to_val};
use crate::{
    AvailabilityCadence, AvailabilityOutcome, AvailabilityResult, AvailabilityUpdate,
    ConnectorError,
};

impl MappedChannel {
    /// One availability call: the body over `updates`, the answer read per SKU.
    pub(super) async fn push_availability(
        &self,
        push: &CompiledAvailability,
        updates: &[AvailabilityUpdate],
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let input = serde_json::json!({
            "updates": updates
                .iter()
                .map(|u| serde_json::json!({
                    "sku": u.sku,
                    "quantity": u.quantity,
                    "previous": u.previous,
                    "idempotency_key": u.idempotency_key,
                }))
                .collect::<Vec<_>>(),
        });
        // jq values are not `Send`: the body is built before the first await.
        let body = {
            let out = push
                .body
                .run_one(to_val(&input))
                .map_err(|e| self.fault("availability.body", e))?;
            let text = render(&out).map_err(|e| self.fault("availability.body", e))?;
            RawValue::from_string(text)
                .map_err(|e| self.fault("availability.body", format!("not JSON: {e}")))?
        };
        let sku = updates.first().map_or("", |u| u.sku.as_str());
        let url = url_for(&self.base, &push.path, &[("sku", sku)]);
        let (_, answer) = self
            .http
            .send_with_headers(push.method.clone(), url.clone(), Some(&*body))
            .await?;
        let Some(results) = &push.results else {
            return Ok(updates
                .iter()
                .map(|u| AvailabilityResult {
                    sku: u.sku.clone(),
                    outcome: AvailabilityOutcome::Accepted,
                })
                .collect());
        };
        let answer = read_answer(&url, &answer)?;
        let out = results
            .run_one(answer)
            .map_err(|e| self.fault("availability.results", e))?;
        let Val::Arr(items) = out else {
            return Err(self.fault(
                "availability.results",
                format!(
                    "expected an array of {{sku, ok, error}}, got {}",
                    kind(&out)
                ),
            ));
        };
        let mut read = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = |e: String| self.fault("availability.results", format!("[{i}].{e}"));
            let sku = field(item, "sku")
                .ok_or_else(|| at("sku: missing".into()))
                .and_then(|v| id_text(v).map_err(|e| at(format!("sku: {e}"))))?;
            let outcome = match field(item, "ok") {
                Some(Val::Bool(true)) => AvailabilityOutcome::Accepted,
                Some(Val::Bool(false)) => AvailabilityOutcome::Rejected {
                    reason: field(item, "error")
                        .and_then(|e| render(e).ok())
                        .unwrap_or_else(|| "refused by the channel".into()),
                },
                _ => return Err(at("ok: expected true or false".into())),
            };
            read.push(AvailabilityResult { sku, outcome });
        }
        Ok(read)
    }
}

impl MappedChannel {
    pub(super) async fn publish(
        &self,
        updates: &[AvailabilityUpdate],
        _cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        let Some(push) = &self.compiled.availability else {
            return Err(self.fault(
                "availability",
                "not mapped: this channel takes no availability",
            ));
        };
        // One call per SKU when the path names it, else the whole batch.
        let calls: Vec<&[AvailabilityUpdate]> = if push.per_sku {
            updates.chunks(1).collect()
        } else {
            vec![updates]
        };
        let mut out = Vec::with_capacity(updates.len());
        for call in calls {
            out.extend(self.push_availability(push, call).await?);
        }
        Ok(out)
    }
}
