//! The IMAP intake of `sigillo serve` against a real Dovecot and a real Postgres: folders,
//! crash and restart of the service, of Dovecot and of the database connections,
//! UIDVALIDITY changes, quarantine; and, through a loopback proxy, a slow link, a connection
//! that dies during IDLE and a database that refuses connections.

use sigillo_e2e::dovecot::{Dovecot, PASSWORD};
use sigillo_e2e::pec_mail::{Attachment, Pki};
use sigillo_e2e::tcp_proxy::TcpProxy;
use sigillo_e2e::{Instance, Service, stderr, wait_for};

const USER: &str = "protocollo";

struct Setup {
    app: Instance,
    pki: Pki,
    dovecot: Dovecot,
    _trust: tempfile::TempDir,
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    setup_with(Dovecot::start().await, extra).await
}

async fn setup_with(dovecot: Dovecot, extra: &[(&str, &str)]) -> Setup {
    let mut app = Instance::new().await;
    let trust = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    pki.write_trust_dir(trust.path());
    for (k, v) in [
        ("SIGILLO_TRUST_DIR", trust.path().display().to_string()),
        ("SIGILLO_IMAP_URL", dovecot.url()),
        ("SIGILLO_IMAP_USER", USER.to_owned()),
        ("SIGILLO_IMAP_PASSWORD", PASSWORD.to_owned()),
        ("SIGILLO_IMAP_BACKOFF_MAX_SECS", "1".to_owned()),
        ("SIGILLO_IMAP_TIMEOUT_SECS", "20".to_owned()),
        ("SIGILLO_INTAKE_RETRY_SECS", "0".to_owned()),
        ("SIGILLO_IMAP_POLL_SECS", "1".to_owned()),
    ] {
        app.env.insert(k.into(), v);
    }
    for (k, v) in extra {
        app.env.insert((*k).into(), (*v).into());
    }
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    Setup { app, pki, dovecot, _trust: trust }
}

async fn scalar(app: &Instance, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap_or(-1)
}

async fn wait_count(s: &Setup, mailbox: &str, n: u32, secs: u64) {
    wait_for(secs, &format!("{n} messages in {mailbox}"), || async { s.dovecot.count(USER, mailbox).await == n }).await;
}

/// Numbers 1..n, no gap, no duplicate, one registration per message.
async fn assert_gapless(app: &Instance, n: i64) {
    assert_eq!(scalar(app, "select count(*) from registrations").await, n);
    assert_eq!(scalar(app, "select coalesce(max(number), 0)::bigint from registrations").await, n);
    assert_eq!(scalar(app, "select count(distinct number) from registrations").await, n);
    assert_eq!(scalar(app, "select count(distinct inbound_message_id) from registrations").await, n);
}

fn stop(service: &mut Service) -> impl std::future::Future<Output = ()> + '_ {
    service.kill()
}

