//! The binary's own behaviour at its edges: configuration errors, schema,
//! the demo's summary.

use crate::support::crossdock;

#[test]
fn config_check_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = crossdock()
        .args(["demo", "--print-config"])
        .output()
        .unwrap();
    assert!(good.status.success());
    let text = String::from_utf8(good.stdout).unwrap();
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, &text).unwrap();
    let ok = crossdock()
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // A misspelt key in [hub]: the error names the file, the line, the key.
    let bad = text.replacen("max_body_bytes", "max_body_byte", 1);
    let line = bad
        .lines()
        .position(|l| l.starts_with("max_body_byte "))
        .unwrap()
        + 1;
    std::fs::write(&path, &bad).unwrap();
    let out = crossdock()
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let expected = format!("{}:{line}:1 (key hub.max_body_byte)", path.display());
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("unknown field `max_body_byte`"), "{err}");
}

#[test]
fn config_check_reports_environment_override_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = crossdock()
        .args(["demo", "--print-config"])
        .output()
        .unwrap()
        .stdout;
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, text).unwrap();
    let out = crossdock()
        .args(["config", "check"])
        .arg(&path)
        .env("CROSSDOCK__ENGINE__MAX_ATTEMPTS", "zero")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("CROSSDOCK__ENGINE__MAX_ATTEMPTS"), "{err}");
}

/// The shipped Tryton demo configuration is valid, and the Tryton
/// settings it needs are checked: a Tryton ERP without `[erp.tryton]`, or
/// with a location that is no warehouse, is refused by name.
#[test]
fn tryton_demo_config_is_valid_and_its_settings_are_checked() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-tryton.toml");
    let ok = crossdock()
        .args(["config", "check", shipped])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = std::fs::read_to_string(shipped).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.toml");
    for (broken, expected) in [
        (
            text.replace("location = \"east\"", "location = \"north\""),
            "erp.tryton.location: \"north\" is not one of the [[warehouses]]",
        ),
        (
            text.replace("password = \"crossdock-admin\"", ""),
            "erp.tryton: set password_env or password",
        ),
        (
            text.replace(
                "requests_per_sec = 10",
                "requests_per_sec = 10\nheadroom_pct = 100",
            ),
            "erp.governor: headroom_pct must be below 100",
        ),
    ] {
        std::fs::write(&path, broken).unwrap();
        let out = crossdock()
            .args(["config", "check"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{expected}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(expected), "{err}");
    }
}

#[test]
fn schema_covers_the_canonical_types() {
    let out = crossdock().arg("schema").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in [
        "Order",
        "OrderLine",
        "Money",
        "Shipment",
        "FulfillmentRequest",
        "ExceptionRecord",
        "Settlement",
        "SettlementSummary",
        "Journal",
    ] {
        assert!(v.get(name).is_some(), "schema lacks {name}");
    }
    assert_eq!(v["Money"]["properties"]["amount"]["type"], "string");
}

/// The demo end to end, as a newcomer runs it (shortened): every generated
/// order is ingested and none is duplicated anywhere.
#[test]
fn demo_runs_end_to_end_with_no_loss_and_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let out = crossdock()
        .args([
            "demo",
            "--duration",
            "4s",
            "--orders-per-sec",
            "25",
            "--any-ports",
            "--json",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let generated = s["orders_generated"].as_u64().unwrap();
    assert!(generated >= 50, "{s}");
    assert_eq!(s["orders_ingested"].as_u64().unwrap(), generated, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["duplicates_at_erp"], 0, "{s}");
    assert_eq!(s["duplicate_shipments"], 0, "{s}");
    let closed = s["orders_closed"].as_u64().unwrap();
    let cancelled = s["orders_cancelled"].as_u64().unwrap();
    assert!(closed + cancelled > 0, "{s}");
}

/// The generic REST ERP connector, described entirely by a mapping (here
/// the one for the simulated ERP's API), runs the whole order lifecycle.
#[test]
fn demo_runs_through_a_mapped_rest_erp() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crossdock::config::Config::demo();
    // `--data-dir` below moves the store, not the named key: it is written here.
    config.hub.data_dir = dir.path().join("keys");
    config.use_demo_signing_secret().unwrap();
    config.erp.spec = crossdock::config::ErpSpec::MappedRest(Box::new(
        crossdock_connectors::erp::ErpMapping::simulated(),
    ));
    // No cancellations: every order must go all the way through the ERP.
    config.sim.as_mut().unwrap().channel.cancel_rate = 0.0;
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let out = crossdock()
        .args([
            "demo",
            "--duration",
            "3s",
            "--orders-per-sec",
            "20",
            "--any-ports",
            "--json",
        ])
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let generated = s["orders_generated"].as_u64().unwrap();
    assert!(generated >= 30, "{s}");
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["duplicates_at_erp"], 0, "{s}");
    assert_eq!(s["exceptions"], 0, "{s}");
    assert!(s["orders_closed"].as_u64().unwrap() > 0, "{s}");
}

