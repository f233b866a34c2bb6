//! A 3PL that speaks EDI X12 through folders (SFTP drop, AS2 gateway mount):
//! 940 warehouse shipping orders out, 945/856 shipments, 846 stock and 997
//! acknowledgments in.
//!
//! # Folders (`PartnerFolders`, all under one root per partner)
//!
//! - `outbound/`: interchanges for the partner (`940-<ISA13>.x12`,
//!   `997-<ISA13>-ack-<their ISA13>.x12`). A transfer agent (or the 3PL)
//!   picks them up and moves them to `archive/`.
//! - `inbound/`: interchanges from the partner, read by
//!   [`X12FileWarehouse::poll_inbound`].
//! - `archive/`: inbound files once the hub committed their messages
//!   (`in-<name>`), and transmitted outbound files.
//! - `quarantine/`: inbound files that cannot be read, each with
//!   `<name>.error.txt` naming the segment and element. Never deleted here.
//! - `pending/`: fulfilment requests released but not yet flushed, one JSON
//!   file per request.
//! - `control.json`: the next ISA13/GS06 and ST02 for this partner.
//!
//! Every file is written atomically: `.<name>.tmp` in the same folder,
//! fsync, rename, fsync of the folder. Readers skip dot files and `.tmp`.
//!
//! # Crash safety
//!
//! - `release` writes the request's pending file before it answers, so an
//!   acknowledged release survives a crash. `flush` reserves control
//!   numbers (control file replaced first), writes the interchange, then
//!   deletes the pending files. A crash after the interchange's rename but
//!   before the deletes leaves pending files of sent requests: `open`
//!   drops them, because it rebuilds the set of sent request ids from the
//!   940s in `outbound/` and `archive/`. Numbers reserved by a flush that
//!   crashed before its rename are skipped, never reused.
//! - Inbound files stay in `inbound/` until [`X12FileWarehouse::archive`]:
//!   a crash between reading and committing re-reads them, with the same
//!   message keys, and the hub's inbox dedupe (`UNIQUE (source,
//!   message_key)`) makes the processing exactly-once.
//! - The 997 for an inbound interchange is written by `archive` (after the
//!   commit, so it never acknowledges what the hub lost) under a name
//!   carrying the partner's ISA13; an existing one is not written again.
//!
//! One hub process owns a partner folder: the in-process mutex serialises
//! release/flush/cancel, nothing guards against a second process.

pub mod config;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use crossdock_edi::{
    AckStatus, ControlNumbers, Delimiters, EnvelopeParams, FunctionalAck, Interchange,
    MappedShipments, Party, ProductId, Reference, ShortShip, TransactionSet,
    WarehouseShippingOrder,
};
use crossdock_model::{FulfillmentRequest, InventoryPosition, Shipment};
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::{CancelOutcome, ConnectorError, InputError, ShipmentEnvelope, Warehouse};

/// The largest ISA13/GS06 (nine digits).
const MAX_CONTROL: u32 = 999_999_999;

/// The folders of one trading partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerFolders {
    pub root: PathBuf,
}

impl PartnerFolders {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn outbound(&self) -> PathBuf {
        self.root.join("outbound")
    }
    pub fn inbound(&self) -> PathBuf {
        self.root.join("inbound")
    }
    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }
    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }
    pub fn pending(&self) -> PathBuf {
        self.root.join("pending")
    }
    pub fn control_file(&self) -> PathBuf {
        self.root.join("control.json")
    }

    /// Creates every folder (idempotent).
    pub async fn create(&self) -> Result<(), X12Error> {
        for dir in [
            self.outbound(),
            self.inbound(),
            self.archive(),
            self.quarantine(),
            self.pending(),
        ] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| X12Error::io(&dir, e))?;
        }
        Ok(())
    }
}

/// How the hub talks to one 3PL.
#[derive(Debug, Clone, PartialEq)]
pub struct X12PartnerOptions {
    /// The warehouse (location) name the hub knows the 3PL by; also the
    /// first part of every inbound message key.
    pub name: String,
    pub root: PathBuf,
    /// ISA05/ISA06 and GS02: the hub.
    pub sender_qualifier: String,
    pub sender_id: String,
    /// ISA07/ISA08 and GS03: the 3PL.
    pub receiver_qualifier: String,
    pub receiver_id: String,
    /// ISA15: `P` production, `T` test.
    pub usage: char,
    /// How often the hub should call [`X12FileWarehouse::flush`] (the 3PL
    /// confirms in batches; see [`X12FileWarehouse::spawn_flusher`]).
    pub batch_interval: Duration,
}

