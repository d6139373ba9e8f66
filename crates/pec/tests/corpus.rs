//! Conformance over the shared PEC corpus (`../shared/corpus/pec` from the workspace root):
//! every file is classified as MANIFEST.md says. The corpus is read in place, never copied.

use std::path::{Path, PathBuf};

use sigillo_pec::envelope;
use sigillo_pec::kind::PecType;
use sigillo_pec::report::EnvelopeStatus;
use sigillo_pec::Checker;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pec")
}

/// One row of a MANIFEST table: file (relative to the corpus), kind text, sig column.
struct Row {
    file: String,
    kind: String,
    sig: String,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.md")).unwrap_or_default();
    let mut section = String::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.split_whitespace().next().unwrap_or_default().trim_end_matches('/').to_owned();
            continue;
        }
        if !line.starts_with("| `") {
            continue;
        }
        let cols: Vec<&str> = line.split(" | ").collect();
        let file = cols[0].trim_start_matches("| ").trim_matches('`');
        if !file.ends_with(".eml") || cols.len() < 4 {
            continue;
        }
        rows.push(Row {
            file: format!("{section}/{file}"),
            kind: cols[1].to_owned(),
            sig: cols[3].trim().to_owned(),
        });
    }
    rows
}

/// Expected `(pec.type, receipt)` from the manifest's kind column: the X-header it quotes
/// when it quotes one, else its wording.
fn expected(kind: &str, file: &str) -> (PecType, Option<&'static str>) {
    // Rows like "same envelope hand-edited …" describe the kind only by their file name.
    let k = format!("{} {}", kind.to_lowercase(), file.replace(['_', '-'], " "));
    for r in [
        "non-accettazione",
        "accettazione",
        "presa-in-carico",
        "avvenuta-consegna",
        "preavviso-errore-consegna",
        "errore-consegna",
        "rilevazione-virus",
    ] {
        if k.contains(&format!("x-ricevuta: {r}")) {
            return (PecType::Ricevuta, Some(r));
        }
    }
    if k.contains("busta di trasporto") || k.contains("x-trasporto: posta-certificata") {
        (PecType::PostaCertificata, None)
    } else if k.contains("x-trasporto: errore") || k.contains("busta di anomalia") {
        (PecType::Anomalia, None)
    } else if k.contains("busta trasporto") {
        (PecType::PostaCertificata, None)
    } else if k.contains("ricevuta di accettazione") {
        (PecType::Ricevuta, Some("accettazione"))
    } else if k.contains("avvenuta consegna") {
        (PecType::Ricevuta, Some("avvenuta-consegna"))
    } else if k.contains("mancata consegna") {
        (PecType::Ricevuta, Some("errore-consegna"))
    } else {
        // The extracted postacert.eml samples: an ordinary message.
        (PecType::None, None)
    }
}

#[test]
fn corpus_classification_matches_manifest() {
    let dir = corpus_dir();
    if !dir.join("MANIFEST.md").exists() {
        println!("CORPUS ASSENTE: {} non esiste, conformance test saltato", dir.display());
        return;
    }
    let rows = manifest(&dir);
    assert_eq!(rows.len(), 20, "MANIFEST rows");
    let mut failures = Vec::new();
    for row in &rows {
        let raw = std::fs::read(dir.join(&row.file)).unwrap_or_default();
        let (want_type, want_receipt) = expected(&row.kind, &row.file);
        match envelope::parse(&raw) {
            Ok(e) => {
                let got = (e.classification.pec_type, e.classification.receipt.as_ref().map(|r| r.as_str().to_owned()));
                if got != (want_type, want_receipt.map(str::to_owned)) {
                    failures.push(format!("{}: got {got:?}, manifest says {want_type:?} {want_receipt:?}", row.file));
                }
            }
            Err(err) => failures.push(format!("{}: {err}", row.file)),
        }
    }
    // The one envelope a mailing list re-wrapped is reported as such; no other file is.
    for row in &rows {
        let raw = std::fs::read(dir.join(&row.file)).unwrap_or_default();
        let Ok(e) = envelope::parse(&raw) else { continue };
        let via_list = row.file.contains("via-mailinglist");
        if e.wrapped != via_list || e.mailing_list.is_some() != via_list {
            failures.push(format!("{}: wrapped {} mailing list {:?}", row.file, e.wrapped, e.mailing_list));
        }
    }
    println!("classification: {}/{} corpus files as the manifest says", rows.len() - failures.len(), rows.len());
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `sig OK` must verify as intact (valid, or untrusted since the corpus comes without the
/// providers' CA certificates), `FAIL` as invalid, `NONE` never as valid.
#[test]
fn corpus_signatures_match_manifest() {
    let dir = corpus_dir();
    if !dir.join("MANIFEST.md").exists() {
        println!("CORPUS ASSENTE: {} non esiste, conformance test saltato", dir.display());
        return;
    }
    // Reference time inside the 2014–2024 certificates' lives does not matter: expiry only
    // makes a signature untrusted, never invalid.
    let checker = Checker::new(std::time::SystemTime::now());
    let mut failures = Vec::new();
    let (mut ok, mut fail, mut none) = (0, 0, 0);
    for row in manifest(&dir) {
        let raw = std::fs::read(dir.join(&row.file)).unwrap_or_default();
        let Ok(e) = envelope::parse(&raw) else {
            failures.push(format!("{}: not a message", row.file));
            continue;
        };
        let sig = checker.envelope_signature(&e);
        let good = if row.sig.starts_with("OK") {
            ok += 1;
            matches!(sig.status, EnvelopeStatus::Valid | EnvelopeStatus::Untrusted)
        } else if row.sig.starts_with("FAIL") {
            fail += 1;
            sig.status == EnvelopeStatus::Invalid
        } else {
            none += 1;
            sig.status != EnvelopeStatus::Valid
        };
        println!("{:<75} manifest {:<5} -> {:?} {}", row.file, row.sig.split_whitespace().next().unwrap_or(""), sig.status, sig.detail.unwrap_or_default());
        if !good {
            failures.push(format!("{}: manifest {:?}, got {:?}", row.file, row.sig, sig.status));
        }
    }
    println!("signatures: {ok} OK, {fail} FAIL, {none} NONE/n.a. rows; {} mismatches", failures.len());
    assert!(failures.is_empty(), "{failures:#?}");
}
