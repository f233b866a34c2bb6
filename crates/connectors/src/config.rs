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
        (None, None) => Err(format!("set {name}_env or {name}")),
        (env, value) => secret_from(name, value.as_deref(), env.as_deref(), None),
    }
}

/// The one way a secret is read: from the environment variable named by
/// `{name}_env`, else from the file named by `{name}_file` (surrounding
/// whitespace trimmed), else the inline value where a component still
/// allows one. Errors say where the secret was looked for, never what it
/// holds.
pub fn secret_from(
    name: &str,
    inline: Option<&str>,
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<String, String> {
    match (env, file, inline) {
        (Some(var), _, _) => std::env::var(var)
            .map_err(|_| format!("environment variable {var} ({name}_env) is not set")),
        (None, Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read {} ({name}_file): {}", path.display(), e.kind())
            })?;
            let text = text.trim();
            if text.is_empty() {
                return Err(format!("{} ({name}_file) is empty", path.display()));
            }
            Ok(text.to_owned())
        }
        (None, None, Some(v)) => Ok(v.to_owned()),
        (None, None, None) => Err(format!("set {name}_env or {name}_file")),
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
