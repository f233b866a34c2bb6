//! The hub's own ids. An order id is derived from channel and external id,
//! not allocated, so every message about one channel order finds the same
//! entity without a lookup.

use uuid::Uuid;

/// Namespace for deterministic order ids. Fixed forever: changing it would
/// give every existing order a new id.
const ORDER_NAMESPACE: Uuid = Uuid::from_u128(0x6b1d_93c4_1f0e_4c2a_9a57_3e0c_d1a8_77f1);

/// The hub's order id for a channel order. Deterministic, so every message
/// about the same channel order (webhook, poll, shipment) names the same
/// entity without a lookup, and a replayed message can never mint a second
/// order.
pub fn order_id_for(channel: &str, external_id: &str) -> String {
    let mut name = Vec::with_capacity(channel.len() + external_id.len() + 1);
    name.extend_from_slice(channel.as_bytes());
    name.push(0);
    name.extend_from_slice(external_id.as_bytes());
    Uuid::new_v5(&ORDER_NAMESPACE, &name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_id_is_stable_and_separates_channels() {
        assert_eq!(order_id_for("shop", "1001"), order_id_for("shop", "1001"));
        assert_ne!(order_id_for("shop", "1001"), order_id_for("amazon", "1001"));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(order_id_for("ab", "c"), order_id_for("a", "bc"));
    }
}
