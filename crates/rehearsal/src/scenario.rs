//! A rehearsal scenario: the estate, its faults and the day's demand, as
//! written in TOML. Times of day (`"10:00"`) are offsets from the start of
//! the simulated day; durations are humantime (`"20m"`, `"1h 30m"`).

use std::path::Path;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

/// Why a scenario cannot be run: the file, and where in it.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {field}: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Virtual start of the day.
    pub start: DateTime<Utc>,
    #[serde(rename = "duration", with = "humantime_serde_ms")]
    pub duration_ms: i64,
    /// How long after the day the run may go on so work in flight finishes.
    #[serde(
        rename = "drain_limit",
        with = "humantime_serde_ms",
        default = "default_drain"
    )]
    pub drain_limit_ms: i64,
    /// Seed used when the command line gives none.
    #[serde(default)]
    pub seed: u64,
    /// How often the ERP backlog and utilisation are sampled.
    #[serde(
        rename = "sample_every",
        with = "humantime_serde_ms",
        default = "default_sample"
    )]
    pub sample_every_ms: i64,
    pub catalogue: Catalogue,
    pub channels: Vec<ChannelSpec>,
    pub erp: ErpSpec,
    pub warehouses: Vec<WarehouseSpec>,
    pub stock: StockSpec,
    pub sla: SlaSpec,
    #[serde(default)]
    pub hub: HubSpec,
}

fn default_drain() -> i64 {
    12 * 3_600_000
}

fn default_sample() -> i64 {
    300_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub skus: u32,
    /// Zipf exponent of SKU popularity: 0 = uniform, ~1 = a few best sellers.
    pub popularity_skew: f64,
    pub price_min: Decimal,
    pub price_max: Decimal,
    pub max_lines: u32,
    pub max_quantity: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ingest {
    /// Orders arrive as webhooks; a reconciliation poll catches lost ones.
    Webhook,
    /// The hub polls the channel's order API.
    Poll,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub name: String,
    pub ingest: Ingest,
    /// Orders per hour outside peaks.
    pub base_orders_per_hour: f64,
    #[serde(default)]
    pub peaks: Vec<Peak>,
    /// Delay between the buyer placing an order and its webhook being sent.
    #[serde(rename = "webhook_delay", with = "humantime_serde_ms", default)]
    pub webhook_delay_ms: i64,
    /// How often the hub polls the channel (the reconciliation poll for a
    /// webhook channel).
    #[serde(rename = "poll_every", with = "humantime_serde_ms")]
    pub poll_every_ms: i64,
    #[serde(default)]
    pub faults: WebhookFaults,
    /// Share of orders the buyer cancels, and within how long.
    #[serde(default)]
    pub cancel_rate: f64,
    #[serde(
        rename = "cancel_within",
        with = "humantime_serde_ms",
        default = "default_cancel_within"
    )]
    pub cancel_within_ms: i64,
    /// Calls per second the channel's API takes (ship confirmations and
    /// availability updates); 0 = no limit.
    #[serde(default)]
    pub api_requests_per_sec: f64,
    /// SKUs per availability call in bulk (feeds).
    #[serde(default = "default_bulk")]
    pub availability_batch: usize,
    /// SKUs per urgent availability call: 1 for per-item APIs (Amazon,
    /// Walmart), more where one call sets many (Shopify's GraphQL).
    #[serde(default = "default_urgent")]
    pub urgent_batch: usize,
    /// Units held back from this channel per SKU.
    #[serde(default)]
    pub buffer: i64,
    /// Below this many units the channel is shown 0 (its last units sell
    /// too slowly to be trusted to a listing that updates late).
    #[serde(default)]
    pub min_quantity: i64,
    /// Minutes of each SKU's sales held back from this channel (cover for
    /// its listing delay: what sells elsewhere while it shows old numbers).
    #[serde(default)]
    pub cover_minutes: u32,
    /// Time the channel takes to show an availability update (feed processing).
    #[serde(rename = "listing_delay", with = "humantime_serde_ms", default)]
    pub listing_delay_ms: i64,
}

fn default_cancel_within() -> i64 {
    1_800_000
}

fn default_bulk() -> usize {
    100
}

fn default_urgent() -> usize {
    1
}

/// Demand multiplied by `multiplier` from `from` to `to` (times of day).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peak {
    #[serde(rename = "from", with = "time_of_day")]
    pub from_ms: i64,
    #[serde(rename = "to", with = "time_of_day")]
    pub to_ms: i64,
    pub multiplier: f64,
}

