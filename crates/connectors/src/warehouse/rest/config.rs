//! `kind = "rest"` warehouses: JSON over HTTP, shipments by signed webhook.
//! The warehouse's `base_url` and `[warehouses.signing]` are its keys.

use std::sync::Arc;

use super::RestWarehouse;
use crate::config::{BuildError, KeyError, check_url};
use crate::signature::WebhookSigningConfig;
use crate::{HttpClient, Warehouse};

/// Where the warehouse's API is and where its webhook secrets are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestWarehouseConfig {
    pub base_url: String,
    pub signing: WebhookSigningConfig,
}

impl RestWarehouseConfig {
    /// `base_url` is an http(s) URL; `signing` names its secrets.
    pub fn validate(&self) -> Result<(), KeyError> {
        check_url(&self.base_url).map_err(|m| KeyError::new("base_url", m))?;
        self.signing.validate()
    }

    pub fn build(&self, name: &str, http: &HttpClient) -> Result<Arc<dyn Warehouse>, BuildError> {
        let verifier = self
            .signing
            .verifier()
            .map_err(|e| BuildError::Invalid(format!("warehouse {name}: {e}")))?;
        Ok(Arc::new(RestWarehouse::new(
            name,
            &self.base_url,
            http.clone(),
            verifier,
        )?))
    }
}
