//! `[channels.amazon]`: a selling partner's LWA credentials and
//! marketplace, and how a `kind = "amazon"` channel is built from them.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AmazonChannel, AmazonOptions, FEED_MAX_WAIT, FEED_POLL_INTERVAL};
use crate::config::{BuildError, KeyError, check_url, secret};
use crate::{Channel, HttpClient};

/// An Amazon selling partner's LWA credentials and marketplace.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmazonConfig {
    /// LWA token endpoint (`https://api.amazon.com/auth/o2/token`).
    pub lwa_url: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_env: Option<String>,
    pub marketplace_id: String,
    /// Selling partner id (Listings API and listings-feed `sellerId`);
    /// needed to push availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    /// How often a submitted listings feed is checked (`getFeed`); Amazon
    /// takes minutes, its simulator seconds.
    #[serde(default = "default_feed_poll_ms")]
    pub feed_poll_ms: u64,
}

/// Where the secrets are, never what they are.
impl std::fmt::Debug for AmazonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmazonConfig")
            .field("lwa_url", &self.lwa_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_secret_env", &self.client_secret_env)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_token_env", &self.refresh_token_env)
            .field("marketplace_id", &self.marketplace_id)
            .field("seller_id", &self.seller_id)
            .field("feed_poll_ms", &self.feed_poll_ms)
            .finish()
    }
}

fn default_feed_poll_ms() -> u64 {
    FEED_POLL_INTERVAL.as_millis() as u64
}

impl AmazonConfig {
    pub fn client_secret(&self) -> Result<String, String> {
        secret(
            "client_secret",
            &self.client_secret,
            &self.client_secret_env,
        )
    }

    pub fn refresh_token(&self) -> Result<String, String> {
        secret(
            "refresh_token",
            &self.refresh_token,
            &self.refresh_token_env,
        )
    }

    /// Both secrets are readable and the token endpoint is a URL.
    pub fn validate(&self) -> Result<(), KeyError> {
        let at = |m| KeyError::new("amazon", m);
        self.client_secret().map_err(at)?;
        self.refresh_token().map_err(at)?;
        check_url(&self.lwa_url).map_err(|m| KeyError::new("amazon.lwa_url", m))?;
        Ok(())
    }

    pub fn build(
        &self,
        name: &str,
        base_url: &str,
        http: &HttpClient,
    ) -> Result<Arc<dyn Channel>, BuildError> {
        let mut channel = AmazonChannel::new(
            AmazonOptions {
                name: name.to_owned(),
                endpoint: base_url.to_owned(),
                lwa_url: self.lwa_url.clone(),
                client_id: self.client_id.clone(),
                client_secret: self.client_secret().map_err(BuildError::Invalid)?,
                refresh_token: self.refresh_token().map_err(BuildError::Invalid)?,
                marketplace_id: self.marketplace_id.clone(),
            },
            http.clone(),
        )?;
        if let Some(seller) = &self.seller_id {
            channel = channel.with_seller_id(seller.clone());
        }
        channel = channel.with_feed_polling(
            Duration::from_millis(self.feed_poll_ms.max(1)),
            FEED_MAX_WAIT,
        );
        Ok(Arc::new(channel))
    }
}
