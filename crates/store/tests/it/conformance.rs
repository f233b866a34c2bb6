//! Store conformance suite: every scenario runs against both backends, a
//! fresh SQLite file (`sqlite::*`) and a fresh PostgreSQL database
//! (`postgres::*`, created through `CROSSDOCK_TEST_PG_URL`; fails when
//! PostgreSQL is unreachable unless `CROSSDOCK_SKIP_PG=1`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::TestDb;
use chrono::{DateTime, Utc};
use crossdock_model::{
    Address, Currency, Customer, ExceptionClass, ExceptionStatus, Money, Order, OrderLine,
    OrderStatus, Shipment, ShipmentLine, TaxTreatment, Tracking, order_id_for,
};
use crossdock_store::{
    Accepted, ApiScope, AvailabilitySettlement, Changes, EffectResolution, EffectStatus,
    ExceptionFilter, InboxStatus, Job, MessageOrigin, NewApiAuditEntry, NewApiKey,
    NewConfigVersion, NewEffect, NewEvent, NewException, NewJob, NewMessage, OrderFilter,
    OwedAvailability, PositionRow, QueueStats, ReservationChange, ReserveLine, StockReport, Store,
    StoreError, StoredShipment, UnappliedUpdate, waiting_error,
};
use rust_decimal::dec;
use serde_json::json;

/// A fixed "now" (2025-01-01T00:00:00Z); the store never reads the clock.
const T0: i64 = 1_735_689_600_000;
const LONG_LEASE: i64 = 600_000;

// ------------------------------------------------------------------ harness

macro_rules! run_scenario {
    (store, $db:expr, $name:ident) => {
        super::$name(&$db.store).await
    };
    (db, $db:expr, $name:ident) => {
        super::$name(&$db).await
    };
}

/// One `#[tokio::test]` per scenario and backend. `store` scenarios get the
/// store; `db` scenarios get the whole test database (to open more handles).
macro_rules! conformance {
    ($($(#[$attr:meta])* $kind:ident $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                $(#[$attr])*
                async fn $name() {
                    let db = crate::support::TestDb::sqlite().await;
                    run_scenario!($kind, db, $name);
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                $(#[$attr])*
                async fn $name() {
                    let Some(db) = crate::support::TestDb::postgres().await else { return };
                    run_scenario!($kind, db, $name);
                    db.finish().await;
                }
            )*
        }
    };
}

conformance! {
    store scenario_inbox,
    store scenario_jobs_in_order_per_entity,
    store scenario_retry_fail_and_replay,
    store scenario_effects,
    store scenario_orders_and_changes,
    store scenario_inventory,
    store scenario_effects_resolved_with_their_step,
    store scenario_move_reservation,
    store scenario_reserve_split,
    store scenario_releases_since,
    store scenario_queue_age_counts_due_jobs,
    store scenario_units_reserved_since,
    store scenario_release_slots,
    store scenario_availability_outbox,
    store scenario_origin_and_held_back_waits,
    store scenario_api_keys,
    store scenario_api_key_usage_and_audit,
    store scenario_unapplied_updates,
    store scenario_config_versions,
    db scenario_concurrent_jobs_two_handles,
    db scenario_no_oversell_two_handles,
    db scenario_no_oversell_four_channels,
    db scenario_release_slots_racers_two_handles,
    db scenario_migrations_idempotent,
    // Regressions of bugs this suite found.
    store reclaimed_job_cannot_be_completed_by_its_stale_worker,
    store replayed_job_waits_for_running_job_of_its_entity,
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = Store::open("mysql://root@127.0.0.1/db").await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedUrl(ref u) if u == "mysql://root@127.0.0.1/db"),
        "{err:?}"
    );
}

