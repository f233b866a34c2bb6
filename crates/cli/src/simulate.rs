//! `crossdock simulate`: rehearse a day from a scenario file and write the
//! report (`report.json`, `report.html`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use crossdock_rehearsal::{Progress, Report, Scenario};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args)]
pub struct SimulateArgs {
    /// The scenario (TOML), e.g. `scenarios/peak-season.toml`.
    #[arg(long)]
    pub scenario: PathBuf,
    /// Seed of every random draw; the scenario's own when not given. The
    /// same seed gives a byte-identical `report.json`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where `report.json` and `report.html` are written.
    #[arg(long, default_value = "rehearsal-report")]
    pub report: PathBuf,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = Scenario::from_file(&args.scenario)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    // Drawn on a terminal only: indicatif hides itself elsewhere.
    let bar = ProgressBar::new(u64::try_from(scenario.duration_ms / 60_000).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} simulated {pos}/{len} min [{bar:40}] {msg} ({elapsed} wall)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut on_progress = |p: Progress| {
        bar.set_position(u64::try_from(p.at_ms / 60_000).unwrap_or(0));
        bar.set_message(format!("{} orders", p.orders_placed));
    };
    let report = crossdock_rehearsal::rehearse(scenario, seed, &mut on_progress).await?;
    bar.finish_and_clear();
    let wall = started.elapsed();
    write(&args.report, &report)?;
    print_summary(&report, wall, &args.report);
    let inv = &report.invariants;
    if inv.oversold_units > 0 || inv.duplicates.total() > 0 || inv.lost_orders > 0 {
        anyhow::bail!(
            "invariants broken: {} oversold unit(s), {} duplicate effect(s), {} lost order(s)",
            inv.oversold_units,
            inv.duplicates.total(),
            inv.lost_orders
        );
    }
    Ok(())
}

fn write(dir: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut json = serde_json::to_string_pretty(report)?;
    json.push('\n');
    let path = dir.join("report.json");
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    let path = dir.join("report.html");
    std::fs::write(&path, crossdock_rehearsal::html::render(report))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_summary(r: &Report, wall: std::time::Duration, dir: &std::path::Path) {
    let inv = &r.invariants;
    println!(
        "{}: {} orders placed, {} shipped, {} cancelled, {} open at end; simulated {} h (+{} min drain) in {:.1} s wall",
        r.scenario,
        r.totals.orders_placed,
        r.totals.orders_shipped,
        r.totals.orders_cancelled,
        r.totals.orders_open_at_end,
        r.duration_ms / 3_600_000,
        r.drained_ms / 60_000,
        wall.as_secs_f64()
    );
    println!(
        "invariants: oversold {} unit(s), duplicates {}, lost {}",
        inv.oversold_units,
        inv.duplicates.total(),
        inv.lost_orders
    );
    println!(
        "ERP: {} calls, peak backlog {} job(s), drain {}, utilisation mean {:.1} % peak {:.1} %, 429s {}",
        r.erp.calls,
        r.erp.peak_backlog,
        r.erp
            .drain_time_ms
            .map_or_else(|| "never".to_owned(), |ms| format!("{} min", ms / 60_000)),
        r.erp.utilisation_mean_pct,
        r.erp.utilisation_peak_pct,
        r.erp.throttled
    );
    for c in &r.channels {
        println!(
            "  {:<12} ingest p95 {:>7.1} s  ERP acceptance p95 {:>7.1} min  ship-confirm p95 {:>6.1} min  sync p95 {:>6.1} min",
            c.name,
            c.ingest_latency.p95_ms as f64 / 1000.0,
            c.erp_acceptance.p95_ms as f64 / 60_000.0,
            c.ship_confirm.p95_ms as f64 / 60_000.0,
            c.inventory_sync.p95_ms as f64 / 60_000.0
        );
    }
    let breaches: u64 = r.sla.iter().map(|s| s.breaches).sum();
    println!("SLA breaches: {breaches}; report in {}", dir.display());
}
