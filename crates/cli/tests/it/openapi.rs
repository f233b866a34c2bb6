//! The `/v1` contract: what `GET /v1/openapi.json` serves is, byte for
//! byte, the checked-in `docs/openapi.json`, so a change to the API that
//! is not also a reviewed change to the contract fails CI.

use crate::support::app::spawn_app;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_contract_is_the_checked_in_docs_openapi_json() {
    let app = spawn_app().await;
    // Open, like /healthz: no key is sent.
    let reply = app
        .bare
        .get(format!("{}/v1/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(
        reply.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let served = reply.text().await.unwrap();
    assert_eq!(
        served,
        crossdock_server::openapi_document(),
        "the hub serves what `crossdock openapi` prints"
    );
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/v1/orders"]["get"].is_object());

    if std::env::var("CROSSDOCK_BLESS").as_deref() == Ok("1") {
        std::fs::write(CHECKED_IN, &served).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == served,
        "docs/openapi.json differs from the contract the hub serves. If the API change is \
         meant, regenerate and review the diff:\n    \
         cargo run -q -p crossdock -- openapi > docs/openapi.json\n\
         (or CROSSDOCK_BLESS=1 cargo nextest run -p crossdock --test it -- openapi::)\n\
         and describe breaking changes per docs/api-versioning.md."
    );
}

/// What schemathesis found, kept as tests: refusals of the query string
/// came as axum's `text/plain`, and a taken key name as a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_answer_in_the_documented_error_envelope() {
    let app = spawn_app().await;
    for path in [
        "/v1/orders?limit=many",
        "/v1/exceptions?since=yesterday",
        "/v1/audit?limit=1.5",
    ] {
        let reply = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 400, "{path}");
        assert_eq!(
            reply.headers()["content-type"].to_str().unwrap(),
            "application/json",
            "{path}"
        );
        let body: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(body["error"]["code"], "CD-API-0400", "{path}: {body}");
    }

    let create = |body: serde_json::Value| {
        app.client
            .post(format!("{}/v1/keys", app.url))
            .json(&body)
            .send()
    };
    let first = create(serde_json::json!({ "name": "twice", "scopes": ["read"] }))
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 201);
    let second = create(serde_json::json!({ "name": "twice", "scopes": "read" }))
        .await
        .unwrap();
    assert_eq!(second.status().as_u16(), 409);
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "CD-API-0409", "{body}");
    // The contract's grammar, exactly: what it refuses, the hub refuses.
    for refused in [
        serde_json::json!({ "name": "spaced", "scopes": "read, operate" }),
        serde_json::json!({ "name": "no-scope", "scopes": [] }),
        serde_json::json!({ "name": "long-life", "scopes": "read", "expires_in": "1 day" }),
        serde_json::json!({ "name": "never", "scopes": "read", "expires_in": "0d" }),
    ] {
        let reply = create(refused.clone()).await.unwrap();
        assert_eq!(reply.status().as_u16(), 400, "{refused}");
    }
}
