//! What every component's configuration shares: how a secret is read, what
//! a URL must look like, how a problem names its key, and how building a
//! connector fails. A leaf: the per-system `config.rs` files use it, it uses
//! none of them.

use crate::ConnectorError;

/// A problem with one key of a component's table. `key` is relative to the
/// component (`"shopify"`, `"amazon.lwa_url"`, `"mapping"`); the hub
/// configuration prefixes it with where the component sits
/// (`channels[2].`) and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

impl KeyError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Why a configured component could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A secret is missing or a mapping does not read.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("opening the EDI folders of {name}")]
    EdiFolders {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A secret from an environment variable if one is named, else the value.
pub fn secret(name: &str, value: &Option<String>, env: &Option<String>) -> Result<String, String> {
    match (env, value) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| format!("environment variable {var} ({name}_env) is not set")),
        (None, Some(v)) => Ok(v.clone()),
        (None, None) => Err(format!("set {name}_env or {name}")),
    }
}

/// Refuses anything but an `http://` or `https://` URL, quoting it.
pub fn check_url(s: &str) -> Result<(), String> {
    if s.starts_with("http://") || s.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("{s:?} is not an http(s) URL"))
    }
}
