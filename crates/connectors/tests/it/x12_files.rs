//! The X12 file warehouse against the simulated 3PL, in temporary folders.

use std::path::Path;

use crossdock_connectors::warehouse::x12_files::{
    InboundKind, X12FileWarehouse, X12PartnerOptions,
};
use crossdock_connectors::{CancelOutcome, Warehouse};
use crossdock_model::{FulfillmentLine, FulfillmentRequest};
use crossdock_sim::{TplSim, TplSimConfig};
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn request(order: &str, lines: &[(&str, &str, u32)]) -> FulfillmentRequest {
    FulfillmentRequest {
        id: format!("{order}:tpl"),
        order_id: order.to_owned(),
        channel: "webstore".into(),
        channel_order_id: format!("W-{order}"),
        warehouse: "tpl".into(),
        service_level: "standard".into(),
        ship_to: None,
        lines: lines
            .iter()
            .map(|(id, sku, q)| FulfillmentLine {
                line_id: (*id).to_owned(),
                sku: (*sku).to_owned(),
                quantity: *q,
            })
            .collect(),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

fn st02s(path: &Path) -> Vec<u32> {
    let bytes = std::fs::read(path).unwrap();
    let i = crossdock_edi::parse(&bytes).unwrap();
    i.transaction_sets()
        .map(|s| s.control_number().parse().unwrap())
        .collect()
}

fn tpl(root: &Path, short_ship_rate: f64) -> std::sync::Arc<TplSim> {
    TplSim::new(
        TplSimConfig {
            name: "tpl".into(),
            root: root.to_owned(),
            short_ship_rate,
            ..TplSimConfig::default()
        },
        SmallRng::seed_from_u64(7),
    )
}

#[tokio::test]
async fn batch_round_trip_with_the_simulated_3pl() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let wh = X12FileWarehouse::open(X12PartnerOptions::new("tpl", root))
        .await
        .unwrap();
    let requests = [
        request("o-1", &[("L1", "SKU-001", 2), ("L2", "SKU-002", 1)]),
        request("o-2", &[("A", "SKU-003", 3)]),
        request("o-3", &[("x-9", "SKU-004", 1)]),
    ];
    for r in &requests {
        assert_eq!(wh.release(r).await.unwrap(), r.id);
        // Queued: known, and releasing again does not queue twice.
        assert_eq!(wh.find_release(&r.id).await.unwrap(), Some(r.id.clone()));
        assert_eq!(wh.release(r).await.unwrap(), r.id);
    }
    assert_eq!(wh.find_release("o-9:tpl").await.unwrap(), None);
    let report = wh.flush().await.unwrap().unwrap();
    assert_eq!(
        report.request_ids,
        requests.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(files(&root.join("outbound")), ["940-000000001.x12"]);
    assert!(files(&root.join("pending")).is_empty());
    let sets = st02s(&report.path);
    assert_eq!(sets, [1, 2, 3]);
    assert!(wh.flush().await.unwrap().is_none(), "nothing queued");
    for r in &requests {
        assert_eq!(wh.find_release(&r.id).await.unwrap(), Some(r.id.clone()));
        assert_eq!(
            wh.cancel_release(&r.id).await.unwrap(),
            CancelOutcome::TooLate
        );
    }

    // The 3PL picks the batch up and answers with one interchange of 945s.
    let sim = tpl(root, 1.0);
    assert_eq!(sim.pick_up().await.unwrap(), 1);
    assert_eq!(files(&root.join("archive")), ["940-000000001.x12"]);
    let batch = sim.send_batch().await.unwrap().expect("a batch");
    assert!(sim.send_batch().await.unwrap().is_none(), "all shipped");
    assert_eq!(files(&root.join("inbound")).len(), 1);
    let stats = sim.stats();
    assert_eq!(stats["orders_received"], 3, "{stats}");
    assert_eq!(stats["shipments_sent"], 3, "{stats}");
    assert_eq!(stats["batches_sent"], 1, "{stats}");
    assert_eq!(stats["duplicate_requests"], 0, "{stats}");
    // Lines of two units or more ship one short at rate 1.0.
    assert_eq!(stats["short_shipped_lines"], 2, "{stats}");

    let first = wh.poll_inbound().await.unwrap();
    assert_eq!(first.len(), 1);
    let file = &first[0];
    assert_eq!(file.path, batch);
    assert_eq!(file.messages.len(), 3);
    let mut order_ids = Vec::new();
    for m in &file.messages {
        assert!(m.message_key.starts_with("tpl:"), "{}", m.message_key);
        let InboundKind::Shipment {
            shipment,
            short_ships,
        } = &m.kind
        else {
            panic!("not a shipment: {m:?}");
        };
        order_ids.push(shipment.order_id.clone());
        let r = requests
            .iter()
            .find(|r| r.order_id == shipment.order_id)
            .unwrap();
        assert_eq!(shipment.fulfillment_request_id, r.id);
        assert_eq!(shipment.warehouse, "tpl");
        // The body is what map_shipment reads back.
        assert_eq!(&wh.map_shipment(&m.body).unwrap(), shipment.as_ref());
        assert_eq!(m.shipment_envelope().unwrap().order_id, shipment.order_id);
        for line in &shipment.lines {
            let ordered = r.lines.iter().find(|l| l.line_id == line.line_id).unwrap();
            assert_eq!(line.sku, ordered.sku);
            if ordered.quantity >= 2 {
                assert!(line.quantity < ordered.quantity, "{line:?} short-shipped");
            } else {
                assert_eq!(line.quantity, ordered.quantity);
            }
        }
        for s in short_ships {
            assert!(s.shipped < s.ordered);
            assert!(r.lines.iter().any(|l| l.line_id == s.line_id), "{s:?}");
        }
    }
    assert_eq!(order_ids, ["o-1", "o-2", "o-3"]);
    let keys: Vec<_> = file
        .messages
        .iter()
        .map(|m| m.message_key.clone())
        .collect();
    let unique: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), 3);

    // Read again before archive (a crash before commit): identical keys.
    let again = wh.poll_inbound().await.unwrap();
    assert_eq!(again, first);

    // Committed: archived, and a 997 goes out (once).
    wh.archive(file).await.unwrap();
    wh.archive(file).await.unwrap();
    assert!(files(&root.join("inbound")).is_empty());
    assert!(
        root.join("archive")
            .join(format!("in-{}", file.name))
            .exists()
    );
    let acks: Vec<_> = files(&root.join("outbound"))
        .into_iter()
        .filter(|n| n.starts_with("997-"))
        .collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert!(acks[0].starts_with("997-000000002-ack-"), "{acks:?}");
    let bytes = std::fs::read(root.join("outbound").join(&acks[0])).unwrap();
    let ack_ic = crossdock_edi::parse(&bytes).unwrap();
    let ack = crossdock_edi::read_997(ack_ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(ack.functional_id, "SW");
    assert_eq!(ack.sets_accepted, 3);
    assert!(wh.poll_inbound().await.unwrap().is_empty());

    // The 3PL takes the 997 in; a second 940 for o-1 is a duplicate.
    assert_eq!(sim.pick_up().await.unwrap(), 1);
    assert_eq!(sim.stats()["acks_received"], 1);
    std::fs::copy(
        root.join("archive/940-000000001.x12"),
        root.join("outbound/940-resent.x12"),
    )
    .unwrap();
    assert_eq!(sim.pick_up().await.unwrap(), 1);
    let stats = sim.stats();
    assert_eq!(stats["duplicate_requests"], 3, "{stats}");
    assert_eq!(stats["orders_received"], 3, "{stats}");
    assert!(sim.send_batch().await.unwrap().is_none(), "never merged");
}

#[tokio::test]
async fn control_numbers_survive_a_restart_and_cancel_drops_queued_requests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let options = X12PartnerOptions::new("tpl", root);
    {
        let wh = X12FileWarehouse::open(options.clone()).await.unwrap();
        wh.release(&request("o-1", &[("1", "S", 1)])).await.unwrap();
        wh.release(&request("o-2", &[("1", "S", 1)])).await.unwrap();
        wh.flush().await.unwrap().unwrap();
        // Queued but not flushed when the process "dies".
        wh.release(&request("o-3", &[("1", "S", 1)])).await.unwrap();
        wh.release(&request("o-4", &[("1", "S", 1)])).await.unwrap();
    }
    let wh = X12FileWarehouse::open(options.clone()).await.unwrap();
    assert_eq!(wh.queued().await, ["o-3:tpl", "o-4:tpl"]);
    // Sent before the restart: still known, still too late to cancel.
    assert_eq!(
        wh.find_release("o-1:tpl").await.unwrap(),
        Some("o-1:tpl".into())
    );
    assert_eq!(
        wh.cancel_release("o-1:tpl").await.unwrap(),
        CancelOutcome::TooLate
    );
    // Queued: cancel drops it.
    assert_eq!(
        wh.cancel_release("o-3:tpl").await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(wh.find_release("o-3:tpl").await.unwrap(), None);
    let report = wh.flush().await.unwrap().unwrap();
    assert_eq!(report.request_ids, ["o-4:tpl"]);
    assert_eq!(report.interchange, 2);
    assert_eq!(st02s(&report.path), [3]);
    drop(wh);
    let wh = X12FileWarehouse::open(options).await.unwrap();
    wh.release(&request("o-5", &[("1", "S", 1)])).await.unwrap();
    // Releasing a request already sent does not send it again.
    wh.release(&request("o-4", &[("1", "S", 1)])).await.unwrap();
    let report = wh.flush().await.unwrap().unwrap();
    assert_eq!((report.interchange, report.first_set), (3, 4));
    assert_eq!(report.request_ids, ["o-5:tpl"]);
    assert_eq!(
        files(&root.join("outbound")),
        [
            "940-000000001.x12",
            "940-000000002.x12",
            "940-000000003.x12"
        ]
    );
    // The cancelled request is in no interchange.
    for f in files(&root.join("outbound")) {
        let text = std::fs::read_to_string(root.join("outbound").join(f)).unwrap();
        assert!(!text.contains("o-3"), "{text}");
    }
}

#[tokio::test]
async fn a_corrupted_file_is_quarantined_with_its_error_and_nothing_else_is_affected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let wh = X12FileWarehouse::open(X12PartnerOptions::new("tpl", root))
        .await
        .unwrap();
    wh.release(&request("o-1", &[("1", "SKU-1", 1)]))
        .await
        .unwrap();
    wh.flush().await.unwrap().unwrap();
    let sim = tpl(root, 0.0);
    sim.pick_up().await.unwrap();
    let good = sim.send_batch().await.unwrap().unwrap();
    // A copy with a wrong SE01 (segment count) under another name.
    let text = std::fs::read_to_string(&good).unwrap();
    let se = text.find("SE*").unwrap();
    let mut bad = text.clone();
    bad.replace_range(se + 3..se + 4, "9");
    std::fs::write(root.join("inbound/zz-bad.x12"), bad).unwrap();
    // A half-written file of the partner is not looked at.
    std::fs::write(root.join("inbound/.945-x.x12.tmp"), "ISA").unwrap();

    let read = wh.poll_inbound().await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].path, good);
    assert_eq!(read[0].messages.len(), 1);
    assert_eq!(
        files(&root.join("quarantine")),
        ["zz-bad.x12", "zz-bad.x12.error.txt"]
    );
    let error = std::fs::read_to_string(root.join("quarantine/zz-bad.x12.error.txt")).unwrap();
    assert!(
        error.contains("segment") && error.contains("(SE), element 1"),
        "{error}"
    );
    assert!(error.starts_with("zz-bad.x12: "), "{error}");
    // Nothing else moved; no 997 for the bad file.
    let inbound = files(&root.join("inbound"));
    assert_eq!(inbound.len(), 1, "{inbound:?}");
    assert!(
        !files(&root.join("outbound"))
            .iter()
            .any(|n| n.starts_with("997-"))
    );
    // A second poll does not see the quarantined file again.
    assert_eq!(wh.poll_inbound().await.unwrap(), read);
}

#[tokio::test]
async fn the_file_warehouse_has_no_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let wh = X12FileWarehouse::open(X12PartnerOptions::new("tpl", dir.path()))
        .await
        .unwrap();
    let err = wh.read_webhook(&Default::default(), b"{}").unwrap_err();
    assert!(err.message.contains("no webhook"), "{err}");
    assert!(wh.map_shipment(b"{\"id\":1}").is_err());
}
