//! Writer round trips, delimiter variants and "never panics" properties.

use crossdock_edi::{
    ControlNumbers, Delimiters, EdiError, EnvelopeParams, OrderLine, Party, ProductId, Reference,
    WarehouseShippingOrder, Weight, acknowledge, parse, read_940, read_997, write_940, write_997,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn params(delimiters: Delimiters, version: &str) -> EnvelopeParams {
    EnvelopeParams {
        delimiters,
        sender_qualifier: "ZZ".into(),
        sender_id: "CROSSDOCK".into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: "3PLWEST".into(),
        application_sender: "CROSSDOCK".into(),
        application_receiver: "3PLWEST".into(),
        date: "20260115".into(),
        time: "0930".into(),
        version: version.into(),
        group_version: "004010".into(),
        usage: 'T',
        ack_requested: false,
    }
}

const CN: ControlNumbers = ControlNumbers {
    interchange: 42,
    group: 7,
    first_set: 1,
};

fn sample_order() -> WarehouseShippingOrder {
    WarehouseShippingOrder {
        status_code: "N".into(),
        depositor_order_number: "SO-1001".into(),
        purchase_order_number: Some("PO 77".into()),
        parties: vec![Party {
            entity: "ST".into(),
            name: Some("Jane Doe".into()),
            id_qualifier: None,
            id: None,
            address_lines: vec!["1 Main St".into(), "Apt 2".into(), "Rear".into()],
            city: Some("Springfield".into()),
            state: Some("IL".into()),
            postal_code: Some("62701".into()),
            country: Some("US".into()),
        }],
        references: vec![Reference {
            qualifier: "SI".into(),
            id: Some("X1".into()),
            description: None,
        }],
        dates: vec![],
        carrier: None,
        lines: vec![OrderLine {
            line_number: 1,
            quantity: Decimal::new(25, 1),
            unit: "EA".into(),
            upc: None,
            product_ids: vec![ProductId {
                qualifier: "SK".into(),
                id: "SKU-1".into(),
            }],
            description: Some("Widget".into()),
            references: vec![],
        }],
        total_weight: None,
    }
}

#[test]
fn writes_940_with_exact_layout() {
    let d = Delimiters {
        element: b'*',
        component: b'>',
        repetition: None,
        segment: b'~',
    };
    let text = write_940(&[sample_order()], &params(d, "00401"), CN).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ISA*00*          *00*          *ZZ*CROSSDOCK      *ZZ*3PLWEST        *260115*0930*U*00401*000000042*0*T*>~"
    );
    assert_eq!(lines[0].len(), 106);
    assert_eq!(
        &lines[1..],
        [
            "GS*OW*CROSSDOCK*3PLWEST*20260115*0930*7*X*004010~",
            "ST*940*0001~",
            "W05*N*SO-1001*PO 77~",
            "N1*ST*Jane Doe~",
            "N3*1 Main St*Apt 2~",
            "N3*Rear~",
            "N4*Springfield*IL*62701*US~",
            "N9*SI*X1~",
            "LX*1~",
            "W01*2.5*EA**SK*SKU-1~",
            "G69*Widget~",
            "W76*2.5~",
            "SE*12*0001~",
            "GE*1*7~",
            "IEA*1*000000042~",
        ]
    );
    let ic = parse(text.as_bytes()).unwrap();
    assert_eq!(
        read_940(ic.transaction_sets().next().unwrap()).unwrap(),
        sample_order()
    );
}

#[test]
fn writer_rejects_delimiters_in_data() {
    let mut order = sample_order();
    order.depositor_order_number = "SO~1".into();
    let d = Delimiters {
        element: b'*',
        component: b'>',
        repetition: None,
        segment: b'~',
    };
    let err = write_940(&[order], &params(d, "00401"), CN).unwrap_err();
    assert_eq!(
        err.to_string(),
        "W0502: value \"SO~1\" contains the delimiter '~'"
    );
}

/// Found by the fuzzer: a lenient parse accepts a group with an empty GS;
/// a 997 for it would lack the mandatory AK1-02 and could not be read
/// back. The writer refuses it, naming the element.
#[test]
fn a_group_without_control_number_cannot_be_acknowledged_in_a_997() {
    let input = b"ISA*\x97*********1*E**3***>~GS~GE*~IEA";
    let parsed = crossdock_edi::parse_lenient(input).expect("lenient parse");
    let acks = acknowledge(&parsed.interchange);
    assert_eq!(acks.len(), 1);
    let err = write_997(&acks, &params(Delimiters::STANDARD, "00501"), CN).unwrap_err();
    assert!(
        err.to_string().contains("AK1-0"),
        "the error names the element: {err}"
    );
}

