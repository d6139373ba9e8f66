//! The outbox worker against the project's real SMTP peer: the `pec-sim` binary (a PEC
//! provider) delivering into a real Dovecot over LMTP. The SMTP server is down at first, then
//! comes up: the row is retried with backoff and delivered once; the provider's accettazione
//! and consegna, read back from the comune's box and classified, are linked to the row.
//! Build first: `cargo build -p sigillo_pec_sim` (same target directory).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sigillo_e2e::dovecot::{Dovecot, PASSWORD};
use sigillo_e2e::pec_sim::{Provider, pki_init};
use sigillo_notify::outbox::{self, LinkOutcome, NoticeOutcome, OutboxConfig};
use sigillo_notify::worker::{SmtpServer, Worker, WorkerSettings};
use sigillo_pec::envelope::Original;
use sigillo_pec::kind::PecType;
use sigillo_pec::report::{Decision, EnvelopeSignature, EnvelopeStatus, PecReport, Reason, ReasonCode};
use sigillo_pec::{Checker, MessageReport};
use sigillo_store::ids::InboundId;
use sigillo_store::inbound::{self, Origin};
use sigillo_store::outbox::{self as rows, OutboxState};
use sigillo_store::register::Sha256;
use sigillo_store::testing::TestDb;

const CITIZEN: &str = "mario.rossi@pec.cittadini.test";
const COMUNE: &str = "protocollo@pec.comune.test";

fn config() -> OutboxConfig {
    sigillo_notify::testing::config(COMUNE, 20)
}

/// A plain e-mail from the citizen, rejected as NOT_PEC: it gets a notice.
fn rejected_plain_mail() -> MessageReport {
    MessageReport {
        file: "m.eml".into(),
        pec: PecReport {
            pec_type: PecType::None,
            receipt: None,
            receipt_kind: None,
            envelope_signature: EnvelopeSignature { status: EnvelopeStatus::Missing, signer: None, detail: None, canonicalised: false, judged_at: None, time_source: None, subindication: None },
            daticert: None,
            wrapped: false,
            mailing_list: None,
            riferimento_message_id: None,
            original: Some(Original { from: Some(CITIZEN.into()), subject: Some("Istanza".into()), ..Original::default() }),
            body: None,
            warnings: vec![],
        },
        attachments: vec![],
        decision: Decision::Reject,
        reasons: vec![Reason { code: ReasonCode::NotPec, detail: "messaggio di posta ordinaria, non PEC".into() }],
    }
}

async fn inbound_row(db: &TestDb, seed: &[u8]) -> InboundId {
    let mut c = db.pool.acquire().await.unwrap();
    inbound::record(&mut c, &Sha256::of(seed), 10, &Origin::default()).await.unwrap().0.id
}

async fn wait_mail(dovecot: &Dovecot, user: &str, n: u32) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        if dovecot.count(user, "INBOX").await >= n {
            return dovecot.bodies(user, "INBOX").await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{n} messages for {user} did not arrive");
}

#[tokio::test]
async fn smtp_down_then_up_the_outbox_delivers_once_and_links_the_providers_receipts() {
    let db = TestDb::new(4).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    pki_init(&pki, &["pec.cittadini.test"]).await;
    let dovecot = Dovecot::start().await;

    let id = inbound_row(&db, b"citizen message").await;
    let mut tx = db.pool.begin().await.unwrap();
    let o = outbox::enqueue_for_decision(&mut tx, &config(), id, &rejected_plain_mail(), None).await.unwrap();
    tx.commit().await.unwrap();
    let NoticeOutcome::Queued { outbox_id, .. } = o else { panic!("{o:?}") };

    // The provider's SMTP server is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let smtp = format!("127.0.0.1:{port}");
    let settings = WorkerSettings {
        max_attempts: 10,
        retry_base: Duration::from_millis(300),
        retry_max: Duration::from_secs(2),
        idle_poll: Duration::from_millis(200),
        smtp_timeout: Duration::from_secs(10),
        senders: 1,
        confirm_window: Duration::from_secs(600),
    };
    let server = SmtpServer::parse(&format!("smtp://{smtp}")).unwrap();
    let worker = Worker::new(db.pool.clone(), &server, Some((COMUNE.into(), PASSWORD.to_owned().into())), COMUNE, settings).unwrap();
    let pass = worker.run_once().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 1, 0));
    let mut c = db.pool.acquire().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Pending, 1));
    assert!(row.next_attempt_at > chrono::Utc::now(), "backoff before the next attempt");

    // It comes back: the next due pass delivers.
    let _sim = Provider::start(&pki, &smtp, &dovecot.lmtp_addr(), &["pec.cittadini.test", "pec.comune.test"], PASSWORD).await;
    let mut sent = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sent += worker.run_once().await.unwrap().sent;
        if sent > 0 {
            break;
        }
    }
    assert_eq!(sent, 1);
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!(row.state, OutboxState::Sent);
    assert!(row.attempts >= 2 && row.sent_at.is_some(), "{row:?}");
    let mid = row.message_id.clone().unwrap();

    // Delivered once to the citizen, as a PEC carrying our message.
    let citizen = wait_mail(&dovecot, CITIZEN, 1).await;
    assert_eq!(citizen.len(), 1);
    assert!(String::from_utf8_lossy(&citizen[0]).contains(&mid));
    // Nothing left to send: no second copy.
    assert_eq!(worker.run_once().await.unwrap(), Default::default());

    // The provider's receipts come back to the comune's box: classified and linked.
    let receipts = wait_mail(&dovecot, COMUNE, 2).await;
    let mut checker = Checker::new(std::time::SystemTime::now());
    for f in std::fs::read_dir(pki.join("trust").join("pec")).unwrap() {
        checker.add_pec_anchors(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
    }
    for (i, raw) in receipts.iter().enumerate() {
        let report = checker.check_message("ricevuta.eml", raw).unwrap();
        assert_eq!(report.decision, Decision::LinkReceipt, "{:?}", report.reasons);
        let receipt_inbound = inbound_row(&db, raw).await;
        let mut tx = db.pool.begin().await.unwrap();
        let linked = outbox::link_provider_receipt(&mut tx, &report, receipt_inbound).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(linked, LinkOutcome::Linked { outbox_id }, "receipt {i}");
    }
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!(row.delivery, Some(rows::Delivery::Consegnata));
    assert!(row.pec_identificativo.is_some());
    let kinds: Vec<String> = rows::receipts_of(&mut c, outbox_id).await.unwrap().into_iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&"accettazione".to_owned()) && kinds.contains(&"avvenuta-consegna".to_owned()), "{kinds:?}");
}
