//! Benchmark of the IMAP intake (issue 5): the release `sigillo serve` against a real Dovecot
//! and a fresh database of the real Postgres.
//!
//! ```text
//! cargo build --release -p sigillo --bin sigillo -p sigillo_pec_sim --bin pec-sim
//! cargo run --release --example bench_intake -- bulk N [LATENCY_MSGS]
//! cargo run --release --example bench_intake -- big MEGABYTES
//! cargo run --release --example bench_intake -- dump DIR [N]
//! ```
//!
//! `bulk` preloads INBOX with N messages (60% PEC with a 200 KB signed .p7m, 20% PEC with a
//! 500 KB PAdES-signed PDF, 10% anomalies, 10% receipts), measures the bare IMAP fetch rate of
//! that mailbox (`UID FETCH 1:* BODY.PEEK[]`), then starts `sigillo serve` and measures the
//! time until every message is decided and the serve process's peak RSS; then starts the
//! service again with the outbox on (pec-sim as the SMTP server) and, the service in IDLE,
//! appends LATENCY_MSGS more at 20 messages/s and reports p50/p99 of APPEND → decision and of
//! APPEND → receipt of registration handed to SMTP (accepted by pec-sim). It prints the CPU the whole machine spent per message, by process
//! (`sigillo`, `postgres`, Dovecot's `imap`, the kernel's writeback workers), and, in the same
//! run and database, the two other numbers the intake is judged by: the register's own rate
//! (`register::register` in its own transaction, 1 and WORKERS writers, 5 s each) and the
//! storage floor (the blob store alone writing blobs of the sizes the intake wrote, on as many
//! threads as the intake has workers, CPU per message), and checks the goal: the intake at
//! least 75% of the slowest of the three. With `BENCH_LINK_MB_S=N`, the bare fetch and the
//! service reach Dovecot through a proxy that carries N MB/s per connection (a provider's
//! link), which does not bank the bandwidth of an idle moment. `big` appends one PEC
//! carrying a signed .p7m of MEGABYTES MB and reports the time and the peak RSS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime};

use futures_util::TryStreamExt;
use sigillo_e2e::dovecot::{Dovecot, PASSWORD, session_at};
use sigillo_e2e::pec_mail::{Attachment, Pki};
use sigillo_e2e::pec_sim::{Provider, pki_init};
use sigillo_e2e::tcp_proxy::TcpProxy;
use sigillo_e2e::{Instance, stderr};
use sigillo_testpki::pdf::{PdfSignOptions, minimal_pdf, sign_pdf};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions};

const USER: &str = "protocollo";
/// The citizens' PEC domain of the generated messages and the comune's, for pec-sim.
const CITIZENS: &str = "pec.test.it";
const COMUNE_DOMAIN: &str = "pec.comune.test";

fn t(y: i32, m: u32, d: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned()
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user, system) a process has used so far.
fn cpu_secs(pid: u32) -> (f64, f64) {
    stat_cpu_secs(&format!("/proc/{pid}/stat"))
}

/// CPU seconds (user, system) from a `/proc/…/stat` file.
fn stat_cpu_secs(path: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

/// CPU seconds used so far by every live process, summed by command name (`postgres`,
/// `imap`, `sigillo`...), and the machine's busy seconds from `/proc/stat`: what the intake
/// shares the cores with. Processes that exit in between are missed (the pool's Postgres
/// backends and the IMAP session live through the run).
fn cpu_by_command() -> (std::collections::BTreeMap<String, f64>, f64) {
    let mut by = std::collections::BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let comm = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map_or("?", |(c, _)| c).to_owned();
            let (u, s) = cpu_secs(pid);
            *by.entry(comm).or_insert(0.0) += u + s;
        }
    }
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
            v.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| x).sum::<f64>() / 100.0
        })
        .unwrap_or(0.0);
    (by, busy)
}

/// CPU seconds (user, system) of the calling thread.
fn thread_cpu_secs() -> (f64, f64) {
    stat_cpu_secs("/proc/thread-self/stat")
}

