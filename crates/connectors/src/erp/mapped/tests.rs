use jaq_json::Val;

use super::compile::last_segment;
use super::mapping::ErpMapping;
use crate::jq::{Program, check_template, fill_path, id_text, render};

fn run(code: &str, input: &str) -> Result<Val, String> {
    Program::compile("t", code)
        .unwrap()
        .run_one(jaq_json::read::parse_single(input.as_bytes()).unwrap())
}

#[test]
fn the_simulated_mapping_compiles() {
    ErpMapping::simulated().validate().unwrap();
}

#[test]
fn decimal_markers_become_exact_numbers() {
    let out = run(
        r#"{a: {"$decimal": .x}, b: {"$decimal": .y}, c: .x, n: .n}"#,
        r#"{"x": "1234567.89", "y": "0.30", "n": 12345678901234567890123}"#,
    )
    .unwrap();
    assert_eq!(
        render(&out).unwrap(),
        r#"{"a":1234567.89,"b":0.30,"c":"1234567.89","n":12345678901234567890123}"#
    );
    let float = run(r#"{a: (.x | tonumber) * 1}"#, r#"{"x": "0.1"}"#).unwrap();
    assert!(render(&float).unwrap_err().contains("floating-point"));
    let bad = run(r#"{a: {"$decimal": "twelve"}}"#, "null").unwrap();
    assert!(render(&bad).unwrap_err().contains("not a decimal"));
}

#[test]
fn ids_keep_every_digit() {
    let out = run(".id", r#"{"id": 1234567890123456789}"#).unwrap();
    assert_eq!(id_text(&out).unwrap(), "1234567890123456789");
    assert_eq!(
        last_segment("https://x/record/v1/salesOrder/1234567890123456789").as_deref(),
        Some("1234567890123456789")
    );
    assert_eq!(last_segment("/a/b%2Fc/").as_deref(), Some("b/c"));
}

#[test]
fn templates_name_unknown_placeholders() {
    assert!(check_template("f", "a/{reference}", &["reference"]).is_ok());
    let err = check_template("f", "a/{id}", &["reference"]).unwrap_err();
    assert_eq!(err, "f: unknown placeholder {id} (known: {reference})");
    assert_eq!(
        fill_path("orders({id})/cancel", &[("id", "a/b")]),
        vec!["orders(a/b)", "cancel"]
    );
}

/// A mapping without the journal calls still compiles (settlements are
/// optional), and says by name what it lacks for them.
#[test]
fn journal_calls_are_optional_and_named_when_missing() {
    let full = ErpMapping::simulated();
    assert_eq!(full.journals_mapped(), Ok(()));
    let mut no_journal = full.clone();
    no_journal.journal = None;
    no_journal.validate().unwrap();
    assert!(
        no_journal
            .journals_mapped()
            .unwrap_err()
            .contains("no `journal` call")
    );
    let mut no_lookup = full;
    no_lookup.find_journal = None;
    assert!(
        no_lookup
            .journals_mapped()
            .unwrap_err()
            .contains("no `find_journal` lookup")
    );
}

/// The simulated mapping moves the journal's amounts as their strings.
#[test]
fn the_simulated_journal_body_keeps_amounts_as_written() {
    let mapping = ErpMapping::simulated();
    let body = &mapping.journal.as_ref().unwrap().body;
    let out = run(
        body,
        r#"{"reference": "settlement:amazon:1:2026-10", "journal": {"settlement_id": "1",
            "month": "2026-10", "date": "2026-10-29", "currency": "USD",
            "lines": [{"account": "bank", "debit": "10.10", "credit": "0", "memo": "m"}]}}"#,
    )
    .unwrap();
    let text = render(&out).unwrap();
    assert!(text.contains(r#""debit":"10.10""#), "{text}");
    assert!(
        text.contains(r#""reference":"settlement:amazon:1:2026-10""#),
        "{text}"
    );
}