impl X12PartnerOptions {
    /// Defaults: hub `ZZ/CROSSDOCK`, partner `ZZ/<NAME>` (upper case, at
    /// most 15 characters), test usage, hourly batches.
    pub fn new(name: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        let name = name.into();
        let receiver_id: String = name.to_uppercase().chars().take(15).collect();
        Self {
            root: root.into(),
            sender_qualifier: "ZZ".into(),
            sender_id: "CROSSDOCK".into(),
            receiver_qualifier: "ZZ".into(),
            receiver_id,
            usage: 'T',
            batch_interval: Duration::from_secs(3600),
            name,
        }
    }
}

/// A failure of the file transport.
#[derive(Debug, thiserror::Error)]
pub enum X12Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Write(#[from] crossdock_edi::WriteError),
    #[error("{0}")]
    Invalid(String),
}

impl X12Error {
    fn io(path: &Path, source: io::Error) -> Self {
        X12Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

impl From<X12Error> for ConnectorError {
    fn from(e: X12Error) -> Self {
        match e {
            // A failed write may have left a file behind: in doubt.
            X12Error::Io { .. } => ConnectorError::transient(e.to_string()),
            X12Error::Write(_) | X12Error::Invalid(_) => ConnectorError::rejected(e.to_string()),
        }
    }
}

/// What one inbound transaction set carries.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundKind {
    /// A 945 (or one order of an 856), mapped to canonical form.
    Shipment {
        shipment: Box<Shipment>,
        /// Lines that shipped fewer units than ordered (W12-03 < W12-02).
        short_ships: Vec<ShortShip>,
    },
    /// An 846.
    Positions(Vec<InventoryPosition>),
    /// A 997 acknowledging one of our interchanges.
    Ack(FunctionalAck),
}

/// One message read from an inbound file, ready for the hub's inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundX12 {
    /// `<partner>:<ISA13>:<GS06>:<ST02>:<sha256 of the set's bytes, 16 hex>`
    /// (an 856 covering several orders adds `:<order id>`). Identical for the
    /// same bytes however often the file is read: the inbox dedupe key.
    pub message_key: String,
    /// ST01 (`945`, `856`, `846`, `997`).
    pub set_id: String,
    pub kind: InboundKind,
    /// The body to store in the inbox: JSON of the canonical shipment (what
    /// [`Warehouse::map_shipment`] reads), of the positions, or of the ack.
    pub body: Vec<u8>,
}

impl InboundX12 {
    /// The inbox envelope of a shipment message.
    pub fn shipment_envelope(&self) -> Option<ShipmentEnvelope> {
        match &self.kind {
            InboundKind::Shipment { shipment, .. } => Some(ShipmentEnvelope {
                message_key: self.message_key.clone(),
                order_id: shipment.order_id.clone(),
            }),
            _ => None,
        }
    }
}

/// One inbound file that was read and understood. Pass it to
/// [`X12FileWarehouse::archive`] once its messages are committed.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundFile {
    pub name: String,
    pub path: PathBuf,
    /// ISA06 and ISA13 of the partner's interchange.
    pub sender_id: String,
    pub interchange_control: String,
    pub messages: Vec<InboundX12>,
    /// The 997s `archive` writes (empty when the file carries only 997s).
    acks: Vec<FunctionalAck>,
}

