//! Settlement journals posted to a real Tryton: one posted, balanced
//! `account.move` per journal, found by its reference, never two.

use chrono::Utc;
use crossdock_connectors::Erp;
use crossdock_model::{Currency, Journal, JournalAccount, JournalLine};
use rust_decimal::{Decimal, dec};
use serde_json::{Value, json};

use super::tryton_server::{TrytonRpc, TrytonServer};
use super::{dec_of, erp, order_shipped, start};

fn line(account: JournalAccount, debit: Decimal, credit: Decimal, memo: &str) -> JournalLine {
    JournalLine {
        account,
        reference: None,
        debit,
        credit,
        memo: memo.into(),
    }
}

fn for_order(mut line: JournalLine, order: &str) -> JournalLine {
    line.reference = Some(order.to_owned());
    line
}

/// A settlement of two orders (one the hub invoiced in Tryton, one Tryton
/// never saw, left in suspense), a commission, a marketplace-facilitator
/// tax pair, a reserve held and a subscription fee; `deposit` is what the
/// bank receives.
fn journal(settlement_id: &str, invoiced_order: &str, invoiced_total: Decimal) -> Journal {
    let commission = dec!(6.12);
    let reserve = dec!(5.00);
    let subscription = dec!(39.99);
    let unknown_order = dec!(12.34);
    let deposit = invoiced_total + unknown_order - commission - reserve - subscription;
    Journal {
        settlement_id: settlement_id.into(),
        reference: format!("settlement:webstore:{settlement_id}:{}", month()),
        month: month(),
        date: Utc::now().date_naive(),
        currency: Currency::USD,
        lines: vec![
            line(JournalAccount::Bank, deposit, dec!(0), "deposit"),
            for_order(
                line(JournalAccount::Receivable, dec!(0), invoiced_total, "order"),
                invoiced_order,
            ),
            line(
                JournalAccount::Fees,
                commission,
                dec!(0),
                "ItemFees/Commission",
            ),
            line(
                JournalAccount::MarketplaceFacilitatorClearing,
                dec!(0),
                dec!(3.30),
                "ItemPrice/Tax collected",
            ),
            line(
                JournalAccount::MarketplaceFacilitatorClearing,
                dec!(3.30),
                dec!(0),
                "ItemWithheldTax/MarketplaceFacilitatorTax-Principal",
            ),
            line(
                JournalAccount::Reserve,
                reserve,
                dec!(0),
                "Current Reserve Amount",
            ),
            line(
                JournalAccount::Other,
                subscription,
                dec!(0),
                "Subscription Fee",
            ),
            // A zero line carries nothing and is left out of the move.
            line(
                JournalAccount::SettlementClearing,
                dec!(0),
                dec!(0),
                "carried",
            ),
            for_order(
                line(
                    JournalAccount::Suspense,
                    dec!(0),
                    unknown_order,
                    "order_not_found",
                ),
                "999-0000000-0000000",
            ),
        ],
    }
}

fn month() -> String {
    Utc::now().format("%Y-%m").to_string()
}

fn moves_with(rpc: &TrytonRpc, reference: &str) -> Vec<Value> {
    rpc.search_read(
        "account.move",
        json!([["description", "=", reference]]),
        &["state", "number", "journal", "date", "lines"],
    )
}

fn move_lines(rpc: &TrytonRpc, move_id: i64) -> Vec<Value> {
    rpc.search_read(
        "account.move.line",
        json!([["move", "=", move_id]]),
        &["account", "debit", "credit", "party", "description"],
    )
}

fn account(server: &TrytonServer, rpc: &TrytonRpc, code: &str) -> i64 {
    let found = rpc.search_read("account.account", json!([["code", "=", code]]), &["id"]);
    found
        .first()
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("no account {code} in {}", server.fixture()))
}

fn line_on(lines: &[Value], account: i64) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["account"].as_i64() == Some(account))
        .collect()
}

