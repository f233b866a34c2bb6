//! Operating a running hub, through the real binary: configuration
//! versions and SIGHUP reloads, HTTPS with a configured certificate, and
//! secrets kept out of every output.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossdock::config::Config;
use crossdock_engine::rules::HoldRule;
use crossdock_sim::Estate;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_crossdock");
/// The admin key every hub here is started with (`CROSSDOCK_BOOTSTRAP_KEY`).
const HUB_KEY: &str = "cdk_0c5e1f2a3b4c5d6e7f8091a2b3c4d5e60c5e1f2a3b4c5d6e7f8091a2b3c4d5e6";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// `crossdock serve`, killed when dropped; its stderr goes to `log`.
struct Hub {
    child: Child,
    log: PathBuf,
}

impl Hub {
    fn start(config: &Path, log: &Path, extra: &[&str]) -> Hub {
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .args(extra)
            .env("CROSSDOCK_LOG", "debug")
            .env("CROSSDOCK_BOOTSTRAP_KEY", HUB_KEY)
            .env_remove("CROSSDOCK_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("create the log"))
            .spawn()
            .expect("spawn crossdock serve");
        Hub {
            child,
            log: log.to_owned(),
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the hub exited ({status}):\n{}", self.log());
        }
    }

    /// SIGTERM, and wait for it to stop.
    fn stop(mut self) -> String {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "the hub did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

async fn get_json(url: &str) -> (u16, Value) {
    let r = http()
        .get(url)
        .bearer_auth(HUB_KEY)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Ready, and its admin key installed (`serve` installs it after start).
async fn wait_ready(hub: &mut Hub, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        hub.assert_running();
        if let Ok(r) = http()
            .get(format!("{url}/v1/stats"))
            .bearer_auth(HUB_KEY)
            .send()
            .await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "not ready:\n{}", hub.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Poll `check` until it gives a value.
async fn wait_for<T>(
    what: &str,
    hub: &mut Hub,
    within: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        hub.assert_running();
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}:\n{}", hub.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn versions(url: &str) -> Vec<Value> {
    let (status, body) = get_json(&format!("{url}/v1/config/versions")).await;
    assert_eq!(status, 200, "{body}");
    body["versions"].as_array().expect("versions").clone()
}

fn write(path: &Path, config: &Config) {
    std::fs::write(path, toml::to_string(config).expect("toml")).expect("write the config");
}

/// The hub behind `crossdock serve` is the process the test signals; the
/// estate (webstore generating orders, ERP, warehouses) runs in the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_rules_and_refuses_what_needs_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut config = Config::demo();
    config.hub.data_dir = dir.path().join("data");
    config.hub.listen = format!("127.0.0.1:{port}");
    config.hub.database_url = None;
    config.engine.poll_interval_ms = 50;
    config.engine.reconcile_interval_ms = 0;
    config
        .use_demo_signing_secret()
        .expect("write the demo signing key");
    let mut sim = config.sim.take().expect("the demo has a sim");
    sim.hub_url = url.clone();
    sim.channel.listen = "127.0.0.1:0".into();
    sim.channel.orders_per_sec = 5.0;
    sim.channel.duplicate_rate = 0.0;
    sim.channel.cancel_rate = 0.0;
    sim.erp.listen = "127.0.0.1:0".into();
    for w in &mut sim.warehouses {
        w.listen = "127.0.0.1:0".into();
        w.ship_delay_ms = 200;
    }
    let estate = Estate::start(sim).await.expect("start the estate");
    for c in &mut config.channels {
        c.base_url = estate.channel_url();
    }
    config.erp.base_url = estate.erp_url();
    for (name, u) in estate.warehouse_urls() {
        if let Some(w) = config.warehouses.iter_mut().find(|w| w.name == name) {
            w.set_base_url(u);
        }
    }
    let path = dir.path().join("hub.toml");
    write(&path, &config);

    let mut hub = Hub::start(&path, &dir.path().join("hub.log"), &["--as", "ops-test"]);
    wait_ready(&mut hub, &url).await;

    // Started: one version, the file's hash (secrets left out), who, why.
    let started = versions(&url).await;
    assert_eq!(started.len(), 1, "{started:?}");
    let loaded = Config::load(&path).expect("reload the file");
    assert_eq!(started[0]["hash"], loaded.version_hash());
    assert_eq!(started[0]["who"], "ops-test");
    assert_eq!(started[0]["triggered_by"], "start");
    assert_eq!(started[0]["outcome"], "applied");

    // Orders flow and none is held: there is no hold rule.
    let orders_url = format!("{url}/v1/orders");
    wait_for(
        "orders flowing",
        &mut hub,
        Duration::from_secs(30),
        async || {
            let (_, body) = get_json(&orders_url).await;
            let n = body["orders"].as_array().map_or(0, Vec::len);
            (n >= 3).then_some(())
        },
    )
    .await;
    let held_url = format!("{url}/v1/orders/held");
    let (_, held) = get_json(&held_url).await;
    assert_eq!(held["orders"], Value::Array(Vec::new()), "{held}");

    // A hold rule is added to the file; SIGHUP applies it to new orders.
    config.rules.hold.push(HoldRule {
        name: "reload-hold".into(),
        when: "true".into(),
        reason: "held by the reloaded rules".into(),
        expires: None,
    });
    write(&path, &config);
    let new_hash = Config::load(&path).expect("new file").version_hash();
    assert_ne!(new_hash, loaded.version_hash());
    hub.signal("HUP");
    let applied = wait_for(
        "the reload recorded",
        &mut hub,
        Duration::from_secs(20),
        async || {
            let v = versions(&url).await;
            (v.len() == 2).then_some(v)
        },
    )
    .await;
    assert_eq!(applied[0]["triggered_by"], "sighup", "{applied:?}");
    assert_eq!(applied[0]["outcome"], "applied", "{applied:?}");
    assert_eq!(applied[0]["hash"], new_hash.as_str());
    assert_eq!(applied[0]["reason"], Value::Null);
    let held = wait_for(
        "an order held by the new rule",
        &mut hub,
        Duration::from_secs(30),
        async || {
            let (_, body) = get_json(&held_url).await;
            let orders = body["orders"].as_array().cloned().unwrap_or_default();
            (!orders.is_empty()).then_some(orders)
        },
    )
    .await;
    assert!(
        held.iter().all(|o| o["hold"]["rule"] == "reload-hold"),
        "{held:?}"
    );

    // A new listen address cannot be applied by a running hub: refused
    // with the key named, and the hub goes on where it was.
    let mut moved = config.clone();
    moved.hub.listen = format!("127.0.0.1:{}", free_port());
    write(&path, &moved);
    hub.signal("HUP");
    let refused = wait_for(
        "the refusal recorded",
        &mut hub,
        Duration::from_secs(20),
        async || {
            let v = versions(&url).await;
            (v.len() == 3).then_some(v)
        },
    )
    .await;
    assert_eq!(refused[0]["outcome"], "refused", "{refused:?}");
    let reason = refused[0]["reason"].as_str().expect("a reason");
    assert!(reason.contains("needs a restart"), "{reason}");
    assert!(reason.contains("hub.listen"), "{reason}");
    assert!(hub.log().contains("reload refused"), "{}", hub.log());

    // An invalid file is refused whole, with its error; still serving.
    std::fs::write(&path, "[hub\nlisten = ").expect("write garbage");
    hub.signal("HUP");
    let invalid = wait_for(
        "the invalid file recorded",
        &mut hub,
        Duration::from_secs(20),
        async || {
            let v = versions(&url).await;
            (v.len() == 4).then_some(v)
        },
    )
    .await;
    assert_eq!(invalid[0]["outcome"], "refused");
    assert_eq!(invalid[0]["hash"], "");
    let reason = invalid[0]["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("invalid: "), "{reason}");
    assert!(reason.contains("hub.toml:1"), "{reason}");
    let (status, _) = get_json(&format!("{url}/v1/stats")).await;
    assert_eq!(status, 200);

    // `crossdock config versions` reads the same from the store.
    let out = Command::new(BIN)
        .args(["config", "versions", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("CROSSDOCK_DATABASE_URL")
        .output()
        .expect("config versions");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.lines().next().is_some_and(|l| l.contains("refused")),
        "{text}"
    );
    assert!(text.contains(&new_hash[..12]), "{text}");
    assert!(text.contains("by ops-test"), "{text}");

    hub.stop();
    estate.shutdown().await;
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key PEM).
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("make a certificate");
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// One HTTP/1.1 request over TLS trusting only `ca_pem`; the raw answer.
async fn https_get(port: u16, ca_pem: &str, path: &str) -> std::io::Result<String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("a root");
    }
    // The server's provider (see `crossdock_server::tls`).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("server name");
    let mut tls = connector.connect(name, tcp).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {HUB_KEY}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    // A server may close without close_notify after `Connection: close`.
    let _ = tls.read_to_end(&mut answer).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed();
    std::fs::write(dir.path().join("hub.crt"), &cert).expect("write cert");
    std::fs::write(dir.path().join("hub.key"), &key).expect("write key");
    let port = free_port();
    let mut config = Config::demo();
    config.sim = None;
    config.hub.data_dir = dir.path().join("data");
    config.hub.listen = format!("127.0.0.1:{port}");
    config.hub.database_url = None;
    config
        .use_demo_signing_secret()
        .expect("write the demo signing key");
    // Relative to the configuration file, as secret files are.
    config.hub.tls_cert = Some("hub.crt".into());
    config.hub.tls_key = Some("hub.key".into());
    let path = dir.path().join("hub.toml");
    write(&path, &config);

    let check = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("config check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let mut hub = Hub::start(&path, &dir.path().join("hub.log"), &[]);
    // Keyed: ready once `serve` installed its admin key.
    let versions = wait_for(
        "an HTTPS answer",
        &mut hub,
        Duration::from_secs(60),
        async || {
            https_get(port, &cert, "/v1/config/versions")
                .await
                .ok()
                .filter(|a| a.starts_with("HTTP/1.1 200"))
        },
    )
    .await;
    let ready = https_get(port, &cert, "/readyz").await.expect("HTTPS");
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains("\"ready\""),
        "{ready}"
    );
    assert!(
        versions.contains("\"triggered_by\":\"start\""),
        "{versions}"
    );
    assert!(
        hub.log()
            .contains(&format!("serving on https://127.0.0.1:{port}")),
        "{}",
        hub.log()
    );

    // Plain HTTP gets no HTTP answer, and a client that does not trust the
    // certificate does not get through the handshake.
    let plain = http()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    let (other, _) = self_signed();
    let untrusted = https_get(port, &other, "/healthz").await;
    assert!(
        untrusted.is_err(),
        "an untrusted certificate was accepted: {untrusted:?}"
    );
    hub.stop();

    // A missing or unreadable certificate is refused by `config check`,
    // naming the file.
    std::fs::remove_file(dir.path().join("hub.crt")).expect("remove the cert");
    let missing = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("config check");
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    let cert_path = dir.path().join("hub.crt");
    assert!(err.contains("key hub.tls_cert"), "{err}");
    assert!(
        err.contains(&format!("{}: cannot read", cert_path.display())),
        "{err}"
    );
    std::fs::write(&cert_path, "not a certificate").expect("write junk");
    let junk = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("config check");
    assert!(!junk.status.success());
    let err = String::from_utf8_lossy(&junk.stderr);
    assert!(err.contains("no CERTIFICATE block"), "{err}");
    // The key's contents are never quoted, whatever is wrong with it.
    std::fs::write(&cert_path, &cert).expect("write the cert back");
    std::fs::write(dir.path().join("hub.key"), "PRIVATE-KEY-MATERIAL-8812").expect("junk key");
    let bad_key = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("config check");
    let err = String::from_utf8_lossy(&bad_key.stderr);
    assert!(!bad_key.status.success());
    assert!(err.contains("hub.key: no PEM private key"), "{err}");
    assert!(!err.contains("PRIVATE-KEY-MATERIAL"), "{err}");
}

// ------------------------------------------------------------------ secrets

/// Each secret-bearing value of the shipped configurations, and the
/// distinct value the test gives it.
const MARKETPLACE_SECRETS: [(&str, &str); 5] = [
    ("shpat_sim_access_token", "SECRET-shopify-access-7361"),
    ("sim_webhook_secret", "SECRET-shopify-webhook-2290"),
    ("walmart-sim-secret", "SECRET-walmart-client-8815"),
    ("sim-client-secret", "SECRET-amazon-client-4127"),
    ("Atzr|sim-refresh-token", "SECRET-amazon-refresh-6604"),
];
// Added below: no shipped file has these inline.
const WALMART_WEBHOOK: &str = "SECRET-walmart-webhook-3318";
const ERP_TOKEN: &str = "SECRET-erp-bearer-5520";
const MAPPED_TOKEN: &str = "SECRET-mapped-bearer-9043";
const MAPPED_SIGNATURE: &str = "SECRET-mapped-hmac-1176";
const TRYTON_PASSWORD: &str = "SECRET-tryton-password-7788";
const DATABASE_PASSWORD: &str = "SECRET-database-password-2468";

fn all_secrets() -> Vec<&'static str> {
    MARKETPLACE_SECRETS
        .iter()
        .map(|(_, s)| *s)
        .chain([
            WALMART_WEBHOOK,
            ERP_TOKEN,
            MAPPED_TOKEN,
            MAPPED_SIGNATURE,
            TRYTON_PASSWORD,
            DATABASE_PASSWORD,
        ])
        .collect()
}

fn assert_no_secret(what: &str, text: &str) {
    for s in all_secrets() {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}

fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The shipped marketplace configuration with a distinct secret in every
/// secret-bearing key (channels, ERP, mapped channel, `[sim]`), in `dir`.
fn marketplaces_with_secrets(dir: &Path, port: u16) -> PathBuf {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
    let mut text =
        std::fs::read_to_string(format!("{shipped}/demo-marketplaces.toml")).expect("shipped");
    for (from, to) in MARKETPLACE_SECRETS {
        text = text.replace(from, to);
    }
    text = text
        .replace("listen = \"127.0.0.1:8080\"", &format!("listen = \"127.0.0.1:{port}\""))
        .replace(
            "data_dir = \".crossdock\"",
            &format!("data_dir = {:?}", dir.join("data").display().to_string()),
        )
        .replace(
            "client_secret = \"SECRET-walmart-client-8815\"\n",
            &format!(
                "client_secret = \"SECRET-walmart-client-8815\"\nwebhook_authorization = \"{WALMART_WEBHOOK}\"\n"
            ),
        )
        .replace(
            "[erp]\nkind = \"rest\"\nbase_url = \"http://127.0.0.1:7102\"\n",
            &format!(
                "[erp]\nkind = \"rest\"\nbase_url = \"http://127.0.0.1:7102\"\n\n[erp.auth]\nkind = \"bearer\"\ntoken = \"{ERP_TOKEN}\"\n"
            ),
        );
    assert!(text.contains(ERP_TOKEN) && text.contains(WALMART_WEBHOOK));
    std::fs::write(dir.join("hub.toml"), text).expect("write the config");
    std::fs::copy(
        format!("{shipped}/demo-webhook.secret"),
        dir.join("demo-webhook.secret"),
    )
    .expect("copy the webhook secret");
    std::fs::create_dir_all(dir.join("channels")).expect("channels dir");
    let mapping = std::fs::read_to_string(format!("{shipped}/channels/regional.toml"))
        .expect("shipped mapping");
    let mapping = mapping.replacen(
        "[webhook]\n",
        &format!(
            "[auth]\nkind = \"bearer\"\ntoken = \"{MAPPED_TOKEN}\"\n\n[webhook]\nsignature = {{ header = \"x-signature\", secret = \"{MAPPED_SIGNATURE}\" }}\n"
        ),
        1,
    );
    assert!(mapping.contains(MAPPED_SIGNATURE));
    std::fs::write(dir.join("channels/regional.toml"), mapping).expect("write the mapping");
    dir.join("hub.toml")
}

/// The shipped Tryton configuration with its password inline and a
/// PostgreSQL URL with a password.
fn tryton_with_secrets(dir: &Path) -> PathBuf {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo-tryton.toml");
    let text = std::fs::read_to_string(shipped).expect("shipped tryton config");
    let mut table: toml::Table = toml::from_str(&text).expect("toml");
    let tryton = table["erp"]["tryton"]
        .as_table()
        .expect("[erp.tryton]")
        .clone();
    let mut tryton = tryton;
    tryton.remove("password_env");
    tryton.insert("password".into(), TRYTON_PASSWORD.into());
    table["erp"]
        .as_table_mut()
        .expect("[erp]")
        .insert("tryton".into(), tryton.into());
    table["hub"].as_table_mut().expect("[hub]").insert(
        "database_url".into(),
        format!("postgres://crossdock:{DATABASE_PASSWORD}@127.0.0.1:1/crossdock").into(),
    );
    let path = dir.join("tryton.toml");
    std::fs::write(&path, toml::to_string(&table).expect("toml")).expect("write");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_print_config_errors_logs_or_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let marketplaces = marketplaces_with_secrets(dir.path(), port);
    let tryton = tryton_with_secrets(dir.path());
    let run = |args: &[&str], path: &Path| {
        Command::new(BIN)
            .args(args)
            .arg(path)
            .env_remove("CROSSDOCK_DATABASE_URL")
            .output()
            .expect("run crossdock")
    };

    // `--print-config` and `config check`: where secrets are, never what.
    for path in [&marketplaces, &tryton] {
        let printed = run(&["demo", "--print-config", "--config"], path);
        assert!(printed.status.success(), "{}", shown(&printed));
        let text = shown(&printed);
        assert_no_secret("--print-config", &text);
        assert!(text.contains("<redacted>"), "{text}");
        let checked = run(&["config", "check"], path);
        assert!(checked.status.success(), "{}", shown(&checked));
        assert_no_secret("config check", &shown(&checked));
    }
    let printed = shown(&run(&["demo", "--print-config", "--config"], &tryton));
    assert!(
        printed.contains("postgres://crossdock:<redacted>@127.0.0.1:1/crossdock"),
        "{printed}"
    );

    // Errors of configurations holding secrets: a misspelt key beside a
    // secret, a bad value of the table holding one, a bad override.
    let text = std::fs::read_to_string(&marketplaces).expect("read");
    let broken = [
        text.replace("api_version = ", "api_versoin = "),
        text.replace("kind = \"bearer\"", "kind = \"bearer-ish\""),
        text.replace(
            "client_id = \"walmart-sim-client\"",
            "client_id = \"walmart-sim-client\"\nclient_secret_file = 7",
        ),
        text.replace("marketplace_id = ", "marketplace_id = 12\nx = "),
    ];
    for (i, bad) in broken.iter().enumerate() {
        let path = dir.path().join(format!("broken-{i}.toml"));
        std::fs::write(&path, bad).expect("write");
        let out = run(&["config", "check"], &path);
        assert!(!out.status.success(), "broken-{i} passed");
        assert_no_secret(&format!("config check of broken-{i}"), &shown(&out));
    }
    let overridden = Command::new(BIN)
        .args(["config", "check"])
        .arg(&marketplaces)
        .env("CROSSDOCK__ERP__AUTH__TOKEN", "[1, 2")
        .output()
        .expect("run");
    assert_no_secret("an override error", &shown(&overridden));

    // A hub running on it, every log line on, its connectors failing
    // against addresses where nothing listens; /metrics scraped.
    let mut hub = Hub::start(&marketplaces, &dir.path().join("hub.log"), &[]);
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&mut hub, &url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = http()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    assert!(metrics.contains("# TYPE"), "{metrics}");
    assert_no_secret("/metrics", &metrics);
    let (_, versions) = get_json(&format!("{url}/v1/config/versions")).await;
    assert_no_secret("/v1/config/versions", &versions.to_string());
    let log = hub.stop();
    assert!(
        log.contains("DEBUG"),
        "the log was not at debug level:\n{log}"
    );
    assert_no_secret("the hub's log", &log);
}
