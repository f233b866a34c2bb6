//! `crossdock bench settlement`: a generated Amazon V2 settlement file
//! (seeded, ~100 MB and ~700,000 rows by default) written to a temporary
//! file, then read, classified and reconciled against an in-memory order
//! lookup in one streaming pass. Target: ≤ 60 s and ≤ 256 MiB peak RSS.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use crossdock_model::SettlementFormat;
use crossdock_settlement::{
    GenerateSpec, ReconcileOptions, Reconciler, generate_amazon_v2, read_amazon_v2,
};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Debug, Clone, Args)]
pub struct SettlementArgs {
    /// Amount rows in the generated settlement.
    #[arg(long, default_value_t = 700_000)]
    pub rows: u64,
    /// Seed of the generated settlement.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct SettlementReport {
    /// `release` or `debug`: the figures of a debug build are not the product's.
    pub build: &'static str,
    pub seed: u64,
    pub rows: u64,
    pub bytes: u64,
    pub orders: u64,
    pub generate_secs: f64,
    /// Read + classify + reconcile + journal, from the file.
    pub import_secs: f64,
    pub rows_per_sec: f64,
    pub residuals: usize,
    pub journals: usize,
    /// Σcategories + Σresiduals = deposit and every journal balanced.
    pub books_close: bool,
    pub peak_rss_bytes: Option<u64>,
    /// ≤ 60 s and ≤ 256 MiB.
    pub target_met: bool,
}

pub fn run(args: &SettlementArgs) -> anyhow::Result<()> {
    let report = bench(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn bench(args: &SettlementArgs) -> anyhow::Result<SettlementReport> {
    let path = std::env::temp_dir().join(format!(
        "crossdock-bench-settlement-{}.tsv",
        uuid::Uuid::now_v7().simple()
    ));
    let report = bench_file(args, &path);
    let _ = std::fs::remove_file(&path);
    report
}

fn bench_file(args: &SettlementArgs, path: &std::path::Path) -> anyhow::Result<SettlementReport> {
    let spec = GenerateSpec {
        seed: args.seed,
        rows: args.rows,
        promotion_id_column: true,
        settlement_id: format!("{}", 20_000_000_000u64 + args.seed),
    };
    let started = Instant::now();
    let mut out = BufWriter::new(File::create(path).context("create the settlement file")?);
    let generated = generate_amazon_v2(&mut out, &spec).context("write the settlement file")?;
    out.flush()?;
    drop(out);
    let generate_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let file = BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut reconciler = Reconciler::new(SettlementFormat::AmazonV2);
    let header = read_amazon_v2(file, "amazon", |row| reconciler.push(&row))
        .context("read the generated settlement")?;
    let options = ReconcileOptions {
        previous_reserve_current: Some(Decimal::new(-25_000, 2)),
        ..ReconcileOptions::default()
    };
    let result = reconciler.finish(&header, &generated.known, &options);
    let import_secs = started.elapsed().as_secs_f64();

    let books_close =
        result.summary.unexplained().is_zero() && result.journals.iter().all(|j| j.is_balanced());
    let peak_rss_bytes = peak_rss_bytes();
    let target_met = import_secs <= 60.0
        && books_close
        && peak_rss_bytes.is_some_and(|b| b <= 256 * 1024 * 1024);
    Ok(SettlementReport {
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        seed: args.seed,
        rows: result.summary.rows,
        bytes: generated.bytes,
        orders: result.summary.orders_count,
        generate_secs,
        import_secs,
        rows_per_sec: result.summary.rows as f64 / import_secs.max(1e-9),
        residuals: result.summary.residuals.len(),
        journals: result.journals.len(),
        books_close,
        peak_rss_bytes,
        target_met,
    })
}

/// `VmHWM` from `/proc/self/status` (Linux), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn print_table(r: &SettlementReport) {
    println!(
        "settlement ({} build): Amazon V2, {} rows, {:.1} MB, {} orders (seed {})",
        r.build,
        r.rows,
        r.bytes as f64 / 1e6,
        r.orders,
        r.seed
    );
    println!("{:<28} {:>9.2} s", "generate file", r.generate_secs);
    println!("{:<28} {:>9.2} s", "read+classify+reconcile", r.import_secs);
    println!("{:<28} {:>9.0}", "rows/s", r.rows_per_sec);
    println!("{:<28} {:>9}", "residuals (planted)", r.residuals);
    println!("{:<28} {:>9}", "journals (balanced)", r.journals);
    match r.peak_rss_bytes {
        Some(bytes) => println!(
            "{:<28} {:>9.1} MiB",
            "peak RSS (VmHWM)",
            bytes as f64 / (1024.0 * 1024.0)
        ),
        None => println!("{:<28} {:>9}", "peak RSS (VmHWM)", "n/a"),
    }
    println!(
        "books close: {}; target (≤ 60 s, ≤ 256 MiB): {}",
        r.books_close,
        if r.target_met { "met" } else { "missed" }
    );
}
