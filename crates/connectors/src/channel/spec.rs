//! The one table of channel kinds: [`ChannelSpec`] has one arm per kind,
//! each holding that system's configuration (its folder's `config.rs`), so
//! a channel of one kind with another kind's table cannot be represented.
//!
//! The TOML is written as `kind = "…"` plus an optional table per kind
//! (`[channels.shopify]`, `[channels.mapping]` …). [`ChannelTables`] is that
//! written shape; `TryFrom` turns kind + tables into a spec and is where a
//! table for the wrong kind, or a missing one, is refused. Adding a channel
//! kind: an arm here, a field in `ChannelTables` if it has a table, and the
//! folder (see `docs/adding-a-channel.md`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::amazon::config::AmazonConfig;
use super::mapped::config::MappedChannelConfig;
use super::shopify::config::ShopifyConfig;
use super::walmart::config::WalmartConfig;
use super::webstore::config::WebstoreConfig;
use crate::config::{BuildError, KeyError};
use crate::signature::WebhookSigningConfig;
use crate::{Channel, HttpClient};

/// The `kind` key of a `[[channels]]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// The simulated webstore's own API; `[channels.signing]` names the
    /// secrets its webhooks are signed with.
    Webstore,
    /// A Shopify shop: signed webhooks as triggers, the Admin REST API for
    /// orders and fulfilments; `[channels.shopify]` holds the credentials.
    Shopify,
    /// Walmart Marketplace (v3 API, client-credentials token);
    /// `[channels.walmart]`.
    Walmart,
    /// Amazon Selling Partner API (LWA refresh token); `[channels.amazon]`.
    Amazon,
    /// Any JSON channel described by `[channels.mapping]` (inline, or
    /// `file = "…"` relative to this file): JSON pointers and jq programs
    /// from its payloads to the canonical order, and back for ship
    /// confirmations. No code per channel.
    Mapped,
}

/// A channel's kind and the configuration only that kind has.
#[derive(Debug, Clone)]
pub enum ChannelSpec {
    Webstore(WebstoreConfig),
    Shopify(ShopifyConfig),
    Walmart(WalmartConfig),
    Amazon(AmazonConfig),
    Mapped(MappedChannelConfig),
}

/// The per-kind tables as written in a `[[channels]]` entry.
#[derive(Debug, Clone, Default)]
pub struct ChannelTables {
    pub shopify: Option<ShopifyConfig>,
    pub walmart: Option<WalmartConfig>,
    pub amazon: Option<AmazonConfig>,
    pub mapping: Option<toml::Table>,
    /// `[channels.signing]`: Standard Webhooks secrets (webstore).
    pub signing: Option<WebhookSigningConfig>,
}

impl TryFrom<(ChannelKind, ChannelTables)> for ChannelSpec {
    type Error = KeyError;

    /// Exactly the table of the kind, no other. A mapping is read (and
    /// checked) here, as it is the mapped channel's shape.
    fn try_from((kind, tables): (ChannelKind, ChannelTables)) -> Result<Self, KeyError> {
        let mapped = match (kind, tables.mapping) {
            (ChannelKind::Mapped, None) => {
                return Err(KeyError::new("mapping", "required when kind = \"mapped\""));
            }
            (ChannelKind::Mapped, Some(table)) => {
                let config = MappedChannelConfig { table };
                config.validate()?;
                Some(config)
            }
            (_, Some(_)) => return Err(KeyError::new("mapping", "only for kind = \"mapped\"")),
            (_, None) => None,
        };
        let signing = match (kind, tables.signing) {
            (ChannelKind::Webstore, Some(signing)) => Some(signing),
            (ChannelKind::Webstore, None) => {
                return Err(KeyError::new(
                    "signing",
                    "required when kind = \"webstore\": every webhook is signed",
                ));
            }
            (_, Some(_)) => return Err(KeyError::new("signing", "only for kind = \"webstore\"")),
            (_, None) => None,
        };
        let wanted = match kind {
            ChannelKind::Shopify => Some("shopify"),
            ChannelKind::Walmart => Some("walmart"),
            ChannelKind::Amazon => Some("amazon"),
            ChannelKind::Webstore | ChannelKind::Mapped => None,
        };
        let present = [
            ("shopify", tables.shopify.is_some()),
            ("walmart", tables.walmart.is_some()),
            ("amazon", tables.amazon.is_some()),
        ];
        for (table, set) in present {
            if set && wanted != Some(table) {
                return Err(KeyError::new(table, format!("only for kind = \"{table}\"")));
            }
            if !set && wanted == Some(table) {
                return Err(KeyError::new(
                    table,
                    format!("required when kind = \"{table}\""),
                ));
            }
        }
        // The checks above leave exactly the kind's own table.
        let missing = || KeyError::new("kind", "no table for this kind");
        Ok(match kind {
            ChannelKind::Webstore => ChannelSpec::Webstore(WebstoreConfig {
                signing: signing.ok_or_else(missing)?,
            }),
            ChannelKind::Shopify => ChannelSpec::Shopify(tables.shopify.ok_or_else(missing)?),
            ChannelKind::Walmart => ChannelSpec::Walmart(tables.walmart.ok_or_else(missing)?),
            ChannelKind::Amazon => ChannelSpec::Amazon(tables.amazon.ok_or_else(missing)?),
            ChannelKind::Mapped => ChannelSpec::Mapped(mapped.ok_or_else(missing)?),
        })
    }
}

