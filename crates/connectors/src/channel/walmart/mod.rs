//! The Walmart Marketplace US v3 channel (`https://marketplace.walmartapis.com`).
//!
//! - **Auth**: OAuth2 client credentials as Walmart's `tokenAPI` wants it
//!   (`POST /v3/token`, HTTP Basic `client_id:client_secret`, form body
//!   `grant_type=client_credentials`, headers `WM_SVC.NAME`,
//!   `WM_QOS.CORRELATION_ID`, `Accept: application/json`). The token is
//!   cached until a tenth of its life (at most a minute) is left, refreshed
//!   once for all callers that find it stale, and dropped when the API
//!   answers 401 (the call is then made once more with a new token). Every
//!   API call sends `WM_SEC.ACCESS_TOKEN`, `WM_SVC.NAME` and a fresh
//!   `WM_QOS.CORRELATION_ID` (a random-looking UUID v4 per request).
//!   `auth::TokenSource` does not fit: it cannot send Walmart's headers on
//!   the token request, and hands tokens out as `Authorization: Bearer`.
//! - **Ids**: the external order id is the `purchaseOrderId`; a canonical
//!   line id is the PO's `lineNumber` (as `walmart_mapping` maps it).
//! - **Poll**: `GET /v3/orders?createdStartDate=…&lastModifiedStartDate=…&limit=100`,
//!   then `meta.nextCursor`, a ready-made query string sent verbatim on
//!   `/v3/orders` of our own endpoint. Walmart answers 404 when nothing
//!   matches: an empty page. `createdStartDate` is `since` − 180 days
//!   (Walmart serves only orders created in the last 180 days and defaults
//!   it to now − 7 days, which would hide older orders modified since).
//!   A polled order's dedupe key is `walmart:poll:<purchaseOrderId>:<version>`
//!   where the version is the latest of `orderDate` and the lines'
//!   `statusDate` (epoch ms; the PO carries no last-modified field), the
//!   same `source_version` `walmart_mapping` gives.
//! - **Webhooks**: the reference shows the `ORDER` event types `PO_CREATED`
//!   and `PO_LINE_AUTOCANCELLED` but no payload, so a notification
//!   `{"eventType", "eventId", "purchaseOrderId"[, "eventTime"]}` is read
//!   as a trigger (dedupe key `walmart:event:<eventId>`) and
//!   [`Channel::refetch`] reads the PO (`GET /v3/orders/{purchaseOrderId}`).
//!   When [`WalmartOptions::webhook_authorization`] is set, the delivery's
//!   `Authorization` header (Walmart's `BASIC_AUTH` destination auth) must
//!   equal it (compared in constant time).
//! - **Acknowledgement**: Walmart cancels a PO left unacknowledged for
//!   hours, so [`Channel::acknowledges_orders`] is true and the engine
//!   acknowledges each PO once it has reserved its stock:
//!   `acknowledge_order` is `POST /v3/orders/{purchaseOrderId}/acknowledge`;
//!   `find_acknowledgement` reads the PO back (acknowledged when no line
//!   has units still `Created`; `None` when Walmart does not know it).
//! - **Ship confirmation**: `POST /v3/orders/{id}/shipping` with one
//!   `Shipped` status per line carrying `trackingInfo`. Walmart keeps no id
//!   of ours on a shipment, so a package is recognised by its tracking
//!   number: a package without one is sent with our package id as its
//!   tracking number. `confirm_shipment` first reads the PO and does not
//!   send again units already shipped under the same tracking number on the
//!   same line (a resend), and acknowledges a PO still `Created` (orders
//!   reserved before the engine acknowledged at reservation);
//!   `find_shipment_confirmation` finds a line status
//!   whose tracking number is the package id (i.e. untracked packages; a
//!   tracked one is recognised by the resend check instead).
//! - **Availability**: [`AvailabilityCadence::Urgent`] is one
//!   `PUT /v3/inventory?sku=…` (`{sku, quantity: {unit: "EACH", amount}}`)
//!   per SKU, at most [`URGENT_BATCH_LIMIT`] per call; Walmart's refusal of
//!   one SKU (404 unknown item, 400 invalid) is that SKU's `Rejected`.
//!   [`AvailabilityCadence::Batch`] is one bulk inventory feed
//!   (`POST /v3/feeds?feedType=inventory`, the spec's multipart upload with
//!   a JSON file `{InventoryHeader: {version: "1.4"}, Inventory: […]}`, at
//!   most [`FEED_BATCH_LIMIT`] SKUs), then `GET /v3/feeds/{feedId}?includeDetails=true`
//!   until it is PROCESSED (for at most [`WalmartOptions::feed_wait`]),
//!   paging the item details 50 at a time; each item's `ingestionStatus` is
//!   its SKU's result (matched by `index`). A feed still in progress at the
//!   deadline is `Transient` (quantities are absolute: sending again is
//!   harmless). Before each call, when the operation's budget is known to
//!   be 0 until a replenish time at most [`MAX_PACING_WAIT`] away, the push
//!   waits for it instead of being turned away.
//! - **429** is [`ConnectorError::Throttled`] with its `Retry-After`, or
//!   else the time to `X-Next-Replenishment-Time`. `X-Current-Token-Count`
//!   and the replenish time are recorded per operation
//!   ([`WalmartChannel::rate_budget`]); an operation whose budget is known
//!   to be 0 until a future replenish time is refused as `Throttled`
//!   without being sent.

mod client;
pub mod config;
mod fulfillment;
mod inventory;
mod mapping;
mod orders;
mod settlements;
#[cfg(test)]
mod tests;
mod webhook;

pub use crate::pacing::RateBudget;
pub use client::{
    DEFAULT_ENDPOINT, DEFAULT_FEED_WAIT, DEFAULT_SERVICE_NAME, MAX_PACING_WAIT, WalmartChannel,
    WalmartOptions,
};
pub use inventory::{FEED_BATCH_LIMIT, URGENT_BATCH_LIMIT};
pub use mapping::{WALMART_DEFAULT_NODE, walmart_inventory, walmart_order};
