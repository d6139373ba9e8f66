//! What the outbox worker logs when the SMTP server refuses a recipient (issue 14 item 7):
//! the reply (`550 5.1.1 <mario.rossi@example.it>: Recipient address rejected`) quotes the
//! citizen's address, which must never reach the log at info and above. At warn the log
//! says the message was not sent, with the reply code and enhanced status; the full reply
//! is in the row (for staff) and in the log at debug only.
//!
//! A real Postgres (SIGILLO_TEST_DATABASE_URL), the real worker and lettre, and a small SMTP
//! server on loopback that refuses every recipient.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sigillo_notify::policy::NoticeKind;
use sigillo_notify::worker::{SmtpServer, Worker, WorkerSettings};
use sigillo_store::inbound::{self, Origin};
use sigillo_store::outbox::{self as rows, NewOutbox, OutboxState};
use sigillo_store::register::Sha256;
use sigillo_store::testing::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const FROM: &str = "protocollo@pec.comune.example.it";
const CITIZEN: &str = "mario.rossi@example.it";

/// An SMTP server that answers every command but refuses every RCPT TO with a reply that
/// quotes the address, as Postfix does. Returns its port.
async fn refusing_smtp_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 mx.example.it ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply = if upper.starts_with("EHLO") {
                        "250-mx.example.it\r\n250 8BITMIME\r\n".to_owned()
                    } else if upper.starts_with("RCPT TO:") {
                        let addr = line.split_once(':').map(|(_, a)| a.trim()).unwrap_or_default().to_owned();
                        format!("550 5.1.1 {addr}: Recipient address rejected: User unknown in virtual mailbox table\r\n")
                    } else if upper.starts_with("QUIT") {
                        "221 2.0.0 Bye\r\n".to_owned()
                    } else {
                        "250 2.0.0 Ok\r\n".to_owned()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() || upper.starts_with("QUIT") {
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A log sink the fmt subscriber writes into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// One pending notice to the citizen, sent once by the worker against the refusing server
/// with the log captured at `level`. Returns (the log, the row's stored error, its state).
async fn send_once_logging_at(level: tracing::Level) -> (String, Option<String>, OutboxState) {
    let db = TestDb::new(4).await.unwrap();
    let mut c = db.pool.acquire().await.unwrap();
    let inbound_id = inbound::record(&mut c, &Sha256::of(b"worker-logs"), 10, &Origin::default()).await.unwrap().0.id;
    let new = NewOutbox {
        inbound_message_id: Some(inbound_id),
        registration_id: None,
        kind: NoticeKind::Notifica,
        recipient: Some(CITIZEN.into()),
        message_id: Some("notifica-1@comune.example.it".into()),
        subject: Some("Comunicazione di mancata protocollazione".into()),
        raw: Some(b"From: protocollo@pec.comune.example.it\r\nTo: mario.rossi@example.it\r\nSubject: x\r\n\r\ntesto\r\n".to_vec()),
        state: OutboxState::Pending,
        suppressed_reason: None,
        created_by: rows::AUTOMATIC.into(),
        resend_of: None,
        carrier_id: None,
    };
    let outbox_id = rows::insert(&mut c, &new).await.unwrap().unwrap();

    let port = refusing_smtp_server().await;
    let server = SmtpServer::parse(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let settings = WorkerSettings {
        max_attempts: 3,
        retry_base: Duration::from_secs(60),
        retry_max: Duration::from_secs(3600),
        idle_poll: Duration::from_millis(200),
        smtp_timeout: Duration::from_secs(5),
        senders: 1,
        confirm_window: Duration::from_secs(600),
    };
    let worker = Worker::new(db.pool.clone(), &server, None, FROM, settings).unwrap();

    let log = Captured::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    // The test runs on one thread (current-thread runtime): the worker logs through it.
    let pass = {
        let _guard = tracing::subscriber::set_default(subscriber);
        worker.run_once().await.unwrap()
    };
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 0, 1), "a refused recipient is permanent");
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    (log.text(), row.last_error, row.state)
}

#[tokio::test]
async fn a_refused_recipient_is_logged_without_the_address_at_info() {
    let (log, stored, state) = send_once_logging_at(tracing::Level::INFO).await;
    println!("captured log at info:\n{log}");
    assert_eq!(state, OutboxState::Failed);
    // The failure itself is logged, at warn, with the reply code and enhanced status.
    let line = log
        .lines()
        .find(|l| l.contains("message not sent"))
        .unwrap_or_else(|| panic!("the failure is not logged:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("550") && line.contains("5.1.1"), "{line}");
    // Nothing of the address, nor of the reply text around it.
    for leak in [CITIZEN, "mario.rossi", "Recipient address rejected"] {
        assert!(!log.contains(leak), "{leak:?} in the log at info:\n{log}");
    }
    // Staff still see the whole reply on the row.
    let stored = stored.unwrap_or_default();
    assert!(stored.contains(CITIZEN) && stored.contains("Recipient address rejected"), "{stored}");
}

#[tokio::test]
async fn the_whole_smtp_reply_is_logged_at_debug_only() {
    let (log, _, _) = send_once_logging_at(tracing::Level::DEBUG).await;
    let full = log
        .lines()
        .find(|l| l.contains("Recipient address rejected"))
        .unwrap_or_else(|| panic!("the whole reply is not logged at debug:\n{log}"));
    assert!(full.contains("DEBUG") && full.contains(CITIZEN), "{full}");
    for line in log.lines().filter(|l| l.contains(CITIZEN)) {
        assert!(line.contains("DEBUG") || line.contains("TRACE"), "the address above debug: {line}");
    }
}
