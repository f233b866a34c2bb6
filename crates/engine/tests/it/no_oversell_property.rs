//! Property: over any interleaving of orders from four channels,
//! cancellations, shipments, stock changes and availability pushes, the hub
//! never holds more units than are free (no oversell), never refuses an
//! order it could serve, and never shows a channel more than is free at the
//! locations that channel may sell from.
//!
//! Each case runs the real store (a fresh SQLite file) against a model of
//! on-hand and reserved units per (SKU, location), and the availability
//! outbox cycle (recompute → owe → push → settle) as the engine runs it.

use std::collections::BTreeMap;

use crossdock_availability::{
    AvailabilityConfig, ChannelPolicy, LocationPolicy, Policies, Position, explain_sku,
};
use crossdock_store::{
    AvailabilitySettlement, Changes, NewJob, OwedAvailability, PositionRow, ReservationChange,
    ReserveLine, Store,
};
use proptest::prelude::*;

const SKUS: [&str; 3] = ["A", "B", "C"];
const LOCATIONS: [&str; 2] = ["own-1", "3pl-1"];
const CHANNELS: [&str; 4] = ["amazon", "walmart", "shopify", "regional"];
const T0: i64 = 1_800_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Order {
        channel: usize,
        sku: usize,
        quantity: i64,
    },
    Cancel(usize),
    Ship(usize),
    Stock {
        sku: usize,
        location: usize,
        on_hand: i64,
    },
    Push,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..CHANNELS.len(), 0..SKUS.len(), 1i64..4)
            .prop_map(|(channel, sku, quantity)| Op::Order { channel, sku, quantity }),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Ship),
        2 => (0..SKUS.len(), 0..LOCATIONS.len(), 0i64..8)
            .prop_map(|(sku, location, on_hand)| Op::Stock { sku, location, on_hand }),
        2 => Just(Op::Push),
    ]
}

fn policies() -> Policies {
    let channel = |name: &str, networks: &[&str], percent: u8, min: i64| ChannelPolicy {
        allocation_percent: percent,
        min_quantity: min,
        low_stock_at: 2,
        ..ChannelPolicy::for_networks(name, networks)
    };
    Policies::new(AvailabilityConfig {
        locations: vec![
            LocationPolicy {
                name: LOCATIONS[0].into(),
                network: "own".into(),
                safety_stock: 0,
            },
            LocationPolicy {
                name: LOCATIONS[1].into(),
                network: "3pl".into(),
                safety_stock: 1,
            },
        ],
        channels: vec![
            channel(CHANNELS[0], &["own"], 100, 0),
            channel(CHANNELS[1], &["own", "3pl"], 50, 0),
            channel(CHANNELS[2], &["own", "3pl"], 50, 2),
            channel(CHANNELS[3], &["3pl"], 100, 0),
        ],
    })
    .expect("valid policies")
}

/// On hand and reserved per (SKU, location), as the hub should hold them.
#[derive(Default)]
struct Model {
    on_hand: BTreeMap<(usize, usize), i64>,
    reserved: BTreeMap<(usize, usize), i64>,
    /// Accepted orders: (order id, sku, location, quantity, still held).
    orders: Vec<(String, usize, usize, i64, bool)>,
}

impl Model {
    fn free(&self, sku: usize, location: usize) -> i64 {
        self.on_hand.get(&(sku, location)).copied().unwrap_or(0)
            - self.reserved.get(&(sku, location)).copied().unwrap_or(0)
    }
}

async fn finish_job(store: &Store, entity: &str, step: &str, changes: Changes, now: i64) {
    store
        .enqueue(
            &[NewJob {
                entity_key: entity.to_owned(),
                step: step.to_owned(),
                payload: serde_json::json!({}),
                run_at: now,
            }],
            now,
        )
        .await
        .expect("enqueue");
    let jobs = store.claim_jobs("w", now, 60_000, 10).await.expect("claim");
    assert_eq!(jobs.len(), 1);
    store
        .complete_job(&jobs[0], &changes, now)
        .await
        .expect("complete");
}

