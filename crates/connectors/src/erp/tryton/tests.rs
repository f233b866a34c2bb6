use chrono::NaiveDate;

use crossdock_model::OrderLine;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::client::{
    Answer, RpcError, TrytonErp, TrytonErpOptions, base64, read_answer, session_authorization,
};
use super::mapping::TaxRate;
use super::mapping::{Dec, PricedLine, date, decimal, price_line};
use crate::{ConnectorError, HttpClient};

use crossdock_model::{Currency, Money};
use rust_decimal::dec;

fn usd(amount: Decimal) -> Money {
    Money::new(amount, Currency::USD)
}

fn line(quantity: u32, unit_price: Decimal, discount: Decimal, tax: Decimal) -> OrderLine {
    OrderLine {
        line_id: "1".into(),
        sku: "SKU-001".into(),
        title: "Widget".into(),
        quantity,
        unit_price: usd(unit_price),
        discount: usd(discount),
        tax: usd(tax),
        shipped_quantity: 0,
        cancelled_quantity: 0,
    }
}

fn taxes() -> Vec<TaxRate> {
    [(1, dec!(0.0825)), (2, dec!(0.10)), (3, dec!(0))]
        .into_iter()
        .map(|(id, rate)| TaxRate {
            id,
            rate: Dec(rate),
        })
        .collect()
}

#[test]
fn unit_price_carries_the_discount_share_and_tax_is_found_by_rate() {
    // 2 × 19.99 = 39.98, tax 8.25 % = 3.29835 → 3.30
    let priced = price_line(&line(2, dec!(19.99), dec!(0), dec!(3.30)), &taxes()).unwrap();
    assert_eq!(
        priced,
        PricedLine {
            unit_price: dec!(19.99),
            tax: Some(1)
        }
    );
    // 3 × 10.00 − 1.00 = 29.00 → 9.6667 a unit; tax 10 % = 2.90
    let priced = price_line(&line(3, dec!(10.00), dec!(1.00), dec!(2.90)), &taxes()).unwrap();
    assert_eq!(
        priced,
        PricedLine {
            unit_price: dec!(9.6667),
            tax: Some(2)
        }
    );
    // Zero tax: no tax at all on the line.
    let priced = price_line(&line(1, dec!(5), dec!(0), dec!(0)), &taxes()).unwrap();
    assert_eq!(priced.tax, None);
}

