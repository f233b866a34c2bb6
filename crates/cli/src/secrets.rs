//! Which configuration values are secrets, and the configuration as it may
//! be shown: `--print-config`, `config plan`, the version hash, a store URL
//! in a message. A secret is shown as `<redacted>`; where it lives
//! (`*_env`, `*_file`) is shown, as that is what an operator needs.
//!
//! Secrets are found by their key's name, so a connector adding a
//! `password` or `*_token` key is covered without a change here; the test
//! `no_secret_in_print_config_errors_logs_or_metrics` puts a distinct value
//! in every secret-bearing key and scans every output for them.

use sha2::{Digest, Sha256};

/// What a secret is shown as.
pub const REDACTED: &str = "<redacted>";

/// Whether the key (its last segment) names a secret value: a password,
/// a token, a client or webhook secret, an `Authorization` header value.
/// `*_env` and `*_file` name where a secret is, and `token_url`,
/// `token_ttl_secs` describe a token endpoint: none of them is one.
pub fn is_secret_key(key: &str) -> bool {
    let last = key
        .rsplit(['.', '['])
        .next()
        .unwrap_or(key)
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if ["_env", "_file", "_url", "_secs", "_ms"]
        .iter()
        .any(|s| last.ends_with(s))
    {
        return false;
    }
    last.contains("secret")
        || last.contains("password")
        || last.contains("authorization")
        || last == "token"
        || last.ends_with("_token")
        // A mapped channel's `auth = { kind = "api_key", header, key }`.
        || last == "key"
        || last == "api_key"
}

/// A URL with its password (`scheme://user:PASSWORD@host`) redacted.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
        None => url.to_owned(),
    }
}

/// Replace every secret string in `value` (a serialized configuration) by
/// [`REDACTED`], and the password of every `*_url` value.
pub fn redact_json(value: &mut serde_json::Value) {
    redact_json_under("", value);
}

fn redact_json_under(key: &str, value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if is_secret_key(key) => *s = REDACTED.to_owned(),
        Value::String(s) if key.ends_with("_url") => *s = redact_url(s),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                redact_json_under(k, v);
            }
        }
        // A list of secrets (rare) is a list under a secret's key.
        Value::Array(items) => {
            for v in items {
                redact_json_under(key, v);
            }
        }
        _ => {}
    }
}

/// [`redact_json`] for a TOML value.
pub fn redact_toml(value: &mut toml::Value) {
    redact_toml_under("", value);
}

fn redact_toml_under(key: &str, value: &mut toml::Value) {
    use toml::Value;
    match value {
        Value::String(s) if is_secret_key(key) => *s = REDACTED.to_owned(),
        Value::String(s) if key.ends_with("_url") => *s = redact_url(s),
        Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                redact_toml_under(k, v);
            }
        }
        Value::Array(items) => {
            for v in items {
                redact_toml_under(key, v);
            }
        }
        _ => {}
    }
}

/// `value` as text with every object's keys sorted: the same value gives
/// the same text whatever order its maps were built in.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// SHA-256 (lower-case hex) of `value`'s canonical text, secrets redacted:
/// two hubs running the same configuration get the same hash, and the
/// hash says nothing about a secret.
pub fn version_hash(mut value: serde_json::Value) -> String {
    redact_json(&mut value);
    let digest = Sha256::digest(canonical_json(&value).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_told_from_where_secrets_live() {
        for k in [
            "password",
            "erp.tryton.password",
            "access_token",
            "refresh_token",
            "client_secret",
            "webhook_secret",
            "secret",
            "token",
            "webhook_authorization",
            "channels[shop].shopify.access_token",
            "key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "password_env",
            "secret_file",
            "previous_secret_env",
            "token_url",
            "token_ttl_secs",
            "client_id",
            "lwa_url",
            "name",
            "message_key",
            "key_env",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn redaction_keeps_shape_and_hides_values() {
        let mut v = json!({
            "hub": { "database_url": "postgres://hub:pw1@db:5432/crossdock" },
            "erp": { "auth": { "kind": "bearer", "token": "tok1" } },
            "channels": [{ "shopify": { "access_token": "tok2", "access_token_env": "SHOP_TOKEN" } }],
            "sim": { "walmart": { "token": { "rate": 5 } } },
        });
        redact_json(&mut v);
        let text = v.to_string();
        for secret in ["pw1", "tok1", "tok2"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(
            v["channels"][0]["shopify"]["access_token_env"],
            "SHOP_TOKEN"
        );
        assert_eq!(
            v["hub"]["database_url"],
            "postgres://hub:<redacted>@db:5432/crossdock"
        );
        // A table under a secret-like name is not a secret value.
        assert_eq!(v["sim"]["walmart"]["token"]["rate"], 5);
    }

    #[test]
    fn version_hash_ignores_key_order_and_secret_values() {
        let a = json!({ "b": 1, "a": { "password": "one", "x": [1, 2] } });
        let b = json!({ "a": { "x": [1, 2], "password": "two" }, "b": 1 });
        assert_eq!(version_hash(a.clone()), version_hash(b));
        let c = json!({ "b": 2, "a": { "password": "one", "x": [1, 2] } });
        assert_ne!(version_hash(a.clone()), version_hash(c));
        assert_eq!(version_hash(a).len(), 64);
    }

    #[test]
    fn urls_without_a_password_are_kept() {
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/db"),
            "postgres://postgres@127.0.0.1/db"
        );
    }
}
