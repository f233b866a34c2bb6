//! `[warehouses.x12]`: the folder exchange with one EDI trading partner,
//! and how a `kind = "x12_files"` warehouse is opened from it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{X12FileWarehouse, X12PartnerOptions};
use crate::config::{BuildError, KeyError};

/// The folder exchange with one EDI trading partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X12WarehouseConfig {
    /// Holds outbound/, inbound/, archive/, quarantine/ (created if missing).
    pub root: PathBuf,
    /// ISA08/GS03 of the partner; default: the warehouse name in upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// ISA06/GS02 of the hub.
    #[serde(default = "default_sender")]
    pub sender_id: String,
    /// How often queued 940s go out as one interchange.
    #[serde(default = "default_batch_ms")]
    pub batch_interval_ms: u64,
    /// How often inbound/ is read.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// ISA15: `P` or `T`.
    #[serde(default = "default_usage")]
    pub usage: char,
}

fn default_sender() -> String {
    "CROSSDOCK".to_owned()
}

fn default_batch_ms() -> u64 {
    3_600_000
}

fn default_poll_ms() -> u64 {
    5_000
}

fn default_usage() -> char {
    'T'
}

impl X12WarehouseConfig {
    /// Intervals of at least 1 ms, usage `P` or `T`.
    pub fn validate(&self) -> Result<(), KeyError> {
        if self.batch_interval_ms == 0 || self.poll_interval_ms == 0 {
            return Err(KeyError::new(
                "x12",
                "batch_interval_ms and poll_interval_ms must be at least 1",
            ));
        }
        if !matches!(self.usage, 'P' | 'T') {
            return Err(KeyError::new(
                "x12.usage",
                format!("{:?} must be 'P' or 'T'", self.usage),
            ));
        }
        Ok(())
    }

    /// How often the hub reads the partner's inbound folder.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// Opens (creating if missing) the partner's folders.
    pub async fn build(&self, name: &str) -> Result<Arc<X12FileWarehouse>, BuildError> {
        let mut options = X12PartnerOptions::new(name, &self.root);
        if let Some(id) = &self.partner_id {
            options.receiver_id = id.clone();
        }
        options.sender_id = self.sender_id.clone();
        options.usage = self.usage;
        options.batch_interval = Duration::from_millis(self.batch_interval_ms);
        let partner =
            X12FileWarehouse::open(options)
                .await
                .map_err(|e| BuildError::EdiFolders {
                    name: name.to_owned(),
                    source: Box::new(e),
                })?;
        Ok(Arc::new(partner))
    }
}
