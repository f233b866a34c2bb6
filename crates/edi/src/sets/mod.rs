//! Typed readers, one module per transaction set. Each reader takes a
//! [`crate::TransactionSet`] and maps the segments it knows; anything else
//! stays available in `TransactionSet::segments` but is ignored here.

pub mod a997;
pub mod b810;
pub mod i846;
pub mod p855;
pub mod s856;
pub mod w940;
pub mod w945;
