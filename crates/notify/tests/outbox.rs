//! The outbox against a real Postgres: rows written in the decision's transaction, one
//! automatic answer per message, the rate limit, loop safety, provider receipts linked to
//! what we sent, claiming under concurrency, retries and re-sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use sigillo_notify::model::Document;
use sigillo_notify::outbox::{self, LinkOutcome, NoticeOutcome, OutboxConfig, Registered};
use sigillo_notify::policy::{NoticeKind, SkipReason};
use sigillo_notify::worker::{SmtpServer, Worker, WorkerSettings};
use sigillo_pec::MessageReport;
use sigillo_pec::daticert::Daticert;
use sigillo_pec::envelope::Original;
use sigillo_pec::kind::{PecType, ReceiptType};
use sigillo_pec::report::{Decision, EnvelopeSignature, EnvelopeStatus, PecReport, Reason, ReasonCode};
use sigillo_store::ids::{InboundId, OutboxId, RegistrationId};
use sigillo_store::inbound::{self, Origin};
use sigillo_store::outbox::{self as rows, Delivery, NewOutbox, OutboxState, SuppressedReason};
use sigillo_store::register::{self, Actor, Direction, NewRegistration, Sha256};
use sigillo_store::testing::TestDb;

const FROM: &str = "protocollo@pec.comune.example.it";

fn config(per_hour: u32) -> OutboxConfig {
    sigillo_notify::testing::config(FROM, per_hour)
}

fn report(pec_type: PecType, decision: Decision, sender: &str) -> MessageReport {
    let daticert = matches!(pec_type, PecType::PostaCertificata | PecType::Ricevuta).then(|| Daticert {
        mittente: Some(sender.into()),
        risposte: Some(sender.into()),
        identificativo: Some(format!("opec.{}@pec.example.it", uuid_like())),
        msgid: Some(format!("<{}@client.example.it>", uuid_like())),
        ..Daticert::default()
    });
    MessageReport {
        file: "m.eml".into(),
        pec: PecReport {
            pec_type,
            receipt: None,
            receipt_kind: None,
            envelope_signature: EnvelopeSignature {
                status: EnvelopeStatus::Valid,
                signer: None,
                detail: None,
                canonicalised: false,
                judged_at: None,
                time_source: None,
                subindication: None,
            },
            daticert,
            wrapped: false,
            mailing_list: None,
            riferimento_message_id: None,
            original: Some(Original {
                from: Some(sender.into()),
                subject: Some("Richiesta di accesso agli atti".into()),
                ..Original::default()
            }),
            body: None,
            warnings: vec![],
        },
        attachments: vec![],
        decision,
        reasons: match decision {
            Decision::Reject => vec![Reason { code: ReasonCode::NotPec, detail: "messaggio di posta ordinaria, non PEC".into() }],
            _ => vec![],
        },
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}.{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A provider receipt for the message we sent with `message_id`.
fn provider_receipt(t: ReceiptType, msgid: Option<&str>, ident: Option<&str>, at: &str) -> MessageReport {
    let mut r = report(PecType::Ricevuta, Decision::LinkReceipt, FROM);
    r.pec.receipt = Some(t);
    r.pec.original = None;
    let d = r.pec.daticert.as_mut().unwrap();
    d.msgid = msgid.map(str::to_owned);
    d.identificativo = ident.map(str::to_owned);
    d.data = Some(chrono::DateTime::parse_from_rfc3339(at).unwrap());
    r
}

async fn inbound_row(db: &TestDb) -> InboundId {
    let mut c = db.pool.acquire().await.unwrap();
    let sha = Sha256::of(uuid_like().as_bytes());
    inbound::record(&mut c, &sha, 10, &Origin::default()).await.unwrap().0.id
}

async fn enqueue(db: &TestDb, cfg: &OutboxConfig, inbound: InboundId, r: &MessageReport) -> NoticeOutcome {
    let mut tx = db.pool.begin().await.unwrap();
    let o = outbox::enqueue_for_decision(&mut tx, cfg, inbound, r, None).await.unwrap();
    tx.commit().await.unwrap();
    o
}

async fn count(db: &TestDb) -> i64 {
    sqlx::query_scalar::<_, i64>("select count(*) from outbox").fetch_one(&db.pool).await.unwrap()
}

#[tokio::test]
async fn a_notice_is_written_in_the_decisions_transaction_or_not_at_all() {
    let db = TestDb::new(4).await.unwrap();
    let cfg = config(20);
    let id = inbound_row(&db).await;
    let r = report(PecType::None, Decision::Reject, "cittadino@example.com");

    let mut tx = db.pool.begin().await.unwrap();
    let o = outbox::enqueue_for_decision(&mut tx, &cfg, id, &r, None).await.unwrap();
    assert!(matches!(o, NoticeOutcome::Queued { kind: NoticeKind::Notifica, .. }), "{o:?}");
    assert_eq!(count(&db).await, 0, "invisible before the commit");
    tx.rollback().await.unwrap();
    assert_eq!(count(&db).await, 0, "gone with the rollback");

    let NoticeOutcome::Queued { outbox_id, .. } = enqueue(&db, &cfg, id, &r).await else { panic!() };
    assert_eq!(count(&db).await, 1);
    let mut c = db.pool.acquire().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!(row.state, OutboxState::Pending);
    assert_eq!((row.kind.as_str(), row.recipient.as_deref()), ("notifica", Some("cittadino@example.com")));
    assert_eq!(row.created_by, "intake");
    let raw = String::from_utf8(rows::raw(&mut c, outbox_id).await.unwrap().unwrap()).unwrap();
    let mid = row.message_id.unwrap();
    assert!(!mid.starts_with('<'));
    assert!(raw.contains(&format!("<{mid}>")), "the stored bytes carry the stored Message-ID");
}

#[tokio::test]
async fn one_automatic_answer_per_message() {
    let db = TestDb::new(4).await.unwrap();
    let cfg = config(20);
    let id = inbound_row(&db).await;
    let r = report(PecType::None, Decision::Reject, "cittadino@example.com");
    assert!(matches!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Queued { .. }));
    assert_eq!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Skipped(SkipReason::Duplicate));
    // The unique index itself, past the check: a second automatic row is not written.
    let mut c = db.pool.acquire().await.unwrap();
    let again = NewOutbox {
        inbound_message_id: Some(id),
        registration_id: None,
        kind: NoticeKind::Notifica,
        recipient: Some("cittadino@example.com".into()),
        message_id: Some("other@x.it".into()),
        subject: Some("s".into()),
        raw: Some(b"x".to_vec()),
        state: OutboxState::Pending,
        suppressed_reason: None,
        created_by: rows::AUTOMATIC.into(),
        resend_of: None,
        carrier_id: None,
    };
    assert_eq!(rows::insert(&mut c, &again).await.unwrap(), None);
    assert_eq!(count(&db).await, 1);

    // Two decisions of the same message at the same time: one row.
    let id2 = inbound_row(&db).await;
    let (a, b) = tokio::join!(enqueue(&db, &cfg, id2, &r), enqueue(&db, &cfg, id2, &r));
    let queued = [&a, &b].iter().filter(|o| matches!(o, NoticeOutcome::Queued { .. })).count();
    assert_eq!(queued, 1, "{a:?} {b:?}");
    assert_eq!(count(&db).await, 2);
}

