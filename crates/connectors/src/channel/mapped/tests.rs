use reqwest::header::{HeaderMap, HeaderValue, LINK};
use rust_decimal::Decimal;

use super::expr::{Expr, amount, version_ms};
use super::orders::next_link;
use super::webhook::decode_hex;
use crate::jq::Program;

#[test]
fn pointers_name_payload_paths() {
    let e = Expr::compile("f", "/items/3/unit_price").unwrap();
    assert_eq!(e.source_path("").as_deref(), Some("items[3].unit_price"));
    assert_eq!(
        Expr::compile("f", "/sku")
            .unwrap()
            .source_path("items[2]")
            .as_deref(),
        Some("items[2].sku")
    );
    assert!(
        Expr::compile("f", ".a | .b")
            .unwrap()
            .source_path("")
            .is_none()
    );
}

#[test]
fn amounts_are_exact_and_floats_refused() {
    let val = |s: &str| jaq_json::read::parse_single(s.as_bytes()).unwrap();
    let usd = crossdock_model::Currency::USD;
    assert_eq!(
        amount(&val("19.99"), usd).unwrap().amount,
        Decimal::new(1999, 2)
    );
    assert_eq!(
        amount(&val("\"0.10\""), usd).unwrap().amount.to_string(),
        "0.10"
    );
    let float = Program::compile("t", ".x * 1.5")
        .unwrap()
        .run_one(val(r#"{"x": 2}"#))
        .unwrap();
    assert!(amount(&float, usd).is_err());
    assert!(
        amount(&val("\"-1\""), usd)
            .unwrap_err()
            .contains("negative")
    );
}

#[test]
fn link_headers_and_hex() {
    let mut h = HeaderMap::new();
    h.insert(
        LINK,
        HeaderValue::from_static(
            r#"<https://x/o?page=1>; rel="previous", <https://x/o?page=3>; rel="next""#,
        ),
    );
    assert_eq!(next_link(&h).as_deref(), Some("https://x/o?page=3"));
    assert_eq!(decode_hex("0aff"), Some(vec![0x0a, 0xff]));
    assert_eq!(decode_hex("0g"), None);
}

#[test]
fn versions_read_numbers_and_times() {
    let val = |s: &str| jaq_json::read::parse_single(s.as_bytes()).unwrap();
    assert_eq!(version_ms(&val("7")).unwrap(), 7);
    assert_eq!(
        version_ms(&val("\"1970-01-01T00:00:01.5Z\"")).unwrap(),
        1500
    );
    assert!(version_ms(&val("\"soon\"")).is_err());
}

/// The shipped mapping of `config/channels/regional.toml`.
fn regional() -> super::ChannelMapping {
    toml::from_str(include_str!("../../../../../config/channels/regional.toml")).unwrap()
}

/// Found by the `mapped_payload` fuzz target (`crates/connectors/FUZZING.md`):
/// jaq's JSON reader recursed once per `[`, and 60,000 of them overflowed
/// the stack, aborting the hub on one webhook body. Refused by name now, at
/// the same 128 levels serde_json allows for every other payload.
#[test]
fn a_payload_nested_past_128_levels_is_refused_not_a_stack_overflow() {
    use super::{MappingError, map_payload};
    let deep = "[".repeat(60_000);
    match map_payload("regional", &regional(), deep.as_bytes()) {
        Err(MappingError::Input(e)) => {
            assert_eq!(e.path, "body");
            assert_eq!(e.message, "nested deeper than 128 arrays or objects");
        }
        other => panic!("expected a refused body, got {other:?}"),
    }
    // Objects count too; brackets inside strings do not.
    let deep_objects = "{\"a\":".repeat(129);
    let err = map_payload("regional", &regional(), deep_objects.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("nested deeper than 128"), "{err}");
    let in_string = format!(
        "{{\"order_id\": \"{}\\\"]]\", \"sequence\": 1}}",
        "[".repeat(500)
    );
    let err = map_payload("regional", &regional(), in_string.as_bytes()).unwrap_err();
    assert!(!err.to_string().contains("nested"), "{err}");
    // 128 levels are read (and then refused for what they lack).
    let at_limit = format!("{}{}", "[".repeat(128), "]".repeat(128));
    let err = map_payload("regional", &regional(), at_limit.as_bytes()).unwrap_err();
    assert!(!err.to_string().contains("nested"), "{err}");
}

/// Found by the `mapped_payload` fuzz target: a line discount larger than
/// the line (here 850 on 2 × 5.00) was accepted, and with no `total` in
/// the mapping the hub computed a negative order total (-796.45).
#[test]
fn a_discount_larger_than_its_line_is_refused() {
    use super::map_payload;
    // The fuzzer's input, as found.
    let body = br#"{"order_id": "WS-000123", "sequence": 1, "status": "open",
 "updated_at": "2026-11-26T20:00:00Z", "created_a[": "2026-11-26T20:00:00Z",
 "currency": "USD",
 "buyer": {"id": "B-42", "email": "b42@example.com", "name": "Buyer 42", "phone": null},
 "ship_to": {"name": "Buyer 42", "line1": "1 Main St", "line2": null, "icty": "Springfield",
             "region": "IL", "postal_coda": "62701", "country": "US"},
 "items": [
   {"line_id": "1", "sku": "SKU-001", "title": "Widget", "quantity": 2,
    "unit_price": "19.99", "discount": "0.00", "tax": "3.20"},
   {"line_id": 2, "sku": "SKU-002", "title": "Gadget", "quantity": 2,
    "unit_price": 5.00, "discount": "0850", "tax": "0.37"}
 ],
 "shipring": "4.99", "total": "51.04", "service_level": "standard"}"#;
    let err = map_payload("regional_jq", &regional_jq(), body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "lines[1].discount: 850 is more than the line's 10.00 (unit price × quantity)"
    );
    // A discount of the whole line is fine.
    let whole = String::from_utf8_lossy(body).replace("\"0850\"", "\"10.00\"");
    match map_payload("regional_jq", &regional_jq(), whole.as_bytes()) {
        Ok(crate::ChannelEvent::Order(o)) => {
            assert_eq!(o.lines[1].total().unwrap().amount.to_string(), "0.37")
        }
        other => panic!("expected an order, got {other:?}"),
    }
}

/// The fuzz target's jq-only variant of the regional mapping.
fn regional_jq() -> super::ChannelMapping {
    toml::from_str(include_str!("../../../fuzz/mappings/regional-jq.toml")).unwrap()
}
