//! ERP connectors.

pub mod rest;
pub mod tryton;
pub use tryton::{TrytonErp, TrytonErpOptions};

pub use rest::RestErp;
