//! Settlement scenarios of the conformance suite, each run on SQLite and
//! PostgreSQL: an import is all or nothing and idempotent by (channel,
//! settlement id); refunds find the settlement that sold their order; the
//! previous settlement's reserve is found; a residual is resolved once,
//! with its delta journal; a settlement is posted once every journal is.

use chrono::NaiveDate;
use crossdock_model::{
    Currency, Journal, JournalAccount, JournalLine, OrderStatus, ResidualStatus, ResolutionKind,
    SettlementStatus,
};
use crossdock_store::{
    Changes, NewJob, NewResidual, NewSettlement, OrderRole, ResidualResolution, ResolveOutcome,
    SettlementImport, SettlementPosted, SettlementRowRecord, Store, settlement_key,
};
use rust_decimal::{Decimal, dec};
use serde_json::json;

use crate::conformance::shopify_order;

const T0: i64 = 1_735_689_600_000;

conformance! {
    store scenario_settlement_import_idempotent,
    store scenario_settlement_import_all_or_nothing,
    store scenario_settlement_orders_and_previous,
    store scenario_residual_resolution_and_posting,
}

fn journal(reference: &str, amount: Decimal) -> Journal {
    let line = |account, debit, credit| JournalLine {
        account,
        reference: None,
        debit,
        credit,
        memo: "test".to_owned(),
    };
    Journal {
        settlement_id: "1234567890123456789".to_owned(),
        reference: reference.to_owned(),
        month: "2025-01".to_owned(),
        date: NaiveDate::from_ymd_opt(2025, 1, 15).unwrap(),
        currency: Currency::USD,
        lines: vec![
            line(JournalAccount::Bank, amount, Decimal::ZERO),
            line(JournalAccount::Receivable, Decimal::ZERO, amount),
        ],
    }
}

/// A settlement of `rows` rows (order `ORD-n` on each), two residuals, one
/// journal per reference given, and its posting job.
fn settlement(id: &str, rows: usize, journals: &[&str], ends_at: i64) -> NewSettlement {
    let key = settlement_key("amazon", id);
    let rows: Vec<SettlementRowRecord> = (0..rows)
        .map(|i| SettlementRowRecord {
            line: i64::try_from(i).unwrap() + 3,
            category: "principal".to_owned(),
            key: "Order/ItemPrice/Principal".to_owned(),
            order_ref: Some(format!("ORD-{}", i % 7)),
            amount: dec!(1.25),
        })
        .collect();
    let total: Decimal = rows.iter().map(|r| r.amount).sum();
    NewSettlement {
        channel: "amazon".to_owned(),
        settlement_id: id.to_owned(),
        format: "amazon_v2".to_owned(),
        currency: "USD".to_owned(),
        deposit_total: total,
        starts_at: Some(ends_at - 86_400_000),
        ends_at: Some(ends_at),
        deposit_date: Some("2025-01-15".to_owned()),
        current_reserve: Some(dec!(-100.00)),
        summary: json!({ "categories": { "principal": total.to_string() } }),
        orders: (0..7.min(rows.len()))
            .map(|i| (format!("ORD-{i}"), OrderRole::Sold))
            .collect(),
        rows,
        residuals: vec![
            NewResidual {
                line: Some(4),
                key: Some("Order/ItemFees/NewFee".to_owned()),
                order_ref: Some("ORD-1".to_owned()),
                amount: dec!(-0.75),
                reason: "unmapped_type".to_owned(),
                detail: "no such fee type".to_owned(),
            },
            NewResidual {
                line: None,
                key: Some("reserve".to_owned()),
                order_ref: None,
                amount: dec!(0.75),
                reason: "reserve_gap".to_owned(),
                detail: "released 100.75, held -100.00".to_owned(),
            },
        ],
        journals: journals.iter().map(|r| journal(r, total)).collect(),
        jobs: vec![NewJob {
            entity_key: format!("settlement:{key}"),
            step: "post_settlement".to_owned(),
            payload: json!({ "settlement": key }),
            run_at: T0,
        }],
        imported_at: T0,
    }
}

async fn jobs_of(store: &Store, entity: &str) -> usize {
    store.open_jobs(entity).await.unwrap().len()
}

