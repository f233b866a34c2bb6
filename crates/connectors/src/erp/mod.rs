//! ERP connectors.

pub mod rest;

pub use rest::RestErp;