/// What [`X12FileWarehouse::flush`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushReport {
    pub path: PathBuf,
    /// ISA13 = GS06.
    pub interchange: u32,
    /// ST02 of the first set; the others follow.
    pub first_set: u32,
    /// In interchange order.
    pub request_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Control {
    next_interchange: u32,
    next_set: u32,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            next_interchange: 1,
            next_set: 1,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct PendingFile {
    seq: u64,
    request: FulfillmentRequest,
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    request: FulfillmentRequest,
    path: PathBuf,
}

#[derive(Debug, Default)]
struct State {
    /// Request id -> queued request.
    pending: HashMap<String, Pending>,
    next_seq: u64,
    /// Request id -> the file its 940 went out in.
    sent: HashMap<String, String>,
    control: Control,
}

/// The [`Warehouse`] for a 3PL exchanging X12 files.
pub struct X12FileWarehouse {
    options: X12PartnerOptions,
    folders: PartnerFolders,
    state: Mutex<State>,
}

impl std::fmt::Debug for X12FileWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X12FileWarehouse")
            .field("name", &self.options.name)
            .field("root", &self.folders.root)
            .finish_non_exhaustive()
    }
}

impl X12FileWarehouse {
    /// Creates the folders, loads the control numbers and the pending
    /// requests, and rebuilds the set of sent requests from the 940s in
    /// `outbound/` and `archive/` (dropping pending files of requests
    /// already sent by a flush that crashed before cleaning up).
    pub async fn open(options: X12PartnerOptions) -> Result<Self, X12Error> {
        let folders = PartnerFolders::new(options.root.clone());
        folders.create().await?;
        params(&options, Utc::now()).map_err(|e| X12Error::Invalid(e.to_string()))?;
        let control = match tokio::fs::read(folders.control_file()).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                X12Error::Invalid(format!("{}: {e}", folders.control_file().display()))
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Control::default(),
            Err(e) => return Err(X12Error::io(&folders.control_file(), e)),
        };
        let mut state = State {
            control,
            ..State::default()
        };
        for dir in [folders.outbound(), folders.archive()] {
            for name in list_files(&dir).await? {
                if !(name.starts_with("940-") && name.ends_with(".x12")) {
                    continue;
                }
                let path = dir.join(&name);
                let bytes = tokio::fs::read(&path)
                    .await
                    .map_err(|e| X12Error::io(&path, e))?;
                match request_ids_in_940(&bytes) {
                    Ok(ids) => {
                        for id in ids {
                            state.sent.insert(id, name.clone());
                        }
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "unreadable 940 of our own")
                    }
                }
            }
        }
        let pending_dir = folders.pending();
        for name in list_files(&pending_dir).await? {
            if !name.ends_with(".json") {
                continue;
            }
            let path = pending_dir.join(&name);
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| X12Error::io(&path, e))?;
            let file: PendingFile = serde_json::from_slice(&bytes)
                .map_err(|e| X12Error::Invalid(format!("{}: {e}", path.display())))?;
            if state.sent.contains_key(&file.request.id) {
                remove_file(&path).await?;
                continue;
            }
            state.next_seq = state.next_seq.max(file.seq + 1);
            state.pending.insert(
                file.request.id.clone(),
                Pending {
                    seq: file.seq,
                    request: file.request,
                    path,
                },
            );
        }
        sync_dir(&pending_dir).await?;
        Ok(Self {
            options,
            folders,
            state: Mutex::new(state),
        })
    }

    pub fn folders(&self) -> &PartnerFolders {
        &self.folders
    }

    pub fn options(&self) -> &X12PartnerOptions {
        &self.options
    }

    /// Requests released and not yet flushed.
    pub async fn queued(&self) -> Vec<String> {
        let state = self.state.lock().await;
        let mut q: Vec<_> = state.pending.values().collect();
        q.sort_by_key(|p| p.seq);
        q.into_iter().map(|p| p.request.id.clone()).collect()
    }

    /// Writes every queued request as one interchange of 940s (one ST per
    /// request, in release order) into `outbound/`. `None` when nothing
    /// is queued.
    pub async fn flush(&self) -> Result<Option<FlushReport>, X12Error> {
        let mut state = self.state.lock().await;
        if state.pending.is_empty() {
            return Ok(None);
        }
        let mut queued: Vec<&Pending> = state.pending.values().collect();
        queued.sort_by_key(|p| p.seq);
        let orders = queued
            .iter()
            .map(|p| order_940(&p.request))
            .collect::<Vec<_>>();
        let request_ids: Vec<String> = queued.iter().map(|p| p.request.id.clone()).collect();
        let paths: Vec<PathBuf> = queued.iter().map(|p| p.path.clone()).collect();
        let count = u32::try_from(orders.len())
            .map_err(|_| X12Error::Invalid("too many queued requests".into()))?;
        let cn = self.reserve(&mut state, count).await?;
        let text = crossdock_edi::write_940(&orders, &params(&self.options, Utc::now())?, cn)?;
        let name = format!("940-{:09}.x12", cn.interchange);
        let path = self.folders.outbound().join(&name);
        write_atomic(&path, text.as_bytes()).await?;
        for id in &request_ids {
            state.pending.remove(id);
            state.sent.insert(id.clone(), name.clone());
        }
        for p in &paths {
            remove_file(p).await?;
        }
        sync_dir(&self.folders.pending()).await?;
        tracing::info!(partner = %self.options.name, file = %name, sets = count, "940 batch written");
        Ok(Some(FlushReport {
            path,
            interchange: cn.interchange,
            first_set: cn.first_set,
            request_ids,
        }))
    }

    /// Flushes every `batch_interval` until the handle is aborted. Errors
    /// are logged and retried at the next tick (the queue is durable).
    pub fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.options.batch_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = this.flush().await {
                    tracing::warn!(partner = %this.options.name, error = %e, "940 flush failed");
                }
            }
        })
    }

    /// Reserves one interchange number and `sets` set numbers, persisting
    /// the next values before they are used.
    async fn reserve(&self, state: &mut State, sets: u32) -> Result<ControlNumbers, X12Error> {
        let c = state.control;
        if c.next_interchange > MAX_CONTROL || c.next_set.saturating_add(sets) > MAX_CONTROL {
            return Err(X12Error::Invalid(format!(
                "control numbers of partner {} exhausted ({}/{})",
                self.options.name, c.next_interchange, c.next_set
            )));
        }
        let next = Control {
            next_interchange: c.next_interchange + 1,
            next_set: c.next_set + sets,
        };
        let json = serde_json::to_vec(&next).map_err(|e| X12Error::Invalid(e.to_string()))?;
        write_atomic(&self.folders.control_file(), &json).await?;
        state.control = next;
        Ok(ControlNumbers {
            interchange: c.next_interchange,
            group: c.next_interchange,
            first_set: c.next_set,
        })
    }

    /// Reads every file in `inbound/`. A file that cannot be read or mapped
    /// is moved to `quarantine/` with `<name>.error.txt` and left out; the
    /// others stay in `inbound/` until [`Self::archive`].
    pub async fn poll_inbound(&self) -> Result<Vec<InboundFile>, X12Error> {
        let dir = self.folders.inbound();
        let mut out = Vec::new();
        for name in list_files(&dir).await? {
            let path = dir.join(&name);
            let bytes = match tokio::fs::read(&path).await {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(X12Error::io(&path, e)),
            };
            match self.read_file(&name, &bytes) {
                Ok((interchange, messages, acks)) => out.push(InboundFile {
                    name,
                    path,
                    sender_id: interchange.sender_id().to_owned(),
                    interchange_control: interchange.control_number().to_owned(),
                    messages,
                    acks,
                }),
                Err(reason) => {
                    tracing::warn!(partner = %self.options.name, file = %name, %reason, "inbound file quarantined");
                    self.quarantine(&name, &reason).await?;
                }
            }
        }
        Ok(out)
    }

    /// Moves `name` from `inbound/` to `quarantine/` with its error sidecar
    /// (written first, so a crash in between only re-reads the file).
    async fn quarantine(&self, name: &str, reason: &str) -> Result<(), X12Error> {
        let q = self.folders.quarantine();
        let mut target = name.to_owned();
        let mut n = 1;
        while tokio::fs::try_exists(q.join(&target))
            .await
            .map_err(|e| X12Error::io(&q, e))?
        {
            target = format!("{name}.{n}");
            n += 1;
        }
        let sidecar = q.join(format!("{target}.error.txt"));
        write_atomic(&sidecar, format!("{reason}\n").as_bytes()).await?;
        rename(&self.folders.inbound().join(name), &q.join(&target)).await?;
        sync_dir(&q).await?;
        sync_dir(&self.folders.inbound()).await
    }

    /// After the caller committed `file`'s messages: writes the 997 for its
    /// interchange into `outbound/` (once) and moves it to
    /// `archive/in-<name>`.
    pub async fn archive(&self, file: &InboundFile) -> Result<(), X12Error> {
        if !file.acks.is_empty() {
            let suffix = format!(
                "-ack-{}-{}.x12",
                safe_name(&file.sender_id),
                safe_name(&file.interchange_control)
            );
            let mut written = false;
            for dir in [self.folders.outbound(), self.folders.archive()] {
                written |= list_files(&dir)
                    .await?
                    .iter()
                    .any(|n| n.starts_with("997-") && n.ends_with(&suffix));
            }
            if !written {
                let mut state = self.state.lock().await;
                let sets = u32::try_from(file.acks.len())
                    .map_err(|_| X12Error::Invalid("too many groups".into()))?;
                let cn = self.reserve(&mut state, sets).await?;
                let text =
                    crossdock_edi::write_997(&file.acks, &params(&self.options, Utc::now())?, cn)?;
                let path = self
                    .folders
                    .outbound()
                    .join(format!("997-{:09}{suffix}", cn.interchange));
                write_atomic(&path, text.as_bytes()).await?;
            }
        }
        let target = self.folders.archive().join(format!("in-{}", file.name));
        match tokio::fs::rename(&file.path, &target).await {
            Ok(()) => {}
            // Archived already (a retried archive after a crash).
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    && tokio::fs::try_exists(&target).await.unwrap_or(false) => {}
            Err(e) => return Err(X12Error::io(&file.path, e)),
        }
        sync_dir(&self.folders.archive()).await?;
        sync_dir(&self.folders.inbound()).await
    }

    /// Parses (strictly) and maps one inbound interchange.
    #[allow(clippy::type_complexity)]
    fn read_file(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<(Interchange, Vec<InboundX12>, Vec<FunctionalAck>), String> {
        let interchange = crossdock_edi::parse(bytes).map_err(|e| format!("{name}: {e}"))?;
        let isa13 = interchange.control_number().to_owned();
        let mut messages = Vec::new();
        let mut acks = Vec::new();
        let as_of = envelope_time(&interchange).unwrap_or_else(Utc::now);
        for (group, ack) in interchange
            .groups
            .iter()
            .zip(crossdock_edi::acknowledge(&interchange))
        {
            let gs06 = group.control_number();
            let mut acked = false;
            for (k, set) in group.sets.iter().enumerate() {
                let end = group
                    .sets
                    .get(k + 1)
                    .map_or(group.ge.offset, |s| s.st.offset);
                let raw = bytes.get(set.st.offset..end).unwrap_or_default();
                let key = format!(
                    "{}:{isa13}:{gs06}:{}:{}",
                    self.options.name,
                    set.control_number(),
                    sha256_prefix(raw)
                );
                let fail = |what: String| {
                    format!(
                        "{name}: transaction set {} {} (ST02 {}, group {gs06}): {what}",
                        set.id(),
                        set.st.position(),
                        set.control_number()
                    )
                };
                match set.id() {
                    "945" | "856" => {
                        acked = true;
                        let mapped = self.map_set(set).map_err(&fail)?;
                        let several = mapped.shipments.len() > 1;
                        for shipment in mapped.shipments {
                            let message_key = if several {
                                format!("{key}:{}", shipment.order_id)
                            } else {
                                key.clone()
                            };
                            let short_ships = mapped
                                .short_ships
                                .iter()
                                .filter(|s| s.shipment_id == shipment.id)
                                .cloned()
                                .collect();
                            let body =
                                serde_json::to_vec(&shipment).map_err(|e| fail(e.to_string()))?;
                            messages.push(InboundX12 {
                                message_key,
                                set_id: set.id().to_owned(),
                                kind: InboundKind::Shipment {
                                    shipment: Box::new(shipment),
                                    short_ships,
                                },
                                body,
                            });
                        }
                    }
                    "846" => {
                        acked = true;
                        let advice =
                            crossdock_edi::read_846(set).map_err(|e| fail(e.to_string()))?;
                        let positions =
                            crossdock_edi::positions_from_846(&advice, &self.options.name, as_of)
                                .map_err(|e| fail(e.describe_in(set)))?;
                        let body =
                            serde_json::to_vec(&positions).map_err(|e| fail(e.to_string()))?;
                        messages.push(InboundX12 {
                            message_key: key,
                            set_id: "846".into(),
                            kind: InboundKind::Positions(positions),
                            body,
                        });
                    }
                    "997" => {
                        let ack = crossdock_edi::read_997(set).map_err(|e| fail(e.to_string()))?;
                        let body = serde_json::to_vec(&ack).map_err(|e| fail(e.to_string()))?;
                        messages.push(InboundX12 {
                            message_key: key,
                            set_id: "997".into(),
                            kind: InboundKind::Ack(ack),
                            body,
                        });
                    }
                    other => {
                        return Err(fail(format!(
                            "transaction set {other} is not expected from a 3PL (945, 856, 846, 997)"
                        )));
                    }
                }
            }
            if acked {
                acks.push(ack);
            }
        }
        Ok((interchange, messages, acks))
    }

    /// Maps a 945 or 856 and restores the hub's ids: line ids from each
    /// line's `N9*LI` (the 940 sent them; LX numbers are positions), the
    /// request id from W06-06 (the 940's W05-03).
    fn map_set(&self, set: &TransactionSet) -> Result<MappedShipments, String> {
        if set.id() == "856" {
            let notice = crossdock_edi::read_856(set).map_err(|e| e.to_string())?;
            return crossdock_edi::shipments_from_856(&notice, &self.options.name)
                .map_err(|e| e.describe_in(set));
        }
        let advice = crossdock_edi::read_945(set).map_err(|e| e.to_string())?;
        let mut mapped = crossdock_edi::shipments_from_945(&advice, &self.options.name)
            .map_err(|e| e.describe_in(set))?;
        let line_ids: HashMap<String, String> = advice
            .lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let position = l.line_number.unwrap_or(i as u32 + 1).to_string();
                let id = l
                    .references
                    .iter()
                    .find(|r| r.qualifier == "LI")
                    .and_then(|r| r.id.clone())?;
                Some((position, id))
            })
            .collect();
        for shipment in &mut mapped.shipments {
            if let Some(request) = &advice.purchase_order_number {
                shipment.fulfillment_request_id = request.clone();
            }
            for line in &mut shipment.lines {
                if let Some(id) = line_ids.get(&line.line_id) {
                    line.line_id = id.clone();
                }
            }
        }
        for short in &mut mapped.short_ships {
            if let Some(id) = line_ids.get(&short.line_id) {
                short.line_id = id.clone();
            }
        }
        Ok(mapped)
    }
}

