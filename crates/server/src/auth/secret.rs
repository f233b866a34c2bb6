//! An API key's secret: `cdk_` and 256 random bits in base64url (43
//! characters). The prefix lets secret scanners find a leaked key. The hub
//! keeps only the secret's SHA-256; the secret is shown once, at creation.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use sha2::{Digest, Sha256};

pub const SECRET_PREFIX: &str = "cdk_";

/// A key's secret. Its `Debug` does not show it, so it cannot reach a log
/// by accident; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSecret(String);

impl std::fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiSecret(…)")
    }
}

impl ApiSecret {
    /// A new secret from the operating system's random source.
    pub fn generate() -> Result<ApiSecret, String> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| format!("no randomness for a key: {e}"))?;
        Ok(ApiSecret(format!(
            "{SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// A secret chosen by the operator (`CROSSDOCK_BOOTSTRAP_KEY`): it must
    /// have the form of a generated one, `cdk_` and 256 bits in base64url
    /// or hex, so a short or guessable secret is refused.
    pub fn parse(s: &str) -> Result<ApiSecret, String> {
        let body = s.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
            format!(
                "an API key starts with {SECRET_PREFIX:?} (make one with `crossdock keys create`)"
            )
        })?;
        let bits = if body.len() == 64 && body.bytes().all(|b| b.is_ascii_hexdigit()) {
            256
        } else {
            URL_SAFE_NO_PAD
                .decode(body)
                .map(|b| b.len() * 8)
                .unwrap_or(0)
        };
        if bits != 256 {
            return Err(format!(
                "an API key is {SECRET_PREFIX:?} and 256 random bits (43 base64url or 64 hex characters); this one is not"
            ));
        }
        Ok(ApiSecret(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> [u8; 32] {
        digest(&self.0)
    }

    /// The digest as the store keeps it.
    pub fn digest_hex(&self) -> String {
        to_hex(&self.digest())
    }
}

/// SHA-256 of what a caller presented.
pub fn digest(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

/// Lower-case hex, as the store keeps digests.
pub fn to_hex(digest: &[u8; 32]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The digest back from the store's hex; None if it is not one.
pub fn from_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_prefixed_256_bits_and_parses_back() {
        let a = ApiSecret::generate().unwrap();
        let b = ApiSecret::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("cdk_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_eq!(ApiSecret::parse(a.expose()).unwrap(), a);
        assert_eq!(format!("{a:?}"), "ApiSecret(…)", "Debug must not show it");
        let hex = format!("cdk_{}", "ab".repeat(32));
        assert!(ApiSecret::parse(&hex).is_ok());
    }

    #[test]
    fn a_short_or_unprefixed_secret_is_refused() {
        for bad in [
            "",
            "cdk_",
            "cdk_short",
            "abc",
            &format!("cdk_{}", "ab".repeat(16)),
        ] {
            assert!(ApiSecret::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hex_round_trips() {
        let d = digest("cdk_x");
        assert_eq!(from_hex(&to_hex(&d)), Some(d));
        assert_eq!(from_hex("zz"), None);
    }
}
