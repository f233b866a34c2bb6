//! Sales channel connectors.

pub mod webstore;

pub use webstore::WebstoreChannel;
