//! `sigillo office add|list|add-member|remove-member`: the offices registrations are
//! assigned to, and who works in them, from the command line (provisioning a comune's
//! organisation chart from a script), audited as the dashboard's `/uffici` pages are.

use std::process::ExitCode;

use sigillo_store::assignment;
use sigillo_store::register::Actor;
use sigillo_store::staff;

use crate::commands::{load_config, open};

#[derive(clap::Subcommand, Debug)]
pub enum OfficeCommand {
    /// Create an office.
    Add {
        /// A short code: 1 to 16 letters, digits, '_', '.' or '-' (e.g. TRIB).
        code: String,
        /// The name shown in the dashboard (e.g. "Ufficio tributi").
        name: String,
    },
    /// List the offices and their members, one office a line.
    List,
    /// Add a staff account to an office: it sees what is assigned to the office.
    AddMember { code: String, username: String },
    /// Remove a staff account from an office (what it did stays in the history).
    RemoveMember { code: String, username: String },
}

pub async fn run(cmd: OfficeCommand) -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, _) = open(&config).await?;
    let actor = Actor::parse("cli")?;
    let mut tx = pool.begin().await?;
    match cmd {
        OfficeCommand::Add { code, name } => {
            staff::create_office(&mut tx, &actor, &code, &name).await?;
            println!("office {} created", code.trim());
        }
        OfficeCommand::List => {
            for o in staff::list_offices(&mut tx).await? {
                let members = assignment::members(&mut tx, o.id).await?;
                let names: Vec<&str> = members.iter().map(|m| m.username.as_str()).collect();
                let state = if o.active { "attivo" } else { "disattivato" };
                println!("{}\t{}\t{state}\t{}", o.code, o.name, names.join(","));
            }
        }
        OfficeCommand::AddMember { code, username } => {
            let id = office_id(&staff::list_offices(&mut tx).await?, &code)?;
            assignment::add_member(&mut tx, &actor, id, &username).await?;
            println!("{} added to office {}", username.trim(), code.trim());
        }
        OfficeCommand::RemoveMember { code, username } => {
            let id = office_id(&staff::list_offices(&mut tx).await?, &code)?;
            assignment::remove_member(&mut tx, &actor, id, &username).await?;
            println!("{} removed from office {}", username.trim(), code.trim());
        }
    }
    tx.commit().await?;
    Ok(ExitCode::SUCCESS)
}

fn office_id(offices: &[staff::Office], code: &str) -> anyhow::Result<i64> {
    offices
        .iter()
        .find(|o| o.code == code.trim())
        .map(|o| o.id)
        .ok_or_else(|| anyhow::anyhow!("office «{}» does not exist (sigillo office list shows them)", code.trim()))
}
