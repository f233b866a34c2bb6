//! `[channels.walmart]`: a seller account's credentials, and how a
//! `kind = "walmart"` channel is built from them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{WalmartChannel, WalmartOptions};
use crate::config::{BuildError, KeyError, secret};
use crate::{Channel, HttpClient};

/// Credentials of a Walmart Marketplace seller account.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalmartConfig {
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// The `Authorization` header value webhook deliveries must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_authorization: Option<String>,
}

/// Where the secrets are, never what they are.
impl std::fmt::Debug for WalmartConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalmartConfig")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_secret_env", &self.client_secret_env)
            .field(
                "webhook_authorization",
                &self.webhook_authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl WalmartConfig {
    pub fn client_secret(&self) -> Result<String, String> {
        secret(
            "client_secret",
            &self.client_secret,
            &self.client_secret_env,
        )
    }

    /// The client secret is readable.
    pub fn validate(&self) -> Result<(), KeyError> {
        self.client_secret()
            .map_err(|m| KeyError::new("walmart", m))?;
        Ok(())
    }

    pub fn build(
        &self,
        name: &str,
        base_url: &str,
        http: &HttpClient,
    ) -> Result<Arc<dyn Channel>, BuildError> {
        let mut options = WalmartOptions::new(
            name,
            base_url,
            &self.client_id,
            self.client_secret().map_err(BuildError::Invalid)?,
        );
        options.webhook_authorization = self.webhook_authorization.clone();
        Ok(Arc::new(WalmartChannel::new(options, http.clone())?))
    }
}
