//! Settlement journals: one `account.move` per journal in the configured
//! journal (`MISC` by default), posted, carrying the journal's reference as
//! its description so it is found again after a crash.
//!
//! Accounts: each [`JournalAccount`] names an account by code or, failing
//! that, by name (`accounts.rs`, `[erp.tryton.settlement]`); the
//! defaults are the English chart's cash (`1.1.1`), receivable (`1.2.1`) and
//! other expenses (`6.1.2`) and the accounts `scripts/tryton/setup_erp.py`
//! adds to it (`1.1.5` reserved balances, `1.4.4` suspense, `1.4.5`
//! settlement clearing, `2.2.5` marketplace-facilitator tax clearing,
//! `5.2.4` marketplace fees). A receivable line settles the invoice of its
//! order: the posted customer invoice whose reference is the order's
//! (`<channel>:<order>:invoice`) gives the line's account and party; a line
//! whose order has no posted invoice goes to the configured receivable
//! account under the settlement party (found by name, created once).
//!
//! Idempotency: Tryton keeps no unique key on a move, so the reference is
//! looked up before anything is created. A posted move is the answer; a
//! draft one (a call that died between create and post) is deleted and the
//! move created again, so at most one move ever carries the reference; a
//! post Tryton refuses deletes the draft it made.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crossdock_model::{Journal, JournalAccount, JournalLine};

use super::accounts::{AccountRef, truthy};
use super::client::TrytonErp;
use super::mapping::{date, decimal};
use crate::{ConnectorError, ErpDocument};

/// Where one journal line goes in Tryton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Placed {
    pub(super) account: AccountRef,
    pub(super) party: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct MoveRow {
    id: i64,
    state: String,
}

#[derive(Debug, Deserialize)]
struct AccountRow {
    id: i64,
    /// A boolean, or 0/1 from the SQLite backend.
    #[serde(default)]
    party_required: Value,
}

#[derive(Debug, Deserialize)]
struct InvoiceRow {
    reference: Option<String>,
    account: i64,
    party: i64,
}

/// Checks what Tryton would refuse less precisely: an empty or unbalanced
/// journal, a line with a negative amount or both sides set.
pub(super) fn check_journal(journal: &Journal) -> Result<(), ConnectorError> {
    let refuse = |why: String| {
        Err(ConnectorError::rejected(format!(
            "journal {}: {why}",
            journal.reference
        )))
    };
    if journal.reference.trim().is_empty() {
        return refuse("no reference to find it by".into());
    }
    for (i, line) in journal.lines.iter().enumerate() {
        if line.debit.is_sign_negative() || line.credit.is_sign_negative() {
            return refuse(format!(
                "line {} ({:?}, {}): negative debit {} or credit {}",
                i + 1,
                line.account,
                line.memo,
                line.debit,
                line.credit
            ));
        }
        if !line.debit.is_zero() && !line.credit.is_zero() {
            return refuse(format!(
                "line {} ({:?}, {}): both debit {} and credit {}",
                i + 1,
                line.account,
                line.memo,
                line.debit,
                line.credit
            ));
        }
    }
    if !journal.is_balanced() {
        return refuse(format!(
            "debits {} ≠ credits {}",
            journal.debits(),
            journal.credits()
        ));
    }
    if journal.lines.iter().all(|l| l.debit.is_zero()) {
        return refuse("no amount to post".into());
    }
    Ok(())
}

/// The move's lines as Tryton's `create` takes them. Zero lines carry no
/// money and are left out: Tryton would try to reconcile them on post.
pub(super) fn move_lines(lines: &[JournalLine], placed: &[Placed]) -> Vec<Value> {
    lines
        .iter()
        .zip(placed)
        .filter(|(line, _)| !(line.debit.is_zero() && line.credit.is_zero()))
        .map(|(line, place)| {
            let mut value = json!({
                "account": place.account.id,
                "debit": decimal(line.debit),
                "credit": decimal(line.credit),
                "description": line_description(line),
            });
            if place.account.party_required {
                value["party"] = json!(place.party);
            }
            value
        })
        .collect()
}

fn line_description(line: &JournalLine) -> String {
    match &line.reference {
        Some(reference) if !line.memo.contains(reference.as_str()) => {
            format!("{} [{reference}]", line.memo)
        }
        _ => line.memo.clone(),
    }
}

/// The invoice references a receivable line's order may have been posted
/// under: the reference itself, `<reference>:invoice` (a hub reference
/// `<channel>:<order>`), and `<channel>:<reference>:invoice` with the
/// channel of the journal's reference (`settlement:<channel>:…`).
pub(super) fn invoice_references(journal: &Journal, reference: &str) -> Vec<String> {
    let mut candidates = vec![reference.to_owned(), format!("{reference}:invoice")];
    if let Some(channel) = journal.reference.split(':').nth(1) {
        candidates.push(format!("{channel}:{reference}:invoice"));
    }
    candidates
}