/// A message keeps how it arrived; a job waiting for its channel is counted
/// by why, and a newer message about its entity makes it due at once.
async fn scenario_origin_and_held_back_waits(store: &Store) {
    let delivered = msg("channel:amazon", "poll:1:1", "order:x", T0);
    let polled = NewMessage {
        origin: MessageOrigin::Polled,
        ..msg("channel:amazon", "amazon:poll:2", "order:y", T0)
    };
    let ids = store.accept_messages(&[delivered, polled]).await.unwrap();
    let [Accepted::New(d), Accepted::New(p)] = ids[..] else {
        panic!("{ids:?}")
    };
    let d = store.inbox_message(d).await.unwrap().unwrap();
    assert!(!d.polled(), "a key starting 'poll:' says nothing");
    assert!(store.inbox_message(p).await.unwrap().unwrap().polled());

    let jobs = store.claim_jobs("w", T0, LONG_LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    let later = T0 + 3_600_000;
    for job in &jobs {
        let why = if job.entity_key == "order:x" {
            "pending_payment"
        } else {
            "breaker_open"
        };
        store
            .retry_job(
                job,
                later,
                &waiting_error(why, "channel:amazon"),
                false,
                &Changes::default(),
                T0,
            )
            .await
            .unwrap();
    }
    let counts = store.waiting_counts().await.unwrap();
    assert_eq!(counts.get("pending_payment"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("breaker_open"), Some(&1), "{counts:?}");

    let (first, newer) = store.inbox_span("order:x", d.id).await.unwrap();
    assert_eq!((first, newer), (T0, false));
    let newer_msg = msg("channel:amazon", "evt-2", "order:x", T0 + 5);
    store.accept_messages(&[newer_msg]).await.unwrap();
    assert_eq!(store.inbox_span("order:x", d.id).await.unwrap(), (T0, true));
    // Only the jobs waiting for that reason, of that entity, wake.
    let woken = store
        .wake_waiting(
            &["order:x", "order:y"],
            "ingest_order",
            "pending_payment",
            T0 + 5,
        )
        .await
        .unwrap();
    assert_eq!(woken, 1);
    assert_eq!(store.next_job_at(T0 + 5).await.unwrap(), Some(later));
    let due = store.claim_jobs("w", T0 + 5, LONG_LEASE, 10).await.unwrap();
    assert_eq!(
        due.len(),
        1,
        "the woken job first, its newer message behind it"
    );
    assert_eq!(due[0].entity_key, "order:x");
}

// ------------------------------------------------------------------ helpers

fn msg(source: &str, key: &str, entity: &str, at: i64) -> NewMessage {
    NewMessage {
        source: source.to_owned(),
        message_key: key.to_owned(),
        entity_key: entity.to_owned(),
        source_version: Some(at),
        body: format!(r#"{{"id":"{key}","note":"caf\u00e9 \u2713"}}"#).into_bytes(),
        received_at: at,
        step: "ingest_order".to_owned(),
        origin: MessageOrigin::Delivered,
    }
}

fn job(entity: &str, step: &str, seq: i64, run_at: i64) -> NewJob {
    NewJob {
        entity_key: entity.to_owned(),
        step: step.to_owned(),
        payload: json!({ "seq": seq }),
        run_at,
    }
}

fn event(entity: &str, at: i64, kind: &str, detail: serde_json::Value) -> NewEvent {
    NewEvent {
        entity_key: entity.to_owned(),
        at,
        kind: kind.to_owned(),
        detail,
    }
}

fn with_events(events: Vec<NewEvent>) -> Changes {
    Changes {
        events,
        ..Changes::default()
    }
}

fn seq(j: &Job) -> i64 {
    j.payload["seq"].as_i64().expect("payload has seq")
}

fn steps(jobs: &[Job]) -> Vec<(String, String)> {
    jobs.iter()
        .map(|j| (j.entity_key.clone(), j.step.clone()))
        .collect()
}

fn ms(at: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at).expect("valid ms")
}

async fn claim_all(store: &Store, owner: &str, now: i64) -> Vec<Job> {
    store
        .claim_jobs(owner, now, LONG_LEASE, 1000)
        .await
        .expect("claim")
}

async fn position(store: &Store, sku: &str, location: &str) -> PositionRow {
    store
        .positions(Some(sku))
        .await
        .expect("positions")
        .into_iter()
        .find(|p| p.location == location)
        .unwrap_or_else(|| panic!("no position {sku}@{location}"))
}

fn usd(amount: rust_decimal::Decimal) -> Money {
    Money::new(amount, Currency::USD)
}

/// A realistic Shopify-style order: id beyond 2^53, USD amounts with cents.
pub(crate) fn shopify_order(channel: &str, external_id: &str, status: OrderStatus) -> Order {
    let address = Address {
        name: "Ada Lovelace".to_owned(),
        line1: "12 Analytical Row".to_owned(),
        line2: Some("Suite 1843".to_owned()),
        city: "Brooklyn".to_owned(),
        region: Some("NY".to_owned()),
        postal_code: "11201".to_owned(),
        country: "US".to_owned(),
    };
    let lines = vec![
        OrderLine {
            line_id: "14089362358123456".to_owned(),
            sku: "TEE-BLK-M".to_owned(),
            title: "Crew tee, black, M".to_owned(),
            quantity: 2,
            unit_price: usd(dec!(19.90)),
            discount: usd(dec!(4.00)),
            tax: usd(dec!(3.19)),
            shipped_quantity: 0,
            cancelled_quantity: 0,
        },
        OrderLine {
            line_id: "14089362358123457".to_owned(),
            sku: "MUG-12OZ".to_owned(),
            title: "Mug 12 oz".to_owned(),
            quantity: 1,
            unit_price: usd(dec!(12.50)),
            discount: usd(dec!(0.00)),
            tax: usd(dec!(1.11)),
            shipped_quantity: 0,
            cancelled_quantity: 0,
        },
    ];
    let mut order = Order {
        id: order_id_for(channel, external_id),
        channel: channel.to_owned(),
        external_id: external_id.to_owned(),
        source_version: 1_735_689_512_345,
        placed_at: ms(T0 - 3_600_000),
        currency: Currency::USD,
        customer: Customer {
            external_id: Some("7412589630147258369".to_owned()),
            email: "ada@example.com".to_owned(),
            name: "Ada Lovelace".to_owned(),
            phone: None,
        },
        shipping_address: Some(address.clone()),
        billing_address: Some(address),
        lines,
        shipping: usd(dec!(5.95)),
        total: usd(dec!(0)),
        tax_treatment: TaxTreatment::MerchantCollected,
        service_level: "expedited".to_owned(),
        status,
        erp_ref: None,
        shipping_method: None,
        customer_group: None,
        gift: false,
        priority: 0,
        hold: None,
    };
    order.total = order.computed_total().expect("total");
    order
}

// ---------------------------------------------------------------- scenarios

/// Scenario 1: Inbox: dedup within and across batches, one job per new message,
/// rejected messages kept with body and reason.
async fn scenario_inbox(store: &Store) {
    let a = msg(
        "channel:shop-us",
        "orders/create:5678901234567890123",
        "order:a",
        T0,
    );
    let b = msg(
        "channel:shop-us",
        "orders/create:5678901234567890124",
        "order:b",
        T0 + 1,
    );
    // Same key from another source is a different message.
    let c = msg(
        "channel:amazon-us",
        "orders/create:5678901234567890123",
        "order:c",
        T0 + 2,
    );

    let first = store
        .accept_messages(&[a.clone(), a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(first.len(), 4);
    let Accepted::New(id_a) = first[0] else {
        panic!("first delivery must be new: {first:?}")
    };
    assert_eq!(
        first[1],
        Accepted::Duplicate(id_a),
        "same message in the same batch"
    );
    let Accepted::New(id_b) = first[2] else {
        panic!("b must be new: {first:?}")
    };
    let Accepted::New(id_c) = first[3] else {
        panic!("c must be new: {first:?}")
    };
    assert_eq!(
        HashSet::from([id_a, id_b, id_c]).len(),
        3,
        "distinct inbox ids"
    );

    let later = store
        .accept_messages(&[b.clone(), a.clone()])
        .await
        .unwrap();
    assert_eq!(
        later,
        vec![Accepted::Duplicate(id_b), Accepted::Duplicate(id_a)]
    );

    let counts = store.inbox_counts().await.unwrap();
    assert_eq!(counts.accepted, 3);
    assert_eq!(counts.duplicates, 3, "a twice extra, b once extra");
    assert_eq!(counts.rejected, 0);

    let stored_a = store.inbox_message(id_a).await.unwrap().expect("a stored");
    assert_eq!(stored_a.duplicates, 2);
    assert_eq!(stored_a.status, "accepted");
    assert_eq!(stored_a.body, a.body, "body kept byte for byte");
    assert_eq!(stored_a.entity_key.as_deref(), Some("order:a"));
    assert_eq!(stored_a.source_version, Some(T0));
    assert_eq!(stored_a.received_at, T0);
    assert_eq!(
        store.inbox_message(id_b).await.unwrap().unwrap().duplicates,
        1
    );
    assert_eq!(
        store.inbox_message(id_c).await.unwrap().unwrap().duplicates,
        0
    );

    // Exactly one job per new message, pointing at its inbox row.
    let jobs = claim_all(store, "w1", T0 + 10).await;
    assert_eq!(jobs.len(), 3, "one job per new message: {jobs:?}");
    let mut by_inbox: Vec<(i64, String)> = jobs
        .iter()
        .map(|j| {
            (
                j.payload["inbox_id"].as_i64().unwrap(),
                j.entity_key.clone(),
            )
        })
        .collect();
    by_inbox.sort();
    let mut expected = vec![
        (id_a, "order:a".to_owned()),
        (id_b, "order:b".to_owned()),
        (id_c, "order:c".to_owned()),
    ];
    expected.sort();
    assert_eq!(by_inbox, expected);
    assert!(
        jobs.iter()
            .all(|j| j.step == "ingest_order" && j.attempts == 1 && j.lease_owner == "w1")
    );
    assert!(
        claim_all(store, "w2", T0 + 20).await.is_empty(),
        "no extra jobs"
    );
    for e in ["order:a", "order:b", "order:c"] {
        assert_eq!(store.open_jobs(e).await.unwrap().len(), 1, "{e}");
    }

    // Rejected at the door.
    let body = b"\x00\xffnot json{".to_vec();
    let rid = store
        .record_rejected("channel:shop-us", "bad hmac signature", &body, T0 + 30)
        .await
        .unwrap();
    let rid2 = store
        .record_rejected("channel:shop-us", "payload too large", b"x", T0 + 31)
        .await
        .unwrap();
    assert_ne!(rid, rid2, "rejections never dedup");
    let rejected = store
        .inbox_message(rid)
        .await
        .unwrap()
        .expect("rejected stored");
    assert_eq!(rejected.status, "rejected");
    assert_eq!(rejected.body, body);
    assert_eq!(rejected.note.as_deref(), Some("bad hmac signature"));
    assert_eq!(rejected.received_at, T0 + 30);
    let counts = store.inbox_counts().await.unwrap();
    assert_eq!(
        (counts.accepted, counts.rejected, counts.duplicates),
        (3, 2, 3)
    );
    let listed = store.inbox_messages(Some("rejected"), 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![rid2, rid],
        "newest first"
    );
    assert_eq!(listed[1].note.as_deref(), Some("bad hmac signature"));
    assert_eq!(
        store
            .inbox_messages(Some("rejected"), 1)
            .await
            .unwrap()
            .len(),
        1,
        "limit applies"
    );
    assert_eq!(store.inbox_messages(None, 100).await.unwrap().len(), 5);
    assert!(
        store
            .inbox_messages(Some("processed"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A rejection enqueues nothing.
    assert!(claim_all(store, "w3", T0 + 40).await.is_empty());
    assert!(store.inbox_message(999_999).await.unwrap().is_none());
}

/// Scenario 2: Jobs run in order per entity; run_at and leases are honoured; a worker
/// that lost its lease cannot complete.
async fn scenario_jobs_in_order_per_entity(store: &Store) {
    let (a, b) = ("order:A", "order:B");
    store
        .enqueue(
            &[
                job(a, "a1", 1, T0),
                job(b, "b1", 1, T0),
                job(a, "a2", 2, T0),
                job(b, "b2", 2, T0),
                job(a, "a3", 3, T0),
            ],
            T0,
        )
        .await
        .unwrap();
    let stats = store.queue_stats(T0 + 500).await.unwrap();
    assert_eq!(
        stats,
        QueueStats {
            ready: 5,
            running: 0,
            failed: 0,
            oldest_ready_age_ms: 500
        }
    );
    assert_eq!(store.next_job_at(T0 - 1).await.unwrap(), Some(T0));
    assert_eq!(
        store.next_job_at(T0).await.unwrap(),
        None,
        "all due already"
    );
    let by_step = store.unfinished_jobs_by_step().await.unwrap();
    let names: Vec<&str> = by_step.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["a1", "a2", "a3", "b1", "b2"]);
    assert!(by_step.iter().all(|(_, n)| *n == 1));

    let first = claim_all(store, "w1", T0).await;
    assert_eq!(
        steps(&first),
        vec![(a.into(), "a1".into()), (b.into(), "b1".into())]
    );
    assert!(
        first
            .iter()
            .all(|j| j.attempts == 1 && j.lease_owner == "w1" && j.created_at == T0)
    );
    assert_eq!(first[0].payload, json!({ "seq": 1 }));
    assert!(
        claim_all(store, "w2", T0).await.is_empty(),
        "a2/b2 wait for a1/b1"
    );
    let stats = store.queue_stats(T0).await.unwrap();
    assert_eq!((stats.ready, stats.running), (3, 2));

    store
        .complete_job(&first[0], &Changes::default(), T0)
        .await
        .unwrap();
    let next = claim_all(store, "w2", T0).await;
    assert_eq!(
        steps(&next),
        vec![(a.into(), "a2".into())],
        "a2 after a1; b2 still behind running b1"
    );
    store
        .complete_job(&first[1], &Changes::default(), T0)
        .await
        .unwrap();
    store
        .complete_job(&next[0], &Changes::default(), T0)
        .await
        .unwrap();
    let last = claim_all(store, "w1", T0).await;
    assert_eq!(
        steps(&last),
        vec![(b.into(), "b2".into()), (a.into(), "a3".into())],
        "claims come back in enqueue (id) order"
    );
    for j in &last {
        store
            .complete_job(j, &Changes::default(), T0)
            .await
            .unwrap();
    }
    assert!(claim_all(store, "w1", T0).await.is_empty());
    assert!(store.open_jobs(a).await.unwrap().is_empty());
    assert_eq!(store.next_job_at(0).await.unwrap(), None, "nothing waits");
    assert!(store.unfinished_jobs_by_step().await.unwrap().is_empty());
    // Completing twice is refused (the job is gone).
    assert!(matches!(
        store.complete_job(&last[0], &Changes::default(), T0).await,
        Err(StoreError::LeaseLost(id)) if id == last[0].id
    ));

    // A job due in the future is not claimed before its time.
    store
        .enqueue(&[job("order:F", "later", 1, T0 + 60_000)], T0)
        .await
        .unwrap();
    assert_eq!(store.next_job_at(T0).await.unwrap(), Some(T0 + 60_000));
    assert!(
        claim_all(store, "w1", T0 + 59_999).await.is_empty(),
        "not due yet"
    );
    let due = claim_all(store, "w1", T0 + 60_000).await;
    assert_eq!(steps(&due), vec![("order:F".into(), "later".into())]);
    store
        .complete_job(&due[0], &Changes::default(), T0 + 60_000)
        .await
        .unwrap();

    // Lease expiry: w1 claims with a 1 s lease and stalls; w2 takes over.
    let t1 = T0 + 100_000;
    let l = "order:L";
    store
        .enqueue(&[job(l, "post_erp", 1, t1), job(l, "ack", 2, t1)], t1)
        .await
        .unwrap();
    let held = store.claim_jobs("w1", t1, 1_000, 10).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].attempts, held[0].lease_owner.as_str()), (1, "w1"));
    assert!(
        store
            .claim_jobs("w2", t1 + 500, 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "lease still valid"
    );
    let taken = store.claim_jobs("w2", t1 + 1_001, 1_000, 10).await.unwrap();
    assert_eq!(taken.len(), 1, "expired lease is claimed again: {taken:?}");
    assert_eq!(taken[0].id, held[0].id);
    assert_eq!(
        (taken[0].attempts, taken[0].lease_owner.as_str()),
        (2, "w2")
    );

    // The first owner's writes are refused, all of them.
    let o = shopify_order("shop-us", "5678901234567890999", OrderStatus::AcceptedByErp);
    let stale = Changes {
        orders: vec![o.clone()],
        events: vec![event(l, t1 + 1_100, "erp_posted", json!({ "by": "w1" }))],
        jobs: vec![job(l, "from_w1", 9, t1)],
        ..Changes::default()
    };
    let err = store
        .complete_job(&held[0], &stale, t1 + 1_100)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::LeaseLost(id) if id == held[0].id),
        "{err:?}"
    );
    let err = store
        .retry_job(&held[0], t1 + 5_000, "timeout", true, &stale, t1 + 1_100)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)), "{err:?}");
    let ex = NewException {
        entity_key: l.to_owned(),
        channel: None,
        step: "post_erp".to_owned(),
        class: ExceptionClass::Transient,
        reason: "w1 gave up".to_owned(),
        payload: json!({}),
        at: t1 + 1_100,
    };
    let err = store.fail_job(&held[0], &ex, &stale).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost(_)), "{err:?}");
    assert!(
        store.timeline(l).await.unwrap().is_empty(),
        "no event from the lost lease"
    );
    assert!(
        store.order(&o.id).await.unwrap().is_none(),
        "no order from the lost lease"
    );
    assert!(
        store
            .exceptions(&ExceptionFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let open = store.open_jobs(l).await.unwrap();
    assert_eq!(
        open.iter()
            .map(|(_, s, st)| (s.as_str(), st.as_str()))
            .collect::<Vec<_>>(),
        vec![("post_erp", "running"), ("ack", "ready")],
        "w1's job still w2's, nothing enqueued"
    );

    // The new owner completes normally and its writes land.
    store
        .complete_job(
            &taken[0],
            &with_events(vec![event(
                l,
                t1 + 1_200,
                "erp_posted",
                json!({ "by": "w2" }),
            )]),
            t1 + 1_200,
        )
        .await
        .unwrap();
    let tl = store.timeline(l).await.unwrap();
    assert_eq!(tl.len(), 1);
    assert_eq!(tl[0].detail, json!({ "by": "w2" }));
    let ack = claim_all(store, "w2", t1 + 1_300).await;
    assert_eq!(steps(&ack), vec![(l.into(), "ack".into())]);
}

/// Scenario 3: Retries count (or give back) attempts; failures go to the exception
/// queue without blocking the entity; exceptions filter and replay.
async fn scenario_retry_fail_and_replay(store: &Store) {
    let r = "order:R";
    store
        .enqueue(&[job(r, "post_erp", 1, T0), job(r, "ack", 2, T0)], T0)
        .await
        .unwrap();

    let j = claim_all(store, "w1", T0).await;
    assert_eq!(steps(&j), vec![(r.into(), "post_erp".into())]);
    assert_eq!(j[0].attempts, 1);
    let retry_changes = with_events(vec![event(
        r,
        T0,
        "retry_scheduled",
        json!({ "attempt": 1 }),
    )]);
    store
        .retry_job(&j[0], T0 + 100, "erp timeout", true, &retry_changes, T0)
        .await
        .unwrap();
    assert!(
        claim_all(store, "w1", T0 + 99).await.is_empty(),
        "retry not due; ack still behind it"
    );
    let j = claim_all(store, "w1", T0 + 100).await;
    assert_eq!(
        (j.len(), j[0].step.as_str(), j[0].attempts),
        (1, "post_erp", 2),
        "counted attempt"
    );

    // Breaker open: the attempt is given back.
    store
        .retry_job(
            &j[0],
            T0 + 200,
            "breaker open",
            false,
            &Changes::default(),
            T0 + 100,
        )
        .await
        .unwrap();
    let j = claim_all(store, "w1", T0 + 200).await;
    assert_eq!(j[0].attempts, 2, "attempt not counted");
    store
        .retry_job(
            &j[0],
            T0 + 300,
            "erp 503",
            true,
            &Changes::default(),
            T0 + 200,
        )
        .await
        .unwrap();
    let j = claim_all(store, "w1", T0 + 300).await;
    assert_eq!(j[0].attempts, 3);
    assert_eq!(
        store.timeline(r).await.unwrap()[0].kind,
        "retry_scheduled",
        "retry applies its changes"
    );

    // Give up: the exception keeps everything needed to replay.
    let fail = |entity: &str, channel: Option<&str>, step: &str, class, at| NewException {
        entity_key: entity.to_owned(),
        channel: channel.map(str::to_owned),
        step: step.to_owned(),
        class,
        reason: format!("{step} failed for {entity}"),
        payload: json!({ "entity": entity, "sku": "TEE-BLK-M", "big_id": "5678901234567890123" }),
        at,
    };
    let ex_r = store
        .fail_job(
            &j[0],
            &fail(
                r,
                Some("shop-us"),
                "post_erp",
                ExceptionClass::Validation,
                T0 + 1_000,
            ),
            &with_events(vec![event(r, T0 + 1_000, "step_failed", json!({}))]),
        )
        .await
        .unwrap();
    let recs = store
        .exceptions(&ExceptionFilter {
            id: Some(ex_r.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(recs.len(), 1);
    let rec = &recs[0];
    assert_eq!(rec.job_id, j[0].id);
    assert_eq!(rec.entity_key, r);
    assert_eq!(rec.channel.as_deref(), Some("shop-us"));
    assert_eq!(rec.step, "post_erp");
    assert_eq!(rec.class, ExceptionClass::Validation);
    assert_eq!(rec.reason, "post_erp failed for order:R");
    assert_eq!(
        rec.payload,
        json!({ "entity": r, "sku": "TEE-BLK-M", "big_id": "5678901234567890123" })
    );
    assert_eq!(rec.status, ExceptionStatus::Open);
    assert_eq!(rec.created_at, ms(T0 + 1_000));
    assert_eq!((rec.replayed_at, rec.replay_count), (None, 0));
    assert_eq!(
        store.timeline(r).await.unwrap().last().unwrap().kind,
        "step_failed"
    );

    // The failed job does not block the entity's next job.
    let next = claim_all(store, "w1", T0 + 1_001).await;
    assert_eq!(steps(&next), vec![(r.into(), "ack".into())]);
    store
        .complete_job(&next[0], &Changes::default(), T0 + 1_001)
        .await
        .unwrap();
    assert_eq!(
        store
            .open_jobs(r)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, s, st)| (s, st))
            .collect::<Vec<_>>(),
        vec![("post_erp".to_owned(), "failed".to_owned())]
    );

    // More exceptions to filter on.
    let specs = [
        (
            "order:E1",
            Some("shop-us"),
            "validate",
            ExceptionClass::Validation,
            T0 + 2_000,
        ),
        (
            "order:E2",
            Some("amazon-us"),
            "validate",
            ExceptionClass::Mapping,
            T0 + 3_000,
        ),
        (
            "order:E3",
            Some("shop-us"),
            "post_erp",
            ExceptionClass::Transient,
            T0 + 4_000,
        ),
        (
            "order:E4",
            None,
            "sync_inventory",
            ExceptionClass::Validation,
            T0 + 5_000,
        ),
    ];
    let mut ids = HashMap::new();
    for (entity, channel, step, class, at) in specs {
        store
            .enqueue(&[job(entity, step, 1, T0)], T0)
            .await
            .unwrap();
        let j = claim_all(store, "w1", at).await;
        assert_eq!(j.len(), 1, "{entity}");
        let id = store
            .fail_job(
                &j[0],
                &fail(entity, channel, step, class, at),
                &Changes::default(),
            )
            .await
            .unwrap();
        ids.insert(entity, id);
    }
    assert_eq!(store.queue_stats(T0 + 6_000).await.unwrap().failed, 5);

    let ents = |recs: Vec<crossdock_model::ExceptionRecord>| {
        recs.into_iter().map(|e| e.entity_key).collect::<Vec<_>>()
    };
    let q = |f: ExceptionFilter| async move { ents(store.exceptions(&f).await.unwrap()) };
    assert_eq!(
        q(ExceptionFilter::default()).await,
        vec![r, "order:E1", "order:E2", "order:E3", "order:E4"]
    );
    assert_eq!(
        q(ExceptionFilter {
            class: Some("validation".into()),
            ..Default::default()
        })
        .await,
        vec![r, "order:E1", "order:E4"]
    );
    assert_eq!(
        q(ExceptionFilter {
            step: Some("validate".into()),
            ..Default::default()
        })
        .await,
        vec!["order:E1", "order:E2"]
    );
    assert_eq!(
        q(ExceptionFilter {
            channel: Some("amazon-us".into()),
            ..Default::default()
        })
        .await,
        vec!["order:E2"]
    );
    assert_eq!(
        q(ExceptionFilter {
            channel: Some("shop-us".into()),
            class: Some("validation".into()),
            ..Default::default()
        })
        .await,
        vec![r, "order:E1"]
    );
    assert_eq!(
        q(ExceptionFilter {
            status: Some("open".into()),
            ..Default::default()
        })
        .await
        .len(),
        5
    );
    assert!(
        q(ExceptionFilter {
            status: Some("replayed".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        q(ExceptionFilter {
            since: Some(T0 + 3_000),
            ..Default::default()
        })
        .await,
        vec!["order:E2", "order:E3", "order:E4"],
        "since is inclusive"
    );
    assert_eq!(
        q(ExceptionFilter {
            until: Some(T0 + 3_000),
            ..Default::default()
        })
        .await,
        vec![r, "order:E1"],
        "until is exclusive"
    );
    assert_eq!(
        q(ExceptionFilter {
            since: Some(T0 + 2_000),
            until: Some(T0 + 4_001),
            ..Default::default()
        })
        .await,
        vec!["order:E1", "order:E2", "order:E3"]
    );
    assert_eq!(
        q(ExceptionFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await,
        vec![r, "order:E1"]
    );
    assert!(
        q(ExceptionFilter {
            class: Some("authority".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        store.exception_counts().await.unwrap(),
        vec![
            ("mapping".to_owned(), "open".to_owned(), 1),
            ("transient".to_owned(), "open".to_owned(), 1),
            ("validation".to_owned(), "open".to_owned(), 3),
        ]
    );

    // Replay the shop-us validation exceptions created from T0+1500 on: only E1.
    let now = T0 + 10_000;
    let filter = ExceptionFilter {
        class: Some("validation".into()),
        channel: Some("shop-us".into()),
        since: Some(T0 + 1_500),
        ..Default::default()
    };
    let replayed = store
        .replay_exceptions(&filter, "ops@example.com", now)
        .await
        .unwrap();
    assert_eq!(ents(replayed), vec!["order:E1"]);
    // Another filter: R's exception too (validation, shop-us, any time).
    let filter_all = ExceptionFilter {
        class: Some("validation".into()),
        channel: Some("shop-us".into()),
        ..Default::default()
    };
    let replayed = store
        .replay_exceptions(&filter_all, "ops@example.com", now)
        .await
        .unwrap();
    assert_eq!(ents(replayed), vec![r], "E1 is no longer open");
    assert!(
        store
            .replay_exceptions(&filter_all, "ops@example.com", now + 1)
            .await
            .unwrap()
            .is_empty(),
        "second replay is a no-op"
    );
    assert!(
        store
            .replay_exceptions(&filter, "someone-else", now + 1)
            .await
            .unwrap()
            .is_empty()
    );

    for (entity, id) in [(r, ex_r.clone()), ("order:E1", ids["order:E1"].clone())] {
        let rec = store
            .exceptions(&ExceptionFilter {
                id: Some(id.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rec[0].status, ExceptionStatus::Replayed, "{entity}");
        assert_eq!(
            (rec[0].replayed_at, rec[0].replay_count),
            (Some(ms(now)), 1),
            "{entity}"
        );
        let audit: Vec<_> = store
            .timeline(entity)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "exception_replayed")
            .collect();
        assert_eq!(audit.len(), 1, "{entity}: exactly one replay audited");
        assert_eq!(audit[0].at, now);
        assert_eq!(audit[0].detail["actor"], "ops@example.com");
        assert_eq!(audit[0].detail["exception_id"], json!(id));
        assert_eq!(audit[0].detail["class"], "validation");
    }
    for e in ["order:E2", "order:E3", "order:E4"] {
        assert!(
            store.timeline(e).await.unwrap().is_empty(),
            "{e} not replayed"
        );
        assert_eq!(
            store.open_jobs(e).await.unwrap()[0].2,
            "failed",
            "{e} still failed"
        );
        let rec = store
            .exceptions(&ExceptionFilter {
                id: Some(ids[e].clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rec[0].status, ExceptionStatus::Open, "{e}");
    }
    assert_eq!(
        q(ExceptionFilter {
            status: Some("replayed".into()),
            ..Default::default()
        })
        .await,
        vec![r, "order:E1"]
    );

    // Only the replayed jobs run again, with attempts reset.
    let rerun = claim_all(store, "w9", now).await;
    assert_eq!(
        steps(&rerun),
        vec![
            (r.into(), "post_erp".into()),
            ("order:E1".into(), "validate".into())
        ]
    );
    assert!(
        rerun.iter().all(|j| j.attempts == 1),
        "attempts reset: {rerun:?}"
    );
    assert_eq!(rerun[0].id, rec.job_id, "the failed job itself is re-run");
    assert_eq!(store.queue_stats(now).await.unwrap().failed, 3);
}

/// Scenario 4: Effects: recorded before the call, in doubt when begun again, and
/// the applied result is returned instead of calling twice.
async fn scenario_effects(store: &Store) {
    let e = "order:X";
    let post = NewEffect {
        key: "erp:sales_order:5678901234567890123".to_owned(),
        target: "erp".to_owned(),
        kind: "create_sales_order".to_owned(),
        entity_key: e.to_owned(),
        at: T0,
    };
    assert!(store.effect(&post.key).await.unwrap().is_none());
    let first = store.begin_effect(&post).await.unwrap();
    assert_eq!(
        (first.attempts, first.status, first.result.clone()),
        (1, EffectStatus::Pending, None)
    );
    assert_eq!((first.created_at, first.resolved_at), (T0, None));
    assert!(!first.in_doubt, "a new effect was never sent");
    assert_eq!(
        (
            first.target.as_str(),
            first.kind.as_str(),
            first.entity_key.as_str()
        ),
        ("erp", "create_sales_order", e)
    );

    let again = store
        .begin_effect(&NewEffect {
            at: T0 + 5_000,
            ..post.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        (again.attempts, again.status),
        (2, EffectStatus::Pending),
        "in doubt"
    );
    assert_eq!(again.created_at, T0, "created_at is the first attempt's");
    assert!(again.in_doubt, "left pending by an earlier attempt");

    // A refused (or throttled) effect is known not applied: the next
    // attempt is not in doubt and need not ask the target first.
    let refused = NewEffect {
        key: "erp:refused".to_owned(),
        entity_key: "order:R".to_owned(),
        ..post.clone()
    };
    store.begin_effect(&refused).await.unwrap();
    store
        .resolve_effect(&refused.key, EffectStatus::Failed, None, T0)
        .await
        .unwrap();
    let retry = store.begin_effect(&refused).await.unwrap();
    assert_eq!(
        (retry.status, retry.attempts, retry.in_doubt),
        (EffectStatus::Pending, 2, false)
    );
    // ...but if that attempt dies before resolving, the next one is in doubt.
    let after_crash = store.begin_effect(&refused).await.unwrap();
    assert!(after_crash.in_doubt);

    let result = json!({ "erp_ref": "SO-000123", "total": "50.48" });
    store
        .resolve_effect(&post.key, EffectStatus::Applied, Some(&result), T0 + 6_000)
        .await
        .unwrap();
    let after = store
        .begin_effect(&NewEffect {
            at: T0 + 7_000,
            ..post.clone()
        })
        .await
        .unwrap();
    assert_eq!(after.status, EffectStatus::Applied);
    assert_eq!(after.result, Some(result.clone()));
    assert_eq!(after.resolved_at, Some(T0 + 6_000));

    let ship = NewEffect {
        key: "wms:fulfillment:fr-1".to_owned(),
        target: "wms".to_owned(),
        kind: "create_fulfillment".to_owned(),
        entity_key: e.to_owned(),
        at: T0 + 1_000,
    };
    store.begin_effect(&ship).await.unwrap();
    store
        .resolve_effect(
            &ship.key,
            EffectStatus::Failed,
            Some(&json!({ "error": "unknown sku" })),
            T0 + 1_500,
        )
        .await
        .unwrap();
    let ack = NewEffect {
        key: "wms:cancel:fr-0".to_owned(),
        target: "wms".to_owned(),
        kind: "cancel_fulfillment".to_owned(),
        entity_key: e.to_owned(),
        at: T0 + 2_000,
    };
    store.begin_effect(&ack).await.unwrap();
    let other = NewEffect {
        key: "channel:ack:Y".to_owned(),
        target: "channel".to_owned(),
        entity_key: "order:Y".to_owned(),
        ..ack.clone()
    };
    store.begin_effect(&other).await.unwrap();

    let failed = store.effect(&ship.key).await.unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.attempts, failed.resolved_at),
        (EffectStatus::Failed, 1, Some(T0 + 1_500))
    );
    assert_eq!(failed.result, Some(json!({ "error": "unknown sku" })));

    let list = store.effects_for(e).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|x| (x.key.as_str(), x.status))
            .collect::<Vec<_>>(),
        vec![
            (post.key.as_str(), EffectStatus::Applied),
            (ship.key.as_str(), EffectStatus::Failed),
            (ack.key.as_str(), EffectStatus::Pending),
        ],
        "ordered by creation"
    );
    assert!(store.effects_for("order:none").await.unwrap().is_empty());
    let counts = store.effect_counts().await.unwrap();
    let s = |a: &str, b: &str, n| (a.to_owned(), b.to_owned(), n);
    assert_eq!(
        counts,
        vec![
            s("channel", "pending", 1),
            s("erp", "applied", 1),
            s("erp", "pending", 1),
            s("wms", "failed", 1),
            s("wms", "pending", 1)
        ]
    );
}

/// Scenario 5: A step's Changes land atomically and are all visible afterwards.
async fn scenario_orders_and_changes(store: &Store) {
    let order = shopify_order("shop-us", "5678901234567890123", OrderStatus::Received);
    let entity = format!("order:{}", order.id);
    let accepted = store
        .accept_messages(&[msg(
            "channel:shop-us",
            "orders/create:5678901234567890123",
            &entity,
            T0,
        )])
        .await
        .unwrap();
    let Accepted::New(inbox_id) = accepted[0] else {
        panic!("{accepted:?}")
    };
    let ingest = claim_all(store, "w1", T0).await;
    assert_eq!(ingest.len(), 1);

    let shipment = Shipment {
        id: "wh-east:SHP-0001".to_owned(),
        order_id: order.id.clone(),
        warehouse: "wh-east".to_owned(),
        external_id: "SHP-0001".to_owned(),
        fulfillment_request_id: format!("fr-{}", order.id),
        lines: vec![ShipmentLine {
            line_id: "14089362358123456".to_owned(),
            sku: "TEE-BLK-M".to_owned(),
            quantity: 1,
        }],
        tracking: Tracking {
            carrier: "UPS".to_owned(),
            number: "1Z999AA10123456784".to_owned(),
            url: Some("https://www.ups.com/track?tracknum=1Z999AA10123456784".to_owned()),
        },
        shipped_at: ms(T0 + 50),
        completes_request: false,
    };
    // Events deliberately out of `at` order: the timeline keeps write order.
    let changes = Changes {
        orders: vec![order.clone()],
        shipments: vec![(shipment.clone(), None)],
        jobs: vec![NewJob {
            entity_key: entity.clone(),
            step: "validate".to_owned(),
            payload: json!({}),
            run_at: T0 + 10,
        }],
        events: vec![
            event(
                &entity,
                T0 + 20,
                "order_received",
                json!({ "external_id": "5678901234567890123" }),
            ),
            event(&entity, T0 + 10, "order_mapped", json!({ "lines": 2 })),
            event(
                &entity,
                T0 + 30,
                "shipment_recorded",
                json!({ "shipment": shipment.id }),
            ),
        ],
        inbox: vec![(inbox_id, InboxStatus::Processed, Some("mapped".to_owned()))],
        reservations: vec![],
        effects: vec![],
        unapplied: vec![],
        settlements_posted: vec![],
    };
    assert!(!changes.is_empty());
    store
        .complete_job(&ingest[0], &changes, T0 + 5)
        .await
        .unwrap();

    let stored = store.order(&order.id).await.unwrap().expect("order stored");
    assert_eq!(stored, order);
    assert_eq!(
        stored.external_id, "5678901234567890123",
        "large id kept exactly"
    );
    assert_eq!(
        stored.lines[0].unit_price.amount.to_string(),
        "19.90",
        "decimal scale kept"
    );
    assert_eq!(stored.total, usd(dec!(58.55)));
    assert!(store.order("nope").await.unwrap().is_none());

    let tl = store.timeline(&entity).await.unwrap();
    assert_eq!(
        tl.iter()
            .map(|e| (e.kind.as_str(), e.at))
            .collect::<Vec<_>>(),
        vec![
            ("order_received", T0 + 20),
            ("order_mapped", T0 + 10),
            ("shipment_recorded", T0 + 30)
        ]
    );
    assert!(tl.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        tl[0].detail,
        json!({ "external_id": "5678901234567890123" })
    );
    assert!(tl.iter().all(|e| e.entity_key == entity));

    assert_eq!(
        store.shipments_for(&order.id).await.unwrap(),
        vec![StoredShipment {
            shipment: shipment.clone(),
            confirmed_at: None
        }]
    );
    assert_eq!(
        store.shipments_recorded_after(T0).await.unwrap(),
        vec![shipment.clone()],
        "recorded when its step completed (T0 + 5)"
    );
    assert!(
        store
            .shipments_recorded_after(T0 + 5)
            .await
            .unwrap()
            .is_empty()
    );
    let inbox = store.inbox_message(inbox_id).await.unwrap().unwrap();
    assert_eq!(
        (inbox.status.as_str(), inbox.note.as_deref()),
        ("processed", Some("mapped"))
    );
    assert_eq!(store.inbox_counts().await.unwrap().processed, 1);
    assert_eq!(store.inbox_counts().await.unwrap().accepted, 0);

    // The step's follow-up job was enqueued with it.
    let validate = claim_all(store, "w1", T0 + 10).await;
    assert_eq!(
        steps(&validate),
        vec![(entity.clone(), "validate".to_owned())]
    );

    // A second order on another channel, written later.
    let amazon = shopify_order("amazon-us", "114-3941689-8772232", OrderStatus::Received);
    store
        .enqueue(&[job("order:amz", "ingest", 1, T0)], T0)
        .await
        .unwrap();
    let j = claim_all(store, "w1", T0 + 20).await;
    assert_eq!(j.len(), 1);
    store
        .complete_job(
            &j[0],
            &Changes {
                orders: vec![amazon.clone()],
                ..Changes::default()
            },
            T0 + 20,
        )
        .await
        .unwrap();

    let ids = |orders: Vec<Order>| orders.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let f = |status: Option<&str>, channel: Option<&str>| OrderFilter {
        status: status.map(str::to_owned),
        channel: channel.map(str::to_owned),
        limit: None,
    };
    assert_eq!(
        ids(store.orders(&f(None, None)).await.unwrap()),
        vec![amazon.id.clone(), order.id.clone()],
        "newest first"
    );
    assert_eq!(
        ids(store.orders(&f(None, Some("shop-us"))).await.unwrap()),
        vec![order.id.clone()]
    );
    assert_eq!(
        ids(store
            .orders(&f(Some("received"), Some("amazon-us")))
            .await
            .unwrap()),
        vec![amazon.id.clone()]
    );
    assert!(
        store
            .orders(&f(Some("shipped"), None))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .orders(&OrderFilter {
                limit: Some(1),
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.order_status_counts().await.unwrap(),
        vec![("received".to_owned(), 2)]
    );

    // Upsert: same id, new status and document; shipment confirmed.
    let mut shipped = order.clone();
    shipped.status = OrderStatus::PartiallyShipped;
    shipped.source_version += 1;
    shipped.erp_ref = Some("SO-000123".to_owned());
    shipped.lines[0].shipped_quantity = 1;
    let confirm = Changes {
        orders: vec![shipped.clone()],
        shipments: vec![(shipment.clone(), Some(T0 + 40))],
        events: vec![event(&entity, T0 + 40, "shipment_confirmed", json!({}))],
        ..Changes::default()
    };
    store
        .complete_job(&validate[0], &confirm, T0 + 40)
        .await
        .unwrap();
    assert_eq!(store.order(&order.id).await.unwrap(), Some(shipped.clone()));
    assert_eq!(
        store.order_status_counts().await.unwrap(),
        vec![
            ("partially_shipped".to_owned(), 1),
            ("received".to_owned(), 1)
        ]
    );
    assert_eq!(
        ids(store
            .orders(&f(Some("partially_shipped"), None))
            .await
            .unwrap()),
        vec![order.id.clone()]
    );
    assert_eq!(
        ids(store
            .orders(&f(Some("received"), Some("shop-us")))
            .await
            .unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(store.orders(&f(None, None)).await.unwrap()),
        vec![order.id.clone(), amazon.id.clone()],
        "updated_at moved"
    );
    assert_eq!(
        store.shipments_for(&order.id).await.unwrap(),
        vec![StoredShipment {
            shipment: shipment.clone(),
            confirmed_at: Some(T0 + 40)
        }]
    );
    assert_eq!(
        store
            .shipment(&shipment.id)
            .await
            .unwrap()
            .unwrap()
            .confirmed_at,
        Some(T0 + 40)
    );
    assert_eq!(store.timeline(&entity).await.unwrap().len(), 4);
    assert!(store.shipments_for(&amazon.id).await.unwrap().is_empty());
}

/// Scenario 6: Inventory: positions, single-location reservation, idempotency,
/// consumption and release.
async fn scenario_inventory(store: &Store) {
    let pos = |sku: &str, location: &str, on_hand| PositionRow {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand,
        reserved: 0,
        source: "erp".to_owned(),
        as_of: T0,
    };
    store
        .set_positions(&[
            pos("SKU-A", "DC-EAST", 5),
            pos("SKU-A", "DC-WEST", 20),
            pos("SKU-B", "DC-EAST", 10),
            pos("SKU-B", "DC-WEST", 10),
            pos("SKU-C", "DC-WEST", 0),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.positions(Some("SKU-A")).await.unwrap(),
        vec![pos("SKU-A", "DC-EAST", 5), pos("SKU-A", "DC-WEST", 20)]
    );
    assert_eq!(store.positions(None).await.unwrap().len(), 5);

    let line = |id: &str, sku: &str, q| ReserveLine {
        line_id: id.to_owned(),
        sku: sku.to_owned(),
        quantity: q,
    };
    let both = vec!["DC-EAST".to_owned(), "DC-WEST".to_owned()];
    let east = vec!["DC-EAST".to_owned()];

    // 3 + 3 of SKU-A exceed DC-EAST's 5 together though each line fits.
    let o1 = [
        line("L1", "SKU-A", 3),
        line("L2", "SKU-A", 3),
        line("L3", "SKU-B", 1),
    ];
    assert_eq!(
        store.reserve("O1", &o1, &both).await.unwrap().as_deref(),
        Some("DC-WEST")
    );
    let reserved = |p: PositionRow| (p.on_hand, p.reserved);
    assert_eq!(reserved(position(store, "SKU-A", "DC-WEST").await), (20, 6));
    assert_eq!(reserved(position(store, "SKU-B", "DC-WEST").await), (10, 1));
    assert_eq!(reserved(position(store, "SKU-A", "DC-EAST").await), (5, 0));
    assert_eq!(reserved(position(store, "SKU-B", "DC-EAST").await), (10, 0));
    let rows = store.reservations("O1").await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (
                r.line_id.as_str(),
                r.sku.as_str(),
                r.location.as_str(),
                r.quantity,
                r.state.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            ("L1", "SKU-A", "DC-WEST", 3, "held"),
            ("L2", "SKU-A", "DC-WEST", 3, "held"),
            ("L3", "SKU-B", "DC-WEST", 1, "held")
        ]
    );

    // Idempotent per order, even with other candidates or lines.
    assert_eq!(
        store.reserve("O1", &o1, &both).await.unwrap().as_deref(),
        Some("DC-WEST")
    );
    assert_eq!(
        store.reserve("O1", &o1, &east).await.unwrap().as_deref(),
        Some("DC-WEST")
    );
    assert_eq!(
        reserved(position(store, "SKU-A", "DC-WEST").await),
        (20, 6),
        "not reserved twice"
    );
    assert_eq!(store.reservations("O1").await.unwrap().len(), 3);

    // First candidate wins when it can serve: exactly all of DC-EAST's SKU-A.
    assert_eq!(
        store
            .reserve("O2", &[line("1", "SKU-A", 5)], &both)
            .await
            .unwrap()
            .as_deref(),
        Some("DC-EAST")
    );
    assert_eq!(reserved(position(store, "SKU-A", "DC-EAST").await), (5, 5));
    // Nothing left at the only candidate.
    assert_eq!(
        store
            .reserve("O3", &[line("1", "SKU-A", 1)], &east)
            .await
            .unwrap(),
        None
    );
    assert!(store.reservations("O3").await.unwrap().is_empty());
    // Unknown SKU / no candidates.
    assert_eq!(
        store
            .reserve("O4", &[line("1", "SKU-ZZZ", 1)], &both)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .reserve("O4", &[line("1", "SKU-B", 1)], &[])
            .await
            .unwrap(),
        None
    );
    // A partly servable location is rolled back: SKU-B fits, SKU-C does not.
    assert_eq!(
        store
            .reserve("O5", &[line("1", "SKU-B", 2), line("2", "SKU-C", 1)], &both)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        reserved(position(store, "SKU-B", "DC-EAST").await),
        (10, 0),
        "rolled back"
    );
    assert_eq!(
        reserved(position(store, "SKU-B", "DC-WEST").await),
        (10, 1),
        "rolled back"
    );
    assert!(store.reservations("O5").await.unwrap().is_empty());

    // A fresh count from the ERP replaces on_hand and keeps reserved.
    store
        .set_positions(&[PositionRow {
            on_hand: 8,
            as_of: T0 + 1,
            ..pos("SKU-A", "DC-EAST", 0)
        }])
        .await
        .unwrap();
    let p = position(store, "SKU-A", "DC-EAST").await;
    assert_eq!((p.on_hand, p.reserved, p.as_of), (8, 5, T0 + 1));
    assert_eq!(
        store
            .reserve("O6", &[line("1", "SKU-A", 3)], &east)
            .await
            .unwrap()
            .as_deref(),
        Some("DC-EAST")
    );
    assert_eq!(
        store
            .reserve("O7", &[line("1", "SKU-A", 1)], &east)
            .await
            .unwrap(),
        None
    );

    // Consume (units shipped) and release (cancel) ride on job completion.
    store
        .enqueue(
            &[
                job("order:O1", "ship", 1, T0),
                job("order:O1", "cancel", 2, T0),
            ],
            T0,
        )
        .await
        .unwrap();
    let ship = claim_all(store, "w1", T0).await;
    let consume = Changes {
        reservations: vec![
            ReservationChange::Consume {
                order_id: "O1".into(),
                line_id: "L1".into(),
                quantity: 3,
            },
            ReservationChange::Consume {
                order_id: "O1".into(),
                line_id: "L2".into(),
                quantity: 1,
            },
        ],
        ..Changes::default()
    };
    store
        .complete_job(&ship[0], &consume, T0 + 10)
        .await
        .unwrap();
    assert_eq!(reserved(position(store, "SKU-A", "DC-WEST").await), (16, 2));
    let rows = store.reservations("O1").await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.line_id.as_str(), r.quantity, r.state.as_str()))
            .collect::<Vec<_>>(),
        vec![("L1", 3, "consumed"), ("L2", 2, "held"), ("L3", 1, "held")]
    );

    let cancel = claim_all(store, "w1", T0 + 20).await;
    assert_eq!(steps(&cancel), vec![("order:O1".into(), "cancel".into())]);
    let release = Changes {
        reservations: vec![ReservationChange::ReleaseOrder {
            order_id: "O1".into(),
        }],
        ..Changes::default()
    };
    store
        .complete_job(&cancel[0], &release, T0 + 20)
        .await
        .unwrap();
    assert_eq!(
        reserved(position(store, "SKU-A", "DC-WEST").await),
        (16, 0),
        "held units given back"
    );
    assert_eq!(reserved(position(store, "SKU-B", "DC-WEST").await), (10, 0));
    let rows = store.reservations("O1").await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.line_id.as_str(), r.state.as_str()))
            .collect::<Vec<_>>(),
        vec![("L1", "consumed"), ("L2", "released"), ("L3", "released")]
    );
    // Other orders untouched.
    assert_eq!(reserved(position(store, "SKU-A", "DC-EAST").await), (8, 8));
    // Every position still satisfies 0 <= reserved <= on_hand.
    for p in store.positions(None).await.unwrap() {
        assert!(0 <= p.reserved && p.reserved <= p.on_hand, "{p:?}");
    }
}

/// Scenario 7a: Two handles, several workers, 500 jobs over 50 entities: every job
/// completes exactly once and each entity's jobs run in enqueue order.
async fn scenario_concurrent_jobs_two_handles(db: &TestDb) {
    const ENTITIES: i64 = 50;
    const PER_ENTITY: i64 = 10;
    const TOTAL: usize = (ENTITIES * PER_ENTITY) as usize;
    const WORKERS: usize = 6;

    let second = db.open_another().await;
    let handles = [db.store.clone(), second.clone()];

    // Interleave entities so every claim batch mixes them.
    let mut jobs = Vec::new();
    for s in 0..PER_ENTITY {
        for e in 0..ENTITIES {
            jobs.push(job(&format!("order:c{e:02}"), &format!("step{s}"), s, T0));
        }
    }
    for chunk in jobs.chunks(100) {
        db.store.enqueue(chunk, T0).await.unwrap();
    }

    #[derive(Default)]
    struct Shared {
        /// Next sequence number each entity may be claimed at.
        next: HashMap<String, i64>,
        /// Entities with a job currently held by a worker.
        in_flight: HashSet<String>,
        completed: HashMap<i64, usize>,
        violations: Vec<String>,
    }
    let shared = Arc::new(Mutex::new(Shared::default()));
    let done = Arc::new(AtomicUsize::new(0));

    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let store = handles[w % 2].clone();
        let shared = shared.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
            while done.load(Ordering::SeqCst) < TOTAL {
                assert!(tokio::time::Instant::now() < deadline, "{owner}: timed out");
                let claimed = store
                    .claim_jobs(&owner, T0, LONG_LEASE, 8)
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                {
                    let mut s = shared.lock().unwrap();
                    for j in &claimed {
                        let expected = s.next.get(&j.entity_key).copied().unwrap_or(0);
                        if seq(j) != expected {
                            s.violations.push(format!(
                                "{} claimed seq {} expecting {expected}",
                                j.entity_key,
                                seq(j)
                            ));
                        }
                        s.next.insert(j.entity_key.clone(), seq(j) + 1);
                        if !s.in_flight.insert(j.entity_key.clone()) {
                            s.violations
                                .push(format!("{} has two jobs in flight", j.entity_key));
                        }
                        if j.attempts != 1 {
                            s.violations
                                .push(format!("job {} claimed with attempts {}", j.id, j.attempts));
                        }
                    }
                }
                for j in claimed {
                    // Released before completing: the next job of the entity
                    // cannot be claimed until this completion commits.
                    shared.lock().unwrap().in_flight.remove(&j.entity_key);
                    let changes = with_events(vec![event(
                        &j.entity_key,
                        T0,
                        "step_done",
                        json!({ "seq": seq(&j), "by": owner }),
                    )]);
                    store
                        .complete_job(&j, &changes, T0)
                        .await
                        .expect("complete");
                    *shared.lock().unwrap().completed.entry(j.id).or_default() += 1;
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker panicked");
    }

    {
        let s = shared.lock().unwrap();
        assert!(
            s.violations.is_empty(),
            "ordering violations: {:#?}",
            s.violations
        );
        assert_eq!(s.completed.len(), TOTAL, "every job completed");
        assert!(s.completed.values().all(|&n| n == 1), "exactly once");
    }
    assert_eq!(done.load(Ordering::SeqCst), TOTAL);
    let stats = second.queue_stats(T0).await.unwrap();
    assert_eq!((stats.ready, stats.running, stats.failed), (0, 0, 0));

    // The durable record agrees: per entity, completions in enqueue order.
    let mut owners = HashSet::new();
    for e in 0..ENTITIES {
        let entity = format!("order:c{e:02}");
        let tl = db.store.timeline(&entity).await.unwrap();
        let seqs: Vec<i64> = tl
            .iter()
            .map(|ev| ev.detail["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, (0..PER_ENTITY).collect::<Vec<_>>(), "{entity}");
        owners.extend(
            tl.iter()
                .map(|ev| ev.detail["by"].as_str().unwrap().to_owned()),
        );
    }
    assert!(
        owners.len() > 1,
        "work was shared between workers: {owners:?}"
    );
    second.close().await;
}

/// Scenario 7b: No oversell: 40 concurrent single-unit reservations against 10 units,
/// spread over two handles.
async fn scenario_no_oversell_two_handles(db: &TestDb) {
    let second = db.open_another().await;
    db.store
        .set_positions(&[PositionRow {
            sku: "SKU-HOT".to_owned(),
            location: "DC-1".to_owned(),
            on_hand: 10,
            reserved: 0,
            source: "erp".to_owned(),
            as_of: T0,
        }])
        .await
        .unwrap();

    // A watcher checks reserved <= on_hand while the race runs.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let store = second.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = 0;
            while !stop.load(Ordering::SeqCst) {
                for p in store.positions(Some("SKU-HOT")).await.expect("positions") {
                    assert!(p.reserved <= p.on_hand, "oversold: {p:?}");
                }
                samples += 1;
                tokio::task::yield_now().await;
            }
            samples
        })
    };

    let barrier = Arc::new(tokio::sync::Barrier::new(40));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            second.clone()
        };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let order = format!("HOT-{i:02}");
            let lines = [ReserveLine {
                line_id: "1".to_owned(),
                sku: "SKU-HOT".to_owned(),
                quantity: 1,
            }];
            let got = store
                .reserve(&order, &lines, &["DC-1".to_owned()])
                .await
                .expect("reserve");
            (order, got)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (order, got) = t.await.expect("reserve task");
        match got.as_deref() {
            Some("DC-1") => winners.push(order),
            None => {}
            other => panic!("unexpected location {other:?}"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    let samples = watcher.await.expect("watcher");
    assert!(samples > 0);

    assert_eq!(winners.len(), 10, "exactly the stock is sold: {winners:?}");
    let p = position(&second, "SKU-HOT", "DC-1").await;
    assert_eq!((p.on_hand, p.reserved), (10, 10));
    let mut held = 0;
    for i in 0..40 {
        let order = format!("HOT-{i:02}");
        let rows = db.store.reservations(&order).await.unwrap();
        assert_eq!(rows.len(), usize::from(winners.contains(&order)), "{order}");
        held += rows.iter().map(|r| r.quantity).sum::<i64>();
    }
    assert_eq!(held, 10);

    // The same order reserved concurrently from both handles (a re-run
    // racing the original) holds its units once. A loser may error (the
    // engine retries it) but never double-reserves.
    db.store
        .set_positions(&[PositionRow {
            sku: "SKU-ONE".to_owned(),
            location: "DC-1".to_owned(),
            on_hand: 100,
            reserved: 0,
            source: "erp".to_owned(),
            as_of: T0,
        }])
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(6));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            second.clone()
        };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let lines = [
                ReserveLine {
                    line_id: "1".to_owned(),
                    sku: "SKU-ONE".to_owned(),
                    quantity: 3,
                },
                ReserveLine {
                    line_id: "2".to_owned(),
                    sku: "SKU-ONE".to_owned(),
                    quantity: 4,
                },
            ];
            store
                .reserve("SAME-ORDER", &lines, &["DC-1".to_owned()])
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("reserve task") {
            Ok(loc) => {
                assert_eq!(loc.as_deref(), Some("DC-1"));
                ok += 1;
            }
            Err(e) => assert!(matches!(e, StoreError::Database(_)), "{e:?}"),
        }
    }
    assert!(ok >= 1);
    assert_eq!(
        position(&second, "SKU-ONE", "DC-1").await.reserved,
        7,
        "held once"
    );
    assert_eq!(db.store.reservations("SAME-ORDER").await.unwrap().len(), 2);
    second.close().await;
}

/// Scenario 8: Migrations are idempotent and data survives reopening.
async fn scenario_migrations_idempotent(db: &TestDb) {
    let store = &db.store;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.set_meta("schema_note", "v1").await.unwrap();
    store.set_meta("schema_note", "v2").await.unwrap();
    let order = shopify_order("shop-us", "5678901234567890123", OrderStatus::Validated);
    store
        .enqueue(
            &[
                job("order:m", "ingest", 1, T0),
                job("order:m", "next", 2, T0),
            ],
            T0,
        )
        .await
        .unwrap();
    let j = claim_all(store, "w1", T0).await;
    store
        .complete_job(
            &j[0],
            &Changes {
                orders: vec![order.clone()],
                ..Changes::default()
            },
            T0,
        )
        .await
        .unwrap();
    let accepted = store
        .accept_messages(&[msg("channel:shop-us", "k1", "order:m", T0)])
        .await
        .unwrap();
    store.close().await;

    // Reopen (runs the migrations again) and find everything.
    let reopened = Store::open(&db.url).await.expect("reopen");
    reopened.migrate().await.unwrap();
    assert_eq!(reopened.backend(), store.backend());
    assert_eq!(
        reopened.meta("schema_note").await.unwrap().as_deref(),
        Some("v2")
    );
    assert_eq!(reopened.meta("missing").await.unwrap(), None);
    assert_eq!(reopened.order(&order.id).await.unwrap(), Some(order));
    assert_eq!(
        reopened
            .accept_messages(&[msg("channel:shop-us", "k1", "order:m", T0)])
            .await
            .unwrap()[0],
        match accepted[0] {
            Accepted::New(id) => Accepted::Duplicate(id),
            other => panic!("{other:?}"),
        }
    );
    let open: BTreeMap<String, String> = reopened
        .open_jobs("order:m")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, s, st)| (s, st))
        .collect();
    assert_eq!(
        open,
        BTreeMap::from([
            ("next".to_owned(), "ready".to_owned()),
            ("ingest_order".to_owned(), "ready".to_owned())
        ])
    );
    reopened.close().await;
}

/// Regression: the engine uses one owner name per hub process for all its
/// tasks. When a slow task's lease expires and the same hub re-claims the job,
/// the slow task's stale `Job` still completes (only `lease_owner` is
/// compared), so its writes land while the re-run is in flight.
async fn reclaimed_job_cannot_be_completed_by_its_stale_worker(store: &Store) {
    let e = "order:S";
    store
        .enqueue(&[job(e, "post_erp", 1, T0)], T0)
        .await
        .unwrap();
    let slow = store.claim_jobs("hub-1", T0, 1_000, 10).await.unwrap();
    let rerun = store
        .claim_jobs("hub-1", T0 + 1_001, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(
        (rerun.len(), rerun[0].id, rerun[0].attempts),
        (1, slow[0].id, 2),
        "re-claimed"
    );
    let stale = with_events(vec![event(
        e,
        T0 + 1_100,
        "erp_posted",
        json!({ "by": "slow task" }),
    )]);
    let res = store.complete_job(&slow[0], &stale, T0 + 1_100).await;
    assert!(
        matches!(res, Err(StoreError::LeaseLost(_))),
        "stale claim completed: {res:?}"
    );
    assert!(store.timeline(e).await.unwrap().is_empty());
}

/// Regression: `claim_jobs` once looked only at *earlier* jobs of the entity, so a
/// replayed (earlier) job is claimable while a later job of the same entity
/// is running: two steps of one order run at once and may overwrite each
/// other's order document.
async fn replayed_job_waits_for_running_job_of_its_entity(store: &Store) {
    let e = "order:P";
    store
        .enqueue(&[job(e, "post_erp", 1, T0), job(e, "release", 2, T0)], T0)
        .await
        .unwrap();
    let first = claim_all(store, "w1", T0).await;
    let ex = NewException {
        entity_key: e.to_owned(),
        channel: Some("shop-us".to_owned()),
        step: "post_erp".to_owned(),
        class: ExceptionClass::Permanent,
        reason: "erp refused".to_owned(),
        payload: json!({}),
        at: T0,
    };
    store
        .fail_job(&first[0], &ex, &Changes::default())
        .await
        .unwrap();
    let running = claim_all(store, "w1", T0 + 1).await;
    assert_eq!(steps(&running), vec![(e.into(), "release".into())]);
    let replayed = store
        .replay_exceptions(&ExceptionFilter::default(), "ops", T0 + 2)
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    let both = claim_all(store, "w2", T0 + 3).await;
    assert!(
        both.is_empty(),
        "claimed while {e} has a running job: {both:?}"
    );
}

/// Effects a step applied are resolved in the same transaction as the
/// step's completion; a step that lost its lease resolves nothing.
async fn scenario_effects_resolved_with_their_step(store: &Store) {
    let e = "order:FX";
    for key in ["erp:sales_order:FX", "warehouse:release:FX"] {
        store
            .begin_effect(&NewEffect {
                key: key.to_owned(),
                target: "erp".to_owned(),
                kind: "k".to_owned(),
                entity_key: e.to_owned(),
                at: T0,
            })
            .await
            .unwrap();
    }
    store
        .enqueue(&[job(e, "accept_in_erp", 1, T0)], T0)
        .await
        .unwrap();
    let claimed = claim_all(store, "w1", T0).await;
    let resolution = |key: &str, id: &str| EffectResolution {
        key: key.to_owned(),
        status: EffectStatus::Applied,
        result: Some(json!({ "id": id })),
        at: T0 + 10,
    };
    let changes = Changes {
        effects: vec![
            resolution("erp:sales_order:FX", "SO-1"),
            resolution("warehouse:release:FX", "R-1"),
        ],
        ..Changes::default()
    };
    store
        .complete_job(&claimed[0], &changes, T0 + 10)
        .await
        .unwrap();
    let so = store.effect("erp:sales_order:FX").await.unwrap().unwrap();
    assert_eq!(
        (so.status, so.result, so.resolved_at),
        (
            EffectStatus::Applied,
            Some(json!({ "id": "SO-1" })),
            Some(T0 + 10)
        )
    );
    let rel = store.effect("warehouse:release:FX").await.unwrap().unwrap();
    assert_eq!(rel.result, Some(json!({ "id": "R-1" })));
    // A stale completion (lease lost) must not resolve anything.
    store
        .begin_effect(&NewEffect {
            key: "channel:ship_confirm:FX".to_owned(),
            target: "channel".to_owned(),
            kind: "k".to_owned(),
            entity_key: e.to_owned(),
            at: T0,
        })
        .await
        .unwrap();
    store
        .enqueue(&[job(e, "confirm", 2, T0 + 20)], T0 + 20)
        .await
        .unwrap();
    let first = store.claim_jobs("w1", T0 + 20, 1_000, 10).await.unwrap();
    let again = store.claim_jobs("w2", T0 + 5_000, 1_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    let stale = Changes {
        effects: vec![resolution("channel:ship_confirm:FX", "SC-1")],
        ..Changes::default()
    };
    assert!(
        store
            .complete_job(&first[0], &stale, T0 + 5_001)
            .await
            .is_err()
    );
    let sc = store
        .effect("channel:ship_confirm:FX")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sc.status, sc.result), (EffectStatus::Pending, None));
}

/// Fallback and re-routing move what an order holds from one warehouse to
/// the first other that has the stock, all or nothing, and say where it is.
async fn scenario_move_reservation(store: &Store) {
    let pos = |sku: &str, location: &str, on_hand| PositionRow {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand,
        reserved: 0,
        source: "erp".to_owned(),
        as_of: T0,
    };
    store
        .set_positions(&[
            pos("SKU-A", "EAST", 10),
            pos("SKU-B", "EAST", 10),
            pos("SKU-A", "WEST", 1),
            pos("SKU-B", "WEST", 10),
            pos("SKU-A", "NORTH", 10),
            pos("SKU-B", "NORTH", 10),
        ])
        .await
        .unwrap();
    let line = |id: &str, sku: &str, q| ReserveLine {
        line_id: id.to_owned(),
        sku: sku.to_owned(),
        quantity: q,
    };
    let east = vec!["EAST".to_owned()];
    let o = [line("1", "SKU-A", 2), line("2", "SKU-B", 3)];
    assert_eq!(
        store.reserve("O", &o, &east).await.unwrap().as_deref(),
        Some("EAST")
    );
    let held = |p: PositionRow| p.reserved;
    // WEST lacks SKU-A: skipped whole; NORTH takes both lines.
    let others = vec!["EAST".to_owned(), "WEST".to_owned(), "NORTH".to_owned()];
    assert_eq!(
        store
            .move_reservation("O", "EAST", &others)
            .await
            .unwrap()
            .as_deref(),
        Some("NORTH")
    );
    assert_eq!(held(position(store, "SKU-A", "EAST").await), 0);
    assert_eq!(held(position(store, "SKU-B", "EAST").await), 0);
    assert_eq!(
        held(position(store, "SKU-B", "WEST").await),
        0,
        "no partial move"
    );
    assert_eq!(held(position(store, "SKU-A", "NORTH").await), 2);
    assert_eq!(held(position(store, "SKU-B", "NORTH").await), 3);
    assert!(
        store
            .reservations("O")
            .await
            .unwrap()
            .iter()
            .all(|r| r.location == "NORTH")
    );
    // Again (a step run twice): nothing at EAST, the order holds at NORTH.
    assert_eq!(
        store
            .move_reservation("O", "EAST", &others)
            .await
            .unwrap()
            .as_deref(),
        Some("NORTH")
    );
    assert_eq!(held(position(store, "SKU-A", "NORTH").await), 2);
    // Nowhere to go: everything stays.
    assert_eq!(
        store
            .move_reservation("O", "NORTH", &["WEST".to_owned()])
            .await
            .unwrap(),
        None
    );
    assert_eq!(held(position(store, "SKU-A", "NORTH").await), 2);
    assert_eq!(held(position(store, "SKU-B", "WEST").await), 0);
}

/// An order no single warehouse can serve is split by whole lines, in
/// candidate order, within the location limit — all lines or none.
async fn scenario_reserve_split(store: &Store) {
    let pos = |sku: &str, location: &str, on_hand| PositionRow {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand,
        reserved: 0,
        source: "erp".to_owned(),
        as_of: T0,
    };
    store
        .set_positions(&[
            pos("SKU-A", "EAST", 5),
            pos("SKU-B", "WEST", 5),
            pos("SKU-C", "NORTH", 5),
        ])
        .await
        .unwrap();
    let line = |id: &str, sku: &str, q| ReserveLine {
        line_id: id.to_owned(),
        sku: sku.to_owned(),
        quantity: q,
    };
    let all = vec!["EAST".to_owned(), "WEST".to_owned(), "NORTH".to_owned()];
    let ab = [line("1", "SKU-A", 2), line("2", "SKU-B", 2)];
    assert_eq!(store.reserve("AB", &ab, &all).await.unwrap(), None);
    let placed = store.reserve_split("AB", &ab, &all, 2).await.unwrap();
    assert_eq!(
        placed,
        Some(vec![
            ("1".to_owned(), "EAST".to_owned()),
            ("2".to_owned(), "WEST".to_owned())
        ])
    );
    assert_eq!(position(store, "SKU-A", "EAST").await.reserved, 2);
    assert_eq!(position(store, "SKU-B", "WEST").await.reserved, 2);
    // Again: what it holds.
    assert_eq!(
        store.reserve_split("AB", &ab, &all, 2).await.unwrap(),
        placed
    );
    assert_eq!(position(store, "SKU-A", "EAST").await.reserved, 2);
    // Three locations needed, two allowed: nothing is reserved.
    let abc = [
        line("1", "SKU-A", 1),
        line("2", "SKU-B", 1),
        line("3", "SKU-C", 1),
    ];
    assert_eq!(
        store.reserve_split("ABC", &abc, &all, 2).await.unwrap(),
        None
    );
    assert_eq!(position(store, "SKU-A", "EAST").await.reserved, 2);
    assert_eq!(position(store, "SKU-C", "NORTH").await.reserved, 0);
    assert!(store.reservations("ABC").await.unwrap().is_empty());
    // A line that fits nowhere: none.
    let big = [line("1", "SKU-A", 4), line("2", "SKU-B", 1)];
    assert_eq!(
        store.reserve_split("BIG", &big, &all, 3).await.unwrap(),
        None
    );
    assert_eq!(position(store, "SKU-B", "WEST").await.reserved, 2);
}

/// Capacity rules count each warehouse's applied releases since a moment.
async fn scenario_releases_since(store: &Store) {
    let effect = |key: &str, target: &str, kind: &str, at| NewEffect {
        key: key.to_owned(),
        target: target.to_owned(),
        kind: kind.to_owned(),
        entity_key: "order:x".to_owned(),
        at,
    };
    for (key, target, kind, at, applied) in [
        ("r1", "warehouse:east", "release", T0, true),
        ("r2", "warehouse:east", "release", T0 + 10, true),
        ("r3", "warehouse:west", "release", T0 + 20, true),
        ("r4", "warehouse:west", "release", T0 + 30, false),
        ("r5", "warehouse:east", "release", T0 - 1_000, true),
        ("c1", "channel:webstore", "ship_confirm", T0, true),
    ] {
        store
            .begin_effect(&effect(key, target, kind, at))
            .await
            .unwrap();
        if applied {
            store
                .resolve_effect(key, EffectStatus::Applied, None, at)
                .await
                .unwrap();
        }
    }
    assert_eq!(
        store.releases_since(T0).await.unwrap(),
        vec![("east".to_owned(), 2), ("west".to_owned(), 1)]
    );
}

/// A warehouse's daily capacity as slots: a request takes one once however
/// often it asks, days count apart, a full day refuses, and a slot given
/// back is free again.
async fn scenario_release_slots(store: &Store) {
    let day = T0;
    let next = T0 + 86_400_000;
    assert!(
        store
            .claim_release_slot("east", day, 2, "r1")
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_release_slot("east", day, 2, "r1")
            .await
            .unwrap(),
        "asking again keeps the slot"
    );
    assert!(
        store
            .claim_release_slot("east", day, 2, "r2")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_release_slot("east", day, 2, "r3")
            .await
            .unwrap(),
        "two of two taken"
    );
    assert!(
        store
            .claim_release_slot("west", day, 2, "w1")
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_release_slot("east", next, 2, "r4")
            .await
            .unwrap()
    );
    assert_eq!(
        store.release_slots_used(day).await.unwrap(),
        vec![("east".to_owned(), 2), ("west".to_owned(), 1)]
    );
    store.give_back_release_slot("r2").await.unwrap();
    store.give_back_release_slot("never-claimed").await.unwrap();
    assert!(
        store
            .claim_release_slot("east", day, 2, "r3")
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_release_slot("east", day, 2, "r2")
            .await
            .unwrap()
    );
    assert_eq!(
        store.release_slots_used(day).await.unwrap(),
        vec![("east".to_owned(), 2), ("west".to_owned(), 1)]
    );
    assert_eq!(
        store.release_slots_used(next).await.unwrap(),
        vec![("east".to_owned(), 1)]
    );
}

/// Racers on two handles claim a warehouse's last slots of the day: exactly
/// its capacity is taken, however they interleave, and a request claimed by
/// two racers at once takes one slot.
async fn scenario_release_slots_racers_two_handles(db: &TestDb) {
    const CAPACITY: u32 = 20;
    const TAKEN: u32 = 15;
    const RACERS: usize = 48;
    const REQUESTS: usize = 32;
    let second = db.open_another().await;
    for i in 0..TAKEN {
        assert!(
            db.store
                .claim_release_slot("east", T0, CAPACITY, &format!("early-{i}"))
                .await
                .unwrap()
        );
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            second.clone()
        };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            // Some requests are claimed by two racers at once (a step run
            // again while the first run is still going).
            let request = format!("race-{:02}", i % REQUESTS);
            barrier.wait().await;
            let got = store
                .claim_release_slot("east", T0, CAPACITY, &request)
                .await
                .expect("claim");
            (request, got)
        }));
    }
    let mut by_request: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for t in tasks {
        let (request, got) = t.await.expect("claim task");
        by_request.entry(request).or_default().push(got);
    }
    for (request, got) in &by_request {
        assert!(
            got.iter().all(|g| *g == got[0]),
            "{request}: one answer for one request: {got:?}"
        );
    }
    let winners: Vec<&String> = by_request
        .iter()
        .filter(|(_, got)| got[0])
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        winners.len(),
        (CAPACITY - TAKEN) as usize,
        "exactly the free slots are taken: {winners:?}"
    );
    assert_eq!(
        second.release_slots_used(T0).await.unwrap(),
        vec![("east".to_owned(), i64::from(CAPACITY))]
    );
}

