//! The names the hub gives things at its targets and in its effect log:
//! effect keys and the references on external documents. A leaf, shared by
//! the steps that create a thing and those that cancel or look it up.

use crossdock_model::Order;

/// The effect that creates `order_id`'s sales order at the ERP.
pub(crate) fn sales_order_effect_key(order_id: &str) -> String {
    format!("erp:sales_order:{order_id}")
}

/// The effect that upserts `order_id`'s customer at the ERP, on the way to
/// its sales order.
pub(crate) fn customer_effect_key(order_id: &str) -> String {
    format!("erp:customer:{order_id}")
}

/// The effect that acknowledges `order_id` to its channel `channel`.
pub(crate) fn acknowledge_effect_key(channel: &str, order_id: &str) -> String {
    format!("channel:{channel}:ack:{order_id}")
}

/// Our reference on ERP documents: unique per channel order, readable by people.
pub(crate) fn erp_reference(order: &Order) -> String {
    format!("{}:{}", order.channel, order.external_id)
}

/// The id of the fulfilment request for `order` at `location`.
pub(crate) fn fulfillment_request_id(order_id: &str, location: &str) -> String {
    format!("{order_id}:{location}")
}

/// The effect that releases `order_id`'s request to `location`.
pub(crate) fn release_effect_key(order_id: &str, location: &str) -> String {
    format!(
        "warehouse:release:{}",
        fulfillment_request_id(order_id, location)
    )
}
