//! Revocation online through the pipeline (issue 16): when a signing certificate's status
//! cannot be had (its OCSP responder and CRL server are down), the message is not decided
//! but set aside for a later attempt, a bounded number of times; the last attempt sends it
//! to review (TRY_LATER named in its reasons). It is never registered on an unknown status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sigillo_pec::Checker;
use sigillo_pec::report::ReasonCode;
use sigillo_protocol::Pipeline;
use sigillo_protocol::clock::FixedClock;
use sigillo_revocation::{Limits, OnlineRevocation};
use sigillo_store::blob::BlobStore;
use sigillo_store::inbound::{MessageState, Origin};
use sigillo_store::testing::TestDb;
use sigillo_testpki::{Ca, CaSpec, LeafSpec, SignOptions, sign_attached, sign_detached};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap()
}

fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unobtainable_status_is_retried_then_reviewed_never_registered() {
    let db = TestDb::new(4).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2024, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let (provider_ca, citizen_ca) = (ca("Test PEC Providers CA"), ca("Test Qualified Signatures CA"));
    let provider = provider_ca
        .issue(LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2024, 6, 1), t(2040, 1, 1)));
    // The citizen's CA names services nobody answers at.
    let citizen = citizen_ca.issue(
        LeafSpec {
            ocsp_url: Some(format!("http://127.0.0.1:{}/ocsp", dead_port())),
            crl_url: Some(format!("http://127.0.0.1:{}/ca.crl", dead_port())),
            ..LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U")
        }
        .validity(t(2024, 6, 1), t(2040, 1, 1)),
    );
    let now = t(2026, 5, 28);
    let doc = sign_attached(&citizen, b"Istanza\n", &SignOptions { signing_time: Some(t(2026, 5, 27)), ..SignOptions::default() });
    let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", doc)];
    let opts = SignOptions { signing_time: Some(t(2026, 5, 27)), ..SignOptions::default() };
    let raw = sigillo_testpki::pec::dated_transport("opec.rev@pec.test.it", "Istanza", t(2026, 5, 27), &atts, |c| {
        sign_detached(&provider, c, &opts)
    });

    let mut checker = Checker::new(now.into());
    checker.add_pec_anchors(provider_ca.cert_pem().as_bytes()).unwrap();
    checker.add_document_anchors(citizen_ca.cert_pem().as_bytes()).unwrap();
    let limits = Limits { connect_timeout: Duration::from_secs(2), timeout: Duration::from_secs(5), ..Limits::default() };
    let source = OnlineRevocation::new(tokio::runtime::Handle::current(), Some(db.pool.clone()), limits).unwrap();
    checker.set_revocation(Some(Arc::new(source)));
    let register = db.test_register().await.unwrap();
    let p = Pipeline::new(db.pool.clone(), BlobStore::open(data.path()).unwrap(), register, checker, 3)
        .with_clock(Arc::new(FixedClock(now)));

    // First and second attempts: set aside, the cause named.
    let o = p.ingest(raw.clone(), "rev", &Origin::default()).await.unwrap();
    assert_eq!((o.state, o.attempts, o.quarantined), (MessageState::Error, 1, false), "{o:?}");
    let cause = o.error.clone().unwrap_or_default();
    assert!(cause.contains("stato di revoca non ottenibile") && cause.contains("connection refused"), "{cause}");
    let sha = sigillo_store::register::Sha256::parse_hex(&o.raw_sha256).unwrap();
    let o = p.retry(o.inbound_id, sha, "rev").await.unwrap();
    assert_eq!((o.state, o.attempts), (MessageState::Error, 2), "{o:?}");
    // The last attempt: review, with the reason; not registered.
    let o = p.retry(o.inbound_id, sha, "rev").await.unwrap();
    assert_eq!(o.state, MessageState::Review, "{o:?}");
    assert!(o.protocol.is_none());
    assert_eq!(o.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::SignatureIndeterminate]);
    let stored: serde_json::Value = sqlx::query_scalar("select report from inbound_messages where id = $1")
        .bind(o.inbound_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored["attachments"][0]["signature"]["subindication"], "TRY_LATER", "{stored}");
}

