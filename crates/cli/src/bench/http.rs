//! `crossdock bench http`: a plain HTTP load generator — exactly N POSTs of
//! one body at a fixed concurrency over keep-alive connections — and the
//! driver `bench ingest` shares. The peer comparison (`bench/peers/run.sh`)
//! drives every engine, Crossdock included, with it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct HttpArgs {
    /// Where to POST.
    #[arg(long)]
    pub url: String,
    /// The request body. `{n}` is replaced by the request's number
    /// (warm-up first, then the measured requests, so every request differs)
    /// and `{run}` by an id unique to this run.
    #[arg(long)]
    pub body: PathBuf,
    /// Measured requests.
    #[arg(long, default_value_t = 5_000)]
    pub requests: usize,
    /// Connections sending at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Requests sent (same concurrency) before measuring.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Extra header `name: value` (repeatable; `{n}` and `{run}` substituted).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// A 2xx answer whose body does not contain this counts as an error.
    #[arg(long)]
    pub expect: Option<String>,
    /// Timeout of one request.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// One line of JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Judges a 2xx answer's body: false counts the request as an error.
pub(crate) type BodyCheck = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// What a run of [`drive`] saw.
pub(crate) struct Load {
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
    /// Answers other than 2xx, by status.
    pub statuses: BTreeMap<u16, usize>,
    /// No answer (connect, timeout, reset) or an unexpected answer body.
    pub failures: usize,
    /// The first failure or non-2xx answer, for the log.
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Load {
    pub fn errors(&self) -> usize {
        self.failures + self.statuses.values().sum::<usize>()
    }

    /// The `p` quantile (0..=1) of the successful requests' latencies, in ms
    /// (nearest rank).
    pub fn percentile_ms(&self, p: f64) -> f64 {
        super::common::nearest_rank(&self.latencies, p).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// Send requests `0..n` (built by `request`) over `concurrency` workers that
/// share one keep-alive client, each taking the next number until none are
/// left; every answer is read to its end. `check` judges a 2xx answer's body.
pub(crate) async fn drive<F>(
    n: usize,
    concurrency: usize,
    request: F,
    check: Option<BodyCheck>,
) -> anyhow::Result<Load>
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (request, next, check) = (request.clone(), next.clone(), check.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses = BTreeMap::new();
            let mut failures = 0usize;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                let outcome = match request(i).send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        match resp.bytes().await {
                            Ok(body) if !status.is_success() => Err((
                                Some(status.as_u16()),
                                format!("{status}: {}", String::from_utf8_lossy(&body)),
                            )),
                            Ok(body) if check.as_ref().is_some_and(|c| !c(&body)) => Err((
                                None,
                                format!("unexpected answer: {}", String::from_utf8_lossy(&body)),
                            )),
                            Ok(_) => Ok(()),
                            Err(e) => Err((None, format!("reading the answer: {e}"))),
                        }
                    }
                    Err(e) => Err((None, format!("{e:#}"))),
                };
                match outcome {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err((status, why)) => {
                        match status {
                            Some(s) => *statuses.entry(s).or_insert(0) += 1,
                            None => failures += 1,
                        }
                        first_error.get_or_insert(why);
                    }
                }
            }
            (latencies, statuses, failures, first_error)
        }));
    }
    let mut load = Load {
        latencies: Vec::with_capacity(n),
        statuses: BTreeMap::new(),
        failures: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (latencies, statuses, failures, first_error) = t.await?;
        load.latencies.extend(latencies);
        for (s, c) in statuses {
            *load.statuses.entry(s).or_insert(0) += c;
        }
        load.failures += failures;
        if load.first_error.is_none() {
            load.first_error = first_error;
        }
    }
    load.elapsed = started.elapsed();
    load.latencies.sort();
    Ok(load)
}

