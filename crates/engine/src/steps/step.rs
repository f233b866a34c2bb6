//! The names of the workflow steps, as stored in the job table.
//!
//! A leaf of [`crate::steps`]: every step file names the step it queues
//! next, and the runner parses stored names, so the enum lives apart from
//! the `run_step` table in `steps/mod.rs`.

/// The workflow steps, as stored in the job table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ChannelMessage,
    Validate,
    Reserve,
    /// Tell the channel the order is taken (only channels that want it).
    Acknowledge,
    AcceptInErp,
    Release,
    WarehouseShipment,
    ConfirmShipment,
    Invoice,
    Close,
    /// Post a settlement's planned journals to the ERP.
    PostSettlement,
}

impl Step {
    pub const ALL: [Step; 11] = [
        Step::ChannelMessage,
        Step::Validate,
        Step::Reserve,
        Step::Acknowledge,
        Step::AcceptInErp,
        Step::Release,
        Step::WarehouseShipment,
        Step::ConfirmShipment,
        Step::Invoice,
        Step::Close,
        Step::PostSettlement,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Step::ChannelMessage => "channel_message",
            Step::Validate => "validate",
            Step::Reserve => "reserve",
            Step::Acknowledge => "acknowledge",
            Step::AcceptInErp => "accept_in_erp",
            Step::Release => "release",
            Step::WarehouseShipment => "warehouse_shipment",
            Step::ConfirmShipment => "confirm_shipment",
            Step::Invoice => "invoice",
            Step::Close => "close",
            Step::PostSettlement => "post_settlement",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The entity key of a settlement (`channel:settlement_id`): its jobs and
/// timeline share it.
pub fn settlement_entity_key(settlement: &str) -> String {
    format!("settlement:{settlement}")
}

/// The entity key of an order: all its jobs share it.
pub fn order_entity_key(order_id: &str) -> String {
    format!("order:{order_id}")
}
