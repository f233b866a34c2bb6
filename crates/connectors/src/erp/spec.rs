//! The one table of ERP kinds: [`ErpSpec`] has one arm per kind, each
//! holding that system's configuration, so an ERP of one kind with another
//! kind's table cannot be represented. [`ErpTables`] is the written shape
//! (`kind = "…"` plus `[erp.tryton]` or `[erp.mapping]`); `TryFrom` refuses
//! a table for the wrong kind or a missing one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::mapped::ErpMapping;
use super::rest::config::RestErpConfig;
use super::tryton::config::TrytonConfig;
use crate::auth::AuthConfig;
use crate::config::{BuildError, KeyError};
use crate::{Erp, HttpClient};

/// The `kind` key of `[erp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErpKind {
    /// A JSON REST ERP (the simulated one, or one shaped like it).
    Rest,
    /// A Tryton server over JSON-RPC; `base_url` is the server's root and
    /// `[erp.tryton]` says which database and user.
    Tryton,
    /// Any JSON REST ERP (NetSuite-, Business-Central-shaped) described by
    /// `[erp.mapping]`: paths, jq programs for bodies and answers, lookups
    /// by our reference.
    MappedRest,
}

/// The ERP's kind and the configuration only that kind has.
#[derive(Debug, Clone)]
pub enum ErpSpec {
    Rest(RestErpConfig),
    Tryton(TrytonConfig),
    /// Boxed: a mapping is large beside the other kinds.
    MappedRest(Box<ErpMapping>),
}

/// The per-kind tables as written in `[erp]`.
#[derive(Debug, Clone, Default)]
pub struct ErpTables {
    pub tryton: Option<TrytonConfig>,
    pub mapping: Option<ErpMapping>,
}

impl TryFrom<(ErpKind, ErpTables)> for ErpSpec {
    type Error = KeyError;

    fn try_from((kind, tables): (ErpKind, ErpTables)) -> Result<Self, KeyError> {
        let tryton = match (kind, tables.tryton) {
            (ErpKind::Tryton, None) => {
                return Err(KeyError::new(
                    "tryton",
                    "required when erp.kind = \"tryton\"",
                ));
            }
            (_, Some(_)) if kind != ErpKind::Tryton => {
                return Err(KeyError::new("tryton", "only for erp.kind = \"tryton\""));
            }
            (_, t) => t,
        };
        let mapping = match (kind, tables.mapping) {
            (ErpKind::MappedRest, None) => {
                return Err(KeyError::new(
                    "mapping",
                    "required when erp.kind = \"mapped_rest\"",
                ));
            }
            (_, Some(_)) if kind != ErpKind::MappedRest => {
                return Err(KeyError::new(
                    "mapping",
                    "only for erp.kind = \"mapped_rest\"",
                ));
            }
            (_, m) => m,
        };
        Ok(match (kind, tryton, mapping) {
            (ErpKind::Tryton, Some(t), _) => ErpSpec::Tryton(t),
            (ErpKind::MappedRest, _, Some(m)) => ErpSpec::MappedRest(Box::new(m)),
            _ => ErpSpec::Rest(RestErpConfig),
        })
    }
}

impl ErpSpec {
    pub fn kind(&self) -> ErpKind {
        match self {
            ErpSpec::Rest(_) => ErpKind::Rest,
            ErpSpec::Tryton(_) => ErpKind::Tryton,
            ErpSpec::MappedRest(_) => ErpKind::MappedRest,
        }
    }

    /// Back to the written shape (for `--print-config`).
    pub fn into_tables(self) -> (ErpKind, ErpTables) {
        let kind = self.kind();
        let mut tables = ErpTables::default();
        match self {
            ErpSpec::Rest(_) => {}
            ErpSpec::Tryton(t) => tables.tryton = Some(t),
            ErpSpec::MappedRest(m) => tables.mapping = Some(*m),
        }
        (kind, tables)
    }

    /// What can be checked before connecting: the password, the mapping.
    pub fn validate(&self) -> Result<(), KeyError> {
        match self {
            ErpSpec::Rest(_) => Ok(()),
            ErpSpec::Tryton(t) => t.validate(),
            ErpSpec::MappedRest(m) => m.validate_config(),
        }
    }

    /// The connector for the ERP at `base_url`, authenticated as `auth`
    /// says (REST kinds).
    pub fn build(
        &self,
        base_url: &str,
        auth: &AuthConfig,
        http: &HttpClient,
    ) -> Result<Arc<dyn Erp>, BuildError> {
        match self {
            ErpSpec::Rest(c) => c.build(base_url, auth, http),
            ErpSpec::Tryton(t) => t.build(base_url, http),
            ErpSpec::MappedRest(m) => m.build(base_url, auth, http),
        }
    }
}