#[tokio::test]
async fn every_kind_of_message_is_decided_and_moved_to_its_folder() {
    let s = setup(&[("SIGILLO_INTAKE_MAX_ATTEMPTS", "1")]).await;
    let p = &s.pki;
    s.dovecot
        .append(
            USER,
            "INBOX",
            &[
                p.transport("opec.v@pec.test.it", "Istanza firmata", &[Attachment::SignedP7m { size: 4096 }]),
                p.anomaly("opec.a@pec.test.it", "Domanda"),
                p.forged("opec.f@pec.test.it", "Domanda"),
                p.transport("opec.u@pec.test.it", "Domanda", &[Attachment::Unsigned]),
                p.receipt("opec.r@pec.test.it", "accettazione"),
                // Not a message at all: the classifier refuses it.
                b"\r\n\r\n".to_vec(),
            ],
        )
        .await;
    let mut service = s.app.serve(&[]);
    wait_count(&s, "INBOX", 0, 60).await;
    assert!(service.running());
    assert_eq!(s.dovecot.count(USER, "Protocollati").await, 1);
    assert_eq!(s.dovecot.count(USER, "Scartati").await, 3);
    assert_eq!(s.dovecot.count(USER, "Ricevute").await, 1);
    assert_eq!(s.dovecot.count(USER, "Quarantena").await, 1);
    assert_gapless(&s.app, 1).await;
    let (number, subject): (i32, String) =
        sqlx::query_as("select number, subject from registrations").fetch_one(&s.app.db.pool).await.unwrap();
    assert_eq!((number, subject.as_str()), (1, "Istanza firmata"));
    assert_eq!(scalar(&s.app, "select count(*) from documents").await, 1);
    let reasons: Vec<String> = sqlx::query_scalar("select reasons->0->>'code' from inbound_messages where state = 'rejected' order by 1")
        .fetch_all(&s.app.db.pool)
        .await
        .unwrap();
    assert_eq!(reasons, ["FORGED_ENVELOPE", "NOT_PEC", "UNSIGNED_ATTACHMENT"]);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where state = 'error' and attempts = 1").await, 1);
    // The moved message is the one that was registered.
    let moved = s.dovecot.bodies(USER, "Protocollati").await;
    assert_eq!(moved.len(), 1);
    let text = String::from_utf8_lossy(&moved[0]);
    assert!(text.contains("opec.v@pec.test.it"), "{} bytes: {}", text.len(), &text[..text.len().min(300)]);
    stop(&mut service).await;
}

#[tokio::test]
async fn a_service_killed_mid_batch_processes_every_message_exactly_once() {
    const N: usize = 500;
    let s = setup(&[("SIGILLO_IMAP_BATCH", "25")]).await;
    let messages: Vec<Vec<u8>> = (0..N)
        .map(|i| s.pki.transport(&format!("opec.k{i}@pec.test.it"), &format!("Istanza {i}"), &[Attachment::SignedP7m { size: 1024 }]))
        .collect();
    s.dovecot.append(USER, "INBOX", &messages).await;
    let mut service = s.app.serve(&[]);
    wait_for(120, "the first registrations", || async { scalar(&s.app, "select count(*) from registrations").await >= 60 }).await;
    service.kill().await;
    let at_kill = scalar(&s.app, "select count(*) from registrations").await;
    assert!(at_kill < N as i64, "killed too late to test anything ({at_kill})");

    let mut service = s.app.serve(&[]);
    wait_count(&s, "INBOX", 0, 300).await;
    assert_gapless(&s.app, N as i64).await;
    assert_eq!(s.dovecot.count(USER, "Protocollati").await, N as u32, "each message moved exactly once");
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages").await, N as i64);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where state <> 'registered'").await, 0);
    service.kill().await;
}

#[tokio::test]
async fn the_poller_reconnects_after_dovecot_restarts_and_after_postgres_drops_it() {
    let mut s = setup(&[]).await;
    let mut service = s.app.serve(&[]);
    let pec = |i: usize| s.pki.transport(&format!("opec.d{i}@pec.test.it"), "Istanza", &[]);
    let first = pec(0);
    s.dovecot.append(USER, "INBOX", &[first]).await;
    wait_for(60, "registration 1", || async { scalar(&s.app, "select count(*) from registrations").await == 1 }).await;

    // Dovecot goes away while the poller is in IDLE; mail arrives while it is back.
    let more: Vec<Vec<u8>> = (1..3).map(pec).collect();
    s.dovecot.restart().await;
    s.dovecot.append(USER, "INBOX", &more).await;
    wait_for(60, "registrations 2 and 3", || async { scalar(&s.app, "select count(*) from registrations").await == 3 }).await;

    // The database drops every connection of the service.
    let dropped = scalar(
        &s.app,
        &format!(
            "select count(pg_terminate_backend(pid))::bigint from pg_stat_activity where datname = '{}' and pid <> pg_backend_pid() \
             and application_name <> 'test'",
            s.app.db.name
        ),
    )
    .await;
    assert!(dropped >= 1, "the service had connections to drop");
    let later: Vec<Vec<u8>> = (3..6).map(pec).collect();
    s.dovecot.append(USER, "INBOX", &later).await;
    wait_for(60, "registrations 4 to 6", || async { scalar(&s.app, "select count(*) from registrations").await == 6 }).await;
    wait_count(&s, "INBOX", 0, 30).await;
    assert_gapless(&s.app, 6).await;
    assert!(service.running());
    service.kill().await;
}

