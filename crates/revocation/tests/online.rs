//! Revocation online against real services on loopback: `openssl ocsp` as the OCSP
//! responder (started by the test, with an index of good and revoked certificates) and a CRL
//! served over HTTP by a small server the test starts. Each outcome of issue 16: good,
//! revoked before the time of judgement (REVOKED_NO_POE), revoked after it (no effect), no
//! status obtainable (TRY_LATER), answers not signed by the issuer refused, answers cached
//! (in memory and in Postgres) until their nextUpdate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Duration as Days, SubsecRound, TimeZone, Utc};
use sigillo_pec::{Checker, FileReport, ValidationTime};
use sigillo_revocation::{Limits, OnlineRevocation};
use sigillo_signature::cert::Certificate;
use sigillo_signature::revocation::{Online, RevocationSource, Status};
use sigillo_signature::{Indication, SubIndication};
use sigillo_store::testing::TestDb;
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap()
}

/// A port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `openssl ocsp` answering for `ca` from an index file, on a free loopback port. Killed on drop.
struct OcspResponder {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// One line of an OpenSSL CA index: status, expiry, revocation time, serial, file, subject.
fn index_line(leaf: &Leaf, revoked: Option<DateTime<Utc>>) -> String {
    let cert = Certificate::from_der(leaf.cert_der()).unwrap();
    let serial: String = cert.serial.iter().skip_while(|b| **b == 0).map(|b| format!("{b:02X}")).collect();
    let expiry = cert.not_after.format("%y%m%d%H%M%SZ");
    match revoked {
        None => format!("V\t{expiry}\t\t{serial}\tunknown\t/CN=test\n"),
        Some(at) => format!("R\t{expiry}\t{}\t{serial}\tunknown\t/CN=test\n", at.format("%y%m%d%H%M%SZ")),
    }
}

impl OcspResponder {
    /// Signs with `signer` (the CA itself, or a delegated responder certificate with its key).
    async fn start(port: u16, ca: &Ca, signer_pem: &str, signer_key_pem: &str, index: &str) -> OcspResponder {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(p("signer.pem"), signer_pem).unwrap();
        std::fs::write(p("signer.key"), signer_key_pem).unwrap();
        std::fs::write(p("index.txt"), index).unwrap();
        std::fs::write(p("index.txt.attr"), "unique_subject = no\n").unwrap();
        let child = tokio::process::Command::new("openssl")
            .args(["ocsp", "-index"])
            .arg(p("index.txt"))
            .args(["-port", &port.to_string(), "-rsigner"])
            .arg(p("signer.pem"))
            .arg("-rkey")
            .arg(p("signer.key"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .args(["-nmin", "60", "-ignore_err"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl ocsp (Debian package openssl) must be installed");
        let mut child = child;
        wait_ready(&mut child).await;
        OcspResponder { child, port, _dir: dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Stops the responder and waits for it to be gone (its port free again).
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Waits for the responder's "waiting for OCSP client connections" line. Not a probe
/// connection: `openssl ocsp` serves one connection at a time and would wait on the probe.
/// The rest of its standard error is drained in the background.
async fn wait_ready(child: &mut tokio::process::Child) {
    use tokio::io::AsyncBufReadExt;
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("waiting for OCSP client connections") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready.ok(), Some(true), "openssl ocsp did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
}

/// Serves its current body to every HTTP request on a loopback port; counts the requests.
struct CrlServer {
    port: u16,
    hits: Arc<AtomicUsize>,
    body: Arc<std::sync::Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CrlServer {
    async fn start() -> CrlServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (counted, served) = (hits.clone(), body.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&body).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        CrlServer { port, hits, body, task }
    }

    fn serve(&self, body: Vec<u8>) {
        *self.body.lock().unwrap() = body;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/ca.crl", self.port)
    }
}

fn ca() -> Ca {
    Ca::new_root_with(CaSpec { not_before: Some(t(2020, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new("Revocation Test CA") })
}

/// A signer valid 2024-2040 whose certificate names `ocsp` and/or `crl`.
fn signer(ca: &Ca, ocsp: Option<String>, crl: Option<String>) -> Leaf {
    let spec = LeafSpec { ocsp_url: ocsp, crl_url: crl, ..LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U") };
    ca.issue(spec.validity(t(2024, 1, 1), t(2040, 1, 1)))
}

fn source(pool: Option<sigillo_store::PgPool>) -> Arc<OnlineRevocation> {
    let limits = Limits { connect_timeout: Duration::from_secs(2), timeout: Duration::from_secs(5), ..Limits::default() };
    Arc::new(OnlineRevocation::new(tokio::runtime::Handle::current(), pool, limits).unwrap())
}

/// The status `source` gives for `leaf`, asked from a blocking thread as the verifier does.
async fn ask(source: &Arc<OnlineRevocation>, ca: &Ca, leaf: &Leaf) -> Online {
    let (s, cert, issuer) =
        (source.clone(), Certificate::from_der(leaf.cert_der()).unwrap(), Certificate::from_der(ca.cert_der()).unwrap());
    tokio::task::spawn_blocking(move || s.status(&cert, &issuer)).await.unwrap()
}

/// The verdict of a document signed by `leaf`, judged at `at`, with `source` online.
async fn verdict(source: &Arc<OnlineRevocation>, ca: &Ca, leaf: &Leaf, at: DateTime<Utc>) -> (Indication, Option<SubIndication>, String) {
    let mut checker = Checker::new(at.into());
    checker.add_document_anchors(ca.cert_pem().as_bytes()).unwrap();
    checker.set_revocation(Some(source.clone()));
    let doc = sign_attached(leaf, b"istanza", &SignOptions { signing_time: Some(at), ..SignOptions::default() });
    tokio::task::spawn_blocking(move || match checker.check_at("doc.p7m", &doc, ValidationTime::given(at)) {
        Ok(FileReport::Document(d)) => (d.signature.verdict, d.signature.subindication, d.signature.detail),
        other => panic!("{other:?}"),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ocsp_good_revoked_before_and_revoked_after() {
    let ca = ca();
    let port = dead_port();
    let url = format!("http://127.0.0.1:{port}/");
    let good = signer(&ca, Some(url.clone()), None);
    let revoked = signer(&ca, Some(url.clone()), None);
    let revoked_at = Utc::now() - Days::days(30);
    let index = format!("{}{}", index_line(&good, None), index_line(&revoked, Some(revoked_at)));
    // The CA signs its own responses.
    let responder = OcspResponder::start(port, &ca, &ca.cert_pem(), &ca.key().to_pkcs8_pem(), &index).await;
    assert_eq!(responder.url(), url);
    let src = source(None);

    let a = match ask(&src, &ca, &good).await {
        Online::Known(a) => a,
        other => panic!("no answer: {other:?}"),
    };
    assert_eq!(a.status, Status::Good);
    assert!(a.next_update > Utc::now() + Days::minutes(50), "openssl -nmin 60 gives the next update: {a:?}");
    let now = Utc::now();
    let (v, sub, detail) = verdict(&src, &ca, &good, now).await;
    assert_eq!((v, sub), (Indication::TotalPassed, None), "{detail}");

    // Revoked 30 days ago, judged now: REVOKED_NO_POE.
    let (v, sub, detail) = verdict(&src, &ca, &revoked, now).await;
    assert_eq!((v, sub), (Indication::Indeterminate, Some(SubIndication::RevokedNoPoe)), "{detail}");
    // Judged before the revocation (a PEC's time, a timestamp): no effect.
    let (v, sub, detail) = verdict(&src, &ca, &revoked, revoked_at - Days::days(10)).await;
    assert_eq!((v, sub), (Indication::TotalPassed, None), "{detail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delegated_responder_counts_and_a_stranger_does_not() {
    let ca = ca();
    let port = dead_port();
    let url = format!("http://127.0.0.1:{port}/");
    let leaf = signer(&ca, Some(url), None);
    let delegated = ca.issue(LeafSpec::ocsp_responder("Revocation Test OCSP").validity(t(2024, 1, 1), t(2040, 1, 1)));
    let index = index_line(&leaf, None);
    let r = OcspResponder::start(port, &ca, &delegated.cert_pem(), &delegated.key.to_pkcs8_pem(), &index).await;
    let a = match ask(&source(None), &ca, &leaf).await {
        Online::Known(a) => a,
        other => panic!("delegated responder refused: {other:?}"),
    };
    assert_eq!(a.status, Status::Good);
    r.stop().await;
    // Another CA's responder answering for ours: signature not authorised, no status.
    let stranger = Ca::new_root("Stranger CA");
    let _r = OcspResponder::start(port, &ca, &stranger.cert_pem(), &stranger.key().to_pkcs8_pem(), &index).await;
    let Online::Unavailable(why) = ask(&source(None), &ca, &leaf).await else { panic!("a stranger's answer was taken") };
    assert!(why.contains("not signed by the issuer"), "{why}");
    // The verdict: TRY_LATER, never a pass.
    let (v, sub, detail) = verdict(&source(None), &ca, &leaf, Utc::now()).await;
    assert_eq!((v, sub), (Indication::Indeterminate, Some(SubIndication::TryLater)), "{detail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_responder_that_is_down_gives_try_later() {
    let ca = ca();
    let leaf = signer(&ca, Some(format!("http://127.0.0.1:{}/", dead_port())), Some(format!("http://127.0.0.1:{}/x.crl", dead_port())));
    let Online::Unavailable(why) = ask(&source(None), &ca, &leaf).await else { panic!("status from nowhere") };
    assert!(why.contains("OCSP") && why.contains("CRL") && why.contains("connection refused"), "{why}");
    let (v, sub, detail) = verdict(&source(None), &ca, &leaf, Utc::now()).await;
    assert_eq!((v, sub), (Indication::Indeterminate, Some(SubIndication::TryLater)), "{detail}");
    // A certificate that names no service is not asked, and not failed for it.
    let silent = signer(&ca, None, None);
    assert_eq!(ask(&source(None), &ca, &silent).await, Online::NoSource);
    let (v, _, detail) = verdict(&source(None), &ca, &silent, Utc::now()).await;
    assert_eq!(v, Indication::TotalPassed, "{detail}");
}

#[tokio::test(flavor = "multi_thread")]
async fn crl_over_http_is_verified_and_cached_in_postgres() {
    let ca = ca();
    let now = Utc::now();
    // The server listens first: the certificates name its URL, then the CRL lists them.
    let server = CrlServer::start().await;
    let good = signer(&ca, None, Some(server.url()));
    let revoked = signer(&ca, None, Some(server.url()));
    let revoked_at = now - Days::days(3);
    server.serve(ca.crl(&[(revoked.cert_der(), revoked_at)], now - Days::hours(1), now + Days::days(1)));

    let db = TestDb::new(2).await.unwrap();
    let src = source(Some(db.pool.clone()));
    let Online::Known(a) = ask(&src, &ca, &good).await else { panic!("no answer") };
    assert_eq!((a.status, a.source.starts_with("CRL http://127.0.0.1:")), (Status::Good, true), "{a:?}");
    let (v, sub, detail) = verdict(&src, &ca, &revoked, now).await;
    assert_eq!((v, sub), (Indication::Indeterminate, Some(SubIndication::RevokedNoPoe)), "{detail}");
    let (v, _, detail) = verdict(&src, &ca, &revoked, revoked_at - Days::days(1)).await;
    assert_eq!(v, Indication::TotalPassed, "{detail}");
    // One download served both certificates (the CRL is kept until its nextUpdate).
    assert_eq!(server.hits(), 1);

    // Another instance on the same database: answered from Postgres, the server gone.
    drop(server);
    let other = source(Some(db.pool.clone()));
    let Online::Known(a) = ask(&other, &ca, &revoked).await else { panic!("not cached in Postgres") };
    assert_eq!(a.status, Status::Revoked(revoked_at.trunc_subsecs(0)));
    // Without the database, the same question has no answer.
    let (v, sub, _) = verdict(&source(None), &ca, &good, now).await;
    assert_eq!((v, sub), (Indication::Indeterminate, Some(SubIndication::TryLater)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crl_signed_by_another_key_or_out_of_date_is_refused() {
    let ca = ca();
    let now = Utc::now();
    let server = CrlServer::start().await;
    let leaf = signer(&ca, None, Some(server.url()));
    // Same name, another key.
    let lookalike = Ca::new_root_with(CaSpec { not_before: Some(t(2020, 1, 1)), ..CaSpec::new("Revocation Test CA") });
    server.serve(lookalike.crl(&[], now - Days::hours(1), now + Days::days(1)));
    let Online::Unavailable(why) = ask(&source(None), &ca, &leaf).await else { panic!("forged CRL taken") };
    assert!(why.contains("signature does not verify"), "{why}");
    // Genuine but past its nextUpdate.
    server.serve(ca.crl(&[], now - Days::days(10), now - Days::days(3)));
    let Online::Unavailable(why) = ask(&source(None), &ca, &leaf).await else { panic!("stale CRL taken") };
    assert!(why.contains("out of date"), "{why}");
}

/// The PEC provider's envelope certificate is asked online too (issue 16): revoked before
/// the envelope is judged → not trusted (FORGED_ENVELOPE, REVOKED_NO_POE named); revoked
/// after → no effect; no status to be had → not trusted for now (TRY_LATER), to review and
/// not called forged. Offline, the same revoked certificate passes (no CRL here): the
/// answer comes from the responder.
#[tokio::test(flavor = "multi_thread")]
async fn the_envelope_certificate_is_asked_online() {
    use sigillo_pec::report::{Decision, EnvelopeStatus, ReasonCode};
    use sigillo_testpki::sign_detached;
    let provider_ca =
        Ca::new_root_with(CaSpec { not_before: Some(t(2020, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new("Test PEC Providers CA") });
    let port = dead_port();
    let provider = |url: String| {
        provider_ca.issue(
            LeafSpec { ocsp_url: Some(url), ..LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it") }
                .validity(t(2024, 1, 1), t(2040, 1, 1)),
        )
    };
    let good = provider(format!("http://127.0.0.1:{port}/"));
    let revoked = provider(format!("http://127.0.0.1:{port}/"));
    let unreachable = provider(format!("http://127.0.0.1:{}/", dead_port()));
    let revoked_at = Utc::now() - Days::days(30);
    let index = format!("{}{}", index_line(&good, None), index_line(&revoked, Some(revoked_at)));
    let _responder = OcspResponder::start(port, &provider_ca, &provider_ca.cert_pem(), &provider_ca.key().to_pkcs8_pem(), &index).await;
    let src = source(None);

    let check = |leaf: &Leaf, at: DateTime<Utc>, online: bool| {
        let mut checker = Checker::new(at.into());
        checker.add_pec_anchors(provider_ca.cert_pem().as_bytes()).unwrap();
        if online {
            checker.set_revocation(Some(src.clone()));
        }
        let opts = SignOptions { signing_time: Some(at), ..SignOptions::default() };
        let raw = sigillo_testpki::pec::dated_transport("opec.env@pec.test.it", "Istanza", at, &[], |c| sign_detached(leaf, c, &opts));
        async move {
            tokio::task::spawn_blocking(move || checker.check_message_at("env.eml", &raw, ValidationTime::now(at)).unwrap()).await.unwrap()
        }
    };
    let now = Utc::now();
    let r = check(&good, now, true).await;
    assert_eq!((r.pec.envelope_signature.status, r.decision), (EnvelopeStatus::Valid, Decision::Register), "{:?}", r.pec.envelope_signature);

    let r = check(&revoked, now, true).await;
    let sig = &r.pec.envelope_signature;
    assert_eq!((sig.status, sig.subindication), (EnvelopeStatus::Untrusted, Some(SubIndication::RevokedNoPoe)), "{sig:?}");
    assert!(sig.detail.as_deref().unwrap_or_default().contains("revoked on"), "{sig:?}");
    assert_eq!(r.decision, Decision::Reject);
    assert_eq!(r.reasons[0].code, ReasonCode::ForgedEnvelope);
    assert!(r.reasons[0].detail.contains("revocato"), "{:?}", r.reasons);
    // The JSON names the cause.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["pec"]["envelope_signature"]["subindication"], "REVOKED_NO_POE", "{json}");

    // Judged before the revocation: valid.
    let r = check(&revoked, revoked_at - Days::days(10), true).await;
    assert_eq!(r.pec.envelope_signature.status, EnvelopeStatus::Valid, "{:?}", r.pec.envelope_signature);
    // Offline nothing is asked.
    let r = check(&revoked, now, false).await;
    assert_eq!(r.pec.envelope_signature.status, EnvelopeStatus::Valid, "{:?}", r.pec.envelope_signature);

    // Nobody answers: not trusted for now, to review (SIGNATURE_INDETERMINATE), not forged.
    let r = check(&unreachable, now, true).await;
    let sig = &r.pec.envelope_signature;
    assert_eq!((sig.status, sig.subindication), (EnvelopeStatus::Untrusted, Some(SubIndication::TryLater)), "{sig:?}");
    assert_eq!(r.decision, Decision::Review);
    assert_eq!(r.reasons.iter().map(|x| x.code).collect::<Vec<_>>(), [ReasonCode::SignatureIndeterminate]);
    // A valid envelope's JSON keeps its old shape (no subindication key).
    let r = check(&good, now, true).await;
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["pec"]["envelope_signature"].get("subindication").is_none(), "{json}");
}