/// Scenario: the availability outbox. Owed targets keep the time of their
/// first unacknowledged change, an acknowledgement of an older target does
/// not clear a newer one, refusals are kept with the reason, and stock
/// changes are reported to the sync.
async fn scenario_availability_outbox(store: &Store) {
    let owe = |channel: &str, sku: &str, target, cadence: &str, at| OwedAvailability {
        channel: channel.to_owned(),
        sku: sku.to_owned(),
        target,
        cadence: cadence.to_owned(),
        changed_at: at,
    };
    store.take_stock_changes();
    store
        .set_positions(&[PositionRow {
            sku: "SKU-A".into(),
            location: "DC-1".into(),
            on_hand: 5,
            reserved: 0,
            source: "erp".into(),
            as_of: T0,
        }])
        .await
        .unwrap();
    let line = ReserveLine {
        line_id: "1".into(),
        sku: "SKU-A".into(),
        quantity: 2,
    };
    store
        .reserve("O-1", std::slice::from_ref(&line), &["DC-1".to_owned()])
        .await
        .unwrap();
    let changes = store.take_stock_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes["SKU-A"].units_reserved, 2);
    assert!(store.take_stock_changes().is_empty(), "taken once");

    store
        .owe_availability(&[
            owe("amazon", "SKU-A", 3, "batch", T0),
            owe("shopify", "SKU-A", 3, "urgent", T0),
            owe("amazon", "SKU-B", 0, "urgent", T0 + 5),
        ])
        .await
        .unwrap();
    // A newer target before the push: lag still counts from T0, and a
    // batch change does not demote an urgent one.
    store
        .owe_availability(&[
            owe("amazon", "SKU-A", 2, "batch", T0 + 100),
            owe("shopify", "SKU-A", 2, "batch", T0 + 100),
        ])
        .await
        .unwrap();
    let due = store
        .owed_availability("amazon", false, T0 + 200, 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter()
            .map(|r| (r.sku.as_str(), r.target, r.cadence.as_deref(), r.changed_at))
            .collect::<Vec<_>>(),
        vec![
            ("SKU-B", Some(0), Some("urgent"), Some(T0 + 5)),
            ("SKU-A", Some(2), Some("batch"), Some(T0)),
        ],
        "urgent first"
    );
    assert_eq!(
        store.owed_summary("amazon").await.unwrap(),
        (2, Some(T0)),
        "counted with the oldest change"
    );
    assert_eq!(store.owed_summary("walmart").await.unwrap(), (0, None));
    let urgent = store
        .owed_availability("amazon", true, T0 + 200, 10)
        .await
        .unwrap();
    assert_eq!(urgent.len(), 1);
    let shopify = store
        .owed_availability("shopify", true, T0 + 200, 10)
        .await
        .unwrap();
    assert_eq!(
        shopify[0].cadence.as_deref(),
        Some("urgent"),
        "stays urgent"
    );

    // The channel acknowledged 3 (sent before the newer target): the
    // target of 2 is still owed.
    store
        .settle_availability(
            "amazon",
            &[
                AvailabilitySettlement::Acknowledged {
                    sku: "SKU-A".into(),
                    quantity: 3,
                    at: T0 + 300,
                },
                AvailabilitySettlement::Refused {
                    sku: "SKU-B".into(),
                    reason: "unknown listing".into(),
                    at: T0 + 300,
                },
            ],
        )
        .await
        .unwrap();
    let rows = store.availability(Some("amazon"), None).await.unwrap();
    assert_eq!(rows.len(), 2);
    let a = &rows[0];
    assert_eq!(
        (a.sku.as_str(), a.published, a.target, a.last_lag_ms),
        ("SKU-A", Some(3), Some(2), Some(300))
    );
    let b = &rows[1];
    assert_eq!(
        (b.target, b.last_error.as_deref()),
        (None, Some("unknown listing")),
        "a refusal is kept, nothing owed"
    );
    // A failure backs off; a stale compare records what the channel holds.
    store
        .settle_availability(
            "amazon",
            &[AvailabilitySettlement::Stale {
                sku: "SKU-A".into(),
                current: Some(7),
                retry_at: T0 + 1_000,
            }],
        )
        .await
        .unwrap();
    assert!(
        store
            .owed_availability("amazon", false, T0 + 999, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .owed_availability("amazon", false, T0 + 1_000, 10)
        .await
        .unwrap();
    assert_eq!((again[0].published, again[0].attempts), (Some(7), 1));
    store
        .settle_availability(
            "amazon",
            &[AvailabilitySettlement::Acknowledged {
                sku: "SKU-A".into(),
                quantity: 2,
                at: T0 + 1_100,
            }],
        )
        .await
        .unwrap();
    let a = &store
        .availability(Some("amazon"), Some(&["SKU-A".to_owned()]))
        .await
        .unwrap()[0];
    assert_eq!(
        (
            a.published,
            a.target,
            a.changed_at,
            a.last_lag_ms,
            a.attempts
        ),
        (Some(2), None, None, Some(1_100), 0)
    );
    assert_eq!(store.availability(None, None).await.unwrap().len(), 3);

    store
        .record_stock_reports(&[StockReport {
            sku: "SKU-A".into(),
            location: "DC-1".into(),
            source: "warehouse:west".into(),
            on_hand: 99,
            as_of: T0,
            received_at: T0 + 5,
            note: "DC-1 takes stock from erp".into(),
        }])
        .await
        .unwrap();
    let kept = store.stock_reports("SKU-A", 10).await.unwrap();
    assert_eq!((kept.len(), kept[0].on_hand), (1, 99));
    assert_eq!(
        position(store, "SKU-A", "DC-1").await.on_hand,
        5,
        "not applied"
    );
}

/// Scenario: updates the system-of-record registry refused are kept with
/// the step that refused them — a failed step's (an exception) and a
/// completed step's alike — listed newest first by kind, and counted per
/// kind and source together with the stock rows kept.
async fn scenario_unapplied_updates(store: &Store) {
    let kept = |kind: &str, source: &str, entity: &str, at: i64| UnappliedUpdate {
        kind: kind.to_owned(),
        source: source.to_owned(),
        authority: "warehouse:east".to_owned(),
        entity_key: entity.to_owned(),
        inbox_id: Some(at - T0),
        note: format!("{kind} from {source}"),
        received_at: at,
    };
    store
        .enqueue(
            &[
                job("order:U1", "warehouse_shipment", 1, T0),
                job("order:U2", "channel_message", 1, T0),
            ],
            T0,
        )
        .await
        .unwrap();
    let jobs = claim_all(store, "w", T0).await;
    assert_eq!(jobs.len(), 2);
    let refused = Changes {
        unapplied: vec![kept("shipments", "warehouse:west", "order:U1", T0 + 1)],
        ..Changes::default()
    };
    let ex = NewException {
        entity_key: "order:U1".to_owned(),
        channel: None,
        step: "warehouse_shipment".to_owned(),
        class: ExceptionClass::Authority,
        reason: "not the order's warehouse".to_owned(),
        payload: json!({}),
        at: T0 + 1,
    };
    store.fail_job(&jobs[0], &ex, &refused).await.unwrap();
    let taken = Changes {
        unapplied: vec![
            kept("customer", "channel:shop", "order:U2", T0 + 2),
            kept("shipments", "warehouse:north", "order:U2", T0 + 3),
        ],
        ..Changes::default()
    };
    store.complete_job(&jobs[1], &taken, T0 + 3).await.unwrap();
    store
        .record_stock_reports(&[StockReport {
            sku: "SKU-U".into(),
            location: "west".into(),
            source: "erp".into(),
            on_hand: 7,
            as_of: T0,
            received_at: T0 + 4,
            note: "west takes stock from warehouse:west".into(),
        }])
        .await
        .unwrap();

    let shipments = store
        .unapplied_updates(Some("shipments"), 10)
        .await
        .unwrap();
    assert_eq!(
        shipments
            .iter()
            .map(|u| (u.source.as_str(), u.entity_key.as_str(), u.inbox_id))
            .collect::<Vec<_>>(),
        vec![
            ("warehouse:north", "order:U2", Some(3)),
            ("warehouse:west", "order:U1", Some(1)),
        ]
    );
    assert_eq!(
        shipments[1],
        kept("shipments", "warehouse:west", "order:U1", T0 + 1)
    );
    assert_eq!(store.unapplied_updates(None, 1).await.unwrap().len(), 1);
    assert_eq!(
        store.unapplied_update_counts().await.unwrap(),
        vec![
            ("customer".to_owned(), "channel:shop".to_owned(), 1),
            ("shipments".to_owned(), "warehouse:north".to_owned(), 1),
            ("shipments".to_owned(), "warehouse:west".to_owned(), 1),
            ("stock".to_owned(), "erp".to_owned(), 1),
        ]
    );
    let latest = store.latest_stock_reports(5).await.unwrap();
    assert_eq!((latest.len(), latest[0].on_hand), (1, 7));
}

/// Scenario: orders from four channels race for low stock on three SKUs at
/// two locations, from two store handles, while buyers cancel and stock is
/// replenished. Units held never exceed units on hand at any sample, and at
/// the end what is held is exactly what the winners asked for.
async fn scenario_no_oversell_four_channels(db: &TestDb) {
    let second = db.open_another().await;
    let skus = ["LOW-1", "LOW-2", "LOW-3"];
    let locations = ["DC-1".to_owned(), "DC-2".to_owned()];
    let mut seed = Vec::new();
    for sku in skus {
        for (location, on_hand) in locations.iter().zip([2, 3]) {
            seed.push(PositionRow {
                sku: sku.to_owned(),
                location: location.clone(),
                on_hand,
                reserved: 0,
                source: "erp".into(),
                as_of: T0,
            });
        }
    }
    db.store.set_positions(&seed).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let store = second.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = 0;
            while !stop.load(Ordering::SeqCst) {
                for p in store.positions(None).await.expect("positions") {
                    assert!(
                        0 <= p.reserved && p.reserved <= p.on_hand,
                        "oversold: {p:?}"
                    );
                }
                samples += 1;
                tokio::task::yield_now().await;
            }
            samples
        })
    };

    let channels = ["amazon", "walmart", "shopify", "regional"];
    let barrier = Arc::new(tokio::sync::Barrier::new(channels.len() * 12 + 1));
    let mut tasks = Vec::new();
    for (c, channel) in channels.iter().enumerate() {
        for i in 0..12 {
            let store = if (c + i) % 2 == 0 {
                db.store.clone()
            } else {
                second.clone()
            };
            let barrier = barrier.clone();
            let locations = locations.clone();
            let order = format!("{channel}-{i:02}");
            let sku = skus[(c + i) % skus.len()].to_owned();
            let quantity = 1 + (i as i64 % 2);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let line = ReserveLine {
                    line_id: "1".into(),
                    sku: sku.clone(),
                    quantity,
                };
                let got = store
                    .reserve(&order, std::slice::from_ref(&line), &locations)
                    .await
                    .expect("reserve");
                // Every third winner is cancelled by its buyer.
                if got.is_some() && i % 3 == 0 {
                    store
                        .enqueue(&[job(&format!("order:{order}"), "cancel", 0, T0)], T0)
                        .await
                        .expect("enqueue");
                    return (order, sku, quantity, got, true);
                }
                (order, sku, quantity, got, false)
            }));
        }
    }
    // Replenishment races the orders: one more unit of LOW-1 at DC-2.
    let replenish = {
        let store = db.store.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            store
                .set_positions(&[PositionRow {
                    sku: "LOW-1".into(),
                    location: "DC-2".into(),
                    on_hand: 4,
                    reserved: 0,
                    source: "erp".into(),
                    as_of: T0 + 1,
                }])
                .await
                .expect("replenish");
        })
    };
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("order task"));
    }
    replenish.await.unwrap();
    // The cancellations run as jobs, releasing what their orders held.
    let cancels = claim_all(&db.store, "w1", T0 + 10).await;
    for j in &cancels {
        let order_id = j.entity_key.trim_start_matches("order:").to_owned();
        let release = Changes {
            reservations: vec![ReservationChange::ReleaseOrder { order_id }],
            ..Changes::default()
        };
        db.store.complete_job(j, &release, T0 + 10).await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    assert!(watcher.await.expect("watcher") > 0);

    let won: Vec<_> = results.iter().filter(|r| r.3.is_some()).collect();
    assert!(
        !won.is_empty() && won.len() < results.len(),
        "the race had losers"
    );
    assert_eq!(cancels.len(), won.iter().filter(|r| r.4).count());
    for sku in skus {
        let positions: Vec<PositionRow> = db.store.positions(Some(sku)).await.unwrap();
        let held: i64 = positions.iter().map(|p| p.reserved).sum();
        let on_hand: i64 = positions.iter().map(|p| p.on_hand).sum();
        let expected: i64 = won.iter().filter(|r| r.1 == sku && !r.4).map(|r| r.2).sum();
        assert_eq!(
            held, expected,
            "{sku}: held is what the kept winners asked for"
        );
        assert!(held <= on_hand, "{sku}: {held} held of {on_hand}");
        // The losers lost because too little was left for them, not by accident.
        let sold_before_cancel: i64 = won.iter().filter(|r| r.1 == sku).map(|r| r.2).sum();
        assert!(
            sold_before_cancel <= on_hand,
            "{sku}: {sold_before_cancel} sold of {on_hand}"
        );
    }
    second.close().await;
}