#[async_trait]
impl Warehouse for X12FileWarehouse {
    fn name(&self) -> &str {
        &self.options.name
    }

    /// Queues the request durably (`pending/`, fsynced) and returns its id;
    /// it goes out as a 940 at the next [`X12FileWarehouse::flush`].
    /// Idempotent: a request already queued or sent is not queued again.
    async fn release(&self, request: &FulfillmentRequest) -> Result<String, ConnectorError> {
        let mut state = self.state.lock().await;
        if state.pending.contains_key(&request.id) || state.sent.contains_key(&request.id) {
            return Ok(request.id.clone());
        }
        if request.lines.is_empty() {
            return Err(ConnectorError::rejected(format!(
                "request {} has no lines",
                request.id
            )));
        }
        // Refuse what cannot be written as a 940 now, not at flush time.
        let probe = ControlNumbers {
            interchange: 1,
            group: 1,
            first_set: 1,
        };
        let params = params(&self.options, Utc::now()).map_err(X12Error::from)?;
        crossdock_edi::write_940(&[order_940(request)], &params, probe)
            .map_err(|e| ConnectorError::rejected(format!("request {}: {e}", request.id)))?;
        let seq = state.next_seq;
        let path = self.folders.pending().join(format!(
            "{seq:012}-{}.json",
            sha256_prefix(request.id.as_bytes())
        ));
        let json = serde_json::to_vec(&PendingFile {
            seq,
            request: request.clone(),
        })
        .map_err(|e| ConnectorError::rejected(e.to_string()))?;
        write_atomic(&path, &json).await?;
        state.next_seq = seq + 1;
        state.pending.insert(
            request.id.clone(),
            Pending {
                seq,
                request: request.clone(),
                path,
            },
        );
        Ok(request.id.clone())
    }

