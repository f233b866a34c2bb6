//! Stock reports: positions reported by a source are applied only at
//! locations whose system of record (`[authority].stock`, asked through
//! `Authority::decide`) is that source (the rest are kept, unapplied, with
//! the reason, and counted), net of what the hub has seen ship since the
//! moment the report is as of.

use std::collections::HashMap;

use crossdock_model::{DataKind, Decision, InventoryPosition, Source, Subject};
use crossdock_store::{PositionRow, StockReport};

use super::state::Shared;
use crate::telemetry;

/// Apply a stock report from `source` (`erp`, `warehouse:<name>`): rows
/// for locations whose system of record is another source are kept
/// as unapplied reports, never applied and never dropped. Returns
/// (applied, kept).
pub(crate) async fn apply_stock_report(
    shared: &Shared,
    source: &str,
    positions: &[InventoryPosition],
) -> anyhow::Result<(usize, usize)> {
    let now = shared.clock.now_ms();
    let Some(from) = Source::parse(source) else {
        anyhow::bail!("stock report from {source:?}, which names no system");
    };
    let mut applied = Vec::new();
    let mut kept = Vec::new();
    let left_since = units_left_after(shared, positions).await?;
    for p in positions {
        match shared
            .authority
            .decide(&from, DataKind::Stock, &Subject::Location(&p.location))
        {
            Decision::NotAuthoritative { authority: owner } => kept.push(StockReport {
                sku: p.sku.clone(),
                location: p.location.clone(),
                source: source.to_owned(),
                on_hand: p.on_hand,
                as_of: p.as_of.timestamp_millis(),
                received_at: now,
                note: format!("{} takes stock from {owner}, not {source}", p.location),
            }),
            Decision::Applies => applied.push(PositionRow {
                sku: p.sku.clone(),
                location: p.location.clone(),
                // A report as of an earlier moment still counts what has
                // shipped since; the hub already took those units off.
                on_hand: (p.on_hand
                    - left_since
                        .get(&(
                            p.sku.as_str(),
                            p.location.as_str(),
                            p.as_of.timestamp_millis(),
                        ))
                        .copied()
                        .unwrap_or(0))
                .max(0),
                reserved: 0,
                source: source.to_owned(),
                as_of: p.as_of.timestamp_millis(),
            }),
        }
    }
    if !kept.is_empty() {
        tracing::warn!(
            source,
            kept = kept.len(),
            "Stock report for locations with another authority kept, not applied."
        );
        telemetry::stock_reports_kept(source, kept.len());
        telemetry::authority_rejected(DataKind::Stock, source, kept.len());
    }
    shared.store.record_stock_reports(&kept).await?;
    shared.store.set_positions(&applied).await?;
    Ok((applied.len(), kept.len()))
}

/// Units the hub has recorded leaving each position after the moment
/// its report is as of, keyed by (SKU, location, as-of). A source that
/// reports late (an ERP whose stock lags the floor) would otherwise put
/// back units that already shipped, and they would be sold again.
async fn units_left_after<'a>(
    shared: &Shared,
    positions: &'a [InventoryPosition],
) -> anyhow::Result<HashMap<(&'a str, &'a str, i64), i64>> {
    let now = shared.clock.now_ms();
    let Some(earliest) = positions
        .iter()
        .map(|p| p.as_of.timestamp_millis())
        .filter(|as_of| *as_of < now)
        .min()
    else {
        return Ok(HashMap::new());
    };
    // Each shipped line once, by position: a report can cover the
    // whole catalogue.
    let mut shipped: HashMap<(String, String), Vec<(i64, i64)>> = HashMap::new();
    for s in shared.store.shipments_recorded_after(earliest).await? {
        let at = s.shipped_at.timestamp_millis();
        for l in s.lines {
            shipped
                .entry((l.sku, s.warehouse.clone()))
                .or_default()
                .push((at, i64::from(l.quantity)));
        }
    }
    let mut left = HashMap::new();
    if shipped.is_empty() {
        return Ok(left);
    }
    for p in positions {
        let as_of = p.as_of.timestamp_millis();
        if as_of >= now {
            continue;
        }
        let units: i64 = shipped
            .get(&(p.sku.clone(), p.location.clone()))
            .map_or(0, |lines| {
                lines
                    .iter()
                    .filter(|(at, _)| *at > as_of)
                    .map(|(_, q)| q)
                    .sum()
            });
        if units > 0 {
            left.insert((p.sku.as_str(), p.location.as_str(), as_of), units);
        }
    }
    Ok(left)
}
