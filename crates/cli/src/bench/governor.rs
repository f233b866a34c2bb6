//! `crossdock bench governor`: the ERP governor against a simulated ERP
//! that refuses anything over its limits, with orders offered at a multiple
//! of what the ERP can take.

use std::time::Duration;

use serde::Serialize;

use super::estate::run_estate;

#[derive(Debug, clap::Args)]
pub struct GovernorArgs {
    #[arg(long, default_value_t = 300)]
    pub orders: u64,
    /// The ERP's limit (requests per second); the hub is told the same.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// The ERP's concurrent-request limit; the hub is told the same.
    #[arg(long, default_value_t = 5)]
    pub max_concurrent: u32,
    /// Offered ERP work as a multiple of the limit.
    #[arg(long, default_value_t = 3.0)]
    pub load: f64,
    /// The simulated ERP's latency per request: at 200 ms, 20 requests
    /// per second keep about four in flight, so both limits bind.
    #[arg(long, default_value_t = 200)]
    pub latency_ms: u64,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "300s")]
    pub timeout: Duration,
}

pub async fn run(args: GovernorArgs) -> anyhow::Result<()> {
    let report = governor_bench(
        args.orders,
        args.limit,
        args.max_concurrent,
        args.load,
        args.latency_ms,
        args.timeout,
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct GovernorReport {
    pub erp_limit_per_sec: u32,
    pub erp_max_concurrent: u32,
    /// Order rate offered, as a multiple of what the ERP can take.
    pub offered_load: f64,
    pub orders: u64,
    pub closed: u64,
    pub elapsed_secs: f64,
    pub erp_requests: u64,
    /// Refused by the ERP for its rate or concurrency limit: must be 0.
    pub erp_429s: u64,
    /// Most requests the ERP admitted within any one second: must be ≤ the limit.
    pub erp_peak_per_second: u64,
    pub erp_peak_in_flight: u64,
    /// Seconds during which the hub held ERP work back (the whole seconds
    /// between the first and the last ERP request, ends excluded).
    pub backlog_secs: usize,
    /// Requests per second the ERP admitted during those seconds, over its limit.
    pub utilisation: f64,
    /// The lowest single second of those, over the limit.
    pub worst_second: f64,
    pub duplicates_at_erp: u64,
    pub lost: u64,
    pub exceptions: u64,
}

async fn governor_bench(
    orders: u64,
    limit: u32,
    max_concurrent: u32,
    load: f64,
    latency_ms: u64,
    timeout: Duration,
) -> anyhow::Result<GovernorReport> {
    // ERP calls per order on the happy path: customer, sales order, invoice.
    const ERP_CALLS_PER_ORDER: f64 = 3.0;
    let rate = load * f64::from(limit) / ERP_CALLS_PER_ORDER;
    let run = run_estate(orders, rate, None, timeout, |sim, config| {
        sim.erp.faults.rate_limit_per_sec = limit;
        sim.erp.faults.max_concurrent = max_concurrent;
        sim.erp.faults.latency_ms = latency_ms;
        config.erp.governor.requests_per_sec = f64::from(limit);
        config.erp.governor.max_concurrency = max_concurrent as usize;
    })
    .await?;
    let erp = &run.stats["erp"];
    let n = |k: &str| erp[k].as_u64().unwrap_or(0);
    let per_second: Vec<u64> = erp["admitted_per_second"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    let first = per_second.iter().position(|n| *n > 0).unwrap_or(0);
    let last = per_second.iter().rposition(|n| *n > 0).unwrap_or(0);
    let inner = per_second
        .get(first + 1..last)
        .map(<[u64]>::to_vec)
        .unwrap_or_default();
    let limit_f = f64::from(limit);
    let utilisation = if inner.is_empty() {
        0.0
    } else {
        inner.iter().sum::<u64>() as f64 / (limit_f * inner.len() as f64)
    };
    let worst_second = inner.iter().min().map_or(0.0, |n| *n as f64 / limit_f);
    Ok(GovernorReport {
        erp_limit_per_sec: limit,
        erp_max_concurrent: max_concurrent,
        offered_load: load,
        orders,
        closed: run.closed,
        elapsed_secs: run.elapsed.as_secs_f64(),
        erp_requests: n("requests"),
        erp_429s: n("rate_limited") + n("concurrency_limited"),
        erp_peak_per_second: n("peak_per_second"),
        erp_peak_in_flight: n("peak_in_flight"),
        backlog_secs: inner.len(),
        utilisation,
        worst_second,
        duplicates_at_erp: run.summary.duplicates_at_erp,
        lost: run.summary.lost,
        exceptions: run.summary.exceptions,
    })
}
