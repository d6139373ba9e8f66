//! Benchmark of the outbox (issue 6): receipts sent per second by the release `sigillo serve`
//! through pec-sim (the local PEC provider) into a real Dovecot, and the queue latency
//! (`sent_at - created_at`) of the outbox rows, alone and under the intake's bulk load.
//!
//! ```text
//! cargo build --release -p sigillo --bin sigillo -p sigillo_pec_sim --bin pec-sim
//! cargo run --release --example bench_notify -- throughput N [CONCURRENCY]
//! cargo run --release --example bench_notify -- loaded BULK PACED [PER_SEC]
//! ```
//!
//! `throughput` submits N PEC (a small CAdES-signed .p7m each, from N different citizens'
//! boxes) through pec-sim's SMTP with CONCURRENCY sessions, so they land in the comune's
//! INBOX as real transport envelopes; then it starts `sigillo serve` and measures the time
//! from the first registration to the last outbox row `sent` (receipts per second), to the
//! last avvenuta-consegna linked (`delivery = 'consegnata'`), and the distribution of the
//! queue latency. `loaded` appends BULK messages of a simpler intake mix (80% PEC + 200 KB
//! .p7m, 10% anomalies, 10% provider receipts) to INBOX, starts `sigillo serve`, and while
//! the intake works through them submits PACED PEC through pec-sim at PER_SEC per second
//! (default 5): the queue latency of those receipts is the latency under load
//! (`loaded 0 PACED` is the same without the load).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use sigillo_e2e::dovecot::{Dovecot, PASSWORD};
use sigillo_e2e::pec_mail::{Attachment, Pki};
use sigillo_e2e::pec_sim::{Provider, pki_init};
use sigillo_e2e::{Instance, Service, stderr};
use sigillo_testpki::{Leaf, PrivateKey, SignOptions, pem_decode, sign_attached};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The comune's box; its domain is one of pec-sim's, so the provider's receipts of our
/// answers come back to it. `pec.test.it` is the domain of the intake mix's sender.
const COMUNE: &str = "protocollo@pec.comune.test.it";
const DOMAINS: [&str; 3] = ["pec.cittadini.test", "pec.comune.test.it", "pec.test.it"];

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_owned()
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    ticks(11) + ticks(12)
}

/// The pid of our `pec-sim serve` child (the harness keeps the child private).
fn pec_sim_pid() -> Option<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let (head, rest) = stat.rsplit_once(')')?;
        let ppid = rest.split_whitespace().nth(1)?;
        (head.ends_with("(pec-sim") && ppid == me).then_some(pid)
    })
}

/// The citizen who signs every attachment, from the pec-sim PKI.
fn citizen_leaf(pki: &Path) -> Leaf {
    let dir = std::fs::read_dir(pki.join("citizens")).unwrap().flatten().next().unwrap().path();
    let mut certs: Vec<Vec<u8>> = pem_decode(&std::fs::read_to_string(dir.join("cert.pem")).unwrap())
        .unwrap()
        .into_iter()
        .filter(|(l, _)| l == "CERTIFICATE")
        .map(|(_, d)| d)
        .collect();
    let cert_der = certs.remove(0);
    let key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(dir.join("key.pem")).unwrap()).unwrap();
    Leaf { cert_der, key, chain: certs }
}

