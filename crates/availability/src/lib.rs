//! Available-to-promise (ATP): how many units of each SKU every sales
//! channel is offered. A pure calculation — no I/O, not async; the store
//! keeps positions and what was published, the engine pushes.
//!
//! # The model
//!
//! For one SKU and one channel:
//!
//! 1. **Locations contribute.** Each location contributes its free stock
//!    (`on_hand − reserved`) less its safety stock, floored at 0. An
//!    oversold location (`reserved > on_hand`) contributes the shortfall as
//!    a negative number: its reservations will be served from elsewhere
//!    ([`location_contribution`]).
//! 2. **Eligibility makes the pool.** A channel counts only the locations
//!    it may sell from — by fulfilment network (`eligible_networks`:
//!    "own", "3pl", …; marketplace-fulfilled stock such as "amazon_fba" is
//!    left out of channels that cannot ship it) or by name
//!    (`eligible_locations`). The pool is the sum of their contributions,
//!    floored at 0. So no channel is ever offered more than the free stock
//!    above safety stock at the locations it may sell from.
//! 3. **Allocation.** The channel gets `allocation_percent` of the pool,
//!    rounded down: channels sharing a pool with percentages adding up to
//!    at most 100 are never offered more than the pool together.
//! 4. **Buffer.** `buffer` units are subtracted (floored at 0).
//! 5. **Minimum.** Below `min_quantity` the channel is offered 0 — selling
//!    the last few units on several channels at once is how overselling
//!    happens.
//! 6. **Maximum.** `max_quantity` caps what is offered.
//!
//! Quantities are whole units and never negative. [`explain_sku`] returns
//! each step as a [`Reason`] (which locations counted, what was subtracted,
//! which policy capped it) for `crossdock inventory show`.
//!
//! # Only changes are published
//!
//! [`AvailabilityTable`] holds the whole catalogue in dense arrays and
//! recomputes every (SKU, channel) in one pass, returning only the pairs
//! whose quantity differs from what was last published ([`Change`]). The
//! caller pushes them and records what the channels accepted
//! ([`AvailabilityTable::apply`]); anything not recorded is found again by
//! the next recompute, so a failed or deferred push is never lost.
//!
//! # Cadence
//!
//! Each change is classified ([`Cadence`]): **urgent** — pushed within
//! seconds on the channel's per-item API — when the channel goes to zero
//! or from zero, when the new quantity is at or below the channel's
//! `low_stock_at`, or when the SKU sells faster than the channel's
//! `hot_velocity_per_hour`; otherwise **batch**, for the next scheduled
//! bulk feed. The engine recomputes one SKU
//! ([`AvailabilityTable::recompute_sku`]) after each stock movement and
//! pushes its urgent changes at once; a scheduled full recompute sweeps up
//! the rest.
//!
//! # Configuration
//!
//! [`AvailabilityConfig`] deserializes from TOML (`[[locations]]`,
//! `[[channels]]`, unknown keys refused); [`Policies::new`] validates it
//! with errors naming the key (`channels[1].allocation_percent: …`).

mod calc;
mod policy;
mod table;

pub use calc::{
    ArrangedPositions, Cadence, ChannelExplanation, Counted, Excluded, HotReason, LayoutError,
    Limit, LocationLine, Position, Reason, SkuExplanation, explain_sku, location_contribution,
};
pub use policy::{AvailabilityConfig, ChannelPolicy, LocationPolicy, Policies, PolicyError};
pub use table::{AvailabilityTable, Change, TableError};
