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

mod client;
pub mod config;
mod files;
mod fulfillment;
mod inbound;
mod mapping;

pub use client::{X12FileWarehouse, X12PartnerOptions};
pub use files::X12Error;
pub use files::{PartnerFolders, sha256_prefix, write_atomic};
pub use fulfillment::FlushReport;
pub use inbound::{InboundFile, InboundKind, InboundX12};
pub use mapping::ack_accepted;
