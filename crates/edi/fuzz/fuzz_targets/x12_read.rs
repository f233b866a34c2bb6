//! Arbitrary bytes into the X12 reader.
//!
//! For any input: no panic (including arithmetic overflow, which the
//! cargo-fuzz build checks), no hang (`-timeout`), no runaway allocation
//! (`-rss_limit_mb` / `-malloc_limit_mb`). Beyond that, for inputs that parse:
//!
//! - `parse` agrees with `parse_lenient` (strict = lenient with no issues,
//!   else its first issue);
//! - every typed reader (940/945/856/846/855/810/997) and the canonical
//!   mappings (945/856 -> shipments, 846 -> positions) run, errors rendered;
//! - a 940 that reads is written back with `write_940` using the parsed
//!   delimiters; when the writer accepts it, the output must parse strictly
//!   and read back as the same order;
//! - the 997 built by `acknowledge` is written for every interchange; when
//!   the writer accepts it, the output must parse strictly and every set
//!   must read as a 997 (the writer refuses a group without GS01/GS06,
//!   which a lenient parse can produce: its AK1 would lack them).
#![no_main]

use std::hint::black_box;

use chrono::{DateTime, Utc};
use crossdock_edi::{
    ControlNumbers, Delimiters, EnvelopeParams, Interchange, LenientParse, acknowledge, parse,
    parse_lenient, positions_from_846, read_810, read_846, read_855, read_856, read_940, read_945,
    read_997, shipments_from_856, shipments_from_945, write_940, write_997,
};
use libfuzzer_sys::fuzz_target;

const CN: ControlNumbers = ControlNumbers {
    interchange: 1,
    group: 1,
    first_set: 1,
};

fn params(delimiters: Delimiters) -> EnvelopeParams {
    EnvelopeParams {
        delimiters,
        sender_qualifier: "ZZ".into(),
        sender_id: "CROSSDOCK".into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: "PARTNER".into(),
        application_sender: "CROSSDOCK".into(),
        application_receiver: "PARTNER".into(),
        date: "20260115".into(),
        time: "0930".into(),
        // The writer requires ISA11 to match the version: a repetition
        // separator exists from 00402 on.
        version: if delimiters.repetition.is_some() {
            "00501".into()
        } else {
            "00401".into()
        },
        group_version: "004010".into(),
        usage: 'T',
        ack_requested: false,
    }
}

fn as_of() -> DateTime<Utc> {
    DateTime::from_timestamp(1_768_469_400, 0).expect("valid timestamp")
}

fn exercise_tokens(ic: &Interchange) {
    black_box((
        ic.sender_id(),
        ic.sender_qualifier(),
        ic.receiver_id(),
        ic.receiver_qualifier(),
        ic.version(),
        ic.control_number(),
        ic.usage_indicator(),
    ));
    for w in &ic.warnings {
        black_box(w.to_string());
    }
    for g in &ic.groups {
        black_box((
            g.functional_id(),
            g.sender(),
            g.receiver(),
            g.control_number(),
            g.version(),
        ));
        for set in &g.sets {
            black_box((set.id(), set.control_number()));
            for seg in set.segments.iter().chain([&set.st, &set.se]) {
                black_box(seg.position().to_string());
                for (i, el) in seg.elements.iter().enumerate() {
                    black_box((el.components(), el.repetitions(), el.component(2)));
                    black_box((seg.text(i + 1), seg.at(i + 1)));
                }
            }
        }
    }
}