/// Webhook deliveries gone wrong, as shares of deliveries.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFaults {
    #[serde(default)]
    pub duplicate: f64,
    /// Delivered late, after later events of the same order.
    #[serde(default)]
    pub reorder: f64,
    #[serde(default)]
    pub loss: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpSpec {
    pub requests_per_sec: f64,
    pub max_concurrency: u32,
    #[serde(rename = "latency", with = "humantime_serde_ms")]
    pub latency_ms: i64,
    /// Share of calls that take `slow_factor` times as long.
    #[serde(default)]
    pub slow_share: f64,
    #[serde(default = "default_slow_factor")]
    pub slow_factor: f64,
    #[serde(default)]
    pub outages: Vec<Outage>,
    /// How old the stock the ERP reports is (its source lags behind the floor).
    #[serde(rename = "stock_lag", with = "humantime_serde_ms", default)]
    pub stock_lag_ms: i64,
}

fn default_slow_factor() -> f64 {
    5.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    #[serde(rename = "from", with = "time_of_day")]
    pub from_ms: i64,
    #[serde(rename = "duration", with = "humantime_serde_ms")]
    pub duration_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarehouseKind {
    /// Confirms each shipment as it leaves.
    Wms,
    /// Confirms shipments in batches (`batch_every`).
    #[serde(rename = "3pl")]
    ThirdParty,
}

impl WarehouseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WarehouseKind::Wms => "wms",
            WarehouseKind::ThirdParty => "3pl",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSpec {
    pub name: String,
    pub kind: WarehouseKind,
    /// Release → shipped, typical.
    #[serde(rename = "pick_time", with = "humantime_serde_ms")]
    pub pick_time_ms: i64,
    /// Orders the floor ships per hour at most; later ones queue.
    pub capacity_per_hour: f64,
    /// For a 3PL: shipments are confirmed at each multiple of this.
    #[serde(rename = "batch_every", with = "humantime_serde_ms", default)]
    pub batch_every_ms: i64,
    /// Share of lines shipped short (damaged, not found).
    #[serde(default)]
    pub short_ship_rate: f64,
    #[serde(default)]
    pub outages: Vec<Outage>,
    /// Share of the catalogue's initial stock held here.
    pub stock_share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockSpec {
    /// Initial units per SKU across warehouses, uniformly in `[min, max]`.
    pub initial_min: u32,
    pub initial_max: u32,
    #[serde(default)]
    pub replenishments: Vec<Replenishment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replenishment {
    #[serde(rename = "at", with = "time_of_day")]
    pub at_ms: i64,
    pub warehouse: String,
    /// Units received for each SKU whose stock there is below `below`.
    pub units: u32,
    pub below: u32,
}

/// Targets per flow; a sample over its target is a breach.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSpec {
    #[serde(rename = "order_ingest", with = "humantime_serde_ms")]
    pub order_ingest_ms: i64,
    #[serde(rename = "erp_acceptance", with = "humantime_serde_ms")]
    pub erp_acceptance_ms: i64,
    #[serde(rename = "ship_confirm", with = "humantime_serde_ms")]
    pub ship_confirm_ms: i64,
    #[serde(rename = "inventory_sync", with = "humantime_serde_ms")]
    pub inventory_sync_ms: i64,
}

/// The hub's own settings for the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpec {
    /// Units held back from every channel per SKU (safety stock).
    pub safety_stock: i64,
    /// How often owed availability goes out in bulk.
    #[serde(rename = "availability_batch", with = "humantime_serde_ms")]
    pub availability_batch_ms: i64,
    /// How often the hub reads the ERP's stock.
    #[serde(rename = "erp_stock_refresh", with = "humantime_serde_ms")]
    pub erp_stock_refresh_ms: i64,
    /// Attempts a step gets before it goes to the exception queue, and the
    /// longest wait between two (the retry budget an outage must fit in).
    #[serde(default = "default_attempts")]
    pub max_attempts: i64,
    #[serde(
        rename = "backoff_max",
        with = "humantime_serde_ms",
        default = "default_backoff_max"
    )]
    pub backoff_max_ms: i64,
    /// A SKU at or below this many units is pushed at once, not in bulk.
    #[serde(default)]
    pub low_stock_at: i64,
    /// A SKU selling faster than this (units an hour) is pushed at once.
    #[serde(default)]
    pub hot_velocity_per_hour: Option<f64>,
}

impl Default for HubSpec {
    fn default() -> Self {
        HubSpec {
            safety_stock: 1,
            availability_batch_ms: 300_000,
            erp_stock_refresh_ms: 900_000,
            max_attempts: default_attempts(),
            backoff_max_ms: default_backoff_max(),
            low_stock_at: 0,
            hot_velocity_per_hour: None,
        }
    }
}

