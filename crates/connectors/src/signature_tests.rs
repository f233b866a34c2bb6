//! The verifier against signatures computed outside this crate.
//!
//! Fixture, computed with Python's standard library (no code of ours):
//!
//! ```python
//! import hmac, hashlib, base64
//! key = b"crossdock standard webhooks key"      # current
//! old = b"previous secret, still accepted"      # previous
//! msg = b'msg_2Lx7vKq9.1764000000.{"order_id":"W-1","sequence":1}'
//! "whsec_" + base64.b64encode(key).decode()
//! #  -> whsec_Y3Jvc3Nkb2NrIHN0YW5kYXJkIHdlYmhvb2tzIGtleQ==
//! base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest())
//! #  -> L04EqZSXTl1cz+ukIKXGZ47YSGpctacnu/tI4cos2rs=
//! "whsec_" + base64.b64encode(old).decode()
//! #  -> whsec_cHJldmlvdXMgc2VjcmV0LCBzdGlsbCBhY2NlcHRlZA==
//! base64.b64encode(hmac.new(old, msg, hashlib.sha256).digest())
//! #  -> Lm7aybO1i3Ea79Ja9cOKgvVK8mQOtI5lj+mpCwzPxbg=
//! ```
//!
//! And the example of the Standard Webhooks specification itself
//! (secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id
//! `msg_p5jXN8AQM9LWM0D4loKWxJek`, timestamp 1614265330, body
//! `{"test": 2432232314}`, signature
//! `v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`), checked again with
//! the same Python lines.

use std::sync::Arc;

use crossdock_model::clock::ManualClock;
use reqwest::header::{HeaderMap, HeaderValue};

use super::*;

const CURRENT: &str = "whsec_Y3Jvc3Nkb2NrIHN0YW5kYXJkIHdlYmhvb2tzIGtleQ==";
const PREVIOUS: &str = "whsec_cHJldmlvdXMgc2VjcmV0LCBzdGlsbCBhY2NlcHRlZA==";
const ID: &str = "msg_2Lx7vKq9";
const TS: i64 = 1_764_000_000;
const BODY: &[u8] = br#"{"order_id":"W-1","sequence":1}"#;
const BY_CURRENT: &str = "v1,L04EqZSXTl1cz+ukIKXGZ47YSGpctacnu/tI4cos2rs=";
const BY_PREVIOUS: &str = "v1,Lm7aybO1i3Ea79Ja9cOKgvVK8mQOtI5lj+mpCwzPxbg=";

fn secret(text: &str) -> WebhookSecret {
    WebhookSecret::parse(text).unwrap()
}

fn headers(id: &str, ts: i64, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(ID_HEADER, HeaderValue::from_str(id).unwrap());
    h.insert(
        TIMESTAMP_HEADER,
        HeaderValue::from_str(&ts.to_string()).unwrap(),
    );
    h.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
    h
}

/// A verifier of `CURRENT` whose clock reads `now` (seconds).
fn verifier_at(now: i64) -> (WebhookVerifier, ManualClock) {
    let clock = ManualClock::new(now * 1000);
    let v = WebhookVerifier::new(secret(CURRENT)).with_clock(Arc::new(clock.clone()));
    (v, clock)
}

fn check_of(result: Result<SignedDelivery, InputError>) -> AuthCheck {
    let e = result.expect_err("refused");
    assert!(e.unauthenticated, "{e}");
    e.auth_check.expect("names its check")
}

#[test]
fn signs_and_verifies_the_independently_computed_vectors() {
    assert_eq!(sign(&secret(CURRENT), ID, TS, BODY), BY_CURRENT);
    assert_eq!(sign(&secret(PREVIOUS), ID, TS, BODY), BY_PREVIOUS);
    let (v, _) = verifier_at(TS);
    let ok = v.verify(&headers(ID, TS, BY_CURRENT), BODY).unwrap();
    assert_eq!(
        ok,
        SignedDelivery {
            id: ID.into(),
            timestamp: TS
        }
    );
}

#[test]
fn the_specifications_own_example_verifies() {
    let spec = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let body = br#"{"test": 2432232314}"#;
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_eq!(
        sign(&spec, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
        expected
    );
    let v = WebhookVerifier::new(spec).with_clock(Arc::new(ManualClock::new(1_614_265_330_000)));
    v.verify(
        &headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, expected),
        body,
    )
    .unwrap();
}

#[test]
fn each_tampered_part_is_a_mismatch() {
    let (v, _) = verifier_at(TS);
    let other_body = br#"{"order_id":"W-1","sequence":2}"#;
    assert_eq!(
        check_of(v.verify(&headers(ID, TS, BY_CURRENT), other_body)),
        AuthCheck::Mismatch
    );
    assert_eq!(
        check_of(v.verify(&headers("msg_other", TS, BY_CURRENT), BODY)),
        AuthCheck::Mismatch
    );
    assert_eq!(
        check_of(v.verify(&headers(ID, TS + 1, BY_CURRENT), BODY)),
        AuthCheck::Mismatch
    );
    // Signed with a secret the hub does not hold.
    assert_eq!(
        check_of(v.verify(&headers(ID, TS, BY_PREVIOUS), BODY)),
        AuthCheck::Mismatch
    );
}