/// The PEC provider's own certificate (issue 16, item 1): when its status cannot be had the
/// envelope is neither trusted nor called forged. The message is set aside and retried like
/// one whose attachment's status is unknown, then goes to review, never registered.
#[tokio::test(flavor = "multi_thread")]
async fn an_envelope_whose_status_is_unobtainable_is_retried_then_reviewed() {
    let db = TestDb::new(4).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let provider_ca =
        Ca::new_root_with(CaSpec { not_before: Some(t(2024, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new("Test PEC Providers CA") });
    let provider = provider_ca.issue(
        LeafSpec {
            ocsp_url: Some(format!("http://127.0.0.1:{}/ocsp", dead_port())),
            ..LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it")
        }
        .validity(t(2024, 6, 1), t(2040, 1, 1)),
    );
    let now = t(2026, 5, 28);
    let opts = SignOptions { signing_time: Some(t(2026, 5, 27)), ..SignOptions::default() };
    let raw = sigillo_testpki::pec::dated_transport("opec.envrev@pec.test.it", "Istanza", t(2026, 5, 27), &[], |c| {
        sign_detached(&provider, c, &opts)
    });
    let mut checker = Checker::new(now.into());
    checker.add_pec_anchors(provider_ca.cert_pem().as_bytes()).unwrap();
    let limits = Limits { connect_timeout: Duration::from_secs(2), timeout: Duration::from_secs(5), ..Limits::default() };
    let source = OnlineRevocation::new(tokio::runtime::Handle::current(), Some(db.pool.clone()), limits).unwrap();
    checker.set_revocation(Some(Arc::new(source)));
    let register = db.test_register().await.unwrap();
    let p = Pipeline::new(db.pool.clone(), BlobStore::open(data.path()).unwrap(), register, checker, 2)
        .with_clock(Arc::new(FixedClock(now)));

    let o = p.ingest(raw, "envrev", &Origin::default()).await.unwrap();
    assert_eq!((o.state, o.attempts), (MessageState::Error, 1), "{o:?}");
    let cause = o.error.clone().unwrap_or_default();
    assert!(cause.contains("firma del gestore PEC") && cause.contains("connection refused"), "{cause}");
    let sha = sigillo_store::register::Sha256::parse_hex(&o.raw_sha256).unwrap();
    let o = p.retry(o.inbound_id, sha, "envrev").await.unwrap();
    assert_eq!(o.state, MessageState::Review, "{o:?}");
    assert!(o.protocol.is_none());
    assert_eq!(o.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::SignatureIndeterminate]);
    assert!(o.reasons[0].detail.contains("TRY_LATER"), "{:?}", o.reasons);
    let stored: serde_json::Value = sqlx::query_scalar("select report from inbound_messages where id = $1")
        .bind(o.inbound_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let envelope = &stored["pec"]["envelope_signature"];
    assert_eq!((envelope["status"].as_str(), envelope["subindication"].as_str()), (Some("untrusted"), Some("TRY_LATER")), "{stored}");
}

/// "Register anyway" (issue 16, item 2) judges the documents with the service's online
/// revocation source, as the intake does: the registration's report says the status could
/// not be had (the offline checker would have called the signature valid, revocation not
/// checked).
#[tokio::test(flavor = "multi_thread")]
async fn register_anyway_asks_revocation_online_like_the_intake() {
    use sigillo_protocol::anyway::{Override, register_anyway};
    let db = TestDb::new(4).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2024, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let (provider_ca, citizen_ca) = (ca("Test PEC Providers CA"), ca("Test Qualified Signatures CA"));
    let provider = provider_ca
        .issue(LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2024, 6, 1), t(2040, 1, 1)));
    let citizen = citizen_ca.issue(
        LeafSpec { ocsp_url: Some(format!("http://127.0.0.1:{}/ocsp", dead_port())), ..LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U") }
            .validity(t(2024, 6, 1), t(2040, 1, 1)),
    );
    let now = Utc::now();
    let opts = SignOptions { signing_time: Some(now - chrono::Duration::days(1)), ..SignOptions::default() };
    let doc = sign_attached(&citizen, b"Istanza\n", &opts);
    // An unsigned attachment beside it: rejected by the intake (UNSIGNED_ATTACHMENT).
    let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", doc), ("nota.txt", "text/plain", b"nota".to_vec())];
    let raw = sigillo_testpki::pec::dated_transport("opec.anyway@pec.test.it", "Istanza", now - chrono::Duration::hours(1), &atts, |c| {
        sign_detached(&provider, c, &opts)
    });
    let trust = data.path().join("trust");
    for (sub, pem) in [("pec", provider_ca.cert_pem()), ("signatures", citizen_ca.cert_pem())] {
        std::fs::create_dir_all(trust.join(sub)).unwrap();
        std::fs::write(trust.join(sub).join("ca.pem"), pem).unwrap();
    }
    // The intake offline: the message is rejected for the unsigned note only.
    let checker = sigillo_protocol::trust::checker(&trust, now.into()).unwrap();
    let blobs = BlobStore::open(&data.path().join("blobs")).unwrap();
    let register = db.test_register().await.unwrap();
    let p = Pipeline::new(db.pool.clone(), blobs.clone(), register.clone(), checker, 3);
    let o = p.ingest(raw, "anyway", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Rejected, "{o:?}");

    let limits = Limits { connect_timeout: Duration::from_secs(2), timeout: Duration::from_secs(5), ..Limits::default() };
    let source = OnlineRevocation::new(tokio::runtime::Handle::current(), Some(db.pool.clone()), limits).unwrap();
    // The service's classifier: the same trust directory, revocation online.
    let mut online = sigillo_protocol::trust::checker(&trust, now.into()).unwrap();
    online.set_revocation(Some(Arc::new(source)));
    let ctx = Override { pool: &db.pool, blobs: &blobs, register: &register, checker: Some(Arc::new(online)), outbox: None };
    let actor = sigillo_store::register::Actor::parse("responsabile").unwrap();
    let done = register_anyway(&ctx, &actor, o.inbound_id, "istanza ammessa (CAD art. 65)").await.unwrap();
    let reports: Vec<serde_json::Value> =
        sqlx::query_scalar("select signature_report from documents where registration_id = $1 and name = 'istanza.pdf.p7m'")
            .bind(done.registration.id)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["subindication"], "TRY_LATER", "{}", reports[0]);
    assert!(reports[0]["signers"][0]["detail"].as_str().unwrap_or_default().contains("connection refused"), "{}", reports[0]);
}
