//! Validate: an order the hub can work (lines, money, address, known
//! SKUs) that passes the configured order rules — or on hold with every
//! problem listed. The rules also enrich the order, decide its tax
//! treatment and may place a review hold, which the ERP step honours.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crossdock_model::{ExceptionClass, Order, OrderHold, OrderStatus};
use crossdock_store::events::TimelineEvent;
use crossdock_store::{Changes, NewEvent, PositionRow};
use serde_json::json;

use super::context::{StepCx, StepError, StepResult};
use super::step::Step;
use crate::rules::{PastOrder, RuleFacts, Rules, RulesOutcome, SkuStock};

/// How many of a customer's earlier orders the rules' history reads.
const HISTORY_LIMIT: i64 = 500;

pub(super) async fn validate(cx: &StepCx<'_>) -> StepResult {
    let mut order = cx.order().await?;
    if order.status.is_terminal()
        || order.status > OrderStatus::Validated && order.status != OrderStatus::OnHold
    {
        return Ok(Changes::default());
    }
    let mut problems = built_in_problems(&order);
    let skus: Vec<String> = order.lines.iter().map(|l| l.sku.clone()).collect();
    let positions = cx.store.positions_of(&skus).await?;
    for (i, l) in order.lines.iter().enumerate() {
        if !positions.iter().any(|p| p.sku == l.sku) {
            problems.push(format!("lines[{i}].sku: unknown SKU {:?}", l.sku));
        }
    }
    let rules = cx.connections.rules.load_full();
    let mut events: Vec<NewEvent> = Vec::new();
    let mut outcome = RulesOutcome::default();
    if !rules.is_empty() {
        let facts = rule_facts(cx, &rules, &order, &positions).await?;
        outcome = rules.evaluate(&facts);
        events.push(cx.event(TimelineEvent::RulesEvaluated {
            facts: json!(facts),
            outcome: json!(outcome),
        }));
        problems.extend(outcome.refusals());
    }
    if !problems.is_empty() {
        let held = cx.hold(order, ExceptionClass::Validation, problems.join("; "));
        return Err(with_events(held, events));
    }
    apply(cx, &mut order, &outcome, &mut events);
    let mut changes = Changes::default();
    changes.events.extend(events);
    cx.advance(
        order,
        OrderStatus::Validated,
        json!({}),
        Some(Step::Reserve),
        &mut changes,
    );
    Ok(changes)
}

/// What the hub itself requires of every order, whatever the rules say.
fn built_in_problems(order: &Order) -> Vec<String> {
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
    problems
}

/// The facts the rules judge `order` on: the order with its catalogue
/// facts, the customer's earlier orders, the orders to its address in the
/// hour before it, and its channel.
async fn rule_facts(
    cx: &StepCx<'_>,
    rules: &Rules,
    order: &Order,
    positions: &[PositionRow],
) -> Result<RuleFacts, StepError> {
    let mut stock: BTreeMap<String, SkuStock> = BTreeMap::new();
    for p in positions {
        stock
            .entry(p.sku.clone())
            .or_insert(SkuStock { on_hand: 0 })
            .on_hand += p.on_hand;
    }
    let placed = order.placed_at.timestamp_millis();
    let earlier: Vec<PastOrder> = cx
        .store
        .customer_orders(&order.customer_key(), placed, HISTORY_LIMIT)
        .await?
        .into_iter()
        .map(|o| PastOrder {
            total_minor_same_currency: (o.currency == order.currency)
                .then(|| o.total.minor_units())
                .flatten(),
            id: o.id,
            status: o.status,
            placed_at_ms: o.placed_at.timestamp_millis(),
        })
        .collect();
    let same_address: Vec<PastOrder> = cx
        .store
        .orders_to_address(&order.ship_to_key(), placed - 3_600_000, placed)
        .await?
        .into_iter()
        .map(|(id, at)| PastOrder {
            id,
            status: OrderStatus::Received,
            placed_at_ms: at,
            total_minor_same_currency: None,
        })
        .collect();
    let order_facts = rules.order_facts(order, &stock);
    let channel = rules.channel_facts(&order.channel, &order_facts.ship_to);
    Ok(RuleFacts {
        customer: crate::rules::facts::customer_facts(order, &earlier),
        address: crate::rules::facts::address_facts(order, &same_address),
        channel,
        order: order_facts,
    })
}

/// Carry the rules' decisions onto the order, each on its timeline.
fn apply(cx: &StepCx<'_>, order: &mut Order, outcome: &RulesOutcome, events: &mut Vec<NewEvent>) {
    for c in &outcome.changes {
        if !c.apply_to(order) {
            continue;
        }
        events.push(cx.event(TimelineEvent::OrderEnriched {
            rule: c.rule.clone(),
            field: c.field.clone(),
            before: c.before.clone(),
            after: c.after.clone(),
        }));
    }
    if let Some(t) = &outcome.tax {
        order.tax_treatment = t.treatment;
    }
    if let Some(h) = &outcome.hold {
        let until = h.expires_ms.map(|ms| cx.now.saturating_add(ms));
        order.hold = Some(OrderHold {
            rule: h.rule.clone(),
            reason: h.reason.clone(),
            placed_at: at(cx.now),
            until: until.map(at),
        });
        events.push(cx.event(TimelineEvent::HoldPlaced {
            rule: h.rule.clone(),
            reason: h.reason.clone(),
            until,
        }));
    }
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A failed step that also records `events` (the rules' verdict).
fn with_events(e: StepError, events: Vec<NewEvent>) -> StepError {
    match e {
        StepError::Fail {
            class,
            reason,
            mut changes,
        } => {
            changes.events.extend(events);
            StepError::Fail {
                class,
                reason,
                changes,
            }
        }
        other => other,
    }
}