#[tokio::test]
async fn a_journal_becomes_one_posted_balanced_move_whose_bank_line_is_the_deposit() {
    let Some(server) = start() else { return };
    let erp = erp(&server);
    let rpc = server.rpc();
    let order = order_shipped(&erp, "WS-000101", 21).await;
    let j = journal("S-101", &order.external_id, order.total.amount);
    let deposit = j.lines[0].debit;

    assert_eq!(erp.find_journal(&j.reference).await.unwrap(), None);
    let doc = erp.post_journal(&j.reference, &j).await.unwrap();
    assert_eq!(doc.reference, j.reference);

    let moves = moves_with(&rpc, &j.reference);
    assert_eq!(moves.len(), 1, "{moves:?}");
    let posted = &moves[0];
    assert_eq!(posted["id"].as_i64().unwrap().to_string(), doc.id);
    assert_eq!(posted["state"], "posted", "{posted}");
    let misc = rpc.search_read("account.journal", json!([["code", "=", "MISC"]]), &["id"]);
    assert_eq!(posted["journal"], misc[0]["id"], "{posted}");

    let lines = move_lines(&rpc, posted["id"].as_i64().unwrap());
    // Nine journal lines, the zero one left out.
    assert_eq!(lines.len(), 8, "{lines:#?}");
    let debits: Decimal = lines.iter().map(|l| dec_of(&l["debit"])).sum();
    let credits: Decimal = lines.iter().map(|l| dec_of(&l["credit"])).sum();
    assert_eq!(debits, credits);
    assert_eq!(debits, j.debits());

    let bank = line_on(&lines, account(&server, &rpc, "1.1.1"));
    assert_eq!(bank.len(), 1, "{lines:#?}");
    assert_eq!(dec_of(&bank[0]["debit"]), deposit);
    assert_eq!(bank[0]["party"], Value::Null);

    // The invoiced order's receivable is settled on its invoice's party.
    let invoice = rpc.search_read(
        "account.invoice",
        json!([[
            "reference",
            "=",
            format!("webstore:{}:invoice", order.external_id)
        ]]),
        &["party", "account"],
    );
    let receivable = line_on(&lines, invoice[0]["account"].as_i64().unwrap());
    assert_eq!(receivable.len(), 1, "{lines:#?}");
    assert_eq!(dec_of(&receivable[0]["credit"]), order.total.amount);
    assert_eq!(receivable[0]["party"], invoice[0]["party"]);

    let fees = line_on(&lines, account(&server, &rpc, "5.2.4"));
    assert_eq!(dec_of(&fees[0]["debit"]), dec!(6.12));
    let clearing = line_on(&lines, account(&server, &rpc, "2.2.5"));
    assert_eq!(clearing.len(), 2, "{lines:#?}");
    let clearing_net: Decimal = clearing
        .iter()
        .map(|l| dec_of(&l["debit"]) - dec_of(&l["credit"]))
        .sum();
    assert_eq!(clearing_net, Decimal::ZERO);
    let reserve = line_on(&lines, account(&server, &rpc, "1.1.5"));
    assert_eq!(dec_of(&reserve[0]["debit"]), dec!(5.00));
    let suspense = line_on(&lines, account(&server, &rpc, "1.4.4"));
    assert_eq!(dec_of(&suspense[0]["credit"]), dec!(12.34));
    assert_eq!(
        suspense[0]["description"],
        "order_not_found [999-0000000-0000000]"
    );

    assert_eq!(erp.find_journal(&j.reference).await.unwrap(), Some(doc));
}

