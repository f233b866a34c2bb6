//! `crossdock bench api`: the API's door under load. Many keys share a
//! fixed request rate (open loop: requests leave on a schedule, whatever
//! the answers do); one key is sent more than its rate allows. The run
//! reports which keys got 429s (exactly the over-limit one should) and the
//! latency the door adds: the same trivial route is driven at the same rate
//! behind the key middleware and without it, and the percentiles compared.
//! The route does no store work, so the difference is the door's own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use crossdock_engine::{Clock, SystemClock};
use crossdock_server::auth::{KeySpec, behind_keys};
use crossdock_server::{ApiKeys, KeyedRoute};
use crossdock_store::{ApiScope, Store};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::common::{nearest_rank, temp_store_url};

#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// Keys sharing the load, one request each in turn.
    #[arg(long, default_value_t = 100)]
    pub keys: usize,
    /// Requests a second, all keys together.
    #[arg(long, default_value_t = 5_000.0)]
    pub rate: f64,
    /// Measured time of each of the two runs (with and without keys).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Unmeasured time before each run (connections, limiter state).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub warmup: Duration,
    /// One line of JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One run at the rate: what came back, and how fast.
#[derive(Debug, Serialize)]
pub struct Run {
    pub requests: usize,
    /// Requests sent per second of the run's wall clock.
    pub sent_per_sec: f64,
    pub ok: usize,
    /// 429s by key name (only the over-limit key should be here).
    pub refused_by_key: BTreeMap<String, usize>,
    /// Other answers that were not 2xx, and requests with no answer.
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct ApiReport {
    pub keys: usize,
    pub rate: f64,
    /// Each key's share of the rate, and the rates the keys were given.
    pub per_key_per_sec: f64,
    pub key_rate_per_sec: u32,
    pub over_limit_key: String,
    pub over_limit_key_rate_per_sec: u32,
    pub with_keys: Run,
    pub without_keys: Run,
    /// p99 with keys minus p99 without.
    pub p99_added_ms: f64,
    /// Exactly the over-limit key got 429s, and no other request failed.
    pub only_over_limit_key_refused: bool,
}

const ROUTE: &str = "/bench/{n}";

/// The route under test: a small JSON answer, no store.
fn bench_router() -> Router {
    Router::new().route(
        ROUTE,
        get(
            |axum::extract::Path(n): axum::extract::Path<u64>| async move {
                axum::Json(serde_json::json!({ "n": n }))
            },
        ),
    )
}

pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    let report = api(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for (name, r) in [
            ("with keys", &report.with_keys),
            ("without keys", &report.without_keys),
        ] {
            println!(
                "{name:>12}: {} requests at {:.0}/s, {} ok, 429s {:?}, {} errors; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                r.requests,
                r.sent_per_sec,
                r.ok,
                r.refused_by_key,
                r.errors,
                r.p50_ms,
                r.p99_ms,
                r.max_ms
            );
        }
        println!(
            "{} keys at {:.0}/s each ({}/s allowed; {} allowed {}/s): p99 added by keys {:.3} ms; only the over-limit key refused: {}",
            report.keys,
            report.per_key_per_sec,
            report.key_rate_per_sec,
            report.over_limit_key,
            report.over_limit_key_rate_per_sec,
            report.p99_added_ms,
            report.only_over_limit_key_refused
        );
    }
    anyhow::ensure!(
        report.only_over_limit_key_refused,
        "a key within its rate was refused, or the over-limit key never was"
    );
    Ok(())
}

