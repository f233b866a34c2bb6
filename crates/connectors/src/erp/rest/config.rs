//! `kind = "rest"`: a JSON REST ERP (the simulated one, or one shaped like
//! it). No table of its own: `base_url` and `[erp.auth]` are hub-level keys.

use std::sync::Arc;

use super::RestErp;
use crate::auth::AuthConfig;
use crate::config::BuildError;
use crate::{Erp, HttpClient};

/// Nothing to configure beyond the ERP's hub-level keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestErpConfig;

impl RestErpConfig {
    pub fn build(
        &self,
        base_url: &str,
        auth: &AuthConfig,
        http: &HttpClient,
    ) -> Result<Arc<dyn Erp>, BuildError> {
        Ok(Arc::new(RestErp::with_auth(
            base_url,
            auth.clone(),
            http.clone(),
        )?))
    }
}
