//! Receipts and notices end to end, all real processes: citizens write through pec-sim (the
//! local PEC provider) into the comune's Dovecot box, `sigillo serve` registers or rejects,
//! its outbox answers by SMTP through pec-sim, the answer lands as a PEC in the citizen's
//! box, and the provider's receipts of that answer come back through the intake and are
//! linked to the outbox row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sigillo_e2e::dovecot::{Dovecot, PASSWORD};
use sigillo_e2e::pec_sim::{Provider, pec_sim, pki_init};
use sigillo_e2e::{Instance, Service, run_with_env, stderr, stdout, wait_for};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const COMUNE: &str = "protocollo@pec.comune.test";
const MARIO: &str = "mario.rossi@pec.cittadini.test";
const GIULIA: &str = "giulia.bianchi@pec.cittadini.test";
const LUCA: &str = "luca.verdi@posta.test";
const DOMAINS: [&str; 2] = ["pec.cittadini.test", "pec.comune.test"];

struct Setup {
    app: Instance,
    dovecot: Dovecot,
    /// The citizens' provider: where they submit (and where ordinary mail arrives).
    citizens: Provider,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

impl Setup {
    /// `smtp`: where Sigillo submits its answers (`None`: the citizens' provider).
    async fn new(smtp: Option<&str>, extra: &[(&str, &str)]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        pki_init(&pki, &DOMAINS).await;
        let dovecot = Dovecot::start().await;
        let citizens = Provider::start(&pki, "127.0.0.1:0", &dovecot.lmtp_addr(), &DOMAINS, PASSWORD).await;
        let mut app = Instance::new().await;
        let smtp_url = format!("smtp://{}", smtp.unwrap_or(&citizens.smtp));
        for (k, v) in [
            ("SIGILLO_TRUST_DIR", pki.join("trust").display().to_string()),
            ("SIGILLO_IMAP_URL", dovecot.url()),
            ("SIGILLO_IMAP_USER", COMUNE.to_owned()),
            ("SIGILLO_IMAP_PASSWORD", PASSWORD.to_owned()),
            ("SIGILLO_IMAP_BACKOFF_MAX_SECS", "1".to_owned()),
            ("SIGILLO_IMAP_POLL_SECS", "1".to_owned()),
            ("SIGILLO_SMTP_URL", smtp_url),
            ("SIGILLO_SMTP_USER", COMUNE.to_owned()),
            ("SIGILLO_SMTP_PASSWORD", PASSWORD.to_owned()),
            ("SIGILLO_NOTIFY_FROM", COMUNE.to_owned()),
            ("SIGILLO_NOTIFY_RETRY_SECS", "1".to_owned()),
            ("SIGILLO_ENTE_NAME", "Comune di Prova".to_owned()),
            ("SIGILLO_OFFICE_NAME", "Ufficio Protocollo".to_owned()),
            ("SIGILLO_OFFICE_EMAIL", COMUNE.to_owned()),
            ("SIGILLO_SEAL_CERT", pki.join("comune/seal-cert.pem").display().to_string()),
            ("SIGILLO_SEAL_KEY", pki.join("comune/seal-key.pem").display().to_string()),
        ] {
            app.env.insert(k.into(), v);
        }
        for (k, v) in extra {
            app.env.insert((*k).into(), (*v).into());
        }
        let out = app.run(&["migrate"]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        Setup { app, dovecot, citizens, dir }
    }

    fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// A citizen writes to the comune from his PEC box.
    async fn send_pec(&self, from: &str, subject: &str, attach: &[&Path], sign: bool) {
        self.send_pec_body(from, subject, "Buongiorno, allego l'istanza.", attach, sign).await;
    }

    /// [`Setup::send_pec`] with the given message text.
    async fn send_pec_body(&self, from: &str, subject: &str, body: &str, attach: &[&Path], sign: bool) {
        let pki = self.pki();
        let mut args = vec![
            "send", "--smtp", &self.citizens.smtp, "--user", from, "--password", PASSWORD, "--from", from, "--to", COMUNE,
            "--subject", subject, "--body", body,
        ];
        for a in attach {
            args.extend(["--attach", a.to_str().unwrap()]);
        }
        if sign {
            args.extend(["--sign-attachments", "--pki", pki.to_str().unwrap()]);
        }
        let out = pec_sim(&args).await;
        assert!(out.status.success(), "pec-sim send: {}", stderr(&out));
    }

    /// Ordinary mail from a non-PEC mailbox, handed to the provider by an ordinary mail server
    /// (unauthenticated SMTP), with the raw `headers_and_body` as the message.
    async fn send_ordinary(&self, from: &str, raw: &str) {
        let stream = tokio::net::TcpStream::connect(&self.citizens.smtp).await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        async fn reply(lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>) -> String {
            loop {
                let l = lines.next_line().await.unwrap().unwrap();
                if l.as_bytes().get(3) != Some(&b'-') {
                    return l;
                }
            }
        }
        assert!(reply(&mut lines).await.starts_with("220"));
        for (cmd, code) in [
            ("EHLO mx.posta.test".to_owned(), "250"),
            (format!("MAIL FROM:<{from}>"), "250"),
            (format!("RCPT TO:<{COMUNE}>"), "250"),
            ("DATA".to_owned(), "354"),
        ] {
            w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
            let r = reply(&mut lines).await;
            assert!(r.starts_with(code), "{cmd} → {r}");
        }
        w.write_all(raw.replace('\n', "\r\n").as_bytes()).await.unwrap();
        w.write_all(b"\r\n.\r\n").await.unwrap();
        let r = reply(&mut lines).await;
        assert!(r.starts_with("250"), "end of DATA → {r}");
        w.write_all(b"QUIT\r\n").await.unwrap();
    }

    async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&self.app.db.pool).await.unwrap_or(-1)
    }