/// The engine's push cycle: recompute every SKU, owe the differences, let
/// every channel accept, and return what each channel now shows.
async fn push(store: &Store, policies: &Policies, now: i64) -> BTreeMap<(String, String), i64> {
    let mut owed = Vec::new();
    for sku in SKUS {
        let rows = store.positions(Some(sku)).await.expect("positions");
        let arranged = policies.arrange(
            rows.iter()
                .map(|p| (p.location.as_str(), Position::new(p.on_hand, p.reserved))),
        );
        let explained = explain_sku(policies, &arranged.positions, 0.0).expect("layout");
        let known = store
            .availability(None, Some(&[sku.to_owned()]))
            .await
            .expect("availability");
        for c in explained.channels {
            let current = known
                .iter()
                .find(|r| r.channel == c.channel)
                .and_then(|r| r.target.or(r.published));
            if current != Some(c.quantity) {
                owed.push(OwedAvailability {
                    channel: c.channel,
                    sku: sku.to_owned(),
                    target: c.quantity,
                    cadence: "batch".into(),
                    changed_at: now,
                });
            }
        }
    }
    store.owe_availability(&owed).await.expect("owe");
    for channel in CHANNELS {
        let due = store
            .owed_availability(channel, false, now, 100)
            .await
            .expect("owed");
        let settled: Vec<AvailabilitySettlement> = due
            .iter()
            .map(|r| AvailabilitySettlement::Acknowledged {
                sku: r.sku.clone(),
                quantity: r.target.expect("owed"),
                at: now,
            })
            .collect();
        store
            .settle_availability(channel, &settled)
            .await
            .expect("settle");
    }
    store
        .availability(None, None)
        .await
        .expect("availability")
        .into_iter()
        .map(|r| ((r.channel, r.sku), r.published.unwrap_or(0)))
        .collect()
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_dir(dir.path()).await.expect("store");
    let policies = policies();
    let mut model = Model::default();
    let mut now = T0;
    let mut seed = Vec::new();
    for (s, sku) in SKUS.iter().enumerate() {
        for (l, location) in LOCATIONS.iter().enumerate() {
            model.on_hand.insert((s, l), 3);
            seed.push(PositionRow {
                sku: (*sku).into(),
                location: (*location).into(),
                on_hand: 3,
                reserved: 0,
                source: "erp".into(),
                as_of: now,
            });
        }
    }
    store.set_positions(&seed).await.expect("seed");
    let candidates: Vec<String> = LOCATIONS.map(str::to_owned).to_vec();
    for (n, op) in ops.into_iter().enumerate() {
        now += 1_000;
        match op {
            Op::Order {
                channel,
                sku,
                quantity,
            } => {
                let order = format!("{}-{n}", CHANNELS[channel]);
                let line = ReserveLine {
                    line_id: "1".into(),
                    sku: SKUS[sku].into(),
                    quantity,
                };
                let got = store
                    .reserve(&order, &[line], &candidates)
                    .await
                    .expect("reserve");
                let expected = (0..LOCATIONS.len()).find(|l| model.free(sku, *l) >= quantity);
                assert_eq!(
                    got.as_deref(),
                    expected.map(|l| LOCATIONS[l]),
                    "order {order} for {quantity} {}: free {:?}",
                    SKUS[sku],
                    (0..LOCATIONS.len())
                        .map(|l| model.free(sku, l))
                        .collect::<Vec<_>>()
                );
                if let Some(l) = expected {
                    *model.reserved.entry((sku, l)).or_default() += quantity;
                    model.orders.push((order, sku, l, quantity, true));
                }
            }
            Op::Cancel(i) | Op::Ship(i) if model.orders.is_empty() => {
                let _ = i;
            }
            Op::Cancel(i) => {
                let k = i % model.orders.len();
                let (order, sku, l, q, held) = model.orders[k].clone();
                let release = Changes {
                    reservations: vec![ReservationChange::ReleaseOrder {
                        order_id: order.clone(),
                    }],
                    ..Changes::default()
                };
                finish_job(&store, &format!("order:{order}"), "cancel", release, now).await;
                if held {
                    *model.reserved.entry((sku, l)).or_default() -= q;
                    model.orders[k].4 = false;
                }
            }
            Op::Ship(i) => {
                let k = i % model.orders.len();
                let (order, sku, l, q, held) = model.orders[k].clone();
                let consume = Changes {
                    reservations: vec![ReservationChange::Consume {
                        order_id: order.clone(),
                        line_id: "1".into(),
                        quantity: q,
                    }],
                    ..Changes::default()
                };
                finish_job(&store, &format!("order:{order}"), "ship", consume, now).await;
                if held {
                    *model.reserved.entry((sku, l)).or_default() -= q;
                    *model.on_hand.entry((sku, l)).or_default() -= q;
                    model.orders[k].4 = false;
                }
            }
            Op::Stock {
                sku,
                location,
                on_hand,
            } => {
                store
                    .set_positions(&[PositionRow {
                        sku: SKUS[sku].into(),
                        location: LOCATIONS[location].into(),
                        on_hand,
                        reserved: 0,
                        source: "erp".into(),
                        as_of: now,
                    }])
                    .await
                    .expect("stock");
                model.on_hand.insert((sku, location), on_hand);
            }
            Op::Push => {
                let shown = push(&store, &policies, now).await;
                for (c, policy) in policies.channels().iter().enumerate() {
                    for (s, sku) in SKUS.iter().enumerate() {
                        // Free units at the locations this channel may
                        // sell from, less their safety stock.
                        let pool: i64 = policies
                            .eligible_locations(c)
                            .iter()
                            .map(|l| {
                                let free = model.free(s, *l);
                                let safety = policies.locations()[*l].safety_stock;
                                if free <= 0 {
                                    free
                                } else {
                                    (free - safety).max(0)
                                }
                            })
                            .sum::<i64>()
                            .max(0);
                        let q = shown[&(policy.channel.clone(), (*sku).to_owned())];
                        assert!(
                            (0..=pool).contains(&q),
                            "{} shows {q} of {sku} with {pool} free to it",
                            policy.channel
                        );
                    }
                }
                // Channels sharing a pool never show more than it together.
                for (s, sku) in SKUS.iter().enumerate() {
                    let pool: i64 = (0..LOCATIONS.len())
                        .map(|l| {
                            let free = model.free(s, l);
                            let safety = policies.locations()[l].safety_stock;
                            if free <= 0 {
                                free
                            } else {
                                (free - safety).max(0)
                            }
                        })
                        .sum::<i64>()
                        .max(0);
                    let shared = shown[&("walmart".to_owned(), (*sku).to_owned())]
                        + shown[&("shopify".to_owned(), (*sku).to_owned())];
                    assert!(shared <= pool, "{sku}: 50% + 50% shows {shared} of {pool}");
                }
            }
        }
        // The store holds exactly what the model says, and never more
        // reserved than on hand unless stock was counted down under it.
        for (s, sku) in SKUS.iter().enumerate() {
            for row in store.positions(Some(sku)).await.expect("positions") {
                let l = LOCATIONS
                    .iter()
                    .position(|x| *x == row.location)
                    .expect("known location");
                assert_eq!(
                    (row.on_hand, row.reserved),
                    (
                        model.on_hand[&(s, l)],
                        model.reserved.get(&(s, l)).copied().unwrap_or(0)
                    ),
                    "{sku}@{}",
                    row.location
                );
            }
        }
    }
    store.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn no_interleaving_oversells_or_overpromises(ops in prop::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(run(ops));
    }
}
