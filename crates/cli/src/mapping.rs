//! `crossdock mapping diff`: what a new mapping of a mapped channel would
//! change, judged on what the channel really sent. Every inbound payload
//! the store kept for the channel (since `--since`) is mapped with the
//! configuration's current mapping and with the new one, and the canonical
//! results are compared field by field. Exit status 1 when anything
//! changes (unless `--accept`), so a repository of mappings can use it as
//! a CI gate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use clap::Subcommand;
use crossdock_connectors::ChannelEvent;
use crossdock_connectors::channel::mapped::{ChannelMapping, map_payload};
use crossdock_store::Store;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::json_diff::{Arrays, differences};
use crate::routing::parse_since;
use crate::store_args::StoreArgs;

#[derive(Subcommand)]
pub enum MappingCommand {
    /// Map the channel's stored payloads with its current mapping and with
    /// FILE, and list the orders whose canonical form would change and the
    /// payloads the new mapping can no longer read.
    /// `--config FILE` (required) holds the channel's current mapping; the
    /// store is its store unless `--data-dir` or `--database-url` says.
    Diff {
        /// A `kind = "mapped"` channel of the configuration.
        #[arg(long)]
        channel: String,
        /// The new mapping (the `[channels.mapping]` shape, as a file).
        #[arg(long)]
        new: PathBuf,
        /// RFC 3339 time, or a duration back from now (`7d`, `24h`).
        #[arg(long, default_value = "7d")]
        since: String,
        /// Exit 0 even when something changes.
        #[arg(long)]
        accept: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// One payload whose reading changes.
#[derive(Debug, Clone, Serialize)]
pub struct PayloadChange {
    pub inbox_id: i64,
    pub message_key: String,
    /// `changed`, `unreadable` (the new mapping refuses it) or `readable`
    /// (the new mapping reads what the current one refused).
    pub kind: &'static str,
    /// Field path → `[current, new]`; for `unreadable`/`readable`, the error.
    pub fields: BTreeMap<String, [Value; 2]>,
    pub error: Option<String>,
}

/// What `mapping diff` found.
#[derive(Debug, Clone, Serialize)]
pub struct MappingDiff {
    pub channel: String,
    pub payloads: usize,
    pub unchanged: usize,
    pub changes: Vec<PayloadChange>,
}

/// Prints the report; an error (exit status 1) when anything changes and
/// `--accept` was not given.
pub async fn run(command: MappingCommand) -> anyhow::Result<()> {
    let MappingCommand::Diff {
        channel,
        new,
        since,
        accept,
        json,
        store,
    } = command;
    let config = store
        .config()
        .context("--config FILE is needed: it holds the channel's current mapping")?
        .to_owned();
    let current = Config::load(&config)?
        .channels
        .into_iter()
        .find(|c| c.name == channel)
        .with_context(|| format!("no channel {channel:?} in {}", config.display()))?
        .channel_mapping()
        .map_err(|e| anyhow::anyhow!("channel {channel}: {e}"))?;
    let origin = new.display().to_string();
    let text = std::fs::read_to_string(&new).with_context(|| format!("reading {origin}"))?;
    let proposed: ChannelMapping =
        toml::from_str(&text).map_err(|e| crate::config::located(&text, &origin, &e))?;
    let since_ms = parse_since(&since, SystemTime::now())?;
    let store = store.open().await?;
    let diff = diff(&store, &channel, &current, &proposed, since_ms).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&diff)?);
    } else {
        print!("{}", text_report(&diff));
    }
    if diff.changes.is_empty() || accept {
        return Ok(());
    }
    anyhow::bail!(
        "{} of {} payload(s) of channel {channel} read differently under {origin} (--accept to exit 0)",
        diff.changes.len(),
        diff.payloads
    )
}

/// A channel event as comparable JSON.
fn event_json(e: &ChannelEvent) -> Value {
    match e {
        ChannelEvent::Order(o) => serde_json::to_value(o).unwrap_or(Value::Null),
        ChannelEvent::Cancelled {
            external_order_id,
            source_version,
            reason,
        } => json!({ "cancelled": { "external_order_id": external_order_id,
                     "source_version": source_version, "reason": reason } }),
        ChannelEvent::NotYet {
            external_order_id,
            reason,
        } => json!({ "not_yet": { "external_order_id": external_order_id, "reason": reason } }),
    }
}

/// Replay the stored payloads of `channel` since `since_ms` through both mappings.
pub async fn diff(
    store: &Store,
    channel: &str,
    current: &ChannelMapping,
    proposed: &ChannelMapping,
    since_ms: i64,
) -> anyhow::Result<MappingDiff> {
    let messages = store
        .inbox_of_source(&format!("channel:{channel}"), since_ms)
        .await?;
    let mut changes = Vec::new();
    for m in &messages {
        let before = map_payload(channel, current, &m.body).map(|e| event_json(&e));
        let after = map_payload(channel, proposed, &m.body).map(|e| event_json(&e));
        let change = |kind, fields, error| PayloadChange {
            inbox_id: m.id,
            message_key: m.message_key.clone(),
            kind,
            fields,
            error,
        };
        match (before, after) {
            (Ok(a), Ok(b)) => {
                let fields = differences(&a, &b, Arrays::Indexed);
                if !fields.is_empty() {
                    changes.push(change("changed", fields, None));
                }
            }
            (Ok(_), Err(e)) => {
                changes.push(change("unreadable", BTreeMap::new(), Some(e.to_string())))
            }
            (Err(e), Ok(_)) => {
                changes.push(change("readable", BTreeMap::new(), Some(e.to_string())))
            }
            (Err(_), Err(_)) => {}
        }
    }
    Ok(MappingDiff {
        channel: channel.to_owned(),
        payloads: messages.len(),
        unchanged: messages.len() - changes.len(),
        changes,
    })
}

fn text_report(d: &MappingDiff) -> String {
    let mut s = format!(
        "channel {}: {} payload(s), {} unchanged, {} changed\n",
        d.channel,
        d.payloads,
        d.unchanged,
        d.changes.len()
    );
    for c in &d.changes {
        match c.kind {
            "changed" => {
                s.push_str(&format!(
                    "inbox {} ({}): changed\n",
                    c.inbox_id, c.message_key
                ));
                for (field, [a, b]) in &c.fields {
                    s.push_str(&format!("  {field}: {a} → {b}\n"));
                }
            }
            kind => s.push_str(&format!(
                "inbox {} ({}): {kind}: {}\n",
                c.inbox_id,
                c.message_key,
                c.error.as_deref().unwrap_or("")
            )),
        }
    }
    s
}