#[tokio::test]
async fn beyond_the_rate_limit_answers_are_held_back_with_the_reason() {
    let db = TestDb::new(4).await.unwrap();
    let cfg = config(2);
    let mut outcomes = Vec::new();
    for sender in ["loop@example.com", "LOOP@example.com", "loop@example.com"] {
        let id = inbound_row(&db).await;
        outcomes.push(enqueue(&db, &cfg, id, &report(PecType::None, Decision::Reject, sender)).await);
    }
    assert!(matches!(outcomes[0], NoticeOutcome::Queued { .. }));
    assert!(matches!(outcomes[1], NoticeOutcome::Queued { .. }), "case-insensitive count, still within");
    let NoticeOutcome::Suppressed { outbox_id, reason: SkipReason::RateLimit } = outcomes[2] else { panic!("{outcomes:?}") };
    let mut c = db.pool.acquire().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.state, row.suppressed_reason), (OutboxState::Suppressed, Some(SuppressedReason::RateLimit)));
    assert!(rows::raw(&mut c, outbox_id).await.unwrap().is_some(), "composed, so staff can re-send it");
    // Another sender is not affected; suppressed rows do not count.
    let id = inbound_row(&db).await;
    assert!(matches!(enqueue(&db, &cfg, id, &report(PecType::None, Decision::Reject, "altro@example.com")).await, NoticeOutcome::Queued { .. }));
    let id = inbound_row(&db).await;
    assert!(matches!(
        enqueue(&db, &cfg, id, &report(PecType::None, Decision::Reject, "loop@example.com")).await,
        NoticeOutcome::Suppressed { reason: SkipReason::RateLimit, .. }
    ));
}

