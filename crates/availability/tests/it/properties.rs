//! Properties of the ATP calculation over random policies and positions:
//! never offer a channel more than the free stock at its eligible
//! locations, percentages/buffers/min/max as specified, and the columnar
//! diff agrees with the per-SKU reference.

use std::collections::HashMap;

use crossdock_availability::{
    AvailabilityConfig, AvailabilityTable, Cadence, Change, ChannelPolicy, HotReason,
    LocationPolicy, Policies, Position, explain_sku,
};
use proptest::prelude::*;

const NETWORKS: [&str; 3] = ["own", "3pl", "amazon_fba"];

#[derive(Debug, Clone)]
struct RawChannel {
    by_network: bool,
    eligible_mask: u8,
    percent: u8,
    buffer: i64,
    min_quantity: i64,
    max_extra: Option<i64>,
    low_stock_at: i64,
    hot_velocity: Option<f64>,
}

fn raw_channel() -> impl Strategy<Value = RawChannel> {
    (
        any::<bool>(),
        any::<u8>(),
        0u8..=100,
        0i64..6,
        0i64..8,
        proptest::option::of(0i64..60),
        0i64..6,
        proptest::option::of(0.0f64..20.0),
    )
        .prop_map(
            |(by_network, eligible_mask, percent, buffer, min_quantity, max_extra, low, hot)| {
                RawChannel {
                    by_network,
                    eligible_mask,
                    percent,
                    buffer,
                    min_quantity,
                    max_extra,
                    low_stock_at: low,
                    hot_velocity: hot,
                }
            },
        )
}

/// Valid policies: 1–5 locations over three networks, 1–5 channels.
fn policies() -> impl Strategy<Value = Policies> {
    (
        prop::collection::vec((0usize..3, 0i64..5), 1..=5),
        prop::collection::vec(raw_channel(), 1..=5),
    )
        .prop_map(|(locations, channels)| {
            let locations: Vec<LocationPolicy> = locations
                .into_iter()
                .enumerate()
                .map(|(i, (network, safety_stock))| LocationPolicy {
                    name: format!("loc-{i}"),
                    network: NETWORKS[network].into(),
                    safety_stock,
                })
                .collect();
            let channels = channels
                .into_iter()
                .enumerate()
                .map(|(i, raw)| {
                    let mut chosen: Vec<&LocationPolicy> = locations
                        .iter()
                        .enumerate()
                        .filter(|(l, _)| raw.eligible_mask & (1 << l) != 0)
                        .map(|(_, l)| l)
                        .collect();
                    if chosen.is_empty() {
                        chosen.push(&locations[0]);
                    }
                    let (networks, names) = if raw.by_network {
                        let mut networks: Vec<String> =
                            chosen.iter().map(|l| l.network.clone()).collect();
                        networks.dedup();
                        (Some(networks), None)
                    } else {
                        (None, Some(chosen.iter().map(|l| l.name.clone()).collect()))
                    };
                    ChannelPolicy {
                        channel: format!("channel-{i}"),
                        eligible_networks: networks,
                        eligible_locations: names,
                        allocation_percent: raw.percent,
                        buffer: raw.buffer,
                        min_quantity: raw.min_quantity,
                        max_quantity: raw.max_extra.map(|extra| raw.min_quantity + extra),
                        low_stock_at: raw.low_stock_at,
                        hot_velocity_per_hour: raw.hot_velocity,
                        cover_minutes: 0,
                    }
                })
                .collect();
            Policies::new(AvailabilityConfig {
                locations,
                channels,
            })
            .expect("generated policies are valid")
        })
}

fn position() -> impl Strategy<Value = Position> {
    // Includes negative on-hand and oversold locations.
    (-5i64..80, 0i64..40).prop_map(|(on_hand, reserved)| Position::new(on_hand, reserved))
}

fn policies_and_positions() -> impl Strategy<Value = (Policies, Vec<Position>)> {
    policies().prop_flat_map(|p| {
        let n = p.locations().len();
        (Just(p), prop::collection::vec(position(), n))
    })
}

/// Free stock above safety stock at the locations `channel` may sell from.
fn eligible_free_stock(policies: &Policies, channel: usize, positions: &[Position]) -> i64 {
    policies
        .eligible_locations(channel)
        .iter()
        .map(|&l| {
            let free = positions[l].on_hand - positions[l].reserved;
            (free - policies.locations()[l].safety_stock).max(0)
        })
        .sum()
}

