#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI talks on stdout/stderr

//! `crossdock`: the hub, its simulated estate, and the operator's tools.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use crossdock_store::{ExceptionFilter, OrderFilter};

use crossdock::config::Config;
use crossdock::store_args::StoreArgs;
use crossdock::{bench, demo, edi, hub, inventory, routing, translate};

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
    /// Run the hub.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Create or upgrade the store's tables.
    Migrate(StoreArgs),
    /// Inspect orders.
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// Inspect and replay the exception queue.
    Exceptions {
        #[command(subcommand)]
        command: ExceptionsCommand,
    },
    /// Print the JSON Schema of the canonical model.
    Schema,
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
    /// Fulfilment routing: explain decisions, try other rules.
    Routing {
        #[command(subcommand)]
        command: routing::RoutingCommand,
    },
    /// Stock and what each channel is offered.
    Inventory {
        #[command(subcommand)]
        command: inventory::InventoryCommand,
    },
}

#[derive(Subcommand)]
enum OrdersCommand {
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct ExceptionFilterArgs {
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
enum ExceptionsCommand {
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

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file; errors name the file, line and key.
    Check { file: PathBuf },
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
        Command::Serve { config } => serve(&config).await,
        Command::Migrate(store) => {
            let s = store.open().await?;
            s.migrate().await?;
            println!("store is up to date ({:?})", s.backend());
            Ok(())
        }
        Command::Orders { command } => orders(command).await,
        Command::Exceptions { command } => exceptions(command).await,
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
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let c = Config::load(&file)?;
            println!(
                "{}: ok ({} channel(s), {} warehouse(s), store {})",
                file.display(),
                c.channels.len(),
                c.warehouses.len(),
                c.database_url()
            );
            Ok(())
        }
        Command::Bench { command } => bench::run(command).await,
        Command::Simulate(args) => crossdock::simulate::run(args).await,
        Command::Edi { command } => edi::run(command),
        Command::Translate { from, config, file } => translate::run(from, config.as_deref(), &file),
        Command::Routing { command } => routing::run(command).await,
        Command::Inventory { command } => inventory::run(command).await,
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

async fn serve(path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let listener = tokio::net::TcpListener::bind(&config.hub.listen)
        .await
        .with_context(|| format!("binding {}", config.hub.listen))?;
    let hub = hub::start(&config, listener).await?;
    eprintln!(
        "crossdock: serving on {} (store {})",
        hub.url,
        config.database_url()
    );
    shutdown_signal().await;
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

async fn orders(cmd: OrdersCommand) -> anyhow::Result<()> {
    match cmd {
        OrdersCommand::List {
            store,
            status,
            channel,
            limit,
            json,
        } => {
            let s = store.open().await?;
            let orders = s
                .orders(&OrderFilter {
                    status,
                    channel,
                    limit: Some(limit),
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&orders)?);
            } else {
                println!(
                    "{:<36}  {:<10}  {:<14}  {:<22}  {:>12}",
                    "ID", "CHANNEL", "EXTERNAL", "STATUS", "TOTAL"
                );
                for o in orders {
                    println!(
                        "{:<36}  {:<10}  {:<14}  {:<22}  {:>12}",
                        o.id,
                        o.channel,
                        o.external_id,
                        o.status.as_str(),
                        o.total.to_string()
                    );
                }
            }
            Ok(())
        }
        OrdersCommand::Show { id, store, json } => {
            let s = store.open().await?;
            let order = s
                .order(&id)
                .await?
                .with_context(|| format!("order {id} not found"))?;
            let key = crossdock_engine::order_entity_key(&id);
            let timeline = s.timeline(&key).await?;
            let effects = s.effects_for(&key).await?;
            let shipments = s.shipments_for(&id).await?;
            if json {
                let v = serde_json::json!({ "order": order, "timeline": timeline, "effects": effects, "shipments": shipments });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "order {} ({} {}) — {}  total {}",
                    order.id, order.channel, order.external_id, order.status, order.total
                );
                for l in &order.lines {
                    println!(
                        "  line {:<6} {:<10} qty {:>3} shipped {:>3} cancelled {:>3}  {}",
                        l.line_id,
                        l.sku,
                        l.quantity,
                        l.shipped_quantity,
                        l.cancelled_quantity,
                        l.unit_price
                    );
                }
                println!("effects:");
                for e in effects {
                    println!(
                        "  {:<44} {:<9} attempts {}",
                        e.key,
                        e.status.as_str(),
                        e.attempts
                    );
                }
                println!("timeline:");
                for ev in timeline {
                    let at = chrono_fmt(ev.at);
                    println!("  {at}  {:<24} {}", ev.kind, ev.detail);
                }
            }
            Ok(())
        }
    }
}

fn chrono_fmt(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

async fn exceptions(cmd: ExceptionsCommand) -> anyhow::Result<()> {
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