impl ChannelSpec {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelSpec::Webstore(_) => ChannelKind::Webstore,
            ChannelSpec::Shopify(_) => ChannelKind::Shopify,
            ChannelSpec::Walmart(_) => ChannelKind::Walmart,
            ChannelSpec::Amazon(_) => ChannelKind::Amazon,
            ChannelSpec::Mapped(_) => ChannelKind::Mapped,
        }
    }

    /// Back to the written shape (for `--print-config`).
    pub fn into_tables(self) -> (ChannelKind, ChannelTables) {
        let kind = self.kind();
        let mut tables = ChannelTables::default();
        match self {
            ChannelSpec::Webstore(c) => tables.signing = Some(c.signing),
            ChannelSpec::Shopify(c) => tables.shopify = Some(c),
            ChannelSpec::Walmart(c) => tables.walmart = Some(c),
            ChannelSpec::Amazon(c) => tables.amazon = Some(c),
            ChannelSpec::Mapped(c) => tables.mapping = Some(c.table),
        }
        (kind, tables)
    }

    /// What can be checked before connecting: secrets readable, URLs, the mapping.
    pub fn validate(&self) -> Result<(), KeyError> {
        match self {
            ChannelSpec::Webstore(c) => c.validate(),
            ChannelSpec::Shopify(c) => c.validate(),
            ChannelSpec::Walmart(c) => c.validate(),
            ChannelSpec::Amazon(c) => c.validate(),
            ChannelSpec::Mapped(c) => c.validate(),
        }
    }

    /// The connector for channel `name` at `base_url`.
    pub fn build(
        &self,
        name: &str,
        base_url: &str,
        http: &HttpClient,
    ) -> Result<Arc<dyn Channel>, BuildError> {
        match self {
            ChannelSpec::Webstore(c) => c.build(name, base_url, http),
            ChannelSpec::Shopify(c) => c.build(name, base_url, http),
            ChannelSpec::Walmart(c) => c.build(name, base_url, http),
            ChannelSpec::Amazon(c) => c.build(name, base_url, http),
            ChannelSpec::Mapped(c) => c.build(name, base_url, http),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walmart() -> WalmartConfig {
        WalmartConfig {
            client_id: "id".into(),
            client_secret: Some("secret".into()),
            client_secret_env: None,
            webhook_authorization: None,
        }
    }

    #[test]
    fn a_kind_takes_its_own_table_and_no_other() {
        let spec = ChannelSpec::try_from((
            ChannelKind::Walmart,
            ChannelTables {
                walmart: Some(walmart()),
                ..ChannelTables::default()
            },
        ))
        .unwrap();
        assert_eq!(spec.kind(), ChannelKind::Walmart);
        let (kind, tables) = spec.into_tables();
        assert_eq!(kind, ChannelKind::Walmart);
        assert!(tables.walmart.is_some() && tables.shopify.is_none());

        let missing = ChannelSpec::try_from((ChannelKind::Walmart, ChannelTables::default()));
        assert_eq!(
            missing.unwrap_err(),
            KeyError::new("walmart", "required when kind = \"walmart\"")
        );
        let extra = ChannelSpec::try_from((
            ChannelKind::Webstore,
            ChannelTables {
                walmart: Some(walmart()),
                signing: Some(WebhookSigningConfig::from_file("s")),
                ..ChannelTables::default()
            },
        ));
        assert_eq!(
            extra.unwrap_err(),
            KeyError::new("walmart", "only for kind = \"walmart\"")
        );
        let mapping = ChannelSpec::try_from((
            ChannelKind::Webstore,
            ChannelTables {
                mapping: Some(toml::Table::new()),
                signing: Some(WebhookSigningConfig::from_file("s")),
                ..ChannelTables::default()
            },
        ));
        assert_eq!(
            mapping.unwrap_err(),
            KeyError::new("mapping", "only for kind = \"mapped\"")
        );
        let unsigned = ChannelSpec::try_from((ChannelKind::Webstore, ChannelTables::default()));
        assert_eq!(unsigned.unwrap_err().key, "signing");
        let stray = ChannelSpec::try_from((
            ChannelKind::Walmart,
            ChannelTables {
                walmart: Some(walmart()),
                signing: Some(WebhookSigningConfig::from_file("s")),
                ..ChannelTables::default()
            },
        ));
        assert_eq!(
            stray.unwrap_err(),
            KeyError::new("signing", "only for kind = \"webstore\"")
        );
    }
}
