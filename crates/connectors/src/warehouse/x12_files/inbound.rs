//! Inbound files (945 shipments, 997 acknowledgements): read, mapped, archived once handled or quarantined when unreadable.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

use crossdock_edi::{FunctionalAck, Interchange, MappedShipments, ShortShip, TransactionSet};
use crossdock_model::{InventoryPosition, Shipment};

use super::client::X12FileWarehouse;
use super::client::params;
use super::files::X12Error;
use super::files::{list_files, rename, safe_name, sha256_prefix, sync_dir, write_atomic};
use super::mapping::envelope_time;
use crate::ShipmentEnvelope;

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
    pub(super) acks: Vec<FunctionalAck>,
}

impl X12FileWarehouse {
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
    pub(super) async fn quarantine(&self, name: &str, reason: &str) -> Result<(), X12Error> {
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
                let text = crossdock_edi::write_997(
                    &file.acks,
                    &params(&self.options, self.clock.now())?,
                    cn,
                )?;
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
    pub(super) fn read_file(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<(Interchange, Vec<InboundX12>, Vec<FunctionalAck>), String> {
        let interchange = crossdock_edi::parse(bytes).map_err(|e| format!("{name}: {e}"))?;
        let isa13 = interchange.control_number().to_owned();
        let mut messages = Vec::new();
        let mut acks = Vec::new();
        let as_of = envelope_time(&interchange).unwrap_or_else(|| self.clock.now());
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
    pub(super) fn map_set(&self, set: &TransactionSet) -> Result<MappedShipments, String> {
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