fn default_attempts() -> i64 {
    crossdock_engine::EngineOptions::default().max_attempts
}

fn default_backoff_max() -> i64 {
    crossdock_engine::EngineOptions::default().backoff_max_ms
}

impl Scenario {
    /// Read and check the scenario at `path`; errors name the file and field.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            file: file.clone(),
            source,
        })?;
        Scenario::from_toml(&file, &text)
    }

    pub fn from_toml(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ScenarioError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let scenario: Scenario =
            serde_path_to_error::deserialize(de).map_err(|e| ScenarioError::Invalid {
                file: file.to_owned(),
                field: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        scenario
            .validate()
            .map_err(|(field, message)| ScenarioError::Invalid {
                file: file.to_owned(),
                field,
                message,
            })?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, message: &str| Err((field.to_owned(), message.to_owned()));
        if self.duration_ms <= 0 {
            return bad("duration", "must be longer than zero");
        }
        if self.sample_every_ms < 60_000 {
            return bad("sample_every", "must be at least one minute");
        }
        let c = &self.catalogue;
        if c.skus == 0 || c.max_lines == 0 || c.max_quantity == 0 {
            return bad(
                "catalogue",
                "skus, max_lines and max_quantity must be at least 1",
            );
        }
        if !(0.0..=3.0).contains(&c.popularity_skew) {
            return bad("catalogue.popularity_skew", "must be between 0 and 3");
        }
        if c.price_min <= Decimal::ZERO || c.price_max < c.price_min {
            return bad("catalogue.price_max", "prices must be positive, max ≥ min");
        }
        if self.channels.is_empty() {
            return bad("channels", "at least one channel");
        }
        for (i, ch) in self.channels.iter().enumerate() {
            let at = |f: &str| format!("channels[{i}].{f}");
            if ch.name.is_empty()
                || !ch
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err((at("name"), "letters, digits, '-' and '_' only".into()));
            }
            if self.channels[..i].iter().any(|o| o.name == ch.name) {
                return Err((at("name"), format!("{:?} appears twice", ch.name)));
            }
            if !(ch.base_orders_per_hour >= 0.0 && ch.base_orders_per_hour.is_finite()) {
                return Err((at("base_orders_per_hour"), "must be ≥ 0".into()));
            }
            if ch.poll_every_ms < 1_000 {
                return Err((at("poll_every"), "must be at least one second".into()));
            }
            for (j, p) in ch.peaks.iter().enumerate() {
                if p.to_ms <= p.from_ms || !(p.multiplier > 0.0 && p.multiplier.is_finite()) {
                    return Err((
                        at(&format!("peaks[{j}]")),
                        "needs from < to and a positive multiplier".into(),
                    ));
                }
            }
            for (f, v) in [
                ("faults.duplicate", ch.faults.duplicate),
                ("faults.reorder", ch.faults.reorder),
                ("faults.loss", ch.faults.loss),
                ("cancel_rate", ch.cancel_rate),
            ] {
                if !(0.0..=1.0).contains(&v) {
                    return Err((at(f), "must be a share between 0 and 1".into()));
                }
            }
            if ch.availability_batch == 0 || ch.urgent_batch == 0 {
                return Err((
                    at("availability_batch"),
                    "batches must be at least 1".into(),
                ));
            }
        }
        let e = &self.erp;
        if !(e.requests_per_sec > 0.0 && e.requests_per_sec.is_finite()) || e.max_concurrency == 0 {
            return bad(
                "erp",
                "requests_per_sec and max_concurrency must be positive",
            );
        }
        if !(0.0..=1.0).contains(&e.slow_share) || e.slow_factor < 1.0 {
            return bad("erp.slow_share", "share between 0 and 1, slow_factor ≥ 1");
        }
        if self.warehouses.is_empty() {
            return bad("warehouses", "at least one warehouse");
        }
        let mut share = 0.0;
        for (i, w) in self.warehouses.iter().enumerate() {
            let at = |f: &str| format!("warehouses[{i}].{f}");
            if self.warehouses[..i].iter().any(|o| o.name == w.name) || w.name.is_empty() {
                return Err((
                    at("name"),
                    format!("{:?} is empty or appears twice", w.name),
                ));
            }
            if w.capacity_per_hour <= 0.0 || !w.capacity_per_hour.is_finite() {
                return Err((at("capacity_per_hour"), "must be positive".into()));
            }
            if w.kind == WarehouseKind::ThirdParty && w.batch_every_ms <= 0 {
                return Err((
                    at("batch_every"),
                    "a 3PL confirms in batches: give the interval".into(),
                ));
            }
            if !(0.0..=1.0).contains(&w.short_ship_rate) || !(0.0..=1.0).contains(&w.stock_share) {
                return Err((at("short_ship_rate"), "shares are between 0 and 1".into()));
            }
            share += w.stock_share;
        }
        if (share - 1.0).abs() > 1e-6 {
            return bad("warehouses.stock_share", "the shares must add up to 1");
        }
        if self.stock.initial_max < self.stock.initial_min {
            return bad("stock.initial_max", "must be ≥ initial_min");
        }
        for (i, r) in self.stock.replenishments.iter().enumerate() {
            if !self.warehouses.iter().any(|w| w.name == r.warehouse) {
                return Err((
                    format!("stock.replenishments[{i}].warehouse"),
                    format!("no warehouse named {:?}", r.warehouse),
                ));
            }
        }
        if self.hub.max_attempts < 1 || self.hub.backoff_max_ms < 1_000 {
            return bad(
                "hub.max_attempts",
                "at least one attempt, backoff_max at least 1s",
            );
        }
        if self.hub.availability_batch_ms < 1_000 || self.hub.erp_stock_refresh_ms < 1_000 {
            return bad("hub", "intervals must be at least one second");
        }
        Ok(())
    }

    /// Demand multiplier of `channel` at `offset_ms` into the day.
    pub fn multiplier(channel: &ChannelSpec, offset_ms: i64) -> f64 {
        channel
            .peaks
            .iter()
            .filter(|p| p.from_ms <= offset_ms && offset_ms < p.to_ms)
            .map(|p| p.multiplier)
            .product()
    }

    pub fn start_ms(&self) -> i64 {
        self.start.timestamp_millis()
    }
}

