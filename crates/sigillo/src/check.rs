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
    let (pec, docs) = match &args.trust {
        Some(dir) => match (read_anchors(&dir.join("pec")), read_anchors(&dir.join("signatures"))) {
            (Ok(p), Ok(d)) => (p, d),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("sigillo check: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            eprintln!(
                "sigillo check: attenzione, nessuna directory di fiducia (--trust o SIGILLO_TRUST_DIR): \
                 nessuna firma di gestore PEC risulterà attendibile"
            );
            (Vec::new(), Vec::new())
        }
    };
    let checker = Checker::new(pec, docs, std::time::SystemTime::now());

    let mut all_ok = true;
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let label = file.display().to_string();
        let line = match std::fs::read(file) {
            Err(e) => Err(format!("impossibile leggere il file: {e}")),
            Ok(raw) => checker.check_file(&label, &raw, extension(file).as_deref()).map_err(|e| e.to_string()),
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

fn extension(p: &Path) -> Option<String> {
    p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// Every regular file of a trust folder, PEM or DER; a missing folder is a usage error
/// because a typo in `--trust` must not silently make every envelope untrusted.
fn read_anchors(dir: &Path) -> Result<Vec<Vec<u8>>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: directory di fiducia non leggibile: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths.into_iter().filter(|p| p.is_file()) {
        out.push(std::fs::read(&p).map_err(|e| format!("{}: certificato non leggibile: {e}", p.display()))?);
    }
    Ok(out)
}