#[derive(Debug, Serialize)]
pub struct HttpReport {
    pub url: String,
    pub requests: usize,
    pub concurrency: usize,
    pub warmup: usize,
    /// 2xx answers (with the expected body, if one was asked for).
    pub ok: usize,
    /// Everything else among the measured requests.
    pub errors: usize,
    /// Non-2xx answers by status.
    pub statuses: BTreeMap<u16, usize>,
    pub warmup_errors: usize,
    pub elapsed_secs: f64,
    /// Successful requests per second of wall clock.
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

pub async fn run(args: HttpArgs) -> anyhow::Result<()> {
    let report = http(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} requests at concurrency {} to {}: {:.1} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors{}",
            report.requests,
            report.concurrency,
            report.url,
            report.per_sec,
            report.p50_ms,
            report.p90_ms,
            report.p99_ms,
            report.max_ms,
            report.errors,
            report
                .first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn substitute(template: &str, n: usize, run: &str) -> String {
    template
        .replace("{n}", &n.to_string())
        .replace("{run}", run)
}

pub async fn http(args: &HttpArgs) -> anyhow::Result<HttpReport> {
    let template = std::fs::read_to_string(&args.body)
        .with_context(|| format!("reading {}", args.body.display()))?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("--header {h:?}: expected `name: value`"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let run = uuid::Uuid::now_v7().simple().to_string()[24..].to_owned();
    let total = args.warmup + args.requests;
    // Built before the clock starts: the run measures the server.
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..total)
            .map(|n| substitute(&template, n, &run).into_bytes())
            .collect(),
    );
    // A load generator, not a connector: it builds its own client.
    #[allow(clippy::disallowed_methods)]
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(args.timeout)
        .build()?;
    let check: Option<BodyCheck> = args.expect.clone().map(|want| {
        Arc::new(move |body: &[u8]| String::from_utf8_lossy(body).contains(&want)) as BodyCheck
    });
    let build = |offset: usize| {
        let (client, url, bodies, headers, run) = (
            client.clone(),
            args.url.clone(),
            bodies.clone(),
            headers.clone(),
            run.clone(),
        );
        move |i: usize| {
            let n = offset + i;
            let mut req = client
                .post(&url)
                .header("content-type", "application/json")
                .body(bodies[n].clone());
            for (name, value) in &headers {
                req = req.header(name, substitute(value, n, &run));
            }
            req
        }
    };
    let warmup = drive(args.warmup, args.concurrency, build(0), check.clone()).await?;
    if warmup.errors() > 0 {
        eprintln!(
            "crossdock bench http: {} of {} warm-up requests failed (first: {})",
            warmup.errors(),
            args.warmup,
            warmup.first_error.as_deref().unwrap_or("?")
        );
    }
    let load = drive(args.requests, args.concurrency, build(args.warmup), check).await?;
    let ok = load.latencies.len();
    let mean_ms = if ok == 0 {
        0.0
    } else {
        load.latencies
            .iter()
            .map(Duration::as_secs_f64)
            .sum::<f64>()
            * 1000.0
            / ok as f64
    };
    Ok(HttpReport {
        url: args.url.clone(),
        requests: args.requests,
        concurrency: args.concurrency,
        warmup: args.warmup,
        ok,
        errors: load.errors(),
        statuses: load.statuses.clone(),
        warmup_errors: warmup.errors(),
        elapsed_secs: load.elapsed.as_secs_f64(),
        per_sec: ok as f64 / load.elapsed.as_secs_f64(),
        p50_ms: load.percentile_ms(0.50),
        p90_ms: load.percentile_ms(0.90),
        p99_ms: load.percentile_ms(0.99),
        max_ms: load.percentile_ms(1.0),
        mean_ms,
        first_error: load.first_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_number_and_run() {
        assert_eq!(
            substitute(r#"{"id":"BENCH-{run}-{n}"}"#, 7, "ab12"),
            r#"{"id":"BENCH-ab12-7"}"#
        );
    }

    #[tokio::test]
    async fn drives_exactly_n_requests_and_counts_errors() {
        use axum::{Router, http::StatusCode, routing::post};
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new().route(
            "/",
            post(move |body: String| {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::Relaxed);
                    if body.ends_with('3') {
                        (StatusCode::INTERNAL_SERVER_ERROR, "no".to_owned())
                    } else {
                        (StatusCode::OK, format!("ok {body}"))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        #[allow(clippy::disallowed_methods)] // the load generator's own client
        let client = reqwest::Client::new();
        let load = drive(
            25,
            4,
            move |i| client.post(&url).body(format!("{i}")),
            Some(Arc::new(|b: &[u8]| b.starts_with(b"ok"))),
        )
        .await
        .unwrap();
        assert_eq!(hits.load(Ordering::Relaxed), 25);
        // 3, 13 and 23 fail.
        assert_eq!(load.statuses.get(&500), Some(&3));
        assert_eq!(load.errors(), 3);
        assert_eq!(load.latencies.len(), 22);
        assert!(load.percentile_ms(0.5) <= load.percentile_ms(0.99));
        assert!(load.first_error.unwrap().starts_with("500"));
    }
}
