//! `sigillo check` on files that are not messages (issue 14 item 5): a clerk checking an
//! attachment gets a signature report `{"file", "signature": {"verdict", "subindication",
//! "format", "signers"}}` and exit 0, never "non è un messaggio e-mail". Only an empty or
//! unreadable file is an error (exit 2, one line naming the file and the cause).
//!
//! Real bytes: text, random binary, an OLE (.doc) header with junk, a `.p7m` whose first
//! byte is 0x31, and files of the shared signature corpus (`../shared/corpus/signatures`
//! from the workspace root, never copied; see its MANIFEST.md and
//! docs/signature-conformance.md for the verdicts asserted here). No database is involved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use sigillo_e2e::{run_with_env, stderr, stdout};

use crate::check_cli::{json_lines, keys, path};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/pec/tests/golden").join(name)
}

/// The shared signature corpus, or `None` (with a loud line) when this checkout lacks it.
fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/signatures");
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        println!("SIGNATURE CORPUS ABSENT: {} not found; corpus files skipped", dir.display());
        eprintln!("SIGNATURE CORPUS ABSENT: {} not found; corpus files skipped", dir.display());
        None
    }
}

async fn check(args: &[&str]) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    run_with_env(&BTreeMap::new(), &all).await
}


/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// (file, verdict, sub-indication or null, format)
type Expected = (PathBuf, &'static str, Option<&'static str>, &'static str);

#[tokio::test]
async fn documents_that_are_not_messages_get_a_signature_report() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("nota.txt");
    std::fs::write(
        &txt,
        "Gentile Sindaco,\nchiedo copia della delibera n. 12/2025.\nCordiali saluti\nMario Rossi\n".as_bytes(),
    )
    .unwrap();
    // A note whose lines look like header fields but name none of e-mail's.
    let note = dir.path().join("appunto.txt");
    std::fs::write(&note, b"Oggetto: richiesta di accesso\nProtocollo: da assegnare\n\nTesto della nota.\n").unwrap();
    let bin = dir.path().join("dati.bin");
    let mut random = random_bytes(4096, 0x5eed_1234_abcd_0001);
    random[0] = 0x9c; // not 0x30, '%', '<', whitespace: nothing to sniff
    std::fs::write(&bin, &random).unwrap();
    let doc = dir.path().join("modulo.doc");
    let mut ole = vec![0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
    ole.extend(random_bytes(2048, 0x0d0c_0000_0000_0042));
    std::fs::write(&doc, &ole).unwrap();
    // A genuine signed document with its first byte (the SEQUENCE tag) changed to 0x31.
    let broken = dir.path().join("dichiarazione.txt.p7m");
    let mut p7m = std::fs::read(golden("documents/dichiarazione.txt.p7m")).unwrap();
    assert_eq!(p7m[0], 0x30);
    p7m[0] = 0x31;
    std::fs::write(&broken, &p7m).unwrap();

    let mut cases: Vec<Expected> = vec![
        (txt, "NO_SIGNATURE_FOUND", None, "none"),
        (note, "NO_SIGNATURE_FOUND", None, "none"),
        (bin, "NO_SIGNATURE_FOUND", None, "none"),
        (doc, "NO_SIGNATURE_FOUND", None, "none"),
        (broken, "TOTAL_FAILED", Some("FORMAT_FAILURE"), "CAdES"),
    ];
    if let Some(c) = corpus() {
        cases.extend([
            // MANIFEST: unsigned → REJECT; a real Office file.
            (c.join("unsigned/parer_office_non_firmato.doc"), "NO_SIGNATURE_FOUND", None, "none"),
            // MANIFEST: garbage prefix byte (0x43) and truncated lengths → PARSE-FAIL.
            (c.join("cades/malformed-cades.p7m"), "TOTAL_FAILED", Some("FORMAT_FAILURE"), "CAdES"),
            (c.join("cades/slam_TAMPERED.txt.p7m"), "TOTAL_FAILED", Some("FORMAT_FAILURE"), "CAdES"),
            // MANIFEST: messageDigest mismatch → HASH_FAILURE.
            (c.join("cades/dss2011_cades-enveloping-broken.pkcs7"), "TOTAL_FAILED", Some("HASH_FAILURE"), "CAdES"),
            // A valid p7m (self-signed test certificate): intact, but no chain to trust.
            (c.join("cades/slam_OK.txt.p7m"), "INDETERMINATE", Some("NO_CERTIFICATE_CHAIN_FOUND"), "CAdES"),
        ]);
    }
    // The golden signed document, with its anchors: a valid signature.
    cases.push((golden("documents/dichiarazione.txt.p7m"), "TOTAL_PASSED", None, "CAdES"));

    let trust = path(&golden("trust"));
    let files: Vec<String> = cases.iter().map(|c| path(&c.0)).collect();
    let mut args = vec!["--trust", trust.as_str(), "--json"];
    args.extend(files.iter().map(String::as_str));
    let out = check(&args).await;
    assert_eq!(out.status.code(), Some(0), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    assert_eq!(stderr(&out), "", "no error line for a document");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), cases.len(), "{}", stdout(&out));
    for (line, (file, verdict, sub, format)) in lines.iter().zip(&cases) {
        let name = path(file);
        assert_eq!(keys(line), ["file", "signature"], "{name}: {line}");
        assert_eq!(line["file"], name.as_str());
        let sig = &line["signature"];
        for k in ["verdict", "subindication", "format", "signers"] {
            assert!(sig.get(k).is_some(), "{name}: signature.{k} missing: {line}");
        }
        assert_eq!(sig["verdict"], *verdict, "{name}: {line}");
        assert_eq!(sig["subindication"], sub.map_or(serde_json::Value::Null, Into::into), "{name}: {line}");
        assert_eq!(sig["format"], *format, "{name}: {line}");
        let signers = sig["signers"].as_array().unwrap();
        match *verdict {
            "NO_SIGNATURE_FOUND" => assert!(signers.is_empty(), "{name}: {line}"),
            "TOTAL_PASSED" | "INDETERMINATE" => assert!(!signers.is_empty(), "{name}: {line}"),
            _ => {}
        }
    }

    // Each file alone, in the human report: exit 0 and the Italian verdict.
    for (file, verdict, _, _) in &cases {
        let name = path(file);
        let out = check(&["--trust", &trust, &name]).await;
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with(&format!("{name}\n  Firma:           ")), "{name}:\n{text}");
        if *verdict == "NO_SIGNATURE_FOUND" {
            assert!(text.contains("Formato:         nessuna firma"), "{name}:\n{text}");
        }
        assert!(!text.contains("non è un messaggio") && !stderr(&out).contains("non è un messaggio"), "{name}");
    }
}

