//! `crossdock bench lifecycle`: the whole simulated lifecycle, channel →
//! hub → ERP → warehouse → channel → invoice → closed, every effect over
//! HTTP through the simulated systems.

use std::time::Duration;

use serde::Serialize;

use super::estate::{IngestToErp, run_estate};

#[derive(Debug, clap::Args)]
pub struct LifecycleArgs {
    #[arg(long, default_value_t = 5_000)]
    pub orders: u64,
    /// Order rate the simulated channel offers.
    #[arg(long, default_value_t = 2_000.0)]
    pub orders_per_sec: f64,
    #[arg(long)]
    pub database_url: Option<String>,
    /// Give up after this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "300s")]
    pub timeout: Duration,
}

pub async fn run(args: LifecycleArgs) -> anyhow::Result<()> {
    let report = lifecycle(
        args.orders,
        args.orders_per_sec,
        args.database_url,
        args.timeout,
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct LifecycleReport {
    pub backend: String,
    pub orders: u64,
    pub closed: u64,
    pub elapsed_secs: f64,
    /// Orders taken from channel webhook to Closed per second of wall clock.
    pub closed_per_sec: f64,
    pub duplicates_at_erp: u64,
    pub duplicate_shipments: u64,
    pub lost: u64,
    pub exceptions: u64,
    /// Per order, channel webhook → ERP accepted the sales order.
    pub ingest_to_erp: IngestToErp,
}

async fn lifecycle(
    orders: u64,
    rate: f64,
    database_url: Option<String>,
    timeout: Duration,
) -> anyhow::Result<LifecycleReport> {
    let run = run_estate(orders, rate, database_url, timeout, |_, _| {}).await?;
    Ok(LifecycleReport {
        backend: run.backend,
        orders,
        closed: run.closed,
        elapsed_secs: run.elapsed.as_secs_f64(),
        closed_per_sec: run.closed as f64 / run.elapsed.as_secs_f64(),
        duplicates_at_erp: run.summary.duplicates_at_erp,
        duplicate_shipments: run.summary.duplicate_shipments,
        lost: run.summary.lost,
        exceptions: run.summary.exceptions,
        ingest_to_erp: run.ingest_to_erp,
    })
}