#[tokio::test]
async fn receipts_automatic_mail_and_review_are_never_answered() {
    let db = TestDb::new(4).await.unwrap();
    let cfg = config(20);

    let id = inbound_row(&db).await;
    let r = provider_receipt(ReceiptType::AvvenutaConsegna, Some("<x@y.it>"), None, "2026-11-23T10:00:00+01:00");
    assert_eq!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Skipped(SkipReason::Receipt));
    let id = inbound_row(&db).await;
    let r = report(PecType::PostaCertificata, Decision::Review, "a@pec.example.it");
    assert_eq!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Skipped(SkipReason::Review));
    assert_eq!(count(&db).await, 0, "no row for receipts and review");

    let id = inbound_row(&db).await;
    let mut r = report(PecType::Anomalia, Decision::Reject, "ferie@example.com");
    r.pec.original.as_mut().unwrap().auto_submitted = Some("auto-replied".into());
    assert!(matches!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Suppressed { reason: SkipReason::AutomaticMail, .. }));
    let id = inbound_row(&db).await;
    let r = report(PecType::None, Decision::Reject, "MAILER-DAEMON@mx.example.com");
    assert!(matches!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Suppressed { reason: SkipReason::NoReplySender, .. }));
    let id = inbound_row(&db).await;
    let mut r = report(PecType::PostaCertificata, Decision::Reject, "a@pec.example.it");
    r.reasons = vec![Reason { code: ReasonCode::ForgedEnvelope, detail: "x".into() }];
    assert!(matches!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Suppressed { reason: SkipReason::ForgedEnvelope, .. }));
    let id = inbound_row(&db).await;
    let mut r = report(PecType::None, Decision::Reject, "x");
    r.pec.original.as_mut().unwrap().from = None;
    let NoticeOutcome::Suppressed { outbox_id, reason: SkipReason::NoAddress } = enqueue(&db, &cfg, id, &r).await else { panic!() };
    let mut c = db.pool.acquire().await.unwrap();
    assert_eq!(rows::get(&mut c, outbox_id).await.unwrap().recipient, None);
    // None of them is pending: the worker has nothing to send.
    let pending: i64 = sqlx::query_scalar("select count(*) from outbox where state = 'pending'").fetch_one(&db.pool).await.unwrap();
    assert_eq!(pending, 0);
}

async fn registered_receipt(db: &TestDb, cfg: &OutboxConfig) -> (OutboxId, RegistrationId) {
    let reg_book = db.test_register().await.unwrap();
    let id = inbound_row(db).await;
    let r = report(PecType::PostaCertificata, Decision::Register, "mario.rossi@pec.example.it");
    let mut tx = db.pool.begin().await.unwrap();
    let new = NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: None,
        correspondent_address: Some("mario.rossi@pec.example.it".into()),
        subject: "Richiesta di accesso agli atti".into(),
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: None,
        inbound_message_id: Some(id),
        documents: vec![],
    };
    let reg = register::register(&mut tx, &reg_book, &Actor::parse("intake").unwrap(), &new, None).await.unwrap();
    let registered = Registered {
        id: reg.id,
        number: reg.number.get(),
        year: reg.year,
        registered_at: reg.registered_at,
        segnatura: reg.segnatura.clone(),
        subject: new.subject.clone(),
        documents: vec![Document {
            name: "domanda.pdf.p7m".into(),
            media_type: Some("application/pkcs7-mime".into()),
            size: 1234,
            sha256: "00".repeat(32),
            primary: true,
        }],
    };
    let o = outbox::enqueue_for_decision(&mut tx, cfg, id, &r, Some(&registered)).await.unwrap();
    tx.commit().await.unwrap();
    let NoticeOutcome::Queued { outbox_id, kind: NoticeKind::Ricevuta } = o else { panic!("{o:?}") };
    (outbox_id, reg.id)
}

#[tokio::test]
async fn a_registration_gets_a_receipt_row_linked_to_it() {
    let db = TestDb::new(4).await.unwrap();
    let (outbox_id, reg_id) = registered_receipt(&db, &config(20)).await;
    let mut c = db.pool.acquire().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.kind.as_str(), row.registration_id), ("ricevuta", Some(reg_id)));
    assert_eq!(row.recipient.as_deref(), Some("mario.rossi@pec.example.it"));
}

