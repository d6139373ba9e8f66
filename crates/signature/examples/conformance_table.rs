//! Prints the conformance table of docs/signature-conformance.md: for every data file of
//! the shared signature corpus, our verdict (with no trust anchors and with the corpus's
//! `italian/trust/` folder as trust store) beside the MANIFEST's service decision and the
//! oracle outcomes it records (openssl, pyHanko, pdfsig).
//!
//! ```text
//! cargo run -p sigillo_signature --example conformance_table -- ../shared/corpus/signatures > table.md
//! ```

use std::path::{Path, PathBuf};

use sigillo_signature::{SignatureReport, TrustStore, verify_document};

/// Detached signatures and the file they sign.
const DETACHED: &[(&str, &str)] = &[("cades/dss1892_detached_with_counter_sig.p7s", "cades/dss1892_signed_content.bin")];

/// Companion files (extracted contents, detached timestamps, the signed content of a
/// .p7s) and trust material: not verified on their own.
const COMPANIONS: &[&str] = &[
    "cades/dss1892_signed_content.bin",
    "cades/slam_OK.txt",
    "italian/parer_cades_T_1.pdf.p7m.tsr",
    "italian/parer_firma.tsr.p7m.tsr",
    "italian/parer_p7m_b64_sbustato.xml",
];

struct Row {
    service: String,
    openssl: String,
    pyhanko: String,
    pdfsig: String,
}

fn cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split(" | ").map(|c| c.trim().replace("**", "")).collect()
}

/// The manifest row describing `name`, with the oracle column split by tool.
fn manifest_row(manifest: &str, name: &str) -> Option<Row> {
    let line = manifest.lines().filter(|l| l.starts_with('|')).find(|l| {
        cells(l).first().is_some_and(|first| first.split([' ', '/', '(', '+', ',']).any(|w| w.trim() == name))
    })?;
    let c = cells(line);
    let mut service = c.last().cloned().unwrap_or_default();
    // The RUB pairs share a row: "3 ACCEPT-IF-TRUSTED; 4 REJECT" for the _3_signed and
    // _4_manipulated files.
    if service.starts_with("3 ACCEPT-IF-TRUSTED; 4 REJECT") {
        service = if name.contains("_4_") { "REJECT".into() } else { "ACCEPT-IF-TRUSTED".into() };
    }
    // Sections with 7 columns have "oracles (observed)" as the 6th.
    let oracles = if c.len() == 7 { c.get(5).cloned().unwrap_or_default() } else { String::new() };
    let (mut openssl, mut pyhanko, mut pdfsig) = (Vec::new(), Vec::new(), Vec::new());
    let mut current: Option<&mut Vec<String>> = None;
    for part in oracles.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        // "4: pyh …" in the RUB rows: the outcome for the _4_ file only.
        let part = match part.split_once(": ") {
            Some((n, rest)) if n.len() == 1 && n.chars().all(|c| c.is_ascii_digit()) => {
                if !name.contains(&format!("_{n}_")) {
                    continue;
                }
                rest
            }
            _ => part,
        };
        let lower = part.to_lowercase();
        current = if lower.starts_with("ossl") || lower.starts_with("openssl") || lower.starts_with("inner extracted") {
            Some(&mut openssl)
        } else if lower.starts_with("pyh") || lower.starts_with("`pyhanko") || lower.starts_with("asn1crypto/pyh") {
            Some(&mut pyhanko)
        } else if lower.starts_with("pdfsig") {
            Some(&mut pdfsig)
        } else {
            current
        };
        if let Some(v) = current.as_deref_mut() {
            v.push(part.to_owned());
        }
    }
    let join = |v: Vec<String>| if v.is_empty() { "–".to_owned() } else { v.join("; ").replace('|', "/") };
    Some(Row { service, openssl: join(openssl), pyhanko: join(pyhanko), pdfsig: join(pdfsig) })
}

fn show(r: &SignatureReport) -> String {
    let v = serde_json::to_value(r.verdict).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    match r.subindication.and_then(|s| serde_json::to_value(s).ok()).and_then(|s| s.as_str().map(str::to_owned)) {
        Some(s) => format!("{v} / {s}"),
        None => v,
    }
}

fn main() {
    let dir: PathBuf = std::env::args().nth(1).map_or_else(|| PathBuf::from("../shared/corpus/signatures"), PathBuf::from);
    let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.md")) else {
        eprintln!("corpus absent: {} has no MANIFEST.md", dir.display());
        std::process::exit(2);
    };
    let trust = trust_store(&dir);
    let empty = TrustStore::empty();
    let now = chrono::Utc::now();
    println!("| file | MANIFEST service | ours, no trust anchors | ours, corpus `trust/` | signers | openssl (MANIFEST) | pyHanko (MANIFEST) | pdfsig (MANIFEST) |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut count = 0;
    for sub in ["cades", "italian", "pades", "pades-attacks", "xml", "unsigned"] {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(dir.join(sub)).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for path in files {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let rel = format!("{sub}/{name}");
            if COMPANIONS.contains(&rel.as_str()) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let detached = DETACHED.iter().find(|(f, _)| *f == rel).and_then(|(_, c)| std::fs::read(dir.join(c)).ok());
            let r1 = verify_document(&bytes, detached.as_deref(), &empty, now);
            let r2 = verify_document(&bytes, detached.as_deref(), &trust, now);
            let row = manifest_row(&manifest, &name).unwrap_or(Row {
                service: "(not in MANIFEST)".into(),
                openssl: "–".into(),
                pyhanko: "–".into(),
                pdfsig: "–".into(),
            });
            println!(
                "| {rel} | {} | {} | {} | {} | {} | {} | {} |",
                row.service,
                show(&r1),
                show(&r2),
                r1.signers.len(),
                row.openssl,
                row.pyhanko,
                row.pdfsig
            );
            count += 1;
        }
    }
    eprintln!("{count} files");
}

fn trust_store(dir: &Path) -> TrustStore {
    let mut store = TrustStore::empty();
    for entry in std::fs::read_dir(dir.join("italian/trust")).into_iter().flatten().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            // Certificates and CRLs; a file that is neither is skipped.
            let _ = store.add(&bytes);
        }
    }
    store
}
