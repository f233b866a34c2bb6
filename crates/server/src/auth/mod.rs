//! API keys at the door of `/v1`: the secret's form (`secret.rs`), the
//! in-memory copy of the keys with their rate limiters and daily quotas
//! (`keys.rs`), and the middleware that authenticates, checks the route's
//! scope, limits, and audits writes (`middleware.rs`).

mod keys;
mod middleware;
mod secret;

pub use keys::{ApiKeys, KeySpec, KeysError, REFRESH, create_key, store_key};
pub use middleware::Caller;
pub(crate) use middleware::{Door, require_key};
pub use secret::{ApiSecret, SECRET_PREFIX};