/// Marketplace channels need their credential tables, and only their own.
#[test]
fn marketplace_channels_need_their_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crossdock::config::Config::demo();
    let mut walmart = config.channels[0].clone();
    walmart.name = "walmart".into();
    walmart.spec = crossdock::config::ChannelSpec::Walmart(crossdock::config::WalmartConfig {
        client_id: "id".into(),
        client_secret: Some("secret".into()),
        client_secret_env: None,
        webhook_authorization: None,
    });
    let mut amazon = config.channels[0].clone();
    amazon.name = "amazon".into();
    amazon.spec = crossdock::config::ChannelSpec::Amazon(crossdock::config::AmazonConfig {
        lwa_url: "https://api.amazon.com/auth/o2/token".into(),
        client_id: "amzn1.application-oa2-client.x".into(),
        client_secret: None,
        client_secret_env: Some("CROSSDOCK_TEST_LWA_SECRET_UNSET".into()),
        refresh_token: Some("Atzr|x".into()),
        refresh_token_env: None,
        marketplace_id: "ATVPDKIKX0DER".into(),
        seller_id: None,
        feed_poll_ms: 15_000,
    });
    config.channels.push(walmart);
    config.channels.push(amazon);
    let path = dir.path().join("hub.toml");
    let check_text = |text: &str| {
        std::fs::write(&path, text).unwrap();
        crossdock()
            .args(["config", "check"])
            .arg(&path)
            .output()
            .unwrap()
    };
    let check = |config: &crossdock::config::Config| check_text(&toml::to_string(config).unwrap());
    // The secret's variable is not set: named precisely.
    let out = check(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("channels[2].amazon")
            && err.contains("CROSSDOCK_TEST_LWA_SECRET_UNSET (client_secret_env) is not set"),
        "{err}"
    );
    // With the secret given, it checks out.
    let last = config.channels.len() - 1;
    let crossdock::config::ChannelSpec::Amazon(a) = &mut config.channels[last].spec else {
        unreachable!("the last channel is the Amazon one")
    };
    a.client_secret = Some("s".into());
    a.client_secret_env = None;
    let out = check(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A Walmart channel without its table is refused by name.
    // (A kind without its table cannot be built in code; it can be written.)
    let mut written: toml::Table = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    written["channels"].as_array_mut().unwrap()[1]
        .as_table_mut()
        .unwrap()
        .remove("walmart");
    let out = check_text(&toml::to_string(&written).unwrap());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("channels[1].walmart: required when kind = \"walmart\""),
        "{err}"
    );
}

/// The shipped marketplaces demo: Shopify, Walmart, Amazon and a regional
/// channel by configuration sell the same low stock; every order placed
/// anywhere is ingested, none is duplicated, and every marketplace is sent
/// availability.
#[test]
fn marketplaces_demo_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/demo-marketplaces.toml"
    );
    let out = crossdock()
        .args(["demo", "--duration", "6s", "--any-ports", "--json"])
        .arg("--config")
        .arg(shipped)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["lost"], 0, "{s}");
    assert_eq!(s["duplicates_at_erp"], 0, "{s}");
    assert_eq!(s["duplicate_shipments"], 0, "{s}");
    assert_eq!(s["exceptions"], 0, "{s}");
    let marketplaces = s["marketplaces"].as_array().expect("marketplaces");
    assert_eq!(marketplaces.len(), 3, "{s}");
    for m in marketplaces {
        assert!(m["orders_generated"].as_u64().unwrap() > 0, "{m}");
        assert_eq!(
            m["orders_closed"].as_u64().unwrap() + m["orders_cancelled"].as_u64().unwrap(),
            m["orders_generated"].as_u64().unwrap(),
            "every order settled: {m}"
        );
    }
    let availability = s["availability"].as_array().expect("availability");
    assert_eq!(availability.len(), 3, "{s}");
    for c in availability {
        assert!(c["samples"].as_u64().unwrap() > 0, "{c}");
    }
}

#[test]
fn simulate_writes_the_report_and_names_a_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/peak-season.toml"),
    )
    .unwrap();
    let short = shipped.replace("duration = \"24h\"", "duration = \"1h\"");
    let scenario = dir.path().join("short.toml");
    std::fs::write(&scenario, &short).unwrap();
    let report = dir.path().join("out");
    let out = crossdock()
        .args(["simulate", "--seed", "3", "--scenario"])
        .arg(&scenario)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(
        summary.contains("invariants: oversold 0 unit(s), duplicates 0, lost 0"),
        "{summary}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["seed"], 3);
    assert_eq!(json["channels"].as_array().map(Vec::len), Some(5));
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));

    // A sweep: one report per seed and a row per seed in the table.
    let sweep = dir.path().join("sweep");
    let out = crossdock()
        .args(["simulate", "--seeds", "1,2", "--scenario"])
        .arg(&scenario)
        .arg("--report")
        .arg(&sweep)
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.starts_with("| seed | orders | oversold units | duplicates | lost |"),
        "{table}"
    );
    for seed in [1, 2] {
        assert!(table.contains(&format!("\n| {seed} | ")), "{table}");
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(sweep.join(format!("seed-{seed}/report.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(json["seed"], seed);
    }
    // --seed and --seeds together are refused.
    let out = crossdock()
        .args(["simulate", "--seed", "1", "--seeds", "1..2", "--scenario"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A bad value: refused with the file and the field, nothing run.
    let bad = short.replacen("max_concurrency = 4", "max_concurrency = 0", 1);
    assert_ne!(bad, short);
    std::fs::write(&scenario, bad).unwrap();
    let out = crossdock()
        .args(["simulate", "--scenario"])
        .arg(&scenario)
        .arg("--report")
        .arg(dir.path().join("never"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("short.toml") && err.contains("erp"), "{err}");
    assert!(!dir.path().join("never").exists());
}
