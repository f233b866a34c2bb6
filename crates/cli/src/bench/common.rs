//! What the benchmarks share: a throwaway store, the backend's name for a
//! report, nearest-rank percentiles, and the seeded generator of their
//! synthetic data. A leaf: it uses no other benchmark module.

pub(crate) use crossdock_engine::nearest_rank;

pub(crate) fn backend_name(url: &str) -> String {
    if url.starts_with("sqlite") {
        "sqlite".into()
    } else {
        "postgres".into()
    }
}

pub(crate) fn temp_store_url() -> (std::path::PathBuf, String) {
    let dir =
        std::env::temp_dir().join(format!("crossdock-bench-{}", uuid::Uuid::now_v7().simple()));
    let url = format!("sqlite://{}", dir.join("crossdock.db").display());
    (dir, url)
}

/// Nearest-rank quantile (0..=1) of sorted millisecond spans.
pub(crate) fn quantile_ms(sorted: &[i64], p: f64) -> f64 {
    nearest_rank(sorted, p).map_or(0.0, |ms| ms as f64)
}

/// splitmix64: a few lines, deterministic across platforms, and no
/// dependency for a benchmark's synthetic data.
pub(crate) struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
