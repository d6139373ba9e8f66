//! The `sigillo` command: see ARCHITECTURE.md §4 for the contract.

mod blobs;
mod check;
mod commands;
mod config;
mod dev;
mod list_service;
mod office;
mod trust_lists;
mod titolario;
mod token;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "sigillo", version, about = "Protocollo informatico da PEC per i comuni")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply the database migrations and create the configured AOO and register.
    Migrate,
    /// Run the service: the dashboard, the IMAP intake and the outbox worker.
    Serve(ServeArgs),
    /// Staff accounts of the dashboard.
    #[command(subcommand)]
    User(user::UserCommand),
    /// API tokens for back-office systems.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Offices registrations are assigned to, and their members.
    #[command(subcommand)]
    Office(office::OfficeCommand),
    /// Developer tools (benchmark data).
    #[command(subcommand)]
    Dev(dev::DevCommand),
    /// Offline check of .eml / .p7m / .p7s / .pdf / .xml files.
    Check(check::CheckArgs),
    /// Trusted lists (ETSI TS 119 612).
    #[command(subcommand)]
    Trust(trust_lists::TrustCommand),
    /// Push raw messages through the same pipeline as the IMAP intake.
    Ingest(IngestArgs),
    /// The protocol register.
    #[command(subcommand)]
    Register(RegisterCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The blob store (raw messages and documents).
    #[command(subcommand)]
    Blobs(BlobsCommand),
    /// The titolario (piano di classificazione) of the AOO.
    #[command(subcommand)]
    Titolario(titolario::TitolarioCommand),
}

#[derive(Subcommand, Debug)]
enum BlobsCommand {
    /// Read every stored file and report those whose content no longer has its SHA-256,
    /// with what uses them (exit status 1 when any is damaged).
    Verify,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Do not run the outbox worker here (answers are still queued; another `sigillo serve`
    /// sends them).
    #[arg(long)]
    no_outbox: bool,
}

#[derive(Args, Debug)]
struct IngestArgs {
    /// one JSON object per message, one per line
    #[arg(long)]
    json: bool,
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum RegisterCommand {
    /// Export the registrations and annulments of a day or a year (a closed day: its stored
    /// files, byte for byte).
    Export(ExportArgs),
    /// Close past days: their export (JSON, CSV, PDF/A) is stored once and never rewritten.
    /// Without --date, every past day not yet closed (the service does this after midnight).
    Close(CloseArgs),
}

#[derive(Args, Debug)]
struct CloseArgs {
    /// Close only this day, as YYYY-MM-DD (in the register's time zone); it must be over.
    #[arg(long, value_parser = parse_date)]
    date: Option<chrono::NaiveDate>,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("period").required(true).args(["date", "year"])))]
struct ExportArgs {
    /// The day, as YYYY-MM-DD (in the register's time zone).
    #[arg(long, value_parser = parse_date)]
    date: Option<chrono::NaiveDate>,
    /// The year, as YYYY.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1900..=9999))]
    year: Option<i32>,
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    format: ExportFormat,
    /// Write the export to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ExportFormat {
    Csv,
    Json,
    /// PDF/A-2u with embedded fonts, for printing and keeping.
    Pdf,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Recompute the hash chain and report the first broken entry.
    Verify,
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date in the form YYYY-MM-DD"))
}

fn main() -> ExitCode {
    // Whatever happens, one line and a non-zero status, never a backtrace dump at users.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("sigillo: internal error{at}: {msg}");
    }));

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging();

    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Trust(c) => trust_lists::run(&c),
        Command::Migrate => run_async(commands::migrate()),
        Command::Serve(a) => run_async(commands::serve(commands::ServeParts { outbox: !a.no_outbox })),
        Command::User(c) => run_async(user::run(c)),
        Command::Token(c) => run_async(token::run(c)),
        Command::Office(c) => run_async(office::run(c)),
        Command::Titolario(c) => run_async(titolario::run(c)),
        Command::Dev(c) => run_async(dev::run(c)),
        Command::Ingest(a) => run_async(commands::ingest(a.files, a.json)),
        Command::Register(RegisterCommand::Export(a)) => {
            let period = match (a.date, a.year) {
                (Some(d), _) => sigillo_store::export::Period::Day(d),
                (None, Some(y)) => sigillo_store::export::Period::Year(y),
                (None, None) => unreachable!("clap requires one of --date and --year"),
            };
            let format = match a.format {
                ExportFormat::Csv => commands::ExportAs::Data(sigillo_store::export::Format::Csv),
                ExportFormat::Json => commands::ExportAs::Data(sigillo_store::export::Format::Json),
                ExportFormat::Pdf => commands::ExportAs::Pdf,
            };
            run_async(commands::export(period, format, a.output))
        }
        Command::Register(RegisterCommand::Close(a)) => run_async(commands::close(a.date)),
        Command::Audit(AuditCommand::Verify) => run_async(commands::audit_verify()),
        Command::Blobs(BlobsCommand::Verify) => run_async(blobs::verify_command()),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGILLO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour()).init();
}

/// Colour codes only when the log goes to a terminal, and never with `NO_COLOR` set
/// (<https://no-color.org>): a log written to a file, a pipe or journald holds plain text.
fn colour() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Runs an async command; an error is one line on standard error and exit status 2.
fn run_async(fut: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sigillo: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sigillo: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