    /// `Some(request id)` when the request is queued or its 940 was written.
    async fn find_release(&self, request_id: &str) -> Result<Option<String>, ConnectorError> {
        let state = self.state.lock().await;
        Ok(
            (state.pending.contains_key(request_id) || state.sent.contains_key(request_id))
                .then(|| request_id.to_owned()),
        )
    }

    /// `Cancelled` only while the request is still queued (it is dropped);
    /// once a 940 may have reached the 3PL there is no synchronous cancel,
    /// so anything else is `TooLate` (its 945s, if any, will follow).
    async fn cancel_release(&self, request_id: &str) -> Result<CancelOutcome, ConnectorError> {
        let mut state = self.state.lock().await;
        let Some(p) = state.pending.get(request_id) else {
            return Ok(CancelOutcome::TooLate);
        };
        let path = p.path.clone();
        remove_file(&path).await?;
        sync_dir(&self.folders.pending()).await?;
        state.pending.remove(request_id);
        Ok(CancelOutcome::Cancelled)
    }

    fn read_webhook(
        &self,
        _headers: &HeaderMap,
        _body: &[u8],
    ) -> Result<ShipmentEnvelope, InputError> {
        Err(InputError::new(
            "body",
            format!(
                "warehouse {} has no webhook: its shipments arrive as X12 files (poll_inbound)",
                self.options.name
            ),
        ))
    }

