//! Which accounts settlement journals post to: the configured codes or
//! names (`[erp.tryton.settlement]`) and what a move line needs to know of
//! an account. A leaf, read by the client (options, cache) and `journals.rs`.

use crossdock_model::JournalAccount;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `[erp.tryton.settlement]`: where settlement journals are posted. Each
/// account is a code or a name of a non-closed account of the company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettlementAccounts {
    /// Code or name of the `account.journal` the moves go to.
    pub journal: String,
    /// The deposit.
    pub bank: String,
    /// Receivable for orders without a posted invoice in Tryton.
    pub receivable: String,
    pub fees: String,
    pub marketplace_facilitator_clearing: String,
    pub reserve: String,
    pub other: String,
    pub suspense: String,
    pub settlement_clearing: String,
    /// The party of receivable lines without an invoice (created if missing).
    pub party: String,
}

impl Default for SettlementAccounts {
    fn default() -> Self {
        SettlementAccounts {
            journal: "MISC".into(),
            bank: "1.1.1".into(),
            receivable: "1.2.1".into(),
            fees: "5.2.4".into(),
            marketplace_facilitator_clearing: "2.2.5".into(),
            reserve: "1.1.5".into(),
            other: "6.1.2".into(),
            suspense: "1.4.4".into(),
            settlement_clearing: "1.4.5".into(),
            party: "Marketplace settlements".into(),
        }
    }
}

impl SettlementAccounts {
    /// The configured code or name of `account`.
    pub fn account(&self, account: JournalAccount) -> &str {
        match account {
            JournalAccount::Bank => &self.bank,
            JournalAccount::Receivable => &self.receivable,
            JournalAccount::Fees => &self.fees,
            JournalAccount::MarketplaceFacilitatorClearing => {
                &self.marketplace_facilitator_clearing
            }
            JournalAccount::Reserve => &self.reserve,
            JournalAccount::Other => &self.other,
            JournalAccount::Suspense => &self.suspense,
            JournalAccount::SettlementClearing => &self.settlement_clearing,
        }
    }

    pub fn is_default(&self) -> bool {
        *self == SettlementAccounts::default()
    }
}

/// A Tryton account as a move line needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AccountRef {
    pub(super) id: i64,
    /// Tryton refuses a party on an account that does not require one, and
    /// a line without one on an account that does.
    pub(super) party_required: bool,
}

/// Reads a Tryton boolean as the SQLite backend may send it (0/1).
pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}