/// A real e-mail stays a message, even one that is not PEC.
#[tokio::test]
async fn an_email_with_headers_stays_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("posta.txt");
    std::fs::write(&mail, b"From: mario.rossi@example.it\r\nSubject: richiesta\r\n\r\nGentile Sindaco,\r\n").unwrap();
    let out = check(&["--json", &path(&mail)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = &json_lines(&out)[0];
    assert_eq!(line["pec"]["type"], "none", "{line}");
    assert_eq!(line["decision"], "reject", "{line}");
}

/// Only empty and unreadable input are errors: exit 2, one line naming the file and the
/// cause; the documents beside them are still reported.
#[tokio::test]
async fn empty_and_unreadable_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("vuoto.p7m");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("inesistente.doc");
    let txt = dir.path().join("nota.txt");
    std::fs::write(&txt, b"solo testo\n").unwrap();

    let files = [&empty, &txt, &missing].map(|p| path(p));
    let out = check(&["--json", &files[0], &files[1], &files[2]]).await;
    assert_eq!(out.status.code(), Some(2), "stdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    let err_lines: Vec<&str> = err.lines().filter(|l| !l.contains("nessuna directory di fiducia")).collect();
    assert_eq!(err_lines.len(), 2, "{err}");
    assert!(err_lines[0].starts_with(&format!("{}: ", files[0])) && err_lines[0].contains("file vuoto"), "{err}");
    assert!(err_lines[1].starts_with(&format!("{}: ", files[2])) && err_lines[1].contains("file inesistente"), "{err}");
    let lines = json_lines(&out);
    assert_eq!(keys(&lines[0]), ["error", "file"]);
    assert_eq!(lines[1]["signature"]["verdict"], "NO_SIGNATURE_FOUND", "{}", lines[1]);
    assert_eq!(keys(&lines[2]), ["error", "file"]);

    // Alone, the empty file: exit 2.
    let out = check(&["--json", &files[0]]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}