/// Importing the same settlement again — even with other rows, as another
/// column layout reads — writes nothing and says so.
async fn scenario_settlement_import_idempotent(store: &Store) {
    let first = settlement("1234567890123456789", 1_234, &["j:1:2025-01"], T0);
    let key = first.key();
    let SettlementImport::Imported(stored) = store.import_settlement(&first).await.unwrap() else {
        panic!("the first import stores it")
    };
    assert_eq!(stored.key, key);
    assert_eq!(stored.status, SettlementStatus::Imported);
    assert_eq!(stored.row_count, 1_234);
    assert_eq!(stored.deposit_total, dec!(1542.50));
    assert_eq!(stored.current_reserve, Some(dec!(-100.00)));
    let rows = store.settlement_rows(&key).await.unwrap();
    assert_eq!(rows.len(), 1_234, "rows across several insert chunks");
    assert_eq!(rows[0].line, 3);
    assert_eq!(rows[1_233].line, 1_236);
    assert_eq!(
        rows, first.rows,
        "every row as given, in order, across chunks"
    );
    assert_eq!(store.residuals(Some(&key), false).await.unwrap().len(), 2);
    assert_eq!(jobs_of(store, &format!("settlement:{key}")).await, 1);

    let mut again = settlement("1234567890123456789", 10, &["j:1:2025-01"], T0);
    again.imported_at = T0 + 1;
    let SettlementImport::AlreadyImported(held) = store.import_settlement(&again).await.unwrap()
    else {
        panic!("the second import is refused as held")
    };
    assert_eq!(held, stored, "nothing changed");
    assert_eq!(store.settlement_rows(&key).await.unwrap().len(), 1_234);
    assert_eq!(store.residuals(Some(&key), false).await.unwrap().len(), 2);
    assert_eq!(store.settlement_journals(&key).await.unwrap().len(), 1);
    assert_eq!(jobs_of(store, &format!("settlement:{key}")).await, 1);
    // A bare settlement id finds it too.
    let by_id = store.settlement("1234567890123456789").await.unwrap();
    assert_eq!(by_id.map(|s| s.key), Some(key));
}

