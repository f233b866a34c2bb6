//! The whole catalogue in columns, recomputed and diffed in one pass.

use serde::Serialize;

use crate::calc::{
    Cadence, LayoutError, Position, SkuExplanation, explain_sku, location_contribution,
};
use crate::policy::Policies;

/// Marks "never published" in `published`: every computed quantity is ≥ 0,
/// so it can never equal a real one and the first recompute reports it.
const UNPUBLISHED: i64 = -1;

/// One (SKU, channel) whose quantity differs from what was last published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Change {
    /// SKU index in the table.
    pub sku: u32,
    /// Channel index in the policies.
    pub channel: u16,
    pub cadence: Cadence,
    /// The last published quantity (`None`: never published).
    pub old: Option<i64>,
    pub new: i64,
}

/// A SKU or channel index outside the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("SKU index {sku} out of range (table holds {skus} SKUs)")]
    Sku { sku: usize, skus: usize },
    #[error("location index {location} out of range ({locations} locations)")]
    Location { location: usize, locations: usize },
    #[error("channel index {channel} out of range ({channels} channels)")]
    Channel { channel: usize, channels: usize },
    #[error("at most {max} SKUs")]
    TooManySkus { max: usize },
}

/// Positions, velocity and last-published quantities of a catalogue, SKU by
/// SKU in dense arrays (SKU index × location, SKU index × channel), so a
/// full recompute is one sequential pass with no allocation but its output.
///
/// The table maps no SKU codes: the caller keeps the SKU ↔ index map.
/// `published` is what the channels were last *told and acknowledged*:
/// the table never updates it itself. Push the changes, then
/// [`apply`](Self::apply) those the channel accepted; a change not pushed
/// yet (a batch waiting for its schedule, a failed push) is found again by
/// the next recompute.
#[derive(Debug, Clone)]
pub struct AvailabilityTable {
    policies: Policies,
    skus: usize,
    /// `skus × locations`, SKU-major.
    positions: Vec<Position>,
    /// Units per hour, all channels, per SKU.
    velocity: Vec<f32>,
    /// `skus × channels`, SKU-major; [`UNPUBLISHED`] when never published.
    published: Vec<i64>,
}

/// Per-recompute scratch space, sized by the policies, reused for every SKU.
struct Scratch {
    contributions: Vec<i64>,
    pools: Vec<i64>,
}

impl AvailabilityTable {
    /// `skus` SKUs with no stock, never published. At most `u32::MAX` SKUs.
    pub fn new(policies: Policies, skus: usize) -> Result<Self, TableError> {
        let mut table = AvailabilityTable {
            policies,
            skus: 0,
            positions: Vec::new(),
            velocity: Vec::new(),
            published: Vec::new(),
        };
        table.resize(skus)?;
        Ok(table)
    }

    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    pub fn sku_count(&self) -> usize {
        self.skus
    }

    fn location_count(&self) -> usize {
        self.policies.locations().len()
    }

    fn channel_count(&self) -> usize {
        self.policies.channels().len()
    }

    /// Grow (new SKUs hold nothing, never published) or shrink the catalogue.
    pub fn resize(&mut self, skus: usize) -> Result<(), TableError> {
        let max = u32::MAX as usize;
        if skus > max {
            return Err(TableError::TooManySkus { max });
        }
        self.positions
            .resize(skus * self.location_count(), Position::default());
        self.velocity.resize(skus, 0.0);
        self.published
            .resize(skus * self.channel_count(), UNPUBLISHED);
        self.skus = skus;
        Ok(())
    }

    fn check_sku(&self, sku: usize) -> Result<(), TableError> {
        if sku < self.skus {
            Ok(())
        } else {
            Err(TableError::Sku {
                sku,
                skus: self.skus,
            })
        }
    }

    fn check_channel(&self, channel: usize) -> Result<(), TableError> {
        let channels = self.channel_count();
        if channel < channels {
            Ok(())
        } else {
            Err(TableError::Channel { channel, channels })
        }
    }

    /// The SKU's positions, one per location in policy order.
    pub fn positions(&self, sku: usize) -> Option<&[Position]> {
        let l = self.location_count();
        if sku >= self.skus {
            return None;
        }
        self.positions.get(sku * l..(sku + 1) * l)
    }

    /// The SKU's positions, to update in place.
    pub fn positions_mut(&mut self, sku: usize) -> Option<&mut [Position]> {
        let l = self.location_count();
        if sku >= self.skus {
            return None;
        }
        self.positions.get_mut(sku * l..(sku + 1) * l)
    }