#[tokio::test]
async fn posting_the_same_reference_twice_behind_the_engines_guard_leaves_one_move() {
    let Some(server) = start() else { return };
    let erp = erp(&server);
    let rpc = server.rpc();
    let order = order_shipped(&erp, "WS-000102", 22).await;
    let j = journal("S-102", &order.external_id, order.total.amount);

    // The engine's guard: ask first, post only what is not there.
    let mut posted = Vec::new();
    for _ in 0..2 {
        let doc = match erp.find_journal(&j.reference).await.unwrap() {
            Some(found) => found,
            None => erp.post_journal(&j.reference, &j).await.unwrap(),
        };
        posted.push(doc);
    }
    assert_eq!(posted[0], posted[1]);
    // A post without the guard (a retry that lost its answer) finds it too.
    assert_eq!(erp.post_journal(&j.reference, &j).await.unwrap(), posted[0]);
    assert_eq!(moves_with(&rpc, &j.reference).len(), 1);

    // An unbalanced journal is refused and leaves nothing in Tryton.
    let mut unbalanced = journal("S-103", &order.external_id, order.total.amount);
    unbalanced.lines[2].debit += dec!(0.01);
    let refused = erp.post_journal(&unbalanced.reference, &unbalanced).await;
    assert!(
        matches!(&refused, Err(crossdock_connectors::ConnectorError::Rejected { reason }) if reason.contains("≠")),
        "{refused:?}"
    );
    assert!(moves_with(&rpc, &unbalanced.reference).is_empty());
}

/// What a hub killed mid-posting leaves, at the connector's level: once
/// between Tryton's create and post (a draft carrying the reference), once
/// after the post but before the hub recorded it. Either way the recovery
/// (find first, then post) ends with exactly one posted move.
#[tokio::test]
async fn a_crash_mid_posting_leaves_one_move() {
    let Some(server) = start() else { return };
    let erp = erp(&server);
    let rpc = server.rpc();
    let order = order_shipped(&erp, "WS-000104", 23).await;

    // Killed between create and post: a draft carries the reference. It is
    // not reported as posted, and posting again replaces it: one move.
    let j = journal("S-104", &order.external_id, order.total.amount);
    let period = rpc.model(
        "account.period",
        "search",
        vec![json!([
            ["start_date", "<=", tryton_date(j.date)],
            ["end_date", ">=", tryton_date(j.date)],
            ["type", "=", "standard"],
        ])],
    );
    let misc = rpc.search_read("account.journal", json!([["code", "=", "MISC"]]), &["id"]);
    let draft = rpc.model(
        "account.move",
        "create",
        vec![json!([{
            "journal": misc[0]["id"],
            "period": period[0],
            "date": tryton_date(j.date),
            "description": j.reference,
            "lines": [["create", [
                {"account": account(&server, &rpc, "1.1.1"), "debit": tryton_decimal(dec!(1)), "credit": tryton_decimal(dec!(0))},
                {"account": account(&server, &rpc, "1.4.4"), "debit": tryton_decimal(dec!(0)), "credit": tryton_decimal(dec!(1))},
            ]]],
        }])],
    )[0]
    .as_i64()
    .unwrap();
    assert_eq!(erp.find_journal(&j.reference).await.unwrap(), None);
    let doc = erp.post_journal(&j.reference, &j).await.unwrap();
    assert_ne!(doc.id, draft.to_string());
    let moves = moves_with(&rpc, &j.reference);
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0]["state"], "posted");
    assert_eq!(moves[0]["id"].as_i64().unwrap().to_string(), doc.id);
    let lines = move_lines(&rpc, moves[0]["id"].as_i64().unwrap());
    let bank = line_on(&lines, account(&server, &rpc, "1.1.1"));
    assert_eq!(dec_of(&bank[0]["debit"]), j.lines[0].debit);

    // Killed after the post, before the hub recorded it: the recovery finds
    // the posted move and posts nothing.
    let k = journal("S-105", &order.external_id, order.total.amount);
    let first = erp.post_journal(&k.reference, &k).await.unwrap();
    // (the hub dies here; its effect is in doubt)
    let recovered = match erp.find_journal(&k.reference).await.unwrap() {
        Some(found) => found,
        None => erp.post_journal(&k.reference, &k).await.unwrap(),
    };
    assert_eq!(recovered, first);
    assert_eq!(moves_with(&rpc, &k.reference).len(), 1);
}

fn tryton_date(day: chrono::NaiveDate) -> Value {
    use chrono::Datelike;
    json!({ "__class__": "date", "year": day.year(), "month": day.month(), "day": day.day() })
}

fn tryton_decimal(amount: Decimal) -> Value {
    json!({ "__class__": "Decimal", "decimal": amount.to_string() })
}
