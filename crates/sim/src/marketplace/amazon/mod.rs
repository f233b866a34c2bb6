//! The simulated Amazon seller account: Login with Amazon plus the parts of the Selling Partner
//! API the hub uses (Orders v0, Listings Items 2021-08-01, Feeds 2021-06-30),
//! as strict as Amazon: a connector should not be able to tell it from the
//! real thing except by base URL and credentials.
//!
//! - **LWA** `POST /auth/o2/token` (refresh-token grant). Every SP-API call
//!   needs `x-amz-access-token`; a missing, unknown or expired token is a 403
//!   `Unauthorized` in SP-API's error shape.
//! - **Rate limits**: a token bucket per operation with the documented rate
//!   (× `rate_multiplier`) and burst; every SP-API response carries
//!   `x-amzn-RateLimit-Limit`, an empty bucket is a 429 `QuotaExceeded`.
//!   `force_throttle` (or `POST /sim/throttle {"count": n}`) turns the next
//!   n SP-API calls away with a 429.
//! - **Orders** start `Pending` (no prices, no address), turn `Unshipped`
//!   after `pending_secs`, may be cancelled by the buyer before shipment,
//!   and move to `PartiallyShipped`/`Shipped` as packages are confirmed. A
//!   resend of a `packageReferenceId` edits that package; units beyond the
//!   ordered quantity under a new `packageReferenceId` are refused and
//!   counted as `duplicate_packages`.
//! - **ORDER_CHANGE** notifications are POSTed to
//!   `{hub_url}/webhooks/channels/{name}`, duplicated, delayed (so
//!   reordered) or dropped as configured.
//! - **Listings**: `patchListingsItem` and `JSON_LISTINGS_FEED` feeds set
//!   `fulfillment_availability` quantities per SKU. Feed documents live
//!   behind presigned URLs on this server (`/sim/s3/...`) that expire.
//!
//! - **Settlements**: the V2 flat file of what shipped, what was charged
//!   and withheld, listed by `getReports` and fetched with
//!   `getReportDocument`, or at `/sim/settlements` (`settlements.rs`).
//!
//! `backdate_secs` shifts every Amazon timestamp into the past: Amazon
//! refuses `LastUpdatedBefore` later than two minutes ago, so without it a
//! test could not see an order it placed a moment ago.
//!
//! Files: `config.rs` (`[sim.amazon]`), `state.rs` (the account, its
//! operations' rate plans and its counters), `routes.rs` (the route table
//! and SP-API's token and bucket checks), `lwa.rs` (access tokens),
//! `orders.rs`, `listings.rs`, `feeds.rs`, `settlements.rs` (the APIs), `generate.rs`
//! (buyers), `webhooks.rs` (ORDER_CHANGE notifications), `wire.rs`
//! (Amazon's error documents, money, times and tokens).

mod config;
mod feeds;
mod generate;
mod listings;
mod lwa;
mod orders;
mod routes;
mod settlements;
mod state;
#[cfg(test)]
mod tests;
mod webhooks;
mod wire;

pub use config::AmazonSimConfig;
pub(crate) use state::AmazonSim;
