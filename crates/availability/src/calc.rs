//! The calculation for one SKU: the arithmetic shared by the columnar
//! recompute, and the explained form `inventory show` prints.

use std::fmt;

use serde::Serialize;

use crate::policy::{ChannelRule, Policies};

/// One SKU's stock at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Position {
    /// Units the location reports on hand (may be negative if the source
    /// allows negative stock).
    pub on_hand: i64,
    /// Units held by open reservations at this location.
    pub reserved: i64,
}

impl Position {
    pub fn new(on_hand: i64, reserved: i64) -> Self {
        Position { on_hand, reserved }
    }
}

/// What a location adds to the pool of every channel it is eligible for.
///
/// Free stock (`on_hand − reserved`) above safety stock counts; safety stock
/// only ever brings a location down to zero. An oversold location
/// (`reserved > on_hand`) counts *negative*: the orders reserved there will
/// have to be served from the other locations, so their stock is not free.
pub fn location_contribution(position: Position, safety_stock: i64) -> i64 {
    let free = position.on_hand.saturating_sub(position.reserved);
    if free <= 0 {
        free
    } else {
        free.saturating_sub(safety_stock).max(0)
    }
}

/// `floor(pool × percent / 100)` without overflow for any `pool ≥ 0`.
fn percent_of(pool: i64, percent: i64) -> i64 {
    (pool / 100) * percent + (pool % 100) * percent / 100
}

impl ChannelRule {
    /// Units held back for a SKU selling `velocity` units an hour.
    #[inline]
    pub(crate) fn cover(&self, velocity: f32) -> i64 {
        if self.cover_hours > 0.0 && velocity > 0.0 {
            (velocity * self.cover_hours).ceil() as i64
        } else {
            0
        }
    }

    /// The quantity to publish from a pool (the sum of eligible
    /// contributions, which may be negative) for a SKU selling `velocity`.
    #[inline]
    pub(crate) fn quantity(&self, pool: i64, velocity: f32) -> i64 {
        let pool = pool.max(0);
        let after_buffer = percent_of(pool, self.percent)
            .saturating_sub(self.buffer)
            .saturating_sub(self.cover(velocity))
            .max(0);
        if after_buffer < self.min_quantity {
            0
        } else {
            after_buffer.min(self.max_quantity)
        }
    }

    #[inline]
    pub(crate) fn classify(&self, old: Option<i64>, new: i64, velocity: f32) -> Cadence {
        let reason = match old {
            Some(old) if old > 0 && new == 0 => Some(HotReason::SoldOut),
            None if new == 0 => Some(HotReason::SoldOut),
            Some(0) if new > 0 => Some(HotReason::BackInStock),
            _ if new <= self.low_stock_at => Some(HotReason::LowStock),
            _ if velocity > self.hot_velocity => Some(HotReason::Velocity),
            _ => None,
        };
        reason.map_or(Cadence::Batch, Cadence::Urgent)
    }
}

/// How soon a change must reach the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// Push within seconds, on the channel's per-item API.
    Urgent(HotReason),
    /// The long tail: the next scheduled batch, in the channel's bulk format.
    Batch,
}

/// Why a change is urgent (the first that applies, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HotReason {
    /// The channel goes to 0 (or is first told 0): every minute it shows
    /// stock it may sell units the hub cannot ship.
    SoldOut,
    /// The channel goes from 0 to some stock: sales are being lost.
    BackInStock,
    /// The new quantity is at or below the channel's `low_stock_at`.
    LowStock,
    /// The SKU sells faster than the channel's `hot_velocity_per_hour`.
    Velocity,
}

impl Policies {
    /// How soon a change of `channel` from `old` (`None`: never published)
    /// to `new` must be pushed, for a SKU selling `velocity_per_hour`.
    /// `None` for an unknown channel index.
    pub fn classify(
        &self,
        channel: usize,
        old: Option<i64>,
        new: i64,
        velocity_per_hour: f32,
    ) -> Option<Cadence> {
        self.rules
            .get(channel)
            .map(|rule| rule.classify(old, new, velocity_per_hour))
    }

