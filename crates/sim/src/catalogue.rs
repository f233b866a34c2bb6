//! What every simulated sales channel shares: a price list and the pace at
//! which buyers place orders.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::SmallRng;
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

/// One price per SKU, drawn once, in cents within `cents`.
pub(crate) fn price_list(
    skus: &[String],
    rng: &Mutex<SmallRng>,
    cents: std::ops::RangeInclusive<i64>,
) -> HashMap<String, Decimal> {
    let mut r = rng.lock().unwrap_or_else(|e| e.into_inner());
    skus.iter()
        .map(|sku| (sku.clone(), Decimal::new(r.random_range(cents.clone()), 2)))
        .collect()
}

/// How fast and for how long buyers place orders (0 = no limit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderPace {
    pub orders_per_sec: f64,
    pub max_orders: u64,
    pub duration_secs: u64,
}

/// Calls `place(n)` (n = 1, 2, …) at the pace until a limit is reached or
/// `stop` fires; then sets `done`. Late ticks are delayed, not bunched, so
/// a busy machine slows the buyers instead of sending a burst.
pub(crate) async fn place_orders(
    pace: OrderPace,
    stop: &CancellationToken,
    done: &AtomicBool,
    mut place: impl FnMut(u64),
) {
    if pace.orders_per_sec > 0.0 {
        let started = Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / pace.orders_per_sec));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut placed = 0u64;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            if pace.duration_secs > 0
                && started.elapsed().as_secs_f64() >= pace.duration_secs as f64
            {
                break;
            }
            placed += 1;
            place(placed);
            // Done as soon as the last order is placed, not a tick later:
            // a caller that sees every delivery made may look at `done`.
            if pace.max_orders > 0 && placed >= pace.max_orders {
                break;
            }
        }
    }
    done.store(true, Ordering::SeqCst);
}
