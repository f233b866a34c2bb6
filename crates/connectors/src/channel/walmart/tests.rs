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

#[test]
fn a_spent_budget_is_measured_on_the_channels_clock() {
    use std::sync::Arc;

    use crossdock_model::ManualClock;
    use reqwest::header::HeaderMap;

    use super::client::{REPLENISH_HEADERS, TOKEN_COUNT_HEADER, WalmartOptions};
    use crate::{ConnectorError, HttpClient, HttpClientOptions};

    let clock = ManualClock::new(1_700_000_000_000);
    let http = HttpClient::new(HttpClientOptions::default()).unwrap();
    let ch = super::WalmartChannel::new(
        WalmartOptions::new("walmart", "http://127.0.0.1:9", "id", "secret"),
        http,
    )
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let mut headers = HeaderMap::new();
    headers.insert(TOKEN_COUNT_HEADER, HeaderValue::from_static("0"));
    headers.insert(
        REPLENISH_HEADERS[0],
        HeaderValue::from_static("1700000001500"),
    );
    ch.record_budget("getAllOrders", &headers);
    match ch.check_budget("getAllOrders") {
        Err(ConnectorError::Throttled { retry_after, .. }) => {
            assert_eq!(retry_after, std::time::Duration::from_millis(1_500));
        }
        other => panic!("{other:?}"),
    }
    clock.advance(1_500);
    assert!(ch.check_budget("getAllOrders").is_ok());
}