    /// Reads the body [`InboundX12::body`] holds for a shipment: the JSON of
    /// the canonical shipment.
    fn map_shipment(&self, body: &[u8]) -> Result<Shipment, InputError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            InputError::new(
                if path == "." { "body".to_owned() } else { path },
                e.inner().to_string(),
            )
        })
    }
}

fn params(
    o: &X12PartnerOptions,
    now: DateTime<Utc>,
) -> Result<EnvelopeParams, crossdock_edi::WriteError> {
    let p = EnvelopeParams {
        delimiters: Delimiters::STANDARD,
        sender_qualifier: o.sender_qualifier.clone(),
        sender_id: o.sender_id.clone(),
        receiver_qualifier: o.receiver_qualifier.clone(),
        receiver_id: o.receiver_id.clone(),
        application_sender: o.sender_id.clone(),
        application_receiver: o.receiver_id.clone(),
        date: now.format("%Y%m%d").to_string(),
        time: now.format("%H%M").to_string(),
        version: "00401".into(),
        group_version: "004010".into(),
        usage: o.usage,
        ack_requested: false,
    };
    // 00401 has no repetition separator.
    let p = EnvelopeParams {
        delimiters: Delimiters {
            repetition: None,
            ..p.delimiters
        },
        ..p
    };
    crossdock_edi::write_interchange(
        &p,
        ControlNumbers {
            interchange: 1,
            group: 1,
            first_set: 1,
        },
        "OW",
        &[],
    )?;
    Ok(p)
}

