//! Benchmarks. Figures go to README's Performance section with the command
//! that produced them; nothing here is a timed test. The load generator
//! runs in the same process as the hub, on the same cores: the figures are
//! for the machine as a whole, hub and client together.
//!
//! One module per benchmark (`bench/<name>.rs`, its arguments, its run and
//! its report); `common` and `estate` are what several of them share.

use clap::Subcommand;

pub mod api;
pub mod availability;
pub mod availability_sync;
mod common;
mod estate;
pub mod governor;
pub mod http;
pub mod ingest;
pub mod lifecycle;
pub mod rules;
pub mod settlement;
pub mod x12;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable ingest: webhooks acknowledged only after their inbox commit.
    Ingest(ingest::IngestArgs),
    /// The whole simulated lifecycle: channel → hub → ERP → warehouse → channel → invoice → closed.
    Lifecycle(lifecycle::LifecycleArgs),
    /// The ERP governor against a simulated ERP that refuses anything over
    /// its limits: orders offered at a multiple of what the ERP can take.
    Governor(governor::GovernorArgs),
    /// The API's door: many keys at a fixed rate, one over its own; which
    /// keys got 429s, and the p99 the key check adds.
    Api(api::ApiArgs),
    /// Any HTTP endpoint: exactly N POSTs of one body (templated) at a fixed
    /// concurrency, keep-alive; the load generator of `bench/peers/run.sh`.
    Http(http::HttpArgs),
    /// Available-to-promise: full recompute and diff of a synthetic
    /// catalogue (SKUs × channels × locations), time and peak memory.
    Availability(availability::AvailabilityArgs),
    /// One stock change to an owed channel update in the running hub
    /// (recompute + outbox commit), latency percentiles.
    AvailabilitySync(availability_sync::AvailabilitySyncArgs),
    /// Order rules: a set of N rules of every kind judging synthetic
    /// orders, the time each order's evaluation takes.
    Rules(rules::RulesArgs),
    /// The X12 reader: strict parse, typed 945/846 reading and canonical
    /// mapping of a synthetic in-memory corpus, throughput and latency.
    X12(x12::X12Args),
    /// Settlement import: a generated ~100 MB Amazon V2 file imported into
    /// a store (`--store`) and reconciled in memory, time and peak memory.
    Settlement(settlement::SettlementArgs),
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(args) => ingest::run(args).await?,
        BenchCommand::Lifecycle(args) => lifecycle::run(args).await?,
        BenchCommand::Governor(args) => governor::run(args).await?,
        BenchCommand::Http(args) => http::run(args).await?,
        BenchCommand::Api(args) => api::run(args).await?,
        BenchCommand::Availability(args) => availability::run(&args)?,
        BenchCommand::AvailabilitySync(args) => availability_sync::run(&args).await?,
        BenchCommand::X12(args) => x12::run(&args)?,
        BenchCommand::Rules(args) => rules::run(&args)?,
        BenchCommand::Settlement(args) => settlement::run(&args).await?,
    }
    Ok(())
}
