//! `sigillo check [--trust DIR] [--json] FILE…`: offline check of messages and documents
//! (ARCHITECTURE.md §4). One report per file; a file that cannot be read or is not a
//! message gets a one-line error naming it, and the other files are still checked.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sigillo_pec::Checker;

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
    let mut checker = Checker::new(std::time::SystemTime::now());
    match &args.trust {
        Some(dir) => {
            let loaded = load_anchors(&dir.join("pec"), |c, b| c.add_pec_anchors(b), &mut checker)
                .and_then(|()| load_anchors(&dir.join("signatures"), |c, b| c.add_document_anchors(b), &mut checker));
            if let Err(e) = loaded {
                eprintln!("sigillo check: {e}");
                return ExitCode::from(2);
            }
        }
        None => eprintln!(
            "sigillo check: attenzione, nessuna directory di fiducia (--trust o SIGILLO_TRUST_DIR): \
             nessuna firma di gestore PEC risulterà attendibile"
        ),
    }

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

/// The cause of an I/O error in Italian, with the system's own text for the rare kinds.
fn io_cause(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "file inesistente".to_owned(),
        ErrorKind::PermissionDenied => "permesso negato".to_owned(),
        ErrorKind::IsADirectory => "è una directory, non un file".to_owned(),
        _ => e.to_string(),
    }
}

/// Loads every regular file of a trust folder (PEM or DER). A missing folder is a usage
/// error: a typo in `--trust` must not silently make every envelope untrusted.
pub(crate) fn load_anchors(
    dir: &Path,
    add: impl Fn(&mut Checker, &[u8]) -> Result<(), sigillo_pec::PecError>,
    checker: &mut Checker,
) -> Result<(), String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: directory di fiducia non leggibile: {}", dir.display(), io_cause(&e)))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths.into_iter().filter(|p| p.is_file()) {
        let bytes =
            std::fs::read(&p).map_err(|e| format!("{}: certificato non leggibile: {}", p.display(), io_cause(&e)))?;
        add(checker, &bytes).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}
