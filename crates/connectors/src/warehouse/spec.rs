//! The one table of warehouse kinds: [`WarehouseSpec`] has one arm per
//! kind, each holding that system's configuration, so a REST warehouse with
//! an `[warehouses.x12]` table cannot be represented. `TryFrom` reads the
//! written shape (`kind`, `base_url`, optional `x12`) and refuses a table
//! for the wrong kind or a missing one.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rest::config::RestWarehouseConfig;
use super::x12_files::X12FileWarehouse;
use super::x12_files::config::X12WarehouseConfig;
use crate::config::{BuildError, KeyError};
use crate::signature::WebhookSigningConfig;
use crate::{HttpClient, Warehouse};

/// The `kind` key of a `[[warehouses]]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarehouseKind {
    /// JSON over HTTP, shipments by webhook.
    Rest,
    /// A 3PL on EDI X12 over a folder exchange (940 out, 945/846/997 in).
    X12Files,
}

/// A warehouse's kind and the configuration only that kind has.
#[derive(Debug, Clone)]
pub enum WarehouseSpec {
    Rest(RestWarehouseConfig),
    X12Files(X12WarehouseConfig),
}

/// The keys of a `[[warehouses]]` entry that depend on its kind, as written.
#[derive(Debug, Clone, Default)]
pub struct WarehouseTables {
    /// For `kind = "rest"`; ignored for other kinds.
    pub base_url: String,
    /// For `kind = "x12_files"`.
    pub x12: Option<X12WarehouseConfig>,
    /// `[warehouses.signing]`, required for `kind = "rest"`: its shipment
    /// webhooks are signed.
    pub signing: Option<WebhookSigningConfig>,
}

impl TryFrom<(WarehouseKind, WarehouseTables)> for WarehouseSpec {
    type Error = KeyError;

    fn try_from((kind, tables): (WarehouseKind, WarehouseTables)) -> Result<Self, KeyError> {
        match (kind, &tables.signing) {
            (WarehouseKind::Rest, None) => {
                return Err(KeyError::new(
                    "signing",
                    "required when kind = \"rest\": every shipment webhook is signed",
                ));
            }
            (WarehouseKind::X12Files, Some(_)) => {
                return Err(KeyError::new("signing", "only for kind = \"rest\""));
            }
            _ => {}
        }
        match (kind, tables.x12) {
            (WarehouseKind::Rest, None) => Ok(WarehouseSpec::Rest(RestWarehouseConfig {
                base_url: tables.base_url,
                signing: tables.signing.unwrap_or_default(),
            })),
            (WarehouseKind::X12Files, Some(x)) => Ok(WarehouseSpec::X12Files(x)),
            (WarehouseKind::X12Files, None) => {
                Err(KeyError::new("x12", "required when kind = \"x12_files\""))
            }
            (WarehouseKind::Rest, Some(_)) => {
                Err(KeyError::new("x12", "only for kind = \"x12_files\""))
            }
        }
    }
}

/// A built warehouse. An EDI partner's folders also need tending (batches
/// out, inbound read on a schedule), so it is handed back as itself too.
pub struct BuiltWarehouse {
    pub warehouse: Arc<dyn Warehouse>,
    pub file_partner: Option<(Arc<X12FileWarehouse>, Duration)>,
}

impl WarehouseSpec {
    pub fn kind(&self) -> WarehouseKind {
        match self {
            WarehouseSpec::Rest(_) => WarehouseKind::Rest,
            WarehouseSpec::X12Files(_) => WarehouseKind::X12Files,
        }
    }

    /// Back to the written shape (for `--print-config`).
    pub fn into_tables(self) -> (WarehouseKind, WarehouseTables) {
        let kind = self.kind();
        let tables = match self {
            WarehouseSpec::Rest(r) => WarehouseTables {
                base_url: r.base_url,
                x12: None,
                signing: Some(r.signing),
            },
            WarehouseSpec::X12Files(x) => WarehouseTables {
                base_url: String::new(),
                x12: Some(x),
                signing: None,
            },
        };
        (kind, tables)
    }

    pub fn validate(&self) -> Result<(), KeyError> {
        match self {
            WarehouseSpec::Rest(r) => r.validate(),
            WarehouseSpec::X12Files(x) => x.validate(),
        }
    }

    /// The connector for warehouse `name` (an EDI partner's folders are
    /// opened, and created if missing).
    pub async fn build(&self, name: &str, http: &HttpClient) -> Result<BuiltWarehouse, BuildError> {
        Ok(match self {
            WarehouseSpec::Rest(r) => BuiltWarehouse {
                warehouse: r.build(name, http)?,
                file_partner: None,
            },
            WarehouseSpec::X12Files(x) => {
                let partner = x.build(name).await?;
                BuiltWarehouse {
                    warehouse: partner.clone(),
                    file_partner: Some((partner, x.poll_interval())),
                }
            }
        })
    }
}
