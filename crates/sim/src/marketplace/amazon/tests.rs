use rand::rngs::SmallRng;
use serde_json::{Value, json};

use super::AmazonSimConfig;
use super::feeds::read_feed_message;
use super::listings::{FULFILLMENT_AVAILABILITY, check_patch_path};
use super::wire::opaque_token;

#[test]
fn config_defaults_are_valid_and_bad_values_are_named() {
    AmazonSimConfig::default().validate().unwrap();
    let bad = AmazonSimConfig {
        drop_rate: 1.5,
        ..AmazonSimConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("drop_rate")
    );
    let bad = AmazonSimConfig {
        rate_multiplier: 0.0,
        ..AmazonSimConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("rate_multiplier")
    );
    let bad = AmazonSimConfig {
        orders_page_size: 101,
        ..AmazonSimConfig::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn feed_messages_are_checked_for_their_essentials() {
    let mut seen = std::collections::HashSet::new();
    let read = |m: Value, seen: &mut std::collections::HashSet<u64>| {
        let id = m.get("messageId").and_then(Value::as_u64);
        let sku = m.get("sku").and_then(Value::as_str).map(str::to_owned);
        read_feed_message(&m, 0, id, sku.as_deref(), seen)
            .map(|(_, changes)| changes.len())
            .map_err(|(_, message)| message)
    };
    let patch = json!({
        "messageId": 1, "sku": "SKU-001", "operationType": "PATCH", "productType": "PRODUCT",
        "patches": [{ "op": "replace", "path": FULFILLMENT_AVAILABILITY,
                      "value": [{ "fulfillment_channel_code": "DEFAULT", "quantity": 3 }] }]
    });
    assert_eq!(read(patch.clone(), &mut seen), Ok(1));
    let again = read(patch, &mut seen).unwrap_err();
    assert!(again.contains("not unique"), "{again}");
    let no_type = read(
        json!({ "messageId": 2, "sku": "S", "operationType": "PATCH", "patches": [] }),
        &mut seen,
    )
    .unwrap_err();
    assert!(no_type.contains("productType"), "{no_type}");
    let bad_op = read(
        json!({ "messageId": 3, "sku": "S", "operationType": "UPSERT" }),
        &mut seen,
    )
    .unwrap_err();
    assert!(bad_op.contains("operationType"), "{bad_op}");
    assert!(check_patch_path("/attributes/fulfillment_availability").is_ok());
    assert!(check_patch_path("/attributes/fulfillment_availability/0/quantity").is_err());
}

#[test]
fn next_tokens_hold_characters_that_need_encoding() {
    use rand::SeedableRng;
    let token = opaque_token(&mut SmallRng::seed_from_u64(7));
    assert!(token.contains('+') && token.contains('/') && token.ends_with('='));
}
