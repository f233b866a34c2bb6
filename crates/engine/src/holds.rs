//! Operators' side of order-rule holds: release a held order (audited, and
//! woken at once) and list the orders held.

use crossdock_model::{Order, OrderHold};
use crossdock_store::Store;
use crossdock_store::events::TimelineEvent;

use crate::Engine;
use crate::steps::order_entity_key;

/// Why a release was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    #[error("order {0} does not exist")]
    NoSuchOrder(String),
    #[error("order {0} is not held by an order rule")]
    NotHeld(String),
    #[error("the hold of order {order} (rule {rule}) was already released")]
    AlreadyReleased { order: String, rule: String },
    #[error("a release needs a reason")]
    NoReason,
    #[error("store: {0}")]
    Store(String),
}

impl From<crossdock_store::StoreError> for ReleaseError {
    fn from(e: crossdock_store::StoreError) -> Self {
        ReleaseError::Store(e.to_string())
    }
}

/// Release the rule hold of `order_id` in `store`: `actor` and `reason` go
/// on its timeline and its waiting ERP step falls due at `now`. Returns the
/// rule released. The CLI uses this directly (the hub's runner finds the
/// step within its poll interval); [`Engine::release_hold`] also wakes it.
pub async fn release_hold(
    store: &Store,
    order_id: &str,
    actor: &str,
    reason: &str,
    now: i64,
) -> Result<String, ReleaseError> {
    if reason.trim().is_empty() {
        return Err(ReleaseError::NoReason);
    }
    let order = store
        .order(order_id)
        .await?
        .ok_or_else(|| ReleaseError::NoSuchOrder(order_id.to_owned()))?;
    let hold = order
        .hold
        .ok_or_else(|| ReleaseError::NotHeld(order_id.to_owned()))?;
    let key = order_entity_key(order_id);
    if released_since(store, &key, &hold).await? {
        return Err(ReleaseError::AlreadyReleased {
            order: order_id.to_owned(),
            rule: hold.rule,
        });
    }
    let event = TimelineEvent::HoldReleased {
        rule: hold.rule.clone(),
        actor: actor.to_owned(),
        reason: reason.to_owned(),
    }
    .at(&key, now);
    store.record_hold_release(&event, now).await?;
    Ok(hold.rule)
}

/// Whether an operator released `hold` (on `entity_key`'s timeline since
/// it was placed).
pub(crate) async fn released_since(
    store: &Store,
    entity_key: &str,
    hold: &OrderHold,
) -> Result<bool, crossdock_store::StoreError> {
    let since = hold.placed_at.timestamp_millis();
    Ok(store.timeline(entity_key).await?.iter().any(|e| {
        e.at >= since
            && matches!(e.event(), Ok(TimelineEvent::HoldReleased { rule, .. }) if rule == hold.rule)
    }))
}

/// Orders waiting on a rule hold in `store`, the longest waiting first, at
/// most `limit`.
pub async fn held_orders(store: &Store, limit: i64) -> Result<Vec<Order>, ReleaseError> {
    let mut held = Vec::new();
    for key in store.entities_waiting("order_hold", limit).await? {
        let id = key.strip_prefix("order:").unwrap_or(&key);
        if let Some(o) = store.order(id).await?
            && o.hold.is_some()
        {
            held.push(o);
        }
    }
    Ok(held)
}

impl Engine {
    /// [`release_hold`] now, and the runner woken at once.
    pub async fn release_hold(
        &self,
        order_id: &str,
        actor: &str,
        reason: &str,
    ) -> Result<String, ReleaseError> {
        let rule =
            release_hold(self.store(), order_id, actor, reason, self.clock().now_ms()).await?;
        self.wake_runner();
        Ok(rule)
    }
}
