//! Benchmark of revocation online (issue 16): messages per second through the pipeline
//! (blob store, classification with every signature verified, the decision's transaction in
//! the real Postgres) with `SIGILLO_REVOCATION=offline`, and online against an `openssl ocsp`
//! responder on loopback, first with an empty cache (one OCSP request per signer) and then
//! with the answers cached.
//!
//! ```text
//! cargo run --release -p sigillo_protocol --example bench_revocation -- [MESSAGES] [SIGNERS] [WORKERS]
//! ```
//!
//! Defaults: 400 messages, 100 distinct signers (each message carries one 20 KB .p7m signed
//! by signer `i % SIGNERS`), 2 workers. Needs `openssl` on PATH and the test Postgres
//! (`SIGILLO_TEST_DATABASE_URL`, default the local server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use sigillo_pec::Checker;
use sigillo_protocol::Pipeline;
use sigillo_protocol::clock::FixedClock;
use sigillo_revocation::{Limits, OnlineRevocation};
use sigillo_store::blob::BlobStore;
use sigillo_store::inbound::{MessageState, Origin};
use sigillo_store::testing::TestDb;
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached, sign_detached};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap()
}

fn arg(i: usize, default: usize) -> usize {
    std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

struct Pki {
    provider_ca: Ca,
    provider: Leaf,
    citizen_ca: Ca,
    signers: Vec<Leaf>,
}

fn messages(pki: &Pki, run: &str, n: usize) -> Vec<Vec<u8>> {
    let at = t(2026, 5, 27);
    let opts = SignOptions { signing_time: Some(at), ..SignOptions::default() };
    let content = vec![b'x'; 20_000];
    (0..n)
        .map(|i| {
            let doc = sign_attached(&pki.signers[i % pki.signers.len()], &content, &opts);
            let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", doc)];
            let ident = format!("opec.{run}.{i}@pec.test.it");
            sigillo_testpki::pec::dated_transport(&ident, "Istanza", at, &atts, |c| sign_detached(&pki.provider, c, &opts))
        })
        .collect()
}

async fn run(label: &str, pki: &Pki, source: Option<Arc<OnlineRevocation>>, msgs: Vec<Vec<u8>>, workers: usize) {
    let db = TestDb::new(workers as u32 + 2).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut checker = Checker::new(t(2026, 5, 28).into());
    checker.add_pec_anchors(pki.provider_ca.cert_pem().as_bytes()).unwrap();
    checker.add_document_anchors(pki.citizen_ca.cert_pem().as_bytes()).unwrap();
    checker.set_revocation(source.map(|s| s as _));
    let register = db.test_register().await.unwrap();
    let p = Pipeline::new(db.pool.clone(), BlobStore::open(data.path()).unwrap(), register, checker, 3)
        .with_clock(Arc::new(FixedClock(t(2026, 5, 28))));
    let n = msgs.len();
    let queue = Arc::new(std::sync::Mutex::new(msgs));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (p, queue) = (p.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let mut registered = 0;
            loop {
                let Some(raw) = queue.lock().unwrap().pop() else { return registered };
                let o = p.ingest(raw, &format!("w{w}"), &Origin::default()).await.unwrap();
                assert_eq!(o.state, MessageState::Registered, "{o:?}");
                registered += 1;
            }
        }));
    }
    let mut done = 0;
    for task in tasks {
        done += task.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(done, n);
    println!("{label:<40} {n:>5} messages in {secs:>6.2} s: {:>7.1} msg/s", n as f64 / secs);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let (n, signers, workers) = (arg(1, 400), arg(2, 100), arg(3, 2));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/");
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2024, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let (provider_ca, citizen_ca) = (ca("Bench PEC Providers CA"), ca("Bench Qualified CA"));
    let provider = provider_ca
        .issue(LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2024, 6, 1), t(2040, 1, 1)));
    let signers: Vec<Leaf> = (0..signers)
        .map(|i| {
            let spec = LeafSpec { ocsp_url: Some(url.clone()), ..LeafSpec::person("Mario", &format!("Rossi{i}"), "TINIT-RSSMRA80A01H501U") };
            citizen_ca.issue(spec.validity(t(2024, 6, 1), t(2040, 1, 1)))
        })
        .collect();
    let pki = Pki { provider_ca, provider, citizen_ca, signers };

    // The responder: openssl ocsp with an index of every signer, signing as the CA.
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    let index: String = pki
        .signers
        .iter()
        .map(|s| {
            let c = sigillo_signature::cert::Certificate::from_der(s.cert_der()).unwrap();
            let serial: String = c.serial.iter().skip_while(|b| **b == 0).map(|b| format!("{b:02X}")).collect();
            format!("V\t{}\t\t{serial}\tunknown\t/CN=x\n", c.not_after.format("%y%m%d%H%M%SZ"))
        })
        .collect();
    std::fs::write(p("index.txt"), index).unwrap();
    // Without it openssl refuses an index whose entries share a subject, and exits.
    std::fs::write(p("index.txt.attr"), "unique_subject = no\n").unwrap();
    std::fs::write(p("ca.pem"), pki.citizen_ca.cert_pem()).unwrap();
    std::fs::write(p("ca.key"), pki.citizen_ca.key().to_pkcs8_pem()).unwrap();
    let mut responder = tokio::process::Command::new("openssl")
        .args(["ocsp", "-port", &port.to_string(), "-nmin", "60", "-ignore_err", "-index"])
        .arg(p("index.txt"))
        .arg("-rsigner")
        .arg(p("ca.pem"))
        .arg("-rkey")
        .arg(p("ca.key"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl");
    // Its "waiting" line, not a probe connection: openssl ocsp serves one connection at a
    // time and would wait on the probe.
    {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(responder.stderr.take().expect("stderr")).lines();
        let mut said = Vec::new();
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line.contains("waiting for OCSP client connections") => break,
                Ok(Some(line)) => said.push(line),
                _ => panic!("openssl ocsp did not start: {}", said.join(" | ")),
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    }
    println!(
        "{n} messages, {} signers, {workers} workers, load {}",
        pki.signers.len(),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );

    run("offline", &pki, None, messages(&pki, "off", n), workers).await;
    let db = TestDb::new(2).await.unwrap();
    let source = Arc::new(OnlineRevocation::new(tokio::runtime::Handle::current(), Some(db.pool.clone()), Limits::default()).unwrap());
    run("online, empty cache (1 OCSP request/signer)", &pki, Some(source.clone()), messages(&pki, "cold", n), workers).await;
    run("online, answers cached", &pki, Some(source), messages(&pki, "warm", n), workers).await;
    let _ = responder.kill().await;
}