/// Durations written as humantime strings, held as milliseconds.
mod humantime_serde_ms {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        let parsed = humantime::parse_duration(&s).map_err(serde::de::Error::custom)?;
        i64::try_from(parsed.as_millis()).map_err(serde::de::Error::custom)
    }
}

/// `"HH:MM"` as milliseconds from the start of the day; `"24:00"` and later
/// name the next day.
mod time_of_day {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        let (h, m) = s
            .split_once(':')
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not HH:MM")))?;
        let h: i64 = h
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?}: bad hour")))?;
        let m: i64 = m
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?}: bad minute")))?;
        if !(0..60).contains(&m) || !(0..=48).contains(&h) {
            return Err(serde::de::Error::custom(format!(
                "{s:?} is not a time of day"
            )));
        }
        Ok((h * 60 + m) * 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_season_scenario_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/peak-season.toml");
        let s = Scenario::from_file(&path).expect("the shipped scenario is valid");
        assert_eq!(s.channels.len(), 5);
        assert_eq!(s.warehouses.len(), 2);
        assert!(
            s.warehouses
                .iter()
                .any(|w| w.kind == WarehouseKind::ThirdParty)
        );
        let amazon = s
            .channels
            .iter()
            .find(|c| c.name == "amazon")
            .expect("amazon");
        assert!(
            amazon
                .peaks
                .iter()
                .any(|p| (p.multiplier - 3.0).abs() < 1e-9)
        );
        assert_eq!(s.erp.stock_lag_ms, 20 * 60_000);
    }

    #[test]
    fn a_bad_field_is_named_with_its_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/peak-season.toml");
        let text = std::fs::read_to_string(path).expect("read");
        let broken = text.replacen("duration = \"24h\"", "duration = \"a day\"", 1);
        let err = Scenario::from_toml("peak.toml", &broken).expect_err("refused");
        let msg = err.to_string();
        assert!(msg.starts_with("peak.toml: duration"), "{msg}");
        let broken = text.replacen("stock_share = 0.6", "stock_share = 0.7", 1);
        let msg = Scenario::from_toml("peak.toml", &broken)
            .expect_err("refused")
            .to_string();
        assert!(msg.contains("stock_share"), "{msg}");
    }

    #[test]
    fn peaks_multiply_inside_their_window_only() {
        let ch: ChannelSpec = toml::from_str(
            r#"name = "x"
               ingest = "webhook"
               base_orders_per_hour = 10
               poll_every = "5m"
               peaks = [{ from = "10:00", to = "12:00", multiplier = 3.0 }]"#,
        )
        .expect("channel");
        assert_eq!(Scenario::multiplier(&ch, 9 * 3_600_000), 1.0);
        assert_eq!(Scenario::multiplier(&ch, 10 * 3_600_000), 3.0);
        assert_eq!(Scenario::multiplier(&ch, 12 * 3_600_000), 1.0);
    }
}
