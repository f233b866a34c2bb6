//! The in-memory feed of SKUs whose stock changed, filled after each commit
//! that moves a position or a reservation and drained by the availability
//! sync. A leaf: [`Store`](crate::Store) holds one, and the domain modules
//! that commit stock moves record into it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// SKUs whose positions or reservations changed, gathered after each commit
/// until the availability sync takes them. In memory on purpose: recording
/// them in the database would put a write on every reservation, and the sync
/// recomputes everything at start, so a restart loses nothing.
#[derive(Debug, Default)]
pub struct StockChanges {
    pending: Mutex<HashMap<String, StockChange>>,
    pub(crate) notify: tokio::sync::Notify,
}

/// One SKU's changes since the sync last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChange {
    /// When the first of these changes was committed (for the sync's
    /// change-to-enqueue latency).
    pub first_at: Instant,
    /// Units newly reserved by orders (the SKU's sales velocity).
    pub units_reserved: i64,
}

impl StockChanges {
    pub(crate) fn record(&self, skus: impl IntoIterator<Item = String>, units_reserved: i64) {
        // Real elapsed time on purpose: this stamps the change-to-enqueue
        // latency the sync reports as a metric, which measures the process,
        // not the hub's (possibly manual) clock; nothing decides by it.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let mut any = false;
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for sku in skus {
                any = true;
                pending
                    .entry(sku)
                    .or_insert(StockChange {
                        first_at: now,
                        units_reserved: 0,
                    })
                    .units_reserved += units_reserved;
            }
        }
        if any {
            self.notify.notify_one();
        }
    }

    pub(crate) fn take(&self) -> HashMap<String, StockChange> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