#[tokio::test]
async fn a_new_uidvalidity_rescans_without_registering_twice() {
    let s = setup(&[("SIGILLO_IMAP_MAILBOXES", "Arrivi")]).await;
    let msgs: Vec<Vec<u8>> = (0..3).map(|i| s.pki.transport(&format!("opec.u{i}@pec.test.it"), "Istanza", &[])).collect();
    s.dovecot.append(USER, "Arrivi", &msgs[..2]).await;
    let before = s.dovecot.uidvalidity(USER, "Arrivi").await;
    let mut service = s.app.serve(&[]);
    wait_count(&s, "Protocollati", 2, 60).await;
    service.kill().await;

    // The mailbox is rebuilt (a restore, a migration of the provider): new UIDVALIDITY, the
    // same two messages again plus a new one.
    s.dovecot.delete(USER, "Arrivi").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.dovecot.append(USER, "Arrivi", &msgs).await;
    let after = s.dovecot.uidvalidity(USER, "Arrivi").await;
    assert_ne!(before, after, "Dovecot gave the new mailbox a new UIDVALIDITY");
    let mut service = s.app.serve(&[]);
    wait_count(&s, "Arrivi", 0, 60).await;
    assert_gapless(&s.app, 3).await;
    assert_eq!(s.dovecot.count(USER, "Protocollati").await, 5, "the two copies are moved too");
    assert_eq!(scalar(&s.app, &format!("select uidvalidity from imap_mailboxes where mailbox = 'Arrivi' and uidvalidity = {after}")).await, i64::from(after));
    service.kill().await;
}

#[tokio::test]
async fn without_idle_the_poller_polls() {
    let mut app_setup = setup(&[]).await;
    app_setup.dovecot.stop().await;
    let dovecot = Dovecot::start_with(false).await;
    app_setup.app.env.insert("SIGILLO_IMAP_URL".into(), dovecot.url());
    let mut service = app_setup.app.serve(&[]);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    dovecot.append(USER, "INBOX", &[app_setup.pki.transport("opec.p@pec.test.it", "Istanza", &[])]).await;
    wait_for(60, "the registration", || async { scalar(&app_setup.app, "select count(*) from registrations").await == 1 }).await;
    service.kill().await;
}

#[tokio::test]
async fn over_imaps_with_the_configured_ca_a_pec_is_registered_and_moved() {
    let dovecot = Dovecot::start_tls().await;
    let (url, ca) = (dovecot.imaps_url(), dovecot.ca_file().display().to_string());
    let s = setup_with(dovecot, &[("SIGILLO_IMAP_URL", &url), ("SIGILLO_IMAP_CA_FILE", &ca)]).await;
    s.dovecot
        .append(USER, "INBOX", &[s.pki.transport("opec.tls@pec.test.it", "Istanza via IMAPS", &[Attachment::SignedP7m { size: 4096 }])])
        .await;
    let mut service = s.app.serve(&[]);
    wait_count(&s, "Protocollati", 1, 60).await;
    assert_eq!(s.dovecot.count(USER, "INBOX").await, 0);
    assert_gapless(&s.app, 1).await;
    // The session really was TLS: Dovecot marks such a login with "TLS" (a plain loopback one
    // with "secured").
    let log = s.dovecot.log();
    assert!(log.lines().any(|l| l.contains("imap-login: Info: Login: user=<protocollo>") && l.contains(", TLS,")), "{log}");
    stop(&mut service).await;
}

