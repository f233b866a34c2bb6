//! Validate: an order the hub can work (lines, money, address, known
//! SKUs), or on hold with every problem listed.

use crossdock_model::{ExceptionClass, OrderStatus};
use crossdock_store::Changes;
use serde_json::json;

use super::context::{StepCx, StepResult};
use super::step::Step;

pub(super) async fn validate(cx: &StepCx<'_>) -> StepResult {
    let order = cx.order().await?;
    if order.status.is_terminal()
        || order.status > OrderStatus::Validated && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    let mut problems = Vec::new();
    if order.lines.is_empty() {
        problems.push("order has no lines".to_owned());
    }
    for (i, l) in order.lines.iter().enumerate() {
        if l.quantity == 0 {
            problems.push(format!("lines[{i}].quantity: must be at least 1"));
        }
        for (field, m) in [
            ("unit_price", l.unit_price),
            ("discount", l.discount),
            ("tax", l.tax),
        ] {
            if m.currency != order.currency {
                problems.push(format!(
                    "lines[{i}].{field}: currency {} differs from order currency {}",
                    m.currency, order.currency
                ));
            }
            if m.amount.is_sign_negative() {
                problems.push(format!("lines[{i}].{field}: negative amount {}", m.amount));
            }
        }
    }
    if order.shipping_address.is_none() {
        problems.push("shipping_address: missing".to_owned());
    }
    if problems.is_empty() {
        match order.computed_total() {
            Ok(t) if t == order.total => {}
            Ok(t) => problems.push(format!(
                "total: channel says {} but lines and shipping add up to {}",
                order.total, t
            )),
            Err(e) => problems.push(format!("total: {e}")),
        }
    }
    let positions = cx.store.positions(None).await?;
    for (i, l) in order.lines.iter().enumerate() {
        if !positions.iter().any(|p| p.sku == l.sku) {
            problems.push(format!("lines[{i}].sku: unknown SKU {:?}", l.sku));
        }
    }
    if !problems.is_empty() {
        return Err(cx.hold(order, ExceptionClass::Validation, problems.join("; ")));
    }
    let mut changes = Changes::default();
    cx.advance(
        order,
        OrderStatus::Validated,
        json!({}),
        Some(Step::Reserve),
        &mut changes,
    );
    Ok(changes)
}
