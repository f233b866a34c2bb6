//! Simulated Walmart (skeleton: filled in by its own change).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::delivery::Deliverer;

/// `[sim.walmart]`: a simulated Walmart account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalmartSimConfig {
    pub name: String,
    pub listen: String,
}

impl WalmartSimConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

pub(crate) struct WalmartSim {
    config: WalmartSimConfig,
}

impl WalmartSim {
    pub(crate) fn new(
        config: WalmartSimConfig,
        _hub_url: &str,
        _rng: SmallRng,
        _started: Instant,
        _deliverer: Deliverer,
    ) -> Arc<Self> {
        Arc::new(WalmartSim { config })
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn config_listen(&self) -> String {
        self.config.listen.clone()
    }

    pub(crate) fn router(self: &Arc<Self>) -> Router {
        Router::new()
    }

    /// Places orders until the configured limit or `stop`; spawned by the estate.
    pub(crate) async fn generate(self: Arc<Self>) {}

    pub(crate) fn generation_done(&self) -> bool {
        true
    }

    pub(crate) fn stop_generating(&self) {}

    pub(crate) fn stats(&self) -> Value {
        json!({})
    }
}
