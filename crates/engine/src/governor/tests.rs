use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossdock_connectors::ConnectorError;

use super::gates::Governor;
use super::options::{GovernorOptions, Priority};
use super::slots::Slots;
use crate::breaker::{BreakerOptions, BreakerState};
use crate::clock::SystemClock;

async fn hold_slot(slots: Arc<Slots>, p: Priority, order: Arc<Mutex<Vec<Priority>>>) {
    let _permit = slots.acquire(p, "test").await;
    order.lock().unwrap().push(p);
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn slots_go_to_the_most_urgent_class_first() {
    let slots = Arc::new(Slots::new(1, 60_000, Arc::new(SystemClock)));
    let order = Arc::new(Mutex::new(Vec::new()));
    let first = slots.acquire(Priority::Acceptance, "test").await;
    let mut tasks = Vec::new();
    for p in [
        Priority::Bulk,
        Priority::StockRead,
        Priority::Update,
        Priority::Acceptance,
    ] {
        tasks.push(tokio::spawn(hold_slot(slots.clone(), p, order.clone())));
        // Enqueue in this order before the slot frees.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(first);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        *order.lock().unwrap(),
        vec![
            Priority::Acceptance,
            Priority::Update,
            Priority::StockRead,
            Priority::Bulk
        ]
    );
}

#[tokio::test]
async fn a_long_wait_outranks_a_fresh_urgent_call() {
    // Ageing of 10 ms per class: a bulk call that waited 100 ms goes
    // before an acceptance that just arrived.
    let slots = Arc::new(Slots::new(1, 10, Arc::new(SystemClock)));
    let order = Arc::new(Mutex::new(Vec::new()));
    let first = slots.acquire(Priority::Acceptance, "test").await;
    let bulk = tokio::spawn(hold_slot(slots.clone(), Priority::Bulk, order.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let urgent = tokio::spawn(hold_slot(
        slots.clone(),
        Priority::Acceptance,
        order.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(5)).await;
    drop(first);
    bulk.await.unwrap();
    urgent.await.unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        vec![Priority::Bulk, Priority::Acceptance]
    );
}

#[tokio::test]
async fn an_abandoned_wait_does_not_leak_the_slot() {
    let slots = Arc::new(Slots::new(1, 1_000, Arc::new(SystemClock)));
    let first = slots.acquire(Priority::Acceptance, "test").await;
    let waiter = {
        let slots = slots.clone();
        tokio::spawn(async move {
            let _p = slots.acquire(Priority::Acceptance, "test").await;
            std::future::pending::<()>().await;
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    waiter.abort();
    let _ = waiter.await;
    drop(first);
    let got = tokio::time::timeout(
        Duration::from_secs(1),
        slots.acquire(Priority::Bulk, "test"),
    )
    .await;
    assert!(got.is_ok(), "the slot came back");
    assert_eq!(slots.lock().free, 0);
}

#[tokio::test]
async fn concurrency_never_exceeds_the_limit() {
    let governor = Arc::new(
        Governor::new(
            "test",
            &GovernorOptions {
                max_concurrency: 3,
                ..GovernorOptions::default()
            },
        )
        .unwrap(),
    );
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (g, f, pk) = (governor.clone(), in_flight.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let p = Priority::ALL[i % 4];
            g.call(
                "x",
                p,
                || async { Ok(()) },
                || async {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = f.fetch_add(1, SeqCst) + 1;
                    pk.fetch_max(now, SeqCst);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    f.fetch_sub(1, SeqCst);
                    Ok::<_, ConnectorError>(())
                },
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
}

async fn no_probe() -> Result<(), ConnectorError> {
    panic!("no probe expected")
}

#[tokio::test]
async fn an_open_breaker_refuses_without_calling() {
    let governor = Governor::new(
        "test",
        &GovernorOptions {
            breaker: BreakerOptions {
                window: 4,
                min_calls: 2,
                failure_ratio: 1.0,
                open_ms: 60_000,
                max_open_ms: 60_000,
                ..BreakerOptions::default()
            },
            ..GovernorOptions::default()
        },
    )
    .unwrap();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let down = || async {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err::<(), _>(ConnectorError::transient("connection refused"))
    };
    for _ in 0..2 {
        let e = governor
            .call("sales_order.create", Priority::Acceptance, no_probe, down)
            .await;
        assert!(matches!(e, Err(ConnectorError::Transient { .. })));
    }
    let e = governor
        .call("sales_order.create", Priority::Acceptance, no_probe, down)
        .await;
    assert!(
        matches!(e, Err(ConnectorError::CircuitOpen { retry_after, .. }) if retry_after > Duration::from_secs(50)),
        "{e:?}"
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Another endpoint has its own breaker.
    let ok = governor
        .call("stock.read", Priority::StockRead, no_probe, || async {
            Ok::<_, ConnectorError>(1)
        })
        .await;
    assert_eq!(ok, Ok(1));
    assert_eq!(
        governor.status().breakers,
        vec![
            ("sales_order.create".to_owned(), BreakerState::Open),
            ("stock.read".to_owned(), BreakerState::Closed)
        ]
    );
}

#[tokio::test]
async fn the_probe_goes_first_and_a_failed_probe_sends_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let governor = Governor::new(
        "test",
        &GovernorOptions {
            breaker: BreakerOptions {
                window: 2,
                min_calls: 1,
                failure_ratio: 1.0,
                open_ms: 20,
                max_open_ms: 40,
                ..BreakerOptions::default()
            },
            ..GovernorOptions::default()
        },
    )
    .unwrap();
    let up = AtomicBool::new(false);
    let (probes, calls) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let probe = || async {
        probes.fetch_add(1, SeqCst);
        if up.load(SeqCst) {
            Ok(())
        } else {
            Err(ConnectorError::transient("connection refused"))
        }
    };
    let call = || async {
        calls.fetch_add(1, SeqCst);
        if up.load(SeqCst) {
            Ok(7)
        } else {
            Err(ConnectorError::transient("connection refused"))
        }
    };
    let first = governor.call("e", Priority::Update, probe, call).await;
    assert!(matches!(first, Err(ConnectorError::Transient { .. })));
    tokio::time::sleep(Duration::from_millis(25)).await;
    // Time is up: the probe fails, the call is not sent.
    let second = governor.call("e", Priority::Update, probe, call).await;
    assert!(
        matches!(second, Err(ConnectorError::CircuitOpen { retry_after, .. }) if retry_after > Duration::from_millis(20)),
        "{second:?}"
    );
    assert_eq!((probes.load(SeqCst), calls.load(SeqCst)), (1, 1));
    up.store(true, SeqCst);
    tokio::time::sleep(Duration::from_millis(45)).await;
    let third = governor.call("e", Priority::Update, probe, call).await;
    assert_eq!(third, Ok(7));
    assert_eq!((probes.load(SeqCst), calls.load(SeqCst)), (2, 2));
    assert_eq!(
        governor.status().breakers,
        vec![("e".to_owned(), BreakerState::Closed)]
    );
}

/// On a manual clock nothing sleeps: a call the rate has no room for
/// is handed back with its turn, later calls queue behind it, and a due
/// turn goes to whoever calls first.
#[tokio::test]
async fn on_a_manual_clock_waits_are_handed_back_in_turn() {
    let clock = crate::clock::ManualClock::new(1_000_000);
    let governor = Governor::with_clock(
        "erp",
        &GovernorOptions {
            requests_per_sec: 2.0,
            headroom_pct: 0,
            ..GovernorOptions::default()
        },
        Arc::new(clock.clone()),
    )
    .unwrap();
    let ok = || async { Ok::<_, ConnectorError>(()) };
    let call = |priority| governor.call("sales_order.create", priority, ok, ok);
    call(Priority::Acceptance)
        .await
        .expect("the first call goes");
    let wait = |r: Result<(), ConnectorError>| match r {
        Err(ConnectorError::Paced { retry_after, .. }) => retry_after,
        other => panic!("expected a paced call, got {other:?}"),
    };
    // Turns a period and a millisecond apart, on whole milliseconds.
    assert_eq!(
        wait(call(Priority::Update).await),
        Duration::from_millis(500)
    );
    assert_eq!(
        wait(call(Priority::Acceptance).await),
        Duration::from_millis(1_001)
    );
    assert_eq!(
        wait(call(Priority::Update).await),
        Duration::from_millis(1_502)
    );
    clock.advance(499);
    assert_eq!(
        wait(call(Priority::Acceptance).await),
        Duration::from_millis(1_504),
        "no turn due yet: to the back"
    );
    clock.advance(1);
    call(Priority::Update)
        .await
        .expect("the first turn, taken by whoever came");
    clock.advance(501);
    call(Priority::Acceptance).await.expect("the second turn");
    assert!(
        matches!(
            call(Priority::Acceptance).await,
            Err(ConnectorError::Paced { .. })
        ),
        "a turn is used once"
    );
}
