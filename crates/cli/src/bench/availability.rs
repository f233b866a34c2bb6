//! `crossdock bench availability`: the available-to-promise recompute over a
//! synthetic catalogue (seeded, so every run computes the same numbers).
//! Target: 1,000,000 SKUs × 4 channels × 3 locations, a full recompute and
//! diff in ≤ 2 s and ≤ 1 GiB resident.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use crossdock_availability::{
    AvailabilityConfig, AvailabilityTable, Cadence, Change, ChannelPolicy, LocationPolicy,
    Policies, Position,
};
use serde::Serialize;

use super::common::SplitMix;

#[derive(Debug, Clone, Args)]
pub struct AvailabilityArgs {
    /// SKUs in the catalogue.
    #[arg(long, default_value_t = 1_000_000)]
    pub skus: usize,
    /// Sales channels (webstore, amazon, walmart, ebay, then more of the same kinds).
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    /// Stock locations (the last one marketplace-fulfilled when there are two or more).
    #[arg(long, default_value_t = 3)]
    pub locations: usize,
    /// Share of (SKU, location) positions that move between the two recomputes.
    #[arg(long, default_value_t = 0.01)]
    pub change_fraction: f64,
    /// Seed of the synthetic catalogue.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct AvailabilityReport {
    pub skus: usize,
    pub channels: usize,
    pub locations: usize,
    pub seed: u64,
    pub build_secs: f64,
    /// Recompute of every (SKU, channel) against nothing published.
    pub full_recompute_secs: f64,
    pub full_recompute_changes: usize,
    pub apply_secs: f64,
    pub mutated_positions: usize,
    pub mutate_secs: f64,
    /// Recompute of every (SKU, channel) and diff against what was published.
    pub recompute_diff_secs: f64,
    pub diff_changes: usize,
    pub diff_urgent: usize,
    pub diff_batch: usize,
    /// Peak resident set size (`VmHWM`), when the OS reports it.
    pub peak_rss_bytes: Option<u64>,
    /// Both recomputes ≤ 2 s and peak RSS ≤ 1 GiB.
    pub target_met: bool,
}

