//! The flags by which an operator command finds the store.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use crossdock_store::Store;

use crate::config::Config;

/// Where the store is: a configuration file, a PostgreSQL URL, or a data directory.
#[derive(Args, Clone)]
pub struct StoreArgs {
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, env = "CROSSDOCK_DATABASE_URL")]
    database_url: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// These flags, with `config` as the configuration when none was given.
    pub fn with_config(mut self, config: &std::path::Path) -> Self {
        self.config.get_or_insert_with(|| config.to_owned());
        self
    }

    /// The configuration file given, if any.
    pub fn config(&self) -> Option<&std::path::Path> {
        self.config.as_deref()
    }

    pub async fn open(&self) -> anyhow::Result<Store> {
        let url = if let Some(u) = &self.database_url {
            u.clone()
        } else if let Some(d) = &self.data_dir {
            format!("sqlite://{}", d.join("crossdock.db").display())
        } else if let Some(c) = &self.config {
            Config::load(c)?.database_url()
        } else {
            format!(
                "sqlite://{}",
                PathBuf::from(".crossdock").join("crossdock.db").display()
            )
        };
        Store::open(&url)
            .await
            .with_context(|| format!("opening the store at {}", crate::secrets::redact_url(&url)))
    }
}
