//! `crossdock inventory show SKU`: where a SKU's stock is, what holds it,
//! and what every channel is shown and owed — with the reason for each
//! number, computed by the same policies the running hub uses.

use std::fmt::Write as _;

use anyhow::Context;
use clap::Subcommand;
use crossdock_engine::availability::{AvailabilityPlan, SkuAvailability, describe_sku};

use crate::config::Config;
use crate::store_args::StoreArgs;

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Positions, reservations and the published quantity per channel with
    /// the reason for each.
    Show {
        sku: String,
        /// The hub configuration (policies and store).
        #[arg(long)]
        config: std::path::PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: InventoryCommand) -> anyhow::Result<()> {
    match command {
        InventoryCommand::Show {
            sku,
            config,
            store,
            json,
        } => {
            let loaded = Config::load(&config)?;
            let availability = loaded.availability.clone().with_context(|| {
                format!(
                    "{} has no [availability] policies: channels are not sent stock",
                    config.display()
                )
            })?;
            let plan = AvailabilityPlan::new(availability, loaded.inventory.clone())
                .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
            let store = store.with_config(&config).open().await?;
            // Velocity lives in the running hub; offline, `cover_minutes` holds
            // nothing back (ask the hub's `/v1/availability/{sku}` for it).
            let described = describe_sku(&store, &plan, &sku, 0.0).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&described)?);
            } else {
                print!("{}", render(&described));
            }
            Ok(())
        }
    }
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// The text form: one block per section, a line per location and channel.
pub fn render(d: &SkuAvailability) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", d.sku);
    let _ = writeln!(out, "  positions");
    if d.positions.is_empty() {
        let _ = writeln!(out, "    (none reported)");
    }
    for p in &d.positions {
        let _ = writeln!(
            out,
            "    {:<14} on hand {:>6}  reserved {:>6}  free {:>6}  from {} as of {}",
            p.location,
            p.on_hand,
            p.reserved,
            p.on_hand - p.reserved,
            p.source,
            at(p.as_of)
        );
    }
    for location in &d.unknown_locations {
        let _ = writeln!(
            out,
            "    {location:<14} not counted: no [[availability.locations]] entry"
        );
    }
    if !d.unapplied_reports.is_empty() {
        let _ = writeln!(out, "  stock reports kept, not applied");
        for r in &d.unapplied_reports {
            let _ = writeln!(
                out,
                "    {:<14} {:>6} from {} at {}: {}",
                r.location,
                r.on_hand,
                r.source,
                at(r.received_at),
                r.note
            );
        }
    }
    let _ = writeln!(out, "  channels");
    for c in &d.explanation.channels {
        let row = d.channels.iter().find(|r| r.channel == c.channel);
        let shown = row
            .and_then(|r| r.published)
            .map_or("never published".to_owned(), |q| format!("shows {q}"));
        let _ = write!(
            out,
            "    {:<14} should show {:>6}; {shown}",
            c.channel, c.quantity
        );
        if let Some(r) = row {
            if let Some(target) = r.target {
                let _ = write!(
                    out,
                    "; owed {target} ({}, since {}, {} attempt(s))",
                    r.cadence.as_deref().unwrap_or("batch"),
                    r.changed_at.map(at).unwrap_or_default(),
                    r.attempts
                );
            }
            if let Some(lag) = r.last_lag_ms {
                let _ = write!(out, "; last sync lag {lag} ms");
            }
            if let Some(error) = &r.last_error {
                let _ = write!(out, "; last error: {error}");
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "      because {}", c.reason);
    }
    if let Some(v) = d.velocity_per_hour {
        let _ = writeln!(out, "  selling {v:.1} units/hour");
    }
    out
}
