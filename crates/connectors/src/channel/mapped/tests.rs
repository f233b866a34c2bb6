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
