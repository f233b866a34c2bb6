//! Gate 2: concurrency slots, handed out by priority class with ageing.
//!
//! A call that finds no free slot waits in a queue ordered by when it came
//! and how urgent it is; each `aging_ms` it waits is worth one class. A wait
//! given up (its caller dropped) leaves the queue without leaking a slot.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::options::Priority;
use crate::clock::Clock;
use crate::telemetry;

/// Concurrency slots handed out by priority with ageing.
pub(super) struct Slots {
    state: Mutex<SlotState>,
    clock: Arc<dyn Clock>,
    epoch: Instant,
    aging_ms: u64,
}

pub(super) struct SlotState {
    pub(super) free: usize,
    /// (key, seq): the smallest key goes first. key = enqueue time +
    /// rank × aging, so waiting `aging_ms` is worth one class.
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    waiting: HashMap<u64, Waiting>,
    next_seq: u64,
}

struct Waiting {
    wake: oneshot::Sender<()>,
    priority: Priority,
    since: Instant,
}

impl SlotState {
    /// Give a freed slot to the first waiter, or keep it.
    fn release_one(&mut self) {
        while let Some(Reverse((_, seq))) = self.queue.pop() {
            // Entries of waiters that gave up stay in the heap; skip them.
            if let Some(w) = self.waiting.remove(&seq)
                && w.wake.send(()).is_ok()
            {
                return;
            }
        }
        self.free += 1;
    }
}

impl Slots {
    pub(super) fn new(slots: usize, aging_ms: u64, clock: Arc<dyn Clock>) -> Self {
        Slots {
            state: Mutex::new(SlotState {
                free: slots,
                queue: BinaryHeap::new(),
                waiting: HashMap::new(),
                next_seq: 0,
            }),
            epoch: clock.instant(),
            clock,
            aging_ms,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls waiting for a slot, and how long the oldest has waited.
    pub(super) fn waiting(&self) -> (usize, Duration) {
        let st = self.lock();
        let now = self.clock.instant();
        let oldest = st
            .waiting
            .values()
            .map(|w| now.duration_since(w.since))
            .max()
            .unwrap_or_default();
        (st.waiting.len(), oldest)
    }

    pub(super) async fn acquire(self: &Arc<Self>, priority: Priority, account: &str) -> SlotPermit {
        let rx = {
            let mut st = self.lock();
            if st.free > 0 && st.waiting.is_empty() {
                st.free -= 1;
                return SlotPermit {
                    slots: self.clone(),
                };
            }
            let now = self.clock.instant();
            let waited_from =
                u64::try_from(now.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX / 2);
            let key = waited_from.saturating_add(priority.rank() * self.aging_ms);
            let seq = st.next_seq;
            st.next_seq += 1;
            let (tx, rx) = oneshot::channel();
            st.queue.push(Reverse((key, seq)));
            st.waiting.insert(
                seq,
                Waiting {
                    wake: tx,
                    priority,
                    since: now,
                },
            );
            publish_waiting(account, &st, now);
            Queued {
                slots: self,
                seq,
                rx: Some(rx),
                account,
            }
        };
        rx.wait().await
    }
}

/// A place in the slot queue. Dropped before its turn, it leaves the
/// queue; dropped after being handed a slot it never used, it gives the
/// slot on, so an abandoned wait cannot leak capacity.
struct Queued<'a> {
    slots: &'a Arc<Slots>,
    seq: u64,
    rx: Option<oneshot::Receiver<()>>,
    account: &'a str,
}

impl Queued<'_> {
    async fn wait(mut self) -> SlotPermit {
        if let Some(rx) = self.rx.as_mut() {
            // The sender lives in the queue until it is used: it is only
            // dropped unsent by `Drop` below, which cannot run while we wait.
            let _ = rx.await;
        }
        self.rx = None;
        let st = self.slots.lock();
        publish_waiting(self.account, &st, self.slots.clock.instant());
        drop(st);
        SlotPermit {
            slots: self.slots.clone(),
        }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        let mut st = self.slots.lock();
        if st.waiting.remove(&self.seq).is_none() && rx.try_recv().is_ok() {
            // Handed a slot (under this lock) that nobody will use.
            st.release_one();
        }
        publish_waiting(self.account, &st, self.slots.clock.instant());
    }
}

pub(super) struct SlotPermit {
    slots: Arc<Slots>,
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        self.slots.lock().release_one();
    }
}

fn publish_waiting(account: &str, st: &SlotState, now: Instant) {
    let mut depth: HashMap<Priority, usize> = HashMap::new();
    let mut oldest = Duration::ZERO;
    for w in st.waiting.values() {
        *depth.entry(w.priority).or_default() += 1;
        oldest = oldest.max(now.duration_since(w.since));
    }
    for p in Priority::ALL {
        telemetry::governor_waiting(account, p.as_str(), depth.get(&p).copied().unwrap_or(0));
    }
    telemetry::governor_oldest_wait(account, oldest);
}
