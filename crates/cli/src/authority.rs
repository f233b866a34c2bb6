//! `crossdock authority show`: the system-of-record registry a
//! configuration gives the hub (`[authority]` made effective, the
//! deprecated `[inventory.authority]` folded in), as the hub enforces it.
//! The running hub answers the same registry, with what it kept and did not
//! apply, at `GET /v1/authority`.

use std::fmt::Write as _;

use clap::Subcommand;
use crossdock_model::{Authority, DataKind};

use crate::config::Config;

#[derive(Subcommand)]
pub enum AuthorityCommand {
    /// For each kind of data, the system whose word applies.
    Show {
        /// The hub configuration.
        #[arg(long)]
        config: std::path::PathBuf,
        /// The registry as JSON, in the shape `[authority]` is written.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: AuthorityCommand) -> anyhow::Result<()> {
    match command {
        AuthorityCommand::Show { config, json } => {
            let loaded = Config::load(&config)?;
            for d in &loaded.deprecations {
                eprintln!("{}: warning: {d}", config.display());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&loaded.authority)?);
            } else {
                print!("{}", render(&loaded.authority));
            }
            Ok(())
        }
    }
}

/// One line per kind: its owner, then the scopes that name another.
pub fn render(authority: &Authority) -> String {
    let mut out = String::from("kind          owner                 per location / channel\n");
    for kind in DataKind::ALL {
        let rule = authority.rule(kind);
        let default = rule
            .default
            .as_ref()
            .map_or_else(|| "any source".to_owned(), ToString::to_string);
        let scoped = rule
            .scoped
            .iter()
            .map(|(scope, owner)| format!("{scope} = {owner}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "{:<13} {default:<21} {scoped}", kind.as_str());
    }
    out.push_str(
        "\nchannel = the order's own channel; warehouse-of-record = the warehouses an order \
         was released to (for stock: the location's own warehouse).\n",
    );
    out
}
