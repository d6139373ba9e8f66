//! `sigillo token add NAME --scope read|write`: an API token for a back-office system, made
//! from the command line (scripts, provisioning). The token is printed once on standard
//! output and only its SHA-256 is stored, as for tokens made in the dashboard.

use std::process::ExitCode;

use sigillo_store::register::{Actor, Sha256};
use sigillo_store::staff::{self, ApiScope};

use crate::commands::{load_config, open};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Scope {
    /// The read-only API.
    Read,
    /// Reading, and registering (`POST /api/v1/registrations`).
    Write,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it on standard output (it is shown only once).
    Add {
        /// The system that will use it (shown in the dashboard and the audit trail).
        name: String,
        #[arg(long, value_enum, default_value = "read")]
        scope: Scope,
    },
}

pub async fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, _) = open(&config).await?;
    let actor = Actor::parse("cli")?;
    match cmd {
        TokenCommand::Add { name, scope } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                anyhow::bail!("token name refused: 1 to 200 characters, no control characters");
            }
            let scope = match scope {
                Scope::Read => ApiScope::Read,
                Scope::Write => ApiScope::Write,
            };
            let token = sigillo_web::auth::random_token();
            let mut tx = pool.begin().await?;
            let id = staff::create_api_token(&mut tx, &actor, name, scope, &Sha256::of(token.as_bytes())).await?;
            tx.commit().await?;
            tracing::info!(token.id = id, scope = scope.as_str(), "API token created");
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
