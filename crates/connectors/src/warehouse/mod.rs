//! Warehouse and 3PL connectors.

pub mod rest;

pub use rest::RestWarehouse;