impl TrytonErp {
    pub(super) async fn post_settlement_journal(
        &self,
        reference: &str,
        journal: &Journal,
    ) -> Result<ErpDocument, ConnectorError> {
        check_journal(journal)?;
        self.check_company_currency(journal).await?;
        let document = |id: i64| ErpDocument {
            id: id.to_string(),
            reference: reference.to_owned(),
        };
        let moves = self.moves_with(reference).await?;
        if let Some(posted) = moves.iter().find(|m| m.state == "posted") {
            return Ok(document(posted.id));
        }
        // Drafts are what a call that died between create and post left:
        // they carry no accounting yet, so they are replaced rather than
        // trusted to hold this journal's lines.
        let drafts: Vec<i64> = moves
            .iter()
            .filter(|m| m.state == "draft")
            .map(|m| m.id)
            .collect();
        if !drafts.is_empty() {
            self.model("account.move", "delete", &[json!(drafts)], None)
                .await?;
        }
        let draft = self.create_move(reference, journal).await?;
        if let Err(e) = self.button("account.move", "post", &[draft]).await {
            if matches!(e, ConnectorError::Rejected { .. }) {
                // Nothing half-done stays behind a refusal.
                if let Err(d) = self
                    .model("account.move", "delete", &[json!([draft])], None)
                    .await
                {
                    tracing::warn!(move_id = draft, error = %d, "could not delete a refused draft move");
                }
            }
            return Err(e);
        }
        Ok(document(draft))
    }

    /// The posted move carrying `reference`; a draft one is not reported
    /// (posting the journal again finishes it).
    pub(super) async fn find_settlement_journal(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        let moves = self.moves_with(reference).await?;
        Ok(moves
            .iter()
            .find(|m| m.state == "posted")
            .map(|m| ErpDocument {
                id: m.id.to_string(),
                reference: reference.to_owned(),
            }))
    }

    async fn moves_with(&self, reference: &str) -> Result<Vec<MoveRow>, ConnectorError> {
        self.search_read(
            "account.move",
            json!([["description", "=", reference]]),
            (0, None),
            &["id", "state"],
            None,
        )
        .await
    }

    async fn create_move(&self, reference: &str, journal: &Journal) -> Result<i64, ConnectorError> {
        let placed = self.place_lines(journal).await?;
        let journal_id = self.settlement_journal().await?;
        let period = self.period_of(journal.date).await?;
        self.create(
            "account.move",
            json!({
                "journal": journal_id,
                "period": period,
                "date": date(journal.date),
                "description": reference,
                "lines": [["create", move_lines(&journal.lines, &placed)]],
            }),
        )
        .await
    }

    /// Each line's account and party.
    async fn place_lines(&self, journal: &Journal) -> Result<Vec<Placed>, ConnectorError> {
        let invoices = self.receivable_invoices(journal).await?;
        let mut placed = Vec::with_capacity(journal.lines.len());
        for line in &journal.lines {
            let invoice = line
                .reference
                .as_deref()
                .filter(|_| line.account == JournalAccount::Receivable)
                .and_then(|r| {
                    invoice_references(journal, r)
                        .iter()
                        .find_map(|c| invoices.get(c).copied())
                });
            let place = match invoice {
                Some((account, party)) => Placed {
                    account: self.account_by_id(account).await?,
                    party: Some(party),
                },
                None => {
                    let account = self.settlement_account(line.account).await?;
                    let party = if account.party_required {
                        Some(self.settlement_party().await?)
                    } else {
                        None
                    };
                    Placed { account, party }
                }
            };
            placed.push(place);
        }
        Ok(placed)
    }

    /// Posted customer invoices of the journal's receivable lines, by
    /// reference: (receivable account, party). One search for them all.
    async fn receivable_invoices(
        &self,
        journal: &Journal,
    ) -> Result<HashMap<String, (i64, i64)>, ConnectorError> {
        let candidates: Vec<String> = journal
            .lines
            .iter()
            .filter(|l| l.account == JournalAccount::Receivable)
            .filter_map(|l| l.reference.as_deref())
            .flat_map(|r| invoice_references(journal, r))
            .collect();
        if candidates.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<InvoiceRow> = self
            .search_read(
                "account.invoice",
                json!([
                    ["type", "=", "out"],
                    ["reference", "in", candidates],
                    ["state", "in", ["posted", "paid"]],
                ]),
                (0, None),
                &["reference", "account", "party"],
                None,
            )
            .await?;
        // Oldest first: the first invoice of a reference wins, as `find_invoice` answers.
        let mut found = HashMap::new();
        for row in rows {
            if let Some(reference) = row.reference {
                found.entry(reference).or_insert((row.account, row.party));
            }
        }
        Ok(found)
    }

