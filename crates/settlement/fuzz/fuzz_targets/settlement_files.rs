//! Arbitrary bytes into the three settlement readers, and what they accept
//! through reconciliation: the code `crossdock settlement import` runs on a
//! file an operator or a channel hands the hub.
//!
//! For any input: no panic (overflow included), no hang (`-timeout`), no
//! runaway allocation (`-rss_limit_mb`). A refusal names a line of the input
//! (or the one after its end, for a row that is missing) and renders. A file that reads is reconciled against no
//! known orders: its categories and residuals add up to its deposit to the
//! cent, every journal balances, and reading the same bytes again gives the
//! same settlement (no hidden clock or randomness).
#![no_main]

use std::collections::HashMap;
use std::hint::black_box;

use crossdock_model::{Settlement, SettlementFormat};
use crossdock_settlement::{
    KnownOrder, ReconcileOptions, SettlementError, read_settlement, read_shopify_settlement,
    reconcile,
};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

fn refused(what: &str, data: &[u8], e: &SettlementError) {
    // A row that is missing is named by the line it should have been on:
    // at most one past the input's last line.
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    assert!(
        e.line() <= lines + 1,
        "{what}: error names line {} of a {lines}-line input: {e}",
        e.line()
    );
    black_box(e.to_string());
}

fn accepted(what: &str, settlement: &Settlement) {
    let known: HashMap<String, KnownOrder> = HashMap::new();
    let done = reconcile(settlement, &known, &ReconcileOptions::default());
    assert_eq!(
        done.summary.unexplained(),
        Decimal::ZERO,
        "{what}: categories + residuals != deposit: {:?}",
        done.summary
    );
    for journal in &done.journals {
        assert!(journal.is_balanced(), "{what}: unbalanced {journal:?}");
    }
}

fn file_kind(what: &str, format: SettlementFormat, data: &[u8]) {
    let first = read_settlement(format, data, "fuzz");
    match &first {
        Ok(settlement) => accepted(what, settlement),
        Err(e) => refused(what, data, e),
    }
    assert_eq!(
        first.as_ref().ok(),
        read_settlement(format, data, "fuzz").as_ref().ok(),
        "{what}: not deterministic"
    );
}

fuzz_target!(|data: &[u8]| {
    file_kind("amazon_v2", SettlementFormat::AmazonV2, data);
    file_kind("walmart_recon", SettlementFormat::WalmartRecon, data);

    // A Shopify payout is two JSON documents: the payout and its balance
    // transactions, split here at the first NUL byte.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (payout, transactions) = text.split_once('\0').unwrap_or((text, "[]"));
    match read_shopify_settlement(payout, transactions, "fuzz") {
        Ok(settlement) => accepted("shopify_payout", &settlement),
        Err(e) => refused("shopify_payout", data, &e),
    }
});