#[test]
fn ack_997_round_trip() {
    let inbound =
        parse(&std::fs::read("/work/shared/reference/x12-bots-plugins/856_2.x12").unwrap())
            .unwrap();
    let acks = acknowledge(&inbound);
    assert_eq!(acks[0].sets.len(), 2);
    let text = write_997(&acks, &params(Delimiters::STANDARD, "00501"), CN).unwrap();
    let ic = parse(text.as_bytes()).unwrap();
    assert_eq!(ic.groups[0].functional_id(), "FA");
    let read: Vec<_> = ic
        .transaction_sets()
        .map(|s| read_997(s).unwrap())
        .collect();
    assert_eq!(read, acks);
    assert!(
        text.contains("AK2*856*0061~\nAK5*A~\nAK9*A*2*2*2~\n"),
        "{text}"
    );
}

#[test]
fn delimiter_variants_with_crlf_and_indentation() {
    let text = "ISA|00|          |00|          |ZZ|A              |ZZ|B              |260101|0000|^|00501|000000001|0|P|:~\r\n\
                \tGS|SW|A|B|20260101|0000|1|X|005010~\r\n\
                  ST|945|0001~\r\n\
                    W06|F|SO1||SHIP1~\r\n\
                    LX|1~\r\n\
                    W12|SH|5|3|2|EA||SK|A^B~\r\n\
                    MAN|CP|1Z999~\r\n\
                  SE|6|0001~\r\n\
                GE|1|1~\r\n\
                IEA|1|000000001~\r\n";
    let mut bytes = b"\xEF\xBB\xBF  \r\n".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    let ic = parse(&bytes).unwrap();
    assert_eq!(
        ic.delimiters,
        Delimiters {
            element: b'|',
            component: b':',
            repetition: Some(b'^'),
            segment: b'~'
        }
    );
    let set = ic.transaction_sets().next().unwrap();
    let w12 = set.segments_with_id("W12").next().unwrap();
    assert_eq!(w12.element(8).unwrap().repetitions(), ["A", "B"]);
    let a = crossdock_edi::read_945(set).unwrap();
    assert_eq!(a.depositor_order_number.as_deref(), Some("SO1"));
    let l = &a.lines[0];
    assert_eq!(
        (
            l.quantity_ordered,
            l.quantity_shipped,
            l.quantity_difference
        ),
        (
            Some(Decimal::from(5)),
            Some(Decimal::from(3)),
            Some(Decimal::from(2))
        )
    );
    assert_eq!(a.tracking_numbers(), ["1Z999"]);
    // A wrong SE01 is reported at its exact position.
    let broken = text.replace("SE|6|0001", "SE|5|0001");
    assert_eq!(
        parse(broken.as_bytes()).unwrap_err().to_string(),
        "segment 8 (SE), element 1: segment count 5 does not match 6 segments in the transaction set"
    );
    let err = parse(b"hello").unwrap_err();
    assert!(matches!(err, EdiError::NotX12 { .. }), "{err}");
    assert_eq!(parse(b" \r\n"), Err(EdiError::Empty));
}

// ---------------------------------------------------------------- proptest

/// Text with no delimiter characters and no leading/trailing blanks (typed
/// readers trim, as partners pad).
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 .,/#&()-]{0,14}[A-Za-z0-9]|[A-Za-z0-9]"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn code() -> impl Strategy<Value = String> {
    "[A-Z0-9]{2}"
}

fn quantity() -> impl Strategy<Value = Decimal> {
    (1i64..10_000_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s))
}

fn party() -> impl Strategy<Value = Party> {
    (
        code(),
        opt_text(),
        proptest::option::of((code(), text())),
        proptest::collection::vec(text(), 0..4),
        opt_text(),
        proptest::option::of("[A-Z]{2}"),
        proptest::option::of("[0-9]{5}"),
        proptest::option::of("[A-Z]{2}"),
    )
        .prop_map(
            |(entity, name, id, address_lines, city, state, postal_code, country)| Party {
                entity,
                name,
                id_qualifier: id.as_ref().map(|i| i.0.clone()),
                id: id.map(|i| i.1),
                address_lines,
                city,
                state,
                postal_code,
                country,
            },
        )
        // An N1 with only the entity code still round-trips; but a party
        // must carry something besides N1-01 to be meaningful.
        .prop_filter("party with content", |p| p.name.is_some() || p.id.is_some())
}

fn reference() -> impl Strategy<Value = Reference> {
    (code(), text(), opt_text()).prop_map(|(qualifier, id, description)| Reference {
        qualifier,
        id: Some(id),
        description,
    })
}

fn date() -> impl Strategy<Value = crossdock_edi::DateTime> {
    (
        code(),
        "20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])",
        proptest::option::of(("[A-Z]", "[01][0-9][0-5][0-9]")),
    )
        .prop_map(|(qualifier, date, time)| crossdock_edi::DateTime {
            qualifier,
            date: Some(date),
            time_code: time.as_ref().map(|t| t.0.clone()),
            time: time.map(|t| t.1),
        })
}

