//! `sigillo check` through the real binary (ARCHITECTURE.md §4): the JSON lines for messages
//! and documents, the Italian human report, and one clear line per file that cannot be
//! checked, with the other files still reported.
//!
//! Inputs are the golden messages of `crates/pec/tests/golden` (built with the test PKI,
//! whose anchors are in `golden/trust`), copied under other names where the point is that
//! the name does not matter. No database is involved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use sigillo_e2e::{run_with_env, stderr, stdout};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/pec/tests/golden").join(name)
}

fn trust() -> String {
    golden("trust").display().to_string()
}

async fn check(args: &[&str]) -> Output {
    check_env(&BTreeMap::new(), args).await
}

async fn check_env(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    run_with_env(env, &all).await
}

pub(crate) fn path(p: &Path) -> String {
    p.display().to_string()
}

/// One JSON object per line, each starting with its "file" key as every tool expects.
pub(crate) fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| {
            assert!(l.starts_with("{\"file\":"), "a line not led by \"file\": {l}");
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}"))
        })
        .collect()
}

/// The object's keys, sorted.
pub(crate) fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn message_json_lines_have_the_contract_shape() {
    let files = ["transport_signed_attachments.eml", "ricevuta_avvenuta-consegna_breve.eml", "plain_mail.eml"];
    let paths: Vec<String> = files.iter().map(|f| path(&golden(f))).collect();
    let t = trust();
    let mut args = vec!["--trust", t.as_str(), "--json"];
    args.extend(paths.iter().map(String::as_str));
    let out = check(&args).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{}", stdout(&out));

    // Every line: the five top-level keys of §4, in input order.
    for (line, p) in lines.iter().zip(&paths) {
        assert_eq!(keys(line)[..], ["attachments", "decision", "file", "pec", "reasons"], "{line}");
        assert_eq!(line["file"], p.as_str());
        for k in ["type", "receipt", "envelope_signature", "daticert"] {
            assert!(line["pec"].get(k).is_some(), "pec.{k} missing: {line}");
        }
    }

    let envelope = &lines[0];
    assert_eq!(envelope["pec"]["type"], "posta-certificata");
    assert_eq!(envelope["pec"]["receipt"], serde_json::Value::Null);
    assert_eq!(envelope["pec"]["envelope_signature"]["status"], "valid");
    assert_eq!(envelope["pec"]["daticert"]["tipo"], "posta-certificata");
    assert_eq!(envelope["pec"]["daticert"]["data"], "2025-11-10T10:00:00+01:00");
    assert_eq!(envelope["decision"], "register");
    assert_eq!(envelope["reasons"], serde_json::json!([]));
    let atts = envelope["attachments"].as_array().unwrap();
    // The inline logo referenced by cid: is body, not an attachment.
    let names: Vec<&str> = atts.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["istanza.pdf", "istanza.pdf.p7s", "dichiarazione.txt.p7m"]);
    for a in atts {
        assert!(a["size"].as_u64().unwrap() > 0, "{a}");
        let sha = a["sha256"].as_str().unwrap();
        assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        let sig = &a["signature"];
        for k in ["verdict", "subindication", "format", "signers"] {
            assert!(sig.get(k).is_some(), "signature.{k} missing: {a}");
        }
        assert_eq!(sig["verdict"], "TOTAL_PASSED", "{a}");
        assert!(!sig["signers"].as_array().unwrap().is_empty(), "{a}");
    }

    let receipt = &lines[1];
    assert_eq!(receipt["pec"]["type"], "ricevuta");
    assert_eq!(receipt["pec"]["receipt"], "avvenuta-consegna");
    assert_eq!(receipt["pec"]["receipt_kind"], "breve");
    assert_eq!(receipt["decision"], "link-receipt");

    let plain = &lines[2];
    assert_eq!(plain["pec"]["type"], "none");
    assert_eq!(plain["pec"]["envelope_signature"]["status"], "missing");
    assert_eq!(plain["decision"], "reject");
    assert_eq!(plain["reasons"][0]["code"], "NOT_PEC");
    assert!(plain["reasons"][0]["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn forgeries_are_rejected_with_their_reason() {
    let t = trust();
    let cases = [
        ("transport_unsigned_all_headers.eml", "missing"),
        ("transport_signed_by_lookalike.eml", "untrusted"),
        ("transport_postacert_altered.eml", "invalid"),
    ];
    for (file, status) in cases {
        let p = path(&golden(file));
        let out = check(&["--trust", &t, "--json", &p]).await;
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stderr(&out));
        let line = &json_lines(&out)[0];
        assert_eq!(line["pec"]["envelope_signature"]["status"], status, "{file}");
        assert_eq!(line["decision"], "reject", "{file}");
        assert_eq!(line["reasons"][0]["code"], "FORGED_ENVELOPE", "{file}");
    }
    // The LF-only copy of a CRLF-signed envelope is the same envelope.
    let p = path(&golden("transport_lf_only_copy.eml"));
    let line = &json_lines(&check(&["--trust", &t, "--json", &p]).await)[0];
    assert_eq!(line["pec"]["envelope_signature"]["status"], "valid");
    assert_eq!(line["pec"]["envelope_signature"]["canonicalised"], true);
    assert_eq!(line["decision"], "register");
}

