//! Every X12 reference sample, read from the shared reference directory at
//! test time (the samples are third-party files and are not copied here).

use std::path::{Path, PathBuf};

use crossdock_edi::{
    AckStatus, EdiError, Interchange, parse, parse_lenient, read_810, read_846, read_855, read_856,
    read_940, read_945, read_997,
};
use rust_decimal::Decimal;

const REFERENCE: &str = "/work/shared/reference";

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn reference_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(REFERENCE).expect("reference directory") {
        let dir = dir.unwrap();
        if !dir.file_name().to_string_lossy().starts_with("x12-") {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

fn name(p: &Path) -> String {
    let dir = p.parent().unwrap().file_name().unwrap().to_string_lossy();
    format!("{dir}/{}", p.file_name().unwrap().to_string_lossy())
}

fn load(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(REFERENCE).join(rel)).unwrap()
}

fn ok(rel: &str) -> Interchange {
    parse(&load(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Expected outcome of strict `parse` per file: `None` = parses, otherwise
/// (segment index, segment id, element, start of the Display text after the
/// position).
fn expected(rel: &str) -> Option<(usize, &'static str, Option<usize>, &'static str)> {
    match rel {
        "x12-bots-plugins/ebcdic.x12" => Some((0, "", None, "input looks like EBCDIC")),
        // U+2026 "…" (E2 80 A6) as terminator: the byte after ISA16 is 0xE2.
        "x12-oopfactory/856_Example3.txt" => Some((
            1,
            "ISA",
            Some(16),
            "segment terminator (byte after ISA16) 0xE2 is not usable",
        )),
        // GS carries two extra elements (GS03 empty, then shifted fields).
        "x12-oopfactory/945_inter-americanproducts.txt" => Some((
            2,
            "GS",
            Some(9),
            "GS has 10 elements; at most 8 are allowed",
        )),
        // ISA12 "00040" is not an X12 version.
        "x12-oopfactory/810_Example5_Walmart.txt" => Some((
            1,
            "ISA",
            Some(12),
            "interchange version (ISA12) \"00040\" is invalid",
        )),
        // GE02/IEA02 (940001777) do not match GS06 (177818711)/ISA13.
        "x12-oopfactory/940_simplot.txt" => Some((
            30,
            "GE",
            Some(2),
            "group control number (GE02) \"940001777\" does not match GS06 \"177818711\"",
        )),
        _ => None,
    }
}

const KNOWN: &[&str] = &[
    "x12-bots-plugins/850-004010-ascii-lf.x12",
    "x12-bots-plugins/850-004010-ascii-st.x12",
    "x12-bots-plugins/850-004010-ascii1.x12",
    "x12-bots-plugins/856_1.x12",
    "x12-bots-plugins/856_2.x12",
    "x12-bots-plugins/997-004010VICS-01.x12",
    "x12-bots-plugins/997_1.x12",
    "x12-bots-plugins/ebcdic.x12",
    "x12-node-x12/850.edi",
    "x12-node-x12/850_2.edi",
    "x12-node-x12/850_3.edi",
    "x12-node-x12/855.edi",
    "x12-node-x12/856.edi",
    "x12-oopfactory/810_Example5_Walmart.txt",
    "x12-oopfactory/846_Example1.txt",
    "x12-oopfactory/846_Example2.txt",
    "x12-oopfactory/850_Example1_PGWGlass.txt",
    "x12-oopfactory/856_Example1.txt",
    "x12-oopfactory/856_Example2.txt",
    "x12-oopfactory/856_Example3.txt",
    "x12-oopfactory/856_Example4.txt",
    "x12-oopfactory/940_simplot.txt",
    "x12-oopfactory/945_inter-americanproducts.txt",
];

#[test]
fn every_reference_file_parses_or_fails_precisely() {
    let files = reference_files();
    let names: Vec<String> = files.iter().map(|p| name(p)).collect();
    assert_eq!(
        names, KNOWN,
        "the reference set changed; classify the new files"
    );
    for (path, rel) in files.iter().zip(&names) {
        let bytes = std::fs::read(path).unwrap();
        match (parse(&bytes), expected(rel)) {
            (Ok(ic), None) => {
                assert!(ic.transaction_sets().count() >= 1, "{rel}");
            }
            (Err(e), Some((seg, id, element, text))) => match e.position() {
                Some(p) => {
                    assert_eq!(
                        (p.segment, p.segment_id.as_str(), p.element),
                        (seg, id, element),
                        "{rel}: {e}"
                    );
                    let shown = e.to_string();
                    let (_, msg) = shown.split_once(": ").unwrap();
                    assert!(msg.starts_with(text), "{rel}: {shown}");
                }
                None => {
                    assert_eq!(seg, 0, "{rel}: {e}");
                    assert!(e.to_string().starts_with(text), "{rel}: {e}");
                }
            },
            (Ok(_), Some(exp)) => panic!("{rel}: expected failure {exp:?}"),
            (Err(e), None) => panic!("{rel}: unexpected error {e}"),
        }
    }
}

#[test]
fn malformed_error_kinds() {
    assert_eq!(
        parse(&load("x12-bots-plugins/ebcdic.x12")),
        Err(EdiError::Ebcdic)
    );
    assert!(matches!(
        parse(&load("x12-oopfactory/856_Example3.txt")),
        Err(EdiError::InvalidDelimiter {
            name: "segment terminator (byte after ISA16)",
            ..
        })
    ));
    assert!(matches!(
        parse(&load("x12-oopfactory/945_inter-americanproducts.txt")),
        Err(EdiError::TooManyElements {
            max: 8,
            found: 10,
            ..
        })
    ));
    assert!(matches!(
        parse(&load("x12-oopfactory/940_simplot.txt")),
        Err(EdiError::ControlNumberMismatch { header: "GS06", .. })
    ));
    // The lenient parse reports every envelope problem of the 945, in order.
    let lenient = parse_lenient(&load("x12-oopfactory/945_inter-americanproducts.txt")).unwrap();
    let at: Vec<String> = lenient
        .issues
        .iter()
        .map(|e| e.position().unwrap().to_string())
        .collect();
    assert_eq!(
        at,
        [
            "segment 2 (GS), element 9",
            "segment 3 (ST), element 2",
            "segment 20 (GE), element 2"
        ]
    );
    let lenient = parse_lenient(&load("x12-oopfactory/940_simplot.txt")).unwrap();
    assert_eq!(lenient.issues.len(), 2);
    assert_eq!(
        lenient.issues[1].to_string(),
        "segment 31 (IEA), element 2: interchange control number (IEA02) \"940001777\" does not match ISA13 \"398161180\""
    );
}

#[test]
fn delimiter_variants_in_samples() {
    let ic = ok("x12-oopfactory/856_Example1.txt");
    assert_eq!(
        (
            ic.delimiters.element,
            ic.delimiters.component,
            ic.delimiters.segment
        ),
        (b'~', b'`', b'*')
    );
    let ic = ok("x12-bots-plugins/997-004010VICS-01.x12");
    assert_eq!(ic.delimiters.segment, 0x15);
    let ic = ok("x12-bots-plugins/856_1.x12");
    assert_eq!(ic.delimiters.repetition, Some(b'^'));
    // ISA12 < 00402: ISA11 is the standards id, not a separator.
    assert_eq!(ok("x12-node-x12/850.edi").delimiters.repetition, None);
    // '-' repetition separator: the raw value stays whole.
    let ic = ok("x12-node-x12/856.edi");
    assert_eq!(ic.delimiters.repetition, Some(b'-'));
    let n4 = ic
        .transaction_sets()
        .next()
        .unwrap()
        .segments_with_id("N4")
        .nth(1)
        .unwrap();
    assert_eq!(n4.get(3), Some("31139-0020"));
    assert_eq!(n4.element(3).unwrap().repetitions(), ["31139", "0020"]);
    // The same 850 in three terminator styles yields the same segments.
    let ids = |rel| {
        ok(rel)
            .transaction_sets()
            .next()
            .unwrap()
            .segments
            .iter()
            .map(|s| format!("{:?}", s.elements))
            .collect::<Vec<_>>()
    };
    let lf = ids("x12-bots-plugins/850-004010-ascii-lf.x12");
    assert_eq!(lf, ids("x12-bots-plugins/850-004010-ascii-st.x12"));
    assert_eq!(lf, ids("x12-bots-plugins/850-004010-ascii1.x12"));
    // BOM, CRLF and indentation are tolerated; the blank ISA11 is a warning.
    let ic = ok("x12-oopfactory/846_Example1.txt");
    assert_eq!(ic.warnings.len(), 1);
    assert_eq!(ic.warnings[0].at.to_string(), "segment 1 (ISA), element 11");
}

#[test]
fn snapshot_945() {
    // Only 945 sample has envelope faults; its content is read leniently.
    let lenient = parse_lenient(&load("x12-oopfactory/945_inter-americanproducts.txt")).unwrap();
    let set = lenient.interchange.transaction_sets().next().unwrap();
    let a = read_945(set).unwrap();
    assert_eq!(a.reporting_code, "N");
    assert_eq!(a.depositor_order_number, None);
    assert_eq!(a.ship_date.as_deref(), Some("20020916"));
    assert_eq!(a.shipment_id.as_deref(), Some("2144"));
    let ship_to = a.parties.iter().find(|p| p.entity == "ST").unwrap();
    assert_eq!(ship_to.name.as_deref(), Some("TEST CUSTOMER"));
    assert_eq!(ship_to.id.as_deref(), Some("0733940588254"));
    assert_eq!(a.dates[0].qualifier, "11");
    let carrier = a.carrier.as_ref().unwrap();
    assert_eq!(
        (carrier.transport_method.as_str(), carrier.scac.as_deref()),
        ("M", Some("NA"))
    );
    assert_eq!(a.lines.len(), 3);
    let l = &a.lines[1];
    assert_eq!(l.line_number, Some(2));
    assert_eq!(l.status.as_deref(), Some("CL"));
    assert_eq!(
        (l.quantity_ordered, l.quantity_shipped),
        (Some(dec("400")), Some(dec("400")))
    );
    assert_eq!(l.unit, None);
    assert_eq!(l.product_ids[0].qualifier, "IN");
    assert_eq!(l.product_ids[0].id, "100021");
    assert_eq!(l.lot.as_deref(), Some("82943"));
    assert_eq!(l.weight, Some(dec("20000")));
    assert_eq!(l.references[0].qualifier, "2I");
    assert_eq!(l.references[0].id.as_deref(), Some("K018273-00033"));
    assert_eq!(
        a.tracking_numbers(),
        ["K018293-00010", "K018273-00033", "K082738-0041"]
    );
    let t = a.totals.as_ref().unwrap();
    assert_eq!(
        (t.units_shipped, t.weight),
        (Some(dec("920")), Some(dec("46600")))
    );
    // serde output is plain JSON.
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["lines"][0]["quantity_shipped"], "120");
}

#[test]
fn snapshot_846() {
    let ic = ok("x12-oopfactory/846_Example1.txt");
    let inv = read_846(ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(
        (inv.purpose.as_str(), inv.report_type.as_str()),
        ("00", "CM")
    );
    assert_eq!(inv.reference.as_deref(), Some("10353"));
    assert_eq!(inv.date.as_deref(), Some("20040811"));
    assert_eq!(inv.currency.as_deref(), Some("USD"));
    assert_eq!(inv.dates[0].time_code.as_deref(), Some("GM"));
    assert_eq!(inv.items.len(), 1);
    let item = &inv.items[0];
    assert_eq!(item.product_ids[0].qualifier, "BP");
    assert_eq!(item.product_ids[0].id, "46L5055");
    assert_eq!(item.product_ids.len(), 4);
    let q: Vec<(&str, Decimal, Option<&str>)> = item
        .quantities
        .iter()
        .map(|q| (q.qualifier.as_str(), q.quantity, q.unit.as_deref()))
        .collect();
    assert_eq!(
        q,
        [
            ("34", dec("5250"), Some("EA")),
            ("QH", dec("100"), Some("EA")),
            ("QB", dec("50"), Some("EA")),
            ("87", dec("75"), Some("EA")),
        ]
    );
    // 846_Example2 lost two segment terminators ("REF~ZZ~ASIAQTY...",
    // "QTY~17~7280~FTCTT~5"); its SE01 was counted after the damage so the
    // envelope passes, and the typed reader pins the damage.
    let ic = ok("x12-oopfactory/846_Example2.txt");
    let err = read_846(ic.transaction_sets().next().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "segment 25 (QTY), element 3: unit of measure (QTY-03) \"FTCTT\" is invalid: expected a 2-character unit of measure code"
    );
}

#[test]
fn snapshot_856() {
    let ic = ok("x12-bots-plugins/856_1.x12");
    let asn = read_856(ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(asn.shipment_id.as_deref(), Some("15918861602"));
    assert_eq!(asn.structure_code.as_deref(), Some("0001"));
    assert_eq!(asn.levels.len(), 1);
    let s = &asn.levels[0];
    assert_eq!(s.level, "S");
    assert_eq!(
        s.parties
            .iter()
            .map(|p| p.entity.as_str())
            .collect::<Vec<_>>(),
        ["ST", "SH"]
    );
    let order = &s.children[0];
    assert_eq!(
        (order.level.as_str(), order.purchase_order.as_deref()),
        ("O", Some("ordernumber"))
    );
    assert_eq!(order.children.len(), 3);
    assert_eq!(order.children[0].marks[0].number, "0000123456781234567892");
    let items = asn.items();
    assert_eq!(items.len(), 58);
    assert_eq!(items[0].purchase_order, Some("ordernumber"));
    assert_eq!(items[0].containers, ["0000123456781234567892"]);
    assert_eq!(items[0].item.product_ids[0].id, "058824077500");
    assert_eq!(items[0].item.quantity_shipped, Some(dec("11")));
    let total: Decimal = items.iter().filter_map(|i| i.item.quantity_shipped).sum();
    assert_eq!(total, dec("427"));

    let ic = ok("x12-node-x12/856.edi");
    let asn = read_856(ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(asn.shipment_id.as_deref(), Some("829716"));
    assert_eq!(asn.tracking_numbers(), ["5787970539"]);
    assert_eq!(asn.bill_of_lading(), Some("999999-001"));
    assert_eq!(asn.levels[0].carriers.len(), 1);
    assert_eq!(asn.items()[1].item.product_ids[1].id, "999999311746");

    // Blank HL-02 (856_Example4): parents inferred from the level codes.
    let ic = ok("x12-oopfactory/856_Example4.txt");
    let asn = read_856(ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(asn.levels.len(), 1);
    assert_eq!(asn.levels[0].children[0].children.len(), 7);
    assert_eq!(asn.items()[0].purchase_order, Some("PO NUMBER"));
    assert_eq!(asn.levels[0].carriers[0].scac.as_deref(), Some("NONE"));

    // Items directly under the shipment, empty BSN-02 (856_Example2).
    let ic = ok("x12-oopfactory/856_Example2.txt");
    let asn = read_856(ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(asn.shipment_id, None);
    assert_eq!(asn.items().len(), 2);
    // Two sets in one group (856_2).
    let ic = ok("x12-bots-plugins/856_2.x12");
    assert_eq!(ic.transaction_sets().count(), 2);
    for set in ic.transaction_sets() {
        read_856(set).unwrap();
    }
}

#[test]
fn other_sets() {
    let ic = ok("x12-bots-plugins/997_1.x12");
    let ack = read_997(ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(
        (
            ack.functional_id.as_str(),
            ack.group_control_number.as_str()
        ),
        ("PO", "214")
    );
    assert_eq!(ack.sets[0].control_number, "000000390");
    assert_eq!(ack.sets[0].status, AckStatus::Accepted);
    assert_eq!(
        (ack.sets_included, ack.sets_received, ack.sets_accepted),
        (1, 1, 1)
    );

    let ic = ok("x12-node-x12/855.edi");
    let poa = read_855(ic.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(poa.purchase_order_number, "POTEST1112");
    assert_eq!(poa.lines.len(), 4);
    assert_eq!(poa.lines[0].unit_price, Some(dec("4.5")));
    assert_eq!(poa.lines[1].acks[0].status, "IR");
    assert_eq!(poa.lines[0].acks[0].quantity, Some(dec("3")));

    // The Walmart 810 has an invalid ISA12, so it is read leniently.
    let lenient = parse_lenient(&load("x12-oopfactory/810_Example5_Walmart.txt")).unwrap();
    let inv = read_810(lenient.interchange.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(inv.invoice_number, "6463367");
    assert_eq!(inv.total_amount, dec("3875.30"));
    let line = &inv.lines[0];
    assert_eq!((line.quantity, line.unit_price), (dec("1080"), dec("3.61")));
    assert_eq!(line.allowances_charges[0].amount, Some(dec("23.50")));
    assert_eq!(line.product_ids[2].id, "00221089552284");
    // Invoice arithmetic holds exactly in decimal.
    assert_eq!(
        line.quantity * line.unit_price - dec("23.50"),
        inv.total_amount
    );

    let lenient = parse_lenient(&load("x12-oopfactory/940_simplot.txt")).unwrap();
    let order = read_940(lenient.interchange.transaction_sets().next().unwrap()).unwrap();
    assert_eq!(order.depositor_order_number, "01235639");
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.lines[0].quantity, dec("972"));
    assert_eq!(order.lines[1].references.len(), 2);
    assert_eq!(order.total_weight.as_ref().unwrap().value, dec("44118"));
}