pub async fn api(args: &ApiArgs) -> anyhow::Result<ApiReport> {
    anyhow::ensure!(args.keys >= 2, "--keys: at least 2");
    anyhow::ensure!(args.rate > 0.0, "--rate: above 0");
    let (dir, url) = temp_store_url();
    let store = Store::open(&url).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let keys = ApiKeys::load(store.clone(), clock).await?;
    let share = args.rate / args.keys as f64;
    // Twice its share for every key but one, which gets half of its share.
    let key_rate = (share * 2.0).ceil().max(1.0) as u32;
    let over_rate = (share / 2.0).floor().max(1.0) as u32;
    let mut secrets = Vec::with_capacity(args.keys);
    for i in 0..args.keys {
        let name = format!("key-{i:03}");
        let (_, secret) = keys
            .create(&KeySpec {
                name,
                scopes: vec![ApiScope::Read],
                rate_per_sec: Some(if i == 0 { over_rate } else { key_rate }),
                daily_quota: None,
                expires_at: None,
            })
            .await?;
        secrets.push(secret.expose().to_owned());
    }
    let table = [KeyedRoute {
        method: axum::http::Method::GET,
        path: ROUTE,
        scope: ApiScope::Read,
    }];
    let keyed = behind_keys(bench_router(), keys.clone(), &table);
    let with_keys = measure(keyed, Some(&secrets), args).await?;
    let without_keys = measure(bench_router(), None, args).await?;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    let over = "key-000".to_owned();
    let only = with_keys.refused_by_key.keys().eq([&over])
        && with_keys.errors == 0
        && without_keys.errors == 0
        && without_keys.refused_by_key.is_empty();
    Ok(ApiReport {
        keys: args.keys,
        rate: args.rate,
        per_key_per_sec: share,
        key_rate_per_sec: key_rate,
        over_limit_key: over,
        over_limit_key_rate_per_sec: over_rate,
        p99_added_ms: with_keys.p99_ms - without_keys.p99_ms,
        with_keys,
        without_keys,
        only_over_limit_key_refused: only,
    })
}

/// Serve `router` and drive it at the rate: warm-up, then the measured run.
async fn measure(
    router: Router,
    secrets: Option<&[String]>,
    args: &ApiArgs,
) -> anyhow::Result<Run> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let server = tokio::spawn(crossdock_server::serve(
        listener,
        router,
        None,
        stop.clone(),
    ));
    // A load generator, not a connector: it builds its own client.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()?;
    let secrets: Option<Arc<Vec<String>>> = secrets.map(|s| Arc::new(s.to_vec()));
    paced(
        &client,
        &base,
        secrets.clone(),
        args.rate,
        args.warmup,
        args.keys,
    )
    .await;
    let started = Instant::now();
    let answers = paced(&client, &base, secrets, args.rate, args.duration, args.keys).await;
    let elapsed = started.elapsed();
    stop.cancel();
    server.await??;
    let mut latencies = Vec::with_capacity(answers.len());
    let mut refused_by_key = BTreeMap::new();
    let mut errors = 0;
    for (key, status, took) in &answers {
        match status {
            Some(200) => latencies.push(*took),
            Some(429) => *refused_by_key.entry(format!("key-{key:03}")).or_insert(0) += 1,
            _ => errors += 1,
        }
    }
    latencies.sort();
    let ms = |p: f64| nearest_rank(&latencies, p).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(Run {
        requests: answers.len(),
        sent_per_sec: answers.len() as f64 / elapsed.as_secs_f64(),
        ok: latencies.len(),
        refused_by_key,
        errors,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: ms(1.0),
    })
}

/// Send `rate` requests a second for `span`, request `i` from key
/// `i % keys` at its scheduled time (a late schedule sends at once, never
/// skips). Each answer: (key, status or none, latency from send to the
/// end of the body).
async fn paced(
    client: &reqwest::Client,
    base: &str,
    secrets: Option<Arc<Vec<String>>>,
    rate: f64,
    span: Duration,
    keys: usize,
) -> Vec<(usize, Option<u16>, Duration)> {
    let total = (rate * span.as_secs_f64()).round() as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due > tokio::time::Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let key = i % keys;
        let mut request = client.get(format!("{base}/bench/{i}"));
        if let Some(s) = &secrets {
            request = request.bearer_auth(&s[key]);
        }
        tasks.spawn(async move {
            let t = Instant::now();
            let status = match request.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    resp.bytes().await.ok().map(|_| status)
                }
                Err(_) => None,
            };
            (key, status, t.elapsed())
        });
    }
    let mut answers = Vec::with_capacity(total);
    while let Some(done) = tasks.join_next().await {
        if let Ok(a) = done {
            answers.push(a);
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small run: the over-limit key, and only it, gets 429s, and every
    /// request without keys is answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_over_limit_key_is_refused() {
        let report = api(&ApiArgs {
            keys: 4,
            rate: 200.0,
            duration: Duration::from_secs(1),
            warmup: Duration::from_millis(200),
            json: false,
        })
        .await
        .unwrap();
        assert!(report.only_over_limit_key_refused, "{report:?}");
        assert!(report.with_keys.refused_by_key["key-000"] > 0, "{report:?}");
        assert_eq!(report.without_keys.ok, 200, "{report:?}");
    }
}
