//! The simulated Walmart Marketplace US v3 seller account: as strict as
//! Walmart, so a connector cannot tell it from Walmart except by its base
//! URL and credentials.
//!
//! - **Auth**: `POST /v3/token` (HTTP Basic client id and secret, form body
//!   `grant_type=client_credentials`, `WM_SVC.NAME` and
//!   `WM_QOS.CORRELATION_ID` required) issues a token for `token_ttl_secs`.
//!   Every other `/v3` call needs `WM_SEC.ACCESS_TOKEN`, `WM_SVC.NAME`,
//!   `WM_QOS.CORRELATION_ID` and `Accept: application/json`, or is refused
//!   with Walmart's `{"errors":{"error":[…]}}` body.
//! - **Orders**: purchase orders generated at `orders_per_sec`, visible after
//!   `visibility_delay_ms`. Each line's quantity is split into statuses
//!   (Created → Acknowledged → Shipped / Cancelled), so one line may be part
//!   shipped and part cancelled. `GET /v3/orders` pages with `meta.nextCursor`
//!   (a query string to send verbatim) and answers 404 when nothing matches,
//!   as Walmart does.
//! - **Shipping** is never deduplicated: `duplicate_shipments` counts a
//!   tracking number sent again for the same line, which is how a test
//!   catches a hub that confirms twice.
//! - **Rate limits**: a token bucket per endpoint group; every `/v3` answer
//!   carries `x-current-token-count` and `x-next-replenishment-time` (epoch
//!   ms); an empty bucket answers 429. `force_throttle` or
//!   `POST /sim/throttle {"count": N}` forces the next N calls to 429.
//! - **Inventory**: `PUT`/`GET /v3/inventory?sku=…` and the bulk feed
//!   `POST /v3/feeds?feedType=inventory` (multipart, part `file`, as the
//!   spec has it), reported by `GET /v3/feeds/{feedId}` after
//!   `feed_processing_ms`.
//!
//! Files: `config.rs` (`[sim.walmart]` and its rate limits), `state.rs`
//! (the account and its counters), `routes.rs` (the route table and the
//! gateway: headers, token, buckets), `token.rs`, `orders.rs`,
//! `shipping.rs` (ship and cancel lines), `inventory.rs`, `feeds.rs`,
//! `recon.rs` (the reconciliation report of what shipped, charged and
//! withheld) (the APIs), `generate.rs` (buyers), `wire.rs` (Walmart's error body, money,
//! quantities and times).

mod config;
mod feeds;
mod generate;
mod inventory;
mod orders;
mod recon;
mod routes;
mod shipping;
mod state;
#[cfg(test)]
mod tests;
mod token;
mod wire;

pub use config::WalmartSimConfig;
pub(crate) use state::WalmartSim;
