//! The door of `/v1`: every route needs a key with its scope; keys are
//! limited by rate and daily quota; writes are audited by key name; the
//! `crossdock keys` commands never print a secret again.

use std::process::Command;
use std::time::Duration;

use crate::support::app::{TEST_KEY_NAME, TestApp, spawn_app, spawn_app_with, wait_until};
use crossdock_server::auth::{ApiSecret, KeySpec, store_key};
use crossdock_server::{ApiKeys, KeyedRoute, ServerOptions};
use crossdock_store::ApiScope;
use reqwest::Method;
use serde_json::{Value, json};

fn spec(name: &str, scope: ApiScope) -> KeySpec {
    KeySpec {
        name: name.to_owned(),
        scopes: vec![scope],
        rate_per_sec: None,
        daily_quota: None,
        expires_at: None,
    }
}

async fn new_key(keys: &ApiKeys, spec: KeySpec) -> String {
    let (_, secret) = keys.create(&spec).await.expect("create key");
    secret.expose().to_owned()
}

/// A request with `key` (or none): status, headers, JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .bare
        .request(method.clone(), format!("{}{path}", app.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A path of the route with every `{param}` filled with something that
/// does not exist, and the body its method wants.
fn concrete(route: &KeyedRoute, n: usize) -> (String, Option<Value>) {
    let mut path = String::new();
    let mut rest = route.path;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        path.push_str("no-such-thing");
        rest = &rest[rest[open..].find('}').expect("closing brace") + open + 1..];
    }
    path.push_str(rest);
    if route.method == Method::POST && route.path == "/v1/settlements" {
        path.push_str("?from=shopify-payout");
    }
    let body = (route.method == Method::POST).then(|| match route.path {
        "/v1/keys" => json!({ "name": format!("walk-{n}"), "scopes": "read" }),
        "/v1/orders/{id}/release" => json!({ "reason": "walk" }),
        "/v1/settlement-residuals/{id}/resolve" => {
            json!({ "resolution": "written_off", "note": "walk" })
        }
        // A payout of one charge, as Shopify answers the two documents.
        "/v1/settlements" => json!({
            "payout": { "payout": { "id": 1000 + n, "status": "paid", "date": "2026-11-20",
                "currency": "USD", "amount": "10.00" } },
            "transactions": { "transactions": [
                { "id": 1, "type": "charge", "payout_id": 1000 + n, "amount": "10.00",
                  "fee": "0.00", "net": "10.00", "source_type": "charge",
                  "source_order_id": 42, "processed_at": "2026-11-18T10:00:00-05:00" },
                { "id": 2, "type": "payout", "payout_id": 1000 + n, "amount": "-10.00",
                  "fee": "0.00", "net": "-10.00", "source_type": "payout",
                  "source_order_id": null, "processed_at": "2026-11-20T00:00:00-05:00" }
            ] }
        }),
        _ => json!({}),
    });
    (path, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// Every keyed route, taken from the router's own table: refused (401)
/// without a key, with an unknown, a revoked or an expired key; refused
/// (403) with a key one scope too low; answered (2xx or 404) with a key of
/// exactly its scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_v1_route_needs_a_usable_key_with_its_scope() {
    let app = spawn_app().await;
    let routes = crossdock_server::keyed_routes(&ServerOptions::default());
    for scope in ApiScope::ALL {
        assert!(
            routes.iter().any(|r| r.scope == scope),
            "no route needs {scope}: the walk would prove nothing about it"
        );
    }
    // The policy: read is every GET, a POST acts (operate at least), keys,
    // the audit and configuration are admin's.
    for r in &routes {
        let admin = r.path.starts_with("/v1/keys")
            || r.path == "/v1/audit"
            || r.path.starts_with("/v1/config");
        let wanted = if admin {
            ApiScope::Admin
        } else if r.method == Method::GET {
            ApiScope::Read
        } else {
            ApiScope::Operate
        };
        assert_eq!(r.scope, wanted, "{} {}", r.method, r.path);
    }
    // Every /v1 route goes through the table: none is added beside it.
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../server/src/lib.rs"))
        .expect("server source");
    // The one exception is the contract itself, open like /healthz.
    let outside: Vec<&str> = lib
        .lines()
        .filter(|l| l.contains(".route(\"/v1") && !l.contains("\"/v1/openapi.json\""))
        .collect();
    assert!(
        outside.is_empty(),
        "a /v1 route added outside v1_routes() would have no scope: {outside:?}"
    );

    let mut by_scope = std::collections::HashMap::new();
    for scope in ApiScope::ALL {
        by_scope.insert(
            scope,
            new_key(&app.keys, spec(&format!("walk-{scope}"), scope)).await,
        );
    }
    let revoked = new_key(&app.keys, spec("walk-revoked", ApiScope::Admin)).await;
    assert!(app.keys.revoke("walk-revoked").await.unwrap());
    let expired = ApiSecret::generate().unwrap();
    let now = app.keys.now_ms();
    store_key(
        &app.store,
        &KeySpec {
            expires_at: Some(now - 1),
            ..spec("walk-expired", ApiScope::Admin)
        },
        &expired,
        now - 60_000,
    )
    .await
    .unwrap();
    app.keys.reload().await.unwrap();
    let unknown = ApiSecret::generate().unwrap();

    for (n, route) in routes.iter().enumerate() {
        let (path, body) = concrete(route, n);
        let what = format!("{} {path}", route.method);
        let refusals = [
            (None, "missing"),
            (Some(unknown.expose()), "unknown"),
            (Some(revoked.as_str()), "revoked"),
            (Some(expired.expose()), "expired"),
        ];
        for (key, why) in refusals {
            let (status, headers, reply) =
                call(&app, route.method.clone(), &path, key, body.as_ref()).await;
            assert_eq!(status, 401, "{what} with a {why} key: {reply}");
            assert_eq!(code(&reply), "CD-API-0401", "{what}: {reply}");
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
            if why != "missing" {
                assert!(
                    reply["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains(if why == "unknown" { "unknown" } else { why }),
                    "{what} with a {why} key: {reply}"
                );
            }
        }
        if let Some(lower) = ApiScope::ALL.into_iter().rev().find(|s| *s < route.scope) {
            let (status, headers, reply) = call(
                &app,
                route.method.clone(),
                &path,
                Some(&by_scope[&lower]),
                body.as_ref(),
            )
            .await;
            assert_eq!(status, 403, "{what} with a {lower} key: {reply}");
            assert_eq!(code(&reply), "CD-API-0403", "{what}: {reply}");
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.contains("insufficient_scope")
                    && challenge.contains(route.scope.as_str()),
                "{what}: {challenge}"
            );
        }
        let (status, _, reply) = call(
            &app,
            route.method.clone(),
            &path,
            Some(&by_scope[&route.scope]),
            body.as_ref(),
        )
        .await;
        assert!(
            (200..300).contains(&status) || status == 404,
            "{what} with a {} key: {status} {reply}",
            route.scope
        );
    }

    // Open: health, readiness, metrics (by default), and webhooks (signed
    // by their senders, not keyed).
    for path in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"] {
        let (status, _, reply) = call(&app, Method::GET, path, None, None).await;
        assert_eq!(status, 200, "{path}: {reply}");
    }
    // A signed webhook needs no key (signatures are its authentication).
    let order = serde_json::to_vec(&crate::support::app::order_doc("KEYLESS-1", 1)).unwrap();
    let mut request = app
        .bare
        .post(format!("{}/webhooks/channels/webstore", app.url))
        .header("content-type", "application/json");
    for (name, value) in crate::support::app::signed_headers(
        &app.signing,
        &crate::support::app::event_id(),
        crate::support::app::now_secs(),
        &order,
    ) {
        request = request.header(name, value);
    }
    let webhook = request.body(order).send().await.unwrap();
    assert_eq!(webhook.status().as_u16(), 200);

    // Refusals are counted by status and reason.
    let (_, _, metrics) = call(&app, Method::GET, "/metrics", None, None).await;
    let text = metrics.as_str().expect("metrics text");
    for (status, reason) in [
        ("401", "missing"),
        ("401", "unknown"),
        ("401", "revoked"),
        ("401", "expired"),
        ("403", "scope"),
    ] {
        let counted = text.lines().any(|l| {
            l.starts_with("crossdock_api_refusals_total{")
                && l.contains(&format!("status=\"{status}\""))
                && l.contains(&format!("reason=\"{reason}\""))
        });
        assert!(counted, "no {status}/{reason} refusals in /metrics");
    }
    app.stop().await;
}

/// `[api] metrics_require_key = true`: `/metrics` is keyed like `/v1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_can_require_a_key() {
    let app = spawn_app_with(|_, config| config.api.metrics_require_key = true).await;
    let (status, _, _) = call(&app, Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = call(&app, Method::GET, "/metrics", Some(&app.key), None).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(&app, Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200, "health stays open");
    app.stop().await;
}

/// The key over its rate gets 429 with `Retry-After`, and only it: a
/// key beside it, sending as fast, gets none. After the wait it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_key_over_its_rate_gets_429_with_retry_after() {
    let app = spawn_app().await;
    let slow = new_key(
        &app.keys,
        KeySpec {
            rate_per_sec: Some(5),
            ..spec("slow", ApiScope::Read)
        },
    )
    .await;
    let fast = new_key(
        &app.keys,
        KeySpec {
            rate_per_sec: Some(10_000),
            ..spec("fast", ApiScope::Read)
        },
    )
    .await;
    let (mut slow_refused, mut fast_refused) = (0, 0);
    let mut retry_after = None;
    for _ in 0..40 {
        let (status, headers, reply) =
            call(&app, Method::GET, "/v1/stats", Some(&slow), None).await;
        if status == 429 {
            slow_refused += 1;
            assert_eq!(code(&reply), "CD-API-0429", "{reply}");
            retry_after = Some(
                headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .expect("Retry-After in seconds"),
            );
        } else {
            assert_eq!(status, 200, "{reply}");
        }
        let (status, _, _) = call(&app, Method::GET, "/v1/stats", Some(&fast), None).await;
        if status != 200 {
            fast_refused += 1;
        }
    }
    assert!(slow_refused > 0, "40 requests at once stayed within 5/s");
    assert_eq!(fast_refused, 0, "the key within its rate was refused");
    let wait = retry_after.expect("a Retry-After");
    assert!((1..=2).contains(&wait), "Retry-After {wait}s for a 5/s key");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, _) = call(&app, Method::GET, "/v1/stats", Some(&slow), None).await;
    assert_eq!(status, 200, "served again after Retry-After");
    app.stop().await;
}

