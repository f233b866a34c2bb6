//! `crossdock translate --from <channel> --config FILE` for a channel added
//! by configuration (`kind = "mapped"`, `config/channels/regional.toml`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const MAPPING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../config/channels/regional.toml"
);

/// A hub configuration with the regional channel, its mapping in a file
/// next to it (`file` is relative to the configuration).
fn config(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("channels")).unwrap();
    std::fs::copy(MAPPING, dir.join("channels/regional.toml")).unwrap();
    let path = dir.join("hub.toml");
    std::fs::write(
        &path,
        r#"
[erp]
kind = "rest"
base_url = "http://127.0.0.1:9102"

[[warehouses]]
name = "east"
kind = "rest"
base_url = "http://127.0.0.1:9103"

[warehouses.signing]
secret_env = "CROSSDOCK_EAST_WEBHOOK_SECRET"

[[channels]]
name = "regional"
kind = "mapped"
base_url = "http://127.0.0.1:9101"
mapping = { file = "channels/regional.toml" }
"#,
    )
    .unwrap();
    path
}

fn order() -> Value {
    json!({
        "order_id": "WS-000123", "sequence": 3, "status": "open",
        "updated_at": "2026-11-26T20:00:00Z", "created_at": "2026-11-26T20:00:00Z",
        "currency": "USD",
        "buyer": { "id": "B-42", "email": "b42@example.com", "name": "Buyer 42", "phone": null },
        "ship_to": { "name": "Buyer 42", "line1": "1 Main St", "line2": null, "city": "Springfield",
                     "region": "IL", "postal_code": "62701", "country": "US" },
        "items": [
            { "line_id": "1", "sku": "SKU-001", "title": "Widget", "quantity": 2,
              "unit_price": "19.99", "discount": "0.00", "tax": "3.20" },
            { "line_id": "2", "sku": "SKU-002", "title": "Gadget", "quantity": 1,
              "unit_price": "5.00", "discount": "0.50", "tax": "0.37" },
            { "line_id": "3", "sku": "SKU-003", "title": "Gizmo", "quantity": 1,
              "unit_price": "1.00", "discount": "0.00", "tax": "0.00" },
            { "line_id": "4", "sku": "SKU-004", "title": "Doohickey", "quantity": 1,
              "unit_price": "2.00", "discount": "0.00", "tax": "0.00" }
        ],
        "shipping": "4.99", "total": "56.04", "service_level": "standard"
    })
}

fn translate(dir: &Path, body: &Value, config: Option<&Path>) -> std::process::Output {
    let file = dir.join("order.json");
    std::fs::write(&file, serde_json::to_vec(body).unwrap()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_crossdock"));
    command.args(["translate", "--from", "regional"]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.arg(&file).output().expect("run crossdock")
}

#[test]
fn prints_the_canonical_order_of_a_mapped_channel() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = translate(dir.path(), &order(), Some(&config));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let canonical: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(canonical["channel"], "regional");
    assert_eq!(canonical["external_id"], "WS-000123");
    assert_eq!(canonical["source_version"], 3);
    assert_eq!(canonical["lines"][0]["unit_price"]["amount"], "19.99");
    assert_eq!(canonical["lines"].as_array().unwrap().len(), 4);
    assert_eq!(canonical["total"]["amount"], "56.04");
    assert_eq!(canonical["customer"]["email"], "b42@example.com");
}

#[test]
fn a_bad_payload_exits_non_zero_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut body = order();
    body["items"][3]["unit_price"] = json!("two dollars");
    let out = translate(dir.path(), &body, Some(&config));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("items[3].unit_price: expected decimal"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_channel_name_needs_the_config_that_defines_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = translate(dir.path(), &order(), None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--config"), "{stderr}");
}

#[test]
fn a_broken_mapping_file_is_located_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mapping = dir.path().join("channels/regional.toml");
    let text = std::fs::read_to_string(&mapping)
        .unwrap()
        .replace("version = 1", "version = \"one\"");
    std::fs::write(&mapping, text).unwrap();
    let out = translate(dir.path(), &order(), Some(&config));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("regional.toml:"), "{stderr}");
    assert!(stderr.contains("version"), "{stderr}");
}
