//! `crossdock bench settlement`: a generated Amazon V2 settlement file
//! (seeded, ~100 MB and ~700,000 rows by default) written to a temporary
//! file, then (1) imported for real — read, reconciled against the store and
//! stored in one transaction, the code `crossdock settlement import` runs —
//! into a fresh SQLite store or a PostgreSQL database (`--store`), and (2)
//! read, classified and reconciled against an in-memory order lookup in one
//! streaming pass. The import runs in a child process of this binary so its
//! peak RSS is its own, not the in-memory phase's. The store holds none of
//! the generated orders, so every order becomes an `order_not_found`
//! residual: the import stores more than a real settlement would.
//! Target: ≤ 60 s and ≤ 256 MiB peak RSS.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use crossdock_engine::settlements::{ImportOutcome, ImportRequest, import_settlement};
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
    /// Where the real import stores the settlement: a fresh SQLite store in
    /// a temporary directory, the PostgreSQL database of `--database-url`,
    /// or nowhere (only the in-memory pass).
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,
    /// The PostgreSQL database for `--store postgres` (the settlement is
    /// stored under a channel of its own, so a used database is fine).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    /// Internal: import this file into `--import-url` in this process and
    /// print the phase as JSON (the parent's child process).
    #[arg(long, hide = true, requires = "import_url")]
    pub import_file: Option<PathBuf>,
    #[arg(long, hide = true)]
    pub import_url: Option<String>,
    #[arg(long, hide = true, default_value = "amazon")]
    pub import_channel: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Sqlite,
    Postgres,
    None,
}

/// The real import, as the child process measured it.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ImportPhase {
    /// `sqlite` or `postgres`.
    pub store: String,
    /// Read the file + reconcile against the store + store it, all of it.
    pub secs: f64,
    pub stored_rows: i64,
    pub residuals: usize,
    pub imported: bool,
    /// The child's own `VmHWM`.
    pub peak_rss_bytes: Option<u64>,
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
    /// The real import into a store (absent with `--store none`).
    pub store_import: Option<ImportPhase>,
    /// ≤ 60 s and ≤ 256 MiB, for the in-memory pass and the real import.
    pub target_met: bool,
}

pub async fn run(args: &SettlementArgs) -> anyhow::Result<()> {
    if let (Some(file), Some(url)) = (&args.import_file, &args.import_url) {
        let phase = import_phase(file, url, &args.import_channel).await?;
        println!("{}", serde_json::to_string(&phase)?);
        return Ok(());
    }
    let report = bench(args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

async fn bench(args: &SettlementArgs) -> anyhow::Result<SettlementReport> {
    let path = std::env::temp_dir().join(format!(
        "crossdock-bench-settlement-{}.tsv",
        uuid::Uuid::now_v7().simple()
    ));
    let report = bench_file(args, &path).await;
    let _ = std::fs::remove_file(&path);
    report
}

/// Import `file` as `crossdock settlement import --from amazon-v2` does
/// (the whole file read, then [`import_settlement`]), timed, with this
/// process's peak RSS.
async fn import_phase(file: &Path, url: &str, channel: &str) -> anyhow::Result<ImportPhase> {
    let started = Instant::now();
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let store = crossdock_store::Store::open(url).await?;
    let report = import_settlement(
        &store,
        &ImportRequest {
            format: SettlementFormat::AmazonV2,
            file: &body,
            transactions: None,
            channel: Some(channel),
            now: 0,
        },
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let stored_rows = store
        .settlement(&report.settlement.key)
        .await?
        .map_or(0, |s| s.row_count);
    Ok(ImportPhase {
        store: super::common::backend_name(url),
        secs,
        stored_rows,
        residuals: report.settlement.residuals.len(),
        imported: report.outcome == ImportOutcome::Imported,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// Run [`import_phase`] in a child process of this binary, so that its
/// peak RSS is the import's alone.
async fn import_in_child(
    args: &SettlementArgs,
    file: &Path,
) -> anyhow::Result<Option<ImportPhase>> {
    let (dir, sqlite_url) = super::common::temp_store_url();
    let url = match args.store {
        StoreKind::None => return Ok(None),
        StoreKind::Sqlite => sqlite_url,
        StoreKind::Postgres => args.database_url.clone(),
    };
    // A channel of its own: a used PostgreSQL database cannot hold it already.
    let channel = format!("amazon-bench-{}", uuid::Uuid::now_v7().simple());
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .args(["bench", "settlement", "--import-file"])
        .arg(file)
        .args(["--import-url", &url, "--import-channel", &channel])
        .output()
        .await
        .context("running the import's child process")?;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(
        output.status.success(),
        "the import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let phase = serde_json::from_slice(&output.stdout).context("the import's report")?;
    Ok(Some(phase))
}

async fn bench_file(args: &SettlementArgs, path: &Path) -> anyhow::Result<SettlementReport> {
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

    let store_import = import_in_child(args, path).await?;

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
    let within =
        |secs: f64, rss: Option<u64>| secs <= 60.0 && rss.is_some_and(|b| b <= 256 * 1024 * 1024);
    let target_met = within(import_secs, peak_rss_bytes)
        && books_close
        && store_import
            .as_ref()
            .is_none_or(|p| p.imported && within(p.secs, p.peak_rss_bytes));
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
        store_import,
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

fn print_rss(what: &str, rss: Option<u64>) {
    match rss {
        Some(bytes) => println!("{what:<28} {:>9.1} MiB", bytes as f64 / (1024.0 * 1024.0)),
        None => println!("{what:<28} {:>9}", "n/a"),
    }
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
    print_rss("peak RSS (VmHWM)", r.peak_rss_bytes);
    if let Some(p) = &r.store_import {
        println!(
            "{:<28} {:>9.2} s",
            format!("import into {}", p.store),
            p.secs
        );
        println!("{:<28} {:>9}", "  rows stored", p.stored_rows);
        println!("{:<28} {:>9}", "  residuals stored", p.residuals);
        print_rss("  import peak RSS (VmHWM)", p.peak_rss_bytes);
    }
    println!(
        "books close: {}; target (≤ 60 s, ≤ 256 MiB): {}",
        r.books_close,
        if r.target_met { "met" } else { "missed" }
    );
}