struct Setup {
    app: Instance,
    dovecot: Dovecot,
    provider: Provider,
    signer: Leaf,
    mix: Pki,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    pki_init(&pki, &DOMAINS).await;
    // The intake mix's own provider and citizen CAs, next to pec-sim's (other file names).
    let mix = Pki::new();
    mix.write_trust_dir(&pki.join("trust"));
    let dovecot = Dovecot::start().await;
    let provider = Provider::start(&pki, "127.0.0.1:0", &dovecot.lmtp_addr(), &DOMAINS, PASSWORD).await;
    let mut app = Instance::new().await;
    for (k, v) in [
        ("SIGILLO_TRUST_DIR", pki.join("trust").display().to_string()),
        ("SIGILLO_IMAP_URL", dovecot.url()),
        ("SIGILLO_IMAP_USER", COMUNE.to_owned()),
        ("SIGILLO_IMAP_PASSWORD", PASSWORD.to_owned()),
        ("SIGILLO_IMAP_TIMEOUT_SECS", "120".to_owned()),
        ("SIGILLO_SMTP_URL", format!("smtp://{}", provider.smtp)),
        ("SIGILLO_SMTP_USER", COMUNE.to_owned()),
        ("SIGILLO_SMTP_PASSWORD", PASSWORD.to_owned()),
        ("SIGILLO_NOTIFY_FROM", COMUNE.to_owned()),
        ("SIGILLO_NOTIFY_RETRY_SECS", "1".to_owned()),
        // The intake mix has one sender: the per-address limit must not suppress its receipts.
        ("SIGILLO_NOTIFY_RATE_PER_HOUR", "10000".to_owned()),
        ("SIGILLO_ENTE_NAME", "Comune di Prova".to_owned()),
        ("SIGILLO_OFFICE_NAME", "Ufficio Protocollo".to_owned()),
        ("SIGILLO_OFFICE_EMAIL", COMUNE.to_owned()),
        ("SIGILLO_SEAL_CERT", pki.join("comune/seal-cert.pem").display().to_string()),
        ("SIGILLO_SEAL_KEY", pki.join("comune/seal-key.pem").display().to_string()),
    ] {
        app.env.insert(k.into(), v);
    }
    for (k, v) in std::env::vars() {
        if k.starts_with("SIGILLO_IMAP_") || k.starts_with("SIGILLO_INTAKE_") || k.starts_with("SIGILLO_NOTIFY_") {
            app.env.insert(k, v);
        }
    }
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "migrate: {}", stderr(&out));
    let signer = citizen_leaf(&pki);
    Setup { app, dovecot, provider, signer, mix, _dir: dir }
}

fn citizen(i: usize) -> String {
    format!("cittadino{i}@pec.cittadini.test")
}

/// Citizen `i`'s message to the comune, as his mail client writes it: text and a signed .p7m.
fn submission(signer: &Leaf, i: usize) -> Vec<u8> {
    let content = format!("%PDF-1.4\n% Istanza n. {i}\n%%EOF\n");
    let p7m = sign_attached(signer, content.as_bytes(), &SignOptions::default());
    let b64 = base64::engine::general_purpose::STANDARD.encode(p7m);
    let lines: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!(
        "From: <{from}>\r\nTo: <{COMUNE}>\r\nSubject: Istanza {i}\r\nDate: {date}\r\n\
         Message-ID: <bench{i}.{nanos}@pec.cittadini.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b-{i}\"\r\n\r\n\
         --b-{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBuongiorno, allego l'istanza.\r\n\
         --b-{i}\r\nContent-Type: application/pkcs7-mime; name=\"istanza.pdf.p7m\"\r\n\
         Content-Disposition: attachment; filename=\"istanza.pdf.p7m\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {body}\r\n--b-{i}--\r\n",
        from = citizen(i),
        date = chrono::Utc::now().to_rfc2822(),
        nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos(),
        body = lines.join("\r\n"),
    )
    .into_bytes()
}

/// One authenticated SMTP session to pec-sim submitting `raw` as `from`.
async fn submit(smtp: &str, from: &str, raw: &[u8]) {
    let stream = tokio::net::TcpStream::connect(smtp).await.unwrap();
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
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{from}\0{PASSWORD}"));
    for (cmd, code) in [
        ("EHLO bench.test".to_owned(), "250"),
        (format!("AUTH PLAIN {plain}"), "235"),
        (format!("MAIL FROM:<{from}>"), "250"),
        (format!("RCPT TO:<{COMUNE}>"), "250"),
        ("DATA".to_owned(), "354"),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        let r = reply(&mut lines).await;
        assert!(r.starts_with(code), "{cmd} → {r}");
    }
    // Base64 bodies and our headers never start a line with a dot: no dot-stuffing needed.
    w.write_all(raw).await.unwrap();
    w.write_all(b".\r\n").await.unwrap();
    let r = reply(&mut lines).await;
    assert!(r.starts_with("250 2.0.0 messaggio accettato"), "end of DATA → {r}");
    w.write_all(b"QUIT\r\n").await.unwrap();
}

