//! The documents a modelled system issued, per key. A leaf: the books
//! hold ledgers and the models issue into them.

use std::collections::BTreeMap;

/// Documents a system issued, by what they were issued for (a sales
/// order's reference, an order's package). The systems modelled here do not
/// deduplicate: a second request for the same key gets a second document,
/// and every copy after the first is a duplicate effect.
pub(crate) struct Ledger<K> {
    by_key: BTreeMap<K, Vec<String>>,
    issued: usize,
}

impl<K> Default for Ledger<K> {
    fn default() -> Self {
        Ledger {
            by_key: BTreeMap::new(),
            issued: 0,
        }
    }
}

impl<K: Ord> Ledger<K> {
    /// Issue a document for `key`: its id, and how many `key` now has.
    pub(super) fn issue(&mut self, key: K, prefix: &str) -> (String, usize) {
        self.issued += 1;
        let id = format!("{prefix}{:08}", self.issued);
        let held = self.by_key.entry(key).or_default();
        held.push(id.clone());
        (id, held.len())
    }

    pub(super) fn first<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&String>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.by_key.get(key).and_then(|ids| ids.first())
    }

    /// Documents issued beyond the first for their key.
    pub fn duplicates(&self) -> u64 {
        self.by_key.values().map(|ids| ids.len() as u64 - 1).sum()
    }
}
