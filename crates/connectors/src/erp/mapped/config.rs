//! `[erp.mapping]`: a `kind = "mapped_rest"` ERP is its [`ErpMapping`]
//! (paths, jq programs for bodies and answers, lookups by our reference);
//! here it is checked and built.

use std::sync::Arc;

use super::{ErpMapping, MappedRestErp};
use crate::auth::AuthConfig;
use crate::config::{BuildError, KeyError};
use crate::{Erp, HttpClient};

impl ErpMapping {
    /// The mapping holds together, named by its key.
    pub fn validate_config(&self) -> Result<(), KeyError> {
        self.validate().map_err(|m| KeyError::new("mapping", m))
    }

    pub fn build(
        &self,
        base_url: &str,
        auth: &AuthConfig,
        http: &HttpClient,
    ) -> Result<Arc<dyn Erp>, BuildError> {
        Ok(Arc::new(MappedRestErp::with_auth(
            base_url,
            self,
            auth.clone(),
            http.clone(),
        )?))
    }
}
