//! Connectors behind a governor: [`GovernedErp`] for the ERP, and
//! `GovernedChannel` for a channel whose connection asks for pacing
//! ([`ChannelPacing`]). Each endpoint of the connector is one governed
//! endpoint, with its priority class and, for the ERP, its probe.

use std::sync::Arc;

use async_trait::async_trait;
use crossdock_connectors::{Channel, ConnectorError, Erp, ErpDocument};
use crossdock_model::{Customer, InventoryPosition, Journal, Order};

use super::gates::Governor;
use super::options::{GovernorOptions, Priority};
use crate::clock::Clock;

/// The hub's own pacing of one channel's outbound calls: the limits of the
/// governor the engine puts the channel's connector behind (see the
/// [`governor`](super) module doc for why the engine does it). Checked when
/// made, so applying it cannot fail.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPacing(GovernorOptions);

impl ChannelPacing {
    pub fn new(options: GovernorOptions) -> Result<Self, String> {
        options.validate()?;
        Ok(ChannelPacing(options))
    }

    pub fn options(&self) -> &GovernorOptions {
        &self.0
    }

    /// `connector` behind a governor of its own, named `account` (the
    /// channel's name), whose limits run on `clock`.
    pub(crate) fn govern(
        &self,
        account: &str,
        connector: Arc<dyn Channel>,
        clock: Arc<dyn Clock>,
    ) -> Arc<dyn Channel> {
        let governor = Governor::with_valid_options(account, &self.0, clock);
        Arc::new(GovernedChannel::new(connector, Arc::new(governor)))
    }
}

/// An ERP connector behind its account's governor.
pub struct GovernedErp {
    erp: Arc<dyn Erp>,
    governor: Arc<Governor>,
}

/// The reference the breaker's probe looks up: a read that changes
/// nothing and finds nothing.
const PROBE_REFERENCE: &str = "crossdock:breaker-probe";

impl GovernedErp {
    pub fn new(erp: Arc<dyn Erp>, governor: Arc<Governor>) -> Self {
        GovernedErp { erp, governor }
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.erp.find_sales_order(PROBE_REFERENCE).await.map(|_| ())
    }

    pub fn governor(&self) -> &Arc<Governor> {
        &self.governor
    }
}

#[async_trait]
impl Erp for GovernedErp {
    async fn upsert_customer(&self, customer: &Customer) -> Result<String, ConnectorError> {
        self.governor
            .call(
                "customer.upsert",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.upsert_customer(customer),
            )
            .await
    }

    async fn create_sales_order(
        &self,
        reference: &str,
        customer_id: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.governor
            .call(
                "sales_order.create",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.create_sales_order(reference, customer_id, order),
            )
            .await
    }

    async fn find_sales_order(
        &self,
        reference: &str,
    ) -> Result<Option<ErpDocument>, ConnectorError> {
        self.governor
            .call(
                "sales_order.find",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.find_sales_order(reference),
            )
            .await
    }

    async fn post_invoice(
        &self,
        reference: &str,
        order: &Order,
    ) -> Result<ErpDocument, ConnectorError> {
        self.governor
            .call(
                "invoice.post",
                Priority::Update,
                || self.probe(),
                || self.erp.post_invoice(reference, order),
            )
            .await
    }

    async fn find_invoice(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.governor
            .call(
                "invoice.find",
                Priority::Update,
                || self.probe(),
                || self.erp.find_invoice(reference),
            )
            .await
    }

    async fn read_stock(&self) -> Result<Vec<InventoryPosition>, ConnectorError> {
        self.governor
            .call(
                "stock.read",
                Priority::StockRead,
                || self.probe(),
                || self.erp.read_stock(),
            )
            .await
    }

    async fn cancel_sales_order(&self, erp_id: &str) -> Result<(), ConnectorError> {
        self.governor
            .call(
                "sales_order.cancel",
                Priority::Acceptance,
                || self.probe(),
                || self.erp.cancel_sales_order(erp_id),
            )
            .await
    }

    async fn post_journal(
        &self,
        reference: &str,
        journal: &Journal,
    ) -> Result<ErpDocument, ConnectorError> {
        self.governor
            .call(
                "journal.post",
                Priority::Update,
                || self.probe(),
                || self.erp.post_journal(reference, journal),
            )
            .await
    }

    async fn find_journal(&self, reference: &str) -> Result<Option<ErpDocument>, ConnectorError> {
        self.governor
            .call(
                "journal.find",
                Priority::Update,
                || self.probe(),
                || self.erp.find_journal(reference),
            )
            .await
    }
}