#[tokio::test]
async fn provider_receipts_are_linked_and_delivery_only_moves_forward() {
    let db = TestDb::new(4).await.unwrap();
    let (outbox_id, _) = registered_receipt(&db, &config(20)).await;
    let mut c = db.pool.acquire().await.unwrap();
    let mid = rows::get(&mut c, outbox_id).await.unwrap().message_id.unwrap();
    let ident = "opec210312.20261123100000.1.63@pec.example.it";

    let link = |r: MessageReport| {
        let pool = db.pool.clone();
        async move {
            let id = {
                let mut c = pool.acquire().await.unwrap();
                let sha = Sha256::of(uuid_like().as_bytes());
                inbound::record(&mut c, &sha, 10, &Origin::default()).await.unwrap().0.id
            };
            let mut tx = pool.begin().await.unwrap();
            let o = outbox::link_provider_receipt(&mut tx, &r, id).await.unwrap();
            tx.commit().await.unwrap();
            (o, id)
        }
    };

    // The consegna may be read before the accettazione: by msgid without brackets.
    let consegna = provider_receipt(ReceiptType::AvvenutaConsegna, Some(&mid), Some(ident), "2026-11-23T10:00:05+01:00");
    assert_eq!(link(consegna).await.0, LinkOutcome::Linked { outbox_id });
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!(row.delivery, Some(Delivery::Consegnata));
    assert_eq!(row.pec_identificativo.as_deref(), Some(ident));
    let consegnata_at = row.delivery_at.unwrap();

    // The accettazione after it (msgid with brackets) is recorded but does not undo it.
    let acc = provider_receipt(ReceiptType::Accettazione, Some(&format!("<{mid}>")), Some(ident), "2026-11-23T10:00:00+01:00");
    let (o, acc_inbound) = link(acc.clone()).await;
    assert_eq!(o, LinkOutcome::Linked { outbox_id });
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.delivery, row.delivery_at), (Some(Delivery::Consegnata), Some(consegnata_at)));

    // By identificativo alone (no msgid in daticert).
    let preavviso = provider_receipt(ReceiptType::PreavvisoErroreConsegna, None, Some(ident), "2026-11-23T22:00:00+01:00");
    assert_eq!(link(preavviso).await.0, LinkOutcome::Linked { outbox_id });
    // By X-Riferimento-Message-ID when daticert has neither.
    let mut rif = provider_receipt(ReceiptType::ErroreConsegna, None, None, "2026-11-24T10:00:00+01:00");
    rif.pec.riferimento_message_id = Some(format!("<{mid}>"));
    assert_eq!(link(rif).await.0, LinkOutcome::Linked { outbox_id });
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!(row.delivery, Some(Delivery::Consegnata), "a final state stays");

    let kinds: Vec<String> = rows::receipts_of(&mut c, outbox_id).await.unwrap().into_iter().map(|r| r.kind).collect();
    assert_eq!(kinds, ["accettazione", "avvenuta-consegna", "preavviso-errore-consegna", "errore-consegna"]);

    // The same receipt message linked again: nothing new.
    let mut tx = db.pool.begin().await.unwrap();
    assert_eq!(outbox::link_provider_receipt(&mut tx, &acc, acc_inbound).await.unwrap(), LinkOutcome::AlreadyLinked { outbox_id });
    tx.commit().await.unwrap();

    // Receipts of something we did not send, unverified receipts, non-receipts.
    let other = provider_receipt(ReceiptType::Accettazione, Some("<nobody@x.it>"), Some("opec.none@x.it"), "2026-11-23T10:00:00+01:00");
    assert_eq!(link(other).await.0, LinkOutcome::Unmatched);
    let mut forged = provider_receipt(ReceiptType::ErroreConsegna, Some(&mid), Some(ident), "2026-11-23T10:00:00+01:00");
    forged.reasons.push(Reason { code: ReasonCode::ForgedEnvelope, detail: "x".into() });
    assert_eq!(link(forged).await.0, LinkOutcome::Untrusted);
    assert_eq!(link(report(PecType::None, Decision::Reject, "a@b.it")).await.0, LinkOutcome::NotAReceipt);
    assert_eq!(rows::receipts_of(&mut c, outbox_id).await.unwrap().len(), 4);

    // Receipts are evidence: the table refuses changes.
    let err = sqlx::query("delete from outbox_receipts").execute(&db.pool).await.unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
}

#[tokio::test]
async fn an_accettazione_first_then_the_consegna_moves_forward() {
    let db = TestDb::new(4).await.unwrap();
    let (outbox_id, _) = registered_receipt(&db, &config(20)).await;
    let mut c = db.pool.acquire().await.unwrap();
    let mid = rows::get(&mut c, outbox_id).await.unwrap().message_id.unwrap();
    for (t, expected) in [(ReceiptType::Accettazione, Delivery::Accettata), (ReceiptType::AvvenutaConsegna, Delivery::Consegnata)] {
        let id = inbound_row(&db).await;
        let r = provider_receipt(t, Some(&format!("<{mid}>")), Some("opec.1@pec.example.it"), "2026-11-23T10:00:00+01:00");
        let mut tx = db.pool.begin().await.unwrap();
        outbox::link_provider_receipt(&mut tx, &r, id).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(rows::get(&mut c, outbox_id).await.unwrap().delivery, Some(expected));
    }
}

