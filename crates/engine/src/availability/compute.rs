//! Compute: what each channel should be shown, and which of it is owed.
//!
//! After a stock movement only the SKUs it touched are recomputed, one at a
//! time; a full recompute (at start and on a schedule) runs every SKU
//! through the columnar table. Either way a quantity that differs from what
//! the channel shows or is already owed goes to the store's outbox.

use std::collections::HashMap;
use std::time::Instant;

use crossdock_availability::{
    AvailabilityTable, Cadence, Policies, Position, SkuExplanation, explain_sku,
};
use crossdock_store::{
    AvailabilityRow, OwedAvailability, PositionRow, StockChange, StockReport, Store,
};
use serde::Serialize;

use super::plan::AvailabilityPlan;
use super::state::{Shared, decayed_sale};

/// One SKU as `crossdock inventory show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SkuAvailability {
    pub sku: String,
    pub positions: Vec<PositionRow>,
    /// Locations reporting stock that no policy knows (not counted).
    pub unknown_locations: Vec<String>,
    pub explanation: SkuExplanation,
    pub channels: Vec<AvailabilityRow>,
    /// Units reserved per hour lately (known only to a running hub).
    pub velocity_per_hour: Option<f32>,
    pub unapplied_reports: Vec<StockReport>,
}

/// `sku` as the store and `plan` see it: positions, what each channel shows
/// and is owed, the calculation with its reasons, and stock reports kept
/// unapplied. Used by the API and by `crossdock inventory show`.
/// `velocity_per_hour` is what the SKU sells (it sizes `cover_minutes`);
/// 0 where it is not known.
pub async fn describe_sku(
    store: &Store,
    plan: &AvailabilityPlan,
    sku: &str,
    velocity_per_hour: f32,
) -> anyhow::Result<SkuAvailability> {
    let positions = store.positions(Some(sku)).await?;
    let (arranged, unknown_locations) = arranged(&plan.policies, &positions);
    let mut explanation = explain_sku(&plan.policies, &arranged, velocity_per_hour)?;
    let channels = store.availability(None, Some(&[sku.to_owned()])).await?;
    for c in &mut explanation.channels {
        c.published = channels
            .iter()
            .find(|r| r.channel == c.channel)
            .and_then(|r| r.published);
    }
    Ok(SkuAvailability {
        sku: sku.to_owned(),
        positions,
        unknown_locations,
        explanation,
        channels,
        velocity_per_hour: None,
        unapplied_reports: store.stock_reports(sku, 20).await?,
    })
}

fn cadence_name(cadence: Cadence) -> &'static str {
    match cadence {
        Cadence::Urgent(_) => "urgent",
        Cadence::Batch => "batch",
    }
}

fn arranged(policies: &Policies, rows: &[PositionRow]) -> (Vec<Position>, Vec<String>) {
    let arranged = policies.arrange(
        rows.iter()
            .map(|p| (p.location.as_str(), Position::new(p.on_hand, p.reserved))),
    );
    (arranged.positions, arranged.unknown_locations)
}

/// What each channel should be shown for `sku` given its positions, the
/// channel rows known for it, and its velocity: the owed rows that differ.
fn owed_for_sku(
    policies: &Policies,
    sku: &str,
    positions: &[PositionRow],
    rows: &[&AvailabilityRow],
    velocity: f32,
    changed_at: i64,
) -> anyhow::Result<Vec<OwedAvailability>> {
    let (arranged, _) = arranged(policies, positions);
    let explanation = explain_sku(policies, &arranged, velocity)?;
    let mut owed = Vec::new();
    for (i, c) in explanation.channels.iter().enumerate() {
        let row = rows.iter().find(|r| r.channel == c.channel);
        let published = row.and_then(|r| r.published);
        let current = row.and_then(|r| r.target.or(r.published));
        if current == Some(c.quantity) {
            continue;
        }
        let cadence = policies
            .classify(i, published, c.quantity, velocity)
            .unwrap_or(Cadence::Batch);
        owed.push(OwedAvailability {
            channel: c.channel.clone(),
            sku: sku.to_owned(),
            target: c.quantity,
            cadence: cadence_name(cadence).to_owned(),
            changed_at,
        });
    }
    Ok(owed)
}

/// How far back the velocity is rebuilt at start: with its one-hour time
/// constant, a sale four hours old weighs under 2 % of a new one.
const VELOCITY_HISTORY_MS: i64 = 4 * 3_600_000;