/// A second citizen signer for the PAdES PDFs and a second provider for their envelopes:
/// `Pki` keeps its own keys private (its `Attachment` has no PDF kind), so the benchmark
/// brings its CAs and adds them to the trust directory next to the harness's.
struct PdfSigner {
    ca: Ca,
    leaf: Leaf,
    provider_ca: Ca,
    provider: Leaf,
}

impl PdfSigner {
    fn new() -> PdfSigner {
        let ca = Ca::new_root_with(CaSpec { not_before: Some(t(2025, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new("Bench Qualified Signatures CA") });
        let leaf = ca.issue(LeafSpec::person("Anna", "Bianchi", "TINIT-BNCNNA80A41H501X").validity(t(2025, 1, 1), t(2040, 1, 1)));
        let provider_ca = Ca::new_root_with(CaSpec { not_before: Some(t(2025, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new("Bench PEC Providers CA") });
        let provider = provider_ca
            .issue(LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2025, 1, 1), t(2040, 1, 1)));
        PdfSigner { ca, leaf, provider_ca, provider }
    }

    fn pdf(&self, size: usize, seed: usize) -> Vec<u8> {
        let pdf = minimal_pdf(&format!("Istanza n. {seed}"), size);
        let opts = PdfSignOptions {
            cms: SignOptions { signing_time: Some(t(2026, 1, 10)), ..SignOptions::default() },
            time: Some(t(2026, 1, 10)),
            ..PdfSignOptions::default()
        };
        sign_pdf(&pdf, &self.leaf, &opts)
    }
}

struct Setup {
    app: Instance,
    pki: Pki,
    pdf: PdfSigner,
    dovecot: Dovecot,
    _trust: tempfile::TempDir,
}

async fn setup() -> Setup {
    let mut app = Instance::new().await;
    let trust = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    pki.write_trust_dir(trust.path());
    let pdf = PdfSigner::new();
    std::fs::write(trust.path().join("signatures").join("bench-ca.pem"), pdf.ca.cert_pem()).unwrap();
    std::fs::write(trust.path().join("pec").join("bench-ca.pem"), pdf.provider_ca.cert_pem()).unwrap();
    let dovecot = Dovecot::start().await;
    for (k, v) in [
        ("SIGILLO_TRUST_DIR", trust.path().display().to_string()),
        ("SIGILLO_IMAP_URL", dovecot.url()),
        ("SIGILLO_IMAP_USER", USER.to_owned()),
        ("SIGILLO_IMAP_PASSWORD", PASSWORD.to_owned()),
        ("SIGILLO_IMAP_TIMEOUT_SECS", "120".to_owned()),
    ] {
        app.env.insert(k.into(), v);
    }
    // Anything else (SIGILLO_IMAP_BATCH, SIGILLO_INTAKE_WORKERS, SIGILLO_LOG, ...) passes through.
    for (k, v) in std::env::vars() {
        if k.starts_with("SIGILLO_IMAP_") || k.starts_with("SIGILLO_INTAKE_") || k == "SIGILLO_LOG" {
            app.env.insert(k, v);
        }
    }
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "migrate: {}", stderr(&out));
    Setup { app, pki, pdf, dovecot, _trust: trust }
}

/// Message `i` of the mix: 60% PEC + 200 KB .p7m, 20% PEC + 500 KB PAdES PDF, 10% anomalies,
/// 10% receipts.
fn message(s: &Setup, prefix: &str, i: usize) -> Vec<u8> {
    mix_message(&s.pki, &s.pdf, prefix, i)
}

fn mix_message(pki: &Pki, pdf: &PdfSigner, prefix: &str, i: usize) -> Vec<u8> {
    let ident = format!("opec.{prefix}{i}@pec.test.it");
    match i % 10 {
        0..=5 => pki.transport(&ident, &format!("Istanza {i}"), &[Attachment::SignedP7m { size: 200 * 1024 }]),
        6 | 7 => {
            let atts = [(format!("istanza-{i}.pdf"), "application/pdf", pdf.pdf(500 * 1024, i))];
            pki.transport_with(&ident, &format!("Istanza {i}"), &atts, &pdf.provider)
        }
        8 => pki.anomaly(&ident, &format!("Domanda {i}")),
        _ => pki.receipt(&format!("opec.r{prefix}{i}@pec.test.it"), "accettazione"),
    }
}

/// Writes N messages of the bulk mix to `DIR/msgs/NNNNN.eml` and their trust anchors to
/// `DIR/trust/`, for profiling the classification or `sigillo ingest` without Dovecot
/// (e.g. under `valgrind --tool=callgrind`).
fn dump(dir: &std::path::Path, n: usize) {
    let pki = Pki::new();
    let pdf = PdfSigner::new();
    let trust = dir.join("trust");
    pki.write_trust_dir(&trust);
    std::fs::write(trust.join("signatures").join("bench-ca.pem"), pdf.ca.cert_pem()).unwrap();
    std::fs::write(trust.join("pec").join("bench-ca.pem"), pdf.provider_ca.cert_pem()).unwrap();
    let msgs = dir.join("msgs");
    std::fs::create_dir_all(&msgs).unwrap();
    let mut bytes = 0;
    for i in 0..n {
        let m = mix_message(&pki, &pdf, "d", i);
        bytes += m.len();
        std::fs::write(msgs.join(format!("{i:05}.eml")), m).unwrap();
    }
    println!("{n} messages, {:.1} MB, in {}; trust dir {}", bytes as f64 / 1e6, msgs.display(), trust.display());
}

async fn scalar(app: &Instance, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap_or(-1)
}

async fn states(app: &Instance) -> String {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select state::text, count(*) from inbound_messages group by 1 order by 1").fetch_all(&app.db.pool).await.unwrap_or_default();
    rows.iter().map(|(s, n)| format!("{s}={n}")).collect::<Vec<_>>().join(" ")
}

/// Bare fetch of a whole mailbox on one session, streamed: (messages, bytes, seconds).
async fn bare_fetch(addr: &str, mailbox: &str) -> (u64, u64, f64) {
    let mut session = session_at(addr, USER).await;
    session.examine(mailbox).await.unwrap();
    let start = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    {
        let mut stream = session.uid_fetch("1:*", "(UID BODY.PEEK[])").await.unwrap();
        while let Some(f) = stream.try_next().await.unwrap() {
            n += 1;
            bytes += f.body().map_or(0, |b| b.len() as u64);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = session.logout().await;
    (n, bytes, secs)
}

async fn bulk(n: usize, latency_msgs: usize) {
    println!("load at start: {}", loadavg());
    let s = setup().await;

    // 1. Preload.
    let start = Instant::now();
    let mut session = s.dovecot.session(USER).await;
    let mut bytes = 0u64;
    let mut gen_secs = 0f64;
    for i in 0..n {
        let g = Instant::now();
        let m = message(&s, "b", i);
        gen_secs += g.elapsed().as_secs_f64();
        bytes += m.len() as u64;
        session.append("INBOX", None, None, &m).await.unwrap_or_else(|e| panic!("APPEND {i}: {e}"));
    }
    let _ = session.logout().await;
    println!(
        "preload: {n} messages, {:.1} MB in {:.1} s (building {:.1} s); load {}",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        gen_secs,
        loadavg()
    );
    // Dovecot's copy of the preload is still in the page cache: written back during the
    // intake, it would be counted as the intake's writeback and compete with its fsyncs. The
    // limits below are measured on a quiet disk; so is the intake.
    let synced = Instant::now();
    let ok = std::process::Command::new("sync").status().is_ok_and(|s| s.success());
    println!("sync after the preload: {} in {:.1} s", if ok { "done" } else { "FAILED" }, synced.elapsed().as_secs_f64());

    // The link to the provider: loopback, or `BENCH_LINK_MB_S` megabytes per second per
    // connection through a throttling proxy (a provider's link and throttling), for the bare
    // fetch and the service alike.
    let link = std::env::var("BENCH_LINK_MB_S").ok().map(|v| v.parse::<u64>().expect("BENCH_LINK_MB_S: megabytes per second"));
    let proxy = match link {
        Some(mb) => {
            let p = TcpProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], s.dovecot.port))).await;
            p.throttle(Some(mb * 1_000_000));
            println!("link: {mb} MB/s per connection, through a throttling proxy");
            Some(p)
        }
        None => None,
    };
    let imap_addr = proxy.as_ref().map_or_else(|| format!("127.0.0.1:{}", s.dovecot.port), TcpProxy::addr);
    let imap_url = format!("imap://{imap_addr}");

    // 2. The IMAP limit: the bare fetch of the same mailbox.
    let (fetched, fbytes, fsecs) = bare_fetch(&imap_addr, "INBOX").await;
    let fetch_rate = fetched as f64 / fsecs;
    println!(
        "bare IMAP fetch: {fetched} messages, {:.1} MB in {fsecs:.2} s = {:.0} msg/s, {:.1} MB/s; load {}",
        fbytes as f64 / 1e6,
        fetched as f64 / fsecs,
        fbytes as f64 / 1e6 / fsecs,
        loadavg()
    );

    // 3. The intake.
    let mut service = s.app.serve(&[("SIGILLO_IMAP_URL", &imap_url)]);
    let pid = service.child.id().unwrap();
    let (cpu_before, busy_before) = cpu_by_command();
    let start = Instant::now();
    let mut last_report = Instant::now();
    let mut loads = Vec::new();
    loop {
        let decided = scalar(&s.app, "select count(*) from inbound_messages where state not in ('received', 'error')").await;
        if decided >= n as i64 {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            loads.push(loadavg());
            println!("  {:>6.1} s: decided {decided}; {}; load {}", start.elapsed().as_secs_f64(), states(&s.app).await, loadavg());
        }
        assert!(service.running(), "sigillo serve exited");
        assert!(start.elapsed() < Duration::from_secs(3600), "not done in an hour: {}", states(&s.app).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "intake: {n} decided in {secs:.1} s = {:.1} msg/s ({:.1} MB/s of mail); states {}; peak RSS (VmHWM) {} MiB; load {}",
        n as f64 / secs,
        bytes as f64 / 1e6 / secs,
        states(&s.app).await,
        vm_hwm_kib(pid) / 1024,
        loadavg()
    );
    let (user, sys) = cpu_secs(pid);
    println!("  sigillo serve CPU: {user:.1} s user + {sys:.1} s system = {:.1} ms per message", (user + sys) * 1000.0 / n as f64);
    let (cpu_after, busy_after) = cpu_by_command();
    let mut shares: Vec<(String, f64)> = cpu_after
        .iter()
        .map(|(c, a)| (c.clone(), a - cpu_before.get(c).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d >= 0.05)
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    let shares: Vec<String> = shares.iter().map(|(c, d)| format!("{c} {:.2}", d * 1000.0 / n as f64)).collect();
    println!(
        "  machine busy {:.1} s of {:.1} s x 2 cores = {:.2} ms per message; ms per message by command: {}",
        busy_after - busy_before,
        secs,
        (busy_after - busy_before) * 1000.0 / n as f64,
        shares.join(", ")
    );
    let registered = scalar(&s.app, "select count(*) from registrations").await;
    println!("  registrations {registered}; decision reasons of non-registered transport envelopes:");
    let reasons: Vec<(String, i64)> = sqlx::query_as(
        "select coalesce(reasons->0->>'code', state::text), count(*) from inbound_messages where state in ('rejected', 'review') group by 1 order by 1",
    )
    .fetch_all(&s.app.db.pool)
    .await
    .unwrap_or_default();
    for (r, c) in reasons {
        println!("    {r}: {c}");
    }
    // Moving out of INBOX follows the decision.
    let inbox_start = Instant::now();
    while s.dovecot.count(USER, "INBOX").await > 0 && inbox_start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("  INBOX empty {:.1} s after the last decision", inbox_start.elapsed().as_secs_f64());

    // 4. Latency under IDLE at 20 messages/s, with the outbox on: the service again, now with
    // answers to citizens sent through pec-sim (SMTP), which delivers them over LMTP to the
    // citizen's box in the same Dovecot.
    if latency_msgs > 0 {
        service.kill().await;
        let outbox_dir = tempfile::tempdir().unwrap();
        let pki = outbox_dir.path().join("pki");
        pki_init(&pki, &[CITIZENS, COMUNE_DOMAIN]).await;
        let mut provider = Provider::start(&pki, "127.0.0.1:0", &s.dovecot.lmtp_addr(), &[CITIZENS, COMUNE_DOMAIN], PASSWORD).await;
        let comune = format!("protocollo@{COMUNE_DOMAIN}");
        let smtp_url = format!("smtp://{}", provider.smtp);
        let seal_cert = pki.join("comune/seal-cert.pem").display().to_string();
        let seal_key = pki.join("comune/seal-key.pem").display().to_string();
        service = s.app.serve(&[
            ("SIGILLO_IMAP_URL", &imap_url),
            ("SIGILLO_SMTP_URL", &smtp_url),
            ("SIGILLO_SMTP_USER", &comune),
            ("SIGILLO_SMTP_PASSWORD", PASSWORD),
            ("SIGILLO_NOTIFY_FROM", &comune),
            ("SIGILLO_NOTIFY_RATE_PER_HOUR", "10000"),
            ("SIGILLO_ENTE_NAME", "Comune di Prova"),
            ("SIGILLO_OFFICE_NAME", "Ufficio Protocollo"),
            ("SIGILLO_SEAL_CERT", &seal_cert),
            ("SIGILLO_SEAL_KEY", &seal_key),
        ]);
        let pid = service.child.id().unwrap();
        // Connected and in IDLE.
        tokio::time::sleep(Duration::from_secs(3)).await;

        let msgs: Vec<Vec<u8>> = (0..latency_msgs).map(|i| message(&s, "l", i)).collect();
        let mut session = s.dovecot.session(USER).await;
        let mut sent = Vec::with_capacity(latency_msgs);
        let start = Instant::now();
        let mut behind = 0;
        for (i, m) in msgs.iter().enumerate() {
            let due = start + Duration::from_millis(50 * i as u64);
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
            } else if now - due > Duration::from_millis(50) {
                behind += 1;
            }
            let at = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
            session.append("INBOX", None, None, m).await.unwrap();
            sent.push(at);
        }
        let _ = session.logout().await;
        let rate = latency_msgs as f64 / start.elapsed().as_secs_f64();
        let total = (n + latency_msgs) as i64;
        let wait = Instant::now();
        while scalar(&s.app, "select count(*) from inbound_messages where state not in ('received', 'error')").await < total
            || scalar(&s.app, "select count(*) from outbox where state = 'pending'").await > 0
        {
            assert!(wait.elapsed() < Duration::from_secs(600), "latency messages not decided and answered: {}", states(&s.app).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The row of message i of the latency batch: its ident is in pec_identificativo
        // (receipts carry opec.rl<i>); its receipt of registration, when it has one, is the
        // outbox row `ricevuta` answering it, `sent_at` when pec-sim accepted it.
        let rows: Vec<(String, f64, Option<f64>)> = sqlx::query_as(
            "select m.pec_identificativo, extract(epoch from m.decided_at)::float8, extract(epoch from o.sent_at)::float8 \
             from inbound_messages m left join outbox o on o.inbound_message_id = m.id and o.kind = 'ricevuta' \
             where m.pec_identificativo like 'opec.l%' or m.pec_identificativo like 'opec.rl%'",
        )
        .fetch_all(&s.app.db.pool)
        .await
        .unwrap();
        let index = |ident: &str| -> Option<usize> {
            ident.trim_start_matches("opec.rl").trim_start_matches("opec.l").split('@').next()?.parse().ok()
        };
        let mut lat: Vec<f64> = rows.iter().filter_map(|(id, decided, _)| Some((decided - sent.get(index(id)?)?) * 1000.0)).collect();
        let mut smtp: Vec<f64> =
            rows.iter().filter_map(|(id, _, handed)| Some((handed.as_ref()? - sent.get(index(id)?)?) * 1000.0)).collect();
        let sent_rows = scalar(&s.app, "select count(*) from outbox where state = 'sent'").await;
        let other_rows = scalar(&s.app, "select count(*) from outbox where state <> 'sent'").await;
        for (what, v) in [("APPEND→decision", &mut lat), ("APPEND→receipt handed to SMTP", &mut smtp)] {
            v.sort_by(f64::total_cmp);
            let pct = |p: f64| v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::NAN);
            println!(
                "latency {what} under IDLE, outbox on: {latency_msgs} messages at {rate:.1} msg/s ({behind} APPENDs late), \
                 matched {}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; load {}",
                v.len(),
                pct(0.5),
                pct(0.99),
                v.last().copied().unwrap_or(f64::NAN),
                loadavg()
            );
        }
        println!("  outbox: {sent_rows} sent, {other_rows} other (notices suppressed or not sent); peak RSS now {} MiB", vm_hwm_kib(pid) / 1024);
        provider.kill().await;
    }
    println!("load samples during the intake: {loads:?}");
    service.kill().await;

    // 5. The register's limit, in the same run and database: `register::register` in its own
    // transaction, as `cargo bench -p sigillo_store --bench register` runs it, on a second
    // register so that the intake's numbers are untouched.
    let workers: usize = std::env::var("SIGILLO_INTAKE_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| (2 * std::thread::available_parallelism().map_or(1, usize::from)).clamp(2, 16));
    let mut register_workers = f64::NAN;
    for writers in [1, workers] {
        let rate = register_rate(&s.app, writers, Duration::from_secs(5)).await;
        register_workers = rate;
        println!(
            "register limit: {writers} writer(s): {rate:.0} reg/s; the intake above is {:.0}% of it; load {}",
            100.0 * n as f64 / secs / rate,
            loadavg()
        );
    }

    // 6. The storage floor: the blob store alone writing blobs of the sizes the intake wrote
    // (raw messages and documents, of the bulk and the latency messages) into a fresh store on
    // the same disk, on as many threads as the intake has workers (each message is stored by
    // its worker, so durable storage is that parallel in the intake too).
    let sizes = blob_sizes(&s.app.data_dir.path().join("blobs"));
    let (count, total) = (sizes.len(), sizes.iter().sum::<u64>());
    let messages = (n + latency_msgs) as f64;
    let (wall, cpu_user, cpu_sys) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let store = sigillo_store::blob::BlobStore::open(dir.path()).unwrap();
        let max = sizes.iter().copied().max().unwrap_or(0) as usize;
        let base: Vec<u8> = (0..max).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let start = Instant::now();
        let cpu: Vec<(f64, f64)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let (store, sizes, mut buf) = (&store, &sizes, base.clone());
                    scope.spawn(move || {
                        let (u0, s0) = thread_cpu_secs();
                        for (i, size) in sizes.iter().enumerate().skip(w).step_by(workers) {
                            buf[..8].copy_from_slice(&(i as u64).to_le_bytes());
                            store.put(&buf[..*size as usize]).unwrap();
                        }
                        let (u1, s1) = thread_cpu_secs();
                        (u1 - u0, s1 - s0)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wall = start.elapsed().as_secs_f64();
        (wall, cpu.iter().map(|c| c.0).sum::<f64>(), cpu.iter().map(|c| c.1).sum::<f64>())
    })
    .await
    .unwrap();
    let floor = messages / wall;
    println!(
        "storage floor: the blob store alone, {count} blobs ({:.1} MB) as the intake wrote them: {wall:.1} s on {workers} threads \
         = {floor:.0} msg/s, {:.2} ms user + {:.2} ms system per message; load {}",
        total as f64 / 1e6,
        cpu_user * 1000.0 / messages,
        cpu_sys * 1000.0 / messages,
        loadavg()
    );

    // 7. The goal: at least 75% of the slowest of the three limits.
    let intake = n as f64 / secs;
    let limits = [("bare IMAP fetch", fetch_rate), ("register", register_workers), ("storage floor", floor)];
    let (name, slowest) = limits.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    println!(
        "goal: intake {intake:.0} msg/s against 75% of the slowest limit ({name}, {slowest:.0} msg/s) = {:.0} msg/s: \
         {:.0}% of it, {}",
        0.75 * slowest,
        100.0 * intake / slowest,
        if intake >= 0.75 * slowest { "met" } else { "NOT met" }
    );
}

/// The sizes of the blobs under `root` (not its `tmp/`).
fn blob_sizes(root: &std::path::Path) -> Vec<u64> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                if e.file_name() != "tmp" {
                    dirs.push(path);
                }
            } else if let Ok(m) = e.metadata() {
                out.push(m.len());
            }
        }
    }
    out
}

