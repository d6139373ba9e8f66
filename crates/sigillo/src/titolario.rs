//! `sigillo titolario import FILE --name NAME --valid-from DATE [--valid-to DATE]`: a version
//! of the AOO's titolario from a CSV file (the format of `sigillo_protocol::titolario`, e.g.
//! `docs/examples/titolario-comuni-2005.csv`). Every fault of the file is printed with its
//! line and column, and nothing is imported unless the whole file is right.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use sigillo_protocol::titolario::{self, ImportInput};
use sigillo_store::register::Actor;

use crate::commands::{load_config, open};

#[derive(clap::Subcommand, Debug)]
pub enum TitolarioCommand {
    /// Import a CSV file as a new version (the version in force ends the day before).
    Import {
        /// The CSV file: header titolo;classe;sottoclasse;descrizione.
        file: PathBuf,
        /// The version's name, e.g. "Piano di classificazione 2005".
        #[arg(long)]
        name: String,
        /// First day in force (YYYY-MM-DD).
        #[arg(long, value_parser = crate::parse_date)]
        valid_from: chrono::NaiveDate,
        /// Last day in force (YYYY-MM-DD); none: in force until the next version.
        #[arg(long, value_parser = crate::parse_date)]
        valid_to: Option<chrono::NaiveDate>,
    },
}

pub async fn run(cmd: TitolarioCommand) -> anyhow::Result<ExitCode> {
    let TitolarioCommand::Import { file, name, valid_from, valid_to } = cmd;
    let csv = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let config = load_config()?;
    let (pool, register) = open(&config).await?;
    let input = ImportInput { name, valid_from, valid_to, csv };
    match titolario::import(&pool, &register, &Actor::parse("cli")?, input).await {
        Ok(done) => {
            println!("titolario version {} imported: {} entries, in force from {valid_from}", done.version_id, done.entries);
            Ok(ExitCode::SUCCESS)
        }
        Err(sigillo_protocol::Error::Titolario(lines)) => {
            for l in &lines {
                eprintln!("{}: {l}", file.display());
            }
            eprintln!("nothing imported: {} fault(s) in {}", lines.len(), file.display());
            Ok(ExitCode::FAILURE)
        }
        Err(sigillo_protocol::Error::Invalid(f)) => {
            eprintln!("nothing imported: --{}: {}", f.field.replace('_', "-"), f.message);
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
