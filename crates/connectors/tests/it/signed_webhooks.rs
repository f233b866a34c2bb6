//! Every webhook source that signs the Standard Webhooks way, at the
//! connector: the webstore channel and the REST warehouse, each through the
//! same cases — good, unsigned, wrong secret, old timestamp, the same
//! attempt replayed after its commit, and a rotated secret (still accepted
//! while configured as `previous`, refused once removed). The hub's answer
//! (401, kept as rejected, counted) is `crossdock`'s
//! `tests/it/signed_webhooks.rs`.
//!
//! The signatures are computed here with the `hmac` crate directly, from
//! the specification's recipe, not with the connectors' `sign`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crossdock_connectors::channel::WebstoreChannel;
use crossdock_connectors::signature::{WebhookSecret, WebhookSigningConfig, WebhookVerifier};
use crossdock_connectors::warehouse::RestWarehouse;
use crossdock_connectors::{
    AuthCheck, Channel, HttpClient, HttpClientOptions, InputError, Warehouse,
};
use crossdock_model::clock::ManualClock;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;
use sha2::Sha256;

/// 32 bytes each: the secret now in use, and the one before it.
const CURRENT: &[u8] = b"signed webhooks: the current key";
const PREVIOUS: &[u8] = b"signed webhooks: the earlier key";
const NOW: i64 = 1_764_000_000;

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", BASE64.encode(key))
}

/// One attempt of message `id`, signed with `key` at `timestamp`.
fn attempt(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let signature = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_str(id).unwrap());
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
    headers.insert(
        "webhook-signature",
        HeaderValue::from_str(&signature).unwrap(),
    );
    headers
}

fn verifier(previous: Option<&[u8]>) -> WebhookVerifier {
    WebhookVerifier::new(WebhookSecret::parse(&whsec(CURRENT)).unwrap())
        .with_previous(previous.map(|k| WebhookSecret::parse(&whsec(k)).unwrap()))
        .with_clock(Arc::new(ManualClock::new(NOW * 1000)))
}

fn http() -> HttpClient {
    HttpClient::new(HttpClientOptions::default()).unwrap()
}

