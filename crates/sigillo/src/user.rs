//! `sigillo user add|passwd|disable`: staff accounts from the command line (the first
//! amministratore is made here). Passwords are read from standard input, never from the
//! command line, where `ps` and the shell history would show them.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::Context;
use sigillo_store::register::Actor;
use sigillo_store::staff::{self, Role, Username};

use crate::commands::{load_config, open};

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input (first line).
    Add {
        username: String,
        /// Full name, as shown in the dashboard.
        #[arg(long)]
        name: String,
        /// operatore, responsabile, amministratore, revisore or ufficio (office staff).
        #[arg(long)]
        role: String,
    },
    /// Set a new password (read from standard input); lifts a lockout, ends the sessions.
    Passwd { username: String },
    /// Disable an account and end its sessions (it is kept for the audit trail).
    Disable { username: String },
}

fn read_password(username: &Username) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    sigillo_web::auth::check_password_rule(&password, username.as_str()).map_err(|e| anyhow::anyhow!("password refused: {e}"))?;
    Ok(password)
}

pub async fn run(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, _) = open(&config).await?;
    // The command line acts as the local system administrator.
    let actor = Actor::parse("cli")?;
    let mut tx = pool.begin().await?;
    match cmd {
        UserCommand::Add { username, name, role } => {
            let username = Username::parse(&username)?;
            let role = Role::parse(&role)?;
            let phc = sigillo_web::auth::hash_password(&read_password(&username)?)?;
            staff::create_user(&mut tx, &actor, &username, &name, role, &phc).await?;
            println!("user {username} created with role {}", role.as_str());
        }
        UserCommand::Passwd { username } => {
            let username = Username::parse(&username)?;
            let phc = sigillo_web::auth::hash_password(&read_password(&username)?)?;
            staff::set_password(&mut tx, &actor, &username, &phc).await?;
            println!("password of {username} changed");
        }
        UserCommand::Disable { username } => {
            let username = Username::parse(&username)?;
            staff::disable_user(&mut tx, &actor, &username).await?;
            println!("user {username} disabled");
        }
    }
    tx.commit().await?;
    Ok(ExitCode::SUCCESS)
}