/// Scenario: the units reserved per SKU by orders taken in since a moment,
/// whatever became of the reservations (the sync's velocity at start), as
/// i64 on both backends.
async fn scenario_units_reserved_since(store: &Store) {
    store
        .set_positions(&[
            PositionRow {
                sku: "TEE-BLK-M".to_owned(),
                location: "EAST".to_owned(),
                on_hand: 50,
                reserved: 0,
                source: "erp".to_owned(),
                as_of: T0,
            },
            PositionRow {
                sku: "MUG-12OZ".to_owned(),
                location: "EAST".to_owned(),
                on_hand: 50,
                reserved: 0,
                source: "erp".to_owned(),
                as_of: T0,
            },
        ])
        .await
        .unwrap();
    let east = vec!["EAST".to_owned()];
    for (external, at) in [("old", T0 - 10_000), ("a", T0), ("b", T0 + 5_000)] {
        let order = shopify_order("shopify", external, OrderStatus::Received);
        store
            .enqueue(&[job(&format!("order:{}", order.id), "ingest", 1, at)], at)
            .await
            .unwrap();
        let claimed = claim_all(store, "w", at).await;
        store
            .complete_job(
                &claimed[0],
                &Changes {
                    orders: vec![order.clone()],
                    ..Changes::default()
                },
                at,
            )
            .await
            .unwrap();
        let lines: Vec<ReserveLine> = order
            .lines
            .iter()
            .map(|l| ReserveLine {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                quantity: i64::from(l.quantity),
            })
            .collect();
        assert!(
            store
                .reserve(&order.id, &lines, &east)
                .await
                .unwrap()
                .is_some()
        );
        if external == "b" {
            // Cancelled after: the sale still happened.
            let cancelled = Changes {
                reservations: vec![ReservationChange::ReleaseOrder {
                    order_id: order.id.clone(),
                }],
                ..Changes::default()
            };
            store
                .enqueue(&[job(&format!("order:{}", order.id), "cancel", 2, at)], at)
                .await
                .unwrap();
            let claimed = claim_all(store, "w", at).await;
            store
                .complete_job(&claimed[0], &cancelled, at)
                .await
                .unwrap();
        }
    }
    let got: Vec<(String, i64, i64)> = store
        .units_reserved_since(T0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.sku, r.at, r.units))
        .collect();
    assert_eq!(
        got,
        vec![
            ("MUG-12OZ".to_owned(), T0, 1),
            ("TEE-BLK-M".to_owned(), T0, 2),
            ("MUG-12OZ".to_owned(), T0 + 5_000, 1),
            ("TEE-BLK-M".to_owned(), T0 + 5_000, 2),
        ]
    );
}

