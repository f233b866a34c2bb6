//! The demo estate's webhook signing key: one random secret in `data_dir`
//! that the hub's signed sources and the `[sim]`'s senders share.

use std::path::{Path, PathBuf};

use crossdock_connectors::signature::WebhookSigningConfig;
use crossdock_sim::SigningSimConfig;

use super::{ChannelSpec, Config, WarehouseSpec};

/// The file, in `data_dir`, holding the demo estate's webhook signing key.
pub(super) const DEMO_SIGNING_SECRET: &str = "webhook-signing.secret";

impl Config {
    /// Where the demo keeps the key its webstore and warehouses sign with.
    pub fn demo_signing_secret_path(&self) -> PathBuf {
        self.hub.data_dir.join(DEMO_SIGNING_SECRET)
    }

    /// Points every signed source, the hub's and the `[sim]`'s, at the demo
    /// key in `data_dir` (after a caller moved `data_dir`), writing a fresh
    /// random key there (owner-only) unless one is there already. For the
    /// demo and tests; a deployment names its own secrets.
    pub fn use_demo_signing_secret(&mut self) -> std::io::Result<PathBuf> {
        let path = self.demo_signing_secret_path();
        if !path.exists() {
            std::fs::create_dir_all(&self.hub.data_dir)?;
            let key: [u8; 32] = rand::random();
            let text = crossdock_connectors::signature::WebhookSecret::from_bytes(&key)
                .map_err(std::io::Error::other)?
                .to_whsec();
            write_owner_only(&path, &text)?;
        }
        for c in &mut self.channels {
            if let ChannelSpec::Webstore(w) = &mut c.spec {
                w.signing = WebhookSigningConfig::from_file(&path);
            }
        }
        for w in &mut self.warehouses {
            if let WarehouseSpec::Rest(r) = &mut w.spec {
                r.signing = WebhookSigningConfig::from_file(&path);
            }
        }
        if let Some(sim) = &mut self.sim {
            sim.sign_webhooks_with(&SigningSimConfig::from_file(&path));
        }
        Ok(path)
    }
}

fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
