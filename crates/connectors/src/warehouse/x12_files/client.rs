//! The file-exchange warehouse: partner options, its errors, its queued state, and the `impl Warehouse` that hands each job to its file.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crossdock_edi::{ControlNumbers, Delimiters, EnvelopeParams};
use crossdock_model::{Clock, FulfillmentRequest, Shipment, SystemClock};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::files::X12Error;
use super::files::{PartnerFolders, list_files, remove_file, sync_dir};
use super::mapping::request_ids_in_940;
use crate::{CancelOutcome, ConnectorError, InputError, ShipmentEnvelope, Warehouse};

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

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) struct Control {
    pub(super) next_interchange: u32,
    pub(super) next_set: u32,
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
pub(super) struct PendingFile {
    pub(super) seq: u64,
    pub(super) request: FulfillmentRequest,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) seq: u64,
    pub(super) request: FulfillmentRequest,
    pub(super) path: PathBuf,
}

#[derive(Debug, Default)]
pub(super) struct State {
    /// Request id -> queued request.
    pub(super) pending: HashMap<String, Pending>,
    pub(super) next_seq: u64,
    /// Request id -> the file its 940 went out in.
    pub(super) sent: HashMap<String, String>,
    pub(super) control: Control,
}

/// The [`Warehouse`] for a 3PL exchanging X12 files.
pub struct X12FileWarehouse {
    pub(super) options: X12PartnerOptions,
    pub(super) folders: PartnerFolders,
    pub(super) state: Mutex<State>,
    /// What envelopes are dated with (and an undated inbound file is taken
    /// as of).
    pub(super) clock: Arc<dyn Clock>,
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
        params(&options, SystemClock.now()).map_err(|e| X12Error::Invalid(e.to_string()))?;
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
            clock: Arc::new(SystemClock),
        })
    }

    /// The same warehouse taking time from `clock` (the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn folders(&self) -> &PartnerFolders {
        &self.folders
    }

    pub fn options(&self) -> &X12PartnerOptions {
        &self.options
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
        self.queue_release(request).await
    }

    /// `Some(request id)` when the request is queued or its 940 was written.
    async fn find_release(&self, request_id: &str) -> Result<Option<String>, ConnectorError> {
        self.file_of_release(request_id).await
    }

    /// `Cancelled` only while the request is still queued (it is dropped);
    /// once a 940 may have reached the 3PL there is no synchronous cancel,
    /// so anything else is `TooLate` (its 945s, if any, will follow).
    async fn cancel_release(&self, request_id: &str) -> Result<CancelOutcome, ConnectorError> {
        self.unqueue_release(request_id).await
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

pub(super) fn params(
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