#[tokio::test]
async fn two_workers_never_claim_the_same_row() {
    let db = TestDb::new(6).await.unwrap();
    let cfg = config(20);
    for sender in ["a@example.com", "b@example.com"] {
        let id = inbound_row(&db).await;
        enqueue(&db, &cfg, id, &report(PecType::None, Decision::Reject, sender)).await;
    }
    let window = Duration::from_secs(600);
    let mut c = db.pool.acquire().await.unwrap();
    let a = rows::claim_due(&mut c, window).await.unwrap().unwrap();
    let b = rows::claim_due(&mut c, window).await.unwrap().unwrap();
    assert_ne!(a.id, b.id);
    assert!(!a.in_doubt && !b.in_doubt);
    assert!(rows::claim_due(&mut c, window).await.unwrap().is_none(), "both sending: nothing to claim, no waiting");
    // Claims are committed before the send: another connection sees them.
    let sending: i64 = sqlx::query_scalar("select count(*) from outbox where state = 'sending'").fetch_one(&db.pool).await.unwrap();
    assert_eq!(sending, 2);
    assert!(rows::mark_sent(&mut c, a.id, a.attempt).await.unwrap());
    // Worker 2 died without recording anything: its row stays `sending` and is not claimed
    // again while its confirmation window runs; the sent one never is.
    assert!(rows::claim_due(&mut c, window).await.unwrap().is_none());
    assert_eq!(rows::get(&mut c, b.id).await.unwrap().state, OutboxState::Sending);
}

/// Issue 18 §6: a send interrupted between the SMTP transaction and its commit is confirmed
/// by the provider's accettazione (which names our Message-ID), never sent a second time.
#[tokio::test]
async fn an_interrupted_send_is_confirmed_by_the_accettazione_not_sent_again() {
    let db = TestDb::new(4).await.unwrap();
    let (outbox_id, _) = registered_receipt(&db, &config(20)).await;
    let mut c = db.pool.acquire().await.unwrap();
    let claimed = rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempt), (outbox_id, 1));
    // The worker dies here, after the provider's 250: nothing recorded.
    drop(claimed);
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Sending, 1));
    assert!(rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().is_none(), "in doubt: not sent again yet");

    // The accettazione comes back through the intake and confirms the send.
    let mid = row.message_id.unwrap();
    let acc = provider_receipt(ReceiptType::Accettazione, Some(&format!("<{mid}>")), Some("opec.acc@pec.example.it"), "2026-11-23T10:00:00+01:00");
    let id = inbound_row(&db).await;
    let mut tx = db.pool.begin().await.unwrap();
    assert_eq!(outbox::link_provider_receipt(&mut tx, &acc, id).await.unwrap(), LinkOutcome::Linked { outbox_id });
    tx.commit().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.state, row.delivery), (OutboxState::Sent, Some(Delivery::Accettata)));
    assert!(row.sent_at.is_some());
    // Even once the window is over, a confirmed row is never claimed again.
    sqlx::query("update outbox set next_attempt_at = now() - interval '1 hour'").execute(&db.pool).await.unwrap();
    assert!(rows::claim_due(&mut c, Duration::ZERO).await.unwrap().is_none());
}

