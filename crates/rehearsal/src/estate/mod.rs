//! The simulated estate in virtual time: channels whose buyers place
//! orders, an ERP with rate and concurrency limits and outages, warehouses
//! and a 3PL with pick capacity, short shipments and batches.
//!
//! Each system is a model behind the hub's own connector traits, and it is
//! as strict as the real one would be: a second sales order with the same
//! reference is a second sales order (counted as a duplicate), a call over
//! the ERP's limit is refused with 429, a release for units the floor does
//! not hold ships short (counted as an oversell). Everything that happens
//! later (a webhook delivery, a pick completing, a feed being processed)
//! goes on the agenda, which the run works through in time order.
//!
//! One file per modelled system, each an `impl Estate` for what the system
//! does on the agenda and the connector trait the hub calls it through:
//! [`channel`], [`erp`], [`warehouse`] (the 3PL is a warehouse that holds
//! its shipments for batches). What they share is below them, in leaves:
//! [`state`] (the books and the [`Estate`]), [`agenda`], [`ledger`] (the
//! documents issued per key, where duplicates are counted) and [`rate`]
//! (the channel APIs' limit).

mod agenda;
mod channel;
mod erp;
mod ledger;
mod rate;
mod state;
mod warehouse;

#[cfg(test)]
mod tests;

pub(crate) use agenda::Event;
pub(crate) use channel::SimChannel;
pub(crate) use erp::SimErp;
pub(crate) use state::Estate;
pub(crate) use warehouse::SimWarehouse;