    pub fn set_position(
        &mut self,
        sku: usize,
        location: usize,
        position: Position,
    ) -> Result<(), TableError> {
        self.check_sku(sku)?;
        let locations = self.location_count();
        if location >= locations {
            return Err(TableError::Location {
                location,
                locations,
            });
        }
        self.positions[sku * locations + location] = position;
        Ok(())
    }

    /// Units per hour the SKU sells, across channels (for the hot-SKU cadence).
    pub fn set_velocity(&mut self, sku: usize, units_per_hour: f32) -> Result<(), TableError> {
        self.check_sku(sku)?;
        self.velocity[sku] = units_per_hour;
        Ok(())
    }

    pub fn velocity(&self, sku: usize) -> Option<f32> {
        self.velocity.get(sku).copied()
    }

    /// What `channel` was last told for `sku` (`None`: never, or out of range).
    pub fn published(&self, sku: usize, channel: usize) -> Option<i64> {
        if sku >= self.skus || channel >= self.channel_count() {
            return None;
        }
        let value = self.published[sku * self.channel_count() + channel];
        (value != UNPUBLISHED).then_some(value)
    }

    /// Record that `channel` now shows `quantity` for `sku` (`None`: the
    /// hub no longer knows, e.g. a compare-and-set was refused — the next
    /// recompute reports the pair again).
    pub fn record_published(
        &mut self,
        sku: usize,
        channel: usize,
        quantity: Option<i64>,
    ) -> Result<(), TableError> {
        self.check_sku(sku)?;
        self.check_channel(channel)?;
        let c = self.channel_count();
        self.published[sku * c + channel] = quantity.map_or(UNPUBLISHED, |q| q.max(0));
        Ok(())
    }

    /// Record every change as published (its `new`). Stops at the first
    /// change out of range, having applied those before it.
    pub fn apply(&mut self, changes: &[Change]) -> Result<(), TableError> {
        for change in changes {
            self.record_published(
                change.sku as usize,
                usize::from(change.channel),
                Some(change.new),
            )?;
        }
        Ok(())
    }

    fn scratch(&self) -> Scratch {
        Scratch {
            contributions: vec![0; self.location_count()],
            pools: vec![0; self.policies.pools.len()],
        }
    }

    /// Every (SKU, channel) whose quantity differs from what was last
    /// published, SKU by SKU, channels in policy order.
    pub fn recompute(&self) -> Vec<Change> {
        let mut changes = Vec::new();
        self.recompute_into(&mut changes);
        changes
    }

    /// [`recompute`](Self::recompute) into a caller's buffer (cleared
    /// first), so a scheduler running every few minutes reuses its memory.
    pub fn recompute_into(&self, changes: &mut Vec<Change>) {
        changes.clear();
        let (l, c) = (self.location_count(), self.channel_count());
        if c == 0 || l == 0 {
            // Validation gives every channel at least one location, so no
            // locations means no channels: nothing to publish.
            return;
        }
        let mut scratch = self.scratch();
        let rows = self
            .positions
            .chunks_exact(l)
            .zip(self.published.chunks_exact(c))
            .zip(&self.velocity);
        for (sku, ((positions, published), &velocity)) in rows.enumerate() {
            // `resize` caps the SKU count at u32::MAX.
            self.diff_sku(
                sku as u32,
                positions,
                published,
                velocity,
                &mut scratch,
                changes,
            );
        }
    }

    /// The changes of one SKU, appended to `changes`: the incremental path
    /// after a stock movement, reservation or release.
    pub fn recompute_sku(&self, sku: usize, changes: &mut Vec<Change>) -> Result<(), TableError> {
        self.check_sku(sku)?;
        let (l, c) = (self.location_count(), self.channel_count());
        if c == 0 || l == 0 {
            return Ok(());
        }
        let mut scratch = self.scratch();
        self.diff_sku(
            sku as u32,
            &self.positions[sku * l..(sku + 1) * l],
            &self.published[sku * c..(sku + 1) * c],
            self.velocity[sku],
            &mut scratch,
            changes,
        );
        Ok(())
    }