/// A write that fails half-way leaves nothing of the settlement.
async fn scenario_settlement_import_all_or_nothing(store: &Store) {
    // Two journals with one reference: the second insert fails, after the
    // settlement, its rows, orders and residuals were written in the transaction.
    let broken = settlement("42", 700, &["j:42", "j:42"], T0);
    let key = broken.key();
    assert!(store.import_settlement(&broken).await.is_err());
    assert_eq!(store.settlement(&key).await.unwrap(), None);
    assert!(store.settlement_rows(&key).await.unwrap().is_empty());
    assert!(store.residuals(Some(&key), false).await.unwrap().is_empty());
    assert!(
        store
            .settled_orders("amazon", &["ORD-1".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(jobs_of(store, &format!("settlement:{key}")).await, 0);
    // The same settlement, whole, then imports.
    let whole = settlement("42", 700, &["j:42"], T0);
    assert!(matches!(
        store.import_settlement(&whole).await.unwrap(),
        SettlementImport::Imported(_)
    ));
}

/// Which settlement sold an order; the latest earlier settlement; the
/// orders the hub saw by their channel ids.
async fn scenario_settlement_orders_and_previous(store: &Store) {
    let day = 86_400_000;
    for (id, ends) in [("100", T0), ("101", T0 + 14 * day)] {
        let s = settlement(id, 14, &[&format!("j:{id}")], ends);
        store.import_settlement(&s).await.unwrap();
    }
    let mut refund = settlement("102", 0, &["j:102"], T0 + 28 * day);
    refund.orders = vec![("ORD-3".to_owned(), OrderRole::Refunded)];
    refund.current_reserve = Some(dec!(-80.00));
    store.import_settlement(&refund).await.unwrap();

    let found = store
        .settled_orders("amazon", &["ORD-3".to_owned(), "ORD-9".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![
            ("ORD-3".to_owned(), "amazon:100".to_owned(), OrderRole::Sold),
            ("ORD-3".to_owned(), "amazon:101".to_owned(), OrderRole::Sold),
            (
                "ORD-3".to_owned(),
                "amazon:102".to_owned(),
                OrderRole::Refunded
            ),
        ]
    );
    assert!(
        store
            .settled_orders("walmart", &["ORD-3".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );

    let previous = |except: &'static str, ends: i64| async move {
        store
            .previous_settlement("amazon", except, Some(ends))
            .await
            .unwrap()
            .map(|s| s.key)
    };
    assert_eq!(
        previous("amazon:103", T0 + 30 * day).await.as_deref(),
        Some("amazon:102")
    );
    assert_eq!(
        previous("amazon:102", T0 + 28 * day).await.as_deref(),
        Some("amazon:101")
    );
    assert_eq!(previous("amazon:100", T0).await, None);

    // Orders by channel order id (a 19-digit id stays exact).
    let order = shopify_order("amazon", "1112223334445556667", OrderStatus::Received);
    store.enqueue(&[new_job("order:x")], T0).await.unwrap();
    let job = store.claim_jobs("w", T0, 600_000, 10).await.unwrap();
    let job = job.iter().find(|j| j.entity_key == "order:x").unwrap();
    let changes = Changes {
        orders: vec![order.clone()],
        ..Changes::default()
    };
    store.complete_job(job, &changes, T0).await.unwrap();
    let seen = store
        .orders_by_external_ids(
            "amazon",
            &["1112223334445556667".to_owned(), "404".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, order.id);
    assert!(
        store
            .orders_by_external_ids("walmart", &["1112223334445556667".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
}

fn new_job(entity: &str) -> NewJob {
    NewJob {
        entity_key: entity.to_owned(),
        step: "validate".to_owned(),
        payload: json!({ "order_id": "x" }),
        run_at: T0,
    }
}

/// A residual is resolved once, with its delta journal and job; the
/// settlement is posted when every planned journal has its ERP id.
async fn scenario_residual_resolution_and_posting(store: &Store) {
    let s = settlement("7", 3, &["j:7:2024-12", "j:7:2025-01"], T0);
    let key = s.key();
    store.import_settlement(&s).await.unwrap();
    let entity = format!("settlement:{key}");
    let open = store.residuals(None, true).await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open[0].id, format!("{key}:1"));
    assert_eq!(open[0].amount, dec!(-0.75));
    assert_eq!(open[0].line, Some(4));

    let resolution = |id: &str| ResidualResolution {
        id: id.to_owned(),
        resolution: ResolutionKind::WrittenOff,
        by: "ada".to_owned(),
        note: "a new fee, accepted".to_owned(),
        at: T0 + 5,
        journal: Some(journal(&format!("j:7:resolve:{id}"), dec!(0.75))),
        jobs: vec![NewJob {
            entity_key: entity.clone(),
            step: "post_settlement".to_owned(),
            payload: json!({ "settlement": key }),
            run_at: T0 + 5,
        }],
    };
    let first = format!("{key}:1");
    let ResolveOutcome::Resolved(r) = store.resolve_residual(&resolution(&first)).await.unwrap()
    else {
        panic!("an open residual is resolved")
    };
    assert_eq!(r.status, ResidualStatus::Resolved);
    assert_eq!(r.resolution, Some(ResolutionKind::WrittenOff));
    assert_eq!(r.resolved_by.as_deref(), Some("ada"));
    assert_eq!(r.resolved_at, Some(T0 + 5));
    assert_eq!(r.note.as_deref(), Some("a new fee, accepted"));
    assert!(matches!(
        store.resolve_residual(&resolution(&first)).await.unwrap(),
        ResolveOutcome::AlreadyResolved(_)
    ));
    assert_eq!(
        store.resolve_residual(&resolution("nope")).await.unwrap(),
        ResolveOutcome::NotFound
    );
    assert_eq!(store.residuals(Some(&key), true).await.unwrap().len(), 1);
    let journals = store.settlement_journals(&key).await.unwrap();
    let references: Vec<&str> = journals.iter().map(|j| j.reference.as_str()).collect();
    assert_eq!(
        references,
        [
            "j:7:2024-12",
            "j:7:2025-01",
            &format!("j:7:resolve:{first}")
        ]
    );
    assert_eq!(
        jobs_of(store, &entity).await,
        2,
        "the import's job and the delta's"
    );

    // Posting: one journal of three leaves it imported; all three, posted.
    let post = |reference: &str, at: i64| SettlementPosted {
        reference: reference.to_owned(),
        erp_id: format!("JE-{reference}"),
        at,
    };
    let jobs = store.claim_jobs("w", T0 + 10, 600_000, 10).await.unwrap();
    let job = jobs.iter().find(|j| j.entity_key == entity).unwrap();
    let partial = Changes {
        settlements_posted: vec![post("j:7:2024-12", T0 + 10)],
        ..Changes::default()
    };
    store.complete_job(job, &partial, T0 + 10).await.unwrap();
    let held = store.settlement(&key).await.unwrap().unwrap();
    assert_eq!(held.status, SettlementStatus::Imported);
    assert_eq!(held.posted_at, Some(T0 + 10));

    let jobs = store.claim_jobs("w", T0 + 20, 600_000, 10).await.unwrap();
    let job = jobs.iter().find(|j| j.entity_key == entity).unwrap();
    let rest = Changes {
        settlements_posted: vec![
            post("j:7:2025-01", T0 + 20),
            post(&format!("j:7:resolve:{first}"), T0 + 20),
        ],
        ..Changes::default()
    };
    store.complete_job(job, &rest, T0 + 20).await.unwrap();
    let held = store.settlement(&key).await.unwrap().unwrap();
    assert_eq!(held.status, SettlementStatus::Posted);
    assert_eq!(
        held.posted_at,
        Some(T0 + 10),
        "the first posting's time stays"
    );
    let journals = store.settlement_journals(&key).await.unwrap();
    assert!(journals.iter().all(|j| j.erp_id.is_some()));
    assert!(
        store
            .record_settlement_deposited(&key, T0 + 30)
            .await
            .unwrap()
    );
    let held = store.settlement(&key).await.unwrap().unwrap();
    assert_eq!(held.status, SettlementStatus::Deposited);
}
