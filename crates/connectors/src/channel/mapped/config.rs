//! `[channels.mapping]`: a `kind = "mapped"` channel's mapping, kept as the
//! TOML table it was written as (so `--print-config` shows it as written)
//! and read into a [`ChannelMapping`] when checked and when built.

use std::sync::Arc;

use super::{ChannelMapping, MappedChannel};
use crate::config::{BuildError, KeyError};
use crate::{Channel, HttpClient};

/// A `ChannelMapping` table (a `{ file = "…" }` is replaced by the file's
/// table when the hub configuration is loaded).
#[derive(Clone, PartialEq)]
pub struct MappedChannelConfig {
    pub table: toml::Table,
}

/// The table may hold the channel's token and signing secret: shown as
/// the mapping it reads as (whose `Debug` redacts them), else by its keys.
impl std::fmt::Debug for MappedChannelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.mapping() {
            Ok(mapping) => f
                .debug_struct("MappedChannelConfig")
                .field("mapping", &mapping)
                .finish(),
            Err(_) => f
                .debug_struct("MappedChannelConfig")
                .field("keys", &self.table.keys().collect::<Vec<_>>())
                .finish_non_exhaustive(),
        }
    }
}

impl MappedChannelConfig {
    /// The mapping, or why the table does not read as one.
    pub fn mapping(&self) -> Result<ChannelMapping, String> {
        toml::Value::Table(self.table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| e.message().trim().to_owned())
    }

    /// The table reads as a mapping and the mapping holds together.
    pub fn validate(&self) -> Result<(), KeyError> {
        let at = |m| KeyError::new("mapping", m);
        self.mapping().map_err(at)?.validate().map_err(at)
    }

    pub fn build(
        &self,
        name: &str,
        base_url: &str,
        http: &HttpClient,
    ) -> Result<Arc<dyn Channel>, BuildError> {
        let mapping = self
            .mapping()
            .map_err(|e| BuildError::Invalid(format!("channel {name}: mapping: {e}")))?;
        Ok(Arc::new(MappedChannel::new(
            name,
            base_url,
            &mapping,
            http.clone(),
        )?))
    }
}