/// Scenario: the queue's age is that of the oldest job due: a job set to
/// run later (a backoff, a wait of days) does not make the queue look late.
async fn scenario_queue_age_counts_due_jobs(store: &Store) {
    let day = 86_400_000;
    // Created a day ago, due in a day: waiting, not late.
    store
        .enqueue(&[job("order:P", "p1", 1, T0 + day)], T0 - day)
        .await
        .unwrap();
    let stats = store.queue_stats(T0).await.unwrap();
    assert_eq!(
        (stats.ready, stats.oldest_ready_age_ms),
        (1, 0),
        "{stats:?}"
    );
    // Due since half a second: half a second late.
    store
        .enqueue(&[job("order:Q", "q1", 1, T0)], T0)
        .await
        .unwrap();
    let stats = store.queue_stats(T0 + 500).await.unwrap();
    assert_eq!(
        (stats.ready, stats.oldest_ready_age_ms),
        (2, 500),
        "{stats:?}"
    );
    // Once the waiting job falls due, its whole age counts.
    let stats = store.queue_stats(T0 + day).await.unwrap();
    assert_eq!(stats.oldest_ready_age_ms, 2 * day, "{stats:?}");
}

fn new_key(name: &str, hash: &str, scopes: &[ApiScope]) -> NewApiKey {
    NewApiKey {
        name: name.to_owned(),
        secret_sha256: hash.to_owned(),
        scopes: scopes.to_vec(),
        rate_per_sec: Some(50),
        daily_quota: None,
        expires_at: Some(T0 + 90 * 86_400_000),
        created_at: T0,
    }
}