fn read_sets(ic: &Interchange) {
    for set in ic.transaction_sets() {
        match set.id() {
            "940" => match read_940(set) {
                Ok(order) => roundtrip_940(ic.delimiters, &order),
                Err(e) => drop(black_box(e.to_string())),
            },
            "945" => match read_945(set) {
                Ok(a) => {
                    black_box((a.tracking_numbers(), a.bill_of_lading()));
                    match shipments_from_945(&a, "WH1") {
                        Ok(m) => drop(black_box(m)),
                        Err(e) => drop(black_box((e.to_string(), e.describe_in(set)))),
                    }
                }
                Err(e) => drop(black_box(e.to_string())),
            },
            "856" => match read_856(set) {
                Ok(n) => {
                    black_box((
                        n.items(),
                        n.all_levels(),
                        n.tracking_numbers(),
                        n.bill_of_lading(),
                    ));
                    match shipments_from_856(&n, "WH1") {
                        Ok(m) => drop(black_box(m)),
                        Err(e) => drop(black_box((e.to_string(), e.describe_in(set)))),
                    }
                }
                Err(e) => drop(black_box(e.to_string())),
            },
            "846" => match read_846(set) {
                Ok(a) => match positions_from_846(&a, "WH1", as_of()) {
                    Ok(p) => drop(black_box(p)),
                    Err(e) => drop(black_box((e.to_string(), e.describe_in(set)))),
                },
                Err(e) => drop(black_box(e.to_string())),
            },
            "855" => drop(black_box(read_855(set).map_err(|e| e.to_string()))),
            "810" => drop(black_box(read_810(set).map_err(|e| e.to_string()))),
            "997" => drop(black_box(read_997(set).map_err(|e| e.to_string()))),
            _ => {}
        }
    }
}

/// A 940 we read, written back, must read back as the same order.
fn roundtrip_940(delimiters: Delimiters, order: &crossdock_edi::WarehouseShippingOrder) {
    // The reader accepts some delimiter sets the writer refuses (e.g. a
    // non-ASCII byte); and a value may hold a character that is a delimiter
    // in the output (e.g. a line break). Both are writer errors by design.
    let Ok(text) = write_940(std::slice::from_ref(order), &params(delimiters), CN) else {
        return;
    };
    let ic = match parse(text.as_bytes()) {
        Ok(ic) => ic,
        Err(e) => panic!("written 940 does not parse: {e}\n--- written:\n{text}"),
    };
    let mut sets = ic.transaction_sets();
    let set = sets.next().expect("written 940 has a transaction set");
    assert!(sets.next().is_none(), "written 940 has more than one set");
    match read_940(set) {
        Ok(again) => assert_eq!(
            &again, order,
            "940 read back differs from the order written\n--- written:\n{text}"
        ),
        Err(e) => panic!("written 940 does not read back: {e}\n--- written:\n{text}"),
    }
}

/// The 997 for an interchange, when the writer accepts it, must parse and
/// read back — also for an interchange only the lenient parse accepted
/// (the writer refuses a group it cannot acknowledge properly).
fn roundtrip_997(ic: &Interchange, _strict: bool) {
    let acks = acknowledge(ic);
    let Ok(text) = write_997(&acks, &params(Delimiters::STANDARD), CN) else {
        return;
    };
    let out = match parse(text.as_bytes()) {
        Ok(out) => out,
        Err(e) => panic!("written 997 does not parse: {e}\n--- written:\n{text}"),
    };
    assert_eq!(
        out.transaction_sets().count(),
        acks.len(),
        "one 997 per group"
    );
    for set in out.transaction_sets() {
        if let Err(e) = read_997(set) {
            panic!("written 997 does not read back: {e}\n--- written:\n{text}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let strict = parse(data);
    let lenient = parse_lenient(data);
    match (&strict, &lenient) {
        (
            Ok(s),
            Ok(LenientParse {
                interchange,
                issues,
            }),
        ) => {
            assert!(
                issues.is_empty(),
                "parse succeeded but parse_lenient has issues"
            );
            assert_eq!(s, interchange, "parse and parse_lenient disagree");
        }
        (Err(e), Ok(LenientParse { issues, .. })) => {
            assert_eq!(
                issues.first(),
                Some(e),
                "parse error is not lenient's first issue"
            );
        }
        (Err(e), Err(le)) => assert_eq!(e, le, "parse and parse_lenient fail differently"),
        (Ok(_), Err(_)) => panic!("parse succeeded but parse_lenient failed"),
    }
    let strict_ok = strict.is_ok();
    match lenient {
        Ok(LenientParse {
            interchange,
            issues,
        }) => {
            for i in &issues {
                black_box((i.to_string(), i.position()));
            }
            exercise_tokens(&interchange);
            read_sets(&interchange);
            roundtrip_997(&interchange, strict_ok);
        }
        Err(e) => drop(black_box((e.to_string(), e.position().cloned()))),
    }
});
