//! `crossdock bench x12`: the hand-written X12 reader on a synthetic,
//! seeded corpus held in memory. Per interchange it does what the hub does
//! with an inbound 3PL file (`X12Warehouse::read_file` in
//! `crates/connectors/src/warehouse/x12_files.rs`): strict parse and envelope
//! validation, then per transaction set the typed reader (945 or 846) and the
//! canonical mapping (shipments or stock positions). It leaves out what is
//! not the reader: file I/O, the 997 the hub writes back, the store.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeZone, Utc};
use clap::Args;
use crossdock_edi::{
    ControlNumbers, Delimiters, EnvelopeParams, OutSegment, format_decimal, parse,
    positions_from_846, read_846, read_945, shipments_from_945, write_interchange,
};
use rust_decimal::Decimal;
use serde::Serialize;

use super::common::SplitMix;

#[derive(Debug, Clone, Args)]
pub struct X12Args {
    /// Interchanges in the corpus. Every tenth is one 846 inventory advice,
    /// the others a batch of 945 shipping advices (3PLs send stock snapshots
    /// far less often than shipment batches).
    #[arg(long, default_value_t = 200)]
    pub interchanges: usize,
    /// 945 transaction sets in each shipment interchange.
    #[arg(long, default_value_t = 50)]
    pub sets_per_interchange: usize,
    /// Lines (LX/W12/N9) in each 945.
    #[arg(long, default_value_t = 4)]
    pub lines_per_945: usize,
    /// Items (LIN/QTY) in each 846.
    #[arg(long, default_value_t = 2_000)]
    pub items_per_846: usize,
    /// Measure for this long, whole passes over the corpus (at least one).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub duration: Duration,
    /// Exactly this many passes instead of `--duration`.
    #[arg(long)]
    pub passes: Option<usize>,
    /// Seed of the synthetic corpus.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Reference samples: every file in its `x12-*` subdirectories is
    /// parsed once, outside the timing. Skipped when the directory is absent.
    #[arg(long, default_value = "../shared/reference")]
    pub reference: PathBuf,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Figures for one kind of interchange in the corpus.
#[derive(Debug, Default, Serialize)]
pub struct KindFigures {
    pub interchanges: usize,
    pub sets: usize,
    pub bytes: usize,
    /// Per-interchange time, over every pass.
    pub p50_us: f64,
    pub p99_us: f64,
}

#[derive(Debug, Serialize)]
pub struct ReferenceReport {
    pub dir: String,
    pub files: usize,
    pub parsed: usize,
    /// Strict parse refused a file known to be malformed.
    pub failed_as_expected: usize,
    /// Files whose outcome differs from `crates/edi/tests/it/reference.rs`.
    pub unexpected: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct X12Report {
    pub seed: u64,
    pub interchanges: usize,
    pub sets_per_interchange: usize,
    pub lines_per_945: usize,
    pub items_per_846: usize,
    pub corpus_bytes: usize,
    pub corpus_sets: usize,
    pub corpus_segments: usize,
    /// Shipments and stock positions the mapping produced in one pass.
    pub mapped_shipments: usize,
    pub mapped_positions: usize,
    pub passes: usize,
    pub elapsed_secs: f64,
    /// Decimal megabytes (10^6 bytes) of X12 text per second.
    pub mb_per_sec: f64,
    pub interchanges_per_sec: f64,
    pub sets_per_sec: f64,
    pub segments_per_sec: f64,
    /// Per-interchange time over every pass, both kinds together.
    pub p50_us: f64,
    pub p99_us: f64,
    pub shipments_945: KindFigures,
    pub inventory_846: KindFigures,
    pub reference: Option<ReferenceReport>,
}

pub fn run(args: &X12Args) -> anyhow::Result<()> {
    let report = bench(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// One interchange in this many is an 846 (see `--interchanges`).
const INVENTORY_EVERY: usize = 10;
/// SKUs the synthetic lines and items draw from.
const CATALOGUE: u64 = 50_000;
/// Name under which the mapping files shipments and positions.
const WAREHOUSE: &str = "bench-3pl";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Shipments,
    Inventory,
}

struct Document {
    kind: Kind,
    bytes: Vec<u8>,
}

/// What reading one interchange produced; checked on the untimed first
/// pass so a broken corpus or reader fails the run instead of timing errors.
#[derive(Default)]
struct Read {
    sets: usize,
    segments: usize,
    shipments: usize,
    positions: usize,
}

/// The interchanges' fixed envelope time: the corpus is the same on every run.
fn corpus_time() -> anyhow::Result<DateTime<Utc>> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .context("fixed corpus time")
}

fn envelope(at: DateTime<Utc>) -> EnvelopeParams {
    EnvelopeParams {
        // 00401 has no repetition separator.
        delimiters: Delimiters {
            repetition: None,
            ..Delimiters::STANDARD
        },
        sender_qualifier: "ZZ".into(),
        sender_id: "BENCH3PL".into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: "CROSSDOCK".into(),
        application_sender: "BENCH3PL".into(),
        application_receiver: "CROSSDOCK".into(),
        date: at.format("%Y%m%d").to_string(),
        time: at.format("%H%M").to_string(),
        version: "00401".into(),
        group_version: "004010".into(),
        usage: 'T',
        ack_requested: false,
    }
}

/// One 945 as the simulated 3PL writes it (`crates/sim/src/tpl.rs`): W06
/// with the order and request ids, ship-from, bill of lading and tracking,
/// ship date, carrier, then per line LX/W12/N9*LI, and W03 totals.
fn segments_945(rng: &mut SplitMix, n: usize, lines: usize, at: DateTime<Utc>) -> Vec<OutSegment> {
    let date = at.format("%Y%m%d").to_string();
    let mut s = vec![
        OutSegment::new("W06")
            .val("F")
            .val(format!("webstore:BENCH-{n:08}"))
            .val(date.clone())
            .val(format!("SHP-{n:08}"))
            .el(None::<String>)
            .val(format!("FR-{n:08}")),
        OutSegment::new("N1").val("SF").val("BENCH 3PL"),
        OutSegment::new("N9").val("BM").val(format!("BOL{n:08}")),
        OutSegment::new("N9")
            .val("2I")
            .val(format!("1ZBENCH{n:010}")),
        OutSegment::new("G62")
            .val("11")
            .val(date)
            .val("W")
            .val(at.format("%H%M").to_string()),
        OutSegment::new("W27").val("M").val("UPSN"),
    ];
    let mut total = Decimal::ZERO;
    for line in 1..=lines {
        let ordered = Decimal::from(1 + rng.below(6));
        // About one line in twenty ships one unit short.
        let shipped = if ordered > Decimal::ONE && rng.below(20) == 0 {
            ordered - Decimal::ONE
        } else {
            ordered
        };
        total += shipped;
        s.push(OutSegment::new("LX").val(line.to_string()));
        s.push(
            OutSegment::new("W12")
                .val(if shipped < ordered { "CP" } else { "CC" })
                .val(format_decimal(ordered))
                .val(format_decimal(shipped))
                .val(format_decimal(ordered - shipped))
                .val("EA")
                .el(None::<String>)
                .val("SK")
                .val(format!("SKU-{:05}", rng.below(CATALOGUE))),
        );
        s.push(OutSegment::new("N9").val("LI").val(line.to_string()));
    }
    s.push(OutSegment::new("W03").val(format_decimal(total)));
    s
}

/// One 846 snapshot: BIA, then LIN/QTY*17 (on hand) per item.
fn segments_846(rng: &mut SplitMix, n: usize, items: usize, at: DateTime<Utc>) -> Vec<OutSegment> {
    let mut s = Vec::with_capacity(1 + 2 * items);
    s.push(
        OutSegment::new("BIA")
            .val("00")
            .val("MB")
            .val(format!("ADV{n:08}"))
            .val(at.format("%Y%m%d").to_string()),
    );
    for item in 0..items {
        s.push(
            OutSegment::new("LIN")
                .val((item + 1).to_string())
                .val("SK")
                .val(format!("SKU-{:05}", item as u64 % CATALOGUE)),
        );
        s.push(
            OutSegment::new("QTY")
                .val("17")
                .val(rng.below(500).to_string())
                .val("EA"),
        );
    }
    s
}

fn corpus(args: &X12Args, at: DateTime<Utc>) -> anyhow::Result<Vec<Document>> {
    let params = envelope(at);
    let mut rng = SplitMix(args.seed);
    let mut next_set: u32 = 1;
    let mut next_shipment = 0usize;
    let mut docs = Vec::with_capacity(args.interchanges);
    for i in 0..args.interchanges {
        let kind = if i % INVENTORY_EVERY == INVENTORY_EVERY - 1 {
            Kind::Inventory
        } else {
            Kind::Shipments
        };
        let sets: Vec<(&str, Vec<OutSegment>)> = match kind {
            Kind::Shipments => (0..args.sets_per_interchange)
                .map(|_| {
                    next_shipment += 1;
                    (
                        "945",
                        segments_945(&mut rng, next_shipment, args.lines_per_945, at),
                    )
                })
                .collect(),
            Kind::Inventory => vec![("846", segments_846(&mut rng, i, args.items_per_846, at))],
        };
        let control = u32::try_from(i + 1).context("--interchanges too large")?;
        let numbers = ControlNumbers {
            interchange: control,
            group: control,
            first_set: next_set,
        };
        next_set = next_set.wrapping_add(u32::try_from(sets.len()).unwrap_or(u32::MAX));
        let functional_id = if kind == Kind::Inventory { "IB" } else { "SW" };
        let text = write_interchange(&params, numbers, functional_id, &sets)
            .with_context(|| format!("writing synthetic interchange {}", i + 1))?;
        docs.push(Document {
            kind,
            bytes: text.into_bytes(),
        });
    }
    Ok(docs)
}

/// Parse, read and map one interchange, as the hub does with a 3PL file.
fn read_interchange(bytes: &[u8], as_of: DateTime<Utc>) -> Result<Read, String> {
    let interchange = parse(bytes).map_err(|e| e.to_string())?;
    // ISA and IEA, then GS/GE per group and ST/SE per set.
    let mut read = Read {
        segments: 2,
        ..Read::default()
    };
    for group in &interchange.groups {
        read.segments += 2;
        for set in &group.sets {
            read.sets += 1;
            read.segments += 2 + set.segments.len();
            match set.id() {
                "945" => {
                    let advice = read_945(set).map_err(|e| e.to_string())?;
                    let mapped =
                        shipments_from_945(&advice, WAREHOUSE).map_err(|e| e.describe_in(set))?;
                    read.shipments += mapped.shipments.len();
                    std::hint::black_box(mapped);
                }
                "846" => {
                    let advice = read_846(set).map_err(|e| e.to_string())?;
                    let positions = positions_from_846(&advice, WAREHOUSE, as_of)
                        .map_err(|e| e.describe_in(set))?;
                    read.positions += positions.len();
                    std::hint::black_box(positions);
                }
                other => return Err(format!("unexpected transaction set {other}")),
            }
        }
    }
    std::hint::black_box(interchange);
    Ok(read)
}

/// Nearest-rank quantile (0..=1) of sorted durations, in microseconds.
fn quantile_us(sorted: &[Duration], p: f64) -> f64 {
    super::common::nearest_rank(sorted, p).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

pub fn bench(args: &X12Args) -> anyhow::Result<X12Report> {
    if args.interchanges == 0 || args.sets_per_interchange == 0 {
        bail!("--interchanges and --sets-per-interchange must be at least 1");
    }
    if args.lines_per_945 == 0 || args.items_per_846 == 0 {
        bail!("--lines-per-945 and --items-per-846 must be at least 1");
    }
    let as_of = corpus_time()?;
    let docs = corpus(args, as_of)?;

    // Untimed first pass: checks every interchange reads cleanly, counts
    // what is in the corpus, and warms caches and the allocator.
    let mut totals = Read::default();
    let mut shipments_945 = KindFigures::default();
    let mut inventory_846 = KindFigures::default();
    for (i, doc) in docs.iter().enumerate() {
        let read = read_interchange(&doc.bytes, as_of)
            .map_err(|e| anyhow::anyhow!("synthetic interchange {}: {e}", i + 1))?;
        let figures = match doc.kind {
            Kind::Shipments => &mut shipments_945,
            Kind::Inventory => &mut inventory_846,
        };
        figures.interchanges += 1;
        figures.sets += read.sets;
        figures.bytes += doc.bytes.len();
        totals.sets += read.sets;
        totals.segments += read.segments;
        totals.shipments += read.shipments;
        totals.positions += read.positions;
    }
    let corpus_bytes: usize = docs.iter().map(|d| d.bytes.len()).sum();

    let mut all = Vec::new();
    let mut times_945 = Vec::new();
    let mut times_846 = Vec::new();
    let mut passes = 0usize;
    let started = Instant::now();
    loop {
        let done = match args.passes {
            Some(n) => passes >= n.max(1),
            None => passes >= 1 && started.elapsed() >= args.duration,
        };
        if done {
            break;
        }
        for doc in &docs {
            let t = Instant::now();
            // Verified above; a failure now would mean a nondeterministic
            // reader, which is worth stopping for.
            let read = read_interchange(&doc.bytes, as_of).map_err(|e| anyhow::anyhow!(e))?;
            let took = t.elapsed();
            std::hint::black_box(read);
            all.push(took);
            match doc.kind {
                Kind::Shipments => times_945.push(took),
                Kind::Inventory => times_846.push(took),
            }
        }
        passes += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    for (figures, times) in [
        (&mut shipments_945, &mut times_945),
        (&mut inventory_846, &mut times_846),
    ] {
        times.sort_unstable();
        figures.p50_us = quantile_us(times, 0.50);
        figures.p99_us = quantile_us(times, 0.99);
    }
    let per_sec = |n: usize| (n * passes) as f64 / elapsed;

    Ok(X12Report {
        seed: args.seed,
        interchanges: args.interchanges,
        sets_per_interchange: args.sets_per_interchange,
        lines_per_945: args.lines_per_945,
        items_per_846: args.items_per_846,
        corpus_bytes,
        corpus_sets: totals.sets,
        corpus_segments: totals.segments,
        mapped_shipments: totals.shipments,
        mapped_positions: totals.positions,
        passes,
        elapsed_secs: elapsed,
        mb_per_sec: per_sec(corpus_bytes) / 1e6,
        interchanges_per_sec: per_sec(docs.len()),
        sets_per_sec: per_sec(totals.sets),
        segments_per_sec: per_sec(totals.segments),
        p50_us: quantile_us(&all, 0.50),
        p99_us: quantile_us(&all, 0.99),
        shipments_945,
        inventory_846,
        reference: reference_files(&args.reference)?,
    })
}

/// Reference samples the strict parser must refuse, each asserted to the
/// element in `crates/edi/tests/it/reference.rs`: EBCDIC, an unusable segment
/// terminator, a GS with too many elements, an invalid ISA12 version, and
/// mismatched GE02/IEA02 control numbers.
const EXPECTED_FAILURES: &[&str] = &[
    "x12-bots-plugins/ebcdic.x12",
    "x12-oopfactory/856_Example3.txt",
    "x12-oopfactory/945_inter-americanproducts.txt",
    "x12-oopfactory/810_Example5_Walmart.txt",
    "x12-oopfactory/940_simplot.txt",
];

/// Strict parse of every file under `dir/x12-*`, once and untimed: a check
/// that the reader benchmarked is the one that still reads real partner
/// files. `None` when `dir` does not exist.
fn reference_files(dir: &Path) -> anyhow::Result<Option<ReferenceReport>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let sub = entry?;
        let sub_name = sub.file_name().to_string_lossy().into_owned();
        if !sub_name.starts_with("x12-") || !sub.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(sub.path())? {
            let file = file?;
            if file.path().is_file() {
                let name = format!("{sub_name}/{}", file.file_name().to_string_lossy());
                files.push((name, file.path()));
            }
        }
    }
    files.sort();
    let mut report = ReferenceReport {
        dir: dir.display().to_string(),
        files: files.len(),
        parsed: 0,
        failed_as_expected: 0,
        unexpected: Vec::new(),
    };
    for (name, path) in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let expected_to_fail = EXPECTED_FAILURES.contains(&name.as_str());
        match (parse(&bytes), expected_to_fail) {
            (Ok(_), false) => report.parsed += 1,
            (Err(_), true) => report.failed_as_expected += 1,
            (Ok(_), true) => report
                .unexpected
                .push(format!("{name}: parsed, expected a refusal")),
            (Err(e), false) => report.unexpected.push(format!("{name}: {e}")),
        }
    }
    Ok(Some(report))
}

fn print_table(r: &X12Report) {
    println!(
        "x12: {} interchanges ({} × {} 945s of {} lines, {} × one 846 of {} items), seed {}",
        r.interchanges,
        r.shipments_945.interchanges,
        r.sets_per_interchange,
        r.lines_per_945,
        r.inventory_846.interchanges,
        r.items_per_846,
        r.seed
    );
    println!(
        "corpus: {:.2} MB, {} transaction sets, {} segments; one pass maps {} shipments, {} positions",
        r.corpus_bytes as f64 / 1e6,
        r.corpus_sets,
        r.corpus_segments,
        r.mapped_shipments,
        r.mapped_positions
    );
    println!(
        "{} passes in {:.2} s: {:.1} MB/s, {:.0} interchanges/s, {:.0} sets/s, {:.0} segments/s",
        r.passes,
        r.elapsed_secs,
        r.mb_per_sec,
        r.interchanges_per_sec,
        r.sets_per_sec,
        r.segments_per_sec
    );
    println!(
        "{:<18} {:>12} {:>12} {:>12}",
        "per interchange", "bytes", "p50 µs", "p99 µs"
    );
    println!(
        "{:<18} {:>12} {:>12.1} {:>12.1}",
        "all",
        r.corpus_bytes / r.interchanges.max(1),
        r.p50_us,
        r.p99_us
    );
    for (label, k) in [
        ("945 batch", &r.shipments_945),
        ("846 advice", &r.inventory_846),
    ] {
        println!(
            "{:<18} {:>12} {:>12.1} {:>12.1}",
            label,
            k.bytes / k.interchanges.max(1),
            k.p50_us,
            k.p99_us
        );
    }
    match &r.reference {
        Some(refs) => {
            println!(
                "reference samples ({}): {} files, {} parsed, {} refused as expected",
                refs.dir, refs.files, refs.parsed, refs.failed_as_expected
            );
            for u in &refs.unexpected {
                println!("  unexpected: {u}");
            }
        }
        None => println!("reference samples: directory not found, skipped"),
    }
}
