//! The test PKI's output must be well-formed for independent parsers (RustCrypto `cms`,
//! `x509-cert`), so that verifier tests exercise the verifier, not our encoder's bugs.


use chrono::{Duration, Utc};
use der::{Decode, Encode};
use sigillo_testpki::{
    AttrOrder, Ca, DigestAlg, EssVersion, KeyKind, LeafSpec, SignOptions, Signer, Tsa, sign, sign_attached,
    sign_detached,
};

#[test]
fn certificates_parse_with_x509_cert() {
    let root = Ca::new_root("Root");
    let sub = root.new_intermediate("Sub CA");
    let leaf = sub.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U"));
    for der in [root.cert_der(), sub.cert_der(), leaf.cert_der()] {
        let cert = x509_cert::Certificate::from_der(der).expect("parses");
        assert_eq!(cert.to_der().expect("re-encodes"), der, "our DER is canonical");
    }
    let cert = x509_cert::Certificate::from_der(leaf.cert_der()).unwrap();
    let subject = cert.tbs_certificate.subject.to_string();
    assert!(subject.contains("TINIT-RSSMRA80A01H501U"), "{subject}");
    assert_eq!(leaf.chain.len(), 2);
    assert!(root.cert_pem().starts_with("-----BEGIN CERTIFICATE-----\n"));
}

#[test]
fn expired_and_ec_leaves() {
    let ca = Ca::new_root("Root");
    let past = Utc::now() - Duration::days(400);
    let expired = ca.issue(LeafSpec::new("Old").validity(past, past + Duration::days(30)));
    let c = x509_cert::Certificate::from_der(&expired.cert_der).unwrap();
    assert!(c.tbs_certificate.validity.not_after.to_unix_duration().as_secs() < Utc::now().timestamp() as u64);
    for kind in [KeyKind::P256, KeyKind::P384] {
        let l = ca.issue(LeafSpec::new("EC").key(kind));
        x509_cert::Certificate::from_der(&l.cert_der).unwrap();
        sign_attached(&l, b"x", &SignOptions::default());
    }
}

#[test]
fn signed_data_parses_with_cms_crate() {
    let ca = Ca::new_root("Root");
    let leaf = ca.issue(LeafSpec::pec_provider("Provider", "posta@pec.test.it"));
    let tsa = ca.issue(LeafSpec::tsa("TSA"));
    let variants = [
        SignOptions::default(),
        SignOptions::sha1(),
        SignOptions { pss: true, ..SignOptions::default() },
        SignOptions { sid_ski: true, include_chain: true, ..SignOptions::default() },
        SignOptions { ess: EssVersion::V1, digest: DigestAlg::Sha384, ..SignOptions::default() },
        SignOptions { signed_attrs: false, ..SignOptions::default() },
    ];
    for opts in &variants {
        for der in [sign_attached(&leaf, b"hello", opts), sign_detached(&leaf, b"hello", opts)] {
            let ci = cms::content_info::ContentInfo::from_der(&der).expect("ContentInfo");
            let sd: cms::signed_data::SignedData = ci.content.decode_as().expect("SignedData");
            assert_eq!(sd.signer_infos.0.len(), 1);
        }
    }
    // Parallel signers with a countersignature and a timestamp.
    let other = ca.issue(LeafSpec::person("Anna", "Bianchi", "TINIT-BNCNNA80A41H501X"));
    let mut s1 = Signer::new(&leaf, SignOptions::default());
    s1.countersigners.push(Signer::new(&other, SignOptions::default()));
    s1.timestamp = Some(Tsa { leaf: &tsa, time: Utc::now() });
    let der = sign(b"content", true, &[s1, Signer::new(&other, SignOptions::default())]);
    let ci = cms::content_info::ContentInfo::from_der(&der).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    assert_eq!(sd.signer_infos.0.len(), 2);
}

#[test]
fn ber_output_is_indefinite() {
    let ca = Ca::new_root("Root");
    let leaf = ca.issue(LeafSpec::new("Signer"));
    let content = vec![b'a'; 2500];
    let ber = sign_attached(&leaf, &content, &SignOptions::ber());
    assert_eq!(&ber[..2], &[0x30, 0x80]);
    assert!(cms::content_info::ContentInfo::from_der(&ber).is_err(), "der 0.7 refuses BER");
    let unsorted =
        sign_attached(&leaf, b"x", &SignOptions { attr_order: AttrOrder::StoredUnsortedSignedSorted, ..Default::default() });
    assert_ne!(unsorted, sign_attached(&leaf, b"x", &SignOptions::default()));
}

#[test]
fn crl_is_well_formed() {
    let ca = Ca::new_root("Root");
    let leaf = ca.issue(LeafSpec::new("Revoked"));
    let now = Utc::now();
    let crl = ca.crl(&[(&leaf.cert_der, now - Duration::days(1))], now - Duration::days(1), now + Duration::days(7));
    let parsed = x509_cert::crl::CertificateList::from_der(&crl).expect("CRL parses");
    assert_eq!(parsed.tbs_cert_list.revoked_certificates.map(|r| r.len()), Some(1));
}

#[test]
fn keys_and_cas_round_trip_through_pem() {
    use sigillo_testpki::{CaSpec, PrivateKey, pem_decode};
    let ca = Ca::new_root_with_key(CaSpec::new("Disk CA"), PrivateKey::generate(KeyKind::P256));
    let key_pem = ca.key().to_pkcs8_pem();
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let key = PrivateKey::from_pkcs8_pem(&key_pem).unwrap();
    let cert = pem_decode(&ca.cert_pem()).unwrap().remove(0).1;
    let back = Ca::from_parts(cert, key, Vec::new()).unwrap();
    let leaf = back.issue_with_key(LeafSpec::new("Leaf"), PrivateKey::rsa_from_pool(3));
    let c = x509_cert::Certificate::from_der(&leaf.cert_der).unwrap();
    assert_eq!(c.tbs_certificate.issuer.to_string(), x509_cert::Certificate::from_der(ca.cert_der()).unwrap().tbs_certificate.subject.to_string());
    let rsa = PrivateKey::rsa_from_pool(5);
    assert_eq!(PrivateKey::from_pkcs8_pem(&rsa.to_pkcs8_pem()).unwrap().spki_der(), rsa.spki_der());
    assert!(PrivateKey::from_pkcs8_pem("nothing").is_err());
    assert!(Ca::from_parts(b"junk".to_vec(), rsa, Vec::new()).is_err());
}
