//! The JSON Schema of the canonical types, generated from the types
//! themselves, so `crossdock schema` cannot drift from what the hub writes.

use schemars::schema_for;

use crate::*;

/// JSON Schema of every canonical type, keyed by type name, in a stable order.
pub fn canonical_schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("Money", schema_for!(Money)),
        ("Address", schema_for!(Address)),
        ("Customer", schema_for!(Customer)),
        ("OrderLine", schema_for!(OrderLine)),
        ("Order", schema_for!(Order)),
        ("InventoryPosition", schema_for!(InventoryPosition)),
        ("Reservation", schema_for!(Reservation)),
        ("FulfillmentRequest", schema_for!(FulfillmentRequest)),
        ("Shipment", schema_for!(Shipment)),
        ("Return", schema_for!(Return)),
        ("Refund", schema_for!(Refund)),
        ("Settlement", schema_for!(Settlement)),
        ("SettlementRow", schema_for!(SettlementRow)),
        ("Residual", schema_for!(Residual)),
        ("SettlementSummary", schema_for!(SettlementSummary)),
        ("Journal", schema_for!(Journal)),
        ("ExceptionRecord", schema_for!(ExceptionRecord)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_amount_is_a_string_in_the_schema() {
        let schemas = canonical_schemas();
        let (_, money) = schemas.iter().find(|(n, _)| *n == "Money").unwrap();
        let v = serde_json::to_value(money).unwrap();
        assert_eq!(v["properties"]["amount"]["type"], "string");
        assert_eq!(v["$defs"]["Currency"]["pattern"], "^[A-Z]{3}$");
        let (_, order) = schemas.iter().find(|(n, _)| *n == "Order").unwrap();
        let v = serde_json::to_value(order).unwrap();
        assert_eq!(v["properties"]["external_id"]["type"], "string");
    }
}
