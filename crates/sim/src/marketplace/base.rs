//! What every simulated marketplace carries besides its own state: the
//! random generator, the fault gate, webhook delivery and the switch that
//! stops its buyers. A leaf, used by each marketplace's `state.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::SmallRng;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::catalogue::{OrderPace, place_orders};
use crate::delivery::{Deliverer, DeliveryCounters};
use crate::faults::{FaultGate, Faults};

pub(crate) struct Base {
    /// `{hub_url}/webhooks/channels/{name}`.
    pub(crate) webhook_url: String,
    pub(crate) rng: Arc<Mutex<SmallRng>>,
    pub(crate) gate: Arc<FaultGate>,
    pub(crate) deliverer: Deliverer,
    pub(crate) deliveries: Arc<DeliveryCounters>,
    generation_done: AtomicBool,
    stop: CancellationToken,
}

impl Base {
    pub(crate) fn new(
        name: &str,
        hub_url: &str,
        faults: &Faults,
        rng: SmallRng,
        started: Instant,
        deliverer: Deliverer,
    ) -> Self {
        let rng = Arc::new(Mutex::new(rng));
        let gate = Arc::new(FaultGate::new(faults.clone(), started, rng.clone()));
        Base {
            webhook_url: format!("{}/webhooks/channels/{name}", hub_url.trim_end_matches('/')),
            rng,
            gate,
            stop: deliverer.cancel.child_token(),
            deliverer,
            deliveries: Arc::new(DeliveryCounters::default()),
            generation_done: AtomicBool::new(false),
        }
    }

    /// The estate is shutting down: scheduled work stops waiting.
    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.deliverer.cancel
    }

    /// Calls `place(n)` at the pace until a limit or [`Base::stop_generating`].
    pub(crate) async fn place_orders(&self, pace: OrderPace, place: impl FnMut(u64)) {
        place_orders(pace, &self.stop, &self.generation_done, place).await;
    }

    pub(crate) fn generation_done(&self) -> bool {
        self.generation_done.load(Ordering::SeqCst)
    }

    pub(crate) fn stop_generating(&self) {
        self.stop.cancel();
    }

    /// The delivery counters and `webhook_deliveries_pending`.
    pub(crate) fn write_delivery_stats(&self, out: &mut Map<String, Value>) {
        self.deliveries.write_stats(out);
        out.insert(
            "webhook_deliveries_pending".into(),
            self.deliveries.pending().into(),
        );
    }
}