/// Scenario: keys are kept by the hash of their secret, a name is unique
/// among live keys (a revoked key's name can be reused), a secret cannot be
/// stored twice, and every create and revoke changes the fingerprint a hub
/// polls to refresh its copy of the keys.
async fn scenario_api_keys(store: &Store) {
    assert_eq!(store.api_keys_fingerprint().await.unwrap(), (0, 0));
    let ops = store
        .create_api_key(&new_key(
            "ops",
            "aa11",
            &[ApiScope::Read, ApiScope::Operate],
        ))
        .await
        .unwrap();
    assert!(ops.grants(ApiScope::Read) && ops.grants(ApiScope::Operate));
    assert!(!ops.grants(ApiScope::Admin), "operate does not imply admin");
    let after_create = store.api_keys_fingerprint().await.unwrap();
    assert_eq!(after_create, (1, 0));

    let taken = store
        .create_api_key(&new_key("ops", "bb22", &[ApiScope::Read]))
        .await
        .unwrap_err();
    assert!(matches!(taken, StoreError::Conflict(_)), "{taken:?}");
    let same_secret = store
        .create_api_key(&new_key("other", "aa11", &[ApiScope::Read]))
        .await
        .unwrap_err();
    assert!(
        matches!(same_secret, StoreError::Conflict(_)),
        "{same_secret:?}"
    );
    let no_scope = store
        .create_api_key(&new_key("none", "cc33", &[]))
        .await
        .unwrap_err();
    assert!(matches!(no_scope, StoreError::Invalid(_)), "{no_scope:?}");

    let listed = store.api_keys(false).await.unwrap();
    assert_eq!(listed, vec![ops.clone()]);
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(
        !shown.contains("aa11"),
        "a listed key shows its hash: {shown}"
    );

    assert!(store.revoke_api_key("ops", T0 + 5).await.unwrap());
    assert!(
        !store.revoke_api_key("ops", T0 + 6).await.unwrap(),
        "revoked twice"
    );
    assert!(!store.revoke_api_key("nobody", T0 + 6).await.unwrap());
    assert_eq!(store.api_keys_fingerprint().await.unwrap(), (1, 1));
    assert!(store.api_keys(false).await.unwrap().is_empty());
    let all = store.api_keys(true).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].revoked_at, Some(T0 + 5));

    // The name is free again once its key is revoked: rotation.
    let next = store
        .create_api_key(&new_key("ops", "dd44", &[ApiScope::Admin]))
        .await
        .unwrap();
    assert!(next.grants(ApiScope::Read), "admin implies read");
    assert_ne!(next.id, ops.id);
    assert_eq!(store.api_keys_fingerprint().await.unwrap(), (2, 1));
    assert!(!next.expired(T0) && next.expired(T0 + 90 * 86_400_000));
}