    /// Journals in another currency than the company's would need second
    /// currency amounts and rates; refused by name instead.
    async fn check_company_currency(&self, journal: &Journal) -> Result<(), ConnectorError> {
        let company_currency = self.company_currency().await?;
        if company_currency != journal.currency.as_str() {
            return Err(ConnectorError::rejected(format!(
                "journal {} is in {}, the Tryton company books in {company_currency}",
                journal.reference, journal.currency
            )));
        }
        Ok(())
    }
}

// ---- lookups, kept for the connector's life ------------------------------------

impl TrytonErp {
    /// The configured account for `account`, by code, else by name.
    async fn settlement_account(
        &self,
        account: JournalAccount,
    ) -> Result<AccountRef, ConnectorError> {
        let wanted = self.options.settlement.account(account).to_owned();
        if let Some(found) = self.ids().accounts.get(&wanted) {
            return Ok(*found);
        }
        let fields = &["id", "party_required"];
        let usable = |by: &str| {
            json!([
                [by, "=", wanted],
                ["closed", "!=", true],
                ["type", "!=", null],
            ])
        };
        let mut rows: Vec<AccountRow> = self
            .search_read(
                "account.account",
                usable("code"),
                (0, Some(1)),
                fields,
                None,
            )
            .await?;
        if rows.is_empty() {
            rows = self
                .search_read(
                    "account.account",
                    usable("name"),
                    (0, Some(1)),
                    fields,
                    None,
                )
                .await?;
        }
        let row = rows.into_iter().next().ok_or_else(|| {
            ConnectorError::rejected(format!(
                "Tryton has no open account with code or name {wanted:?} \
                 (the {account:?} account of [erp.tryton.settlement])"
            ))
        })?;
        let found = AccountRef {
            id: row.id,
            party_required: truthy(&row.party_required),
        };
        self.ids().accounts.insert(wanted, found);
        Ok(found)
    }

    /// An account an invoice named (its receivable).
    async fn account_by_id(&self, id: i64) -> Result<AccountRef, ConnectorError> {
        let key = format!("#{id}");
        if let Some(found) = self.ids().accounts.get(&key) {
            return Ok(*found);
        }
        let row: AccountRow = self
            .read_one("account.account", id, &["id", "party_required"])
            .await?;
        let found = AccountRef {
            id: row.id,
            party_required: truthy(&row.party_required),
        };
        self.ids().accounts.insert(key, found);
        Ok(found)
    }

    async fn settlement_journal(&self) -> Result<i64, ConnectorError> {
        if let Some(id) = self.ids().settlement_journal {
            return Ok(id);
        }
        let wanted = &self.options.settlement.journal;
        let mut ids = self
            .search("account.journal", json!([["code", "=", wanted]]), Some(1))
            .await?;
        if ids.is_empty() {
            ids = self
                .search("account.journal", json!([["name", "=", wanted]]), Some(1))
                .await?;
        }
        let id = ids.first().copied().ok_or_else(|| {
            ConnectorError::rejected(format!(
                "Tryton has no journal with code or name {wanted:?} ([erp.tryton.settlement] journal)"
            ))
        })?;
        self.ids().settlement_journal = Some(id);
        Ok(id)
    }

    /// The standard period holding `day` (`create` runs no on_change, so
    /// the move's period is sent).
    async fn period_of(&self, day: chrono::NaiveDate) -> Result<i64, ConnectorError> {
        self.search(
            "account.period",
            json!([
                ["start_date", "<=", date(day)],
                ["end_date", ">=", date(day)],
                ["type", "=", "standard"],
            ]),
            Some(1),
        )
        .await?
        .first()
        .copied()
        .ok_or_else(|| {
            ConnectorError::rejected(format!("Tryton has no accounting period for {day}"))
        })
    }

    async fn settlement_party(&self) -> Result<i64, ConnectorError> {
        if let Some(id) = self.ids().settlement_party {
            return Ok(id);
        }
        let name = self.options.settlement.party.clone();
        let found = self
            .search("party.party", json!([["name", "=", name]]), Some(1))
            .await?;
        let id = match found.first() {
            Some(id) => *id,
            None => self.create("party.party", json!({ "name": name })).await?,
        };
        self.ids().settlement_party = Some(id);
        Ok(id)
    }

    async fn company_currency(&self) -> Result<String, ConnectorError> {
        if let Some(code) = self.ids().company_currency.clone() {
            return Ok(code);
        }
        #[derive(Deserialize)]
        struct CompanyRow {
            currency: i64,
        }
        #[derive(Deserialize)]
        struct CurrencyRow {
            code: String,
        }
        let company = self
            .session()
            .await?
            .context
            .get("company")
            .and_then(Value::as_i64)
            .ok_or_else(|| ConnectorError::rejected("Tryton session has no company"))?;
        let row: CompanyRow = self
            .read_one("company.company", company, &["currency"])
            .await?;
        let currency: CurrencyRow = self
            .read_one("currency.currency", row.currency, &["code"])
            .await?;
        self.ids().company_currency = Some(currency.code.clone());
        Ok(currency.code)
    }
}
