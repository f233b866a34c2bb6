//! The mapped channel itself: its HTTP client (with the mapping's auth header), its compiled mapping, and the `impl Channel` that hands each job to its file.

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::HeaderMap;

use super::compile::CompiledMapping;
use super::mapping::{ChannelMapping, secret};
use crate::config::secret_from;
use crate::http::{base_url, endpoint};
use crate::jq::fill_path;
use crate::{
    AvailabilityCadence, AvailabilityResult, AvailabilityUpdate, Channel, ChannelEvent,
    ConnectorError, HttpClient, InboundEnvelope, InputError, ShipConfirmation,
};

/// A channel driven by a [`ChannelMapping`].
pub struct MappedChannel {
    pub(super) name: String,
    pub(super) base: Url,
    pub(super) http: HttpClient,
    pub(super) webhook_secret: Option<Vec<u8>>,
    pub(super) compiled: CompiledMapping,
}

impl std::fmt::Debug for MappedChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedChannel")
            .field("name", &self.name)
            .field("base", &self.base.as_str())
            .field("version", &self.compiled.version)
            .finish_non_exhaustive()
    }
}

impl MappedChannel {
    /// Compiles the mapping and reads its secrets (webhook signature, auth)
    /// now, so a missing one is a startup error rather than a refused order.
    pub fn new(
        name: impl Into<String>,
        base_url_str: &str,
        mapping: &ChannelMapping,
        http: HttpClient,
    ) -> Result<Self, ConnectorError> {
        let name = name.into();
        let refuse = |e: String| {
            ConnectorError::rejected(format!(
                "channel {name}: mapping version {}: {e}",
                mapping.version
            ))
        };
        let compiled = CompiledMapping::compile(mapping).map_err(refuse)?;
        let webhook_secret = mapping
            .webhook
            .signature
            .as_ref()
            .map(|s| {
                let from_file = s.secret_file.as_deref();
                match from_file {
                    None => secret("secret", &s.secret, &s.secret_env),
                    Some(_) => secret_from(
                        "secret",
                        s.secret.as_deref(),
                        s.secret_env.as_deref(),
                        from_file,
                    ),
                }
                .map(String::into_bytes)
                .map_err(|e| refuse(format!("webhook.signature: {e}")))
            })
            .transpose()?;
        let http = match mapping.auth.header().map_err(refuse)? {
            Some((name, value)) => http.with_header(name, value),
            None => http,
        };
        Ok(MappedChannel {
            base: base_url(base_url_str)?,
            name,
            http,
            webhook_secret,
            compiled,
        })
    }
}

impl MappedChannel {
    pub(super) fn fault(&self, field: &str, message: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::rejected(format!(
            "{field}: {message} (channel {} mapping version {})",
            self.name, self.compiled.version
        ))
    }
}

#[async_trait]
impl Channel for MappedChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_webhook(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<InboundEnvelope, InputError> {
        self.verified_webhook(headers, body)
    }

    fn map_message(&self, body: &[u8]) -> Result<ChannelEvent, InputError> {
        self.compiled.map_message(&self.name, body)
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(InboundEnvelope, Vec<u8>)>, ConnectorError> {
        self.poll_orders(since_ms).await
    }

    async fn confirm_shipment(
        &self,
        confirmation: &ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        self.confirm_by_template(confirmation).await
    }

    fn availability_batch_limit(&self, _cadence: AvailabilityCadence) -> usize {
        match &self.compiled.availability {
            Some(a) if a.per_sku => 10,
            Some(a) => a.batch_limit,
            None => 1,
        }
    }

    async fn publish_availability(
        &self,
        updates: &[AvailabilityUpdate],
        _cadence: AvailabilityCadence,
    ) -> Result<Vec<AvailabilityResult>, ConnectorError> {
        self.publish(updates, _cadence).await
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.find_by_template(external_order_id, package_id).await
    }
}

/// A path template filled and percent-encoded segment by segment.
pub(super) fn url_for(base: &Url, template: &str, placeholders: &[(&str, &str)]) -> Url {
    let segments = fill_path(template, placeholders);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    endpoint(base, &segments)
}
