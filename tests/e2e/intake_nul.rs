//! Issue 18 §4: a NUL byte in a header of a valid PEC. Dovecot never hands one to a client
//! (it rewrites NUL as 0x80), so the same bytes pushed with `sigillo ingest` are judged as
//! Dovecot would deliver them: registered, the stored raw message byte for byte as given,
//! and the report saying what was done.

use sigillo_e2e::dovecot::Dovecot;
use sigillo_e2e::pec_mail::Attachment;
use sigillo_e2e::{stderr, stdout};

use crate::intake_ingest::{setup, write};

/// `raw` with a NUL byte inside the value of its first (outer) `Subject:` header.
fn with_nul_in_subject(raw: &[u8]) -> Vec<u8> {
    let at = raw.windows(9).position(|w| w == b"Subject: ").expect("an outer Subject header") + 9 + 3;
    let mut v = raw[..at].to_vec();
    v.push(0);
    v.extend_from_slice(&raw[at..]);
    v
}

#[tokio::test]
async fn a_nul_byte_in_a_header_is_judged_as_dovecot_delivers_it_and_the_report_says_so() {
    let s = setup(&[]).await;
    let clean = s.pki.transport("opec.nul@pec.test.it", "Istanza con un byte nullo", &[Attachment::SignedP7m { size: 2048 }]);
    let raw = with_nul_in_subject(&clean);
    assert_eq!(raw.iter().filter(|&&b| b == 0).count(), 1);

    // What Dovecot does with it: the copy a client fetches has 0x80 where the NUL was.
    let dovecot = Dovecot::start().await;
    dovecot.append("protocollo@pec.comune.test", "INBOX", std::slice::from_ref(&raw)).await;
    let fetched = dovecot.bodies("protocollo@pec.comune.test", "INBOX").await.remove(0);
    let rewritten: Vec<u8> = raw.iter().map(|&b| if b == 0 { 0x80 } else { b }).collect();
    assert_eq!(fetched, rewritten, "Dovecot delivers the message with NUL rewritten as 0x80");

    // The same bytes pushed by hand: registered, like the copy Dovecot delivers.
    let file = write(s.files.path(), "nul.eml", &raw);
    let out = s.app.run(&["ingest", "--json", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["decision"], "register", "{line}");
    assert_eq!(line["protocol"]["number"], 1, "{line}");

    // The stored raw message is the one given, NUL included; the report tells the story.
    let (sha, report): (Vec<u8>, serde_json::Value) =
        sqlx::query_as("select raw_sha256, report from inbound_messages").fetch_one(&s.app.db.pool).await.unwrap();
    let hex = hex::encode(&sha);
    let blob = s.app.data_dir.path().join("blobs").join(&hex[..2]).join(&hex[2..4]).join(&hex);
    assert_eq!(std::fs::read(blob).unwrap(), raw, "the raw bytes are stored unchanged");
    let warnings = report["pec"]["warnings"].to_string();
    assert!(warnings.contains("1 byte NUL") && warnings.contains("0x80") && warnings.contains("Dovecot"), "{report}");

    // `sigillo check` judges it the same way, and says so too.
    let trust = s.files.path().join("trust");
    let out = sigillo_e2e::run_with_env(&Default::default(), &["check", "--trust", trust.to_str().unwrap(), "--json", file.to_str().unwrap()]).await;
    let checked: serde_json::Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(checked["decision"], "register", "{checked}");
    assert!(checked["pec"]["warnings"].to_string().contains("byte NUL"), "{checked}");
}