#[test]
fn a_tax_no_rate_reproduces_is_refused_naming_the_line() {
    let err = price_line(&line(1, dec!(100), dec!(0), dec!(7.00)), &taxes()).unwrap_err();
    match err {
        ConnectorError::Rejected { reason } => {
            assert!(reason.contains("line 1 (SKU-001)"), "{reason}");
            assert!(reason.contains("7%"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[test]
fn rpc_url_is_the_database_route() {
    let http = HttpClient::new(Default::default()).unwrap();
    let erp = TrytonErp::new(
        TrytonErpOptions::new("http://127.0.0.1:8000", "crossdock", "admin", "pw", "east"),
        http,
    )
    .unwrap();
    assert_eq!(erp.rpc_url.as_str(), "http://127.0.0.1:8000/crossdock/rpc/");
    assert!(!format!("{:?}", erp.options).contains("pw\""));
}

#[test]
fn decimals_and_dates_use_tryton_tags() {
    assert_eq!(
        decimal(dec!(12.50)),
        json!({"__class__": "Decimal", "decimal": "12.50"})
    );
    assert_eq!(
        date(NaiveDate::from_ymd_opt(2026, 2, 3).unwrap()),
        json!({"__class__": "date", "year": 2026, "month": 2, "day": 3})
    );
    let read = |v: Value| serde_json::from_value::<Dec>(v).map(|d| d.0);
    assert_eq!(
        read(json!({"__class__": "Decimal", "decimal": "41.25"})).unwrap(),
        dec!(41.25)
    );
    assert_eq!(
        read(json!({"__class__": "Decimal", "decimal": "0E-10"})).unwrap(),
        Decimal::ZERO
    );
    assert_eq!(read(json!("0.0825000000")).unwrap(), dec!(0.0825));
    assert!(read(json!(12.5)).is_err(), "money never comes as a float");
    assert!(read(Value::Null).is_err());
}

#[test]
fn errors_map_to_connector_errors() {
    let answer = |body: &str| read_answer("model.sale.sale.create", body.as_bytes());
    assert_eq!(
        answer(r#"{"id":1,"result":null}"#).unwrap(),
        Answer::Result(Value::Null)
    );
    let Answer::Error(user) = answer(
        r#"{"id":1,"error":["UserError",["The web ID on the sale must be unique per shop.","",null]]}"#,
    )
    .unwrap() else {
        panic!("expected an error")
    };
    match user.into_connector_error("model.sale.sale.create") {
        ConnectorError::Rejected { reason } => {
            assert!(reason.contains("must be unique per shop"), "{reason}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        answer(r#"{"id":1,"error":["UserWarning",["abc.invoice_taxes","No default taxes",""]]}"#)
            .unwrap(),
        Answer::Error(RpcError::Warning {
            name: "abc.invoice_taxes".into(),
            message: "No default taxes".into()
        })
    );
    let Answer::Error(server) =
        answer(r#"{"id":1,"error":["'res.user'","Traceback ..."]}"#).unwrap()
    else {
        panic!("expected an error")
    };
    assert!(server.into_connector_error("m").is_in_doubt());
    let Answer::Error(concurrency) =
        answer(r#"{"id":1,"error":["ConcurrencyException","Records were modified"]}"#).unwrap()
    else {
        panic!("expected an error")
    };
    assert!(matches!(
        concurrency.into_connector_error("m"),
        ConnectorError::Transient { .. }
    ));
    assert!(answer("<html>").unwrap_err().is_in_doubt());
    assert!(answer(r#"{"id":1}"#).unwrap_err().is_in_doubt());
}

#[test]
fn session_header_is_base64_of_login_uid_key() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(
        session_authorization("admin", 1, "c78d"),
        "Session YWRtaW46MTpjNzhk"
    );
}

// ---- settlement journals ----------------------------------------------------

mod journals {
    use chrono::NaiveDate;
    use crossdock_model::{Currency, Journal, JournalAccount, JournalLine};
    use rust_decimal::{Decimal, dec};
    use serde_json::json;

    use super::super::accounts::{AccountRef, SettlementAccounts, truthy};
    use super::super::journals::{Placed, check_journal, invoice_references, move_lines};
    use crate::ConnectorError;

    fn line(account: JournalAccount, debit: Decimal, credit: Decimal, memo: &str) -> JournalLine {
        JournalLine {
            account,
            reference: None,
            debit,
            credit,
            memo: memo.into(),
        }
    }

    fn journal(lines: Vec<JournalLine>) -> Journal {
        Journal {
            settlement_id: "1234".into(),
            reference: "settlement:amazon:1234:2026-11".into(),
            month: "2026-11".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            currency: Currency::USD,
            lines,
        }
    }

    fn rejected_with(result: Result<(), ConnectorError>, needle: &str) {
        match result {
            Err(ConnectorError::Rejected { reason }) => {
                assert!(reason.contains(needle), "{needle:?} not in {reason:?}")
            }
            other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn an_unbalanced_empty_or_two_sided_journal_is_refused_before_tryton_sees_it() {
        let balanced = journal(vec![
            line(JournalAccount::Bank, dec!(90.00), dec!(0), "deposit"),
            line(JournalAccount::Fees, dec!(10.00), dec!(0), "Commission"),
            line(JournalAccount::Receivable, dec!(0), dec!(100.00), "order"),
        ]);
        check_journal(&balanced).unwrap();

        let mut unbalanced = balanced.clone();
        unbalanced.lines[1].debit = dec!(9.99);
        rejected_with(check_journal(&unbalanced), "debits 99.99 ≠ credits 100.00");

        let mut two_sided = balanced.clone();
        two_sided.lines[0].credit = dec!(1);
        two_sided.lines[2].credit = dec!(101.00);
        rejected_with(check_journal(&two_sided), "line 1 (Bank, deposit): both");

        let mut negative = balanced;
        negative.lines[1].debit = dec!(-10.00);
        negative.lines[2].credit = dec!(80.00);
        rejected_with(
            check_journal(&negative),
            "line 2 (Fees, Commission): negative",
        );

        rejected_with(
            check_journal(&journal(vec![line(
                JournalAccount::Bank,
                dec!(0),
                dec!(0),
                "nothing",
            )])),
            "no amount",
        );
    }

    #[test]
    fn move_lines_leave_out_zero_lines_and_set_a_party_only_where_the_account_needs_one() {
        let mut receivable = line(JournalAccount::Receivable, dec!(0), dec!(25.50), "order");
        receivable.reference = Some("111-2223333-4445555".into());
        let lines = vec![
            line(JournalAccount::Bank, dec!(25.50), dec!(0), "deposit"),
            line(JournalAccount::Reserve, dec!(0), dec!(0), "no reserve"),
            receivable,
        ];
        let plain = |id| Placed {
            account: AccountRef {
                id,
                party_required: false,
            },
            party: None,
        };
        let placed = vec![
            plain(35),
            plain(136),
            Placed {
                account: AccountRef {
                    id: 39,
                    party_required: true,
                },
                party: Some(7),
            },
        ];
        let values = move_lines(&lines, &placed);
        assert_eq!(
            values,
            vec![
                json!({
                    "account": 35,
                    "debit": {"__class__": "Decimal", "decimal": "25.50"},
                    "credit": {"__class__": "Decimal", "decimal": "0"},
                    "description": "deposit",
                }),
                json!({
                    "account": 39,
                    "debit": {"__class__": "Decimal", "decimal": "0"},
                    "credit": {"__class__": "Decimal", "decimal": "25.50"},
                    "description": "order [111-2223333-4445555]",
                    "party": 7,
                }),
            ]
        );
    }

    #[test]
    fn a_receivable_line_looks_for_its_orders_invoice_under_the_hubs_references() {
        let j = journal(Vec::new());
        assert_eq!(
            invoice_references(&j, "111-2223333-4445555"),
            vec![
                "111-2223333-4445555",
                "111-2223333-4445555:invoice",
                "amazon:111-2223333-4445555:invoice",
            ]
        );
    }

    #[test]
    fn every_journal_account_has_a_default_and_sqlite_booleans_read_as_booleans() {
        let accounts = SettlementAccounts::default();
        for account in [
            JournalAccount::Bank,
            JournalAccount::Receivable,
            JournalAccount::Fees,
            JournalAccount::MarketplaceFacilitatorClearing,
            JournalAccount::Reserve,
            JournalAccount::Other,
            JournalAccount::Suspense,
            JournalAccount::SettlementClearing,
        ] {
            assert!(!accounts.account(account).is_empty(), "{account:?}");
        }
        assert_eq!(accounts.account(JournalAccount::Bank), "1.1.1");
        assert!(truthy(&json!(1)) && truthy(&json!(true)));
        assert!(!truthy(&json!(0)) && !truthy(&json!(false)) && !truthy(&json!(null)));
    }
}