/// The specification, written out independently of the crate (in i128).
fn oracle(policies: &Policies, channel: usize, positions: &[Position]) -> i64 {
    let policy = &policies.channels()[channel];
    let pool: i128 = policies
        .eligible_locations(channel)
        .iter()
        .map(|&l| {
            let free = i128::from(positions[l].on_hand - positions[l].reserved);
            let safety = i128::from(policies.locations()[l].safety_stock);
            if free < 0 {
                free
            } else {
                (free - safety).max(0)
            }
        })
        .sum::<i128>()
        .max(0);
    let allocated = pool * i128::from(policy.allocation_percent) / 100;
    let after_buffer = (allocated - i128::from(policy.buffer)).max(0);
    let quantity = if after_buffer < i128::from(policy.min_quantity) {
        0
    } else {
        policy
            .max_quantity
            .map_or(after_buffer, |max| after_buffer.min(i128::from(max)))
    };
    i64::try_from(quantity).expect("small numbers")
}

fn quantities(policies: &Policies, positions: &[Position]) -> Vec<i64> {
    explain_sku(policies, positions, 0.0)
        .expect("layout matches")
        .channels
        .iter()
        .map(|c| c.quantity)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_offers_more_than_free_stock_at_eligible_locations(
        (policies, positions) in policies_and_positions()
    ) {
        for (channel, quantity) in quantities(&policies, &positions).into_iter().enumerate() {
            prop_assert!(quantity >= 0);
            prop_assert!(quantity <= eligible_free_stock(&policies, channel, &positions));
        }
    }

    #[test]
    fn matches_the_specified_calculation((policies, positions) in policies_and_positions()) {
        let explained = explain_sku(&policies, &positions, 0.0).unwrap();
        for (channel, line) in explained.channels.iter().enumerate() {
            prop_assert_eq!(line.quantity, oracle(&policies, channel, &positions));
            let policy = &policies.channels()[channel];
            // min/max/buffer as stated: 0, or within [min, max] and no more
            // than the allocation less the buffer.
            prop_assert!(line.quantity <= line.reason.after_buffer);
            prop_assert!(line.reason.after_buffer <= (line.reason.allocated - policy.buffer).max(0));
            if line.quantity > 0 {
                prop_assert!(line.quantity >= policy.min_quantity);
            }
            if let Some(max) = policy.max_quantity {
                prop_assert!(line.quantity <= max);
            }
        }
    }

    #[test]
    fn percentages_up_to_100_never_exceed_the_pool(
        percents in prop::collection::vec(0u8..=100, 1..6),
        stock in prop::collection::vec((0i64..500, 0i64..100), 2),
    ) {
        // Scale the percentages so they add up to at most 100.
        let total: u32 = percents.iter().map(|&p| u32::from(p)).sum();
        let percents: Vec<u8> = percents
            .iter()
            .map(|&p| if total > 100 { (u32::from(p) * 100 / total) as u8 } else { p })
            .collect();
        let policies = Policies::new(AvailabilityConfig {
            locations: vec![
                LocationPolicy { name: "a".into(), network: "own".into(), safety_stock: 1 },
                LocationPolicy { name: "b".into(), network: "own".into(), safety_stock: 0 },
            ],
            channels: percents
                .iter()
                .enumerate()
                .map(|(i, &p)| ChannelPolicy {
                    channel: format!("c{i}"),
                    eligible_networks: Some(vec!["own".into()]),
                    eligible_locations: None,
                    allocation_percent: p,
                    buffer: 0,
                    min_quantity: 0,
                    max_quantity: None,
                    low_stock_at: 0,
                    hot_velocity_per_hour: None,
                    cover_minutes: 0,
                })
                .collect(),
        })
        .unwrap();
        let positions: Vec<Position> =
            stock.iter().map(|&(on_hand, reserved)| Position::new(on_hand, reserved)).collect();
        let offered: i64 = quantities(&policies, &positions).iter().sum();
        prop_assert!(offered <= eligible_free_stock(&policies, 0, &positions));
    }

    #[test]
    fn more_stock_at_a_location_never_offers_less(
        (policies, positions) in policies_and_positions(),
        location in any::<prop::sample::Index>(),
        more in 1i64..50,
    ) {
        let before = quantities(&policies, &positions);
        let mut after_positions = positions.clone();
        let l = location.index(positions.len());
        after_positions[l].on_hand += more;
        let after = quantities(&policies, &after_positions);
        for channel in 0..before.len() {
            prop_assert!(after[channel] >= before[channel]);
            if !policies.is_eligible(channel, l) {
                prop_assert_eq!(after[channel], before[channel], "ineligible stock counted");
            }
        }
    }

    #[test]
    fn ineligible_locations_change_nothing(
        (policies, positions) in policies_and_positions(),
        replacement in prop::collection::vec(position(), 5),
    ) {
        let before = quantities(&policies, &positions);
        for (channel, &quantity) in before.iter().enumerate() {
            let mut changed = positions.clone();
            for (l, slot) in changed.iter_mut().enumerate() {
                if !policies.is_eligible(channel, l) {
                    *slot = replacement[l];
                }
            }
            prop_assert_eq!(quantities(&policies, &changed)[channel], quantity);
        }
    }

    #[test]
    fn diff_reports_exactly_the_changed_pairs_and_applying_it_converges(
        (policies, first, second, accepted, velocity) in policies().prop_flat_map(|p| {
            let n = p.locations().len();
            let skus = 1..12usize;
            skus.prop_flat_map(move |skus| {
                (
                    Just(p.clone()),
                    prop::collection::vec(position(), skus * n),
                    prop::collection::vec(position(), skus * n),
                    prop::collection::vec(any::<bool>(), skus * 8),
                    prop::collection::vec(0.0f32..25.0, skus),
                )
            })
        })
    ) {
        let l = policies.locations().len();
        let c = policies.channels().len();
        let skus = first.len() / l;
        let mut table = AvailabilityTable::new(policies.clone(), skus).unwrap();
        let load = |table: &mut AvailabilityTable, positions: &[Position]| {
            for (sku, row) in positions.chunks_exact(l).enumerate() {
                table.positions_mut(sku).unwrap().copy_from_slice(row);
            }
        };
        for (sku, v) in velocity.iter().enumerate() {
            table.set_velocity(sku, *v).unwrap();
        }

        // A first round, of which the channels accepted only some pushes.
        load(&mut table, &first);
        let pushed: Vec<Change> = table
            .recompute()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| accepted[i % accepted.len()])
            .map(|(_, change)| change)
            .collect();
        table.apply(&pushed).unwrap();
        let published: HashMap<(usize, usize), i64> = (0..skus)
            .flat_map(|s| (0..c).map(move |ch| (s, ch)))
            .filter_map(|(s, ch)| table.published(s, ch).map(|q| ((s, ch), q)))
            .collect();

        // Stock moves; the diff is exactly the pairs now different.
        load(&mut table, &second);
        let changes = table.recompute();
        let mut reported = HashMap::new();
        for change in &changes {
            let key = (change.sku as usize, usize::from(change.channel));
            prop_assert!(reported.insert(key, *change).is_none(), "pair reported twice");
        }
        for sku in 0..skus {
            let want = quantities(&policies, &second[sku * l..(sku + 1) * l]);
            let mut one = Vec::new();
            table.recompute_sku(sku, &mut one).unwrap();
            let from_full: Vec<Change> =
                changes.iter().filter(|ch| ch.sku as usize == sku).copied().collect();
            prop_assert_eq!(one, from_full, "recompute_sku differs from the full recompute");
            for (channel, &quantity) in want.iter().enumerate() {
                let old = published.get(&(sku, channel)).copied();
                match reported.get(&(sku, channel)) {
                    Some(change) => {
                        prop_assert_eq!(change.old, old);
                        prop_assert_eq!(change.new, quantity);
                        prop_assert_ne!(Some(quantity), old);
                        let expected = policies
                            .classify(channel, old, quantity, velocity[sku])
                            .unwrap();
                        prop_assert_eq!(change.cadence, expected);
                        if quantity == 0 {
                            prop_assert_eq!(change.cadence, Cadence::Urgent(HotReason::SoldOut));
                        }
                        if old == Some(0) {
                            prop_assert_eq!(
                                change.cadence,
                                Cadence::Urgent(HotReason::BackInStock)
                            );
                        }
                        let low = policies.channels()[channel].low_stock_at;
                        if quantity <= low {
                            prop_assert!(matches!(change.cadence, Cadence::Urgent(_)));
                        }
                    }
                    None => prop_assert_eq!(old, Some(quantity), "unreported change"),
                }
            }
        }

        // Applying the diff yields the recomputed table.
        table.apply(&changes).unwrap();
        prop_assert!(table.recompute().is_empty());
        for sku in 0..skus {
            let want = quantities(&policies, &second[sku * l..(sku + 1) * l]);
            for (channel, &quantity) in want.iter().enumerate() {
                prop_assert_eq!(table.published(sku, channel), Some(quantity));
            }
        }
    }
}
