use std::time::Instant;

use serde_json::{Value, json};

use super::WalmartSimConfig;
use super::feeds::multipart_file;
use super::inventory::read_quantity;
use super::routes::replenishment;
use super::token::base64;
use super::wire::now_ms;
use crate::marketplace::bucket::Bucket;

#[test]
fn base64_matches_the_standard_alphabet() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"id:s/e+c"), "aWQ6cy9lK2M=");
}

#[test]
fn multipart_finds_the_file_part() {
    let body = b"--b1\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.json\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--b1--\r\n";
    assert_eq!(
        multipart_file("multipart/form-data; boundary=b1", body).unwrap(),
        b"{\"a\":1}"
    );
    assert!(multipart_file("multipart/form-data", body).is_err());
    assert!(multipart_file("multipart/form-data; boundary=zz", body).is_err());
}

#[test]
fn quantities_name_the_bad_field() {
    let q = |v: Value| read_quantity("quantity", Some(&v));
    assert_eq!(q(json!({ "unit": "EACH", "amount": 4 })), Ok(4));
    assert_eq!(
        q(json!({ "unit": "EACH", "amount": -1 })).unwrap_err().0,
        "quantity.amount"
    );
    assert_eq!(
        q(json!({ "unit": "EACH", "amount": 1.5 })).unwrap_err().0,
        "quantity.amount"
    );
    assert_eq!(
        q(json!({ "unit": "EACH", "amount": "3" })).unwrap_err().0,
        "quantity.amount"
    );
    assert_eq!(
        q(json!({ "unit": "LB", "amount": 3 })).unwrap_err().0,
        "quantity.unit"
    );
}

#[test]
fn config_validation_refuses_bad_values() {
    WalmartSimConfig::default().validate().unwrap();
    let c = WalmartSimConfig {
        cancel_rate: 2.0,
        ..WalmartSimConfig::default()
    };
    assert!(c.validate().is_err());
    let mut c = WalmartSimConfig::default();
    c.rate_limits.feeds.per_sec = 0.0;
    assert!(c.validate().unwrap_err().to_string().contains("feeds"));
    let c = WalmartSimConfig {
        min_quantity: 4,
        ..WalmartSimConfig::default()
    };
    assert!(c.validate().is_err());
}

#[test]
fn a_bucket_reports_its_count_and_next_token() {
    let mut b = Bucket::full(2.0, 1.0, Instant::now());
    let now = Instant::now();
    assert!(b.take(1.0, now));
    assert!(b.take(1.0, now));
    assert!(!b.take(1.0, now));
    let (count, at) = replenishment(&mut b, now);
    assert_eq!(count, 0);
    assert!(at > now_ms() + 500, "{at}");
}
