//! What a job carries: the typed form of the `payload` column of the jobs
//! table.
//!
//! The JSON is the one the hub has always stored (`{"order_id": …}`,
//! `{"inbox_id": …}`, …): the variants are untagged and tried in order, so
//! every row written before reads back, and one written now is the same
//! bytes. A row that fits no variant is kept as it is, and the step that
//! needs a field it lacks fails as it always did ("job payload lacks …").

use serde::{Deserialize, Serialize};

/// A job's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobPayload {
    /// A committed inbound message (`channel_message`, `warehouse_shipment`).
    Inbox { inbox_id: i64 },
    /// One shipment of an order, to confirm to its channel.
    Shipment {
        order_id: String,
        shipment_id: String,
    },
    /// Release again what an order still holds: after a fallback, for a
    /// split order's next warehouse, or (with `short_from`) for the
    /// remainder a warehouse short-shipped.
    Reroute {
        order_id: String,
        reroute: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        short_from: Option<String>,
    },
    /// An order (every other step).
    Order { order_id: String },
    /// A settlement (`channel:settlement_id`) whose planned journals to post.
    Settlement { settlement: String },
    /// A row that fits none of the above.
    Unreadable(serde_json::Value),
}

impl JobPayload {
    /// Read a stored payload; never fails (see [`JobPayload::Unreadable`]).
    pub fn from_value(value: &serde_json::Value) -> JobPayload {
        // Read from the borrowed value: only an unreadable row is copied.
        JobPayload::deserialize(value).unwrap_or_else(|_| JobPayload::Unreadable(value.clone()))
    }

    /// The JSON stored in the jobs table.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a job payload is plain JSON")
    }

    /// The payload of a step that works on `order_id`.
    pub fn order(order_id: &str) -> JobPayload {
        JobPayload::Order {
            order_id: order_id.to_owned(),
        }
    }

    /// The payload of a re-route's release (of a short ship from
    /// `short_from`, when it is one).
    pub fn reroute(order_id: &str, short_from: Option<&str>) -> JobPayload {
        JobPayload::Reroute {
            order_id: order_id.to_owned(),
            reroute: true,
            short_from: short_from.map(str::to_owned),
        }
    }

    /// The payload of the job that posts `settlement`'s journals.
    pub fn settlement(settlement: &str) -> JobPayload {
        JobPayload::Settlement {
            settlement: settlement.to_owned(),
        }
    }

    pub(crate) fn settlement_key(&self) -> Result<&str, Lacks> {
        match self {
            JobPayload::Settlement { settlement } => Ok(settlement),
            _ => Err(lacks("settlement")),
        }
    }

    /// The order the job is about, if it names one.
    pub fn order_id(&self) -> Option<&str> {
        match self {
            JobPayload::Shipment { order_id, .. }
            | JobPayload::Reroute { order_id, .. }
            | JobPayload::Order { order_id } => Some(order_id),
            JobPayload::Inbox { .. }
            | JobPayload::Settlement { .. }
            | JobPayload::Unreadable(_) => None,
        }
    }

    pub(crate) fn require_order_id(&self) -> Result<&str, Lacks> {
        self.order_id().ok_or_else(|| lacks("order_id"))
    }

    pub(crate) fn inbox_id(&self) -> Result<i64, Lacks> {
        match self {
            JobPayload::Inbox { inbox_id } => Ok(*inbox_id),
            _ => Err(lacks("inbox_id")),
        }
    }

    pub(crate) fn shipment_id(&self) -> Result<&str, Lacks> {
        match self {
            JobPayload::Shipment { shipment_id, .. } => Ok(shipment_id),
            _ => Err(lacks("shipment_id")),
        }
    }

    /// Whether this is a re-route's release.
    pub(crate) fn rerouting(&self) -> bool {
        matches!(self, JobPayload::Reroute { reroute: true, .. })
    }

    /// The warehouse whose short ship this release moves, if it is one.
    pub(crate) fn short_from(&self) -> Option<&str> {
        match self {
            JobPayload::Reroute { short_from, .. } => short_from.as_deref(),
            _ => None,
        }
    }
}

/// A field a step needs is not in its job's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lacks(pub &'static str);

fn lacks(name: &'static str) -> Lacks {
    Lacks(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every payload shape the hub writes reads back as its variant and
    /// writes the same JSON again.
    #[test]
    fn stored_payloads_round_trip() {
        for stored in [
            json!({ "inbox_id": 42 }),
            json!({ "order_id": "webstore:1" }),
            json!({ "order_id": "webstore:1", "shipment_id": "S-1" }),
            json!({ "order_id": "webstore:1", "reroute": true }),
            json!({ "order_id": "webstore:1", "reroute": true, "short_from": "east" }),
            json!({ "settlement": "amazon:1234567890123456789" }),
        ] {
            let p = JobPayload::from_value(&stored);
            assert!(!matches!(p, JobPayload::Unreadable(_)), "{stored}");
            assert_eq!(p.to_value().to_string(), stored.to_string());
        }
    }

    #[test]
    fn fields_read_as_before() {
        let p = JobPayload::from_value(
            &json!({ "order_id": "o", "reroute": true, "short_from": "east" }),
        );
        assert!(p.rerouting());
        assert_eq!(p.short_from(), Some("east"));
        assert_eq!(p.require_order_id().ok(), Some("o"));
        // A mistyped field is as good as absent, as with the string keys.
        let odd =
            JobPayload::from_value(&json!({ "order_id": "o", "reroute": "yes", "shipment_id": 5 }));
        assert!(!odd.rerouting());
        assert!(odd.shipment_id().is_err());
        assert_eq!(odd.order_id(), Some("o"));
        let junk = JobPayload::from_value(&json!({ "x": 1 }));
        assert_eq!(junk.to_value(), json!({ "x": 1 }));
        assert!(junk.require_order_id().is_err());
        assert!(junk.inbox_id().is_err());
    }
}