pub fn run(args: &AvailabilityArgs) -> anyhow::Result<()> {
    let report = bench(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// A stock position drawn for the synthetic catalogue: 15% out of stock,
/// and one in a hundred oversold (more reserved than on hand).
fn random_position(rng: &mut SplitMix) -> Position {
    let roll = rng.below(100);
    let on_hand = if roll < 15 {
        0
    } else {
        1 + rng.below(200) as i64
    };
    let reserved = if roll == 99 {
        // Oversold: more reserved than on hand.
        on_hand + 1 + rng.below(5) as i64
    } else {
        rng.below(on_hand.min(20) as u64 + 1) as i64
    };
    Position::new(on_hand, reserved)
}

/// A retailer's shape: own DCs and a 3PL, marketplace-fulfilled stock last;
/// a webstore, Amazon (which may sell FBA stock), Walmart and eBay with
/// allocations, buffers and limits.
fn synthetic_policies(locations: usize, channels: usize) -> anyhow::Result<Policies> {
    if locations == 0 || channels == 0 {
        bail!("--locations and --channels must be at least 1");
    }
    let location_policies: Vec<LocationPolicy> = (0..locations)
        .map(|i| {
            let network = if locations > 1 && i == locations - 1 {
                "amazon_fba"
            } else if i % 2 == 0 {
                "own"
            } else {
                "3pl"
            };
            LocationPolicy {
                name: format!("loc-{i}"),
                network: network.into(),
                safety_stock: (i % 3) as i64,
            }
        })
        .collect();
    let present = |wanted: &[&str]| -> Vec<String> {
        let networks: Vec<String> = wanted
            .iter()
            .filter(|n| location_policies.iter().any(|l| l.network == **n))
            .map(|n| n.to_string())
            .collect();
        if networks.is_empty() {
            vec!["own".into()]
        } else {
            networks
        }
    };
    // (name, networks, percent, buffer, min, max, low_stock_at, hot velocity)
    type Template = (
        &'static str,
        &'static [&'static str],
        u8,
        i64,
        i64,
        Option<i64>,
        i64,
        f64,
    );
    const TEMPLATES: [Template; 4] = [
        ("webstore", &["own", "3pl"], 100, 0, 1, None, 5, 20.0),
        (
            "amazon",
            &["own", "3pl", "amazon_fba"],
            100,
            0,
            0,
            None,
            5,
            20.0,
        ),
        ("walmart", &["own"], 50, 2, 3, Some(200), 5, 10.0),
        ("ebay", &["own", "3pl"], 25, 1, 2, Some(50), 3, 10.0),
    ];
    let channel_policies = (0..channels)
        .map(|i| {
            let (name, networks, percent, buffer, min, max, low, hot) =
                TEMPLATES[i % TEMPLATES.len()];
            ChannelPolicy {
                channel: if i < TEMPLATES.len() {
                    name.to_string()
                } else {
                    format!("{name}-{}", i / TEMPLATES.len())
                },
                eligible_networks: Some(present(networks)),
                eligible_locations: None,
                allocation_percent: percent,
                buffer,
                min_quantity: min,
                max_quantity: max,
                low_stock_at: low,
                hot_velocity_per_hour: Some(hot),
                cover_minutes: 0,
            }
        })
        .collect();
    Ok(Policies::new(AvailabilityConfig {
        locations: location_policies,
        channels: channel_policies,
    })?)
}

pub fn bench(args: &AvailabilityArgs) -> anyhow::Result<AvailabilityReport> {
    if !(0.0..=1.0).contains(&args.change_fraction) {
        bail!("--change-fraction must be between 0 and 1");
    }
    let mut rng = SplitMix(args.seed);

    let started = Instant::now();
    let policies = synthetic_policies(args.locations, args.channels)?;
    let mut table = AvailabilityTable::new(policies, args.skus)?;
    for sku in 0..args.skus {
        let positions = table.positions_mut(sku).context("SKU within the table")?;
        for slot in positions.iter_mut() {
            *slot = random_position(&mut rng);
        }
        // Mostly slow movers, a few fast ones (0–25 units/hour, skewed low).
        let v = rng.below(1000) as f32 / 1000.0;
        table.set_velocity(sku, 25.0 * v * v * v)?;
    }
    let build_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut changes: Vec<Change> = Vec::new();
    table.recompute_into(&mut changes);
    let full_recompute_secs = started.elapsed().as_secs_f64();
    let full_recompute_changes = changes.len();

    let started = Instant::now();
    table.apply(&changes)?;
    let apply_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mutated_positions =
        ((args.skus * args.locations) as f64 * args.change_fraction).round() as usize;
    for _ in 0..mutated_positions {
        let sku = rng.below(args.skus as u64) as usize;
        let location = rng.below(args.locations as u64) as usize;
        let position = random_position(&mut rng);
        table.set_position(sku, location, position)?;
    }
    let mutate_secs = started.elapsed().as_secs_f64();

    // The scheduled sweep: same buffer as before, as a scheduler would keep.
    let started = Instant::now();
    table.recompute_into(&mut changes);
    let recompute_diff_secs = started.elapsed().as_secs_f64();
    let diff_urgent = changes
        .iter()
        .filter(|c| matches!(c.cadence, Cadence::Urgent(_)))
        .count();

    let peak_rss_bytes = peak_rss_bytes();
    let target_met = full_recompute_secs <= 2.0
        && recompute_diff_secs <= 2.0
        && peak_rss_bytes.is_some_and(|b| b <= 1 << 30);
    Ok(AvailabilityReport {
        skus: args.skus,
        channels: args.channels,
        locations: args.locations,
        seed: args.seed,
        build_secs,
        full_recompute_secs,
        full_recompute_changes,
        apply_secs,
        mutated_positions,
        mutate_secs,
        recompute_diff_secs,
        diff_changes: changes.len(),
        diff_urgent,
        diff_batch: changes.len() - diff_urgent,
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

fn print_table(r: &AvailabilityReport) {
    println!(
        "availability: {} SKUs × {} channels × {} locations (seed {})",
        r.skus, r.channels, r.locations, r.seed
    );
    println!("{:<28} {:>9} {:>10}", "phase", "seconds", "changes");
    println!("{:<28} {:>9.3}", "build catalogue", r.build_secs);
    println!(
        "{:<28} {:>9.3} {:>10}",
        "full recompute (cold)", r.full_recompute_secs, r.full_recompute_changes
    );
    println!("{:<28} {:>9.3}", "apply (record published)", r.apply_secs);
    println!(
        "{:<28} {:>9.3}",
        format!("mutate {} positions", r.mutated_positions),
        r.mutate_secs
    );
    println!(
        "{:<28} {:>9.3} {:>10}  (urgent {}, batch {})",
        "recompute + diff", r.recompute_diff_secs, r.diff_changes, r.diff_urgent, r.diff_batch
    );
    match r.peak_rss_bytes {
        Some(bytes) => println!(
            "{:<28} {:>9.1} MiB",
            "peak RSS (VmHWM)",
            bytes as f64 / (1024.0 * 1024.0)
        ),
        None => println!("{:<28} {:>9}", "peak RSS (VmHWM)", "n/a"),
    }
    println!(
        "target (≤ 2 s per recompute, ≤ 1 GiB): {}",
        if r.target_met { "met" } else { "missed" }
    );
}
