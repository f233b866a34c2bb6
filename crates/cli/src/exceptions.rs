//! `crossdock exceptions list|replay`: the exception queue read and
//! replayed straight from the store, for when the hub's API is not at hand.

use anyhow::Context;
use clap::{Args, Subcommand};
use crossdock_store::ExceptionFilter;

use crate::store_args::StoreArgs;

#[derive(Args)]
pub struct ExceptionFilterArgs {
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    class: Option<String>,
    #[arg(long)]
    channel: Option<String>,
    #[arg(long)]
    step: Option<String>,
    /// Created at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Created before this RFC 3339 time.
    #[arg(long)]
    until: Option<String>,
}

impl ExceptionFilterArgs {
    fn filter(&self, status: Option<String>) -> anyhow::Result<ExceptionFilter> {
        let time = |s: &Option<String>| -> anyhow::Result<Option<i64>> {
            s.as_deref()
                .map(|t| {
                    chrono_parse(t).with_context(|| {
                        format!("{t:?} is not an RFC 3339 time (2026-11-26T10:00:00Z)")
                    })
                })
                .transpose()
        };
        Ok(ExceptionFilter {
            id: self.id.clone(),
            status,
            channel: self.channel.clone(),
            step: self.step.clone(),
            class: self.class.clone(),
            since: time(&self.since)?,
            until: time(&self.until)?,
            limit: None,
        })
    }
}

fn chrono_parse(s: &str) -> anyhow::Result<i64> {
    let t = humantime::parse_rfc3339_weak(s)?;
    Ok(i64::try_from(
        t.duration_since(std::time::UNIX_EPOCH)?.as_millis(),
    )?)
}

#[derive(Subcommand)]
pub enum ExceptionsCommand {
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filter: ExceptionFilterArgs,
        /// open, replayed or resolved; all when omitted.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Re-run the failed step of every open exception matching the filter.
    /// Effects already applied are not repeated. A running hub picks the
    /// replayed jobs up within its poll interval.
    Replay {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filter: ExceptionFilterArgs,
    },
}

pub async fn run(cmd: ExceptionsCommand) -> anyhow::Result<()> {
    match cmd {
        ExceptionsCommand::List {
            store,
            filter,
            status,
            json,
        } => {
            let s = store.open().await?;
            let list = s.exceptions(&filter.filter(status)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for e in list {
                    println!(
                        "{}  {:<9} {:<10} {:<18} {}  {}",
                        e.id,
                        e.status.as_str(),
                        e.class.as_str(),
                        e.step,
                        e.entity_key,
                        e.reason
                    );
                }
            }
            Ok(())
        }
        ExceptionsCommand::Replay { store, filter } => {
            let s = store.open().await?;
            let now = chrono_now();
            let replayed = s
                .replay_exceptions(&filter.filter(None)?, "cli", now)
                .await?;
            println!("replayed {} exception(s)", replayed.len());
            for e in replayed {
                println!("  {}  {:<18} {}", e.id, e.step, e.entity_key);
            }
            Ok(())
        }
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
