//! The REST ERP API. Sales orders and invoices are not idempotent there, so
//! each has a lookup by our reference for resolving an in-doubt create.
//!
//! Auth is none, a static bearer token or OAuth2 client credentials
//! ([`AuthConfig`]). With client credentials a call refused with 401 (the
//! token was revoked or expired early) runs once more with a new token: a
//! 401 means the API did not apply it.

mod client;
pub mod config;
mod mapping;
#[cfg(test)]
mod tests;

pub use client::RestErp;