    /// Arrange positions reported by location name into policy order, the
    /// layout [`explain_sku`] and the table take. Locations absent from the
    /// report hold nothing; positions at locations the policy does not know
    /// are returned by name (they count for no channel). Two reports for
    /// the same location are added up.
    pub fn arrange<S: AsRef<str>>(
        &self,
        reported: impl IntoIterator<Item = (S, Position)>,
    ) -> ArrangedPositions {
        let mut positions = vec![Position::default(); self.locations().len()];
        let mut unknown_locations = Vec::new();
        for (name, position) in reported {
            match self.location_index(name.as_ref()) {
                Some(i) => {
                    let slot = &mut positions[i];
                    slot.on_hand = slot.on_hand.saturating_add(position.on_hand);
                    slot.reserved = slot.reserved.saturating_add(position.reserved);
                }
                None => unknown_locations.push(name.as_ref().to_owned()),
            }
        }
        ArrangedPositions {
            positions,
            unknown_locations,
        }
    }
}

/// Positions in policy order, from [`Policies::arrange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrangedPositions {
    pub positions: Vec<Position>,
    /// Reported locations the policy does not list (counted for no channel).
    pub unknown_locations: Vec<String>,
}

/// The layout of positions did not match the policy's locations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{got} positions given for {expected} locations (one per location, in policy order)")]
pub struct LayoutError {
    pub expected: usize,
    pub got: usize,
}

/// Everything that went into one SKU's published quantities.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SkuExplanation {
    pub locations: Vec<LocationLine>,
    pub channels: Vec<ChannelExplanation>,
}

/// One location's stock and what it contributes to the channels it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LocationLine {
    pub location: String,
    pub network: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    /// See [`location_contribution`].
    pub contribution: i64,
}

/// One channel's quantity and why.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ChannelExplanation {
    pub channel: String,
    /// The quantity the policies give now.
    pub quantity: i64,
    /// What the channel was last told, when known (filled in by
    /// [`crate::AvailabilityTable::explain`]; `explain_sku` cannot know).
    pub published: Option<i64>,
    pub reason: Reason,
}

/// The steps from locations to a channel's quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Reason {
    /// Eligible locations and what each added (negative when oversold).
    pub counted: Vec<Counted>,
    /// Locations whose stock does not count for this channel.
    pub excluded: Vec<Excluded>,
    /// Sum of the counted contributions, floored at 0.
    pub pool: i64,
    pub allocation_percent: u8,
    /// `floor(pool × allocation_percent / 100)`.
    pub allocated: i64,
    pub buffer: i64,
    /// Units held back for the SKU's velocity (`cover_minutes`).
    pub cover: i64,
    /// `allocated − buffer − cover`, floored at 0.
    pub after_buffer: i64,
    /// The min/max policy that changed the quantity, if one did.
    pub limit: Option<Limit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Counted {
    pub location: String,
    pub contribution: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Excluded {
    pub location: String,
    pub network: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum Limit {
    /// `after_buffer` was below `min_quantity`: published 0.
    BelowMinimum { min_quantity: i64 },
    /// `after_buffer` was above `max_quantity`: published the maximum.
    CappedAtMaximum { max_quantity: i64 },
}

impl fmt::Display for Reason {
    /// `dc-east 8 + store-12 3 = pool 11 (excluded: fba-1 [amazon_fba]);
    /// 50% → 5; buffer 1 → 4; below minimum 5 → 0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, counted) in self.counted.iter().enumerate() {
            match (i, counted.contribution < 0) {
                (0, _) => write!(f, "{} {}", counted.location, counted.contribution)?,
                (_, false) => write!(f, " + {} {}", counted.location, counted.contribution)?,
                (_, true) => write!(f, " − {} {}", counted.location, -counted.contribution)?,
            }
        }
        write!(f, " = pool {}", self.pool)?;
        if !self.excluded.is_empty() {
            f.write_str(" (excluded:")?;
            for excluded in &self.excluded {
                write!(f, " {} [{}]", excluded.location, excluded.network)?;
            }
            f.write_str(")")?;
        }
        if self.allocation_percent != 100 {
            write!(f, "; {}% → {}", self.allocation_percent, self.allocated)?;
        }
        match (self.buffer, self.cover) {
            (0, 0) => {}
            (buffer, 0) => write!(f, "; buffer {buffer} → {}", self.after_buffer)?,
            (0, cover) => write!(f, "; cover {cover} → {}", self.after_buffer)?,
            (buffer, cover) => write!(
                f,
                "; buffer {buffer} + cover {cover} → {}",
                self.after_buffer
            )?,
        }
        match self.limit {
            Some(Limit::BelowMinimum { min_quantity }) => {
                write!(f, "; below minimum {min_quantity} → 0")
            }
            Some(Limit::CappedAtMaximum { max_quantity }) => {
                write!(f, "; capped at maximum {max_quantity}")
            }
            None => Ok(()),
        }
    }
}