fn line() -> impl Strategy<Value = OrderLine> {
    (
        quantity(),
        code(),
        proptest::option::of("[0-9]{12}"),
        proptest::collection::vec((code(), text()), 0..=3),
        opt_text(),
        proptest::collection::vec(reference(), 0..3),
    )
        .prop_map(
            |(quantity, unit, upc, ids, description, references)| OrderLine {
                line_number: 0,
                quantity,
                unit,
                upc,
                product_ids: ids
                    .into_iter()
                    .map(|(qualifier, id)| ProductId { qualifier, id })
                    .collect(),
                description,
                references,
            },
        )
}

fn order() -> impl Strategy<Value = WarehouseShippingOrder> {
    (
        "[NCR]",
        text(),
        opt_text(),
        proptest::collection::vec(party(), 0..4),
        proptest::collection::vec(reference(), 0..3),
        proptest::collection::vec(date(), 0..3),
        proptest::option::of((
            code(),
            proptest::option::of("[A-Z]"),
            opt_text(),
            proptest::option::of("[A-Z]{4}"),
        )),
        proptest::collection::vec(line(), 1..6),
        proptest::option::of((quantity(), proptest::option::of(code()))),
    )
        .prop_map(
            |(status, don, po, parties, references, dates, carrier, mut lines, weight)| {
                for (i, l) in lines.iter_mut().enumerate() {
                    l.line_number = u32::try_from(i).unwrap() + 1;
                }
                WarehouseShippingOrder {
                    status_code: status,
                    depositor_order_number: don,
                    purchase_order_number: po,
                    parties,
                    references,
                    dates,
                    carrier: carrier.map(|(payment_method, transport_method, routing, scac)| {
                        crossdock_edi::sets::w940::CarrierRouting {
                            payment_method,
                            transport_method,
                            routing,
                            scac,
                        }
                    }),
                    lines,
                    total_weight: weight.map(|(value, unit)| Weight { value, unit }),
                }
            },
        )
}

fn delimiters() -> impl Strategy<Value = (Delimiters, &'static str)> {
    prop_oneof![
        Just((
            Delimiters {
                element: b'*',
                component: b'>',
                repetition: None,
                segment: b'~'
            },
            "00401"
        )),
        Just((
            Delimiters {
                element: b'|',
                component: b':',
                repetition: Some(b'^'),
                segment: b'~'
            },
            "00501"
        )),
        Just((
            Delimiters {
                element: b'^',
                component: b'\\',
                repetition: Some(b'{'),
                segment: b'\n'
            },
            "00403"
        )),
        Just((
            Delimiters {
                element: b'~',
                component: b'`',
                repetition: None,
                segment: b'*'
            },
            "00401"
        )),
        Just((
            Delimiters {
                element: b'*',
                component: b'>',
                repetition: None,
                segment: 0x15
            },
            "00401"
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_940_round_trips(orders in proptest::collection::vec(order(), 1..3), (d, version) in delimiters(), icn in 0u32..=999_999_999, gcn in 1u32..=999_999_999) {
        let cn = ControlNumbers { interchange: icn, group: gcn, first_set: 1 };
        let text = write_940(&orders, &params(d, version), cn).unwrap();
        // Writer output passes strict envelope validation...
        let ic = parse(text.as_bytes()).unwrap();
        prop_assert!(ic.warnings.is_empty());
        prop_assert_eq!(ic.control_number().parse::<u32>().unwrap(), icn);
        // ...and reads back to the input.
        let read: Vec<_> = ic.transaction_sets().map(|s| read_940(s).unwrap()).collect();
        prop_assert_eq!(read, orders);
    }

    #[test]
    fn parse_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_mutated_samples(
        file in 0usize..6,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let files = [
            "x12-bots-plugins/856_1.x12",
            "x12-oopfactory/846_Example1.txt",
            "x12-oopfactory/945_inter-americanproducts.txt",
            "x12-node-x12/855.edi",
            "x12-oopfactory/810_Example5_Walmart.txt",
            "x12-bots-plugins/997_1.x12",
        ];
        let mut bytes = std::fs::read(format!("/work/shared/reference/{}", files[file])).unwrap();
        for (idx, b, op) in edits {
            if bytes.is_empty() { break; }
            let i = idx.index(bytes.len());
            match op {
                0 => bytes[i] = b,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, b),
            }
        }
        // Whatever survives the envelope must not panic the typed readers.
        if let Ok(l) = crossdock_edi::parse_lenient(&bytes) {
            for s in l.interchange.transaction_sets() {
                let _ = crossdock_edi::read_945(s);
                let _ = crossdock_edi::read_846(s);
                let _ = crossdock_edi::read_856(s);
                let _ = crossdock_edi::read_855(s);
                let _ = crossdock_edi::read_810(s);
                let _ = crossdock_edi::read_997(s);
                let _ = read_940(s);
            }
        }
    }
}
