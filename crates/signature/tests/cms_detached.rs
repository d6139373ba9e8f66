//! The PEC envelope check: detached CMS over a MIME part.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use sigillo_signature::{CmsStatus, TrustStore, cms::verify_detached};
use sigillo_testpki::{Ca, CaSpec, DigestAlg, Encoding, KeyKind, LeafSpec, SignOptions, sign_attached, sign_detached};

const PART: &[u8] = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nciao\r\n--x--\r\n";

fn provider() -> (Ca, sigillo_testpki::Leaf) {
    let ca = Ca::new_root("PEC Provider CA");
    let leaf = ca.issue(LeafSpec::pec_provider("Posta Certificata", "posta-certificata@pec.test.it"));
    (ca, leaf)
}

fn trust(ca: &Ca) -> TrustStore {
    TrustStore::from_certificates([ca.cert_pem().as_bytes()]).unwrap()
}

#[test]
fn valid_sha256_and_sha1() {
    let (ca, leaf) = provider();
    for opts in [SignOptions::default(), SignOptions::sha1(), SignOptions { rsa_encryption_oid: true, ..SignOptions::sha1() }] {
        let p7s = sign_detached(&leaf, PART, &opts);
        let check = verify_detached(&p7s, PART, &trust(&ca), Utc::now());
        assert_eq!(check.status, CmsStatus::Valid, "{}", check.detail);
        let signer = check.signer.unwrap();
        assert_eq!(signer.email.as_deref(), Some("posta-certificata@pec.test.it"));
        assert!(signer.subject.contains("CN=Posta Certificata"));
        assert!(signer.signing_time.is_some());
    }
}

#[test]
fn valid_variants_pss_ec_ber_ski_base64() {
    let ca = Ca::new_root("PEC Provider CA");
    let rsa = ca.issue(LeafSpec::pec_provider("P", "p@pec.test.it"));
    let ec = ca.issue(LeafSpec::pec_provider("E", "e@pec.test.it").key(KeyKind::P256));
    let ec384 = ca.issue(LeafSpec::pec_provider("E", "e@pec.test.it").key(KeyKind::P384));
    let cases = [
        (&rsa, SignOptions { pss: true, ..SignOptions::default() }),
        (&rsa, SignOptions { encoding: Encoding::BerIndefinite, ..SignOptions::default() }),
        (&rsa, SignOptions { sid_ski: true, ..SignOptions::default() }),
        (&rsa, SignOptions { signed_attrs: false, ..SignOptions::default() }),
        (&ec, SignOptions::default()),
        (&ec384, SignOptions { digest: DigestAlg::Sha384, ..SignOptions::default() }),
        (&ec384, SignOptions::default()),
    ];
    for (leaf, opts) in cases {
        let p7s = sign_detached(leaf, PART, &opts);
        let check = verify_detached(&p7s, PART, &trust(&ca), Utc::now());
        assert_eq!(check.status, CmsStatus::Valid, "{opts:?}: {}", check.detail);
    }
    let pem = sigillo_testpki::pem("PKCS7", &sign_detached(&rsa, PART, &SignOptions::default()));
    assert_eq!(verify_detached(pem.as_bytes(), PART, &trust(&ca), Utc::now()).status, CmsStatus::Valid);
}

#[test]
fn changed_bytes_are_invalid() {
    let (ca, leaf) = provider();
    let p7s = sign_detached(&leaf, PART, &SignOptions::default());
    let mut other = PART.to_vec();
    other[50] ^= 1;
    let check = verify_detached(&p7s, &other, &trust(&ca), Utc::now());
    assert_eq!(check.status, CmsStatus::Invalid, "{}", check.detail);
    // Corrupt the signature value (last bytes of the DER are inside it).
    let mut bad = p7s.clone();
    let n = bad.len() - 5;
    bad[n] ^= 0xff;
    assert_eq!(verify_detached(&bad, PART, &trust(&ca), Utc::now()).status, CmsStatus::Invalid);
}

#[test]
fn untrusted_expired_and_missing_cert() {
    let (_ca, leaf) = provider();
    let other_ca = Ca::new_root("Other CA");
    let p7s = sign_detached(&leaf, PART, &SignOptions::default());
    assert_eq!(verify_detached(&p7s, PART, &trust(&other_ca), Utc::now()).status, CmsStatus::Untrusted);
    assert_eq!(verify_detached(&p7s, PART, &TrustStore::empty(), Utc::now()).status, CmsStatus::Untrusted);

    let past = Utc::now() - Duration::days(800);
    let ca = Ca::new_root_with(CaSpec { not_before: Some(past - Duration::days(1)), ..CaSpec::new("Old CA") });
    let old = ca.issue(LeafSpec::pec_provider("Old", "o@pec.test.it").validity(past, past + Duration::days(365)));
    let p7s = sign_detached(&old, PART, &SignOptions::default());
    let check = verify_detached(&p7s, PART, &trust(&ca), Utc::now());
    assert_eq!(check.status, CmsStatus::Untrusted, "{}", check.detail);
    // …but valid when judged at a time inside its validity (archived message).
    assert_eq!(verify_detached(&p7s, PART, &trust(&ca), past + Duration::days(10)).status, CmsStatus::Valid);

    let no_cert = sign_detached(&old, PART, &SignOptions { include_cert: false, ..SignOptions::default() });
    assert_eq!(verify_detached(&no_cert, PART, &trust(&ca), Utc::now()).status, CmsStatus::Invalid);
}

#[test]
fn intermediate_chain_and_revocation() {
    let root = Ca::new_root("Root");
    let sub = root.new_intermediate("Sub");
    let leaf = sub.issue(LeafSpec::pec_provider("P", "p@pec.test.it"));
    let with_chain = sign_detached(&leaf, PART, &SignOptions { include_chain: true, ..SignOptions::default() });
    let t = trust(&root);
    assert_eq!(verify_detached(&with_chain, PART, &t, Utc::now()).status, CmsStatus::Valid);
    let without = sign_detached(&leaf, PART, &SignOptions::default());
    assert_eq!(verify_detached(&without, PART, &t, Utc::now()).status, CmsStatus::Untrusted);

    let now = Utc::now();
    let crl = sub.crl(&[(&leaf.cert_der, now - Duration::hours(1))], now - Duration::hours(2), now + Duration::days(1));
    let mut t2 = trust(&root);
    t2.add(sub.cert_der()).unwrap();
    t2.add_crl(&crl).unwrap();
    let check = verify_detached(&without, PART, &t2, now);
    assert_eq!(check.status, CmsStatus::Untrusted, "{}", check.detail);
    assert!(check.detail.contains("revoked"));
}

#[test]
fn garbage_is_malformed_and_attached_mismatch_is_invalid() {
    let (ca, leaf) = provider();
    for junk in [&b""[..], b"hello", &[0x30, 0x80, 0x30], &[0x30, 0x03, 0x06, 0x01, 0x00]] {
        assert_eq!(verify_detached(junk, PART, &trust(&ca), Utc::now()).status, CmsStatus::Malformed);
    }
    let p7m = sign_attached(&leaf, b"other content", &SignOptions::default());
    assert_eq!(verify_detached(&p7m, PART, &trust(&ca), Utc::now()).status, CmsStatus::Invalid);
}