/// A channel connector whose outbound calls (shipment confirmations,
/// availability updates) pass a governor sized to the channel's published
/// limits, so a burst of work — a 3PL's hourly batch of shipments — is
/// spread out instead of being refused. Refetches and polls are governed
/// too; reading and mapping a webhook pass through. Made only by
/// [`ChannelPacing::govern`], so there is one way a channel gets paced.
pub(crate) struct GovernedChannel {
    channel: Arc<dyn Channel>,
    governor: Arc<Governor>,
}

impl GovernedChannel {
    fn new(channel: Arc<dyn Channel>, governor: Arc<Governor>) -> Self {
        GovernedChannel { channel, governor }
    }
}

/// A channel has no harmless probe worth a call: the half-open breaker
/// lets the next real call through.
async fn no_probe() -> Result<(), ConnectorError> {
    Ok(())
}

#[async_trait]
impl Channel for GovernedChannel {
    fn name(&self) -> &str {
        self.channel.name()
    }

    fn read_webhook(
        &self,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> Result<crossdock_connectors::InboundEnvelope, crossdock_connectors::InputError> {
        self.channel.read_webhook(headers, body)
    }

    fn webhook_committed(&self, headers: &reqwest::header::HeaderMap) {
        self.channel.webhook_committed(headers);
    }

    fn map_message(
        &self,
        body: &[u8],
    ) -> Result<crossdock_connectors::ChannelEvent, crossdock_connectors::InputError> {
        self.channel.map_message(body)
    }

    fn throttled_responses(&self) -> u64 {
        self.channel.throttled_responses()
    }

    async fn refetch(&self, delivered: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        self.governor
            .call("order.get", Priority::Acceptance, no_probe, || {
                self.channel.refetch(delivered)
            })
            .await
    }

    async fn poll_updated_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(crossdock_connectors::InboundEnvelope, Vec<u8>)>, ConnectorError> {
        self.governor
            .call("orders.list", Priority::Acceptance, no_probe, || {
                self.channel.poll_updated_since(since_ms)
            })
            .await
    }

    async fn settlements_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<crossdock_connectors::SettlementDocument>, ConnectorError> {
        self.governor
            .call("settlements.list", Priority::Bulk, no_probe, || {
                self.channel.settlements_since(since_ms)
            })
            .await
    }

    async fn confirm_shipment(
        &self,
        confirmation: &crossdock_connectors::ShipConfirmation,
    ) -> Result<String, ConnectorError> {
        self.governor
            .call("shipment.confirm", Priority::Update, no_probe, || {
                self.channel.confirm_shipment(confirmation)
            })
            .await
    }

    async fn find_shipment_confirmation(
        &self,
        external_order_id: &str,
        package_id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        self.governor
            .call("shipment.find", Priority::Update, no_probe, || {
                self.channel
                    .find_shipment_confirmation(external_order_id, package_id)
            })
            .await
    }

    fn acknowledges_orders(&self) -> bool {
        self.channel.acknowledges_orders()
    }

    async fn acknowledge_order(
        &self,
        external_order_id: &str,
    ) -> Result<crossdock_connectors::Acknowledgement, ConnectorError> {
        self.governor
            .call("order.acknowledge", Priority::Acceptance, no_probe, || {
                self.channel.acknowledge_order(external_order_id)
            })
            .await
    }

    async fn find_acknowledgement(
        &self,
        external_order_id: &str,
    ) -> Result<Option<crossdock_connectors::Acknowledgement>, ConnectorError> {
        self.governor
            .call("order.get", Priority::Acceptance, no_probe, || {
                self.channel.find_acknowledgement(external_order_id)
            })
            .await
    }

    fn availability_batch_limit(
        &self,
        cadence: crossdock_connectors::AvailabilityCadence,
    ) -> usize {
        self.channel.availability_batch_limit(cadence)
    }

    async fn publish_availability(
        &self,
        updates: &[crossdock_connectors::AvailabilityUpdate],
        cadence: crossdock_connectors::AvailabilityCadence,
    ) -> Result<Vec<crossdock_connectors::AvailabilityResult>, ConnectorError> {
        let priority = match cadence {
            crossdock_connectors::AvailabilityCadence::Urgent => Priority::Update,
            crossdock_connectors::AvailabilityCadence::Batch => Priority::Bulk,
        };
        self.governor
            .call("availability.publish", priority, no_probe, || {
                self.channel.publish_availability(updates, cadence)
            })
            .await
    }
}