/// Rebuild the sales velocity from the store's recent reservations, once
/// per sync: it lives in memory, and without this a restarted hub sells
/// its best sellers with no `cover_minutes` held back until an hour of
/// sales has been seen again. Call it before taking stock changes: a
/// change recorded before it is in the store and counted here.
pub(crate) async fn rebuild_velocity_once(shared: &Shared) -> anyhow::Result<()> {
    shared
        .state
        .velocity_rebuilt
        .get_or_try_init(|| async {
            let now_ms = shared.clock.now_ms();
            let now = shared.clock.instant();
            let sales = shared
                .store
                .units_reserved_since(now_ms - VELOCITY_HISTORY_MS)
                .await?;
            let mut per_sku: HashMap<&str, (f64, f64)> = HashMap::new();
            for s in &sales {
                let hours = (now_ms - s.at).max(0) as f64 / 3_600_000.0;
                let (slow, fast) = decayed_sale(s.units, hours);
                let sums = per_sku.entry(s.sku.as_str()).or_default();
                sums.0 += slow;
                sums.1 += fast;
            }
            for (sku, sums) in &per_sku {
                shared.state.add_decayed_sales(sku, *sums, now);
            }
            tracing::info!(
                skus = per_sku.len(),
                "Rebuilt sales velocity from the last hours' reservations."
            );
            anyhow::Ok(())
        })
        .await?;
    Ok(())
}

pub(crate) async fn recompute_changed(
    shared: &Shared,
    changes: HashMap<String, StockChange>,
) -> anyhow::Result<()> {
    let policies = &shared.plan().policies;
    let state = &shared.state;
    let now = shared.clock.instant();
    let skus: Vec<String> = changes.keys().cloned().collect();
    // Grouped by SKU once: a batch can hold every SKU (the first stock load).
    let mut positions: HashMap<String, Vec<PositionRow>> = HashMap::new();
    for p in shared.store.positions_of(&skus).await? {
        positions.entry(p.sku.clone()).or_default().push(p);
    }
    let rows = shared.store.availability(None, Some(&skus)).await?;
    let mut known: HashMap<&str, Vec<&AvailabilityRow>> = HashMap::new();
    for r in &rows {
        known.entry(r.sku.as_str()).or_default().push(r);
    }
    let changed_at = shared.clock.now_ms();
    let mut owed = Vec::new();
    let mut urgent = false;
    for (sku, change) in &changes {
        let velocity = if change.units_reserved > 0 {
            state.note_sales(sku, change.units_reserved, now)
        } else {
            state.velocity(sku, now)
        };
        let here = positions.get(sku).map(Vec::as_slice).unwrap_or_default();
        let rows = known
            .get(sku.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let sku_owed = owed_for_sku(policies, sku, here, rows, velocity, changed_at)?;
        urgent |= sku_owed.iter().any(|o| o.cadence == "urgent");
        owed.extend(sku_owed);
    }
    shared.store.owe_availability(&owed).await?;
    for change in changes.values() {
        state.note_enqueued(change.first_at.elapsed());
    }
    if urgent {
        state.wake_pushers();
    }
    Ok(())
}

/// Recompute every SKU against what channels show and are owed, with the
/// columnar table (the path the 1M-SKU benchmark measures).
pub(crate) async fn full_recompute(shared: &Shared) -> anyhow::Result<()> {
    let policies = &shared.plan().policies;
    // Wall time on purpose: `took_ms` in the log measures the process.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let positions = shared.store.positions(None).await?;
    let rows = shared.store.availability(None, None).await?;
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    for sku in positions
        .iter()
        .map(|p| p.sku.as_str())
        .chain(rows.iter().map(|r| r.sku.as_str()))
    {
        index.entry(sku).or_insert_with(|| {
            names.push(sku);
            names.len() - 1
        });
    }
    let mut table = AvailabilityTable::new(policies.clone(), names.len())?;
    for p in &positions {
        if let Some(location) = policies.location_index(&p.location)
            && let Some(slots) = table.positions_mut(index[p.sku.as_str()])
        {
            slots[location].on_hand += p.on_hand;
            slots[location].reserved += p.reserved;
        }
    }
    for r in &rows {
        if let Some(channel) = policies.channel_index(&r.channel)
            && let Some(current) = r.target.or(r.published)
        {
            table.record_published(index[r.sku.as_str()], channel, Some(current))?;
        }
    }
    let now = shared.clock.instant();
    for (i, sku) in names.iter().enumerate() {
        table.set_velocity(i, shared.state.velocity(sku, now))?;
    }
    let changed_at = shared.clock.now_ms();
    let owed: Vec<OwedAvailability> = table
        .recompute()
        .into_iter()
        .map(|c| OwedAvailability {
            channel: policies.channels()[usize::from(c.channel)].channel.clone(),
            sku: names[c.sku as usize].to_owned(),
            target: c.new,
            cadence: cadence_name(c.cadence).to_owned(),
            changed_at,
        })
        .collect();
    shared.store.owe_availability(&owed).await?;
    tracing::info!(
        skus = names.len(),
        owed = owed.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "Recomputed availability for every SKU."
    );
    if !owed.is_empty() {
        shared.state.wake_pushers();
    }
    Ok(())
}
