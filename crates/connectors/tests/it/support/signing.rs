//! One webhook signing key for the tests that run the simulated webstore
//! and warehouses against the hand-written connectors: the simulators read
//! it from a file (as configured), the connectors are handed it.

use std::path::PathBuf;
use std::sync::OnceLock;

use crossdock_connectors::signature::{WebhookSecret, WebhookVerifier};
use crossdock_sim::SigningSimConfig;

/// 32 key bytes.
pub const SIGNING_KEY: &str = "whsec_YWdhaW5zdC1zaW0gdGVzdHMnIHNpZ25pbmcga2V5IQ==";

/// Where the simulators read [`SIGNING_KEY`] from: a file written once per
/// test process.
pub fn sim_signing() -> SigningSimConfig {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!(
            "crossdock-connector-tests-{}.secret",
            std::process::id()
        ));
        std::fs::write(&path, SIGNING_KEY).expect("write the signing key");
        path
    });
    SigningSimConfig::from_file(path)
}

/// The connectors' side of [`SIGNING_KEY`].
pub fn verifier() -> WebhookVerifier {
    WebhookVerifier::new(WebhookSecret::parse(SIGNING_KEY).expect("a valid key"))
}
