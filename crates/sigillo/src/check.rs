//! `sigillo check [--trust DIR] [--json] FILE…`: offline check of messages and documents
//! (ARCHITECTURE.md §4). One report per file: a message report, or a signature report
//! for anything that is not a message (`NO_SIGNATURE_FOUND` for a file with no signature).
//! A file that cannot be read, is empty or is a broken message gets a one-line error
//! naming it, and the other files are still checked.
//!
//! Certificates are judged now, or at `--at`: a bare document at that time (or at its
//! trusted timestamp), a message's provider certificate at that time and its attachments at
//! the PEC's time reference. Each report says the time used and why (`judged_at`,
//! `time_source`).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use sigillo_pec::{Checker, ValidationTime};
use sigillo_protocol::trust::{self, io_cause};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// trust dir with signatures/ (document CAs) and optionally pec/ (PEC CAs beside the shipped AgID CA1)
    #[arg(long, env = "SIGILLO_TRUST_DIR")]
    pub trust: Option<PathBuf>,
    /// one JSON object per file, one per line
    #[arg(long)]
    pub json: bool,
    /// trusted list (ETSI TS 119 612) whose CA/QC services granted at the time of judgement
    /// are anchors for document signatures; the first is verified with
    /// --trusted-list-signers, the others (national lists) with the first one's pointers
    #[arg(long = "trusted-list", value_name = "URL_OR_PATH")]
    pub trusted_lists: Vec<String>,
    /// PEM with the certificates allowed to sign the first --trusted-list
    #[arg(long, value_name = "PEM")]
    pub trusted_list_signers: Option<PathBuf>,
    /// revocation of signing certificates: offline (the trust directory's CRLs only) or
    /// online (OCSP, else CRL, over HTTP; nothing is stored)
    #[arg(long, value_name = "offline|online", default_value = "offline", value_parser = parse_revocation)]
    pub revocation: sigillo_revocation::Mode,
    /// judge certificates at this time (RFC 3339, e.g. 2025-02-14T10:00:00+01:00) instead of now
    #[arg(long, value_name = "RFC3339", value_parser = parse_at)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn parse_revocation(s: &str) -> Result<sigillo_revocation::Mode, String> {
    s.parse().map_err(|_| format!("{s:?}: scrivere offline oppure online"))
}

fn parse_at(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("data e ora non valide ({e}): scrivere ad esempio 2025-02-14T10:00:00+01:00"))
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let now = std::time::SystemTime::now();
    let when = match args.at {
        Some(at) => ValidationTime::given(at),
        None => ValidationTime::now(now.into()),
    };
    // The lists first: a first list that does not verify stops everything, before any file
    // is looked at.
    let lists = match crate::trust_lists::load(&args.trusted_lists, args.trusted_list_signers.as_deref()) {
        Ok(set) => set,
        Err(line) => {
            eprintln!("sigillo check: {line}");
            return ExitCode::from(2);
        }
    };
    let mut checker = match &args.trust {
        Some(dir) => match trust::checker(dir, now) {
            Ok(checker) => checker,
            Err(e) => {
                eprintln!("sigillo check: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            let documents = if args.trusted_lists.is_empty() {
                "nessuna firma di documento risulterà attendibile"
            } else {
                "firme di documento verificate con i soli servizi delle liste di fiducia"
            };
            eprintln!(
                "sigillo check: attenzione, nessuna directory di fiducia (--trust o SIGILLO_TRUST_DIR): \
                 firme dei gestori PEC verificate con i soli certificati AgID CA1 inclusi, {documents}"
            );
            Checker::with_shipped_anchors(now)
        }
    };
    // CA/QC services are document anchors while they were granted: each document is judged
    // with those of its own time of judgement (a bare document at --at or now, a message's
    // attachments at the PEC's time); a service withdrawn by then is not one (its signers
    // come out INDETERMINATE).
    checker.add_listed_anchors(lists.listed_anchors());

    // Online: a small runtime of its own drives the requests while this thread checks.
    let _runtime = match args.revocation {
        sigillo_revocation::Mode::Offline => None,
        sigillo_revocation::Mode::Online => match online(&mut checker) {
            Ok(rt) => Some(rt),
            Err(e) => {
                eprintln!("sigillo check: verifica della revoca online non disponibile: {e}");
                return ExitCode::from(2);
            }
        },
    };

    let mut all_ok = true;
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let label = file.display().to_string();
        // Messages and documents are told apart by content, never by the file's extension.
        let line = match std::fs::read(file) {
            Err(e) => Err(format!("impossibile leggere il file: {}", io_cause(&e))),
            Ok(raw) => checker.check_at(&label, &raw, when).map_err(|e| e.to_string()),
        };
        let written = match line {
            Ok(report) if args.json => match serde_json::to_string(&report) {
                Ok(j) => writeln!(out, "{j}"),
                Err(e) => {
                    all_ok = false;
                    eprintln!("{label}: {e}");
                    Ok(())
                }
            },
            Ok(report) => writeln!(out, "{}", report.human_it()),
            Err(cause) => {
                all_ok = false;
                eprintln!("{label}: {cause}");
                if args.json {
                    // Built by hand so that "file" comes first, as in every other line.
                    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
                    writeln!(out, "{{\"file\":{},\"error\":{}}}", q(&label), q(&cause))
                } else {
                    Ok(())
                }
            }
        };
        if let Err(e) = written {
            // stdout closed (e.g. piped into `head`): nothing more can be reported.
            eprintln!("sigillo check: scrittura dell'output non riuscita: {e}");
            return ExitCode::from(2);
        }
    }
    if all_ok { ExitCode::SUCCESS } else { ExitCode::from(2) }
}

/// Gives `checker` an online revocation source driven by a one-thread runtime, returned to
/// be kept alive while checking.
fn online(checker: &mut Checker) -> Result<tokio::runtime::Runtime, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let source = sigillo_revocation::OnlineRevocation::new(rt.handle().clone(), None, sigillo_revocation::Limits::default())
        .map_err(|e| e.to_string())?;
    checker.set_revocation(Some(std::sync::Arc::new(source)));
    Ok(rt)
}
