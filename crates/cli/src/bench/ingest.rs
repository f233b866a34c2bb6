//! `crossdock bench ingest`: durable ingest, webhooks acknowledged only
//! after their inbox commit. The job runner is not started: this measures
//! the hub's door alone (verify, commit, answer).

use std::sync::Arc;
use std::time::Duration;

use crossdock_connectors::signature::{self, WebhookSecret};
use crossdock_engine::{Clock, Engine, SystemClock};
use crossdock_server::ServerOptions;
use crossdock_store::Store;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::common::{backend_name, temp_store_url};
use super::http;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Webhooks to send.
    #[arg(long, default_value_t = 50_000)]
    pub requests: usize,
    /// Connections sending at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// PostgreSQL URL; the embedded SQLite store in a temp dir by default.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Send nothing: serve the webhook endpoint for this long for an
    /// external load generator (wrk), then report what was committed.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub serve_for: Option<Duration>,
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let report = ingest(
        args.requests,
        args.concurrency,
        args.database_url,
        args.serve_for,
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub backend: String,
    pub requests: usize,
    pub concurrency: usize,
    pub errors: usize,
    pub elapsed_secs: f64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Inbox rows found committed after the run (must equal `requests`).
    pub committed: i64,
}

fn webstore_order(n: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "order_id": format!("BENCH-{n:08}"),
        "sequence": 1,
        "status": "open",
        "updated_at": "2026-11-26T20:00:00Z",
        "created_at": "2026-11-26T20:00:00Z",
        "currency": "USD",
        "buyer": { "id": format!("B-{n}"), "email": format!("b{n}@example.com"), "name": "Bench Buyer", "phone": null },
        "ship_to": { "name": "Bench Buyer", "line1": "1 Main St", "line2": null, "city": "Springfield",
                     "region": "IL", "postal_code": "62701", "country": "US" },
        "items": [ { "line_id": "1", "sku": "SKU-001", "title": "Widget", "quantity": 2,
                     "unit_price": "19.99", "discount": "0.00", "tax": "3.20" } ],
        "shipping": "4.99",
        "total": "48.17",
        "service_level": "standard"
    }))
    .unwrap_or_default()
}

async fn ingest(
    requests: usize,
    concurrency: usize,
    database_url: Option<String>,
    serve_for: Option<Duration>,
) -> anyhow::Result<IngestReport> {
    let (dir, default_url) = temp_store_url();
    let url = database_url.unwrap_or(default_url);
    let store = Store::open(&url).await?;
    // Connectors are built but never called: the job runner is not
    // started, so this measures the door alone (verify, commit, answer).
    let mut config = Config::demo();
    config.hub.data_dir = dir.clone();
    let secret_path = config.use_demo_signing_secret()?;
    let clock: Arc<dyn crossdock_engine::Clock> = Arc::new(SystemClock);
    // Webhooks are not keyed: the benchmark needs no key, only the router's.
    let keys = crossdock_server::ApiKeys::load(store.clone(), clock.clone()).await?;
    let engine = Engine::new(
        store.clone(),
        crate::hub::connections(&config).await?.connections,
        clock,
        config.engine.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!(
        "http://{}/webhooks/channels/webstore",
        listener.local_addr()?
    );
    let shutdown = CancellationToken::new();
    let ready = CancellationToken::new();
    ready.cancel();
    let router = crossdock_server::router(engine, keys, ServerOptions::default(), ready);
    let server = tokio::spawn(crossdock_server::serve(
        listener,
        router,
        None,
        shutdown.clone(),
    ));
    if let Some(d) = serve_for {
        eprintln!(
            "crossdock bench: POST webhooks to {base} for {}, signed (Standard Webhooks) \
             with the key in {}",
            humantime::format_duration(d),
            secret_path.display()
        );
        tokio::time::sleep(d).await;
        shutdown.cancel();
        server.await??;
        let committed = store.inbox_counts().await?.accepted;
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(IngestReport {
            backend: backend_name(&url),
            requests: 0,
            concurrency: 0,
            errors: 0,
            elapsed_secs: d.as_secs_f64(),
            per_sec: committed as f64 / d.as_secs_f64(),
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
            committed,
        });
    }

    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..requests).map(webstore_order).collect());
    // Signed up front, as the webstore would: the hub's check of each
    // signature is part of the door being measured, the signing is not.
    let secret = WebhookSecret::parse(&std::fs::read_to_string(&secret_path)?)
        .map_err(anyhow::Error::msg)?;
    let timestamp = SystemClock.now_ms() / 1000;
    let signatures: Arc<Vec<String>> = Arc::new(
        (0..requests)
            .map(|i| signature::sign(&secret, &format!("bench-{i}"), timestamp, &bodies[i]))
            .collect(),
    );
    // A load generator, not a connector: it builds its own client.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let load = http::drive(
        requests,
        concurrency,
        move |i| {
            client
                .post(&base)
                .header("content-type", "application/json")
                .header(signature::ID_HEADER, format!("bench-{i}"))
                .header(signature::TIMESTAMP_HEADER, timestamp.to_string())
                .header(signature::SIGNATURE_HEADER, &signatures[i])
                .body(bodies[i].clone())
        },
        None,
    )
    .await?;
    shutdown.cancel();
    server.await??;
    let committed = store.inbox_counts().await?.accepted;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(IngestReport {
        backend: backend_name(&url),
        requests,
        concurrency,
        errors: load.errors(),
        elapsed_secs: load.elapsed.as_secs_f64(),
        per_sec: load.latencies.len() as f64 / load.elapsed.as_secs_f64(),
        p50_ms: load.percentile_ms(0.50),
        p95_ms: load.percentile_ms(0.95),
        p99_ms: load.percentile_ms(0.99),
        max_ms: load.percentile_ms(1.0),
        committed,
    })
}
