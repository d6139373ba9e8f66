//! `pec-sim`: a local PEC provider for demos and tests. Commands: `pki init`, `serve`, `send`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sigillo_pec_sim::error::Error;
use sigillo_pec_sim::mail::Provider;
use sigillo_pec_sim::pki::{self, Pki};
use sigillo_pec_sim::provider::{DEFAULT_MAX_SIZE, Service};
use sigillo_pec_sim::send::{self, SendOptions};

#[derive(Parser)]
#[command(name = "pec-sim", about = "Gestore PEC locale per demo e test di Sigillo")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test PKI: provider, citizens' signatures, the comune's seal, Sigillo's trust dir.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// SMTP in, signed envelopes and receipts out over LMTP.
    Serve {
        #[arg(long)]
        pki: PathBuf,
        /// HOST:PORT to listen on (port 0: any free port, printed on stdout).
        #[arg(long)]
        smtp: String,
        /// HOST:PORT of the mail store's LMTP listener (Dovecot).
        #[arg(long)]
        lmtp: String,
        /// A PEC domain served (repeatable).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// The SMTP password of every user of the PEC domains.
        #[arg(long, default_value = "secret")]
        password: String,
        /// Largest message accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_SIZE)]
        max_size: usize,
    },
    /// Builds a message and submits it over SMTP; prints its Message-ID.
    Send {
        #[arg(long)]
        smtp: String,
        #[arg(long, requires = "password")]
        user: Option<String>,
        #[arg(long, requires = "user")]
        password: Option<String>,
        #[arg(long)]
        from: String,
        #[arg(long, required = true)]
        to: Vec<String>,
        #[arg(long)]
        subject: String,
        #[arg(long, default_value = "")]
        body: String,
        #[arg(long)]
        attach: Vec<PathBuf>,
        /// Sign each attachment (CAdES-BES, FILE.p7m) with a citizen's key of --pki.
        #[arg(long, requires = "pki")]
        sign_attachments: bool,
        #[arg(long)]
        pki: Option<PathBuf>,
        /// Citizen (directory under PKI/citizens); default: the sender's local part, else the first.
        #[arg(long)]
        signer: Option<String>,
    },
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Creates a new PKI in DIR.
    Init {
        dir: PathBuf,
        /// PEC domain (repeatable); the first is the provider's and the citizens'.
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Overwrite an existing PKI.
        #[arg(long)]
        force: bool,
        /// Use testpki's embedded (public) RSA keys instead of generating: fast, tests only.
        #[arg(long, hide = true)]
        pool_keys: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PEC_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal, never with NO_COLOR set: a log file holds plain text.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pec-sim: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pec-sim: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Pki { command: PkiCommand::Init { dir, domains, force, pool_keys } } => {
            let domains = if domains.is_empty() { vec![pki::DEFAULT_DOMAIN.to_owned()] } else { domains };
            let p = pki::init(&dir, &pki::InitOptions { domains, force, pool_keys })?;
            println!("pec-sim: PKI creata in {} (trust di Sigillo: {})", dir.display(), p.trust_dir().display());
            Ok(())
        }
        Command::Serve { pki, smtp, lmtp, domains, password, max_size } => {
            let p = Pki::load(&pki)?;
            let provider = Provider { domain: p.meta.provider_domain.clone(), gestore: p.meta.gestore.clone(), signer: p.provider };
            let service = Arc::new(Service {
                provider,
                domains: domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
                password,
                lmtp,
                max_size,
            });
            let listener = tokio::net::TcpListener::bind(&smtp)
                .await
                .map_err(|e| Error::Connect { addr: smtp.clone(), why: e.to_string() })?;
            let local = listener.local_addr().map_err(|e| Error::Connect { addr: smtp.clone(), why: e.to_string() })?;
            // Tests and compose read this line to learn the port.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "pec-sim: smtp listening on {local}");
            let _ = out.flush();
            drop(out);
            tracing::info!(%local, domains = service.domains.len(), "pec-sim serving");
            tokio::select! {
                () = sigillo_pec_sim::smtp::serve(listener, service) => Ok(()),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Command::Send { smtp, user, password, from, to, subject, body, attach, sign_attachments, pki, signer } => {
            let opts = SendOptions {
                smtp,
                auth: user.zip(password),
                from,
                to,
                subject,
                body,
                attachments: attach,
                sign_with: if sign_attachments { pki.map(|p| (p, signer)) } else { None },
            };
            let id = send::send(&opts).await?;
            println!("{id}");
            Ok(())
        }
    }
}
