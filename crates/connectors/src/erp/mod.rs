//! ERP connectors.

pub mod mapped;
pub mod rest;
pub mod spec;
pub mod tryton;
pub use tryton::{TrytonErp, TrytonErpOptions};

pub use mapped::{ErpMapping, MappedRestErp};
pub use rest::RestErp;
pub use rest::config::RestErpConfig;
pub use spec::{ErpKind, ErpSpec, ErpTables};
pub use tryton::config::TrytonConfig;
