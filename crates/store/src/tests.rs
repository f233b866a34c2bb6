//! Unit tests for what the conformance suite (`tests/conformance.rs`) does
//! not reach: the `Where` builder's numbering, and the reads that only the
//! engine's availability sync makes, on SQLite.

use crate::sql::Where;
use crate::{OwedAvailability, PositionRow, Store};

#[test]
fn where_numbers_parameters_in_the_order_conditions_are_added() {
    let skus = vec!["A".to_owned(), "B".to_owned()];
    let mut w = Where::default();
    w.eq("channel", Some("web"))
        .eq("status", None)
        .any_of("sku", &skus)
        .cmp("created_at", "<", Some(7));
    assert_eq!(
        w.sql(),
        "WHERE channel = $1 AND sku IN ($2, $3) AND created_at < $4"
    );
    assert_eq!(sqlx::Arguments::len(&w.arguments().unwrap()), 4);

    let mut none = Where::default();
    none.eq("channel", None).any_of("sku", &[]);
    assert_eq!(none.sql(), "");
}

#[tokio::test]
async fn sync_reads_positions_of_some_skus_and_what_is_owed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let pos = |sku: &str, location: &str, on_hand| PositionRow {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand,
        reserved: 0,
        source: "erp".to_owned(),
        as_of: 1,
    };
    store
        .set_positions(&[
            pos("A", "DC-1", 5),
            pos("B", "DC-1", 2),
            pos("C", "DC-2", 9),
        ])
        .await
        .unwrap();
    let skus = vec!["C".to_owned(), "A".to_owned()];
    assert_eq!(
        store.positions_of(&skus).await.unwrap(),
        vec![pos("A", "DC-1", 5), pos("C", "DC-2", 9)]
    );

    let owe = |channel: &str, sku: &str, cadence: &str| OwedAvailability {
        channel: channel.to_owned(),
        sku: sku.to_owned(),
        target: 3,
        cadence: cadence.to_owned(),
        changed_at: 10,
    };
    store
        .owe_availability(&[
            owe("web", "A", "batch"),
            owe("web", "B", "urgent"),
            owe("amz", "A", "batch"),
        ])
        .await
        .unwrap();
    let owed = store.owed_availability("web", false, 10, 10).await.unwrap();
    assert_eq!(
        owed.iter().map(|r| r.sku.as_str()).collect::<Vec<_>>(),
        ["B", "A"]
    );
    let urgent = store.owed_availability("web", true, 10, 10).await.unwrap();
    assert_eq!(urgent.len(), 1);
    let only_a = vec!["A".to_owned()];
    let rows = store
        .availability(Some("amz"), Some(&only_a))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].channel.as_str(), rows[0].target), ("amz", Some(3)));
    assert_eq!(store.owed_summary("web").await.unwrap(), (2, Some(10)));

    assert_eq!(store.meta("k").await.unwrap(), None);
    store.set_meta("k", "v").await.unwrap();
    assert_eq!(store.meta("k").await.unwrap().as_deref(), Some("v"));
    store.close().await;
}
