//! `crossdock edi`: X12 tools for operators.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use crossdock_edi::{
    EdiError, Interchange, MappedShipments, parse_lenient, positions_from_846, read_846, read_856,
    read_945, shipments_from_856, shipments_from_945,
};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum EdiCommand {
    /// Parse an X12 file (leniently: envelope problems are listed as issues)
    /// and map 945/856/846 sets to the canonical model. Prints JSON.
    Parse {
        file: PathBuf,
        /// Warehouse name for shipment ids (945/856); default: the ISA sender id.
        #[arg(long)]
        warehouse: Option<String>,
        /// Location name for inventory positions (846); default: the warehouse
        /// name, else the ISA sender id.
        #[arg(long)]
        location: Option<String>,
    },
}

pub fn run(command: EdiCommand) -> anyhow::Result<()> {
    match command {
        EdiCommand::Parse {
            file,
            warehouse,
            location,
        } => {
            let out = parse_file(&file, warehouse.as_deref(), location.as_deref(), Utc::now())?;
            for e in out["mapping_errors"].as_array().into_iter().flatten() {
                if let Some(m) = e["message"].as_str() {
                    eprintln!("warning: {}: not mapped: {m}", file.display());
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}

fn issue_json(e: &EdiError) -> Value {
    json!({ "message": e.to_string(), "position": e.position() })
}

/// The `edi parse` document: `{interchange, issues, canonical,
/// mapping_errors}`. `canonical` holds `shipments` (+ `short_ships`,
/// `more_tracking`) and/or `positions`, or is null when no set maps. Sets
/// that cannot be mapped are listed in `mapping_errors`. Fails (with the
/// parser's positioned message) only when the file does not parse.
/// `as_of` is the snapshot time given to 846 positions.
pub fn parse_file(
    file: &Path,
    warehouse: Option<&str>,
    location: Option<&str>,
    as_of: DateTime<Utc>,
) -> anyhow::Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let parsed = parse_lenient(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let interchange: &Interchange = &parsed.interchange;
    let sender = interchange.sender_id().trim().to_owned();
    let warehouse = warehouse.map_or_else(|| sender.clone(), str::to_owned);
    let location = location.map_or_else(|| warehouse.clone(), str::to_owned);

    let mut shipments = MappedShipments::default();
    let mut any_shipments = false;
    let mut positions = Vec::new();
    let mut any_positions = false;
    let mut mapping_errors = Vec::new();
    for set in interchange.transaction_sets() {
        let mapped: Result<(), String> = match set.id() {
            "945" => read_945(set).map_err(|e| e.to_string()).and_then(|a| {
                shipments_from_945(&a, &warehouse)
                    .map(|m| {
                        any_shipments = true;
                        append(&mut shipments, m);
                    })
                    .map_err(|e| e.describe_in(set))
            }),
            "856" => read_856(set).map_err(|e| e.to_string()).and_then(|n| {
                shipments_from_856(&n, &warehouse)
                    .map(|m| {
                        any_shipments = true;
                        append(&mut shipments, m);
                    })
                    .map_err(|e| e.describe_in(set))
            }),
            "846" => read_846(set).map_err(|e| e.to_string()).and_then(|a| {
                positions_from_846(&a, &location, as_of)
                    .map(|p| {
                        any_positions = true;
                        positions.extend(p);
                    })
                    .map_err(|e| e.describe_in(set))
            }),
            _ => Ok(()),
        };
        if let Err(message) = mapped {
            mapping_errors.push(json!({
                "transaction_set": set.id(),
                "control_number": set.control_number(),
                "message": message,
            }));
        }
    }
    let mut canonical = serde_json::Map::new();
    if any_shipments {
        canonical.insert(
            "shipments".into(),
            serde_json::to_value(&shipments.shipments)?,
        );
        canonical.insert(
            "short_ships".into(),
            serde_json::to_value(&shipments.short_ships)?,
        );
        canonical.insert(
            "more_tracking".into(),
            serde_json::to_value(&shipments.more_tracking)?,
        );
    }
    if any_positions {
        canonical.insert("positions".into(), serde_json::to_value(&positions)?);
    }
    Ok(json!({
        "interchange": serde_json::to_value(interchange)?,
        "issues": parsed.issues.iter().map(issue_json).collect::<Vec<_>>(),
        "canonical": if canonical.is_empty() { Value::Null } else { Value::Object(canonical) },
        "mapping_errors": mapping_errors,
    }))
}

fn append(all: &mut MappedShipments, m: MappedShipments) {
    all.shipments.extend(m.shipments);
    all.short_ships.extend(m.short_ships);
    all.more_tracking.extend(m.more_tracking);
}
