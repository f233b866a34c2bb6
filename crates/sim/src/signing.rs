//! How the simulated webstore and warehouses sign their webhooks: Standard
//! Webhooks, as docs/sim-api.md describes. Written here from the
//! specification, not taken from the hub's verifier, so a mistake in one is
//! caught by the other.
//!
//! Each attempt is signed when it is sent: `webhook-id` stays the message's
//! id across retries, `webhook-timestamp` is the attempt's, and no two
//! attempts of one message carry the same timestamp (a byte-identical
//! attempt is what the hub refuses as a replay once it has committed one).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// `[sim.channel.signing]`, `[sim.warehouses.signing]`: where the key the
/// simulator signs with is (the same secret the hub is configured with).
/// Named, never written inline, so a printed configuration shows no secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSimConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
}

impl SigningSimConfig {
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        SigningSimConfig {
            secret_env: None,
            secret_file: Some(path.into()),
        }
    }

    /// Reads the `whsec_<base64>` secret. Errors say where, never what.
    pub(crate) fn signer(&self, at: &str) -> anyhow::Result<Signer> {
        let text = match (&self.secret_env, &self.secret_file) {
            (Some(var), None) => std::env::var(var).map_err(|_| {
                anyhow::anyhow!("{at}.signing: environment variable {var} is not set")
            })?,
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("{at}.signing: cannot read {}: {}", path.display(), e.kind())
            })?,
            _ => anyhow::bail!("{at}.signing: set one of secret_env and secret_file"),
        };
        let text = text.trim();
        let key = BASE64
            .decode(text.strip_prefix("whsec_").unwrap_or(text))
            .map_err(|_| anyhow::anyhow!("{at}.signing: the secret is not whsec_<base64>"))?;
        anyhow::ensure!(!key.is_empty(), "{at}.signing: the secret is empty");
        Ok(Signer {
            key,
            last_timestamp: Mutex::new(HashMap::new()),
        })
    }
}

/// Signs attempts with one key.
pub(crate) struct Signer {
    key: Vec<u8>,
    /// The last timestamp each message was signed with, so the next attempt
    /// gets a later one.
    last_timestamp: Mutex<HashMap<String, i64>>,
}

/// Attempts older than this are forgotten: the hub would refuse them as stale.
const FORGET_AFTER_SECS: i64 = 900;

impl Signer {
    /// The three headers of one attempt of message `id` with `body`.
    pub(crate) fn headers(&self, id: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let now = Utc::now().timestamp();
        let timestamp = {
            let mut last = self
                .last_timestamp
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.len() > 10_000 {
                last.retain(|_, at| *at > now - FORGET_AFTER_SECS);
            }
            let at = match last.get(id) {
                Some(previous) if *previous >= now => previous + 1,
                _ => now,
            };
            last.insert(id.to_owned(), at);
            at
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let signature = BASE64.encode(mac.finalize().into_bytes());
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", format!("v1,{signature}")),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specifications_example_and_never_repeats_a_timestamp() {
        // The Standard Webhooks specification's example, signed at a fixed
        // time by computing what `headers` does for its timestamp.
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#);
        assert_eq!(
            BASE64.encode(mac.finalize().into_bytes()),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let dir = std::env::temp_dir().join(format!("sim-signing-{}", std::process::id()));
        std::fs::write(&dir, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
        let signer = SigningSimConfig::from_file(&dir)
            .signer("sim.channel")
            .unwrap();
        std::fs::remove_file(&dir).unwrap();
        let first = signer.headers("msg_1", b"{}");
        let second = signer.headers("msg_1", b"{}");
        assert_eq!(first[0], ("webhook-id", "msg_1".to_owned()));
        let ts = |h: &[(&str, String)]| h[1].1.parse::<i64>().unwrap();
        assert!(ts(&second) > ts(&first), "{first:?} {second:?}");
        assert!(first[2].1.starts_with("v1,"));
        assert_ne!(first[2].1, second[2].1);
    }
}