#[tokio::test]
async fn over_imaps_an_untrusted_or_misnamed_certificate_is_refused_and_nothing_is_read() {
    let dovecot = Dovecot::start_tls().await;
    let imaps_port = dovecot.imaps_port.unwrap();
    let ca = dovecot.ca_file().display().to_string();
    let s = setup_with(dovecot, &[]).await;
    s.dovecot.append(USER, "INBOX", &[s.pki.transport("opec.x@pec.test.it", "Istanza", &[])]).await;
    let logs = tempfile::tempdir().unwrap();
    // Mozilla's roots only: the test CA is unknown. Then the right CA but an address that is
    // not the certificate's name.
    for (case, url, extra_ca, cause) in [
        ("unknown-ca", format!("imaps://localhost:{imaps_port}"), None, "UnknownIssuer"),
        ("wrong-name", format!("imaps://127.0.0.1:{imaps_port}"), Some(ca.as_str()), "certificate not valid for name"),
    ] {
        let log = logs.path().join(format!("{case}.log"));
        let mut env = vec![("SIGILLO_IMAP_URL", url.as_str())];
        if let Some(ca) = extra_ca {
            env.push(("SIGILLO_IMAP_CA_FILE", ca));
        }
        let mut service = s.app.serve_logging_to(&env, &log);
        // It keeps trying (backoff at most 1 s here): wait for two attempts failing the same way.
        let start = std::time::Instant::now();
        while std::fs::read_to_string(&log).unwrap_or_default().matches(cause).count() < 2 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "{case}: no two TLS failures with {cause} in 30 s; log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(service.running(), "{case}: the service survives a TLS failure");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("TLS handshake"), "{case}: the log names the step: {text}");
        assert!(!text.contains("panicked"), "{case}: {text}");
        stop(&mut service).await;
    }
    assert_eq!(s.dovecot.count(USER, "INBOX").await, 1, "the message is untouched");
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages").await, 0, "nothing was read");
}

#[tokio::test]
async fn two_pec_boxes_of_the_aoo_feed_one_register_and_a_pec_in_both_is_registered_once() {
    const SUAP: &str = "suap";
    let dovecot = Dovecot::start().await;
    let url = dovecot.url();
    let s = setup_with(
        dovecot,
        &[("SIGILLO_IMAP_2_URL", &url), ("SIGILLO_IMAP_2_USER", SUAP), ("SIGILLO_IMAP_2_PASSWORD", PASSWORD)],
    )
    .await;
    let p = &s.pki;
    let both = p.transport("opec.both@pec.test.it", "Istanza inviata a entrambe le caselle", &[Attachment::SignedP7m { size: 2048 }]);
    s.dovecot.append(USER, "INBOX", &[p.transport("opec.g@pec.test.it", "Alla casella generale", &[]), both.clone()]).await;
    s.dovecot.append(SUAP, "INBOX", &[p.transport("opec.s@pec.test.it", "Al SUAP", &[]), both]).await;
    let mut service = s.app.serve(&[]);
    wait_for(60, "both INBOXes emptied", || async {
        s.dovecot.count(USER, "INBOX").await == 0 && s.dovecot.count(SUAP, "INBOX").await == 0
    })
    .await;
    assert_eq!(s.dovecot.count(USER, "Protocollati").await, 2);
    assert_eq!(s.dovecot.count(SUAP, "Protocollati").await, 2);
    // Three PEC, three numbers: the one delivered to both boxes is the same message.
    assert_gapless(&s.app, 3).await;
    let subjects: Vec<String> =
        sqlx::query_scalar("select subject from registrations order by subject").fetch_all(&s.app.db.pool).await.unwrap();
    assert_eq!(subjects, ["Al SUAP", "Alla casella generale", "Istanza inviata a entrambe le caselle"]);
    // Each box keeps its own place in the mailbox state.
    let accounts: Vec<String> =
        sqlx::query_scalar("select account from imap_mailboxes order by account").fetch_all(&s.app.db.pool).await.unwrap();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    assert!(accounts[0].starts_with("protocollo@") && accounts[1].starts_with("suap@"), "{accounts:?}");
    stop(&mut service).await;
}

// --- A network and a database that misbehave (issue 18) -------------------------------------

/// A proxy in front of the Dovecot of `s`, and the environment that points the service at it.
async fn imap_proxy(s: &Setup) -> TcpProxy {
    TcpProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], s.dovecot.port))).await
}

fn via(proxy: &TcpProxy) -> String {
    format!("imap://{}", proxy.addr())
}

