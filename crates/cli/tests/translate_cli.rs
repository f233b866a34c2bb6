//! `crossdock translate` run as a binary. The good input is an order taken
//! from the shared reference examples at test time (written to a temporary
//! directory, never copied into the repository); the bad one is that order
//! with a broken price.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

const REFERENCE: &str = "/work/shared/reference";

fn run(from: &str, file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crossdock"))
        .args(["translate", "--from", from])
        .arg(file)
        .output()
        .expect("run crossdock")
}

/// The `GET orders/450789469.json` response of the Shopify REST examples.
fn shopify_example() -> Option<Value> {
    let path = format!("{REFERENCE}/shopify-admin-rest-examples-2025-07/order.json");
    let text = std::fs::read_to_string(path).ok()?;
    let cases: Value = serde_json::from_str(&text).unwrap();
    cases
        .as_array()?
        .iter()
        .find(|c| c["test"] == "test_8")
        .map(|c| c["response_body"].clone())
}

#[test]
fn translates_a_shopify_order() {
    let Some(body) = shopify_example() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("order.json");
    std::fs::write(&file, serde_json::to_vec(&body).unwrap()).unwrap();
    let out = run("shopify-order", &file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let order: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(order["external_id"], "450789469");
    assert_eq!(order["channel"], "shopify");
    assert_eq!(order["status"], "received");
    assert_eq!(
        order["total"],
        json!({"amount": "598.94", "currency": "USD"})
    );
    assert_eq!(order["lines"][0]["unit_price"]["amount"], "199.00");
}

#[test]
fn bad_input_exits_non_zero_naming_the_field() {
    let Some(mut body) = shopify_example() else {
        return;
    };
    body["order"]["line_items"][2]["price"] = json!("one ninety-nine");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, serde_json::to_vec(&body).unwrap()).unwrap();
    let out = run("shopify-order", &file);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("order.line_items[2].price: expected decimal"),
        "stderr: {stderr}"
    );
}

#[test]
fn pending_amazon_order_is_reported_not_translated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pending.json");
    let body = json!({ "order": {
        "AmazonOrderId": "902-3159896-1390916", "PurchaseDate": "2017-01-20T19:49:35Z",
        "LastUpdateDate": "2017-01-20T19:49:35Z", "OrderStatus": "Pending"
    }});
    std::fs::write(&file, serde_json::to_vec(&body).unwrap()).unwrap();
    let out = run("amazon-order", &file);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is Pending"), "stderr: {stderr}");
}
