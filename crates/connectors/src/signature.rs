//! Standard Webhooks signatures: the one verifier for every inbound source
//! that signs this way (the webstore channel and REST warehouses today,
//! carrier trackers next), its configuration, and the signing half for the
//! hub's own tests and rehearsal.
//!
//! A delivery carries `webhook-id` (the message's id, the same on every
//! retry), `webhook-timestamp` (seconds since the epoch, of this attempt) and
//! `webhook-signature`: space-separated `v1,<base64>` entries, each an
//! HMAC-SHA256 of `{id}.{timestamp}.{body}` under a secret written
//! `whsec_<base64 key>`. Several entries let a sender sign with an old and a
//! new secret while it rotates; the hub accepts a `previous` secret beside
//! the `current` one for the same reason, so neither side needs downtime.
//!
//! What "replayed" means here, precisely: the same signed attempt — the same
//! `webhook-id` *and* `webhook-timestamp` — presented again after the hub
//! committed it, within the window. A sender's genuine retry is signed
//! afresh with its own timestamp: it passes, and the inbox acknowledges it
//! as a duplicate of the message (its key is the `webhook-id`, or the
//! shipment id for warehouses), processing nothing twice. A copy captured
//! and sent later than the window is `stale`. Only committed attempts are
//! remembered (`committed`), so a retry of an attempt the hub could not
//! commit (503) is never mistaken for a replay. The memory is per process
//! and holds each attempt for the window; a replay to another hub process
//! sharing the store is still only a duplicate there, never applied twice.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crossdock_model::clock::{Clock, SystemClock};
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::{KeyError, secret_from};
use crate::{AuthCheck, InputError};

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a delivery's timestamp may be from the hub's clock, either way.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
const SECRET_PREFIX: &str = "whsec_";