    async fn wait_scalar(&self, secs: u64, sql: &str, want: i64) {
        wait_for(secs, &format!("{sql} = {want}"), || async { self.scalar(sql).await == want }).await;
    }

    /// Like `wait_scalar`, for a count that may pass `least` between two polls.
    async fn wait_scalar_at_least(&self, secs: u64, sql: &str, least: i64) {
        wait_for(secs, &format!("{sql} >= {least}"), || async { self.scalar(sql).await >= least }).await;
    }

    async fn envelopes_for(&self, user: &str, subject_part: &str) -> Vec<Vec<u8>> {
        envelopes_for(&self.dovecot, user, subject_part).await
    }

    /// `sigillo check --trust PKI/trust --json` on one message.
    async fn check(&self, raw: &[u8]) -> Value {
        let f = self.file(&format!("m{}.eml", nanos()), raw);
        let trust = self.pki().join("trust");
        let out = run_with_env(&BTreeMap::new(), &["check", "--trust", trust.to_str().unwrap(), "--json", f.to_str().unwrap()]).await;
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap()
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The messages in `user`'s INBOX whose outer header `X-Trasporto` is `posta-certificata`
/// (PEC transport envelopes) and whose Subject mentions `subject_part`.
pub(crate) async fn envelopes_for(dovecot: &Dovecot, user: &str, subject_part: &str) -> Vec<Vec<u8>> {
    dovecot
        .bodies(user, "INBOX")
        .await
        .into_iter()
        .filter(|m| {
            header(m, "X-Trasporto").as_deref() == Some("posta-certificata")
                && header(m, "Subject").is_some_and(|s| s.contains(subject_part))
        })
        .collect()
}

/// An outer header of a message, unfolded.
pub(crate) fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n ", " ").replace("\r\n\t", " ");
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

const PDF: &[u8] = b"%PDF-1.4\n% Istanza\n%%EOF\n";

#[tokio::test]
async fn a_registered_pec_is_answered_with_a_certified_receipt_and_the_providers_receipts_are_linked() {
    let s = Setup::new(None, &[]).await;
    let _service: Service = s.app.serve(&[]);
    let istanza = s.file("istanza.pdf", PDF);
    s.send_pec(MARIO, "Richiesta accesso atti", &[&istanza], true).await;

    s.wait_scalar(60, "select count(*) from registrations", 1).await;
    // The receipt, as a PEC in Mario's box (his own accettazione and consegna are there too).
    wait_for(60, "the receipt in the citizen's box", || async { s.envelopes_for(MARIO, "Ricevuta di protocollazione").await.len() == 1 })
        .await;
    let receipt = s.envelopes_for(MARIO, "Ricevuta di protocollazione").await.remove(0);
    let report = s.check(&receipt).await;
    assert_eq!(report["pec"]["type"], "posta-certificata", "{report}");
    assert_eq!(report["pec"]["envelope_signature"]["status"], "valid", "{report}");
    let oggetto = report["pec"]["daticert"]["oggetto"].as_str().unwrap_or_default().to_owned();
    assert!(oggetto.contains("n. 0000001"), "{oggetto}");
    let names: Vec<&str> = report["attachments"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert!(names.contains(&"Segnatura.xml"), "{names:?}");

    // pec-sim's accettazione and avvenuta-consegna of the receipt come back to the comune's box,
    // are decided link-receipt (never answered) and move the outbox row to `consegnata`.
    s.wait_scalar(60, "select count(*) from outbox_receipts", 2).await;
    s.wait_scalar(30, "select count(*) from outbox where kind = 'ricevuta' and state = 'sent' and delivery = 'consegnata'", 1).await;
    assert_eq!(s.scalar("select count(*) from outbox").await, 1, "receipts of our own answer are never answered");
    assert_eq!(s.scalar("select count(*) from inbound_messages where state = 'receipt'").await, 2);
    assert_eq!(
        s.scalar("select count(*) from outbox o join registrations r on r.id = o.registration_id where r.number = 1").await,
        1
    );
}

/// The commonest istanza: a PEC with the request written in its text and no attachment. Under
/// a seal, its Segnatura.xml must name a primary document (the AgID schema requires one): the
/// message text, kept in the blob store and hashed like any document. Before the fix the
/// receipt could not be composed, the decision rolled back and the message was retried until
/// quarantined, without a number.
#[tokio::test]
async fn a_body_only_pec_under_a_seal_is_registered_and_its_segnatura_names_the_text() {
    use base64::Engine as _;
    use sha2::Digest as _;

    const TEXT: &str = "Il sottoscritto Mario Rossi chiede il rilascio del certificato di residenza. Perché serve entro il mese.";
    let s = Setup::new(None, &[]).await;
    let _service = s.app.serve(&[]);
    s.send_pec_body(MARIO, "Richiesta certificato di residenza", TEXT, &[], false).await;

    s.wait_scalar(60, "select count(*) from registrations where number = 1", 1).await;
    assert_eq!(s.scalar("select count(*) from inbound_messages where state = 'registered'").await, 1);
    assert_eq!(s.scalar("select count(*) from inbound_messages where state = 'error'").await, 0);

    // The text is the registration's one document, primary, stored under its SHA-256.
    let (name, media_type, role, sha): (String, String, String, Vec<u8>) = sqlx::query_as(
        "select d.name, d.media_type, d.role::text, d.sha256 from documents d
         join registrations r on r.id = d.registration_id where r.number = 1",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .unwrap();
    assert_eq!((name.as_str(), role.as_str()), ("testo-del-messaggio.txt", "primary"));
    assert!(media_type.starts_with("text/plain"), "{media_type}");
    let hex_sha = hex::encode(&sha);
    let blob = std::fs::read(s.app.data_dir.path().join("blobs").join(&hex_sha[..2]).join(&hex_sha[2..4]).join(&hex_sha)).unwrap();
    assert_eq!(sha2::Sha256::digest(&blob).to_vec(), sha, "the stored text is the hashed one");
    assert_eq!(String::from_utf8_lossy(&blob).trim_end(), TEXT, "the text as the citizen sent it");

    // The sealed receipt reaches Mario with Segnatura.xml naming the text as primary document.
    wait_for(60, "the receipt in the citizen's box", || async { s.envelopes_for(MARIO, "Ricevuta di protocollazione").await.len() == 1 })
        .await;
    let receipt = s.envelopes_for(MARIO, "Ricevuta di protocollazione").await.remove(0);
    let xml = segnatura_of(&receipt);
    let text = String::from_utf8(xml.clone()).unwrap();
    let impronta = base64::engine::general_purpose::STANDARD.encode(&sha);
    let primary = text.split("<prot:DocumentoPrimario ").nth(1).and_then(|t| t.split("</prot:DocumentoPrimario>").next()).unwrap_or_default();
    assert!(primary.contains(r#"prot:nomeFile="testo-del-messaggio.txt""#), "{text}");
    assert!(primary.contains(r#"prot:mimeType="text/plain"#), "{text}");
    assert!(primary.contains(&format!(r#"<prot:Impronta prot:algoritmo="SHA-256">{impronta}</prot:Impronta>"#)), "{text}");
    assert!(!text.contains("<prot:Allegato "), "no attachment: {text}");
    assert!(text.contains("<prot:NumeroRegistrazione>0000001</prot:NumeroRegistrazione>"), "{text}");
    assert_schema_valid(&xml);
    s.wait_scalar(60, "select count(*) from outbox where kind = 'ricevuta' and state = 'sent'", 1).await;
}

/// The AgID schema of Segnatura.xml, beside the checkout (`../shared/specs`) or at the
/// development machines' absolute path.
pub(crate) fn assert_schema_valid(xml: &[u8]) {
    let near = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/segnatura/segnatura_protocollo.xsd");
    let xsd = if near.exists() { near } else { PathBuf::from("/work/shared/specs/segnatura/segnatura_protocollo.xsd") };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", xsd.to_str().unwrap(), file.path().to_str().unwrap()])
        .output()
        .expect("xmllint (libxml2-utils) is needed to validate Segnatura.xml");
    assert!(
        out.status.success(),
        "Segnatura.xml not valid against {}: {}\n{}",
        xsd.display(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(xml)
    );
}

/// The decoded `Segnatura.xml` attached to the receipt inside a delivered PEC envelope: the
/// body of the part whose header names it, in its transfer encoding (lettre picks base64,
/// quoted-printable or 7bit by content).
pub(crate) fn segnatura_of(envelope: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(envelope).replace("\r\n", "\n");
    let at = text.find("filename=\"Segnatura.xml\"").or_else(|| text.find("filename=Segnatura.xml")).expect("Segnatura.xml in the receipt");
    let head_start = text[..at].rfind("\n--").expect("the part's boundary");
    let body_start = at + text[at..].find("\n\n").expect("the part's body") + 2;
    let head = text[head_start..body_start].to_ascii_lowercase();
    let body_end = body_start + text[body_start..].find("\n--").expect("the closing boundary");
    let body = &text[body_start..body_end];
    if head.contains("content-transfer-encoding: base64") {
        let encoded: String = body.lines().collect();
        return base64::engine::general_purpose::STANDARD.decode(encoded.trim()).expect("Segnatura.xml in base64");
    }
    if !head.contains("content-transfer-encoding: quoted-printable") {
        return body.as_bytes().to_vec();
    }
    let (b, mut out, mut i) = (body.as_bytes(), Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'=' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[tokio::test]
async fn non_pec_senders_and_unsigned_attachments_get_a_notice_that_says_why() {
    let s = Setup::new(None, &[]).await;
    let _service = s.app.serve(&[]);
    let domanda = s.file("domanda-contributo.pdf", PDF);
    s.send_pec(GIULIA, "Domanda contributo", &[&domanda], false).await;
    s.send_ordinary(
        LUCA,
        &format!("From: Luca Verdi <{LUCA}>\nTo: {COMUNE}\nSubject: Segnalazione buca\nMessage-ID: <buca.{}@posta.test>\n\nC'e' una buca in via Roma.", nanos()),
    )
    .await;

    s.wait_scalar(60, "select count(*) from inbound_messages where state = 'rejected'", 2).await;
    wait_for(60, "the notice to Giulia", || async { s.envelopes_for(GIULIA, "mancata protocollazione").await.len() == 1 }).await;
    let notice = s.envelopes_for(GIULIA, "mancata protocollazione").await.remove(0);
    let text = String::from_utf8_lossy(&notice).into_owned();
    assert!(text.contains("domanda-contributo.pdf"), "the notice names the unsigned file");
    assert_eq!(s.check(&notice).await["pec"]["envelope_signature"]["status"], "valid");

    // Luca has no PEC box: the provider delivers the comune's PEC to his ordinary box as a
    // transport envelope, and no delivery receipt comes back for it.
    wait_for(60, "the notice to Luca", || async { s.envelopes_for(LUCA, "mancata protocollazione").await.len() == 1 }).await;
    let notice = String::from_utf8_lossy(&s.envelopes_for(LUCA, "mancata protocollazione").await.remove(0)).into_owned();
    assert!(notice.contains("PEC"), "the notice tells to write from a PEC box");
    s.wait_scalar(60, "select count(*) from outbox where kind = 'notifica' and state = 'sent'", 2).await;
    assert_eq!(s.scalar("select count(*) from registrations").await, 0);
}

#[tokio::test]
async fn no_notice_for_automatic_mail_no_reply_senders_or_beyond_the_rate_limit() {
    let s = Setup::new(None, &[("SIGILLO_NOTIFY_RATE_PER_HOUR", "2")]).await;
    let _service = s.app.serve(&[]);
    let mail = |from: &str, extra: &str, i: usize| {
        format!("From: <{from}>\nTo: {COMUNE}\nSubject: Messaggio {i}\nMessage-ID: <m{i}.{}@posta.test>\n{extra}\nTesto.", nanos())
    };
    // Four ordinary messages from one sender: two notices, then the rate limit.
    for i in 0..4 {
        s.send_ordinary(LUCA, &mail(LUCA, "", i)).await;
    }
    s.send_ordinary("ufficio@posta.test", &mail("ufficio@posta.test", "Auto-Submitted: auto-replied", 10)).await;
    s.send_ordinary("MAILER-DAEMON@posta.test", &mail("MAILER-DAEMON@posta.test", "", 11)).await;
    s.send_ordinary("no-reply@posta.test", &mail("no-reply@posta.test", "", 12)).await;

    s.wait_scalar(90, "select count(*) from inbound_messages where state = 'rejected'", 7).await;
    s.wait_scalar(60, "select count(*) from outbox where state = 'sent'", 2).await;
    assert_eq!(s.scalar("select count(*) from outbox where suppressed_reason = 'RATE_LIMIT'").await, 2);
    assert_eq!(s.scalar("select count(*) from outbox where suppressed_reason = 'AUTOMATIC_MAIL'").await, 1);
    assert_eq!(s.scalar("select count(*) from outbox where suppressed_reason = 'NO_REPLY_SENDER'").await, 2);
    // Nothing but the two notices ever reached anybody.
    wait_for(60, "two notices to Luca", || async { s.envelopes_for(LUCA, "mancata protocollazione").await.len() == 2 }).await;
    for who in ["ufficio@posta.test", "MAILER-DAEMON@posta.test", "no-reply@posta.test"] {
        assert_eq!(s.dovecot.count(who, "INBOX").await, 0, "{who} got mail");
    }
    assert_eq!(s.scalar("select count(*) from outbox where state = 'pending'").await, 0);
}

#[tokio::test]
async fn answers_wait_for_the_smtp_server_and_a_crash_sends_none_twice() {
    const N: usize = 6;
    // Sigillo's provider (the comune's) is down at first; citizens' mail still arrives.
    let comune_smtp = format!("127.0.0.1:{}", free_port());
    const SENDERS: usize = 2;
    let s = Setup::new(
        Some(&comune_smtp),
        &[("SIGILLO_NOTIFY_MAX_ATTEMPTS", "50"), ("SIGILLO_NOTIFY_SENDERS", "2"), ("SIGILLO_NOTIFY_CONFIRM_SECS", "10")],
    )
    .await;
    let mut service = s.app.serve(&[]);
    let istanza = s.file("istanza.pdf", PDF);
    for i in 0..N {
        s.send_pec(MARIO, &format!("Istanza {i}"), &[&istanza], true).await;
    }
    s.wait_scalar(90, "select count(*) from registrations", N as i64).await;
    // Every receipt tried at least twice, none lost, none given up.
    s.wait_scalar(60, "select count(*) from outbox where state = 'pending' and attempts >= 2 and last_error is not null", N as i64)
        .await;

    // The provider comes back; the service is killed as soon as the first receipt is out,
    // possibly between a send and its commit, and started again.
    let mut provider = Provider::start(&s.pki(), &comune_smtp, &s.dovecot.lmtp_addr(), &DOMAINS, PASSWORD).await;
    // Several senders may finish together: the count can jump from 0 past 1.
    s.wait_scalar_at_least(60, "select count(*) from outbox where state = 'sent'", 1).await;
    service.kill().await;
    let _service = s.app.serve(&[]);
    s.wait_scalar(90, "select count(*) from outbox where state = 'sent'", N as i64).await;
    wait_for(60, "every receipt in Mario's box", || async {
        s.envelopes_for(MARIO, "Ricevuta di protocollazione").await.len() >= N
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let delivered = s.envelopes_for(MARIO, "Ricevuta di protocollazione").await.len();
    // Exactly once: a send in flight when the process died was either accepted (its
    // accettazione confirms it) or not (sent again once the window is over). Issue 18 §6.
    assert_eq!(delivered, N, "{delivered} receipts delivered for {N} registrations ({SENDERS} senders)");
    assert_eq!(s.scalar("select count(*) from outbox").await, N as i64);
    provider.kill().await;
}

/// Where the holding SMTP proxy stops a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hold {
    /// Before the end of DATA reaches the provider: the message is never accepted.
    BeforeAcceptance,
    /// After the provider's `250` to the end of DATA, which never reaches Sigillo: accepted,
    /// the accettazione on its way, and Sigillo does not know.
    AfterAcceptance,
}

/// An SMTP proxy on loopback in front of pec-sim that stops each connection at its first
/// end of DATA: the first connection before the provider accepts (`Hold::BeforeAcceptance`),
/// the others after (`Hold::AfterAcceptance`). Counts the connections held each way.
struct HoldingProxy {
    addr: String,
    held: std::sync::Arc<[std::sync::atomic::AtomicUsize; 2]>,
    _accept: tokio::task::JoinHandle<()>,
}

impl HoldingProxy {
    async fn start(upstream: String) -> HoldingProxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let held: std::sync::Arc<[AtomicUsize; 2]> = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let counts = held.clone();
        let accept = tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((client, _)) = listener.accept().await {
                let hold = if n == 0 { Hold::BeforeAcceptance } else { Hold::AfterAcceptance };
                n += 1;
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let counts = counts.clone();
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (sr, mut sw) = server.into_split();
                    let data_ended = std::sync::Arc::new(tokio::sync::Notify::new());
                    let ended = data_ended.clone();
                    let counts_up = counts.clone();
                    // Sigillo → provider, watching for the end of DATA.
                    let up = tokio::spawn(async move {
                        let mut tail: Vec<u8> = Vec::new();
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let k = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => k,
                            };
                            let mut seen = tail.clone();
                            seen.extend_from_slice(&buf[..k]);
                            if let Some(at) = seen.windows(5).position(|w| w == b"\r\n.\r\n") {
                                let end_in_buf = (at + 5).saturating_sub(tail.len());
                                if hold == Hold::BeforeAcceptance {
                                    // Everything but the final ".\r\n": never accepted.
                                    let keep = end_in_buf.saturating_sub(3);
                                    let _ = sw.write_all(&buf[..keep]).await;
                                    counts_up[0].fetch_add(1, Ordering::SeqCst);
                                    std::future::pending::<()>().await;
                                }
                                // Told before the provider can answer it.
                                ended.notify_one();
                                let _ = sw.write_all(&buf[..k]).await;
                                std::future::pending::<()>().await;
                            }
                            if sw.write_all(&buf[..k]).await.is_err() {
                                return;
                            }
                            tail = seen[seen.len().saturating_sub(4)..].to_vec();
                        }
                    });
                    // Provider → Sigillo, line by line; the reply to the end of DATA is kept.
                    let mut lines = BufReader::new(sr).lines();
                    let mut after_data = false;
                    loop {
                        tokio::select! {
                            biased;
                            () = data_ended.notified(), if !after_data => after_data = true,
                            line = lines.next_line() => {
                                let Ok(Some(line)) = line else { break };
                                if after_data && line.starts_with("250") {
                                    counts[1].fetch_add(1, Ordering::SeqCst);
                                    std::future::pending::<()>().await;
                                }
                                if cw.write_all(format!("{line}\r\n").as_bytes()).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    up.abort();
                });
            }
        });
        HoldingProxy { addr, held, _accept: accept }
    }

    fn held(&self, hold: Hold) -> usize {
        self.held[usize::from(hold == Hold::AfterAcceptance)].load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Issue 18 §6: the worker is killed (SIGKILL) with two receipts in flight, one the provider
/// had accepted (its 250 held back by a proxy) and one it had not (the end of DATA held
/// back). After the restart, the first is confirmed by its accettazione and never sent
/// again; the second is sent again once its confirmation window is over. Every citizen gets
/// exactly one receipt.
///
/// The two holds need the senders to work independently: the first send hangs for good,
/// and the second sender must still take the next row (a worker whose senders waited for
/// each other's pass sent nothing more until the hung send timed out).
#[tokio::test]
async fn a_crash_in_the_middle_of_sends_gives_every_citizen_exactly_one_receipt() {
    const N: usize = 6;
    // The window covers the intake's latency under load: the accepted send must be confirmed
    // by its accettazione before the window lets the restarted worker send it again.
    const WINDOW_SECS: u64 = 40;
    let window = WINDOW_SECS.to_string();
    let s = Setup::new(Some("127.0.0.1:9"), &[("SIGILLO_NOTIFY_SENDERS", "2"), ("SIGILLO_NOTIFY_CONFIRM_SECS", window.as_str())]).await;
    let proxy = HoldingProxy::start(s.citizens.smtp.clone()).await;
    let mut service = s.app.serve(&[("SIGILLO_SMTP_URL", format!("smtp://{}", proxy.addr).as_str())]);
    let citizens: Vec<String> = (0..N).map(|i| format!("cittadino{i}@pec.cittadini.test")).collect();
    let istanza = s.file("istanza.pdf", PDF);
    for (i, c) in citizens.iter().enumerate() {
        s.send_pec(c, &format!("Istanza {i}"), &[&istanza], true).await;
    }

    // Both senders stuck in the middle of a send, one on each side of the acceptance (the
    // first two registrations); killed at once, before the first send's SMTP timeout.
    wait_for(180, "one send held before and one after the provider accepted", || async {
        proxy.held(Hold::BeforeAcceptance) >= 1 && proxy.held(Hold::AfterAcceptance) >= 1
    })
    .await;
    // Marked before the SMTP transaction: both claimed rows are `sending`, unless the
    // accepted one was already confirmed by its accettazione (the intake is still running).
    let claimed = "select count(*) from outbox where attempts > 0";
    assert_eq!(s.scalar(claimed).await, 2, "two rows claimed, the others wait for a free sender");
    let sending = s.scalar("select count(*) from outbox where state = 'sending'").await;
    let confirmed = s
        .scalar(
            "select count(*) from outbox o where state = 'sent' and exists \
             (select 1 from outbox_receipts r where r.outbox_id = o.id and r.kind = 'accettazione')",
        )
        .await;
    assert!(sending >= 1 && sending + confirmed == 2, "{sending} sending and {confirmed} confirmed, for 2 sends in flight");
    service.kill().await;

    // Started again, straight to the provider; it registers what the first did not.
    let _service = s.app.serve(&[("SIGILLO_SMTP_URL", format!("smtp://{}", s.citizens.smtp).as_str())]);
    s.wait_scalar(180, "select count(*) from registrations", N as i64).await;
    s.wait_scalar(WINDOW_SECS + 180, "select count(*) from outbox where state = 'sent'", N as i64).await;
    for c in &citizens {
        wait_for(120, &format!("the receipt in {c}'s box"), || async { !s.envelopes_for(c, "Ricevuta di protocollazione").await.is_empty() }).await;
    }
    // Time for a second copy to arrive, if one had been sent.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    for c in &citizens {
        assert_eq!(s.envelopes_for(c, "Ricevuta di protocollazione").await.len(), 1, "receipts delivered to {c}");
    }
    // The accepted one was confirmed by its accettazione (one attempt); the other was sent
    // again after its window (two attempts); the rest once.
    assert_eq!(s.scalar("select count(*) from outbox where attempts = 2").await, 1);
    assert_eq!(s.scalar("select count(*) from outbox where attempts = 1").await, N as i64 - 1);
    assert_eq!(s.scalar("select count(*) from outbox").await, N as i64);
    s.wait_scalar(
        120,
        "select count(*) from outbox o where attempts = 1 and exists \
         (select 1 from outbox_receipts r where r.outbox_id = o.id and r.kind = 'accettazione')",
        N as i64 - 1,
    )
    .await;
}
