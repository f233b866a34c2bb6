//! A simulated 3PL exchanging X12 files with the hub through a partner
//! folder (see `docs/sim-api.md`, "3PL (X12 files)").
//!
//! It reads the hub's `outbound/` (its inbound): 940s are parsed strictly;
//! a file that fails gets its own 997 with `AK9*R`. Transmitted files move
//! to `archive/`, as a transfer agent would move them. Every
//! `batch_interval_ms` it writes ONE interchange of 945s (one per order due,
//! i.e. received at least `ship_delay_ms` ago) into the hub's `inbound/`,
//! atomically, except during an outage. It never deduplicates: a 940 for an
//! order it already holds is counted in `duplicate_requests` and ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossdock_edi::{
    AckStatus, ControlNumbers, Delimiters, EnvelopeParams, FunctionalAck, OutSegment,
    WarehouseShippingOrder, format_decimal,
};
use rand::Rng;
use rand::rngs::SmallRng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::faults::Outage;

/// `[sim.tpl]`: an optional 3PL on X12 files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TplSimConfig {
    /// The 3PL's name (its ISA06 is the name in upper case).
    pub name: String,
    /// The hub's partner folder for this 3PL (with `outbound/`, `inbound/`).
    pub root: PathBuf,
    /// How often a batch of 945s is written.
    pub batch_interval_ms: u64,
    /// How often `outbound/` is looked at.
    pub poll_interval_ms: u64,
    /// Probability that a line of two units or more ships one unit short.
    pub short_ship_rate: f64,
    /// An order ships in the first batch at least this long after its 940 arrived.
    pub ship_delay_ms: u64,
    /// Windows (seconds from start) during which no file is read or written.
    pub outages: Vec<Outage>,
}

impl Default for TplSimConfig {
    fn default() -> Self {
        Self {
            name: "tpl".into(),
            root: PathBuf::from("tpl"),
            batch_interval_ms: 1000,
            poll_interval_ms: 100,
            short_ship_rate: 0.0,
            ship_delay_ms: 0,
            outages: Vec::new(),
        }
    }
}

