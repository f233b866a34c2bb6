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
pub(crate) fn config(dir: &Path) -> PathBuf {
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

/// `crossdock mapping diff`: the regional channel's stored payloads, mapped
/// with its current mapping and with a changed one.
mod mapping_diff {
    use super::*;
    use crossdock_store::{MessageOrigin, NewMessage, Store};

    /// Three stored payloads of the regional channel; each line also says
    /// its list price, which the current mapping does not read.
    async fn stored(dir: &Path) {
        let store = Store::open_dir(&dir.join("data")).await.expect("store");
        let messages: Vec<NewMessage> = (1..=3)
            .map(|i| {
                let mut body = order();
                body["order_id"] = json!(format!("WS-{i}"));
                for item in body["items"].as_array_mut().unwrap() {
                    item["list_price"] = json!("99.00");
                }
                NewMessage {
                    source: "channel:regional".into(),
                    message_key: format!("evt-{i}"),
                    entity_key: format!("order:{i}"),
                    source_version: Some(3),
                    body: serde_json::to_vec(&body).unwrap(),
                    received_at: chrono::Utc::now().timestamp_millis(),
                    step: "channel_message".into(),
                    origin: MessageOrigin::Delivered,
                }
            })
            .collect();
        store.accept_messages(&messages).await.expect("accept");
        store.close().await;
    }

    fn diff(dir: &Path, new_mapping: &str, extra: &[&str]) -> std::process::Output {
        let new = dir.join("new.toml");
        std::fs::write(&new, new_mapping).unwrap();
        Command::new(env!("CARGO_BIN_EXE_crossdock"))
            .args(["mapping", "diff", "--channel", "regional", "--config"])
            .arg(config(dir))
            .arg("--new")
            .arg(&new)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .output()
            .expect("run crossdock")
    }

    #[tokio::test]
    async fn lists_field_by_field_what_a_new_mapping_changes_and_gates_on_it() {
        let dir = tempfile::tempdir().unwrap();
        stored(dir.path()).await;
        let current = std::fs::read_to_string(MAPPING).unwrap();

        // The same mapping: nothing changes, exit 0.
        let out = diff(dir.path(), &current, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("3 payload(s), 3 unchanged, 0 changed"),
            "{stdout}"
        );

        // A changed price path: every order changes, line by line.
        let price = current.replace(
            "unit_price = \"/unit_price\"",
            "unit_price = \"/list_price\"",
        );
        assert_ne!(price, current);
        let out = diff(dir.path(), &price, &["--json"]);
        assert_eq!(out.status.code(), Some(1));
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(report["payloads"], 3);
        let changes = report["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[0]["kind"], "changed");
        assert_eq!(
            changes[0]["fields"]["lines[0].unit_price.amount"],
            json!(["19.99", "99.00"]),
            "{report}"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("3 of 3 payload(s)"));
        // Accepted: the same report, exit 0.
        assert!(diff(dir.path(), &price, &["--accept"]).status.success());

        // A renamed field the payloads do not have: they can no longer be read.
        let renamed = current.replace("lines = \"/items\"", "lines = \"/line_items\"");
        let out = diff(dir.path(), &renamed, &[]);
        assert_eq!(out.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches(": unreadable: ").count(), 3, "{stdout}");
    }
}
