//! Benchmarks. Figures go to README's Performance section with the command
//! that produced them; nothing here is a timed test.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {}
}