/// Registrations so far.
async fn registered(app: &Instance) -> i64 {
    scalar(app, "select count(*) from registrations").await
}

#[tokio::test]
async fn over_a_slow_link_a_big_message_and_those_around_it_are_all_decided() {
    // 1 MB/s, and at most 2 s without a byte: the big message takes about 6 s to arrive, more
    // than the limit, in batches of at most 1 MiB (it alone in its own).
    let s = setup(&[("SIGILLO_IMAP_TIMEOUT_SECS", "2"), ("SIGILLO_IMAP_BATCH_MB", "1")]).await;
    let proxy = imap_proxy(&s).await;
    proxy.throttle(Some(1_000_000));
    let p = &s.pki;
    let small = |i: usize| p.transport(&format!("opec.s{i}@pec.test.it"), "Istanza", &[Attachment::SignedP7m { size: 2048 }]);
    let big = p.transport("opec.big@pec.test.it", "Progetto", &[Attachment::SignedP7m { size: 4 << 20 }]);
    let mut messages: Vec<Vec<u8>> = (0..3).map(small).collect();
    messages.push(big.clone());
    messages.extend((3..6).map(small));
    let total: usize = messages.iter().map(Vec::len).sum();
    let first_three: usize = messages[..3].iter().map(Vec::len).sum();
    s.dovecot.append(USER, "INBOX", &messages).await;

    let start = std::time::Instant::now();
    let mut service = s.app.serve(&[("SIGILLO_IMAP_URL", &via(&proxy))]);
    wait_for(120, "the first three registrations", || async { registered(&s.app).await >= 3 }).await;
    let down_at_three = proxy.bytes_down();
    wait_for(180, "all seven registrations", || async { registered(&s.app).await == 7 }).await;
    let elapsed = start.elapsed();
    wait_count(&s, "INBOX", 0, 30).await;
    eprintln!(
        "slow link: 7 of 7 decided in {:.1} s through 1 MB/s, {} IMAP connection(s), {} bytes down for {total} bytes of mail \
         ({down_at_three} when the first three were registered)",
        elapsed.as_secs_f64(),
        proxy.connections(),
        proxy.bytes_down()
    );
    assert_gapless(&s.app, 7).await;
    assert_eq!(proxy.connections(), 1, "one session: no fetch timed out");
    assert!(proxy.bytes_down() < total as u64 * 13 / 10, "nothing fetched twice: {} bytes for {total}", proxy.bytes_down());
    // Byte-bounded batches: the messages before the big one did not wait for it.
    assert!(
        down_at_three < (first_three + big.len() / 2) as u64,
        "the first three were decided only after {down_at_three} bytes (the big one is {})",
        big.len()
    );
    stop(&mut service).await;
}

/// `url` (`postgres://[USER@]HOST[:PORT]/DB…`) with HOST:PORT replaced by `addr`, and the
/// address it replaced.
async fn through(url: &str, addr: &str) -> (String, std::net::SocketAddr) {
    let start = url.find("://").unwrap() + 3;
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    let at = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    let host = &url[at..end];
    let host = if host.contains(':') { host.to_owned() } else { format!("{host}:5432") };
    let target = tokio::net::lookup_host(&host).await.unwrap().next().unwrap();
    (format!("{}{addr}{}", &url[..at], &url[end..]), target)
}