    /// The hot loop: kept free of allocation (beyond `changes` growing),
    /// strings and bounds-checked lookups that could fail.
    #[inline]
    fn diff_sku(
        &self,
        sku: u32,
        positions: &[Position],
        published: &[i64],
        velocity: f32,
        scratch: &mut Scratch,
        changes: &mut Vec<Change>,
    ) {
        for ((slot, position), safety) in scratch
            .contributions
            .iter_mut()
            .zip(positions)
            .zip(&self.policies.safety_stock)
        {
            *slot = location_contribution(*position, *safety);
        }
        for (total, members) in scratch.pools.iter_mut().zip(&self.policies.pools) {
            *total = members.iter().fold(0i64, |sum, &m| {
                sum.saturating_add(scratch.contributions.get(m).copied().unwrap_or(0))
            });
        }
        for (channel, (rule, &old)) in self.policies.rules.iter().zip(published).enumerate() {
            let pool = scratch.pools.get(rule.pool).copied().unwrap_or(0);
            let new = rule.quantity(pool, velocity);
            if new != old {
                let old = (old != UNPUBLISHED).then_some(old);
                changes.push(Change {
                    sku,
                    // Policies hold at most u16::MAX channels.
                    channel: channel as u16,
                    cadence: rule.classify(old, new, velocity),
                    old,
                    new,
                });
            }
        }
    }

    /// The SKU's positions and quantities with the reason for each, and
    /// what each channel was last told (`inventory show`).
    pub fn explain(&self, sku: usize) -> Result<SkuExplanation, TableError> {
        self.check_sku(sku)?;
        let positions = self.positions(sku).unwrap_or(&[]);
        let mut explanation = explain_sku(&self.policies, positions, self.velocity[sku]).map_err(
            |LayoutError { .. }| TableError::Sku {
                sku,
                skus: self.skus,
            },
        )?;
        for (channel, line) in explanation.channels.iter_mut().enumerate() {
            line.published = self.published(sku, channel);
        }
        Ok(explanation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calc::HotReason;
    use crate::policy::{AvailabilityConfig, ChannelPolicy, LocationPolicy};

    fn policies() -> Policies {
        let channel = |name: &str, percent| ChannelPolicy {
            allocation_percent: percent,
            low_stock_at: 2,
            ..ChannelPolicy::for_networks(name, &["own"])
        };
        Policies::new(AvailabilityConfig {
            locations: vec![
                LocationPolicy {
                    name: "dc".into(),
                    network: "own".into(),
                    safety_stock: 0,
                },
                LocationPolicy {
                    name: "fba".into(),
                    network: "amazon_fba".into(),
                    safety_stock: 0,
                },
            ],
            channels: vec![channel("web", 100), channel("ebay", 50)],
        })
        .unwrap()
    }

    #[test]
    fn first_recompute_publishes_everything_then_only_changes() {
        let mut table = AvailabilityTable::new(policies(), 3).unwrap();
        table.set_position(1, 0, Position::new(10, 0)).unwrap();
        let first = table.recompute();
        assert_eq!(first.len(), 6, "never published: every pair is a change");
        assert!(first.iter().all(|c| c.old.is_none()));
        table.apply(&first).unwrap();
        assert!(table.recompute().is_empty());

        table.set_position(1, 0, Position::new(10, 9)).unwrap();
        table.set_position(2, 1, Position::new(50, 0)).unwrap(); // not eligible
        let changes = table.recompute();
        assert_eq!(
            changes,
            vec![
                Change {
                    sku: 1,
                    channel: 0,
                    cadence: Cadence::Urgent(HotReason::LowStock),
                    old: Some(10),
                    new: 1
                },
                Change {
                    sku: 1,
                    channel: 1,
                    cadence: Cadence::Urgent(HotReason::SoldOut),
                    old: Some(5),
                    new: 0
                },
            ]
        );
        let mut one = Vec::new();
        table.recompute_sku(1, &mut one).unwrap();
        assert_eq!(one, changes);
        assert_eq!(
            table.published(1, 0),
            Some(10),
            "recompute does not publish"
        );
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let mut table = AvailabilityTable::new(policies(), 1).unwrap();
        assert!(table.set_position(1, 0, Position::default()).is_err());
        assert!(table.set_position(0, 2, Position::default()).is_err());
        assert!(table.record_published(0, 2, Some(1)).is_err());
        assert!(table.recompute_sku(5, &mut Vec::new()).is_err());
        assert!(table.explain(1).is_err());
        assert_eq!(table.positions(1), None);
        assert_eq!(table.published(0, 9), None);
    }

    #[test]
    fn explain_shows_the_published_quantity() {
        let mut table = AvailabilityTable::new(policies(), 1).unwrap();
        table.set_position(0, 0, Position::new(7, 1)).unwrap();
        table.record_published(0, 1, Some(4)).unwrap();
        let explained = table.explain(0).unwrap();
        assert_eq!(explained.channels[0].quantity, 6);
        assert_eq!(explained.channels[0].published, None);
        assert_eq!(explained.channels[1].quantity, 3);
        assert_eq!(explained.channels[1].published, Some(4));
    }
}