/// Free text with the delimiters (and line breaks) replaced by spaces.
fn text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '*' | '>' | '^' | '~' | '\r' | '\n') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The 940 for a request: W05-02 is the order id (echoed in 945 W06-02,
/// the canonical shipment's `order_id`), W05-03 the request id (echoed in
/// W06-06), each line's id in `N9*LI` (LX-01 is its position).
fn order_940(r: &FulfillmentRequest) -> WarehouseShippingOrder {
    let mut parties = Vec::new();
    if let Some(a) = &r.ship_to {
        parties.push(Party {
            entity: "ST".into(),
            name: Some(text(&a.name)),
            address_lines: std::iter::once(&a.line1)
                .chain(a.line2.as_ref())
                .map(|l| text(l))
                .collect(),
            city: Some(text(&a.city)),
            state: a.region.as_deref().map(text),
            postal_code: Some(text(&a.postal_code)),
            country: Some(text(&a.country)),
            ..Party::default()
        });
    }
    let reference = |qualifier: &str, id: &str| Reference {
        qualifier: qualifier.into(),
        id: Some(id.to_owned()),
        description: None,
    };
    WarehouseShippingOrder {
        status_code: "N".into(),
        depositor_order_number: r.order_id.clone(),
        purchase_order_number: Some(r.id.clone()),
        parties,
        references: vec![
            reference("CO", &r.channel_order_id),
            Reference {
                qualifier: "ZZ".into(),
                id: Some(text(&r.service_level)),
                description: Some("service level".into()),
            },
        ],
        dates: Vec::new(),
        carrier: None,
        lines: r
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| crossdock_edi::OrderLine {
                line_number: i as u32 + 1,
                quantity: Decimal::from(l.quantity),
                unit: "EA".into(),
                upc: None,
                product_ids: vec![ProductId {
                    qualifier: "SK".into(),
                    id: l.sku.clone(),
                }],
                description: None,
                references: vec![reference("LI", &l.line_id)],
            })
            .collect(),
        total_weight: None,
    }
}

