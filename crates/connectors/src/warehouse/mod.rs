//! Warehouse and 3PL connectors.

pub mod rest;
pub mod x12_files;

pub use rest::RestWarehouse;
pub use x12_files::X12FileWarehouse;
