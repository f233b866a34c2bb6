//! Signed webhooks end to end, through the hub's HTTP door: for the
//! webstore channel and a REST warehouse, a good delivery is taken; an
//! unsigned one, one signed with a wrong secret, one too old and the same
//! attempt replayed get 401 with the check that failed, are kept as
//! rejected with that reason, and are counted by check; a secret rotates
//! without downtime. And no secret ever shows in what the hub prints, logs,
//! answers or exposes as metrics.

use crate::support::crossdock;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crossdock::config::{ChannelSpec, Config, WarehouseSpec};
use crossdock_connectors::signature::{WebhookSecret, WebhookSigningConfig};
use serde_json::{Value, json};

use crate::support::app::{
    CHANNEL, Reply, TestApp, now_secs, order_doc, signed_headers, spawn_app, spawn_app_with,
};

/// A delivery's headers, as `signed_headers` makes them.
type Headers = Vec<(&'static str, String)>;

fn key(text: &str) -> WebhookSecret {
    WebhookSecret::parse(&format!("whsec_{}", BASE64.encode(text))).unwrap()
}

async fn post(app: &TestApp, path: &str, headers: &Headers, body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post_raw(path, &headers, body.to_vec()).await
}

/// 401 with code CD-IN-0401 and a message naming `expected`.
fn assert_refused(r: &Reply, expected: &str) {
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body["error"]["code"], "CD-IN-0401", "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
}

/// A good delivery of `body` to `path`, then each bad case: 401 naming the
/// check, kept as rejected from `source` with that reason, counted.
async fn every_bad_case(app: &TestApp, path: &str, source: &str, body: &[u8]) {
    let now = now_secs();
    // Good: signed with the key the source is configured with.
    let good = signed_headers(&app.signing, "msg-good", now, body);
    let r = post(app, path, &good, body).await;
    assert_eq!(r.status, 200, "{r:?}");

    let cases: [(&str, Headers, &str); 4] = [
        ("unsigned", Vec::new(), "headers.webhook-id: missing"),
        (
            "wrong secret",
            signed_headers(&key("a key the hub was never given"), "msg-w", now, body),
            "does not match",
        ),
        (
            "old timestamp",
            signed_headers(&app.signing, "msg-old", now - 600, body),
            "old; deliveries are accepted within 300 s",
        ),
        // The good attempt again, byte for byte, after its commit.
        ("replayed", good.clone(), "already received"),
    ];
    for (case, headers, reason) in &cases {
        let r = post(app, path, headers, body).await;
        assert_eq!(r.status, 401, "{case}: {r:?}");
        assert_refused(&r, reason);
    }

    let rejected = app
        .store
        .inbox_messages(Some("rejected"), 100)
        .await
        .unwrap();
    let ours: Vec<_> = rejected.iter().filter(|m| m.source == source).collect();
    assert_eq!(ours.len(), cases.len(), "every bad delivery kept: {ours:?}");
    for (_, _, reason) in &cases {
        assert!(
            ours.iter()
                .any(|m| m.note.as_deref().unwrap_or("").contains(reason) && m.body == body),
            "none kept with {reason:?}: {ours:?}"
        );
    }

    let metrics = app.get("/metrics").await;
    let text = metrics.body.as_str().expect("metrics are text");
    for check in ["missing", "mismatch", "stale", "replayed"] {
        assert!(
            text.lines().any(|l| {
                l.starts_with("crossdock_webhook_signature_failures_total")
                    && l.contains(&format!("check=\"{check}\""))
                    && l.contains(&format!("source=\"{source}\""))
            }),
            "no {check} failure counted for {source}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_webstore_deliveries_get_401_are_kept_and_counted() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&order_doc("WS-810001", 1)).unwrap();
    every_bad_case(
        &app,
        &format!("/webhooks/channels/{CHANNEL}"),
        &format!("channel:{CHANNEL}"),
        &body,
    )
    .await;
    // The good one is an order; none of the bad ones made one.
    assert!(
        app.order_view(&crate::support::app::order_id("WS-810001"))
            .await
            .is_some()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_warehouse_deliveries_get_401_are_kept_and_counted() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&json!({
        "shipment_id": "SH-EAST-810001",
        "request_id": "req-810001",
        "order_id": "o-810001",
        "carrier": "UPS",
        "tracking_number": "1Z810001",
        "shipped_at": "2026-11-27T10:00:00Z",
        "lines": [{ "line_id": "1", "sku": "SKU-001", "quantity": 1 }]
    }))
    .unwrap();
    every_bad_case(&app, "/webhooks/warehouses/east", "warehouse:east", &body).await;
    app.stop().await;
}

/// The hub's signing tables all point at `current`, and at `previous` as
/// the secret being rotated out when given.
fn sign_with(config: &mut Config, current: &Path, previous: Option<&Path>) {
    let signing = WebhookSigningConfig {
        previous_secret_file: previous.map(Path::to_path_buf),
        ..WebhookSigningConfig::from_file(current)
    };
    for c in &mut config.channels {
        if let ChannelSpec::Webstore(w) = &mut c.spec {
            w.signing = signing.clone();
        }
    }
    for w in &mut config.warehouses {
        if let WarehouseSpec::Rest(r) = &mut w.spec {
            r.signing = signing.clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_secret_rotates_without_downtime_and_is_refused_once_removed() {
    let keys = tempfile::tempdir().unwrap();
    let (old, new) = (keys.path().join("old"), keys.path().join("new"));
    std::fs::write(&old, key("the secret being rotated out").to_whsec()).unwrap();
    std::fs::write(&new, key("the secret rotated in, now").to_whsec()).unwrap();
    let sign = |path: &Path, id: &str, body: &[u8]| {
        let secret = WebhookSecret::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        signed_headers(&secret, id, now_secs(), body)
    };
    let order = |n: u32| serde_json::to_vec(&order_doc(&format!("WS-82000{n}"), 1)).unwrap();
    let webstore = format!("/webhooks/channels/{CHANNEL}");
    let shipment =
        serde_json::to_vec(&json!({ "shipment_id": "SH-820", "order_id": "o-820" })).unwrap();

    // During the rotation both are accepted, from every source.
    let app = spawn_app_with(|_, c| sign_with(c, &new, Some(&old))).await;
    for (n, path) in [(1, &old), (2, &new)] {
        let body = order(n);
        let r = post(
            &app,
            &webstore,
            &sign(path, &format!("r-{n}"), &body),
            &body,
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        let id = format!("s-{n}");
        let r = post(
            &app,
            "/webhooks/warehouses/west",
            &sign(path, &id, &shipment),
            &shipment,
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    app.stop().await;

    // Once the old secret is removed from the configuration, it is refused.
    let app = spawn_app_with(|_, c| sign_with(c, &new, None)).await;
    let body = order(3);
    let r = post(&app, &webstore, &sign(&old, "r-3", &body), &body).await;
    assert_refused(&r, "does not match the secret");
    let r = post(
        &app,
        "/webhooks/warehouses/west",
        &sign(&old, "s-3", &shipment),
        &shipment,
    )
    .await;
    assert_refused(&r, "does not match the secret");
    let r = post(&app, &webstore, &sign(&new, "r-4", &body), &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let rejected = app
        .store
        .inbox_messages(Some("rejected"), 10)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    app.stop().await;
}

// ------------------------------------------------------ secrets never shown

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Every way the secrets' text could be written: the `whsec_` form, its
/// base64 key, and the key itself (chosen printable so it would be seen).
fn forms(raw: &str) -> Vec<String> {
    let whsec = key(raw).to_whsec();
    let b64 = whsec.trim_start_matches("whsec_").to_owned();
    vec![whsec, b64, raw.to_owned()]
}

fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} shows the secret {s:?}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_in_output_logs_errors_or_metrics() {
    const CURRENT: &str = "ZEBRA-current-signing-secret-7731";
    const PREVIOUS: &str = "OKAPI-previous-signing-secret-4402";
    const VAR: &str = "CROSSDOCK_TEST_SIGNED_WEBHOOKS_SECRET";
    let secrets: Vec<String> = forms(CURRENT).into_iter().chain(forms(PREVIOUS)).collect();
    let dir = tempfile::tempdir().unwrap();
    let previous_file = dir.path().join("previous.secret");
    std::fs::write(&previous_file, key(PREVIOUS).to_whsec()).unwrap();

    // The hub takes the current secret from the environment and the
    // previous one from a file; the simulators sign with the current one.
    let port = free_port();
    let mut config = Config::demo();
    config.hub.data_dir = dir.path().join("data");
    config.hub.listen = format!("127.0.0.1:{port}");
    let signing = WebhookSigningConfig {
        secret_env: Some(VAR.into()),
        secret_file: None,
        previous_secret_file: Some(previous_file.clone()),
        ..WebhookSigningConfig::default()
    };
    for c in &mut config.channels {
        if let ChannelSpec::Webstore(w) = &mut c.spec {
            w.signing = signing.clone();
        }
    }
    for w in &mut config.warehouses {
        if let WarehouseSpec::Rest(r) = &mut w.spec {
            r.signing = signing.clone();
        }
    }
    let sim = config.sim.as_mut().unwrap();
    sim.sign_webhooks_with(&crossdock_sim::SigningSimConfig {
        secret_env: Some(VAR.into()),
        secret_file: None,
    });
    sim.channel.listen = format!("127.0.0.1:{}", free_port());
    sim.erp.listen = format!("127.0.0.1:{}", free_port());
    for w in &mut sim.warehouses {
        w.listen = format!("127.0.0.1:{}", free_port());
        w.ship_delay_ms = 200;
    }
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();

    // `--print-config` and `config check` name where the secrets are, only.
    for args in [
        vec!["demo", "--print-config", "--config"],
        vec!["config", "check"],
    ] {
        let out = crossdock()
            .args(&args)
            .arg(&path)
            .env(VAR, key(CURRENT).to_whsec())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        assert_no_secret(&format!("{args:?}"), &text, &secrets);
    }

    // The demo with every log line on, through good and bad deliveries.
    let logs = dir.path().join("demo.log");
    let child = crossdock()
        .args([
            "demo",
            "--duration",
            "6s",
            "--orders-per-sec",
            "5",
            "--json",
            "--config",
        ])
        .arg(&path)
        .env(VAR, key(CURRENT).to_whsec())
        .env("CROSSDOCK_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&logs).unwrap())
        .spawn()
        .unwrap();
    let hub = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("{hub}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the demo's hub never got ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = serde_json::to_vec(&order_doc("WS-830001", 1)).unwrap();
    let now = now_secs();
    let good = signed_headers(&key(PREVIOUS), "leak-1", now, &body);
    let mut answers = String::new();
    for headers in [
        good.clone(),
        Vec::new(),
        signed_headers(&key("some other key entirely"), "leak-2", now, &body),
        signed_headers(&key(CURRENT), "leak-3", now - 900, &body),
        good,
    ] {
        for path in ["/webhooks/channels/webstore", "/webhooks/warehouses/east"] {
            let mut request = client.post(format!("{hub}{path}")).body(body.clone());
            for (name, value) in &headers {
                request = request.header(*name, value);
            }
            let reply = request.send().await.unwrap();
            let status = reply.status();
            answers.push_str(&format!("{status} {}\n", reply.text().await.unwrap()));
        }
    }
    assert!(answers.contains("401"), "{answers}");
    let metrics = client
        .get(format!("{hub}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("crossdock_webhook_signature_failures_total"),
        "{metrics}"
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        std::fs::read_to_string(&logs).unwrap()
    );
    // The demo ran to its summary: its simulators' signed deliveries got in.
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["orders_ingested"].as_u64() > Some(0), "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_no_secret("error bodies", &answers, &secrets);
    assert_no_secret("metrics", &metrics, &secrets);
    assert_no_secret("stdout", &String::from_utf8_lossy(&out.stdout), &secrets);
    assert_no_secret("logs", &std::fs::read_to_string(&logs).unwrap(), &secrets);

    // A secret that does not read is refused without being quoted.
    std::fs::write(&previous_file, format!("whsec_{PREVIOUS}!")).unwrap();
    let out = crossdock()
        .args(["serve", "--config"])
        .arg(&path)
        .env(VAR, key(CURRENT).to_whsec())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success());
    assert!(text.contains("previous_secret"), "{text}");
    assert_no_secret("the refusal of a bad secret", &text, &secrets);
}
