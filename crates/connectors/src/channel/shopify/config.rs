//! `[channels.shopify]`: a shop connection's credentials, and how a
//! `kind = "shopify"` channel is built from them.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DEFAULT_API_VERSION, ShopifyChannel, ShopifyOptions};
use crate::config::{BuildError, KeyError, secret, secret_from};
use crate::{Channel, HttpClient};

/// Credentials of a Shopify shop connection. Each secret comes from the
/// named environment variable when one is given (the webhook secret also
/// from a named file, as every webhook secret may), else inline.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_file: Option<PathBuf>,
    #[serde(default = "default_api_version")]
    pub api_version: String,
}

/// Where the secrets are, never what they are.
impl std::fmt::Debug for ShopifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("access_token_env", &self.access_token_env)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("webhook_secret_env", &self.webhook_secret_env)
            .field("webhook_secret_file", &self.webhook_secret_file)
            .field("api_version", &self.api_version)
            .finish()
    }
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}

impl ShopifyConfig {
    pub fn access_token(&self) -> Result<String, String> {
        secret("access_token", &self.access_token, &self.access_token_env)
    }

    pub fn webhook_secret(&self) -> Result<String, String> {
        if self.webhook_secret_file.is_none() {
            return secret(
                "webhook_secret",
                &self.webhook_secret,
                &self.webhook_secret_env,
            );
        }
        secret_from(
            "webhook_secret",
            self.webhook_secret.as_deref(),
            self.webhook_secret_env.as_deref(),
            self.webhook_secret_file.as_deref(),
        )
    }

    /// Both secrets are readable.
    pub fn validate(&self) -> Result<(), KeyError> {
        let at = |m| KeyError::new("shopify", m);
        self.access_token().map_err(at)?;
        self.webhook_secret().map_err(at)?;
        Ok(())
    }

    pub fn build(
        &self,
        name: &str,
        base_url: &str,
        http: &HttpClient,
    ) -> Result<Arc<dyn Channel>, BuildError> {
        let mut options = ShopifyOptions::new(
            name,
            base_url,
            self.access_token().map_err(BuildError::Invalid)?,
            self.webhook_secret().map_err(BuildError::Invalid)?,
        );
        options.api_version = self.api_version.clone();
        Ok(Arc::new(ShopifyChannel::new(options, http.clone())?))
    }
}
