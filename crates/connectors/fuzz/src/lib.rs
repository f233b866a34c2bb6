//! What every fuzz target of this project checks on a canonical order a
//! channel payload translated to.
//!
//! The properties are the connectors' own contract, which the engine relies
//! on (see `crates/engine/src/steps/validate.rs` for what it re-checks and
//! holds rather than trusts):
//!
//! - the order belongs to the channel it was mapped for, and its id is
//!   `order_id_for(channel, external_id)` (the hub's dedup key);
//! - it is a new order (`Received`); no line ships or cancels more units
//!   than it orders (Amazon reports units already shipped);
//! - every amount is non-negative and in the order's currency (the
//!   translators refuse negative amounts and mixed currencies by name);
//! - the order survives the JSON round trip the store puts it through
//!   (`orders.body` is the order serialized with serde_json);
//! - the helpers every later step calls on it do not panic (overflow
//!   included): totals, unit counts, customer and address keys.

use std::hint::black_box;

use crossdock_model::{Money, Order, OrderStatus, order_id_for};

/// Asserts the properties above; `what` names the translator in messages.
pub fn check_order(what: &str, channel: &str, order: &Order) {
    assert_eq!(order.channel, channel, "{what}: order of another channel");
    assert_eq!(
        order.id,
        order_id_for(channel, &order.external_id),
        "{what}: id is not order_id_for(channel, external_id)"
    );
    assert_eq!(
        order.status,
        OrderStatus::Received,
        "{what}: not a new order"
    );
    let money_ok = |field: &str, m: &Money| {
        assert_eq!(
            m.currency, order.currency,
            "{what}: {field} in {} but the order is in {}",
            m.currency, order.currency
        );
        assert!(
            !m.amount.is_sign_negative() || m.amount.is_zero(),
            "{what}: {field} is negative ({})",
            m.amount
        );
    };
    money_ok("shipping", &order.shipping);
    money_ok("total", &order.total);
    for (i, l) in order.lines.iter().enumerate() {
        money_ok(&format!("lines[{i}].unit_price"), &l.unit_price);
        money_ok(&format!("lines[{i}].discount"), &l.discount);
        money_ok(&format!("lines[{i}].tax"), &l.tax);
        assert!(
            u64::from(l.shipped_quantity) + u64::from(l.cancelled_quantity)
                <= u64::from(l.quantity),
            "{what}: lines[{i}] ships or cancels more than its quantity"
        );
        drop(black_box((l.total(), l.open_quantity())));
    }
    drop(black_box((
        order.computed_total(),
        order.units_ordered(),
        order.fully_resolved(),
        order.any_shipped(),
        order.customer_key(),
        order.ship_to_key(),
        order.billing_address.as_ref().map(|a| a.match_key()),
        order.shipping.minor_units(),
        order.total.minor_units(),
    )));
    let json = serde_json::to_vec(order).expect("an order serializes");
    let back: Order = match serde_json::from_slice(&json) {
        Ok(back) => back,
        Err(e) => panic!(
            "{what}: stored order does not read back: {e}\n{}",
            String::from_utf8_lossy(&json)
        ),
    };
    assert_eq!(&back, order, "{what}: order changes through its JSON form");
}
