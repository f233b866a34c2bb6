use super::fulfillment::{carrier_code, package_reference_id};
use super::webhook::read_notification;

#[test]
fn package_reference_ids_are_positive_numbers_and_stable() {
    assert_eq!(package_reference_id("42"), "42");
    assert_eq!(package_reference_id("0042"), "42");
    let derived = package_reference_id("pkg-WH1-000017");
    assert_eq!(derived, package_reference_id("pkg-WH1-000017"));
    assert_ne!(derived, package_reference_id("pkg-WH1-000018"));
    let n: u64 = derived.parse().unwrap();
    assert!((1..(1 << 53)).contains(&n));
    assert_ne!(package_reference_id("0"), "0");
}

#[test]
fn carriers_map_to_codes() {
    assert_eq!(carrier_code("ups"), "UPS");
    assert_eq!(carrier_code(" FedEx "), "FedEx");
    assert_eq!(carrier_code("Acme Freight"), "Other");
}

#[test]
fn notifications_give_their_envelope() {
    let body = br#"{"NotificationVersion":"1.0","NotificationType":"ORDER_CHANGE",
        "EventTime":"2020-01-11T00:09:53.109Z",
        "Payload":{"OrderChangeNotification":{"AmazonOrderId":"903-8868176-2219830",
          "OrderChangeTrigger":{"TimeOfOrderChange":"2022-11-29T19:42:04.284Z"}}},
        "NotificationMetadata":{"NotificationId":"n-1"}}"#;
    let (id, order, version) = read_notification(body).unwrap();
    assert_eq!(
        (id.as_str(), order.as_str()),
        ("n-1", "903-8868176-2219830")
    );
    assert_eq!(version, 1_669_750_924_284);
    let bad = br#"{"Payload":{"OrderChangeNotification":{"AmazonOrderId":"x"}},"NotificationMetadata":{}}"#;
    assert!(read_notification(bad).is_err());
}
