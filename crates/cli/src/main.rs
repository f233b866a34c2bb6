#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI talks on stdout/stderr

//! `crossdock`: the hub, its simulated estate, and the operator's tools.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crossdock::config::Config;
use crossdock::store_args::StoreArgs;
use crossdock::{
    authority, bench, demo, edi, exceptions, hub, inventory, keys, mapping, orders, routing, rules,
    settlement, translate,
};

#[derive(Parser)]
#[command(
    name = "crossdock",
    version,
    about = "Retail integration hub: orders, ERP, warehouses, channels"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The hub and a simulated estate in one process, on the embedded store.
    Demo(demo::DemoArgs),
    /// The simulated estate alone (channel, ERP, warehouses), from the [sim] table.
    Sim {
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the hub. SIGHUP reads the configuration file again and applies
    /// [rules] and [routing]; any other change is refused (logged and
    /// recorded with its reason) until a restart.
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// Who runs it, recorded with each configuration version (default:
        /// the OS user).
        #[arg(long = "as", value_name = "NAME")]
        operator: Option<String>,
    },
    /// Create or upgrade the store's tables.
    Migrate(StoreArgs),
    /// Inspect orders.
    Orders {
        #[command(subcommand)]
        command: orders::OrdersCommand,
    },
    /// Inspect and replay the exception queue.
    Exceptions {
        #[command(subcommand)]
        command: exceptions::ExceptionsCommand,
    },
    /// Marketplace settlements: import, show, residuals, resolve.
    Settlement {
        #[command(subcommand)]
        command: settlement::SettlementCommand,
    },
    /// API keys: create (the secret is shown once), list, revoke.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Print the JSON Schema of the canonical model.
    Schema,
    /// Print the `/v1` API's OpenAPI 3.1 document, as `GET /v1/openapi.json`
    /// serves it and `docs/openapi.json` keeps it.
    Openapi,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Rehearse a day: the hub against a simulated estate in virtual time.
    Simulate(crossdock::simulate::SimulateArgs),
    /// Benchmarks (figures for README's Performance section).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// X12 EDI tools.
    Edi {
        #[command(subcommand)]
        command: edi::EdiCommand,
    },
    /// Map a marketplace payload to its canonical form (JSON on stdout).
    Translate {
        /// shopify-order, shopify-refund, shopify-fulfillment,
        /// shopify-inventory-level, amazon-order, amazon-shipment-confirmation,
        /// amazon-listings-feed, walmart-order, walmart-inventory, or the name
        /// of a `kind = "mapped"` channel of the `--config` file.
        #[arg(long)]
        from: translate::From,
        /// The hub configuration defining the channel named by `--from`.
        #[arg(long)]
        config: Option<PathBuf>,
        file: PathBuf,
    },
    /// Mapped channels' mappings: what a new one would change.
    Mapping {
        #[command(subcommand)]
        command: mapping::MappingCommand,
    },
    /// Fulfilment routing: explain decisions, try other rules.
    Routing {
        #[command(subcommand)]
        command: routing::RoutingCommand,
    },
    /// Order rules (validation, enrichment, holds, tax): explain an
    /// order's evaluation, try other rules on recorded orders.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Stock and what each channel is offered.
    Inventory {
        #[command(subcommand)]
        command: inventory::InventoryCommand,
    },
    /// The system of record for each kind of data (`[authority]`).
    Authority {
        #[command(subcommand)]
        command: authority::AuthorityCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file; errors name the file, line and key.
    Check { file: PathBuf },
    /// What changing CURRENT to NEW would change: the keys (secrets
    /// hidden), and routing, order rules and availability replayed on the
    /// store. Exit 0: no change; 1: changes; 2: invalid.
    Plan(crossdock::plan::PlanArgs),
    /// The configuration versions the hubs on a store ran or refused,
    /// newest first: hash (secrets left out), time, who, trigger, outcome.
    Versions {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CROSSDOCK_LOG").unwrap_or_else(|_| {
                // A rehearsal's findings are its report; the hub's
                // warnings during it are part of what is simulated.
                tracing_subscriber::EnvFilter::new(match cli.command {
                    Command::Simulate(_) => "error",
                    _ => "warn,crossdock=info",
                })
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A rehearsal runs one step at a time, and every store round trip is a
    // hand-off between the runtime's thread and SQLite's: on one core that
    // is a context switch, across cores a cross-CPU wake-up, which costs
    // twice the run's time on a small VM. So one thread for the runtime,
    // and the process (every thread it starts inherits this) on one core.
    let mut builder = match cli.command {
        Command::Simulate(_) => {
            if let Some(core) = core_affinity::get_core_ids().and_then(|ids| ids.last().copied()) {
                core_affinity::set_for_current(core);
            }
            tokio::runtime::Builder::new_current_thread()
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Sim { config } => run_sim(&config).await,
        Command::Serve { config, operator } => serve(&config, operator.as_deref()).await,
        Command::Migrate(store) => {
            let s = store.open().await?;
            s.migrate().await?;
            println!("store is up to date ({:?})", s.backend());
            Ok(())
        }
        Command::Orders { command } => orders::run(command).await,
        Command::Exceptions { command } => exceptions::run(command).await,
        Command::Keys { command } => keys::run(command).await,
        Command::Settlement { command } => settlement::run(command).await,
        Command::Schema => {
            let all: serde_json::Map<String, serde_json::Value> =
                crossdock_model::canonical_schemas()
                    .into_iter()
                    .map(|(name, schema)| {
                        (
                            name.to_owned(),
                            serde_json::to_value(schema).unwrap_or_default(),
                        )
                    })
                    .collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
            Ok(())
        }
        Command::Openapi => {
            print!("{}", crossdock_server::openapi_document());
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Plan(args),
        } => {
            let code = crossdock::plan::run(args).await;
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Versions { store, limit, json },
        } => {
            let s = store.open().await?;
            let versions = s.config_versions(limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
            } else {
                for v in &versions {
                    println!("{}", describe_version(v));
                }
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let c = Config::load(&file)?;
            for d in &c.deprecations {
                eprintln!("{}: warning: {d}", file.display());
            }
            println!(
                "{}: ok ({} channel(s), {} warehouse(s), store {})",
                file.display(),
                c.channels.len(),
                c.warehouses.len(),
                c.database_url_shown()
            );
            Ok(())
        }
        Command::Bench { command } => bench::run(command).await,
        Command::Simulate(args) => crossdock::simulate::run(args).await,
        Command::Edi { command } => edi::run(command),
        Command::Translate { from, config, file } => translate::run(from, config.as_deref(), &file),
        Command::Routing { command } => routing::run(command).await,
        Command::Mapping { command } => mapping::run(command).await,
        Command::Rules { command } => rules::run(command).await,
        Command::Inventory { command } => inventory::run(command).await,
        Command::Authority { command } => authority::run(command),
    }
}

/// One line about a configuration version.
fn describe_version(v: &crossdock_store::ConfigVersion) -> String {
    let at = chrono::DateTime::from_timestamp_millis(v.at)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| v.at.to_string());
    let hash = if v.hash.is_empty() { "-" } else { &v.hash };
    let mut line = format!(
        "{at} {:<8} {:<7} {hash:.12} by {} on {}",
        v.outcome, v.triggered_by, v.who, v.hub_id
    );
    if let Some(reason) = &v.reason {
        line.push_str(&format!(": {reason}"));
    }
    line
}

/// SIGHUPs, or nothing where there are none.
struct Hangups(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangups {
    fn new() -> Hangups {
        #[cfg(unix)]
        {
            Hangups(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
        }
        #[cfg(not(unix))]
        Hangups()
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.0 {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return ctrl_c.await.unwrap_or(());
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

async fn serve(path: &std::path::Path, operator: Option<&str>) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    for d in &config.deprecations {
        tracing::warn!(config = %path.display(), "{d}");
    }
    // Listening for SIGHUP from the start: until then its default action
    // would end the process.
    let mut hangups = Hangups::new();
    let listener = tokio::net::TcpListener::bind(&config.hub.listen)
        .await
        .with_context(|| format!("binding {}", config.hub.listen))?;
    let mut hub = hub::start_as(
        &config,
        listener,
        std::sync::Arc::new(crossdock_engine::SystemClock),
        operator,
    )
    .await?;
    let chosen = std::env::var(keys::BOOTSTRAP_ENV).ok();
    if let Some(secret) = keys::bootstrap(&hub.keys, chosen.as_deref()).await? {
        eprintln!(
            "crossdock: the store had no API keys, so it has one now: \"admin\" (scope admin).\n\
             Its secret is shown only now; /v1 needs it as `Authorization: Bearer <secret>`:\n{}",
            secret.expose()
        );
    }
    eprintln!(
        "crossdock: serving on {} (store {})",
        hub.url,
        config.database_url_shown()
    );
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = hangups.next() => match hub.reload(path).await {
                Ok(hub::Reloaded::Applied { sections, hash }) => eprintln!(
                    "crossdock: configuration reloaded ({}; version {hash:.12})",
                    sections.join(", ")
                ),
                Ok(hub::Reloaded::Unchanged) => {
                    eprintln!("crossdock: configuration unchanged");
                }
                Ok(hub::Reloaded::Refused { reason }) => {
                    eprintln!("crossdock: configuration reload refused: {reason}");
                }
                Err(e) => eprintln!("crossdock: configuration reload failed: {e:#}"),
            },
        }
    }
    eprintln!("crossdock: stopping");
    hub.stop().await
}

async fn run_sim(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let sim = config.sim.context("the configuration has no [sim] table")?;
    let estate = crossdock_sim::Estate::start(sim).await?;
    eprintln!(
        "crossdock sim: channel {} · erp {}",
        estate.channel_url(),
        estate.erp_url()
    );
    for (name, url) in estate.warehouse_urls() {
        eprintln!("crossdock sim: warehouse {name} {url}");
    }
    for (name, url) in [
        ("shopify", estate.shopify_url()),
        ("amazon", estate.amazon_url()),
        ("walmart", estate.walmart_url()),
    ] {
        if let Some(url) = url {
            eprintln!("crossdock sim: {name} {url}");
        }
    }
    shutdown_signal().await;
    estate.shutdown().await;
    Ok(())
}
