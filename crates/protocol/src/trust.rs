//! A trust directory loaded into the classifier: `DIR/pec/` holds PEC providers' CA
//! certificates (envelopes) beside the shipped AgID CA1 ([`sigillo_pec::anchors`]), and is
//! optional; `DIR/signatures/` the CAs of document signatures; each file PEM or DER, one or
//! more certificates. The service, `sigillo check` and the office's "register anyway" all
//! load it here, so they trust the same things; the service shares one loaded classifier
//! ([`SharedChecker`]) between the intake and the dashboard.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use sigillo_pec::Checker;
use tokio::sync::Notify;

use crate::Error;
use sigillo_signature::ListedAnchor;

/// A classifier judging at `at`, with the shipped PEC anchors (AgID CA1) and those of
/// `dir/pec/` (optional) and `dir/signatures/`. A missing `signatures/` folder, or a
/// missing `dir`, is an error: a typo in the path must not silently make every document
/// untrusted.
pub fn checker(dir: &Path, at: SystemTime) -> Result<Checker, Error> {
    let mut checker = Checker::with_shipped_anchors(at);
    let pec = dir.join("pec");
    if pec.exists() || !dir.is_dir() {
        add_anchors(&pec, |c, b| c.add_pec_anchors(b), &mut checker)?;
    }
    add_anchors(&dir.join("signatures"), |c, b| c.add_document_anchors(b), &mut checker)?;
    Ok(checker)
}

/// The classifier in use, shared by every clone of a pipeline and by the dashboard's
/// "register anyway" and desk, and replaced whole when the trust directory or the stored
/// trusted lists change: a message is classified with one set of anchors from start to end,
/// whichever reload happens meanwhile.
#[derive(Clone)]
pub struct SharedChecker(Arc<RwLock<InUse>>);

impl From<Checker> for SharedChecker {
    fn from(checker: Checker) -> Self {
        SharedChecker::new(checker)
    }
}

/// The trust directory's classifier, the trusted lists' anchors, and the two together.
struct InUse {
    /// The trust directory (and the revocation source), without the lists.
    base: Arc<Checker>,
    /// Every CA/QC service of the stored lists with the periods it was granted.
    listed: Arc<[ListedAnchor]>,
    /// `base` with `listed` added: each signature is judged with the services granted at
    /// its own time of judgement (the PEC's time, a timestamp), inside the one check.
    combined: Arc<Checker>,
}

impl InUse {
    fn new(base: Arc<Checker>, listed: Arc<[ListedAnchor]>) -> Self {
        let combined = if listed.is_empty() {
            Arc::clone(&base)
        } else {
            let mut c = (*base).clone();
            c.add_listed_anchors(listed.iter().cloned());
            Arc::new(c)
        };
        InUse { base, listed, combined }
    }
}

impl SharedChecker {
    pub fn new(checker: Checker) -> Self {
        SharedChecker(Arc::new(RwLock::new(InUse::new(Arc::new(checker), Arc::from(Vec::new())))))
    }

    /// The classifier in use now: the trust directory's anchors and the trusted lists'.
    pub fn current(&self) -> Arc<Checker> {
        // A panic while holding the lock can only have happened in a swap of Arcs: the
        // value inside is whole either way.
        Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).combined)
    }

    /// How many trusted-list anchors are in use.
    pub fn listed_count(&self) -> usize {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).listed.len()
    }

    /// Puts `checker` in use for every message classified from now on (the lists stay).
    pub fn replace(&self, checker: Checker) {
        let mut slot = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = InUse::new(Arc::new(checker), Arc::clone(&slot.listed));
    }

    /// Puts the anchors of the trusted lists (`TrustSet::listed_anchors`) in use from now
    /// on, in place of the previous lists' (the trust directory's stay).
    pub fn set_listed(&self, listed: Vec<ListedAnchor>) {
        let mut slot = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = InUse::new(Arc::clone(&slot.base), Arc::from(listed));
    }
}

/// What the files of a trust directory look like: each file's path, size and modification
/// time. A change in any of them (a file added, removed, rewritten) means a reload.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let mut out = Vec::new();
    for sub in ["pec", "signatures"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            out.push((e.path(), meta.len(), meta.modified().ok()));
        }
    }
    out.sort();
    out
}

