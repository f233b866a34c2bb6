//! `crossdock edi parse` run as a binary on the shared X12 reference samples
//! (read at test time, never copied into the repository).

use std::process::Command;

use serde_json::Value;

const REFERENCE: &str = "/work/shared/reference";

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crossdock"))
        .args(["edi", "parse"])
        .args(args)
        .output()
        .expect("run crossdock")
}

#[test]
fn parses_and_maps_an_856() {
    let file = format!("{REFERENCE}/x12-node-x12/856.edi");
    let out = run(&[&file, "--warehouse", "WH1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["canonical", "interchange", "issues", "mapping_errors"]
    );
    assert!(doc["interchange"]["groups"][0]["sets"][0]["segments"].is_array());
    assert_eq!(doc["issues"], Value::Array(vec![]));
    let shipments = doc["canonical"]["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 1);
    assert_eq!(shipments[0]["id"], "WH1:829716");
    assert_eq!(shipments[0]["order_id"], "99999817");
    assert_eq!(shipments[0]["tracking"]["number"], "5787970539");
    assert_eq!(shipments[0]["lines"][0]["quantity"], 24);
    assert!(doc["canonical"].get("positions").is_none());
}

#[test]
fn lenient_issues_and_mapping_errors_are_reported() {
    let file = format!("{REFERENCE}/x12-oopfactory/945_inter-americanproducts.txt");
    let out = run(&[&file, "--warehouse", "WH1"]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let issue = &doc["issues"][0];
    assert_eq!(issue["position"]["segment"], 2);
    assert_eq!(issue["position"]["element"], 9);
    assert_eq!(doc["canonical"], Value::Null);
    let msg = doc["mapping_errors"][0]["message"].as_str().unwrap();
    assert!(msg.starts_with("segment 4 (W06), element 2:"), "{msg}");
}

#[test]
fn malformed_file_fails_with_segment_and_element() {
    let file = format!("{REFERENCE}/x12-oopfactory/856_Example3.txt");
    let out = run(&[&file]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {file}: segment 1 (ISA), element 16: ")),
        "{stderr}"
    );
}
