//! A trust directory loaded into the classifier: `DIR/pec/` holds the PEC providers' CA
//! certificates (envelopes), `DIR/signatures/` the CAs of document signatures; each file
//! PEM or DER, one or more certificates. The service, `sigillo check` and the office's
//! "register anyway" all load it here, so they trust the same things.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sigillo_pec::Checker;

use crate::Error;

/// A classifier judging at `at`, with the anchors of `dir/pec/` and `dir/signatures/`.
/// A missing folder is an error: a typo in the path must not silently make every envelope
/// untrusted.
pub fn checker(dir: &Path, at: SystemTime) -> Result<Checker, Error> {
    let mut checker = Checker::new(at);
    add_anchors(&dir.join("pec"), |c, b| c.add_pec_anchors(b), &mut checker)?;
    add_anchors(&dir.join("signatures"), |c, b| c.add_document_anchors(b), &mut checker)?;
    Ok(checker)
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
