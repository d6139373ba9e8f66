//! The time certificates are judged at, through the pipeline (issue 14, item 1): the clock is
//! read per message, a PEC's attachments are judged at its time reference, and the trust
//! directory is loaded again while the service runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use sigillo_pec::report::ReasonCode;
use sigillo_protocol::Pipeline;
use sigillo_protocol::clock::FixedClock;
use sigillo_protocol::trust::{self, Reload, TrustWatcher};
use sigillo_store::blob::BlobStore;
use sigillo_store::inbound::{MessageState, Origin};
use sigillo_store::testing::TestDb;
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached, sign_detached};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap()
}

struct Pki {
    provider_ca: Ca,
    /// The provider's certificate, renewed on 2025-01-15.
    provider: Leaf,
    citizen_ca: Ca,
    /// Valid 2025-01-01 .. 2025-03-31 only.
    citizen: Leaf,
}

fn pki() -> Pki {
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2024, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let provider_ca = ca("Test PEC Providers CA");
    let provider = provider_ca.issue(
        LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2025, 1, 15), t(2040, 1, 1)),
    );
    let citizen_ca = ca("Test Qualified Signatures CA");
    let citizen = citizen_ca.issue(
        LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U")
            .validity(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2025, 3, 31, 23, 59, 59).unwrap()),
    );
    Pki { provider_ca, provider, citizen_ca, citizen }
}

impl Pki {
    fn write_trust(&self, dir: &Path, with_provider: bool) {
        for sub in ["pec", "signatures"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        if with_provider {
            std::fs::write(dir.join("pec/provider-ca.pem"), self.provider_ca.cert_pem()).unwrap();
        }
        std::fs::write(dir.join("signatures/citizen-ca.pem"), self.citizen_ca.cert_pem()).unwrap();
    }

    /// A PEC certified at `pec_time`, carrying a document the citizen signed on 2025-02-10.
    fn pec(&self, ident: &str, pec_time: DateTime<Utc>) -> Vec<u8> {
        let opts = SignOptions { signing_time: Some(t(2025, 2, 10)), ..SignOptions::default() };
        let doc = sign_attached(&self.citizen, format!("Istanza {ident}\n").as_bytes(), &opts);
        let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", doc)];
        let env_opts = SignOptions { signing_time: Some(pec_time), ..SignOptions::default() };
        sigillo_testpki::pec::dated_transport(ident, "Istanza", pec_time, &atts, |c| sign_detached(&self.provider, c, &env_opts))
    }
}

async fn pipeline(db: &TestDb, data: &Path, trust_dir: &Path, started: DateTime<Utc>, now: DateTime<Utc>) -> Pipeline {
    let register = db.test_register().await.unwrap();
    // The classifier is made when the service starts; the clock says the time of each message.
    let checker = trust::checker(trust_dir, started.into()).unwrap();
    Pipeline::new(db.pool.clone(), BlobStore::open(data).unwrap(), register, checker, 3).with_clock(Arc::new(FixedClock(now)))
}

/// A service started in December 2024, before the citizen's certificate and the provider's
/// renewed one existed, registers a PEC of 14/02/2025 signed with them.
#[tokio::test]
async fn a_service_started_before_the_certificates_registers_a_pec_signed_with_them() {
    let db = TestDb::new(4).await.unwrap();
    let (data, trust_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pki = pki();
    pki.write_trust(trust_dir.path(), true);
    let p = pipeline(&db, data.path(), trust_dir.path(), t(2024, 12, 1), t(2025, 2, 14)).await;
    let o = p.ingest(pki.pec("opec.feb@pec.test.it", t(2025, 2, 14)), "feb", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Registered, "{o:?}");
}

/// Read long after the certificate expired: the PEC of February registers (its document is
/// judged at the PEC's time), the same certificate in a PEC of September goes to review.
#[tokio::test]
async fn attachments_are_judged_at_the_pec_time_not_at_the_time_of_reading() {
    let db = TestDb::new(4).await.unwrap();
    let (data, trust_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pki = pki();
    pki.write_trust(trust_dir.path(), true);
    let p = pipeline(&db, data.path(), trust_dir.path(), t(2026, 5, 1), t(2026, 5, 28)).await;
    let o = p.ingest(pki.pec("opec.feb@pec.test.it", t(2025, 2, 14)), "feb", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Registered, "{o:?}");
    let o = p.ingest(pki.pec("opec.sep@pec.test.it", t(2025, 9, 15)), "sep", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Review, "{o:?}");
    assert_eq!(o.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::SignatureIndeterminate]);
    // The stored report says when and why.
    let stored: serde_json::Value = sqlx::query_scalar("select report from inbound_messages where id = $1")
        .bind(o.inbound_id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored["attachments"][0]["signature"]["time_source"], "pec-time", "{stored}");
    assert_eq!(stored["attachments"][0]["signature"]["judged_at"], "2025-09-15T10:00:00Z", "{stored}");
    assert_eq!(stored["pec"]["envelope_signature"]["time_source"], "now", "{stored}");
    assert_eq!(stored["pec"]["envelope_signature"]["judged_at"], "2026-05-28T10:00:00Z", "{stored}");
}

/// A provider CA added to the trust directory while the service runs is used without a
/// restart; a broken file added later keeps the trust in use and names the file.
#[tokio::test]
async fn the_trust_directory_is_loaded_again_when_it_changes() {
    let db = TestDb::new(4).await.unwrap();
    let (data, trust_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pki = pki();
    pki.write_trust(trust_dir.path(), false);
    let p = pipeline(&db, data.path(), trust_dir.path(), t(2025, 2, 1), t(2025, 2, 14)).await;
    let mut watcher = TrustWatcher::new(trust_dir.path(), p.checker().clone());
    assert_eq!(watcher.poll(), Reload::Unchanged);

    let o = p.ingest(pki.pec("opec.1@pec.test.it", t(2025, 2, 14)), "1", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Rejected, "{o:?}");
    assert_eq!(o.reasons[0].code, ReasonCode::ForgedEnvelope);

    pki.write_trust(trust_dir.path(), true);
    assert_eq!(watcher.poll(), Reload::Reloaded);
    let o = p.ingest(pki.pec("opec.2@pec.test.it", t(2025, 2, 14)), "2", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Registered, "{o:?}");

    let broken = trust_dir.path().join("pec/broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n").unwrap();
    match watcher.poll() {
        Reload::Kept(cause) => assert!(cause.contains("broken.pem"), "{cause}"),
        other => panic!("{other:?}"),
    }
    // Reported once, not at every look.
    assert_eq!(watcher.poll(), Reload::Unchanged);
    let o = p.ingest(pki.pec("opec.3@pec.test.it", t(2025, 2, 14)), "3", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Registered, "{o:?}");

    // Fixed: loaded again; a forced reload (SIGHUP) works whatever changed.
    std::fs::remove_file(&broken).unwrap();
    assert_eq!(watcher.poll(), Reload::Reloaded);
    assert_eq!(watcher.reload(), Reload::Reloaded);
}
