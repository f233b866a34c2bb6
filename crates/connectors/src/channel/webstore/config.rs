//! `kind = "webstore"`: the simulated webstore's own API. It has no table
//! of its own; the channel's name and `base_url` are all it needs.

use std::sync::Arc;

use super::WebstoreChannel;
use crate::config::BuildError;
use crate::{Channel, HttpClient};

/// Nothing to configure beyond the hub-level keys of the channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebstoreConfig;

impl WebstoreConfig {
    pub fn build(
        &self,
        name: &str,
        base_url: &str,
        http: &HttpClient,
    ) -> Result<Arc<dyn Channel>, BuildError> {
        Ok(Arc::new(WebstoreChannel::new(
            name,
            base_url,
            http.clone(),
        )?))
    }
}