/// Keeps a [`SharedChecker`] in step with its trust directory, without a restart: the
/// directory is loaded again when its files change ([`TrustWatcher::poll`]) or when asked
/// ([`TrustWatcher::reload`], SIGHUP in `sigillo serve`). A directory that does not load (a
/// broken file, a folder gone) leaves the previous trust in use and is logged with the file
/// and the cause.
pub struct TrustWatcher {
    dir: PathBuf,
    shared: SharedChecker,
    seen: Fingerprint,
}

/// What a reload did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    /// Nothing changed since the last look.
    Unchanged,
    /// The new anchors are in use.
    Reloaded,
    /// The directory did not load; the previous anchors stay. The cause names the file.
    Kept(String),
}

impl TrustWatcher {
    /// Watches `dir`, whose current content `shared` already holds.
    pub fn new(dir: &Path, shared: SharedChecker) -> Self {
        TrustWatcher { dir: dir.to_path_buf(), seen: fingerprint(dir), shared }
    }

    /// Loads the directory again if its files changed since the last look.
    pub fn poll(&mut self) -> Reload {
        let now = fingerprint(&self.dir);
        if now == self.seen {
            return Reload::Unchanged;
        }
        // Remembered even when the load fails: a broken file is reported once, not at every
        // look, and loaded as soon as it is fixed (its time changes).
        self.seen = now;
        self.load()
    }

    /// Loads the directory again whether it changed or not.
    pub fn reload(&mut self) -> Reload {
        self.seen = fingerprint(&self.dir);
        self.load()
    }

    fn load(&self) -> Reload {
        // The default time of the classifier is unused by the pipeline, which passes its
        // clock's time with each message.
        match checker(&self.dir, SystemTime::now()) {
            Ok(mut c) => {
                // The revocation source is the service's, not the directory's: it stays.
                c.set_revocation(self.shared.current().revocation());
                self.shared.replace(c);
                // File paths only: no citizen data lives in a trust directory.
                tracing::info!(dir = %self.dir.display(), "trust directory loaded again");
                Reload::Reloaded
            }
            Err(e) => {
                tracing::warn!("trust directory not loaded again, the previous trust stays in use: {e}");
                Reload::Kept(e.to_string())
            }
        }
    }

    /// Looks at the directory every `every`, and reloads it whenever `hup` is notified, for
    /// as long as the task runs.
    pub async fn run(mut self, every: Duration, hup: Arc<Notify>) {
        loop {
            let forced = tokio::select! {
                () = tokio::time::sleep(every) => false,
                () = hup.notified() => true,
            };
            let mut watcher = self;
            let result = tokio::task::spawn_blocking(move || {
                let r = if forced { watcher.reload() } else { watcher.poll() };
                (watcher, r)
            })
            .await;
            match result {
                Ok((w, _)) => self = w,
                // Only a panic in the loader ends up here; the service goes on with its trust.
                Err(e) => {
                    tracing::error!("trust directory watcher stopped: {e}");
                    return;
                }
            }
        }
    }
}

/// Loads every regular file of one trust folder, in name order. The error names the folder
/// or the file and the cause, in Italian (it reaches sysadmins and `sigillo check` users).
fn add_anchors(
    dir: &Path,
    add: impl Fn(&mut Checker, &[u8]) -> Result<(), sigillo_pec::PecError>,
    checker: &mut Checker,
) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Trust(format!("{}: directory di fiducia non leggibile: {}", dir.display(), io_cause(&e))))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths.into_iter().filter(|p| p.is_file()) {
        let bytes = std::fs::read(&p)
            .map_err(|e| Error::Trust(format!("{}: certificato non leggibile: {}", p.display(), io_cause(&e))))?;
        add(checker, &bytes).map_err(|e| Error::Trust(format!("{}: {e}", p.display())))?;
    }
    Ok(())
}

/// The cause of an I/O error in Italian, with the system's own text for the rare kinds.
pub fn io_cause(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "file inesistente".to_owned(),
        ErrorKind::PermissionDenied => "permesso negato".to_owned(),
        ErrorKind::IsADirectory => "è una directory, non un file".to_owned(),
        _ => e.to_string(),
    }
}