/// A signing key. Its bytes never leave this module except into an HMAC:
/// `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>` (the prefix may be left out; surrounding
    /// whitespace, such as a secret file's last newline, is ignored). The
    /// error never quotes the text: it is a secret, even when malformed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let key = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = BASE64
            .decode(key)
            .map_err(|_| "is not whsec_ followed by base64".to_owned())?;
        WebhookSecret::from_bytes(&bytes)
    }

    /// A key from its bytes (a freshly generated one); at least 16.
    pub fn from_bytes(key: &[u8]) -> Result<Self, String> {
        if key.len() < 16 {
            return Err(format!(
                "holds {} key bytes; at least 16 are needed",
                key.len()
            ));
        }
        Ok(WebhookSecret(key.to_vec()))
    }

    /// The key written as a sender configures it (`whsec_<base64>`).
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` value a sender puts on an attempt: `v1,<base64>`.
/// The hub signs nothing it sends; this is for its tests and its rehearsal,
/// which play the sender.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(id, &timestamp.to_string(), body).finalize();
    format!("v1,{}", BASE64.encode(tag.into_bytes()))
}

/// A delivery that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelivery {
    /// `webhook-id`: the message's id, stable across the sender's retries.
    pub id: String,
    /// `webhook-timestamp`, seconds since the epoch.
    pub timestamp: i64,
}

/// Verifies Standard Webhooks signatures against a current and an optional
/// previous secret, within a window around the connector's clock, and
/// refuses an attempt it has already committed.
pub struct WebhookVerifier {
    current: WebhookSecret,
    previous: Option<WebhookSecret>,
    tolerance_secs: i64,
    clock: Arc<dyn Clock>,
    committed: Mutex<Committed>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("previous", &self.previous.is_some())
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

/// Attempts committed within the window: a set to ask, and the same keys in
/// the order they came, to forget them once they would be stale anyway.
#[derive(Default)]
struct Committed {
    seen: HashSet<(String, i64)>,
    order: VecDeque<(String, i64)>,
}

impl WebhookVerifier {
    /// `current` only, the default window, the wall clock.
    pub fn new(current: WebhookSecret) -> Self {
        WebhookVerifier {
            current,
            previous: None,
            tolerance_secs: DEFAULT_TOLERANCE_SECS as i64,
            clock: Arc::new(SystemClock),
            committed: Mutex::new(Committed::default()),
        }
    }

    /// Also accept `previous` (a secret being rotated out).
    pub fn with_previous(mut self, previous: Option<WebhookSecret>) -> Self {
        self.previous = previous;
        self
    }

    /// The replay window, in seconds either side of the clock.
    pub fn with_tolerance_secs(mut self, secs: u64) -> Self {
        self.tolerance_secs = i64::try_from(secs).unwrap_or(i64::MAX);
        self
    }

    /// Take time from `clock` (a rehearsal's virtual time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks, in this order: the three headers are there and read, a `v1`
    /// signature matches the current or the previous secret (compared in
    /// constant time), the timestamp is within the window, and this attempt
    /// was not committed before. The error names the header and the check.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<SignedDelivery, InputError> {
        let id = header(headers, ID_HEADER)?;
        let timestamp_text = header(headers, TIMESTAMP_HEADER)?;
        let signatures = header(headers, SIGNATURE_HEADER)?;
        let timestamp: i64 = timestamp_text.parse().map_err(|_| {
            refused(
                AuthCheck::Malformed,
                TIMESTAMP_HEADER,
                "not whole seconds since the epoch",
            )
        })?;
        let candidates: Vec<Vec<u8>> = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| BASE64.decode(b64).ok())
            .collect();
        if candidates.is_empty() {
            return Err(refused(
                AuthCheck::Malformed,
                SIGNATURE_HEADER,
                "no v1,<base64> signature",
            ));
        }
        let secrets = std::iter::once(&self.current).chain(self.previous.as_ref());
        let mut matched = false;
        for secret in secrets {
            let mac = secret.mac(id, timestamp_text, body);
            // `verify_slice` compares in constant time; every candidate is
            // tried so the time taken does not say which one failed.
            for candidate in &candidates {
                matched |= mac.clone().verify_slice(candidate).is_ok();
            }
        }
        if !matched {
            let which = if self.previous.is_some() {
                "matches neither the current nor the previous secret"
            } else {
                "does not match the secret"
            };
            return Err(refused(AuthCheck::Mismatch, SIGNATURE_HEADER, which));
        }
        let now = self.clock.now_ms().div_euclid(1000);
        let off = timestamp.saturating_sub(now);
        if off.abs() > self.tolerance_secs {
            let (amount, direction) = if off < 0 {
                (-off, "old")
            } else {
                (off, "ahead of the hub's clock")
            };
            return Err(refused(
                AuthCheck::Stale,
                TIMESTAMP_HEADER,
                format!(
                    "{amount} s {direction}; deliveries are accepted within {} s",
                    self.tolerance_secs
                ),
            ));
        }
        let key = (id.to_owned(), timestamp);
        if self.lock().seen.contains(&key) {
            return Err(refused(
                AuthCheck::Replayed,
                ID_HEADER,
                format!(
                    "this attempt ({TIMESTAMP_HEADER} {timestamp}) was already received; \
                     a sender signs each retry afresh"
                ),
            ));
        }
        Ok(SignedDelivery {
            id: key.0,
            timestamp,
        })
    }

    /// Remember the attempt in `headers` once the hub committed it, so the
    /// same attempt presented again is refused as replayed; forget those
    /// that would now be stale anyway.
    pub fn committed(&self, headers: &HeaderMap) {
        let Some(delivery) = delivery_of(headers) else {
            return;
        };
        let horizon = self.clock.now_ms().div_euclid(1000) - self.tolerance_secs;
        let mut committed = self.lock();
        while let Some(front) = committed.order.front() {
            if front.1 >= horizon {
                break;
            }
            let old = committed.order.pop_front().expect("front exists");
            committed.seen.remove(&old);
        }
        let key = (delivery.id.clone(), delivery.timestamp);
        if committed.seen.insert(key.clone()) {
            committed.order.push_back(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Committed> {
        self.committed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The id and timestamp of a delivery (`None` when they do not read).
fn delivery_of(headers: &HeaderMap) -> Option<SignedDelivery> {
    let id = header(headers, ID_HEADER).ok()?;
    let timestamp = header(headers, TIMESTAMP_HEADER).ok()?.parse().ok()?;
    Some(SignedDelivery {
        id: id.to_owned(),
        timestamp,
    })
}

fn refused(check: AuthCheck, name: &str, message: impl Into<String>) -> InputError {
    InputError::unauthenticated(check, format!("headers.{name}"), message)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, InputError> {
    let value = headers
        .get(name)
        .ok_or_else(|| refused(AuthCheck::Missing, name, "missing"))?
        .to_str()
        .map_err(|_| refused(AuthCheck::Malformed, name, "not visible ASCII"))?
        .trim();
    if value.is_empty() {
        return Err(refused(AuthCheck::Missing, name, "empty"));
    }
    Ok(value)
}

/// `[channels.signing]` / `[warehouses.signing]`: where the secrets are and
/// how wide the window is. Secrets are named, never written here: each comes
/// from an environment variable (`*_env`) or a file (`*_file`, read when the
/// connector is built; a relative path is from the working directory), so
/// `--print-config` and logs only ever show where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSigningConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// The secret being rotated out, still accepted while it is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_file: Option<PathBuf>,
    /// Seconds a delivery's timestamp may be from the hub's clock (default 300).
    #[serde(
        default = "default_tolerance",
        skip_serializing_if = "is_default_tolerance"
    )]
    pub tolerance_secs: u64,
}

impl Default for WebhookSigningConfig {
    /// No secret named (which `validate` refuses) and the default window.
    fn default() -> Self {
        WebhookSigningConfig {
            secret_env: None,
            secret_file: None,
            previous_secret_env: None,
            previous_secret_file: None,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        }
    }
}

fn default_tolerance() -> u64 {
    DEFAULT_TOLERANCE_SECS
}

fn is_default_tolerance(secs: &u64) -> bool {
    *secs == DEFAULT_TOLERANCE_SECS
}

impl WebhookSigningConfig {
    /// The current secret from `path` (the demo and tests).
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        WebhookSigningConfig {
            secret_file: Some(path.into()),
            ..WebhookSigningConfig::default()
        }
    }

    /// The shape: exactly one source for the current secret, at most one
    /// for the previous, a window of at least a second. The secrets are read
    /// when the connector is built.
    pub fn validate(&self) -> Result<(), KeyError> {
        let at = |m: &str| KeyError::new("signing", m);
        match (&self.secret_env, &self.secret_file) {
            (None, None) => return Err(at("set secret_env or secret_file")),
            (Some(_), Some(_)) => return Err(at("set one of secret_env and secret_file")),
            _ => {}
        }
        if self.previous_secret_env.is_some() && self.previous_secret_file.is_some() {
            return Err(at(
                "set one of previous_secret_env and previous_secret_file",
            ));
        }
        if self.tolerance_secs == 0 {
            return Err(at("tolerance_secs must be at least 1"));
        }
        Ok(())
    }

    /// Reads the secrets and builds the verifier (on the wall clock).
    pub fn verifier(&self) -> Result<WebhookVerifier, String> {
        let read = |name: &str, env: &Option<String>, file: &Option<PathBuf>| {
            let text = secret_from(name, None, env.as_deref(), file.as_deref())?;
            WebhookSecret::parse(&text).map_err(|e| {
                let from = match (env, file) {
                    (Some(var), _) => format!("environment variable {var}"),
                    (None, Some(path)) => format!("file {}", path.display()),
                    (None, None) => name.to_owned(),
                };
                format!("signing.{name} (from {from}) {e}")
            })
        };
        let current = read("secret", &self.secret_env, &self.secret_file)?;
        let previous = match (&self.previous_secret_env, &self.previous_secret_file) {
            (None, None) => None,
            (env, file) => Some(read("previous_secret", env, file)?),
        };
        Ok(WebhookVerifier::new(current)
            .with_previous(previous)
            .with_tolerance_secs(self.tolerance_secs))
    }
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
