//! Turns per key: one party upsert at a time per e-mail in this process.
//! A leaf: the client holds it, the party code takes turns on it.

/// Per e-mail, one party upsert at a time. An e-mail's entry lives while
/// someone holds or awaits its turn, so the map holds only live buyers.
#[derive(Default)]
pub(super) struct CustomerTurns(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

/// A held turn; dropping it lets the next upsert of the e-mail go.
pub(super) struct CustomerTurn<'a> {
    turns: &'a CustomerTurns,
    email: String,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl CustomerTurns {
    pub(super) async fn take(&self, email: &str) -> CustomerTurn<'_> {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(email.to_owned())
            .or_default()
            .clone();
        CustomerTurn {
            turns: self,
            email: email.to_owned(),
            _held: lock.lock_owned().await,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for CustomerTurn<'_> {
    fn drop(&mut self) {
        let mut map = self.turns.0.lock().unwrap_or_else(|p| p.into_inner());
        // The map's handle and our guard's: nobody else holds or awaits it.
        if map
            .get(&self.email)
            .is_some_and(|l| std::sync::Arc::strong_count(l) == 2)
        {
            map.remove(&self.email);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CustomerTurns;

    #[tokio::test]
    async fn an_email_takes_turns_and_its_entry_goes_when_nobody_waits() {
        let turns = std::sync::Arc::new(CustomerTurns::default());
        let first = turns.take("a@example.com").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _second = turns.take("a@example.com").await;
            })
        };
        // Another e-mail does not wait behind it.
        drop(turns.take("b@example.com").await);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second upsert did not wait");
        assert_eq!(turns.len(), 1, "only the held e-mail has an entry");
        drop(first);
        waiting.await.expect("second turn");
        assert_eq!(turns.len(), 0, "entries of finished turns are gone");
    }
}
