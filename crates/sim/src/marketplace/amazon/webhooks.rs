//! ORDER_CHANGE notifications to the hub, dropped, duplicated or delayed
//! as configured.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};

use super::state::{AmazonOrder, AmazonSim, Status};
use super::wire::iso_ms;
use crate::fixtures::uuid;
use crate::wire::lock;

impl AmazonSim {
    /// An ORDER_CHANGE notification (schemas/notifications/OrderChangeNotification.json).
    pub(super) fn notification(
        &self,
        order: &AmazonOrder,
        change_type: &str,
        reason: &str,
    ) -> Value {
        let (shipped, unshipped) = order.units();
        let id = uuid(&mut lock(&self.base.rng));
        let items: Vec<Value> = order
            .items
            .iter()
            .map(|i| {
                let shipped = order.shipped(&i.id);
                json!({
                    "OrderItemId": i.id,
                    "SellerSKU": i.sku,
                    "SupplySourceId": null,
                    "OrderItemStatus": if shipped >= i.quantity { "Shipped" } else { "Unshipped" },
                    "Quantity": i.quantity,
                    "QuantityShipped": shipped,
                    "IsBuyerRequestedCancel": order.status == Status::Canceled,
                })
            })
            .collect();
        json!({
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": "1.0",
            "EventTime": iso_ms(self.now()),
            "Payload": { "OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": self.config.seller_id,
                "AmazonOrderId": order.id,
                "OrderChangeType": change_type,
                "OrderChangeTrigger": {
                    "TimeOfOrderChange": iso_ms(order.updated),
                    "ChangeReason": reason,
                },
                "Summary": {
                    "MarketplaceId": self.config.marketplace_id,
                    "OrderStatus": order.status.as_str(),
                    "PurchaseDate": iso_ms(order.purchased),
                    "DestinationPostalCode": order.city.2,
                    "FulfillmentType": "MFN",
                    "OrderType": "StandardOrder",
                    "NumberOfItemsShipped": shipped,
                    "NumberOfItemsUnshipped": unshipped,
                    "OrderItems": items,
                }
            }},
            "NotificationMetadata": {
                "ApplicationId": "amzn1.sellerapps.app.crossdock-sim",
                "SubscriptionId": format!("subscription-{}", self.config.seller_id),
                "PublishTime": iso_ms(self.now()),
                "NotificationId": id,
            }
        })
    }

    /// Delivers a notification with the configured faults: dropped, or
    /// sent once or twice, each copy after its own random delay.
    pub(super) fn notify(self: &Arc<Self>, body: Value) {
        let (dropped, copies, delays) = {
            let mut rng = lock(&self.base.rng);
            let c = &self.config;
            let dropped = c.drop_rate > 0.0 && rng.random_bool(c.drop_rate);
            let copies = if c.duplicate_rate > 0.0 && rng.random_bool(c.duplicate_rate) {
                2
            } else {
                1
            };
            let delays: Vec<u64> = (0..copies)
                .map(|_| rng.random_range(0..=c.max_delivery_delay_ms))
                .collect();
            (dropped, copies, delays)
        };
        {
            let mut state = lock(&self.state);
            if dropped {
                state.counters.notifications_dropped += 1;
                return;
            }
            state.counters.notifications_sent += 1;
            if copies > 1 {
                state.counters.notifications_duplicated += 1;
            }
        }
        for delay in delays {
            let slot = self.base.deliverer.reserve(&self.base.deliveries);
            let this = self.clone();
            let body = body.clone();
            tokio::spawn(async move {
                if delay > 0 {
                    tokio::select! {
                        _ = this.base.shutdown().cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                    }
                }
                this.base
                    .deliverer
                    .spawn(slot, this.base.webhook_url.clone(), Vec::new(), body);
            });
        }
    }
}