/// Scenario: usage adds up per key and day across writers (two hubs flush
/// their counts into one row), and the audit keeps each write with the
/// key's name, newest first.
async fn scenario_api_key_usage_and_audit(store: &Store) {
    let day = 86_400_000;
    store
        .add_api_key_usage(&[("k1".into(), T0, 3), ("k2".into(), T0, 1)])
        .await
        .unwrap();
    store
        .add_api_key_usage(&[("k1".into(), T0, 4), ("k1".into(), T0 + day, 9)])
        .await
        .unwrap();
    store.add_api_key_usage(&[]).await.unwrap();
    assert_eq!(
        store.api_key_usage(T0).await.unwrap(),
        vec![("k1".to_owned(), 7), ("k2".to_owned(), 1)]
    );
    assert_eq!(
        store.api_key_usage(T0 + day).await.unwrap(),
        vec![("k1".to_owned(), 9)]
    );

    for (i, key) in ["ops", "admin", "ops"].iter().enumerate() {
        store
            .record_api_audit(&NewApiAuditEntry {
                at: T0 + i as i64,
                key_name: (*key).to_owned(),
                method: "POST".into(),
                path: format!("/v1/exceptions/ex-{i}/replay"),
                route: "/v1/exceptions/{id}/replay".into(),
                status: 200,
            })
            .await
            .unwrap();
    }
    let all = store.api_audit(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        [
            "/v1/exceptions/ex-2/replay",
            "/v1/exceptions/ex-1/replay",
            "/v1/exceptions/ex-0/replay"
        ]
    );
    let ops = store.api_audit(Some("ops"), 10).await.unwrap();
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|e| e.key_name == "ops" && e.status == 200));
    assert_eq!(store.api_audit(None, 1).await.unwrap().len(), 1);
}