/// Registrations per second that `writers` concurrent writers commit for `length`.
async fn register_rate(app: &Instance, writers: usize, length: Duration) -> f64 {
    use sigillo_store::codes::RegisterCode;
    use sigillo_store::register::{self, Actor, Register};
    use sigillo_store::testing::bench_registration;

    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(writers as u32).connect(&app.db.url).await.unwrap();
    let reg = app.db.test_register().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let bench = Register::ensure(&mut conn, &reg.ipa_code, &reg.aoo_code, &RegisterCode::parse("BENCH").unwrap(), reg.timezone)
        .await
        .unwrap();
    drop(conn);
    let deadline = Instant::now() + length;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (pool, bench) = (pool.clone(), bench.clone());
            tokio::spawn(async move {
                let actor = Actor::parse("bench").unwrap();
                let mut done = 0usize;
                while Instant::now() < deadline {
                    let mut tx = pool.begin().await.unwrap();
                    register::register(&mut tx, &bench, &actor, &bench_registration(w * 1_000_000 + done), None).await.unwrap();
                    tx.commit().await.unwrap();
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn big(mb: usize) {
    println!("load at start: {}", loadavg());
    let s = setup().await;
    let g = Instant::now();
    let m = s.pki.transport("opec.big@pec.test.it", "Istanza grande", &[Attachment::SignedP7m { size: mb * 1024 * 1024 }]);
    println!("built a {:.1} MB message in {:.1} s", m.len() as f64 / 1e6, g.elapsed().as_secs_f64());
    let size = m.len();
    s.dovecot.append(USER, "INBOX", &[m]).await;
    let mut service = s.app.serve(&[]);
    let pid = service.child.id().unwrap();
    let start = Instant::now();
    while scalar(&s.app, "select count(*) from inbound_messages where state not in ('received', 'error')").await < 1 {
        assert!(service.running(), "sigillo serve exited");
        assert!(start.elapsed() < Duration::from_secs(900), "not decided: {}", states(&s.app).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hwm = vm_hwm_kib(pid) * 1024;
    println!(
        "big message: {:.1} MB decided in {:.1} s; states {}; peak RSS (VmHWM) {:.1} MB = {:.2}× the message; load {}",
        size as f64 / 1e6,
        start.elapsed().as_secs_f64(),
        states(&s.app).await,
        hwm as f64 / 1e6,
        hwm as f64 / size as f64,
        loadavg()
    );
    service.kill().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("bulk") => bulk(num(1, 500), num(2, 200)).await,
        Some("big") => big(num(1, 100)).await,
        Some("dump") if args.len() > 1 => dump(std::path::Path::new(&args[1]), num(2, 20)),
        _ => eprintln!("usage: bench_intake bulk N [LATENCY_MSGS] | bench_intake big MEGABYTES | bench_intake dump DIR [N]"),
    }
}
