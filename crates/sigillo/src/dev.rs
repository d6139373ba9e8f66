//! `sigillo dev …`: tools for developers and benchmarks, never for a production register.

use std::process::ExitCode;
use std::time::Instant;

use sigillo_store::seed;

use crate::commands::{load_config, open};

#[derive(clap::Subcommand, Debug)]
pub enum DevCommand {
    /// Fill an empty register with generated registrations and documents (benchmarks only).
    Seed {
        /// How many registrations.
        #[arg(long, default_value_t = 1_000_000)]
        registrations: u32,
        /// Registrations a day: sets how many days (ending now) the seed spans.
        #[arg(long, default_value_t = 400)]
        per_day: u32,
    },
}

pub async fn run(cmd: DevCommand) -> anyhow::Result<ExitCode> {
    let DevCommand::Seed { registrations, per_day } = cmd;
    let config = load_config()?;
    let (pool, register) = open(&config).await?;
    let shares = seed::plan(&register, registrations, per_day, chrono::Utc::now())?;
    let started = Instant::now();
    seed::seed(&pool, &register, &shares, |year, done| {
        eprintln!("{year}: {done} registrations ({:.0} s)", started.elapsed().as_secs_f64());
    })
    .await?;
    for s in &shares {
        println!("{}: numbers 1 to {} ({} to {})", s.year, s.count, s.from.to_rfc3339(), s.to.to_rfc3339());
    }
    println!("{registrations} registrations seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
