use reqwest::header::HeaderValue;

use super::client::{correlation_id, epoch_ms};
use super::fulfillment::{known_carrier, method_code};

#[test]
fn correlation_ids_are_unique_uuids() {
    let a = correlation_id();
    let b = correlation_id();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "4", "{a}");
    assert!(HeaderValue::from_str(&a).is_ok());
}

#[test]
fn carriers_and_methods_use_walmart_spelling() {
    assert_eq!(known_carrier("fedex"), Some("FedEx"));
    assert_eq!(known_carrier(" ups "), Some("UPS"));
    assert_eq!(known_carrier("DHL"), Some("DHL Ecommerce - US"));
    assert_eq!(known_carrier("Acme Couriers"), None);
    assert_eq!(method_code(Some("VALUE")), "Value");
    assert_eq!(method_code(Some("drone")), "Standard");
    assert_eq!(method_code(None), "Standard");
}

#[test]
fn replenish_times_read_in_ms_or_seconds() {
    assert_eq!(epoch_ms(1_700_000_000), 1_700_000_000_000);
    assert_eq!(epoch_ms(1_700_000_000_000), 1_700_000_000_000);
}