#[tokio::test]
async fn while_the_database_refuses_the_intake_pauses_without_logging_in_again() {
    let s = setup(&[("SIGILLO_IMAP_BACKOFF_MAX_SECS", "4")]).await;
    let imap = imap_proxy(&s).await;
    // The service reaches Postgres through a proxy that can refuse; the test does not.
    let (_, pg) = through(&s.app.db.url, "").await;
    let db = TcpProxy::start(pg).await;
    let (db_url, _) = through(&s.app.db.url, &db.addr()).await;
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("serve.log");
    let mut service = s.app.serve_logging_to(&[("SIGILLO_IMAP_URL", &via(&imap)), ("SIGILLO_DATABASE_URL", &db_url)], &log);
    let pec = |i: usize| s.pki.transport(&format!("opec.db{i}@pec.test.it"), "Istanza", &[]);
    s.dovecot.append(USER, "INBOX", &[pec(0)]).await;
    wait_for(60, "registration 1", || async { registered(&s.app).await == 1 }).await;

    db.refuse();
    let (logins_before, lines_before) = (imap.connections(), intake_warnings(&log));
    let more: Vec<Vec<u8>> = (1..4).map(pec).collect();
    s.dovecot.append(USER, "INBOX", &more).await;
    const WINDOW: u64 = 20;
    tokio::time::sleep(std::time::Duration::from_secs(WINDOW)).await;
    let logins = imap.connections() - logins_before;
    let lines = intake_warnings(&log) - lines_before;
    assert_eq!(registered(&s.app).await, 1);

    db.heal();
    let healed = std::time::Instant::now();
    wait_for(60, "registrations 2 to 4", || async { registered(&s.app).await == 4 }).await;
    let recovered = healed.elapsed();
    wait_count(&s, "INBOX", 0, 30).await;
    eprintln!(
        "database refusing for {WINDOW} s: {logins} IMAP logins ({:.1}/min), {lines} intake warnings; \
         all decided {:.1} s after it came back",
        logins as f64 * 60.0 / WINDOW as f64,
        recovered.as_secs_f64()
    );
    assert!(logins <= 1, "{logins} IMAP logins while the database refused");
    // One line per step of a delay that doubles up to 4 s (each at least half its cap: 0.25,
    // 0.25, 0.5, 1, 2, 2... s): at most 13 in 20 s, against one every 250 ms before.
    assert!((1..=14).contains(&lines), "{lines} intake warnings in {WINDOW} s:\n{}", std::fs::read_to_string(&log).unwrap());
    assert_gapless(&s.app, 4).await;
    assert!(service.running());
    stop(&mut service).await;
}

/// The intake's warnings in the service's log so far.
fn intake_warnings(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains("WARN") && l.contains("intake protocollo@")).count()
}

#[tokio::test]
async fn a_connection_that_dies_during_idle_is_replaced_within_seconds() {
    // The renewal every 3 s is when a dead connection shows; the command time limit is long
    // (60 s) so that only the bounded wait for the server's answers can find it in time.
    let s = setup(&[("SIGILLO_IMAP_IDLE_RENEW_SECS", "3"), ("SIGILLO_IMAP_TIMEOUT_SECS", "60")]).await;
    let proxy = imap_proxy(&s).await;
    let mut service = s.app.serve(&[("SIGILLO_IMAP_URL", &via(&proxy))]);
    let pec = |i: usize| s.pki.transport(&format!("opec.n{i}@pec.test.it"), "Istanza", &[]);
    s.dovecot.append(USER, "INBOX", &[pec(0)]).await;
    wait_for(60, "registration 1", || async { registered(&s.app).await == 1 }).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // The route goes dark: the session's connection dies without a word, for good.
    proxy.black_hole();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    s.dovecot.append(USER, "INBOX", &[pec(1)]).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    proxy.heal();
    let healed = std::time::Instant::now();
    s.dovecot.append(USER, "INBOX", &[pec(2)]).await;
    wait_for(30, "registrations 2 and 3 after the network healed", || async { registered(&s.app).await == 3 }).await;
    eprintln!("dead connection during IDLE: both messages decided {:.1} s after the network healed", healed.elapsed().as_secs_f64());
    wait_count(&s, "INBOX", 0, 30).await;
    assert_gapless(&s.app, 3).await;
    assert!(proxy.connections() >= 2, "a new connection replaced the dead one");
    stop(&mut service).await;
}