async fn scalar(app: &Instance, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap_or(-1)
}

async fn float(app: &Instance, sql: &str) -> f64 {
    sqlx::query_scalar::<_, Option<f64>>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&app.db.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(f64::NAN)
}

async fn outbox_states(app: &Instance) -> String {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select state || coalesce('/' || delivery, '') || coalesce('/' || suppressed_reason, ''), count(*) from outbox group by 1 order by 1",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap_or_default();
    rows.iter().map(|(s, n)| format!("{s}={n}")).collect::<Vec<_>>().join(" ")
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or(f64::NAN)
}

/// p50/p90/p99/max of `sent_at - created_at` in ms over the sent rows matching `filter`.
async fn queue_latency(app: &Instance, filter: &str) -> String {
    let mut lat: Vec<f64> = sqlx::query_scalar::<_, f64>(sqlx::AssertSqlSafe(format!(
        "select (extract(epoch from sent_at - created_at) * 1000)::float8 from outbox where state = 'sent' and {filter}"
    )))
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    lat.sort_by(f64::total_cmp);
    format!(
        "{} rows: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    )
}

/// The largest number of rows created and not yet sent at any moment.
async fn max_backlog(app: &Instance) -> i64 {
    let rows: Vec<(f64, f64)> = sqlx::query_as(
        "select extract(epoch from created_at)::float8, extract(epoch from sent_at)::float8 from outbox where state = 'sent'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut events: Vec<(f64, i64)> = rows.iter().flat_map(|(c, s)| [(*c, 1), (*s, -1)]).collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut cur, mut max) = (0i64, 0i64);
    for (_, d) in events {
        cur += d;
        max = max.max(cur);
    }
    max
}

async fn wait_until(app: &Instance, service: &mut Service, secs: u64, what: &str, sql: &str, want: i64) -> f64 {
    let start = Instant::now();
    let mut last = Instant::now();
    loop {
        let n = scalar(app, sql).await;
        if n >= want {
            return start.elapsed().as_secs_f64();
        }
        if last.elapsed() >= Duration::from_secs(10) {
            last = Instant::now();
            println!("  … {what}: {n}/{want}; outbox {}; load {}", outbox_states(app).await, loadavg());
        }
        assert!(service.running(), "sigillo serve exited");
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}: {n}/{want} after {secs} s; outbox {}", outbox_states(app).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn throughput(n: usize, concurrency: usize) {
    println!("load at start: {}", loadavg());
    let s = setup().await;
    let smtp = s.provider.smtp.clone();
    let provider_pid = pec_sim_pid();

    // 1. The citizens write, through pec-sim, into the comune's INBOX.
    let g = Instant::now();
    let msgs: Arc<Vec<Vec<u8>>> = Arc::new((0..n).map(|i| submission(&s.signer, i)).collect());
    let build_secs = g.elapsed().as_secs_f64();
    let cpu0 = provider_pid.map_or(0.0, cpu_secs);
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (msgs, next, smtp) = (msgs.clone(), next.clone(), smtp.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(m) = msgs.get(i) else { return };
                    submit(&smtp, &citizen(i), m).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = provider_pid.map_or(0.0, cpu_secs) - cpu0;
    let inbox = s.dovecot.count(COMUNE, "INBOX").await;
    println!(
        "pec-sim submissions: {n} PEC ({:.1} KB each, built in {build_secs:.1} s) with {concurrency} SMTP sessions in {secs:.1} s = {:.1} msg/s \
         (3 signed messages + 3 LMTP deliveries each); pec-sim CPU {:.1} ms per submission; comune INBOX {inbox}; load {}",
        msgs[0].len() as f64 / 1024.0,
        n as f64 / secs,
        cpu * 1000.0 / n as f64,
        loadavg()
    );

    // 2. Sigillo registers and answers.
    let mut service = s.app.serve(&[]);
    let pid = service.child.id().unwrap();
    let cpu_p0 = provider_pid.map_or(0.0, cpu_secs);
    let t_reg = wait_until(&s.app, &mut service, 3600, "registrations", "select count(*) from registrations", n as i64).await;
    println!("  all {n} registered {t_reg:.1} s after start; load {}", loadavg());
    let t_sent = wait_until(&s.app, &mut service, 3600, "receipts sent", "select count(*) from outbox where state = 'sent'", n as i64).await;
    println!("  all {n} receipts sent {t_sent:.1} s after start; load {}", loadavg());
    let t_del = wait_until(
        &s.app,
        &mut service,
        3600,
        "receipts delivered",
        "select count(*) from outbox where delivery = 'consegnata'",
        n as i64,
    )
    .await;
    let (serve_cpu, provider_cpu) = (cpu_secs(pid), provider_pid.map_or(0.0, cpu_secs) - cpu_p0);

    let span = |a: &str, b: &str| format!("select extract(epoch from ({b}) - ({a}))::float8");
    let first_reg = "select min(registered_at) from registrations";
    let reg_secs = float(&s.app, &span(first_reg, "select max(registered_at) from registrations")).await;
    let sent_secs = float(&s.app, &span(first_reg, "select max(sent_at) from outbox")).await;
    let linked_secs = float(&s.app, &span(first_reg, "select max(linked_at) from outbox_receipts")).await;
    // The worker alone: rows sent after the last registration, over the time they took.
    let tail = scalar(&s.app, "select count(*) from outbox where sent_at > (select max(registered_at) from registrations)").await;
    let tail_secs = float(&s.app, &span("select max(registered_at) from registrations", "select max(sent_at) from outbox")).await;
    println!(
        "throughput: first registration → last registration {reg_secs:.1} s ({:.1} reg/s); → last receipt sent {sent_secs:.1} s = {:.1} receipts/s; \
         → last provider receipt linked (all {n} consegnata) {linked_secs:.1} s = {:.1}/s (the last one linked {t_del:.1} s after the last send)",
        n as f64 / reg_secs,
        n as f64 / sent_secs,
        n as f64 / linked_secs,
    );
    println!(
        "  worker after the intake was done: {tail} rows in {tail_secs:.1} s = {:.1} receipts/s; largest backlog {} rows",
        tail as f64 / tail_secs,
        max_backlog(&s.app).await
    );
    println!("  queue latency (sent_at - created_at): {}", queue_latency(&s.app, "true").await);
    let inbound = scalar(&s.app, "select count(*) from inbound_messages").await;
    println!(
        "  CPU: sigillo serve {serve_cpu:.1} s ({:.1} ms per registration incl. its 2 provider receipts read and linked), \
         pec-sim {provider_cpu:.1} s for the {n} answers ({:.1} ms each); inbound messages {inbound}; outbox {}; load {}",
        serve_cpu * 1000.0 / n as f64,
        provider_cpu * 1000.0 / n as f64,
        outbox_states(&s.app).await,
        loadavg()
    );
    service.kill().await;
}

/// Message `i` of the simpler intake mix: 80% PEC + 200 KB .p7m, 10% anomalies, 10% receipts.
fn mix_message(pki: &Pki, i: usize) -> Vec<u8> {
    let ident = format!("opec.b{i}@pec.test.it");
    match i % 10 {
        0..=7 => pki.transport(&ident, &format!("Istanza {i}"), &[Attachment::SignedP7m { size: 200 * 1024 }]),
        8 => pki.anomaly(&ident, &format!("Domanda {i}")),
        _ => pki.receipt(&format!("opec.rb{i}@pec.test.it"), "accettazione"),
    }
}

async fn loaded(bulk: usize, paced: usize, per_sec: f64) {
    println!("load at start: {}", loadavg());
    let s = setup().await;
    let smtp = s.provider.smtp.clone();

    let start = Instant::now();
    let mut session = s.dovecot.session(COMUNE).await;
    for i in 0..bulk {
        session.append("INBOX", None, None, &mix_message(&s.mix, i)).await.unwrap();
    }
    let _ = session.logout().await;
    println!("preload: {bulk} messages of the mix in {:.1} s; load {}", start.elapsed().as_secs_f64(), loadavg());
    let msgs: Vec<Vec<u8>> = (0..paced).map(|i| submission(&s.signer, i)).collect();

    let mut service = s.app.serve(&[]);
    let pid = service.child.id().unwrap();
    let start = Instant::now();
    // Wait for the intake to be at work before pacing.
    if bulk > 0 {
        while scalar(&s.app, "select count(*) from registrations").await < 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let pace_start = Instant::now();
    let mut submit_secs = Vec::with_capacity(paced);
    let mut late = 0;
    for (i, m) in msgs.iter().enumerate() {
        let due = pace_start + Duration::from_secs_f64(i as f64 / per_sec);
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        } else if now - due > Duration::from_secs_f64(1.0 / per_sec) {
            late += 1;
        }
        let t = Instant::now();
        submit(&smtp, &citizen(i), m).await;
        submit_secs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let paced_secs = pace_start.elapsed().as_secs_f64();
    let decided_bulk = scalar(&s.app, "select count(*) from inbound_messages where (pec_identificativo like 'opec.b%' or pec_identificativo like 'opec.rb%') and state not in ('received', 'error')").await;
    println!(
        "paced: {paced} PEC through pec-sim in {paced_secs:.1} s = {:.1}/s ({late} late); while pacing ended the intake had decided {decided_bulk} of the bulk (its provider receipts not counted); load {}",
        paced as f64 / paced_secs,
        loadavg()
    );
    submit_secs.sort_by(f64::total_cmp);
    println!("  pec-sim submission time p50 {:.0} ms, p99 {:.0} ms", pct(&submit_secs, 0.5), pct(&submit_secs, 0.99));

    let paced_rows = "recipient like 'cittadino%'";
    wait_until(&s.app, &mut service, 3600, "paced receipts sent", &format!("select count(*) from outbox where state = 'sent' and {paced_rows}"), paced as i64)
        .await;
    let registered_bulk = scalar(&s.app, "select count(*) from outbox where recipient not like 'cittadino%'").await;
    // The bulk is done when nothing read is left undecided and INBOX holds nothing but what
    // keeps arriving (the provider's receipts of our answers).
    let undecided = "select count(*) from inbound_messages where state = 'received'";
    wait_until(&s.app, &mut service, 3600, "bulk decided", &format!("select case when ({undecided}) = 0 and (select count(*) from inbound_messages) >= {bulk} then 1::int8 else 0 end"), 1).await;
    let intake_secs = start.elapsed().as_secs_f64();
    let all_sent = scalar(&s.app, "select count(*) from outbox where state <> 'pending'").await;
    let total = scalar(&s.app, "select count(*) from outbox").await;
    let _ = wait_until(&s.app, &mut service, 3600, "every outbox row out", "select count(*) from outbox where state <> 'pending'", total).await;
    println!("  bulk decided {intake_secs:.1} s after start ({all_sent}/{total} outbox rows out then; {registered_bulk} bulk rows when the paced ones were out)");
    println!("  queue latency of the paced receipts (sent_at - created_at): {}", queue_latency(&s.app, paced_rows).await);
    println!("  queue latency of the bulk's answers: {}", queue_latency(&s.app, "recipient not like 'cittadino%'").await);
    println!(
        "  sigillo serve CPU {:.1} s; outbox {}; load {}",
        cpu_secs(pid),
        outbox_states(&s.app).await,
        loadavg()
    );
    service.kill().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("throughput") => throughput(num(1, 1000), num(2, 4)).await,
        Some("loaded") => loaded(num(1, 500), num(2, 200), args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5.0)).await,
        _ => eprintln!("usage: bench_notify throughput N [CONCURRENCY] | bench_notify loaded BULK PACED [PER_SEC]"),
    }
}
