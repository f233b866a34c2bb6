//! `crossdock simulate`: rehearse a day from a scenario file and write the
//! report (`report.json`, `report.html`); with `--seeds`, rehearse the same
//! day under many seeds and print one table row per seed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// A sweep: every seed of a range (`1..20`, both ends included) or a
    /// list (`1,3,8`). Each seed's report goes to `<report>/seed-<n>/`,
    /// and a table of the seeds' invariants is printed.
    #[arg(long, value_parser = parse_seeds)]
    pub seeds: Option<Seeds>,
    /// Where `report.json` and `report.html` are written.
    #[arg(long, default_value = "rehearsal-report")]
    pub report: PathBuf,
}

/// The seeds of a sweep, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

/// `1..20` (inclusive) or `1,3,8`.
pub fn parse_seeds(text: &str) -> Result<Seeds, String> {
    let text = text.trim();
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{}` is not a seed (a whole number)", s.trim()))
    };
    let seeds: Vec<u64> = if let Some((from, to)) = text.split_once("..") {
        let (from, to) = (number(from)?, number(to.trim_start_matches('='))?);
        if from > to {
            return Err(format!(
                "`{text}`: the range runs from {from} down to {to}; write the lower seed first"
            ));
        }
        if to - from >= 10_000 {
            return Err(format!("`{text}`: at most 10000 seeds in one sweep"));
        }
        (from..=to).collect()
    } else {
        text.split(',').map(number).collect::<Result<_, _>>()?
    };
    if seeds.is_empty() {
        return Err("no seed given".into());
    }
    Ok(Seeds(seeds))
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = Scenario::from_file(&args.scenario)?;
    if let Some(Seeds(seeds)) = &args.seeds {
        return sweep(&scenario, seeds, &args.report).await;
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let (report, wall) = rehearse_one(scenario, seed).await?;
    write(&args.report, &report)?;
    print_summary(&report, wall, &args.report);
    match broken(&report) {
        Some(why) => anyhow::bail!("invariants broken: {why}"),
        None => Ok(()),
    }
}

async fn rehearse_one(scenario: Scenario, seed: u64) -> anyhow::Result<(Report, Duration)> {
    // Drawn on a terminal only: indicatif hides itself elsewhere.
    let bar = ProgressBar::new(u64::try_from(scenario.duration_ms / 60_000).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} seed {prefix}: simulated {pos}/{len} min [{bar:40}] {msg} ({elapsed} wall)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(seed.to_string());
    let started = Instant::now();
    let mut on_progress = |p: Progress| {
        bar.set_position(u64::try_from(p.at_ms / 60_000).unwrap_or(0));
        bar.set_message(format!("{} orders", p.orders_placed));
    };
    let report = crossdock_rehearsal::rehearse(scenario, seed, &mut on_progress).await?;
    bar.finish_and_clear();
    Ok((report, started.elapsed()))
}

/// What `report` breaks of the product's promises, if anything.
fn broken(report: &Report) -> Option<String> {
    let inv = &report.invariants;
    (inv.oversold_units > 0 || inv.duplicates.total() > 0 || inv.lost_orders > 0).then(|| {
        format!(
            "{} oversold unit(s), {} duplicate effect(s), {} lost order(s)",
            inv.oversold_units,
            inv.duplicates.total(),
            inv.lost_orders
        )
    })
}

/// Rehearse `scenario` once per seed (one after another: each run is
/// deterministic and single-stepped, so running them side by side would
/// only share the cores), writing each report to `dir/seed-<n>/`. Each
/// row goes to stderr as its seed finishes; the table to stdout at the end.
#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn sweep(scenario: &Scenario, seeds: &[u64], dir: &Path) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for &seed in seeds {
        let (report, wall) = rehearse_one(scenario.clone(), seed).await?;
        let here = dir.join(format!("seed-{seed}"));
        write(&here, &report)?;
        let row = SweepRow::of(&report, wall);
        eprintln!("{}", row.markdown());
        rows.push(row);
    }
    println!("{}", sweep_table(&rows));
    let broken: Vec<String> = rows
        .iter()
        .filter(|r| r.broken())
        .map(|r| r.seed.to_string())
        .collect();
    println!("reports in {}/seed-<n>/", dir.display());
    if !broken.is_empty() {
        anyhow::bail!(
            "invariants broken on seed(s) {} of {}",
            broken.join(", "),
            rows.len()
        );
    }
    Ok(())
}

/// One seed's line of the sweep's table.
#[derive(Debug, Clone, PartialEq)]
struct SweepRow {
    seed: u64,
    orders: u64,
    oversold_units: u64,
    duplicates: u64,
    lost: u64,
    exceptions: u64,
    /// ERP acceptance p95 in minutes, the worst channel's.
    erp_acceptance_p95_min: f64,
    wall: Duration,
}

impl SweepRow {
    fn of(r: &Report, wall: Duration) -> SweepRow {
        SweepRow {
            seed: r.seed,
            orders: r.totals.orders_placed,
            oversold_units: r.invariants.oversold_units,
            duplicates: r.invariants.duplicates.total(),
            lost: r.invariants.lost_orders,
            exceptions: r.exceptions.values().sum(),
            erp_acceptance_p95_min: r
                .channels
                .iter()
                .map(|c| c.erp_acceptance.p95_ms as f64 / 60_000.0)
                .fold(0.0, f64::max),
            wall,
        }
    }

    fn broken(&self) -> bool {
        self.oversold_units > 0 || self.duplicates > 0 || self.lost > 0
    }

    fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
            self.seed,
            self.orders,
            self.oversold_units,
            self.duplicates,
            self.lost,
            self.exceptions,
            self.erp_acceptance_p95_min,
            self.wall.as_secs_f64()
        )
    }
}

fn sweep_table(rows: &[SweepRow]) -> String {
    let mut out = String::from(
        "| seed | orders | oversold units | duplicates | lost | exceptions | ERP acceptance p95 (min, worst channel) | wall (s) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&r.markdown());
        out.push('\n');
    }
    out
}

fn write(dir: &Path, report: &Report) -> anyhow::Result<()> {
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
fn print_summary(r: &Report, wall: Duration, dir: &Path) {
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
    for line in &inv.oversold {
        println!(
            "  oversold {} x {} on {} at {} min ({}): {}",
            line.units,
            line.sku,
            line.order_id,
            line.at_ms / 60_000,
            line.cause,
            line.detail
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_a_range_with_both_ends_or_a_list() {
        assert_eq!(parse_seeds("1..20"), Ok(Seeds((1..=20).collect())));
        assert_eq!(parse_seeds("3..=5"), Ok(Seeds(vec![3, 4, 5])));
        assert_eq!(parse_seeds("7..7"), Ok(Seeds(vec![7])));
        assert_eq!(parse_seeds("1,3, 8"), Ok(Seeds(vec![1, 3, 8])));
        assert_eq!(parse_seeds("42"), Ok(Seeds(vec![42])));
    }

    #[test]
    fn bad_seeds_say_what_is_wrong() {
        let e = parse_seeds("20..1").unwrap_err();
        assert!(e.contains("lower seed first"), "{e}");
        let e = parse_seeds("1,x").unwrap_err();
        assert!(e.contains("`x` is not a seed"), "{e}");
        let e = parse_seeds("..5").unwrap_err();
        assert!(e.contains("is not a seed"), "{e}");
        let e = parse_seeds("1..100000").unwrap_err();
        assert!(e.contains("at most 10000"), "{e}");
    }

    #[test]
    fn a_sweep_row_breaks_on_any_invariant() {
        let row = SweepRow {
            seed: 1,
            orders: 10,
            oversold_units: 0,
            duplicates: 0,
            lost: 0,
            exceptions: 2,
            erp_acceptance_p95_min: 21.5,
            wall: Duration::from_millis(1500),
        };
        assert!(!row.broken());
        assert_eq!(row.markdown(), "| 1 | 10 | 0 | 0 | 0 | 2 | 21.5 | 1.5 |");
        assert!(SweepRow { lost: 1, ..row }.broken());
        assert!(
            SweepRow {
                oversold_units: 2,
                ..row
            }
            .broken()
        );
        let table = sweep_table(&[]);
        assert!(table.starts_with("| seed | orders | oversold units |"));
    }
}