async fn scenario_config_versions(store: &Store) {
    assert!(store.config_versions(10).await.unwrap().is_empty());
    let version =
        |at: i64, hash: &str, by: &str, outcome: &str, reason: Option<&str>| NewConfigVersion {
            at,
            hub_id: "hub-a:8080".into(),
            hash: hash.into(),
            who: "ops".into(),
            triggered_by: by.into(),
            outcome: outcome.into(),
            reason: reason.map(str::to_owned),
        };
    let first = store
        .record_config_version(&version(T0, "aa11", "start", "applied", None))
        .await
        .unwrap();
    let second = store
        .record_config_version(&version(
            T0 + 5,
            "bb22",
            "sighup",
            "refused",
            Some("hub.listen needs a restart"),
        ))
        .await
        .unwrap();
    assert!(second > first, "ids grow: {first} then {second}");
    let all = store.config_versions(10).await.unwrap();
    assert_eq!(all.len(), 2);
    // Newest first, every field as recorded, a missing reason as none.
    assert_eq!(all[0].id, second);
    assert_eq!(
        (
            all[0].hash.as_str(),
            all[0].triggered_by.as_str(),
            all[0].outcome.as_str()
        ),
        ("bb22", "sighup", "refused")
    );
    assert_eq!(all[0].reason.as_deref(), Some("hub.listen needs a restart"));
    assert_eq!((all[0].at, all[0].who.as_str()), (T0 + 5, "ops"));
    assert_eq!(
        (all[1].id, all[1].hash.as_str(), all[1].reason.as_deref()),
        (first, "aa11", None)
    );
    assert_eq!(all[1].hub_id, "hub-a:8080");
    let newest = store.config_versions(1).await.unwrap();
    assert_eq!(newest.iter().map(|v| v.id).collect::<Vec<_>>(), [second]);
}
