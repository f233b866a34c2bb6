//! API keys at the door of `/v1`: the secret's form (`secret.rs`), the
//! in-memory copy of the keys with their rate limiters and daily quotas
//! (`keys.rs`), and the middleware that authenticates, checks the route's
//! scope, limits, and audits writes (`middleware.rs`).

mod keys;
mod middleware;
mod secret;

use std::sync::Arc;

use axum::Router;

pub use keys::{ApiKeys, KeySpec, KeysError, REFRESH, create_key, store_key};
pub use middleware::Caller;
pub use secret::{ApiSecret, SECRET_PREFIX};

use crate::KeyedRoute;

/// `router`'s routes behind the door: each needs a key with the scope
/// `routes` gives it (a route missing from `routes` is refused).
pub fn behind_keys<S>(router: Router<S>, keys: ApiKeys, routes: &[KeyedRoute]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let door = middleware::Door {
        keys,
        scopes: Arc::new(
            routes
                .iter()
                .map(|r| ((r.method.clone(), r.path), r.scope))
                .collect(),
        ),
    };
    router.route_layer(axum::middleware::from_fn_with_state(
        door,
        middleware::require_key,
    ))
}
