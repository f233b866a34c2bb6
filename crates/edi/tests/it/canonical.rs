//! Mapping of read 945/856/846 sets to the canonical model, on the shared
//! reference samples (read at test time, never copied into the repository).
//! Where a sample lacks what the mapping needs, the test asserts the precise
//! error and then maps a copy edited in memory.

// Test helpers return the error with its resolved position (as the crate does).
#![allow(clippy::result_large_err)]

use std::path::Path;

use chrono::{TimeZone, Utc};
use crossdock_edi::{
    MappingError, Position, SegmentRef, TransactionSet, parse, parse_lenient, positions_from_846,
    read_846, read_856, read_945, shipments_from_856, shipments_from_945,
};

const REFERENCE: &str = "/work/shared/reference";
const S945: &str = "x12-oopfactory/945_inter-americanproducts.txt";

fn load(rel: &str) -> String {
    String::from_utf8(std::fs::read(Path::new(REFERENCE).join(rel)).unwrap()).unwrap()
}

/// Transaction sets of a leniently parsed interchange.
fn sets(text: &str) -> Vec<TransactionSet> {
    let parsed = parse_lenient(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    parsed.interchange.transaction_sets().cloned().collect()
}

fn edited(rel: &str, from: &str, to: &str) -> String {
    let text = load(rel);
    assert!(text.contains(from), "{rel} no longer contains {from:?}");
    text.replacen(from, to, 1)
}

fn map_945(text: &str) -> Result<crossdock_edi::MappedShipments, (MappingError, Option<Position>)> {
    let set = &sets(text)[0];
    let advice = read_945(set).unwrap();
    shipments_from_945(&advice, "WH1").map_err(|e| {
        let p = e.position_in(set);
        (e, p)
    })
}

#[test]
fn reference_945_without_order_reference_is_rejected_at_w06_02() {
    let (err, pos) = map_945(&load(S945)).unwrap_err();
    assert_eq!(
        err.at(),
        &SegmentRef {
            segment_id: "W06",
            occurrence: Some(1),
            element: Some(2)
        }
    );
    assert_eq!(pos, Some(Position::element(4, "W06", 2)));
    assert!(
        err.to_string().contains("depositor order number (W06-02)"),
        "{err}"
    );
}

#[test]
fn reference_945_maps_shipment_lines_and_tracking() {
    // The sample leaves W06-02 empty; the hub's 940 would have sent its order id there.
    let text = edited(S945, "W06*N**", "W06*N*ORD-1*");
    let m = map_945(&text).unwrap();
    assert_eq!(m.shipments.len(), 1);
    let s = &m.shipments[0];
    assert_eq!(s.id, "WH1:2144");
    assert_eq!(s.external_id, "2144");
    assert_eq!(s.order_id, "ORD-1");
    assert_eq!(s.fulfillment_request_id, "ORD-1");
    assert_eq!(s.warehouse, "WH1");
    let lines: Vec<(&str, &str, u32)> = s
        .lines
        .iter()
        .map(|l| (l.line_id.as_str(), l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(
        lines,
        [
            ("1", "339408", 120),
            ("2", "100021", 400),
            ("3", "133848", 400)
        ]
    );
    assert_eq!(s.tracking.carrier, "NA");
    assert_eq!(s.tracking.number, "K018293-00010");
    let more: Vec<&str> = m
        .more_tracking
        .iter()
        .map(|t| t.tracking.number.as_str())
        .collect();
    assert_eq!(more, ["K018273-00033", "K082738-0041"]);
    assert_eq!(
        s.shipped_at,
        Utc.with_ymd_and_hms(2002, 9, 16, 0, 0, 0).unwrap()
    );
    assert!(m.short_ships.is_empty());
}

#[test]
fn reference_945_short_ship_is_reported() {
    let text =
        edited(S945, "W06*N**", "W06*N*ORD-1*").replacen("W12*CL*400*400", "W12*CP*400*350", 1);
    let m = map_945(&text).unwrap();
    assert_eq!(m.shipments[0].lines[1].quantity, 350);
    assert_eq!(m.short_ships.len(), 1);
    let short = &m.short_ships[0];
    assert_eq!(
        (
            short.shipment_id.as_str(),
            short.line_id.as_str(),
            short.sku.as_str()
        ),
        ("WH1:2144", "2", "100021")
    );
    assert_eq!((short.ordered, short.shipped), (400, 350));
    // CP: partial, no backorder — the 945 closes the request.
    assert!(m.shipments[0].completes_request);
}

/// Several 945s may answer one 940: a line marked PR (partial, balance to
/// follow) leaves the request open, so the remainder is not re-routed or
/// cancelled before the next 945 comes.
#[test]
fn reference_945_with_balance_to_follow_leaves_the_request_open() {
    let text =
        edited(S945, "W06*N**", "W06*N*ORD-1*").replacen("W12*CL*400*400", "W12*PR*400*350", 1);
    let m = map_945(&text).unwrap();
    assert_eq!(m.shipments[0].lines[1].quantity, 350);
    assert!(!m.shipments[0].completes_request);
}

#[test]
fn reference_945_fractional_quantity_names_w12_03() {
    let text =
        edited(S945, "W06*N**", "W06*N*ORD-1*").replacen("W12*CL*120*120", "W12*CL*120*1.5", 1);
    let (err, pos) = map_945(&text).unwrap_err();
    assert_eq!(pos, Some(Position::element(11, "W12", 3)));
    assert!(
        err.to_string()
            .starts_with("W12 #1, element 3: number of units shipped (W12-03) \"1.5\""),
        "{err}"
    );
}

#[test]
fn reference_945_without_ship_date_names_g62() {
    let text = edited(S945, "W06*N**20020916*", "W06*N*ORD-1**").replacen(
        "G62*11*20020916",
        "G62*10*20020916",
        1,
    );
    let (err, _) = map_945(&text).unwrap_err();
    assert_eq!(err.at().segment_id, "G62");
    assert!(err.to_string().contains("G62*11"), "{err}");
}

#[test]
fn reference_856_node_x12_maps_one_shipment() {
    let text = load("x12-node-x12/856.edi");
    parse(text.as_bytes()).unwrap();
    let n = read_856(&sets(&text)[0]).unwrap();
    let m = shipments_from_856(&n, "WH1").unwrap();
    assert_eq!(m.shipments.len(), 1);
    let s = &m.shipments[0];
    assert_eq!(s.id, "WH1:829716");
    assert_eq!(s.order_id, "99999817");
    assert_eq!(s.fulfillment_request_id, "99999817");
    let lines: Vec<(&str, &str, u32)> = s
        .lines
        .iter()
        .map(|l| (l.line_id.as_str(), l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(lines, [("1", "87787D", 24), ("2", "99887D", 6)]);
    assert_eq!(
        (s.tracking.carrier.as_str(), s.tracking.number.as_str()),
        ("XXXX", "5787970539")
    );
    assert_eq!(
        s.shipped_at,
        Utc.with_ymd_and_hms(2011, 12, 6, 0, 0, 0).unwrap()
    );
    assert!(m.short_ships.is_empty());
}

#[test]
fn reference_856_multi_order_splits_and_reports_short_ships() {
    let all = sets(&load("x12-bots-plugins/856_2.x12"));
    let n = read_856(&all[0]).unwrap();
    let m = shipments_from_856(&n, "WH1").unwrap();
    let ids: Vec<&str> = m.shipments.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "WH1:4167427123:ordernumber1",
            "WH1:4167427123:ordernumber2",
            "WH1:4167427123:ordernumber4"
        ]
    );
    assert_eq!(m.shipments[0].order_id, "ordernumber1");
    let q: Vec<u32> = m.shipments[0].lines.iter().map(|l| l.quantity).collect();
    assert_eq!(q, [24, 36]);
    let short: Vec<(&str, &str, u32, u32)> = m
        .short_ships
        .iter()
        .map(|s| {
            (
                s.shipment_id.as_str(),
                s.line_id.as_str(),
                s.ordered,
                s.shipped,
            )
        })
        .collect();
    assert_eq!(
        short,
        [
            ("WH1:4167427123:ordernumber1", "2", 36, 24),
            ("WH1:4167427123:ordernumber2", "4", 36, 24)
        ]
    );
    // The second set carries no DTM*011.
    let err = shipments_from_856(&read_856(&all[1]).unwrap(), "WH1").unwrap_err();
    assert_eq!(err.at().segment_id, "DTM");
    assert_eq!(err.at().occurrence, None);
}

#[test]
fn reference_856_without_carrier_names_td5() {
    let text = load("x12-oopfactory/856_Example1.txt");
    let n = read_856(&sets(&text)[0]).unwrap();
    let err = shipments_from_856(&n, "WH1").unwrap_err();
    assert_eq!(err.at().segment_id, "TD5");
    assert!(err.to_string().contains("TD5-03"), "{err}");
}

#[test]
fn reference_846_without_on_hand_quantity_names_the_lin() {
    let text = load("x12-oopfactory/846_Example1.txt");
    let set = &sets(&text)[0];
    let a = read_846(set).unwrap();
    let as_of = Utc.with_ymd_and_hms(2004, 8, 11, 23, 0, 0).unwrap();
    let err = positions_from_846(&a, "DC1", as_of).unwrap_err();
    assert_eq!(err.position_in(set), Some(Position::segment(9, "LIN")));
    assert!(
        err.to_string().contains("[\"34\", \"QH\", \"QB\", \"87\"]"),
        "{err}"
    );
}

#[test]
fn reference_846_maps_positions_and_rejects_fractions() {
    // 846_Example1 reports QTY*34 (not on hand); as QTY*17 it is on hand.
    let as_of = Utc.with_ymd_and_hms(2004, 8, 11, 23, 0, 0).unwrap();
    let text = edited(
        "x12-oopfactory/846_Example1.txt",
        "QTY~34~5250",
        "QTY~17~5250",
    );
    let a = read_846(&sets(&text)[0]).unwrap();
    let p = positions_from_846(&a, "DC1", as_of).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (
            p[0].sku.as_str(),
            p[0].location.as_str(),
            p[0].on_hand,
            p[0].reserved
        ),
        ("46L5055", "DC1", 5250, 0)
    );
    assert_eq!(p[0].source, "DC1");
    assert_eq!(p[0].as_of, as_of);

    let text = edited(
        "x12-oopfactory/846_Example1.txt",
        "QTY~34~5250",
        "QTY~17~52.5",
    );
    let set = &sets(&text)[0];
    let err = positions_from_846(&read_846(set).unwrap(), "DC1", as_of).unwrap_err();
    assert_eq!(err.position_in(set), Some(Position::element(10, "QTY", 2)));
    assert!(err.to_string().contains("\"52.5\""), "{err}");
}