/// The request ids (W05-03) of the 940s in one of our interchanges.
fn request_ids_in_940(bytes: &[u8]) -> Result<Vec<String>, String> {
    let interchange = crossdock_edi::parse(bytes).map_err(|e| e.to_string())?;
    interchange
        .transaction_sets()
        .filter(|s| s.id() == "940")
        .map(|s| {
            let order = crossdock_edi::read_940(s).map_err(|e| e.to_string())?;
            order
                .purchase_order_number
                .ok_or_else(|| format!("940 {} has no W05-03", s.control_number()))
        })
        .collect()
}

/// GS04/GS05 of the first group, as UTC (X12 carries no zone).
fn envelope_time(i: &Interchange) -> Option<DateTime<Utc>> {
    let gs = &i.groups.first()?.gs;
    let date = NaiveDate::parse_from_str(gs.text(4)?, "%Y%m%d").ok()?;
    let time = NaiveTime::parse_from_str(gs.text(5)?.get(..4)?, "%H%M").ok()?;
    Some(Utc.from_utc_datetime(&date.and_time(time)))
}

/// The first 16 hex digits of the SHA-256 of `bytes`.
pub fn sha256_prefix(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(8).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A control number or id reduced to file-name-safe characters.
fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `status` means the 997 accepted the acknowledged group.
pub fn ack_accepted(ack: &FunctionalAck) -> bool {
    matches!(
        ack.status,
        AckStatus::Accepted | AckStatus::AcceptedWithErrors
    )
}

/// Regular files of `dir`, sorted, without dot files and `.tmp` files.
async fn list_files(dir: &Path) -> Result<Vec<String>, X12Error> {
    let mut rd = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| X12Error::io(dir, e))?;
    let mut names = BTreeMap::new();
    while let Some(entry) = rd.next_entry().await.map_err(|e| X12Error::io(dir, e))? {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        let is_file = entry
            .file_type()
            .await
            .map_err(|e| X12Error::io(&entry.path(), e))?
            .is_file();
        if is_file {
            names.insert(name, ());
        }
    }
    Ok(names.into_keys().collect())
}

/// Writes `.<name>.tmp` next to `path`, fsyncs it, renames it over `path`
/// and fsyncs the folder: readers see the whole file or nothing.
pub async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), X12Error> {
    let dir = path
        .parent()
        .ok_or_else(|| X12Error::Invalid(format!("{} has no folder", path.display())))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| X12Error::Invalid(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| X12Error::io(&tmp, e))?;
    let f = tokio::fs::File::open(&tmp)
        .await
        .map_err(|e| X12Error::io(&tmp, e))?;
    f.sync_all().await.map_err(|e| X12Error::io(&tmp, e))?;
    drop(f);
    rename(&tmp, path).await?;
    sync_dir(dir).await
}

async fn rename(from: &Path, to: &Path) -> Result<(), X12Error> {
    tokio::fs::rename(from, to)
        .await
        .map_err(|e| X12Error::io(from, e))
}

async fn remove_file(path: &Path) -> Result<(), X12Error> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(X12Error::io(path, e)),
    }
}

/// Makes renames and deletions in `dir` durable.
async fn sync_dir(dir: &Path) -> Result<(), X12Error> {
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| X12Error::io(dir, e))?;
    d.sync_all().await.map_err(|e| X12Error::io(dir, e))
}