/// One SKU's quantity per channel, with the reason for each. `positions`
/// holds one entry per policy location, in policy order (see
/// [`Policies::arrange`]). This is the reference form of the calculation;
/// [`crate::AvailabilityTable`] computes the same numbers without the
/// reasons.
pub fn explain_sku(
    policies: &Policies,
    positions: &[Position],
    velocity_per_hour: f32,
) -> Result<SkuExplanation, LayoutError> {
    let locations = policies.locations();
    if positions.len() != locations.len() {
        return Err(LayoutError {
            expected: locations.len(),
            got: positions.len(),
        });
    }
    let lines: Vec<LocationLine> = locations
        .iter()
        .zip(positions)
        .map(|(policy, position)| LocationLine {
            location: policy.name.clone(),
            network: policy.network.clone(),
            on_hand: position.on_hand,
            reserved: position.reserved,
            safety_stock: policy.safety_stock,
            contribution: location_contribution(*position, policy.safety_stock),
        })
        .collect();

    let channels = policies
        .channels()
        .iter()
        .zip(&policies.rules)
        .enumerate()
        .map(|(index, (channel, rule))| {
            let mut counted = Vec::new();
            let mut excluded = Vec::new();
            let mut sum = 0i64;
            for (location, line) in lines.iter().enumerate() {
                if policies.is_eligible(index, location) {
                    sum = sum.saturating_add(line.contribution);
                    counted.push(Counted {
                        location: line.location.clone(),
                        contribution: line.contribution,
                    });
                } else {
                    excluded.push(Excluded {
                        location: line.location.clone(),
                        network: line.network.clone(),
                    });
                }
            }
            let pool = sum.max(0);
            let allocated = percent_of(pool, rule.percent);
            let cover = rule.cover(velocity_per_hour);
            let after_buffer = allocated
                .saturating_sub(rule.buffer)
                .saturating_sub(cover)
                .max(0);
            let (quantity, limit) = if after_buffer < rule.min_quantity {
                let limit = (after_buffer > 0).then_some(Limit::BelowMinimum {
                    min_quantity: rule.min_quantity,
                });
                (0, limit)
            } else if after_buffer > rule.max_quantity {
                (
                    rule.max_quantity,
                    Some(Limit::CappedAtMaximum {
                        max_quantity: rule.max_quantity,
                    }),
                )
            } else {
                (after_buffer, None)
            };
            ChannelExplanation {
                channel: channel.channel.clone(),
                quantity,
                published: None,
                reason: Reason {
                    counted,
                    excluded,
                    pool,
                    allocation_percent: channel.allocation_percent,
                    allocated,
                    buffer: rule.buffer,
                    cover,
                    after_buffer,
                    limit,
                },
            }
        })
        .collect();

    Ok(SkuExplanation {
        locations: lines,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AvailabilityConfig, ChannelPolicy, LocationPolicy};

    fn location(name: &str, network: &str, safety_stock: i64) -> LocationPolicy {
        LocationPolicy {
            name: name.into(),
            network: network.into(),
            safety_stock,
        }
    }

    fn channel(name: &str, networks: &[&str]) -> ChannelPolicy {
        ChannelPolicy::for_networks(name, networks)
    }

    fn policies(channels: Vec<ChannelPolicy>) -> Policies {
        Policies::new(AvailabilityConfig {
            locations: vec![
                location("dc-east", "own", 2),
                location("store-12", "3pl", 0),
                location("fba-1", "amazon_fba", 0),
            ],
            channels,
        })
        .unwrap()
    }

    fn quantities(policies: &Policies, positions: &[Position]) -> Vec<i64> {
        explain_sku(policies, positions, 0.0)
            .unwrap()
            .channels
            .iter()
            .map(|c| c.quantity)
            .collect()
    }

    #[test]
    fn contribution_subtracts_reservations_and_safety_stock() {
        assert_eq!(location_contribution(Position::new(10, 3), 2), 5);
        assert_eq!(
            location_contribution(Position::new(4, 3), 2),
            0,
            "safety stock floors at 0"
        );
        assert_eq!(
            location_contribution(Position::new(3, 5), 2),
            -2,
            "oversold counts negative"
        );
        assert_eq!(
            location_contribution(Position::new(i64::MAX, -5), 0),
            i64::MAX
        );
    }

    #[test]
    fn ineligible_networks_are_excluded() {
        let policies = policies(vec![
            channel("webstore", &["own", "3pl"]),
            channel("amazon", &["own", "3pl", "amazon_fba"]),
        ]);
        let positions = [
            Position::new(10, 0),
            Position::new(5, 1),
            Position::new(100, 0),
        ];
        assert_eq!(quantities(&policies, &positions), vec![8 + 4, 8 + 4 + 100]);
        let explained = explain_sku(&policies, &positions, 0.0).unwrap();
        assert_eq!(
            explained.channels[0].reason.excluded,
            vec![Excluded {
                location: "fba-1".into(),
                network: "amazon_fba".into()
            }]
        );
    }

    #[test]
    fn an_oversold_location_takes_from_the_others() {
        let policies = policies(vec![channel("webstore", &["own", "3pl"])]);
        let positions = [
            Position::new(10, 0),
            Position::new(2, 5),
            Position::default(),
        ];
        assert_eq!(quantities(&policies, &positions), vec![8 - 3]);
        let positions = [
            Position::new(1, 0),
            Position::new(0, 5),
            Position::default(),
        ];
        assert_eq!(
            quantities(&policies, &positions),
            vec![0],
            "pool floors at 0"
        );
    }

    #[test]
    fn percentage_buffer_minimum_and_maximum() {
        let mut c = channel("ebay", &["own"]);
        c.allocation_percent = 30;
        c.buffer = 1;
        c.min_quantity = 3;
        c.max_quantity = Some(20);
        let policies = policies(vec![c]);
        let at = |on_hand| {
            quantities(
                &policies,
                &[
                    Position::new(on_hand, 0),
                    Position::default(),
                    Position::default(),
                ],
            )[0]
        };
        // pool = on_hand − 2 (safety stock)
        assert_eq!(at(12), 0, "30% of 10 = 3, −1 = 2 < min 3 → 0");
        assert_eq!(at(15), 0, "30% of 13 = 3, −1 = 2 < min 3 → 0");
        assert_eq!(at(16), 3, "30% of 14 = 4, −1 = 3");
        assert_eq!(at(102), 20, "30% of 100 = 30, −1 = 29, capped at 20");
        assert_eq!(at(0), 0);
    }

    #[test]
    fn cover_holds_back_what_sells_while_the_listing_is_stale() {
        let mut c = channel("amazon", &["own"]);
        c.buffer = 1;
        c.cover_minutes = 15;
        let policies = policies(vec![c]);
        let positions = [
            Position::new(42, 0),
            Position::default(),
            Position::default(),
        ];
        // pool = 42 − 2 (safety stock) = 40.
        let at = |velocity| explain_sku(&policies, &positions, velocity).unwrap();
        assert_eq!(at(0.0).channels[0].quantity, 39, "no sales: buffer only");
        let hot = at(10.0);
        // 10 units an hour × 15 min = 2.5, rounded up to 3.
        assert_eq!(hot.channels[0].reason.cover, 3);
        assert_eq!(hot.channels[0].quantity, 36);
        assert_eq!(
            hot.channels[0].reason.to_string(),
            "dc-east 40 = pool 40 (excluded: store-12 [3pl] fba-1 [amazon_fba]); buffer 1 + cover 3 → 36"
        );
        assert_eq!(
            at(1_000.0).channels[0].quantity,
            0,
            "cover above the pool: 0"
        );
    }

    #[test]
    fn reason_reads_as_the_calculation() {
        let mut c = channel("walmart", &["own", "3pl"]);
        c.allocation_percent = 50;
        c.buffer = 1;
        c.min_quantity = 5;
        let policies = policies(vec![c]);
        let positions = [
            Position::new(10, 0),
            Position::new(5, 2),
            Position::new(7, 0),
        ];
        let explained = explain_sku(&policies, &positions, 0.0).unwrap();
        let walmart = &explained.channels[0];
        assert_eq!(walmart.quantity, 0);
        assert_eq!(
            walmart.reason.to_string(),
            "dc-east 8 + store-12 3 = pool 11 (excluded: fba-1 [amazon_fba]); 50% → 5; buffer 1 → 4; below minimum 5 → 0"
        );
        assert_eq!(explained.locations[0].contribution, 8);
    }

    #[test]
    fn layout_mismatch_is_an_error_not_a_panic() {
        let policies = policies(vec![channel("webstore", &["own"])]);
        assert_eq!(
            explain_sku(&policies, &[Position::default()], 0.0).unwrap_err(),
            LayoutError {
                expected: 3,
                got: 1
            }
        );
    }

    #[test]
    fn arrange_places_positions_by_name() {
        let policies = policies(vec![channel("webstore", &["own"])]);
        let arranged = policies.arrange([
            ("fba-1", Position::new(4, 0)),
            ("dc-east", Position::new(9, 1)),
            ("dc-west", Position::new(3, 0)),
        ]);
        assert_eq!(
            arranged.positions,
            vec![
                Position::new(9, 1),
                Position::default(),
                Position::new(4, 0)
            ]
        );
        assert_eq!(arranged.unknown_locations, vec!["dc-west".to_string()]);
    }

    #[test]
    fn cadence_classification() {
        let mut c = channel("webstore", &["own"]);
        c.low_stock_at = 5;
        c.hot_velocity_per_hour = Some(10.0);
        let policies = policies(vec![c]);
        let classify = |old, new, velocity| policies.classify(0, old, new, velocity).unwrap();
        assert_eq!(
            classify(Some(7), 0, 0.0),
            Cadence::Urgent(HotReason::SoldOut)
        );
        assert_eq!(classify(None, 0, 0.0), Cadence::Urgent(HotReason::SoldOut));
        assert_eq!(
            classify(Some(0), 40, 0.0),
            Cadence::Urgent(HotReason::BackInStock)
        );
        assert_eq!(
            classify(Some(9), 5, 0.0),
            Cadence::Urgent(HotReason::LowStock)
        );
        assert_eq!(classify(None, 3, 0.0), Cadence::Urgent(HotReason::LowStock));
        assert_eq!(
            classify(Some(30), 20, 10.5),
            Cadence::Urgent(HotReason::Velocity)
        );
        assert_eq!(classify(Some(30), 20, 10.0), Cadence::Batch);
        assert_eq!(classify(None, 20, 0.0), Cadence::Batch);
        assert_eq!(policies.classify(1, None, 0, 0.0), None);
    }
}
