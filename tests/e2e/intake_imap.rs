//! The IMAP intake of `sigillo serve` against a real Dovecot and a real Postgres: folders,
//! crash and restart of the service, of Dovecot and of the database connections,
//! UIDVALIDITY changes, quarantine.

use sigillo_e2e::dovecot::{Dovecot, PASSWORD};
use sigillo_e2e::pec_mail::{Attachment, Pki};
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
