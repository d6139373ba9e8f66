//! Trusted lists on the command line: `sigillo trust verify-list` and the
//! `--trusted-list` / `--trusted-list-signers` options of `sigillo check`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sigillo_protocol::trust::io_cause;
use sigillo_signature::cert::{Certificate, pem_blocks};
use sigillo_trustlist::{TrustListError, TrustSet, peek, verify_list};

#[derive(clap::Subcommand, Debug)]
pub enum TrustCommand {
    /// Verify trusted lists (ETSI TS 119 612) against the certificates allowed to sign them:
    /// one line per list; exit status 0 only if every list verifies.
    VerifyList(VerifyListArgs),
    /// Fetch, verify and store now the service's trusted lists (SIGILLO_TRUSTED_LIST_URL and
    /// the lists it points at): one line per list; exit status 0 only if every list is
    /// up to date (a list that fails keeps its last good copy).
    Update,
    /// The trusted lists stored in the database: territory, sequence number, issue date, next
    /// update, services, last good fetch and last error.
    Show,
}

#[derive(clap::Args, Debug)]
pub struct VerifyListArgs {
    /// PEM file with the certificates allowed to sign the lists (any one of them)
    #[arg(long, value_name = "PEM")]
    pub signers: PathBuf,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(cmd: &TrustCommand) -> ExitCode {
    match cmd {
        TrustCommand::VerifyList(a) => verify_lists(a),
        TrustCommand::Update => crate::run_async(update()),
        TrustCommand::Show => crate::run_async(show()),
    }
}

async fn update() -> anyhow::Result<ExitCode> {
    use crate::list_service::{Busy, Source, refresh};
    let config = crate::commands::load_config()?;
    let Some(c) = &config.trusted_list else {
        anyhow::bail!(
            "liste di fiducia disattivate: impostare SIGILLO_TRUSTED_LIST_SIGNERS (e SIGILLO_TRUSTED_LIST_URL, \
             se non si usa la lista europea)"
        );
    };
    let source = Source::from_config(c)?;
    let (pool, _) = crate::commands::open(&config).await?;
    let mut out = std::io::stdout().lock();
    match refresh(&pool, &source, chrono::Utc::now()).await? {
        Err(Busy) => {
            writeln!(out, "{}", Busy)?;
            Ok(ExitCode::from(1))
        }
        Ok(r) => {
            for line in &r.lines {
                writeln!(out, "{line}")?;
            }
            Ok(if r.all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

async fn show() -> anyhow::Result<ExitCode> {
    let config = crate::commands::load_config()?;
    let (pool, _) = crate::commands::open(&config).await?;
    let lists = sigillo_store::trusted_lists::summaries(&pool).await?;
    let mut out = std::io::stdout().lock();
    if lists.is_empty() {
        writeln!(out, "nessuna lista di fiducia memorizzata")?;
    }
    for l in &lists {
        writeln!(out, "{}", crate::list_service::show_line(l))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Certificates from a PEM file (one or more `CERTIFICATE` blocks) or a single DER
/// certificate. The error is one line naming the file and the cause.
pub fn read_signers(path: &Path) -> Result<Vec<Certificate>, String> {
    let raw = std::fs::read(path)
        .map_err(|e| format!("certificati dei firmatari {}: {}", path.display(), io_cause(&e)))?;
    // PEM (one or more blocks), else a single DER certificate.
    let ders = pem_blocks(&raw, "CERTIFICATE").unwrap_or_else(|| vec![raw.clone()]);
    let mut out = Vec::new();
    for der in ders {
        out.push(
            Certificate::from_der(&der)
                .map_err(|e| format!("certificati dei firmatari {}: certificato non leggibile ({e})", path.display()))?,
        );
    }
    if out.is_empty() {
        return Err(format!("certificati dei firmatari {}: nessun certificato", path.display()));
    }
    Ok(out)
}

fn verify_lists(args: &VerifyListArgs) -> ExitCode {
    let signers = match read_signers(&args.signers) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sigillo trust verify-list: {e}");
            return ExitCode::from(2);
        }
    };
    let mut all_ok = true;
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let label = file.display();
        let line = match std::fs::read(file) {
            Err(e) => {
                all_ok = false;
                format!("{label}: impossibile leggere il file: {}", io_cause(&e))
            }
            Ok(bytes) => match verify_list(&bytes, &signers) {
                Ok(v) => format!(
                    "{label}: {}, firma valida ({})",
                    summary(&v.list),
                    v.signer.subject
                ),
                Err(e) => {
                    all_ok = false;
                    // What the list claims, unverified, helps to tell which file it is.
                    let claimed = peek(&bytes).map(|l| format!("{}, ", summary(&l))).unwrap_or_default();
                    format!("{label}: {claimed}firma NON valida: {e}")
                }
            },
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::from(2);
        }
    }
    if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn summary(l: &sigillo_trustlist::TrustedList) -> String {
    format!(
        "territorio {}, numero di sequenza {}, emessa il {}, {} servizi",
        l.territory,
        l.sequence_number,
        l.issued.format("%Y-%m-%dT%H:%M:%SZ"),
        l.service_count()
    )
}

/// A list bigger than this is refused while downloading (the largest national list is
/// about 10 MB).
const MAX_LIST_BYTES: usize = 64 << 20;

fn is_url(given: &str) -> bool {
    given.starts_with("http://") || given.starts_with("https://")
}

/// Reads a list given as a path, or downloads it (HTTP or HTTPS, Mozilla roots, timeouts,
/// size bound).
pub(crate) async fn read_list(client: &reqwest::Client, given: &str) -> Result<Vec<u8>, String> {
    if !is_url(given) {
        return std::fs::read(given).map_err(|e| format!("impossibile leggere il file: {}", io_cause(&e)));
    }
    let mut resp = client.get(given).send().await.map_err(|e| format!("download non riuscito: {}", one_line(&e)))?;
    if !resp.status().is_success() {
        return Err(format!("download non riuscito: HTTP {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("download interrotto: {}", one_line(&e)))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_LIST_BYTES {
            return Err(format!("più di {} MB: non è una lista di fiducia", MAX_LIST_BYTES >> 20));
        }
    }
    Ok(body)
}

/// An error and its sources on one line (reqwest's own message omits the cause).
fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

pub(crate) fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .user_agent(concat!("sigillo/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("client HTTP non disponibile: {e}"))
}

/// The lists of `sigillo check --trusted-list …`: the first verified with `signers`, the
/// others with the first one's pointers. A first list given as a URL alone has its pointers
/// followed (downloaded, one level). `Err` is the one line to print for a first list that
/// cannot be used (nothing must then be checked). Lists left out are printed as warnings.
pub fn load(given: &[String], signers: Option<&Path>) -> Result<TrustSet, String> {
    let Some((first, others)) = given.split_first() else { return Ok(TrustSet::default()) };
    let Some(signers) = signers else {
        return Err(format!(
            "lista di fiducia {first}: manca --trusted-list-signers (i certificati autorizzati a firmarla)"
        ));
    };
    let signers = read_signers(signers)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime non disponibile: {e}"))?;
    runtime.block_on(async {
        let client = client()?;
        let first_bytes = read_list(&client, first).await.map_err(|e| format!("lista di fiducia {first}: {e}"))?;
        let mut set = TrustSet::build((first, &first_bytes), &[], &signers)
            .map_err(|e: TrustListError| format!("lista di fiducia {first} rifiutata: {e}"))?;
        let mut to_read: Vec<String> = others.to_vec();
        if others.is_empty() && is_url(first) {
            to_read = set.pointers_to_follow().into_iter().map(|p| p.location).filter(|l| is_url(l)).collect();
        }
        for label in to_read {
            match read_list(&client, &label).await {
                Ok(bytes) => set.add(&label, &bytes),
                Err(cause) => eprintln!("sigillo check: attenzione, lista di fiducia {label} esclusa: {cause}"),
            }
        }
        for (label, cause) in &set.left_out {
            eprintln!("sigillo check: attenzione, lista di fiducia {label} esclusa: {cause}");
        }
        Ok(set)
    })
}
