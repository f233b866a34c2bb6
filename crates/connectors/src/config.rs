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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ShopifyConfig;

    #[test]
    fn a_secret_is_read_from_a_named_file_trimmed_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "  the-file-secret\n").unwrap();
        assert_eq!(
            secret_from("secret", None, None, Some(&path)).unwrap(),
            "the-file-secret"
        );
        // A file wins over an inline value; an unset variable is named.
        assert_eq!(
            secret_from("secret", Some("inline"), None, Some(&path)).unwrap(),
            "the-file-secret"
        );
        let e = secret_from("secret", None, Some("CROSSDOCK_TEST_UNSET_VAR_41"), None);
        assert_eq!(
            e.unwrap_err(),
            "environment variable CROSSDOCK_TEST_UNSET_VAR_41 (secret_env) is not set"
        );
        std::fs::write(&path, "\n").unwrap();
        let e = secret_from("secret", None, None, Some(&path)).unwrap_err();
        assert!(e.ends_with("(secret_file) is empty"), "{e}");
        let e = secret_from("secret", None, None, Some(&dir.path().join("absent"))).unwrap_err();
        assert!(e.contains("absent") && e.contains("secret_file"), "{e}");
        assert_eq!(
            secret_from("secret", None, None, None).unwrap_err(),
            "set secret_env or secret_file"
        );
    }

    #[test]
    fn shopifys_webhook_secret_may_come_from_a_file_like_every_webhook_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shopify.secret");
        std::fs::write(&path, "shpss_from_a_file\n").unwrap();
        let config: ShopifyConfig = toml::from_str(&format!(
            "access_token = \"t\"\nwebhook_secret_file = {:?}\n",
            path.display().to_string()
        ))
        .unwrap();
        assert_eq!(config.webhook_secret().unwrap(), "shpss_from_a_file");
        config.validate().unwrap();
        // Printed back, it names the file, not what the file holds.
        let printed = toml::to_string(&config).unwrap();
        assert!(printed.contains("webhook_secret_file"), "{printed}");
        assert!(!printed.contains("shpss_from_a_file"), "{printed}");
    }
}