impl TplSimConfig {
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.name.is_empty(), "sim.tpl.name must not be empty");
        crate::faults::ensure_probabilities(
            "sim.tpl",
            &[("short_ship_rate", self.short_ship_rate)],
        )?;
        anyhow::ensure!(
            self.batch_interval_ms >= 1 && self.poll_interval_ms >= 1,
            "sim.tpl.batch_interval_ms and poll_interval_ms must be at least 1"
        );
        for o in &self.outages {
            anyhow::ensure!(
                o.start_secs >= 0.0 && o.end_secs > o.start_secs,
                "sim.tpl: outage end_secs must be after start_secs"
            );
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Stats {
    files_received: AtomicU64,
    files_rejected: AtomicU64,
    orders_received: AtomicU64,
    duplicate_requests: AtomicU64,
    acks_received: AtomicU64,
    batches_sent: AtomicU64,
    shipments_sent: AtomicU64,
    short_shipped_lines: AtomicU64,
    rejections_sent: AtomicU64,
    outage_skips: AtomicU64,
}

#[derive(Debug)]
struct Held {
    order: WarehouseShippingOrder,
    received: Instant,
    shipped: bool,
}

#[derive(Debug, Default)]
struct State {
    /// By W05-02, in arrival order.
    orders: Vec<Held>,
    index: HashMap<String, usize>,
    next_control: u32,
    next_set: u32,
    next_shipment: u64,
}

/// The running 3PL.
pub struct TplSim {
    config: TplSimConfig,
    started: Instant,
    rng: Mutex<SmallRng>,
    state: Mutex<State>,
    stats: Stats,
    /// One batch or pick-up at a time.
    io: tokio::sync::Mutex<()>,
}

impl TplSim {
    pub fn new(config: TplSimConfig, rng: SmallRng) -> Arc<Self> {
        Arc::new(Self {
            config,
            started: Instant::now(),
            rng: Mutex::new(rng),
            state: Mutex::new(State {
                next_control: 1,
                next_set: 1,
                next_shipment: 1,
                ..State::default()
            }),
            stats: Stats::default(),
            io: tokio::sync::Mutex::new(()),
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Picks up and writes batches until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let batch = Duration::from_millis(self.config.batch_interval_ms);
        let mut last_batch = Instant::now();
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(poll) => {}
            }
            if let Err(e) = self.pick_up().await {
                tracing::warn!(tpl = %self.config.name, error = %e, "3PL pick-up failed");
            }
            if last_batch.elapsed() >= batch {
                last_batch = Instant::now();
                if let Err(e) = self.send_batch().await {
                    tracing::warn!(tpl = %self.config.name, error = %e, "3PL batch failed");
                }
            }
        }
    }

    fn in_outage(&self) -> bool {
        let t = self.started.elapsed().as_secs_f64();
        self.config
            .outages
            .iter()
            .any(|o| t >= o.start_secs && t < o.end_secs)
    }

    /// Reads every file in the hub's `outbound/` and moves it to `archive/`.
    /// Returns the number of files read.
    pub async fn pick_up(&self) -> anyhow::Result<usize> {
        let _io = self.io.lock().await;
        if self.in_outage() {
            self.stats.outage_skips.fetch_add(1, Ordering::Relaxed);
            return Ok(0);
        }
        let outbound = self.config.root.join("outbound");
        let archive = self.config.root.join("archive");
        let mut n = 0;
        for name in list_files(&outbound).await? {
            let path = outbound.join(&name);
            let bytes = tokio::fs::read(&path).await?;
            self.stats.files_received.fetch_add(1, Ordering::Relaxed);
            if let Err(ack) = self.read_940s(&bytes) {
                self.stats.files_rejected.fetch_add(1, Ordering::Relaxed);
                self.send(&[*ack], "FA", "997").await?;
                self.stats.rejections_sent.fetch_add(1, Ordering::Relaxed);
            }
            tokio::fs::create_dir_all(&archive).await?;
            tokio::fs::rename(&path, archive.join(&name)).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Takes in the 940s of one interchange (997s from the hub are counted).
    /// A file that fails strict parsing, or any 940 in it, is refused whole
    /// and answered by the returned rejecting 997.
    fn read_940s(&self, bytes: &[u8]) -> Result<(), Box<FunctionalAck>> {
        let reject = |functional_id: &str, group: &str, error: String| {
            tracing::warn!(tpl = %self.config.name, %error, "3PL rejects a file");
            Box::new(FunctionalAck {
                functional_id: functional_id.to_owned(),
                group_control_number: group.to_owned(),
                version: None,
                sets: Vec::new(),
                status: AckStatus::Rejected,
                sets_included: 0,
                sets_received: 0,
                sets_accepted: 0,
                group_errors: vec!["5".into()],
            })
        };
        let interchange = match crossdock_edi::parse(bytes) {
            Ok(i) => i,
            Err(e) => {
                let (fid, gs06) = crossdock_edi::parse_lenient(bytes)
                    .ok()
                    .and_then(|l| l.interchange.groups.first().cloned())
                    .map_or(("OW".to_owned(), "0".to_owned()), |g| {
                        (g.functional_id().to_owned(), g.control_number().to_owned())
                    });
                return Err(reject(&fid, &gs06, e.to_string()));
            }
        };
        let mut orders = Vec::new();
        for group in &interchange.groups {
            for set in &group.sets {
                match set.id() {
                    "997" => {
                        self.stats.acks_received.fetch_add(1, Ordering::Relaxed);
                    }
                    "940" => match crossdock_edi::read_940(set) {
                        Ok(o) => orders.push(o),
                        Err(e) => {
                            return Err(reject(
                                group.functional_id(),
                                group.control_number(),
                                e.to_string(),
                            ));
                        }
                    },
                    other => {
                        return Err(reject(
                            group.functional_id(),
                            group.control_number(),
                            format!("unexpected transaction set {other}"),
                        ));
                    }
                }
            }
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for order in orders {
            if state.index.contains_key(&order.depositor_order_number) {
                self.stats
                    .duplicate_requests
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.stats.orders_received.fetch_add(1, Ordering::Relaxed);
            let i = state.orders.len();
            state.index.insert(order.depositor_order_number.clone(), i);
            state.orders.push(Held {
                order,
                received: Instant::now(),
                shipped: false,
            });
        }
        Ok(())
    }

    /// Writes one interchange of 945s for every order due. `None` when none
    /// is due or during an outage.
    pub async fn send_batch(&self) -> anyhow::Result<Option<PathBuf>> {
        let _io = self.io.lock().await;
        if self.in_outage() {
            self.stats.outage_skips.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let delay = Duration::from_millis(self.config.ship_delay_ms);
        let now = chrono::Utc::now();
        let (sets, shipped, short) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let due: Vec<usize> = state
                .orders
                .iter()
                .enumerate()
                .filter(|(_, h)| !h.shipped && h.received.elapsed() >= delay)
                .map(|(i, _)| i)
                .collect();
            let mut sets = Vec::new();
            let mut short = 0;
            for &i in &due {
                let n = state.next_shipment;
                state.next_shipment += 1;
                let (segments, s) = segments_945(
                    &state.orders[i].order,
                    &self.config.name,
                    n,
                    now,
                    self.config.short_ship_rate,
                    &mut rng,
                );
                short += s;
                sets.push(("945", segments));
            }
            (sets, due, short)
        };
        if sets.is_empty() {
            return Ok(None);
        }
        let path = self.send_sets("SW", &sets).await?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for i in shipped {
            state.orders[i].shipped = true;
        }
        self.stats.batches_sent.fetch_add(1, Ordering::Relaxed);
        self.stats
            .shipments_sent
            .fetch_add(sets.len() as u64, Ordering::Relaxed);
        self.stats
            .short_shipped_lines
            .fetch_add(short, Ordering::Relaxed);
        Ok(Some(path))
    }

    async fn send(&self, acks: &[FunctionalAck], fid: &str, set: &str) -> anyhow::Result<PathBuf> {
        let sets: Vec<_> = acks
            .iter()
            .map(|a| (set, crossdock_edi::segments_997(a)))
            .collect();
        self.send_sets(fid, &sets).await
    }

    async fn send_sets(
        &self,
        functional_id: &str,
        sets: &[(&str, Vec<OutSegment>)],
    ) -> anyhow::Result<PathBuf> {
        let cn = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let cn = ControlNumbers {
                interchange: state.next_control,
                group: state.next_control,
                first_set: state.next_set,
            };
            state.next_control += 1;
            state.next_set += sets.len() as u32;
            cn
        };
        let now = chrono::Utc::now();
        let id: String = self.config.name.to_uppercase().chars().take(15).collect();
        let params = EnvelopeParams {
            delimiters: Delimiters {
                repetition: None,
                ..Delimiters::STANDARD
            },
            sender_qualifier: "ZZ".into(),
            sender_id: id.clone(),
            receiver_qualifier: "ZZ".into(),
            receiver_id: "CROSSDOCK".into(),
            application_sender: id,
            application_receiver: "CROSSDOCK".into(),
            date: now.format("%Y%m%d").to_string(),
            time: now.format("%H%M").to_string(),
            version: "00401".into(),
            group_version: "004010".into(),
            usage: 'T',
            ack_requested: false,
        };
        let text = crossdock_edi::write_interchange(&params, cn, functional_id, sets)?;
        let set_id = sets.first().map_or("x12", |s| s.0);
        let inbound = self.config.root.join("inbound");
        tokio::fs::create_dir_all(&inbound).await?;
        let path = inbound.join(format!("{set_id}-{:09}.x12", cn.interchange));
        write_atomic(&path, text.as_bytes()).await?;
        Ok(path)
    }

    /// Sends an 846 inventory advice: `(sku, on hand)` per item, as the 3PL
    /// counts it (QTY*17). Returns the file written to the hub's inbound.
    pub async fn advise_stock(&self, items: &[(&str, i64)]) -> anyhow::Result<PathBuf> {
        let _io = self.io.lock().await;
        let now = chrono::Utc::now();
        let mut segments = vec![
            OutSegment::new("BIA")
                .val("00")
                .val("MB")
                .val(format!("ADV{}", now.timestamp()))
                .val(now.format("%Y%m%d").to_string()),
        ];
        for (i, (sku, on_hand)) in items.iter().enumerate() {
            segments.push(
                OutSegment::new("LIN")
                    .val((i + 1).to_string())
                    .val("SK")
                    .val(*sku),
            );
            segments.push(
                OutSegment::new("QTY")
                    .val("17")
                    .val(on_hand.to_string())
                    .val("EA"),
            );
        }
        self.send_sets("IB", &[("846", segments)]).await
    }

    /// The `/sim/stats`-style document of this 3PL.
    pub fn stats(&self) -> Value {
        let s = &self.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "name": self.config.name,
            "files_received": get(&s.files_received),
            "files_rejected": get(&s.files_rejected),
            "orders_received": get(&s.orders_received),
            "duplicate_requests": get(&s.duplicate_requests),
            "acks_received": get(&s.acks_received),
            "batches_sent": get(&s.batches_sent),
            "shipments_sent": get(&s.shipments_sent),
            "short_shipped_lines": get(&s.short_shipped_lines),
            "rejections_sent": get(&s.rejections_sent),
            "outage_skips": get(&s.outage_skips),
        })
    }
}

/// The body of one 945 answering `order`, and how many lines ship short.
fn segments_945(
    order: &WarehouseShippingOrder,
    name: &str,
    n: u64,
    now: chrono::DateTime<chrono::Utc>,
    short_ship_rate: f64,
    rng: &mut SmallRng,
) -> (Vec<OutSegment>, u64) {
    let date = now.format("%Y%m%d").to_string();
    let mut s = vec![
        OutSegment::new("W06")
            .val("F")
            .val(order.depositor_order_number.clone())
            .val(date.clone())
            .val(format!("SHP-{n:06}"))
            .el(None::<String>)
            .el(order.purchase_order_number.clone()),
        OutSegment::new("N1").val("SF").val(name.to_uppercase()),
        OutSegment::new("N9").val("BM").val(format!("BOL{n:08}")),
        OutSegment::new("N9").val("2I").val(format!("1ZTPL{n:010}")),
        OutSegment::new("G62")
            .val("11")
            .val(date)
            .val("W")
            .val(now.format("%H%M").to_string()),
        OutSegment::new("W27").val("M").val("UPSN"),
    ];
    let mut short = 0;
    let mut total = Decimal::ZERO;
    for line in &order.lines {
        let ordered = line.quantity;
        let shipped = if ordered >= Decimal::TWO && rng.random_bool(short_ship_rate) {
            short += 1;
            ordered - Decimal::ONE
        } else {
            ordered
        };
        total += shipped;
        s.push(OutSegment::new("LX").val(line.line_number.to_string()));
        let mut w12 = OutSegment::new("W12")
            .val(if shipped < ordered { "CP" } else { "CC" })
            .val(format_decimal(ordered))
            .val(format_decimal(shipped))
            .val(format_decimal(ordered - shipped))
            .val(line.unit.clone())
            .el(line.upc.clone());
        if let Some(id) = line.product_ids.first() {
            w12 = w12.val(id.qualifier.clone()).val(id.id.clone());
        }
        s.push(w12);
        for r in line.references.iter().filter(|r| r.qualifier == "LI") {
            s.push(OutSegment::new("N9").val("LI").el(r.id.clone()));
        }
    }
    s.push(OutSegment::new("W03").val(format_decimal(total)));
    (s, short)
}

async fn list_files(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut rd = match tokio::fs::read_dir(dir).await {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(e.into()),
    };
    while let Some(entry) = rd.next_entry().await? {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || name.ends_with(".tmp") || !entry.file_type().await?.is_file() {
            continue;
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// `.<name>.tmp` in the same folder, fsync, rename, fsync of the folder.
async fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::File::open(&tmp).await?.sync_all().await?;
    tokio::fs::rename(&tmp, path).await?;
    tokio::fs::File::open(dir).await?.sync_all().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_tpl_table_is_optional_and_checked() {
        let config: crate::SimConfig = serde_json::from_value(json!({
            "hub_url": "http://h", "warehouses": [],
            "tpl": { "name": "acme", "root": "/tmp/acme", "batch_interval_ms": 3600000,
                     "short_ship_rate": 0.1, "ship_delay_ms": 5,
                     "outages": [{ "start_secs": 1, "end_secs": 2 }] }
        }))
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.tpl.as_ref().unwrap().name, "acme");
        let mut bad = config;
        if let Some(t) = bad.tpl.as_mut() {
            t.short_ship_rate = 2.0;
        }
        assert!(bad.validate().is_err());
        let none: crate::SimConfig =
            serde_json::from_value(json!({ "hub_url": "http://h", "warehouses": [] })).unwrap();
        assert!(none.tpl.is_none());
        assert!(serde_json::to_value(&none).unwrap().get("tpl").is_none());
    }

    #[tokio::test]
    async fn a_bad_file_gets_a_rejecting_997_and_is_archived() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbound");
        tokio::fs::create_dir_all(&out).await.unwrap();
        tokio::fs::write(out.join("940-000000001.x12"), b"ISA*garbage~")
            .await
            .unwrap();
        let sim = TplSim::new(
            TplSimConfig {
                root: dir.path().to_owned(),
                ..TplSimConfig::default()
            },
            SmallRng::seed_from_u64(1),
        );
        assert_eq!(sim.pick_up().await.unwrap(), 1);
        assert!(dir.path().join("archive/940-000000001.x12").exists());
        let inbound = list_files(&dir.path().join("inbound")).await.unwrap();
        assert_eq!(inbound.len(), 1, "{inbound:?}");
        let bytes = tokio::fs::read(dir.path().join("inbound").join(&inbound[0]))
            .await
            .unwrap();
        let i = crossdock_edi::parse(&bytes).unwrap();
        let set = i.transaction_sets().next().unwrap();
        let ack = crossdock_edi::read_997(set).unwrap();
        assert_eq!(ack.status, AckStatus::Rejected);
        assert_eq!(sim.stats()["files_rejected"], 1);
        assert_eq!(sim.send_batch().await.unwrap(), None);
    }
}
