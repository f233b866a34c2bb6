//! ERP connectors.

pub mod mapped;
pub mod rest;
pub mod tryton;
pub use tryton::{TrytonErp, TrytonErpOptions};

pub use mapped::{ErpMapping, MappedRestErp};
pub use rest::RestErp;