#[tokio::test]
async fn documents_and_messages_are_told_apart_by_content() {
    let dir = tempfile::tempdir().unwrap();
    // A signed document under a message's name, a message under a binary name, and a PDF.
    let p7m_as_eml = dir.path().join("dichiarazione.eml");
    std::fs::copy(golden("documents/dichiarazione.txt.p7m"), &p7m_as_eml).unwrap();
    let eml_as_bin = dir.path().join("busta.bin");
    std::fs::copy(golden("transport_genuine.eml"), &eml_as_bin).unwrap();
    let pdf = dir.path().join("modulo.dat");
    std::fs::write(&pdf, b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n").unwrap();

    let t = trust();
    let out = check(&["--trust", &t, "--json", &path(&p7m_as_eml), &path(&eml_as_bin), &path(&pdf)]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);

    let doc = &lines[0];
    assert_eq!(keys(doc), ["file", "signature"], "{doc}");
    assert_eq!(doc["file"], path(&p7m_as_eml));
    assert_eq!(doc["signature"]["verdict"], "TOTAL_PASSED", "{doc}");
    assert_eq!(doc["signature"]["format"], "CAdES");
    assert_eq!(doc["signature"]["subindication"], serde_json::Value::Null);
    let signer = &doc["signature"]["signers"][0];
    assert!(signer["subject"].as_str().unwrap().contains("ROSSI MARIO"), "{doc}");

    assert_eq!(lines[1]["pec"]["type"], "posta-certificata");
    assert_eq!(lines[1]["decision"], "register");

    assert_eq!(keys(&lines[2]), ["file", "signature"]);
    assert_eq!(lines[2]["signature"]["verdict"], "NO_SIGNATURE_FOUND", "{}", lines[2]);

    // Without the document anchors the same signature cannot be placed: INDETERMINATE.
    let out = check(&["--json", &path(&p7m_as_eml)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = &json_lines(&out)[0];
    assert_eq!(doc["signature"]["verdict"], "INDETERMINATE", "{doc}");
    assert_eq!(doc["signature"]["subindication"], "NO_CERTIFICATE_CHAIN_FOUND", "{doc}");
}

#[tokio::test]
async fn human_report_is_short_italian_text() {
    let t = trust();
    let env = path(&golden("transport_with_attachments.eml"));
    let doc = path(&golden("documents/dichiarazione.txt.p7m"));
    let out = check(&["--trust", &t, &env, &doc]).await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(serde_json::from_str::<serde_json::Value>(text.lines().next().unwrap_or("")).is_err(), "JSON without --json");
    for want in [
        env.as_str(),
        "Tipo:            busta di trasporto PEC (posta certificata)",
        "Firma gestore:   valida",
        "Mittente:        mario.rossi@pec.test.it",
        "Oggetto:         Istanza di accesso agli atti",
        "note.txt (text/plain, 17 byte) — non firmato",
        "Esito:           da respingere",
        "motivo: note.txt: documento non firmato",
        doc.as_str(),
        "Firma:           firma valida",
        "Formato:         CAdES",
        "Firmatario:      ROSSI MARIO",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // Short: a screenful for a message with three attachments and a document.
    assert!(text.lines().count() < 30, "{text}");

    let receipt = path(&golden("ricevuta_avvenuta-consegna_sintetica.eml"));
    let out = check(&["--trust", &t, &receipt]).await;
    let text = stdout(&out);
    for want in [
        "Tipo:            ricevuta/avviso PEC: ricevuta di avvenuta consegna (sintetica)",
        "Consegna a:      protocollo@pec.comune.test.it",
        "Esito:           ricevuta da collegare al messaggio inviato",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

/// Empty, unreadable and broken-message files are one error line each (exit 2); a binary
/// file or a text without headers is not an error but a document with no signature (this
/// test expected "contenuto binario" / "non è un messaggio e-mail" errors for those two
/// before issue 14 item 5; see tests/check_documents.rs for every kind of document).
#[tokio::test]
async fn unreadable_and_non_message_files_get_one_line_each_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("vuoto.eml");
    std::fs::write(&empty, b"").unwrap();
    let binary = dir.path().join("immagine.eml");
    std::fs::write(&binary, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10").unwrap();
    let text = dir.path().join("appunti.eml");
    std::fs::write(&text, b"ciao,\nquesto non ha intestazioni\n").unwrap();
    let truncated = dir.path().join("troncato.eml");
    let genuine = std::fs::read(golden("transport_genuine.eml")).unwrap();
    std::fs::write(&truncated, &genuine[..genuine.len() * 2 / 3]).unwrap();
    let missing = dir.path().join("inesistente.eml");
    let good = golden("transport_genuine.eml");

    let files = [&empty, &binary, &good, &text, &truncated, &missing, dir.path()].map(path);
    let t = trust();
    let mut args = vec!["--trust", t.as_str()];
    args.extend(files.iter().map(String::as_str));

    // Human mode: the good file and the two documents are reported, every bad one is one
    // stderr line.
    let out = check(&args).await;
    assert_eq!(out.status.code(), Some(2), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    let text_out = stdout(&out);
    assert!(text_out.contains("Esito:           da protocollare"), "{text_out}");
    for doc in [&files[1], &files[3]] {
        assert!(text_out.contains(&format!("{doc}\n  Firma:           ")), "no report for {doc}:\n{text_out}");
    }
    let err = stderr(&out);
    let expected = [
        (&files[0], "file vuoto"),
        (&files[4], "messaggio troncato"),
        (&files[5], "file inesistente"),
        (&files[6], "è una directory"),
    ];
    for (file, cause) in expected {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("{file}: ")))
            .unwrap_or_else(|| panic!("no error line for {file} in:\n{err}"));
        assert!(line.contains(cause), "{line:?} should say {cause:?}");
    }
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
    assert_eq!(err.lines().count(), expected.len(), "one line per bad file:\n{err}");

    // JSON mode: one line per file, in order; bad files as {"file", "error"}.
    args.insert(0, "--json");
    let out = check(&args).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), files.len(), "{}", stdout(&out));
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"], file.as_str());
    }
    assert_eq!(lines[2]["decision"], "register");
    for i in [1, 3] {
        assert_eq!(keys(&lines[i]), ["file", "signature"], "{}", lines[i]);
        assert_eq!(lines[i]["signature"]["verdict"], "NO_SIGNATURE_FOUND", "{}", lines[i]);
    }
    for i in [0, 4, 5, 6] {
        assert_eq!(keys(&lines[i]), ["error", "file"], "{}", lines[i]);
    }
}

#[tokio::test]
async fn trust_dir_problems_and_defaults() {
    // A --trust that does not exist is a usage error: nothing is checked, exit 2.
    let env_file = path(&golden("transport_genuine.eml"));
    let out = check(&["--trust", "/nonexistent/sigillo-trust", "--json", &env_file]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/sigillo-trust/pec") && err.contains("directory di fiducia"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A trust file that holds no certificate is named too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pec")).unwrap();
    std::fs::create_dir_all(dir.path().join("signatures")).unwrap();
    std::fs::write(dir.path().join("pec/rotto.pem"), b"non un certificato").unwrap();
    let out = check(&["--trust", &path(dir.path()), &env_file]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("rotto.pem"), "{}", stderr(&out));

    // No --trust and no SIGILLO_TRUST_DIR: a warning, and no provider is trusted.
    let out = check(&["--json", &env_file]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("nessuna directory di fiducia"), "{}", stderr(&out));
    let line = &json_lines(&out)[0];
    assert_eq!(line["pec"]["envelope_signature"]["status"], "untrusted");
    assert_eq!(line["decision"], "reject");

    // SIGILLO_TRUST_DIR stands for --trust.
    let env = BTreeMap::from([("SIGILLO_TRUST_DIR".to_owned(), trust())]);
    let out = check_env(&env, &["--json", &env_file]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(json_lines(&out)[0]["decision"], "register");

    // Usage errors: no file at all.
    let out = check(&["--json"]).await;
    assert_eq!(out.status.code(), Some(2));
}
