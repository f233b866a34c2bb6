//! The balanced journal of a settlement: one per calendar month its rows
//! fall in. Every explained amount is posted where it belongs (receivable
//! per matched order, fees by type, marketplace-facilitator clearing,
//! reserve, other by key), the open residuals to suspense, the deposit to
//! the bank in the deposit month; a month without the deposit carries its
//! balance to the deposit month through `settlement_clearing`. Each journal
//! balances because the amounts of a settlement sum to its deposit
//! (categories + residuals = deposit).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use crossdock_model::{Journal, JournalAccount, JournalLine, SettlementHeader};
use rust_decimal::Decimal;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    fn last_day(self) -> NaiveDate {
        let (y, m) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| d.pred_opt())
            .unwrap_or_default()
    }

    fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

/// Signed amounts (money to the seller positive) to post, by month,
/// account and reference. `None` month: the deposit month.
#[derive(Debug, Default)]
pub struct Postings {
    amounts: BTreeMap<(Option<Month>, JournalAccount, Option<String>), Decimal>,
}

impl Postings {
    pub fn add(
        &mut self,
        month: Option<Month>,
        account: JournalAccount,
        reference: Option<&str>,
        amount: Decimal,
    ) {
        if amount.is_zero() {
            return;
        }
        let key = (month, account, reference.map(str::to_owned));
        *self.amounts.entry(key).or_default() += amount;
    }

    /// The months with postings, resolved against the deposit month.
    fn resolved(
        self,
        deposit: Month,
    ) -> BTreeMap<Month, Vec<(JournalAccount, Option<String>, Decimal)>> {
        let mut by_month: BTreeMap<Month, Vec<_>> = BTreeMap::new();
        for ((month, account, reference), amount) in self.amounts {
            if amount.is_zero() {
                continue;
            }
            by_month
                .entry(month.unwrap_or(deposit))
                .or_default()
                .push((account, reference, amount));
        }
        by_month
    }
}

/// A line for a signed amount: credit when positive, debit when negative.
fn line(
    account: JournalAccount,
    reference: Option<String>,
    amount: Decimal,
    memo: String,
) -> JournalLine {
    let (debit, credit) = if amount.is_sign_negative() {
        (-amount, Decimal::ZERO)
    } else {
        (Decimal::ZERO, amount)
    };
    JournalLine {
        account,
        reference,
        debit,
        credit,
        memo,
    }
}

fn memo(account: JournalAccount, reference: Option<&str>, settlement_id: &str) -> String {
    let what = match account {
        JournalAccount::Bank => "deposit",
        JournalAccount::Receivable => "order receivable settled",
        JournalAccount::Fees => "marketplace fee",
        JournalAccount::MarketplaceFacilitatorClearing => "marketplace-facilitator tax",
        JournalAccount::Reserve => "marketplace reserve",
        JournalAccount::Other => "other",
        JournalAccount::Suspense => "open residuals",
        JournalAccount::SettlementClearing => "carried to the deposit month",
    };
    match reference {
        Some(r) => format!("settlement {settlement_id}: {what} {r}"),
        None => format!("settlement {settlement_id}: {what}"),
    }
}

/// The journals of a settlement whose postings sum to its deposit.
pub fn journals(
    header: &SettlementHeader,
    postings: Postings,
    deposit_month: Month,
) -> Vec<Journal> {
    let mut by_month = postings.resolved(deposit_month);
    by_month.entry(deposit_month).or_default();
    let totals: BTreeMap<Month, Decimal> = by_month
        .iter()
        .map(|(m, lines)| (*m, lines.iter().map(|(_, _, a)| *a).sum()))
        .collect();
    let carried: Decimal = totals
        .iter()
        .filter(|(m, _)| **m != deposit_month)
        .map(|(_, t)| *t)
        .sum();
    let id = &header.settlement_id;
    by_month
        .into_iter()
        .map(|(month, amounts)| {
            let mut lines: Vec<JournalLine> = amounts
                .into_iter()
                .map(|(account, reference, amount)| {
                    let memo = memo(account, reference.as_deref(), id);
                    line(account, reference, amount, memo)
                })
                .collect();
            let clearing = JournalAccount::SettlementClearing;
            let date = if month == deposit_month {
                if !carried.is_zero() {
                    lines.push(line(clearing, None, carried, memo(clearing, None, id)));
                }
                let bank = JournalAccount::Bank;
                lines.push(line(
                    bank,
                    None,
                    -header.deposit_total,
                    memo(bank, None, id),
                ));
                header
                    .deposit_date
                    .filter(|d| Month::of(*d) == month)
                    .unwrap_or_else(|| month.last_day())
            } else {
                let total = totals.get(&month).copied().unwrap_or_default();
                lines.push(line(clearing, None, -total, memo(clearing, None, id)));
                month.last_day()
            };
            Journal {
                settlement_id: id.clone(),
                reference: format!("settlement:{}:{}:{}", header.channel, id, month.label()),
                month: month.label(),
                date,
                currency: header.currency,
                lines,
            }
        })
        .collect()
}
