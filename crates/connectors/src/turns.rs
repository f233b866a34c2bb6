//! Turns per key: callers with the same key go one at a time in this
//! process, callers with different keys do not wait for each other. A key's
//! entry lives only while someone holds or awaits its turn.
//!
//! Used where a remote system cannot tell two of our calls apart in time:
//! Tryton party upserts per e-mail, and a Walmart operation's first calls
//! until its budget is known ([`crate::pacing::FirstAnswers`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The turns of every key.
#[derive(Default)]
pub(crate) struct Turns(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

/// A held turn; dropping it lets the next caller with the key go.
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    key: String,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl Turns {
    /// Wait for `key`'s turn.
    pub(crate) async fn take(&self, key: &str) -> Turn<'_> {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        Turn {
            turns: self,
            key: key.to_owned(),
            _held: lock.lock_owned().await,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut map = self.turns.0.lock().unwrap_or_else(|p| p.into_inner());
        // The map's handle and our guard's: nobody else holds or awaits it.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 2)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Turns;

    #[tokio::test]
    async fn a_key_takes_turns_and_its_entry_goes_when_nobody_waits() {
        let turns = std::sync::Arc::new(Turns::default());
        let first = turns.take("a@example.com").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _second = turns.take("a@example.com").await;
            })
        };
        // Another key does not wait behind it.
        drop(turns.take("b@example.com").await);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second caller did not wait");
        assert_eq!(turns.len(), 1, "only the held key has an entry");
        drop(first);
        waiting.await.expect("second turn");
        assert_eq!(turns.len(), 0, "entries of finished turns are gone");
    }
}
