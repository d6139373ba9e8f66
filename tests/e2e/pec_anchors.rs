//! The shipped PEC anchors (issue 16): the real envelopes and receipts of the corpus
//! (`../shared/corpus/pec`) whose providers' certificates AgID CA1 issued verify as `valid`
//! with `sigillo check` and no trust directory at all, judged at their own date (`--at`),
//! AgID CA1's name constraints enforced; judged today, with their certificates expired,
//! they do not. The DigitPA-era messages of 2014 chain to no shipped anchor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sigillo_e2e::{run_with_env, stderr};

use crate::check_cli::json_lines;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pec");
    if dir.join("MANIFEST.md").exists() {
        Some(dir)
    } else {
        println!("PEC CORPUS ABSENT: {} not found; test skipped", dir.display());
        eprintln!("PEC CORPUS ABSENT: {} not found; test skipped", dir.display());
        None
    }
}

/// The messages signed under AgID CA1 whose signature is intact, with their date.
const AGID_SIGNED: [(&str, &str); 8] = [
    ("eml/aruba-2018_ricevuta_accettazione.eml", "2018-11-13T16:39:26+01:00"),
    ("eml/aruba-2018_ricevuta_avvenuta-consegna_completa.eml", "2018-11-13T16:39:27+01:00"),
    ("eml/sogei-2018_busta-trasporto_breve_sdi-invio-file.eml", "2018-12-08T12:26:18+01:00"),
    ("eml/sogei-2018_busta-trasporto_breve_sdi-ricevuta-consegna.eml", "2018-11-13T16:47:32+01:00"),
    ("eml/namirial-2024_busta-trasporto_completa_via-mailinglist.eml", "2024-12-05T00:02:10+01:00"),
    ("receipts-seedoo/accettazione.eml", "2021-12-14T14:36:08+01:00"),
    ("receipts-seedoo/conferma.eml", "2021-12-14T14:36:08+01:00"),
    ("receipts-seedoo/mancata_consegna.eml", "2021-12-14T14:54:32+01:00"),
];

/// `sigillo check --json [--at AT] FILE` with an empty environment: no trust directory.
async fn envelope(dir: &Path, file: &str, at: Option<&str>) -> serde_json::Value {
    let path = dir.join(file).display().to_string();
    let mut args = vec!["check", "--json"];
    if let Some(at) = at {
        args.extend(["--at", at]);
    }
    args.push(&path);
    let out = run_with_env(&BTreeMap::new(), &args).await;
    assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
    assert!(stderr(&out).contains("AgID CA1"), "the warning says which anchors are used: {}", stderr(&out));
    json_lines(&out).remove(0)["pec"]["envelope_signature"].clone()
}

#[tokio::test]
async fn agid_signed_envelopes_are_valid_at_their_date_with_the_shipped_anchors_only() {
    let Some(dir) = corpus() else { return };
    for (file, at) in AGID_SIGNED {
        let sig = envelope(&dir, file, Some(at)).await;
        assert_eq!(sig["status"], "valid", "{file} at {at}: {sig}");
        assert_eq!(sig["time_source"], "at", "{file}: {sig}");
    }
}

#[tokio::test]
async fn judged_today_their_expired_certificates_are_not_trusted() {
    let Some(dir) = corpus() else { return };
    for (file, _) in AGID_SIGNED {
        let sig = envelope(&dir, file, None).await;
        assert_eq!(sig["status"], "untrusted", "{file}: {sig}");
        let detail = sig["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("is not valid at"), "{file}: {detail}");
    }
}

#[tokio::test]
async fn edited_copies_stay_invalid_and_digitpa_messages_chain_to_no_shipped_anchor() {
    let Some(dir) = corpus() else { return };
    for (file, at) in [
        ("eml/sogei-2018_busta-trasporto_breve_sdi-invio-file_base64-variant.eml", "2018-12-08T12:26:18+01:00"),
        ("eml/sogei-2019_busta-trasporto_breve_sdi-notifica-mancata-consegna.eml", "2019-01-04T21:34:01+01:00"),
    ] {
        let sig = envelope(&dir, file, Some(at)).await;
        assert_eq!(sig["status"], "invalid", "{file}: {sig}");
    }
    let sig = envelope(&dir, "eml/aruba-2014_busta-trasporto_completa.eml", Some("2014-11-07T16:52:00+01:00")).await;
    assert_eq!(sig["status"], "untrusted", "{sig}");
    assert!(sig["detail"].as_str().unwrap_or_default().contains("does not chain to a trusted CA"), "{sig}");
}
