use std::time::Duration;

use rand::Rng;

/// The longest a target's `Retry-After` is honoured.
pub const MAX_RETRY_AFTER_MS: i64 = 3_600_000;

/// Delay before attempt `attempts + 1`: exponential from `base_ms`, capped at
/// `max_ms`, with "equal jitter" (half fixed, half random) so a burst of
/// failures does not retry in lockstep. A target's `Retry-After` wins when it
/// asks for longer; a little jitter is added so callers told the same
/// instant do not all return at once.
pub fn backoff_delay(
    attempts: i64,
    base_ms: i64,
    max_ms: i64,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> i64 {
    let exp = attempts.clamp(1, 30) - 1;
    let ceiling = base_ms.saturating_mul(1i64 << exp).min(max_ms).max(1);
    let half = ceiling / 2;
    let backoff = half + rng.random_range(0..=ceiling - half);
    match retry_after {
        Some(ra) => {
            // Capped: a target asking for days (or sending nonsense) must
            // not park a step out of sight; the step asks again at the cap.
            let ra_ms = i64::try_from(ra.as_millis())
                .unwrap_or(i64::MAX)
                .min(MAX_RETRY_AFTER_MS);
            let jitter = rng.random_range(0..=(ra_ms / 10).max(1));
            ra_ms.saturating_add(jitter)
        }
        None => backoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut rng = SmallRng::seed_from_u64(7);
        for attempt in 1..=12 {
            let d = backoff_delay(attempt, 100, 5_000, None, &mut rng);
            let ceiling = (100i64 << (attempt - 1)).min(5_000);
            assert!(
                d >= ceiling / 2 && d <= ceiling,
                "attempt {attempt}: {d} not in [{}, {ceiling}]",
                ceiling / 2
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_even_when_backoff_is_shorter() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..100 {
            let d = backoff_delay(1, 100, 5_000, Some(Duration::from_secs(3)), &mut rng);
            assert!((3_000..=3_300).contains(&d), "{d}");
        }
    }

    #[test]
    fn retry_after_is_capped() {
        let mut rng = SmallRng::seed_from_u64(7);
        let d = backoff_delay(
            1,
            100,
            5_000,
            Some(Duration::from_secs(u64::MAX / 2)),
            &mut rng,
        );
        assert!(
            (MAX_RETRY_AFTER_MS..=MAX_RETRY_AFTER_MS * 11 / 10).contains(&d),
            "{d}"
        );
    }

    #[test]
    fn same_seed_same_delays() {
        let a: Vec<i64> = {
            let mut rng = SmallRng::seed_from_u64(1);
            (1..10)
                .map(|n| backoff_delay(n, 50, 10_000, None, &mut rng))
                .collect()
        };
        let b: Vec<i64> = {
            let mut rng = SmallRng::seed_from_u64(1);
            (1..10)
                .map(|n| backoff_delay(n, 50, 10_000, None, &mut rng))
                .collect()
        };
        assert_eq!(a, b);
    }
}