#[tokio::test]
async fn a_message_in_error_is_retried_at_its_own_time_in_a_quiet_mailbox() {
    // Retries after 1·2¹ and 1·2² s, then quarantine; IDLE is renewed only after 25 minutes
    // and nothing else arrives to wake it.
    let s = setup(&[("SIGILLO_INTAKE_RETRY_SECS", "1"), ("SIGILLO_INTAKE_MAX_ATTEMPTS", "3")]).await;
    let mut service = s.app.serve(&[]);
    s.dovecot.append(USER, "INBOX", &[b"non un messaggio\r\n\r\ncorpo\r\n".to_vec()]).await;
    wait_for(60, "the first attempt", || async { scalar(&s.app, "select count(*) from inbound_messages").await == 1 }).await;
    let start = std::time::Instant::now();
    wait_count(&s, "Quarantena", 1, 60).await;
    eprintln!("quiet mailbox: attempts 2 and 3 done and quarantined {:.1} s after the first", start.elapsed().as_secs_f64());
    assert_eq!(s.dovecot.count(USER, "INBOX").await, 0);
    assert_eq!(scalar(&s.app, "select attempts::bigint from inbound_messages").await, 3);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where in_mailbox").await, 0);
    stop(&mut service).await;
}

#[tokio::test]
async fn a_message_first_ingested_then_arriving_over_imap_is_retried_by_either_path() {
    let s = setup(&[("SIGILLO_INTAKE_RETRY_SECS", "2"), ("SIGILLO_INTAKE_MAX_ATTEMPTS", "3")]).await;
    let files = tempfile::tempdir().unwrap();
    // Two messages the classifier refuses, each first pushed through `sigillo ingest`.
    let bad: Vec<Vec<u8>> = ["a", "b"].iter().map(|x| format!("non un messaggio\r\n\r\ncorpo {x}\r\n").into_bytes()).collect();
    let mut paths = Vec::new();
    for (i, raw) in bad.iter().enumerate() {
        let path = files.path().join(format!("m{i}.eml"));
        std::fs::write(&path, raw).unwrap();
        let out = s.app.run(&["ingest", path.to_str().unwrap()]).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        // The message says what retries it: nothing by itself.
        let text = sigillo_e2e::stdout(&out);
        assert!(text.contains("tentativo 1 di 3") && text.contains("eseguire di nuovo sigillo ingest"), "{text}");
        paths.push(path);
    }
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where account is null and attempts = 1").await, 2);

    // Then both arrive in the PEC box: tried again there (attempt 2), and from now on the
    // mailbox's copy is the one to act on.
    let mut service = s.app.serve(&[]);
    s.dovecot.append(USER, "INBOX", &bad).await;
    wait_for(60, "attempt 2 of both", || async {
        scalar(&s.app, "select count(*) from inbound_messages where attempts = 2 and account like 'protocollo@%'").await == 2
    })
    .await;
    // The second one is retried by `sigillo ingest` (attempt 3: out of attempts); the poller
    // moves its copy. The first one is left to the poller, which retries it at its own time.
    let out = s.app.run(&["ingest", paths[1].to_str().unwrap()]).await;
    assert!(sigillo_e2e::stdout(&out).contains("quarantena"), "{}", sigillo_e2e::stdout(&out));
    wait_count(&s, "Quarantena", 2, 60).await;
    assert_eq!(s.dovecot.count(USER, "INBOX").await, 0);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where attempts = 3 and state = 'error'").await, 2);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where in_mailbox").await, 0);
    stop(&mut service).await;
}

/// The fault the home page shows for the only mailbox, or "ok" while it is read.
async fn mailbox_fault(app: &Instance) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>("select coalesce(fault::text, 'ok') from mailbox_health")
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
        .flatten()
}