/// Issue 18 §6: a send interrupted before the provider accepted it gets no accettazione; once
/// the window is over it is sent again, and the late outcome of the first claim (a worker
/// that comes back) cannot overwrite the second's.
#[tokio::test]
async fn an_interrupted_send_without_accettazione_is_sent_again_after_the_window() {
    let db = TestDb::new(4).await.unwrap();
    let (outbox_id, _) = registered_receipt(&db, &config(20)).await;
    let mut c = db.pool.acquire().await.unwrap();
    let first = rows::claim_due(&mut c, Duration::from_millis(200)).await.unwrap().unwrap();
    assert!(rows::claim_due(&mut c, Duration::from_millis(200)).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().unwrap();
    assert_eq!(second.id, outbox_id);
    assert!(second.in_doubt, "claimed again because the first send was never confirmed");
    assert_eq!((first.attempt, second.attempt), (1, 2));
    assert!(!rows::mark_attempt_failed(&mut c, outbox_id, first.attempt, "timeout", Duration::ZERO, false).await.unwrap());
    assert!(!rows::mark_sent(&mut c, outbox_id, first.attempt).await.unwrap());
    assert_eq!(rows::get(&mut c, outbox_id).await.unwrap().state, OutboxState::Sending);
    assert!(rows::mark_sent(&mut c, outbox_id, second.attempt).await.unwrap());
    assert_eq!(rows::get(&mut c, outbox_id).await.unwrap().state, OutboxState::Sent);
}

fn worker(db: &TestDb, port: u16, max_attempts: u32, base: Duration) -> Worker {
    let server = SmtpServer::parse(&format!("smtp://127.0.0.1:{port}")).unwrap();
    let settings = WorkerSettings {
        max_attempts,
        retry_base: base,
        retry_max: Duration::from_secs(3600),
        idle_poll: Duration::from_millis(200),
        smtp_timeout: Duration::from_secs(5),
        senders: 1,
        confirm_window: Duration::from_secs(600),
    };
    Worker::new(db.pool.clone(), &server, None, FROM, settings).unwrap()
}

/// A loopback port nobody listens on: the SMTP server is down.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_server_means_retries_with_backoff_then_failed() {
    let db = TestDb::new(4).await.unwrap();
    let id = inbound_row(&db).await;
    let NoticeOutcome::Queued { outbox_id, .. } =
        enqueue(&db, &config(20), id, &report(PecType::None, Decision::Reject, "c@example.com")).await
    else {
        panic!()
    };
    let port = closed_port();

    // A long backoff: one attempt, then the row waits.
    let w = worker(&db, port, 3, Duration::from_secs(60));
    let pass = w.run_once().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 1, 0));
    let mut c = db.pool.acquire().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Pending, 1));
    assert!(row.last_error.is_some());
    let wait = (row.next_attempt_at - Utc::now()).num_seconds();
    assert!((25..=60).contains(&wait), "first retry in 30-60 s, got {wait}");
    assert_eq!(w.run_once().await.unwrap(), Default::default(), "not due yet");

    // Due now, with no backoff: attempts 2 and 3, then failed.
    sqlx::query("update outbox set next_attempt_at = now()").execute(&db.pool).await.unwrap();
    let w = worker(&db, port, 3, Duration::ZERO);
    let pass = w.run_once().await.unwrap();
    assert_eq!((pass.retried, pass.failed), (1, 1));
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Failed, 3));

    // Staff re-send it: back in the queue, fresh attempts, audited.
    let mut tx = db.pool.begin().await.unwrap();
    let actor = Actor::parse("m.bianchi").unwrap();
    assert_eq!(outbox::resend(&mut tx, outbox_id, &actor).await.unwrap(), outbox_id);
    tx.commit().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.state, row.attempts, row.last_error), (OutboxState::Pending, 0, None));
    let audited: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'outbox.resend' and actor = 'm.bianchi'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(audited, 1);
    // Already waiting: a second re-send is refused.
    let mut tx = db.pool.begin().await.unwrap();
    assert!(outbox::resend(&mut tx, outbox_id, &actor).await.is_err());
}

