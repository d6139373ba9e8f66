//! `sigillo check [--trust DIR] [--json] FILE…`: offline check of messages and documents
//! (ARCHITECTURE.md §4). One report per file: a message report, or a signature report
//! for anything that is not a message (`NO_SIGNATURE_FOUND` for a file with no signature).
//! A file that cannot be read, is empty or is a broken message gets a one-line error
//! naming it, and the other files are still checked.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use sigillo_pec::Checker;
use sigillo_protocol::trust::{self, io_cause};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// trust dir with pec/ and signatures/ subfolders
    #[arg(long, env = "SIGILLO_TRUST_DIR")]
    pub trust: Option<PathBuf>,
    /// one JSON object per file, one per line
    #[arg(long)]
    pub json: bool,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let now = std::time::SystemTime::now();
    let checker = match &args.trust {
        Some(dir) => match trust::checker(dir, now) {
            Ok(checker) => checker,
            Err(e) => {
                eprintln!("sigillo check: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            eprintln!(
                "sigillo check: attenzione, nessuna directory di fiducia (--trust o SIGILLO_TRUST_DIR): \
                 nessuna firma di gestore PEC risulterà attendibile"
            );
            Checker::new(now)
        }
    };

    let mut all_ok = true;
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let label = file.display().to_string();
        // Messages and documents are told apart by content, never by the file's extension.
        let line = match std::fs::read(file) {
            Err(e) => Err(format!("impossibile leggere il file: {}", io_cause(&e))),
            Ok(raw) => checker.check(&label, &raw).map_err(|e| e.to_string()),
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
