//! `kind = "rest"` warehouses: JSON over HTTP, shipments by webhook. The
//! warehouse's `base_url` is its only key.

use std::sync::Arc;

use super::RestWarehouse;
use crate::config::{BuildError, KeyError, check_url};
use crate::{HttpClient, Warehouse};

/// Where the warehouse's API is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestWarehouseConfig {
    pub base_url: String,
}

impl RestWarehouseConfig {
    /// `base_url` is an http(s) URL.
    pub fn validate(&self) -> Result<(), KeyError> {
        check_url(&self.base_url).map_err(|m| KeyError::new("base_url", m))
    }

    pub fn build(&self, name: &str, http: &HttpClient) -> Result<Arc<dyn Warehouse>, BuildError> {
        Ok(Arc::new(RestWarehouse::new(
            name,
            &self.base_url,
            http.clone(),
        )?))
    }
}