#[test]
fn missing_and_malformed_headers_name_the_header() {
    let (v, _) = verifier_at(TS);
    for name in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
        let mut h = headers(ID, TS, BY_CURRENT);
        h.remove(name);
        let e = v.verify(&h, BODY).unwrap_err();
        assert_eq!(e.auth_check, Some(AuthCheck::Missing));
        assert_eq!(e.path, format!("headers.{name}"));
    }
    let mut h = headers(ID, TS, BY_CURRENT);
    h.insert(TIMESTAMP_HEADER, HeaderValue::from_static("yesterday"));
    assert_eq!(check_of(v.verify(&h, BODY)), AuthCheck::Malformed);
    // Only other schemes (v1a is the asymmetric one): nothing to check.
    let h = headers(ID, TS, "v1a,abc v2,def");
    assert_eq!(check_of(v.verify(&h, BODY)), AuthCheck::Malformed);
}

#[test]
fn any_of_several_signatures_may_match() {
    let (v, _) = verifier_at(TS);
    let both = format!("v1,bm90IGl0 {BY_CURRENT}");
    v.verify(&headers(ID, TS, &both), BODY).unwrap();
}

#[test]
fn the_previous_secret_is_accepted_while_configured_and_refused_once_removed() {
    let clock = Arc::new(ManualClock::new(TS * 1000));
    let rotating = WebhookVerifier::new(secret(CURRENT))
        .with_previous(Some(secret(PREVIOUS)))
        .with_clock(clock.clone());
    rotating
        .verify(&headers(ID, TS, BY_PREVIOUS), BODY)
        .unwrap();
    rotating.verify(&headers(ID, TS, BY_CURRENT), BODY).unwrap();
    let rotated = WebhookVerifier::new(secret(CURRENT)).with_clock(clock);
    let e = rotated
        .verify(&headers(ID, TS, BY_PREVIOUS), BODY)
        .unwrap_err();
    assert_eq!(e.auth_check, Some(AuthCheck::Mismatch));
}

#[test]
fn a_timestamp_outside_the_window_is_stale_either_way() {
    let (v, clock) = verifier_at(TS + 300);
    v.verify(&headers(ID, TS, BY_CURRENT), BODY)
        .expect("exactly 300 s old is inside");
    clock.set((TS + 301) * 1000);
    let e = v.verify(&headers(ID, TS, BY_CURRENT), BODY).unwrap_err();
    assert_eq!(e.auth_check, Some(AuthCheck::Stale));
    assert!(e.message.contains("301 s old"), "{e}");
    clock.set((TS - 301) * 1000);
    let e = v.verify(&headers(ID, TS, BY_CURRENT), BODY).unwrap_err();
    assert_eq!(e.auth_check, Some(AuthCheck::Stale));
    assert!(e.message.contains("ahead"), "{e}");
    let narrow = WebhookVerifier::new(secret(CURRENT))
        .with_tolerance_secs(10)
        .with_clock(Arc::new(ManualClock::new((TS + 11) * 1000)));
    assert_eq!(
        check_of(narrow.verify(&headers(ID, TS, BY_CURRENT), BODY)),
        AuthCheck::Stale
    );
}

#[test]
fn a_committed_attempt_presented_again_is_replayed_but_a_fresh_retry_is_not() {
    let (v, clock) = verifier_at(TS);
    let attempt = headers(ID, TS, BY_CURRENT);
    v.verify(&attempt, BODY).unwrap();
    // Not committed yet (the hub answered 503): the same attempt may come again.
    v.verify(&attempt, BODY).unwrap();
    v.committed(&attempt);
    assert_eq!(check_of(v.verify(&attempt, BODY)), AuthCheck::Replayed);
    // The sender's own retry of the message is signed at its own time.
    let retry_ts = TS + 5;
    let retry = sign(&secret(CURRENT), ID, retry_ts, BODY);
    v.verify(&headers(ID, retry_ts, &retry), BODY).unwrap();
    // Once outside the window the memory is let go: the attempt is stale now.
    clock.set((TS + 400) * 1000);
    v.committed(&headers(ID, retry_ts, &retry));
    assert_eq!(check_of(v.verify(&attempt, BODY)), AuthCheck::Stale);
    assert_eq!(v.lock().seen.len(), 1, "the old attempt was forgotten");
}

#[test]
fn secrets_never_show_in_errors_or_debug() {
    let s = secret(CURRENT);
    assert_eq!(format!("{s:?}"), "WebhookSecret(<redacted>)");
    assert_eq!(s.to_whsec(), CURRENT);
    let v = WebhookVerifier::new(s);
    assert!(!format!("{v:?}").contains("Y3Jvc3Nk"));
    let e = WebhookSecret::parse("whsec_not*base64*secret-text").unwrap_err();
    assert!(!e.contains("secret-text"), "{e}");
    let short = WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err();
    assert!(short.contains("at least 16"), "{short}");
}

#[test]
fn the_configuration_names_where_secrets_live_and_reads_them_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("current.secret");
    std::fs::write(&path, format!("{CURRENT}\n")).unwrap();
    let config = WebhookSigningConfig::from_file(&path);
    config.validate().unwrap();
    let v = config.verifier().unwrap();
    let clocked = v.with_clock(Arc::new(ManualClock::new(TS * 1000)));
    clocked.verify(&headers(ID, TS, BY_CURRENT), BODY).unwrap();

    let none = WebhookSigningConfig::default();
    assert_eq!(
        none.validate().unwrap_err(),
        KeyError::new("signing", "set secret_env or secret_file")
    );
    let missing = WebhookSigningConfig::from_file(dir.path().join("absent"));
    let e = missing.verifier().unwrap_err();
    assert!(e.contains("absent") && e.contains("secret_file"), "{e}");
    std::fs::write(&path, "whsec_definitely not base64").unwrap();
    let e = config.verifier().unwrap_err();
    assert!(e.contains("not whsec_") && !e.contains("definitely"), "{e}");
}