/// A daily quota: served up to it, then 429 until the UTC day ends;
/// refused requests do not count, and the count reaches the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_over_its_daily_quota_gets_429_until_the_day_ends() {
    let app = spawn_app().await;
    let (key, secret) = app
        .keys
        .create(&KeySpec {
            daily_quota: Some(3),
            ..spec("metered", ApiScope::Read)
        })
        .await
        .unwrap();
    for i in 0..3 {
        let (status, _, reply) =
            call(&app, Method::GET, "/v1/stats", Some(secret.expose()), None).await;
        assert_eq!(status, 200, "request {i}: {reply}");
    }
    for _ in 0..2 {
        let (status, headers, reply) =
            call(&app, Method::GET, "/v1/stats", Some(secret.expose()), None).await;
        assert_eq!(status, 429, "{reply}");
        assert_eq!(code(&reply), "CD-QTA-0429", "{reply}");
        let wait: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        let ms_left = 86_400_000 - app.keys.now_ms().rem_euclid(86_400_000);
        assert!(
            (wait * 1000 - ms_left).abs() <= 2_000,
            "Retry-After {wait}s, but the day ends in {ms_left} ms"
        );
    }
    app.keys.share_usage().await.unwrap();
    let day = app.keys.now_ms().div_euclid(86_400_000) * 86_400_000;
    let usage = app.store.api_key_usage(day).await.unwrap();
    assert!(usage.contains(&(key.id.clone(), 3)), "{usage:?}");

    // A hub started afterwards (or another one) reads the day's count.
    let other = ApiKeys::load(app.store.clone(), app.engine.clock().clone())
        .await
        .unwrap();
    let router = crossdock_server::router(
        app.engine.clone(),
        other,
        ServerOptions::default(),
        tokio_util::sync::CancellationToken::new(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let served = tokio::spawn(crossdock_server::serve(
        listener,
        router,
        None,
        stop.clone(),
    ));
    let r = app
        .bare
        .get(format!("{url}/v1/stats"))
        .bearer_auth(secret.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        429,
        "the quota is the day's, not the hub's"
    );
    stop.cancel();
    served.await.unwrap().unwrap();
    app.stop().await;
}

/// A write is audited with the name of the key that made it; reads are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_are_audited_with_the_key_name() {
    let app = spawn_app().await;
    let ops = new_key(&app.keys, spec("ops-bot", ApiScope::Operate)).await;
    let (status, _, reply) = call(
        &app,
        Method::POST,
        "/v1/exceptions/replay",
        Some(&ops),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, _, _) = call(&app, Method::GET, "/v1/orders", Some(&ops), None).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(&app, Method::GET, "/v1/audit", Some(&ops), None).await;
    assert_eq!(status, 403, "the audit is for admins");

    let audit = app.get("/v1/audit").await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let entries = audit.body["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "only the write: {entries:?}");
    let e = &entries[0];
    assert_eq!(e["key_name"], "ops-bot");
    assert_eq!(e["method"], "POST");
    assert_eq!(e["route"], "/v1/exceptions/replay");
    assert_eq!(e["status"], 200);

    // Keys made through the API are audited too, by the admin's name.
    let created = app
        .post_json(
            "/v1/keys",
            &[],
            &json!({ "name": "made-by-api", "scopes": ["read"], "expires_in": "90d" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().expect("secret shown once");
    assert!(secret.starts_with("cdk_"));
    let listed = app.get("/v1/keys").await;
    let text = listed.body.to_string();
    assert!(text.contains("made-by-api") && !text.contains(secret));
    assert!(!text.contains("secret_sha256"), "{text}");
    let mine = app.get(&format!("/v1/audit?key={TEST_KEY_NAME}")).await;
    assert_eq!(
        mine.body["entries"][0]["route"], "/v1/keys",
        "{}",
        mine.body
    );
    app.stop().await;
}

/// `crossdock keys` on a running hub's store: the secret is printed once,
/// alone on stdout; `keys list` never shows a secret or its hash; the hub
/// takes a created key and drops a revoked one within its refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_cli_shows_a_secret_once_and_the_hub_follows_it() {
    let app = spawn_app().await;
    let data_dir = app.config.hub.data_dir.clone();
    let crossdock = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_crossdock"))
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .output()
            .expect("run crossdock");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = crossdock(&[
        "keys",
        "create",
        "--name",
        "cli-ops",
        "--scopes",
        "read,operate",
        "--rate",
        "50/s",
        "--quota",
        "1000/day",
        "--expires",
        "90d",
    ]);
    assert!(ok, "{stderr}");
    let secret = stdout.trim().to_owned();
    assert!(
        secret.starts_with("cdk_") && secret.len() == 47,
        "{stdout:?}"
    );
    assert!(
        !stderr.contains(&secret),
        "the secret belongs on stdout only"
    );
    let hash = ApiSecret::parse(&secret).unwrap().digest_hex();

    for args in [&["keys", "list"][..], &["keys", "list", "--all", "--json"]] {
        let (ok, stdout, stderr) = crossdock(args);
        assert!(ok, "{stderr}");
        assert!(stdout.contains("cli-ops"), "{stdout}");
        assert!(stdout.contains(TEST_KEY_NAME), "{stdout}");
        for shown in [&stdout, &stderr] {
            assert!(!shown.contains(&secret), "{args:?} printed a secret");
            assert!(!shown.contains(&hash), "{args:?} printed a hash");
            assert!(!shown.contains(&app.key), "{args:?} printed a secret");
        }
    }
    let (ok, _, stderr) = crossdock(&["keys", "create", "--name", "bad", "--scopes", "write"]);
    assert!(!ok && stderr.contains("write"), "{stderr}");

    let served = wait_until(Duration::from_secs(5), || async {
        let (status, _, _) = call(&app, Method::GET, "/v1/orders", Some(&secret), None).await;
        (status == 200).then_some(())
    })
    .await;
    assert!(
        served.is_some(),
        "the hub never took the key made by the CLI"
    );

    let (ok, stdout, stderr) = crossdock(&["keys", "revoke", "cli-ops"]);
    assert!(ok && stdout.contains("revoked cli-ops"), "{stderr}");
    let refused = wait_until(Duration::from_secs(5), || async {
        let (status, _, _) = call(&app, Method::GET, "/v1/orders", Some(&secret), None).await;
        (status == 401).then_some(())
    })
    .await;
    assert!(refused.is_some(), "the hub kept serving a revoked key");
    let (ok, _, stderr) = crossdock(&["keys", "revoke", "cli-ops"]);
    assert!(!ok && stderr.contains("no live key"), "{stderr}");
    let (_, listed, _) = crossdock(&["keys", "list", "--all"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("cli-ops") && l.contains("REVOKED")),
        "{listed}"
    );
    app.stop().await;
}

/// `crossdock serve`'s first key: one `admin` key on a store that never had
/// one; none when it has; `CROSSDOCK_BOOTSTRAP_KEY` installed as
/// `bootstrap`, once, and replaced when the variable changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bootstrap_makes_one_admin_key_or_takes_the_environments() {
    let dir = tempfile::tempdir().unwrap();
    let store = crossdock_store::Store::open_dir(dir.path()).await.unwrap();
    let clock: std::sync::Arc<dyn crossdock_engine::Clock> =
        std::sync::Arc::new(crossdock_engine::SystemClock);
    let keys = ApiKeys::load(store.clone(), clock).await.unwrap();
    let first = crossdock::keys::bootstrap(&keys, None).await.unwrap();
    assert!(first.is_some(), "a new store gets an admin key");
    assert!(
        crossdock::keys::bootstrap(&keys, None)
            .await
            .unwrap()
            .is_none()
    );
    let live = store.api_keys(false).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].name.as_str(), &live[0].scopes[..]),
        ("admin", &[ApiScope::Admin][..])
    );

    let chosen = ApiSecret::generate().unwrap();
    for _ in 0..2 {
        let none = crossdock::keys::bootstrap(&keys, Some(chosen.expose()))
            .await
            .unwrap();
        assert!(none.is_none(), "the operator knows this secret");
    }
    let named = |name: &'static str| {
        let store = store.clone();
        async move {
            store
                .api_keys(true)
                .await
                .unwrap()
                .into_iter()
                .filter(|k| k.name == name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(named("bootstrap").await.len(), 1, "installed once");
    let rotated = ApiSecret::generate().unwrap();
    crossdock::keys::bootstrap(&keys, Some(rotated.expose()))
        .await
        .unwrap();
    let both = named("bootstrap").await;
    assert_eq!(both.len(), 2);
    assert!(both[0].revoked_at.is_some() && both[1].revoked_at.is_none());
    assert_eq!(both[1].secret_sha256, rotated.digest_hex());
    let weak = crossdock::keys::bootstrap(&keys, Some("cdk_password")).await;
    assert!(weak.is_err(), "a weak bootstrap key is refused");
    store.close().await;
}
