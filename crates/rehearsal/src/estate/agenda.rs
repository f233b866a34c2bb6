//! The agenda: what the estate does next, in virtual time. A leaf: the
//! books hold it and every model schedules on it.

use std::collections::BTreeMap;

/// Something the estate does at a moment of virtual time.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A buyer places an order on the channel (and the next arrival is drawn).
    Arrival {
        channel: usize,
    },
    /// A webhook reaches the hub.
    Webhook {
        channel: usize,
        event_id: String,
        body: Vec<u8>,
    },
    /// The buyer asks to cancel.
    BuyerCancel {
        channel: usize,
        order: String,
    },
    /// A warehouse finishes picking a request.
    Picked {
        warehouse: usize,
        request: String,
    },
    /// A 3PL sends the shipments it holds.
    Batch {
        warehouse: usize,
    },
    /// A warehouse's shipment message reaches the hub.
    ShipmentMessage {
        warehouse: usize,
        body: Vec<u8>,
    },
    /// A channel starts showing an availability update.
    Listing {
        channel: usize,
        sku: usize,
        quantity: i64,
    },
    Replenish {
        index: usize,
    },
    /// Owed availability that a channel's limit put off is due again.
    AvailabilityRetry,
    /// The hub's periodic work.
    Poll {
        channel: usize,
    },
    ErpRefresh,
    AvailabilityBulk,
    Sample,
}

/// Events in time order; two at one moment run in the order they were
/// scheduled, so a run is the same for a seed.
#[derive(Default)]
pub(crate) struct Agenda {
    events: BTreeMap<(i64, u64), Event>,
    seq: u64,
}

impl Agenda {
    pub fn schedule(&mut self, at: i64, event: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), event);
    }

    pub fn next_at(&self) -> Option<i64> {
        self.events.first_key_value().map(|((at, _), _)| *at)
    }

    /// The next event if it is due by `now`.
    pub fn pop_due(&mut self, now: i64) -> Option<Event> {
        match self.events.first_key_value() {
            Some(((at, _), _)) if *at <= now => self.events.pop_first().map(|(_, e)| e),
            _ => None,
        }
    }
}
