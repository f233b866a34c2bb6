//! `[erp.tryton]`: how the hub logs in to Tryton and where the stock it
//! reads lives, and how a `kind = "tryton"` ERP is built from it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{SettlementAccounts, TrytonErp, TrytonErpOptions};
use crate::config::{BuildError, KeyError, secret};
use crate::{Erp, HttpClient};

/// How the hub logs in to Tryton and where the stock it reads lives.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrytonConfig {
    pub database: String,
    pub username: String,
    /// Read from this environment variable when set, so no secret needs to
    /// be in the file; otherwise `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Code of the Tryton warehouse sales ship from and stock is read at.
    #[serde(default = "default_warehouse")]
    pub warehouse_code: String,
    /// The hub's name for that warehouse's stock (a warehouse in `[[warehouses]]`).
    pub location: String,
    /// The Tryton web shop whose unique web id makes a duplicate sale impossible.
    #[serde(default = "default_web_shop")]
    pub web_shop: String,
    /// `[erp.tryton.settlement]`: the journal and accounts settlement
    /// journals are posted to, each by code or name (defaults in
    /// `SettlementAccounts::default`).
    /// Boxed: ten names would make every `ErpSpec` as large as this one.
    #[serde(default, skip_serializing_if = "is_default")]
    pub settlement: Box<SettlementAccounts>,
}

/// Where the password is, never what it is.
impl std::fmt::Debug for TrytonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrytonConfig")
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password_env", &self.password_env)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("warehouse_code", &self.warehouse_code)
            .field("location", &self.location)
            .field("web_shop", &self.web_shop)
            .field("settlement", &self.settlement)
            .finish()
    }
}

fn is_default(settlement: &SettlementAccounts) -> bool {
    settlement.is_default()
}

fn default_warehouse() -> String {
    "WH".to_owned()
}

fn default_web_shop() -> String {
    "crossdock".to_owned()
}

impl TrytonConfig {
    /// The password, from the environment variable if one is named.
    pub fn password(&self) -> Result<String, String> {
        secret("password", &self.password, &self.password_env)
    }

    /// The password is readable. (That `location` names one of the hub's
    /// warehouses is the hub configuration's cross-reference to check.)
    pub fn validate(&self) -> Result<(), KeyError> {
        self.password().map_err(|m| KeyError::new("tryton", m))?;
        Ok(())
    }

    pub fn build(&self, base_url: &str, http: &HttpClient) -> Result<Arc<dyn Erp>, BuildError> {
        let mut options = TrytonErpOptions::new(
            base_url,
            &self.database,
            &self.username,
            self.password().map_err(BuildError::Invalid)?,
            &self.location,
        );
        options.warehouse_code = self.warehouse_code.clone();
        options.web_shop_name = self.web_shop.clone();
        options.settlement = (*self.settlement).clone();
        Ok(Arc::new(TrytonErp::new(options, http.clone())?))
    }
}
