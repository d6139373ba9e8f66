//! pec-sim end to end: the real `pec-sim` binary (SMTP server and client), a real Dovecot
//! with LMTP, and `sigillo check` as the judge of what lands in the mailboxes.
//! Build first: `cargo build -p sigillo -p sigillo_pec_sim`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use sigillo_e2e::dovecot::{Dovecot, PASSWORD};
use sigillo_e2e::pec_sim::{Provider, pec_sim};
use sigillo_e2e::{run_with_env, stderr, stdout, wait_for};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const CITIZEN: &str = "mario.rossi@pec.cittadini.test";
const COMUNE: &str = "protocollo@pec.comune.test";
const DOMAINS: [&str; 2] = ["pec.cittadini.test", "pec.comune.test"];

struct Setup {
    dir: tempfile::TempDir,
    dovecot: Dovecot,
    sim: Provider,
}

impl Setup {
    async fn new(extra: &[&str]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let out = pec_sim(&["pki", "init", pki.to_str().unwrap(), "--domain", "pec.cittadini.test", "--pool-keys"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let dovecot = Dovecot::start().await;
        let sim = Provider::start_with(&pki, "127.0.0.1:0", &dovecot.lmtp_addr(), &DOMAINS, PASSWORD, extra).await;
        Setup { dir, dovecot, sim }
    }

    fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// `pec-sim send` as the citizen (authenticated), optionally signing the attachment.
    async fn send_pec(&self, subject: &str, attach: Option<&Path>, sign: bool) -> Output {
        let pki = self.pki();
        let mut args = vec![
            "send", "--smtp", &self.sim.smtp, "--user", CITIZEN, "--password", PASSWORD, "--from", CITIZEN, "--to", COMUNE,
            "--subject", subject, "--body", "Buongiorno, allego l'istanza.",
        ];
        if let Some(a) = attach {
            args.extend(["--attach", a.to_str().unwrap()]);
        }
        if sign {
            args.extend(["--sign-attachments", "--pki", pki.to_str().unwrap()]);
        }
        pec_sim(&args).await
    }

    async fn wait_mail(&self, user: &str, n: u32) -> Vec<Vec<u8>> {
        wait_for(20, &format!("{n} messages for {user}"), || async { self.dovecot.count(user, "INBOX").await >= n }).await;
        self.dovecot.bodies(user, "INBOX").await
    }

    /// `sigillo check --trust PKI/trust --json` on one message.
    async fn check(&self, raw: &[u8]) -> Value {
        let f = self.file(&format!("m{}.eml", rand_suffix()), raw);
        let trust = self.pki().join("trust");
        let out =
            run_with_env(&BTreeMap::new(), &["check", "--trust", trust.to_str().unwrap(), "--json", f.to_str().unwrap()]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap()
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

const PDF: &[u8] = b"%PDF-1.4\n% Istanza di accesso agli atti\n%%EOF\n";

#[tokio::test]
async fn pki_init_layout_and_refusal_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let p = pki.to_str().unwrap();
    // Real key generation once, as a user runs it.
    let out = pec_sim(&["pki", "init", p, "--domain", "pec.cittadini.test", "--domain", "pec.comune.test"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    for f in [
        "pki.json",
        "provider/ca-cert.pem",
        "provider/ca-key.pem",
        "provider/cert.pem",
        "provider/key.pem",
        "signatures/ca-cert.pem",
        "signatures/ca-key.pem",
        "citizens/mario.rossi/cert.pem",
        "citizens/mario.rossi/key.pem",
        "citizens/giulia.bianchi/cert.pem",
        "citizens/giulia.bianchi/key.pem",
        "comune/seal-cert.pem",
        "comune/seal-key.pem",
        "trust/pec/provider-ca.pem",
        "trust/signatures/signatures-ca.pem",
    ] {
        assert!(pki.join(f).is_file(), "{f} missing");
    }
    let key = std::fs::read_to_string(pki.join("comune/seal-key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let before = std::fs::read(pki.join("provider/key.pem")).unwrap();
    let out = pec_sim(&["pki", "init", p]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("esiste già") && stderr(&out).lines().count() == 1, "{}", stderr(&out));
    assert_eq!(std::fs::read(pki.join("provider/key.pem")).unwrap(), before, "nothing overwritten");
    let out = pec_sim(&["pki", "init", p, "--force", "--pool-keys"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(std::fs::read(pki.join("provider/key.pem")).unwrap(), before);
}

#[tokio::test]
async fn citizen_pec_with_signed_attachment_is_registered_and_receipted() {
    let s = Setup::new(&[]).await;
    let att = s.file("istanza.pdf", PDF);
    let out = s.send_pec("Richiesta di accesso agli atti", Some(&att), true).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let message_id = stdout(&out).trim().to_owned();
    assert!(message_id.starts_with('<') && message_id.ends_with('>'), "{message_id}");

    let inbox = s.wait_mail(COMUNE, 1).await;
    assert_eq!(inbox.len(), 1);
    let r = s.check(&inbox[0]).await;
    assert_eq!(r["pec"]["type"], "posta-certificata", "{r:#}");
    assert_eq!(r["pec"]["envelope_signature"]["status"], "valid", "{r:#}");
    assert_eq!(r["attachments"][0]["name"], "istanza.pdf.p7m", "{r:#}");
    assert_eq!(r["attachments"][0]["signature"]["verdict"], "TOTAL_PASSED", "{r:#}");
    assert_eq!(r["decision"], "register", "{r:#}");
    assert_eq!(r["pec"]["daticert"]["msgid"], message_id.as_str());
    assert_eq!(r["pec"]["daticert"]["mittente"], CITIZEN);
    assert_eq!(r["pec"]["original"]["message_id"], message_id.as_str());
    let ident = r["pec"]["daticert"]["identificativo"].as_str().unwrap().to_owned();
    assert_eq!(header(&inbox[0], "Message-ID"), Some(format!("<{ident}>")));

    // The sender's box: accettazione, then avvenuta-consegna.
    let receipts = s.wait_mail(CITIZEN, 2).await;
    assert_eq!(receipts.len(), 2);
    for (raw, tipo) in receipts.iter().zip(["accettazione", "avvenuta-consegna"]) {
        let r = s.check(raw).await;
        assert_eq!(r["pec"]["type"], "ricevuta", "{r:#}");
        assert_eq!(r["pec"]["receipt"], tipo, "{r:#}");
        assert_eq!(r["pec"]["envelope_signature"]["status"], "valid", "{r:#}");
        assert_eq!(r["decision"], "link-receipt");
        assert_eq!(r["pec"]["daticert"]["msgid"], message_id.as_str());
        assert_eq!(r["pec"]["daticert"]["identificativo"], ident.as_str());
        assert_eq!(header(raw, "X-Riferimento-Message-ID"), Some(message_id.clone()));
        if tipo == "avvenuta-consegna" {
            assert_eq!(r["pec"]["daticert"]["consegna"], COMUNE);
        }
    }
}

#[tokio::test]
async fn unsigned_attachment_is_rejected() {
    let s = Setup::new(&[]).await;
    let att = s.file("documento.pdf", PDF);
    let out = s.send_pec("Istanza non firmata", Some(&att), false).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let inbox = s.wait_mail(COMUNE, 1).await;
    let r = s.check(&inbox[0]).await;
    assert_eq!(r["pec"]["type"], "posta-certificata", "{r:#}");
    assert_eq!(r["decision"], "reject", "{r:#}");
    assert_eq!(r["reasons"][0]["code"], "UNSIGNED_ATTACHMENT", "{r:#}");
}

#[tokio::test]
async fn ordinary_mail_becomes_an_anomaly_envelope() {
    let s = Setup::new(&[]).await;
    let out = pec_sim(&[
        "send", "--smtp", &s.sim.smtp, "--from", "someone@example.org", "--to", COMUNE, "--subject", "Posta ordinaria", "--body",
        "ciao",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let inbox = s.wait_mail(COMUNE, 1).await;
    let r = s.check(&inbox[0]).await;
    assert_eq!(r["pec"]["type"], "anomalia", "{r:#}");
    assert_eq!(r["pec"]["envelope_signature"]["status"], "valid", "{r:#}");
    assert_eq!(r["decision"], "reject");
    assert_eq!(r["reasons"][0]["code"], "NOT_PEC");
    assert!(header(&inbox[0], "Subject").unwrap().starts_with("ANOMALIA MESSAGGIO: "));
}

#[tokio::test]
async fn wrong_password_is_535_and_exit_2() {
    let s = Setup::new(&[]).await;
    let out = pec_sim(&[
        "send", "--smtp", &s.sim.smtp, "--user", CITIZEN, "--password", "sbagliata", "--from", CITIZEN, "--to", COMUNE,
        "--subject", "x",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("535") && err.contains("autenticazione"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Raw protocol: the reply code itself.
    let mut c = Raw::connect(&s.sim.smtp).await;
    c.cmd("EHLO test").await;
    assert!(c.cmd("AUTH PLAIN AG1hcmlvLnJvc3NpQHBlYy5jaXR0YWRpbmkudGVzdABubw==").await.starts_with("535 "));
    // Connection refused names the cause.
    let out = pec_sim(&["send", "--smtp", "127.0.0.1:1", "--from", CITIZEN, "--to", COMUNE, "--subject", "x"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).to_lowercase().contains("refused"), "{}", stderr(&out));
    // A missing attachment too.
    let out = s.send_pec("x", Some(Path::new("/nonexistent/file.pdf")), false).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/file.pdf"), "{}", stderr(&out));
}

#[tokio::test]
async fn relay_is_refused() {
    let s = Setup::new(&[]).await;
    let out = pec_sim(&["send", "--smtp", &s.sim.smtp, "--from", "someone@example.org", "--to", "other@example.net", "--subject", "x"])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("550"), "{}", stderr(&out));
    let mut c = Raw::connect(&s.sim.smtp).await;
    c.cmd("EHLO test").await;
    assert!(c.cmd("MAIL FROM:<someone@example.org>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<other@example.net>").await.starts_with("550 5.7.1"));
    // Nor may an outsider pose as a PEC user without authenticating.
    c.cmd("RSET").await;
    assert!(c.cmd(&format!("MAIL FROM:<{CITIZEN}>")).await.starts_with("530"));
}

/// LMTP down: pec-sim cannot deliver the accettazione, so it accepts nothing and answers
/// 451; the client may retry once the store is back.
#[tokio::test]
async fn lmtp_down_refuses_submission_with_4xx() {
    let mut s = Setup::new(&[]).await;
    s.dovecot.stop().await;
    let out = s.send_pec("Durante il fermo", None, false).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("451"), "{}", stderr(&out));
    assert!(s.sim.running());
    s.dovecot.restart().await;
    let out = s.send_pec("Dopo il fermo", None, false).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s.wait_mail(COMUNE, 1).await.len(), 1);
}

#[tokio::test]
async fn malformed_input_does_not_crash_the_server() {
    let mut s = Setup::new(&["--max-size", "20000"]).await;
    let mut c = Raw::connect(&s.sim.smtp).await;
    assert!(c.cmd("BOGUS").await.starts_with("500"));
    assert!(c.cmd("MAIL FROM:<a@b.c>").await.starts_with("503"), "MAIL before EHLO");
    c.cmd("EHLO test").await;
    assert!(c.cmd("AUTH PLAIN !!!notbase64").await.starts_with("501"));
    assert!(c.cmd("AUTH CRAM-MD5").await.starts_with("504"));
    assert!(c.cmd("MAIL FROM:<not an address>").await.starts_with("553"));
    assert!(c.cmd("DATA").await.starts_with("503"));
    let long = format!("NOOP {}", "x".repeat(10_000));
    assert!(c.cmd(&long).await.starts_with("500"));
    // Too big, and garbage with NUL bytes and bare LFs inside DATA.
    c.cmd("MAIL FROM:<someone@example.org>").await;
    c.cmd(&format!("RCPT TO:<{COMUNE}>")).await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(&vec![b'a'; 30_000]).await;
    assert!(c.cmd("\r\n.").await.starts_with("552"));
    c.cmd("MAIL FROM:<someone@example.org>").await;
    c.cmd(&format!("RCPT TO:<{COMUNE}>")).await;
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.send(b"\x00\xff\xfe garbage\n\n--\r\nContent-Type: multipart/signed\n..\r\n").await;
    let reply = c.cmd(".").await;
    assert!(reply.starts_with("250"), "{reply}");
    // Half a session, then the socket closes mid-DATA.
    let mut d = Raw::connect(&s.sim.smtp).await;
    d.cmd("EHLO x").await;
    d.cmd("MAIL FROM:<someone@example.org>").await;
    d.cmd(&format!("RCPT TO:<{COMUNE}>")).await;
    d.cmd("DATA").await;
    d.send(b"Subject: cut").await;
    drop(d);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.sim.running());
    assert!(c.cmd("NOOP").await.starts_with("250"));
    // And it still does its job.
    let out = s.send_pec("Dopo gli errori", None, false).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A bare SMTP client for protocol-level checks.
struct Raw {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: &str) -> Raw {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut c = Raw { r: BufReader::new(r), w };
        assert!(c.reply().await.starts_with("220"));
        c
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
    }

    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(30), self.r.read_line(&mut line)).await.unwrap().unwrap();
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }
}