/// A source under test: reads a webhook, and is told of its commit.
trait Source {
    fn read(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, InputError>;
    fn committed(&self, headers: &HeaderMap);
}

impl Source for WebstoreChannel {
    fn read(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, InputError> {
        self.read_webhook(headers, body).map(|e| e.message_key)
    }
    fn committed(&self, headers: &HeaderMap) {
        self.webhook_committed(headers);
    }
}

impl Source for RestWarehouse {
    fn read(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, InputError> {
        self.read_webhook(headers, body).map(|e| e.message_key)
    }
    fn committed(&self, headers: &HeaderMap) {
        self.webhook_committed(headers);
    }
}

fn webstore(previous: Option<&[u8]>) -> WebstoreChannel {
    WebstoreChannel::new("webstore", "http://127.0.0.1:9", http(), verifier(previous)).unwrap()
}

fn warehouse(previous: Option<&[u8]>) -> RestWarehouse {
    RestWarehouse::new("east", "http://127.0.0.1:9", http(), verifier(previous)).unwrap()
}

fn order_body() -> Vec<u8> {
    serde_json::to_vec(&json!({ "order_id": "WS-1", "sequence": 1 })).unwrap()
}

fn shipment_body() -> Vec<u8> {
    serde_json::to_vec(&json!({ "shipment_id": "SH-1", "order_id": "o-1" })).unwrap()
}

fn refused_by(result: Result<String, InputError>) -> AuthCheck {
    let e = result.expect_err("must be refused");
    assert!(e.unauthenticated, "a signature failure is a 401: {e}");
    e.auth_check
        .unwrap_or_else(|| panic!("no check named: {e}"))
}

/// The cases every source must pass. `key` is the message key a good
/// delivery gets.
fn every_case(source: &dyn Source, body: &[u8], key: &str) {
    // Good.
    let good = attempt(CURRENT, "msg_1", NOW, body);
    assert_eq!(source.read(&good, body).unwrap(), key);
    // Unsigned: nothing but the body.
    assert_eq!(
        refused_by(source.read(&HeaderMap::new(), body)),
        AuthCheck::Missing
    );
    // Signed with a key the hub was never given.
    let stranger = attempt(b"a key nobody gave to the hub!!!!", "msg_1", NOW, body);
    assert_eq!(
        refused_by(source.read(&stranger, body)),
        AuthCheck::Mismatch
    );
    // Correctly signed, but the body was changed on the way.
    let mut tampered = body.to_vec();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        refused_by(source.read(&good, &tampered)),
        AuthCheck::Mismatch
    );
    // Correctly signed six minutes ago: outside the default 300 s window.
    let old = attempt(CURRENT, "msg_1", NOW - 360, body);
    assert_eq!(refused_by(source.read(&old, body)), AuthCheck::Stale);
    // The very attempt the hub committed, presented again.
    source.committed(&good);
    assert_eq!(refused_by(source.read(&good, body)), AuthCheck::Replayed);
    // The sender's own retry of the message: its own timestamp, accepted
    // (and a duplicate of the same message key for the inbox).
    let retry = attempt(CURRENT, "msg_1", NOW + 2, body);
    assert_eq!(source.read(&retry, body).unwrap(), key);
}

/// Rotation: the old key is accepted while configured as `previous`, and
/// refused once it is removed; the new key works throughout.
fn rotation(rotating: &dyn Source, rotated: &dyn Source, body: &[u8]) {
    let by_old = attempt(PREVIOUS, "msg_2", NOW, body);
    let by_new = attempt(CURRENT, "msg_2", NOW, body);
    rotating.read(&by_old, body).unwrap();
    rotating.read(&by_new, body).unwrap();
    assert_eq!(refused_by(rotated.read(&by_old, body)), AuthCheck::Mismatch);
    rotated.read(&by_new, body).unwrap();
}

#[test]
fn the_webstore_checks_every_case() {
    every_case(&webstore(None), &order_body(), "msg_1");
}

#[test]
fn the_webstore_rotates_its_secret_without_downtime() {
    rotation(&webstore(Some(PREVIOUS)), &webstore(None), &order_body());
}

#[test]
fn the_rest_warehouse_checks_every_case() {
    // A warehouse's message key is its shipment's, whatever the attempt.
    every_case(&warehouse(None), &shipment_body(), "east:SH-1");
}

#[test]
fn the_rest_warehouse_rotates_its_secret_without_downtime() {
    rotation(
        &warehouse(Some(PREVIOUS)),
        &warehouse(None),
        &shipment_body(),
    );
}

#[test]
fn a_sender_signing_with_both_keys_passes_either_side_of_the_rotation() {
    let body = order_body();
    let mut both = attempt(CURRENT, "msg_3", NOW, &body);
    let old = attempt(PREVIOUS, "msg_3", NOW, &body);
    let joined = format!(
        "{} {}",
        old["webhook-signature"].to_str().unwrap(),
        both["webhook-signature"].to_str().unwrap()
    );
    both.insert("webhook-signature", HeaderValue::from_str(&joined).unwrap());
    webstore(None).read(&both, &body).unwrap();
    webstore(Some(PREVIOUS)).read(&both, &body).unwrap();
}

#[test]
fn a_wider_window_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, whsec(CURRENT)).unwrap();
    let config = WebhookSigningConfig {
        tolerance_secs: 900,
        ..WebhookSigningConfig::from_file(&path)
    };
    config.validate().unwrap();
    let channel = WebstoreChannel::new(
        "webstore",
        "http://127.0.0.1:9",
        http(),
        config.verifier().unwrap(),
    )
    .unwrap()
    .with_clock(Arc::new(ManualClock::new(NOW * 1000)));
    let body = order_body();
    channel
        .read(&attempt(CURRENT, "msg_4", NOW - 600, &body), &body)
        .expect("ten minutes old is inside a 900 s window");
    assert_eq!(
        refused_by(channel.read(&attempt(CURRENT, "msg_4", NOW - 901, &body), &body)),
        AuthCheck::Stale
    );
}