#[tokio::test]
async fn a_mailbox_that_cannot_be_read_is_recorded_for_the_home_page_until_it_is_read_again() {
    let mut s = setup(&[]).await;
    s.dovecot.append(USER, "INBOX", &[s.pki.transport("opec.h0@pec.test.it", "Istanza", &[])]).await;

    // A changed password: the provider refuses the login.
    let mut service = s.app.serve(&[("SIGILLO_IMAP_PASSWORD", "not-the-password")]);
    wait_for(60, "a login fault", || async { mailbox_fault(&s.app).await.as_deref() == Some("login") }).await;
    wait_for(60, "a second failure", || async {
        scalar(&s.app, "select failures::bigint from mailbox_health").await >= 2
    })
    .await;
    let since = scalar(&s.app, "select extract(epoch from failing_since)::bigint from mailbox_health").await;
    let error: String = sqlx::query_scalar("select last_error from mailbox_health").fetch_one(&s.app.db.pool).await.unwrap();
    assert!(error.contains("login"), "{error}");
    assert!(!error.contains(PASSWORD) && !error.contains("not-the-password"), "no password in the record: {error}");
    assert_eq!(scalar(&s.app, "select count(*) from registrations").await, 0);
    service.kill().await;

    // The password is fixed: the message is registered and the fault is over.
    let mut service = s.app.serve(&[]);
    wait_for(60, "registration 1", || async { scalar(&s.app, "select count(*) from registrations").await == 1 }).await;
    wait_for(30, "the mailbox read again", || async { mailbox_fault(&s.app).await.as_deref() == Some("ok") }).await;
    assert_eq!(scalar(&s.app, "select count(*) from mailbox_health where last_ok_at is not null and failures = 0").await, 1);

    // The server goes away: a connection fault whose run keeps its start; back, it ends.
    s.dovecot.stop().await;
    wait_for(60, "a connection fault", || async { mailbox_fault(&s.app).await.as_deref() == Some("connection") }).await;
    let first = scalar(&s.app, "select extract(epoch from failing_since)::bigint from mailbox_health").await;
    assert!(first >= since, "a new run of failures, not the old one");
    wait_for(60, "more failures", || async { scalar(&s.app, "select failures::bigint from mailbox_health").await >= 3 }).await;
    assert_eq!(scalar(&s.app, "select extract(epoch from failing_since)::bigint from mailbox_health").await, first);
    s.dovecot.restart().await;
    wait_for(60, "the mailbox read again", || async { mailbox_fault(&s.app).await.as_deref() == Some("ok") }).await;
    s.dovecot.append(USER, "INBOX", &[s.pki.transport("opec.h1@pec.test.it", "Istanza", &[])]).await;
    wait_for(60, "registration 2", || async { scalar(&s.app, "select count(*) from registrations").await == 2 }).await;
    assert_gapless(&s.app, 2).await;
    service.kill().await;
}

#[tokio::test]
async fn a_batch_fetched_ahead_is_not_decided_after_a_failure_before_it() {
    // One message per batch: while message 2 is decided, message 3 is fetched ahead. Message
    // 2's blob cannot be written (a directory stands where its file goes), so its batch fails.
    let s = setup(&[("SIGILLO_IMAP_BATCH", "1")]).await;
    let pec = |i: usize| s.pki.transport(&format!("opec.ahead{i}@pec.test.it"), "Istanza", &[]);
    let messages: Vec<Vec<u8>> = (1..=3).map(pec).collect();
    let blocked = sigillo_store::blob::BlobStore::open(s.app.data_dir.path())
        .unwrap()
        .path_of(&sigillo_store::register::Sha256::of(&messages[1]));
    std::fs::create_dir_all(&blocked).unwrap();
    s.dovecot.append(USER, "INBOX", &messages).await;
    let mut service = s.app.serve(&[]);
    wait_for(60, "registration 1", || async { registered(&s.app).await == 1 }).await;
    // Several rounds of the intake's pause (its delay is at most 1 s here).
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(registered(&s.app).await, 1);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages").await, 1, "message 3 was decided past message 2");
    assert_eq!(s.dovecot.count(USER, "INBOX").await, 2);

    std::fs::remove_dir(&blocked).unwrap();
    wait_for(60, "registrations 2 and 3", || async { registered(&s.app).await == 3 }).await;
    wait_count(&s, "INBOX", 0, 30).await;
    assert_gapless(&s.app, 3).await;
    // Numbered in the order of their UIDs: the one fetched ahead waited for the one before it.
    let order: Vec<i64> = sqlx::query_scalar(
        "select r.number::bigint from registrations r join inbound_messages m on m.id = r.inbound_message_id order by m.uid",
    )
    .fetch_all(&s.app.db.pool)
    .await
    .unwrap();
    assert_eq!(order, [1, 2, 3]);
    stop(&mut service).await;
}