#[tokio::test]
async fn resending_a_sent_message_makes_a_new_one() {
    let db = TestDb::new(4).await.unwrap();
    let (outbox_id, _) = registered_receipt(&db, &config(20)).await;
    let mut c = db.pool.acquire().await.unwrap();
    let claimed = rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().unwrap();
    assert!(rows::mark_sent(&mut c, claimed.id, claimed.attempt).await.unwrap());
    drop(c);

    let mut tx = db.pool.begin().await.unwrap();
    let new_id = outbox::resend(&mut tx, outbox_id, &Actor::parse("m.bianchi").unwrap()).await.unwrap();
    tx.commit().await.unwrap();
    assert_ne!(new_id, outbox_id);
    let mut c = db.pool.acquire().await.unwrap();
    let old = rows::get(&mut c, outbox_id).await.unwrap();
    let new = rows::get(&mut c, new_id).await.unwrap();
    assert_eq!(old.state, OutboxState::Sent);
    assert_eq!((new.state, new.resend_of, new.created_by.as_str()), (OutboxState::Pending, Some(outbox_id), "m.bianchi"));
    assert_eq!((new.kind, new.recipient, new.registration_id), (old.kind, old.recipient, old.registration_id));
    let (old_mid, new_mid) = (old.message_id.unwrap(), new.message_id.unwrap());
    assert_ne!(old_mid, new_mid);
    let old_raw = String::from_utf8(rows::raw(&mut c, outbox_id).await.unwrap().unwrap()).unwrap();
    let new_raw = String::from_utf8(rows::raw(&mut c, new_id).await.unwrap().unwrap()).unwrap();
    assert!(new_raw.contains(&format!("Message-ID: <{new_mid}>")) && !new_raw.contains(&old_mid));
    let body = |s: &str| s.split_once("\r\n\r\n").unwrap().1.to_owned();
    assert_eq!(body(&old_raw), body(&new_raw), "same body and attachments");
    assert_eq!(rows::for_inbound(&mut c, old.inbound_message_id.unwrap()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn registering_a_rejected_message_anyway_sends_a_receipt_beside_the_notice() {
    let db = TestDb::new(4).await.unwrap();
    let cfg = config(20);
    let reg_book = db.test_register().await.unwrap();
    let id = inbound_row(&db).await;
    let r = report(PecType::None, Decision::Reject, "cittadino@example.com");
    assert!(matches!(enqueue(&db, &cfg, id, &r).await, NoticeOutcome::Queued { kind: NoticeKind::Notifica, .. }));

    let mut tx = db.pool.begin().await.unwrap();
    let new = NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: None,
        correspondent_address: Some("cittadino@example.com".into()),
        subject: "Domanda".into(),
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: None,
        inbound_message_id: Some(id),
        documents: vec![],
    };
    let actor = Actor::parse("m.bianchi").unwrap();
    let reg = register::register(&mut tx, &reg_book, &actor, &new, None).await.unwrap();
    let registered = Registered {
        id: reg.id,
        number: reg.number.get(),
        year: reg.year,
        registered_at: reg.registered_at,
        segnatura: reg.segnatura.clone(),
        subject: new.subject.clone(),
        documents: vec![],
    };
    let o = outbox::enqueue_receipt_for_override(&mut tx, &cfg, id, &r, &registered, &actor).await.unwrap();
    let NoticeOutcome::Queued { outbox_id, kind: NoticeKind::Ricevuta } = o else { panic!("{o:?}") };
    let again = outbox::enqueue_receipt_for_override(&mut tx, &cfg, id, &r, &registered, &actor).await.unwrap();
    assert_eq!(again, NoticeOutcome::Skipped(SkipReason::Duplicate));
    tx.commit().await.unwrap();
    let mut c = db.pool.acquire().await.unwrap();
    let row = rows::get(&mut c, outbox_id).await.unwrap();
    assert_eq!((row.created_by.as_str(), row.registration_id), ("m.bianchi", Some(reg.id)));
    assert_eq!(rows::for_inbound(&mut c, id).await.unwrap().len(), 2);
}

/// One outgoing message to two recipients (issue 17): one row per recipient, the first
/// carrying the message; the worker claims it once with both RCPTs; the sending state is
/// shared, the delivery state is each recipient's own (daticert `consegna`); a recipient's
/// failed delivery is sent again to that recipient alone.
#[tokio::test]
async fn one_message_to_two_recipients_has_one_send_and_a_delivery_state_each() {
    use sigillo_notify::model::{Outgoing, OutgoingFile};
    const A: &str = "mario.rossi@pec.example.it";
    const B: &str = "anna.bianchi@pec.example.it";
    let db = TestDb::new(4).await.unwrap();
    let cfg = config(20);
    let reg_book = db.test_register().await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    let new = NewRegistration {
        direction: Direction::Outgoing,
        correspondent_name: None,
        correspondent_address: None,
        subject: "Comunicazione di avvio del procedimento".into(),
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: None,
        inbound_message_id: None,
        documents: vec![],
    };
    let clerk = Actor::parse("m.bianchi").unwrap();
    let reg = register::register(&mut tx, &reg_book, &clerk, &new, None).await.unwrap();
    let pdf = b"%PDF-1.4\n%%EOF\n".to_vec();
    let outgoing = Outgoing {
        to: Vec::new(),
        number: reg.number.get(),
        year: reg.year,
        registered_at: reg.registered_at,
        segnatura: reg.segnatura.clone(),
        subject: new.subject.clone(),
        files: vec![OutgoingFile {
            document: Document {
                name: "avvio.pdf".into(),
                media_type: Some("application/pdf".into()),
                size: pdf.len() as i64,
                sha256: "11".repeat(32),
                primary: true,
            },
            content: pdf,
        }],
    };
    let recipients = [A.to_owned(), B.to_owned()];
    let ids = outbox::enqueue_outgoing(&mut tx, &cfg, reg.id, &outgoing, &recipients, true, None, &clerk).await.unwrap();
    tx.commit().await.unwrap();
    let [carrier, member] = ids[..] else { panic!("{ids:?}") };

    let mut c = db.pool.acquire().await.unwrap();
    let (cr, mr) = (rows::get(&mut c, carrier).await.unwrap(), rows::get(&mut c, member).await.unwrap());
    assert_eq!((cr.recipient.as_deref(), cr.carrier_id), (Some(A), None));
    assert_eq!((mr.recipient.as_deref(), mr.carrier_id, mr.message_id.as_deref()), (Some(B), Some(carrier), None));
    let mid = cr.message_id.unwrap();
    let raw = rows::raw(&mut c, carrier).await.unwrap().unwrap();
    assert_eq!(rows::raw(&mut c, member).await.unwrap().unwrap(), raw, "the member's bytes are its carrier's");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains(A) && text.contains(B), "both in To: {text}");

    // One claim, both recipients; the member is never claimed on its own, and it follows
    // its carrier through a failed attempt and the send.
    let claimed = rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.recipients.clone()), (carrier, vec![A.to_owned(), B.to_owned()]));
    assert!(rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().is_none());
    assert_eq!(rows::get(&mut c, member).await.unwrap().state, OutboxState::Sending);
    assert!(rows::mark_attempt_failed(&mut c, carrier, claimed.attempt, "timeout", Duration::ZERO, false).await.unwrap());
    let m = rows::get(&mut c, member).await.unwrap();
    assert_eq!((m.state, m.attempts, m.last_error.as_deref()), (OutboxState::Pending, 1, Some("timeout")));
    let claimed = rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempt), (carrier, 2));
    assert!(rows::mark_sent(&mut c, carrier, claimed.attempt).await.unwrap());
    let m = rows::get(&mut c, member).await.unwrap();
    assert_eq!((m.state, m.last_error), (OutboxState::Sent, None));
    assert!(m.sent_at.is_some());
    drop(c);

    let link = |r: MessageReport| {
        let pool = db.pool.clone();
        async move {
            let id = inbound_row_in(&pool).await;
            let mut tx = pool.begin().await.unwrap();
            let o = outbox::link_provider_receipt(&mut tx, &r, id).await.unwrap();
            tx.commit().await.unwrap();
            o
        }
    };
    let ident = "opec.uno@pec.example.it";
    // The accettazione is about the message: both recipients are accepted.
    let acc = provider_receipt(ReceiptType::Accettazione, Some(&format!("<{mid}>")), Some(ident), "2026-11-23T10:00:00+01:00");
    assert_eq!(link(acc).await, LinkOutcome::Linked { outbox_id: carrier });
    let mut c = db.pool.acquire().await.unwrap();
    assert_eq!(rows::get(&mut c, carrier).await.unwrap().delivery, Some(Delivery::Accettata));
    assert_eq!(rows::get(&mut c, member).await.unwrap().delivery, Some(Delivery::Accettata));
    // Each consegna names its recipient (any case): B delivered, A not, found by the
    // identificativo alone.
    let mut cons = provider_receipt(ReceiptType::AvvenutaConsegna, Some(&mid), Some(ident), "2026-11-23T10:00:05+01:00");
    cons.pec.daticert.as_mut().unwrap().consegna = Some(B.to_uppercase());
    assert_eq!(link(cons).await, LinkOutcome::Linked { outbox_id: member });
    let mut err = provider_receipt(ReceiptType::ErroreConsegna, None, Some(ident), "2026-11-23T10:00:06+01:00");
    err.pec.daticert.as_mut().unwrap().consegna = Some(A.to_owned());
    assert_eq!(link(err).await, LinkOutcome::Linked { outbox_id: carrier });
    assert_eq!(rows::get(&mut c, carrier).await.unwrap().delivery, Some(Delivery::ErroreConsegna));
    assert_eq!(rows::get(&mut c, member).await.unwrap().delivery, Some(Delivery::Consegnata));
    let kinds = |v: Vec<rows::ReceiptRow>| v.into_iter().map(|r| r.kind).collect::<Vec<_>>();
    assert_eq!(kinds(rows::receipts_of(&mut c, carrier).await.unwrap()), ["accettazione", "errore-consegna"]);
    assert_eq!(kinds(rows::receipts_of(&mut c, member).await.unwrap()), ["accettazione", "avvenuta-consegna"]);
    drop(c);

    // A failed: sent again to A alone, as a new message; B, delivered, is refused.
    let mut tx = db.pool.begin().await.unwrap();
    let refused = outbox::resend(&mut tx, member, &clerk).await.unwrap_err();
    assert!(refused.to_string().contains("not a failed outgoing send"), "{refused}");
    let again = outbox::resend(&mut tx, carrier, &clerk).await.unwrap();
    tx.commit().await.unwrap();
    let mut c = db.pool.acquire().await.unwrap();
    let n = rows::get(&mut c, again).await.unwrap();
    assert_ne!(again, carrier);
    assert_eq!((n.recipient.as_deref(), n.carrier_id, n.state, n.resend_of), (Some(A), None, OutboxState::Pending, Some(carrier)));
    assert_ne!(n.message_id.as_deref(), Some(mid.as_str()));
    assert_eq!(rows::get(&mut c, member).await.unwrap().state, OutboxState::Sent, "B is not sent again");
    let claimed = rows::claim_due(&mut c, Duration::from_secs(600)).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.recipients), (again, vec![A.to_owned()]));

    // A member without its carrier, or with bytes of its own, is refused by the schema.
    let bad = sqlx::query("insert into outbox (kind, registration_id, recipient, raw, carrier_id, created_by) values ('partenza', $1, 'x@pec.example.it', 'x', $2, 'm.bianchi')")
        .bind(reg.id.get())
        .bind(carrier.get())
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("outbox_sendable"), "{bad}");
}

async fn inbound_row_in(pool: &sigillo_store::PgPool) -> InboundId {
    let mut c = pool.acquire().await.unwrap();
    let sha = Sha256::of(uuid_like().as_bytes());
    inbound::record(&mut c, &sha, 10, &Origin::default()).await.unwrap().0.id
}
