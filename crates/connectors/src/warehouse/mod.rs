//! Warehouse and 3PL connectors.

pub mod rest;
pub mod spec;
pub mod x12_files;

pub use rest::RestWarehouse;
pub use x12_files::X12FileWarehouse;

pub use rest::config::RestWarehouseConfig;
pub use spec::{BuiltWarehouse, WarehouseKind, WarehouseSpec, WarehouseTables};
pub use x12_files::config::X12WarehouseConfig;
