//! The Amazon Selling Partner API channel (Orders v0), merchant-fulfilled.
//!
//! - **Auth**: Login with Amazon (LWA). A refresh-token grant (`POST lwa_url`,
//!   form `grant_type=refresh_token&refresh_token=…&client_id=…&client_secret=…`)
//!   gives an access token, sent as `x-amz-access-token`. It is cached until
//!   shortly before it expires (the margin of [`crate::auth`]) and fetched once
//!   for all callers that find it stale. A 401/403 from the SP-API drops the
//!   token and the call is tried once more with a fresh one. No SigV4: the
//!   SP-API no longer requires it.
//! - **Poll**: `getOrders` with `MarketplaceIds`, `LastUpdatedAfter` (whole
//!   seconds, rounded down) and `LastUpdatedBefore` = now − 2 min (the API
//!   refuses a later one; a `since` later than that is clamped to it), then
//!   `NextToken` pages. A next page is asked with `MarketplaceIds` (required by
//!   the model) and `NextToken` only: the token carries the filters. The token
//!   (it holds `+`, `/`, `=`) is percent-encoded exactly once. Orders are
//!   deduplicated by `AmazonOrderId` across pages (Amazon repeats some), and
//!   a page whose `NextToken` is the one just sent ends the paging with a
//!   warning (Prism mocks answer every page with the same token).
//!   - `Pending`/`PendingAvailability` orders come without items (Amazon
//!     sends no prices or address yet); they map to `NotYet`, which the
//!     hub keeps waiting until a later state is seen.
//!   - `Canceled` orders come without items.
//!   - Any other order is read with every page of `getOrderItems` (items
//!     deduplicated by `OrderItemId`) — once per `LastUpdateDate`: an
//!     order the previous poll answered with the same `LastUpdateDate`
//!     (an unchanged order in the overlap window) is answered with the
//!     same bundle, without asking Amazon again. Only the last poll's
//!     bundles are kept.
//!
//!   The message body is the bundle `{"order": Order, "items": OrderItemsList}`
//!   that [`amazon_order_bundle`] maps; the envelope is
//!   `amazon:poll:<AmazonOrderId>:<LastUpdateDate ms>`, version =
//!   `LastUpdateDate` in ms.
//! - **Notifications** (`ORDER_CHANGE`; SQS/EventBridge in reality, POSTed to
//!   the hub as JSON here) are triggers: the dedupe key is
//!   `amazon:notification:<NotificationMetadata.NotificationId>`, the version
//!   `OrderChangeTrigger.TimeOfOrderChange` (else `EventTime`) in ms. They
//!   carry no signature Amazon could be checked against (SQS is pulled, not
//!   pushed): the route must be protected by the hub. [`Channel::refetch`]
//!   reads the order (`getOrder` + `getOrderItems`) into the same bundle.
//! - **`map_message`**: a Ready order is `ChannelEvent::Order`, a Canceled one
//!   `ChannelEvent::Cancelled`; a Pending one is `ChannelEvent::NotYet`:
//!   nothing is taken, and the hub's step waits (no attempt spent, shown on
//!   the timeline and in `/v1/stats`) until Amazon notifies or the poll
//!   sees it Unshipped or Canceled, for up to 30 days.
//! - **Shipment confirmation**: `confirmShipment`, one call per package, with
//!   `packageReferenceId` derived from our package id (the model allows
//!   positive numbers only, see [`package_reference_id`]). Amazon treats a
//!   resend with the same `packageReferenceId` as an edit of that package,
//!   never as a second package, so a resend is always safe and
//!   `find_shipment_confirmation` answers `None` (there is no read-back
//!   operation for packages in Orders v0). The confirmation id returned is
//!   the `packageReferenceId`.
//! - **Rate limits**: a client-side token bucket per operation with the
//!   documented default rate and burst, its rate replaced by the
//!   `x-amzn-RateLimit-Limit` Amazon sends. The token is taken after the
//!   access token is in hand, and a call that waits for its token waits a
//!   margin more (a tenth of a token's time, at most 1 s), since Amazon's
//!   bucket counts arrivals. A call waits for its token when that takes at
//!   most [`MAX_WAIT`], else comes back `Throttled` unsent. A 429 is
//!   `Throttled` with its `Retry-After`, else one token's time at the
//!   operation's rate; each is logged and counted
//!   ([`Channel::throttled_responses`], the hub's
//!   `crossdock_channel_throttled_total`). A connector that has just
//!   started assumes each bucket spent but for one call, until Amazon's
//!   first answer to that operation (a 429 keeps it spent).
//! - **Availability** (needs [`AmazonChannel::with_seller_id`]): `Urgent`
//!   pushes call `patchListingsItem` per SKU (at most [`URGENT_BATCH`]),
//!   replacing `/attributes/fulfillment_availability` with
//!   `[{fulfillment_channel_code: "DEFAULT", quantity}]` under product type
//!   `PRODUCT`; `ACCEPTED` is Accepted, `INVALID` (or a 400) Rejected with
//!   Amazon's issues. `Batch` pushes send one `JSON_LISTINGS_FEED` (at most
//!   [`FEED_BATCH`] messages, `messageId` = position + 1): createFeedDocument,
//!   PUT to its presigned URL, createFeed, getFeed every
//!   [`FEED_POLL_INTERVAL`] up to [`FEED_MAX_WAIT`] (then `Transient`; the
//!   quantities are absolute, so a resend is harmless), then the processing
//!   report, whose ERROR issues reject their `messageId`'s SKU. A `FATAL`
//!   feed is `Rejected` as a whole.

mod client;
pub mod config;
mod fulfillment;
mod inventory;
pub(super) mod mapping;
mod orders;
mod settlements;
#[cfg(test)]
mod tests;
mod webhook;

pub use client::{
    AmazonChannel, AmazonOptions, FEED_MAX_WAIT, FEED_POLL_INTERVAL, MAX_WAIT, Operation,
};
pub use fulfillment::package_reference_id;
pub use mapping::{
    AmazonOrder, amazon_listings_feed_quantities, amazon_order, amazon_order_bundle,
    amazon_shipment_confirmation, amazon_shipment_confirmation_bundle,
};
