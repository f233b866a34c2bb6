//! `kind = "webstore"`: the simulated webstore's own API. Its one table,
//! `[channels.signing]`, says where the webhook signing secrets are.

use std::sync::Arc;

use super::WebstoreChannel;
use crate::config::{BuildError, KeyError};
use crate::signature::WebhookSigningConfig;
use crate::{Channel, HttpClient};

/// The webstore signs its webhooks (Standard Webhooks); nothing else to configure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebstoreConfig {
    pub signing: WebhookSigningConfig,
}

impl WebstoreConfig {
    pub fn validate(&self) -> Result<(), KeyError> {
        self.signing.validate()
    }

    pub fn build(
        &self,
        name: &str,
        base_url: &str,
        http: &HttpClient,
    ) -> Result<Arc<dyn Channel>, BuildError> {
        let verifier = self
            .signing
            .verifier()
            .map_err(|e| BuildError::Invalid(format!("channel {name}: {e}")))?;
        Ok(Arc::new(WebstoreChannel::new(
            name,
            base_url,
            http.clone(),
            verifier,
        )?))
    }
}
