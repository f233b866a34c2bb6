//! `Debug` of the configuration: what a log line would show, so every
//! secret redacted (see `crate::secrets`).

use super::{Config, HubConfig};

/// Shown as `--print-config` shows it (as JSON): every secret redacted,
/// the `[sim]`'s included.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut value = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        crate::secrets::redact_json(&mut value);
        write!(f, "Config {value}")
    }
}

/// The store URL's password never reaches a log.
impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(crate::secrets::redact_url),
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("http_timeout_ms", &self.http_timeout_ms)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .finish()
    }
}
