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

/// The `GET orders/450789469/refunds/509562969.json` response of the Shopify REST examples.
fn shopify_refund_example() -> Option<Value> {
    let path = format!("{REFERENCE}/shopify-admin-rest-examples-2025-07/refund.json");
    let text = std::fs::read_to_string(path).ok()?;
    let cases: Value = serde_json::from_str(&text).unwrap();
    cases
        .as_array()?
        .iter()
        .find(|c| c["test"] == "test_4")
        .map(|c| c["response_body"].clone())
}

#[test]
fn translates_a_shopify_refund() {
    let Some(body) = shopify_refund_example() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refund.json");
    std::fs::write(&file, serde_json::to_vec(&body).unwrap()).unwrap();
    let out = run("shopify-refund", &file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let refund: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(refund["external_id"], "509562969");
    assert_eq!(refund["channel"], "shopify");
    assert_eq!(
        refund["amount"],
        json!({"amount": "209.00", "currency": "USD"})
    );
    assert_eq!(refund["lines"][0]["line_id"], "703073504");
    assert_eq!(refund["lines"][0]["amount"]["amount"], "195.66");

    let mut bad = body;
    bad["refund"]["refund_line_items"][1]["subtotal"] = json!("abc");
    let file = dir.path().join("bad.json");
    std::fs::write(&file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let out = run("shopify-refund", &file);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refund.refund_line_items[1].subtotal: expected decimal"),
        "stderr: {stderr}"
    );
}

/// Inventory kinds print an array of positions; a bad quantity names its path.
#[test]
fn translates_walmart_inventory_and_names_a_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inventory.json");
    let body = json!({ "sku": "97964_KFTest", "quantity": { "unit": "EACH", "amount": 10 } });
    std::fs::write(&file, serde_json::to_vec(&body).unwrap()).unwrap();
    let out = run("walmart-inventory", &file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let positions: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(positions[0]["sku"], "97964_KFTest");
    assert_eq!(positions[0]["location"], "default");
    assert_eq!(positions[0]["on_hand"], 10);
    assert_eq!(positions[0]["source"], "walmart");

    let bad = json!({ "sku": "97964_KFTest", "quantity": { "unit": "CASE", "amount": 10 } });
    std::fs::write(&file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let out = run("walmart-inventory", &file);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("inventory.json") && stderr.contains("quantity.unit: unit \"CASE\""),
        "stderr: {stderr}"
    );
}
