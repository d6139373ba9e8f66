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
