//! What the estate asks of every simulated marketplace, and the `/sim/*`
//! routes they all serve. A leaf (beside `base.rs`): the marketplaces
//! implement it, the estate loops over it, and it knows neither.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::base::Base;

/// The order generator a marketplace hands the estate to spawn.
pub(crate) type Generation = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A simulated marketplace seller account, as the estate runs it.
pub(crate) trait Marketplace: Send + Sync + 'static {
    /// `shopify`, `amazon`, `walmart`: its `[sim.*]` table and its key in the
    /// estate's stats.
    fn kind(&self) -> &'static str;
    /// As people write it, for messages (`Shopify`).
    fn title(&self) -> &'static str;
    /// The address to listen on (`listen` of its table).
    fn listen(&self) -> &str;
    /// The marketplace's own API, behind its faults, auth and throttling;
    /// [`router`] adds the `/sim/*` routes.
    fn api(self: Arc<Self>) -> Router;
    /// Places orders until the configured limit or [`Marketplace::stop_generating`].
    fn generate(self: Arc<Self>) -> Generation;
    /// The counters served at `GET /sim/stats`.
    fn stats(&self) -> Value;
    /// `POST /sim/throttle {"count": n}`: the next n calls answer 429.
    fn force_throttle(&self, body: &[u8]) -> Response;
    /// What it carries besides its own state.
    fn base(&self) -> &Base;

    fn stop_generating(&self) {
        self.base().stop_generating();
    }

    fn generation_done(&self) -> bool {
        self.base().generation_done()
    }
}

/// The marketplace's API plus `/sim/stats`, `/sim/throttle` and
/// `/sim/health`, which are exempt from its faults, auth and limits.
pub(crate) fn router(sim: Arc<dyn Marketplace>) -> Router {
    let tail = Router::new()
        .route(
            "/sim/stats",
            get(|State(sim): State<Arc<dyn Marketplace>>| async move { Json(sim.stats()) }),
        )
        .route(
            "/sim/throttle",
            post(
                |State(sim): State<Arc<dyn Marketplace>>, body: Bytes| async move {
                    sim.force_throttle(&body)
                },
            ),
        )
        .route("/sim/health", get(|| async { Json(json!({ "ok": true })) }))
        .with_state(sim.clone());
    sim.api().merge(tail)
}
