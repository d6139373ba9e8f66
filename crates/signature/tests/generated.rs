//! Generated fixtures for every bullet of issue 4's Build section: the test PKI
//! (`sigillo_testpki`) makes CAs, signers, CMS and PDFs in-process; tampered copies are made
//! here. Each test asserts the ETSI verdict and sub-indication, not just "it failed".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use sigillo_signature::{Format, Indication, SignatureReport, SignerRole, SubIndication, TrustStore, verify_document};
use sigillo_testpki::pdf::{PdfSignOptions, append_update, minimal_pdf, page_content, set_last_byte_range, sign_pdf, stream};
use sigillo_testpki::{
    AttrOrder, Ca, CaSpec, DigestAlg, Encoding, EssVersion, KeyKind, Leaf, LeafSpec, SignOptions, Signer, Tsa, attribute, m7m,
    oids, sign, sign_attached, sign_detached, timestamp_token, timestamped_data,
};

const CF: &str = "RSSMRA80A01H501U";

struct Pki {
    ca: Ca,
    mario: Leaf,
    luigi: Leaf,
    tsa: Leaf,
    trust: TrustStore,
}

fn pki() -> Pki {
    // The root predates every signature of these tests (some are validated in the past).
    let ca = Ca::new_root_with(CaSpec { not_before: Some(now() - Duration::days(5 * 365)), ..CaSpec::new("Sigillo Test Qualified CA") });
    let mario = ca.issue(LeafSpec::person("Mario", "Rossi", &format!("TINIT-{CF}")));
    let luigi = ca.issue(LeafSpec::person("Luigi", "Verdi", "TINIT-VRDLGU75B02F205X"));
    let tsa = ca.issue(LeafSpec::tsa("Sigillo Test TSA").validity(now() - Duration::days(3 * 365), now() + Duration::days(365)));
    let trust = TrustStore::from_certificates([ca.cert_der()]).unwrap();
    Pki { ca, mario, luigi, tsa, trust }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn verify(bytes: &[u8], trust: &TrustStore) -> SignatureReport {
    verify_document(bytes, None, trust, now())
}

fn assert_verdict(r: &SignatureReport, verdict: Indication, sub: Option<SubIndication>) {
    assert_eq!((r.verdict, r.subindication), (verdict, sub), "report: {r:#?}");
}

fn passed(r: &SignatureReport) {
    assert_verdict(r, Indication::TotalPassed, None);
    assert!(r.signers.iter().all(|s| s.verdict == Indication::TotalPassed && s.intact), "{r:#?}");
}

/// Replaces the first occurrence of `needle` (which must exist) with same-length bytes.
fn replace_once(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    assert_eq!(needle.len(), with.len());
    let at = hay.windows(needle.len()).position(|w| w == needle).expect("needle present");
    let mut out = hay.to_vec();
    out[at..at + with.len()].copy_from_slice(with);
    out
}

fn flip_last_byte(b: &[u8]) -> Vec<u8> {
    let mut out = b.to_vec();
    *out.last_mut().unwrap() ^= 0x01;
    out
}

fn other_ca_leaf() -> Leaf {
    Ca::new_root("Unknown CA").issue(LeafSpec::person("Eva", "Bianchi", "TINIT-BNCVEA90C41L219K"))
}

// ---------------------------------------------------------------------------------------
// CAdES containers and encodings
// ---------------------------------------------------------------------------------------

#[test]
fn der_p7m_is_valid_and_reports_the_holder() {
    let p = pki();
    let p7m = sign_attached(&p.mario, b"delibera n. 1", &SignOptions::default());
    let r = verify(&p7m, &p.trust);
    passed(&r);
    assert_eq!((r.format, r.encoding, r.envelopes), (Format::Cades, Some("DER"), 1));
    assert_eq!(r.content.as_deref(), Some(&b"delibera n. 1"[..]));
    let s = &r.signers[0];
    assert_eq!(s.role, SignerRole::Signer);
    assert_eq!(s.fiscal_code.as_deref(), Some(CF));
    assert_eq!(s.common_name.as_deref(), Some("ROSSI MARIO"));
    assert_eq!((s.given_name.as_deref(), s.surname.as_deref()), (Some("Mario"), Some("Rossi")));
    assert!(s.subject.as_deref().unwrap().contains(&format!("serialNumber=TINIT-{CF}")));
    assert!(s.issuer.as_deref().unwrap().contains("CN=Sigillo Test Qualified CA"));
    assert!(s.signing_time.is_some());
    assert_eq!(s.digest_algorithm, Some("SHA-256"));
    assert!(s.qualified);
    assert_eq!(s.qc_statements, ["QcCompliance", "QcSSCD", "QcType-esign"]);

    let text = r.summary_it();
    for line in ["Firma valida", "Firma integra", "Certificato attendibile", "Certificato qualificato", CF] {
        assert!(text.contains(line), "{line:?} missing in:\n{text}");
    }
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["verdict"], "TOTAL_PASSED");
    assert_eq!(json["format"], "CAdES");
    assert_eq!(json["signers"][0]["fiscal_code"], CF);
    assert_eq!(json["signers"][0]["verdict"], "TOTAL_PASSED");
    assert_eq!(json["signers"][0]["qc_statements"][1], "QcSSCD");
}

#[test]
fn untrusted_signer_is_indeterminate_without_chain() {
    let p = pki();
    let p7m = sign_attached(&p.mario, b"x", &SignOptions::default());
    let r = verify(&p7m, &TrustStore::empty());
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound));
    assert!(r.signers[0].intact);
    let text = r.summary_it();
    assert!(text.contains("Firma integra") && text.contains("Certificato non attendibile"), "{text}");

    let r = verify(&sign_attached(&other_ca_leaf(), b"x", &SignOptions::default()), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound));
}

#[test]
fn ber_indefinite_p7m_is_read_and_tampering_detected() {
    let p = pki();
    let content: Vec<u8> = (0..5000u32).map(|i| b"0123456789abcdef"[(i % 16) as usize]).collect();
    let p7m = sign_attached(&p.mario, &content, &SignOptions::ber());
    assert_eq!(&p7m[..2], &[0x30, 0x80], "indefinite-length outer SEQUENCE");
    let r = verify(&p7m, &p.trust);
    passed(&r);
    assert_eq!(r.encoding, Some("BER"));
    assert_eq!(r.content.as_deref(), Some(content.as_slice()));

    // One byte of the third 1000-byte chunk changed.
    let tampered = replace_once(&p7m, b"23456789abcdef0123", b"23456789abcdef0124");
    let r = verify(&tampered, &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::HashFailure));
    assert!(!r.signers[0].intact);
    assert!(r.summary_it().contains("Firma NON integra"), "{}", r.summary_it());
}

#[test]
fn base64_and_pem_p7m_are_unwrapped() {
    let p = pki();
    let der = sign_attached(&p.mario, b"testo", &SignOptions::default());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    // CRLF-wrapped base64 without armour, as in parer_p7m_b64.xml.p7m.
    let lines: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let crlf = lines.join("\r\n") + "\r\n";
    let r = verify(crlf.as_bytes(), &p.trust);
    passed(&r);
    assert_eq!(r.encoding, Some("base64"));
    assert_eq!(r.content.as_deref(), Some(&b"testo"[..]));

    let pem = sigillo_testpki::pem("PKCS7", &der);
    let r = verify(pem.as_bytes(), &p.trust);
    passed(&r);
    assert_eq!(r.encoding, Some("PEM"));

    // base64 of something that is not CMS is just text, not a signature.
    let r = verify(base64::engine::general_purpose::STANDARD.encode(b"hello world, no CMS").as_bytes(), &p.trust);
    assert_verdict(&r, Indication::NoSignatureFound, None);
}

#[test]
fn signed_attributes_as_stored_then_der_resorted() {
    let p = pki();
    // Stored unsorted, signed over the DER-sorted SET (the ArubaPEC dss667 case).
    let opts = SignOptions { attr_order: AttrOrder::StoredUnsortedSignedSorted, ..SignOptions::default() };
    let r = verify(&sign_attached(&p.mario, b"x", &opts), &p.trust);
    passed(&r);
    assert!(r.signers[0].detail.contains("DER order"), "{}", r.signers[0].detail);

    // Stored and signed unsorted: the bytes as stored verify, no re-sorting needed.
    let opts = SignOptions { attr_order: AttrOrder::UnsortedAsSigned, ..SignOptions::default() };
    let r = verify(&sign_attached(&p.mario, b"x", &opts), &p.trust);
    passed(&r);
    assert!(!r.signers[0].detail.contains("DER order"));

    // Neither order verifies when the signature value is damaged.
    let opts = SignOptions { attr_order: AttrOrder::StoredUnsortedSignedSorted, ..SignOptions::default() };
    let r = verify(&flip_last_byte(&sign_attached(&p.mario, b"x", &opts)), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::SigCryptoFailure));
}

#[test]
fn nested_p7m_every_layer_is_verified() {
    let p = pki();
    let inner = sign_attached(&p.mario, b"atto originale", &SignOptions::ber());
    let outer = sign_attached(&p.luigi, &inner, &SignOptions::default());
    let r = verify(&outer, &p.trust);
    passed(&r);
    assert_eq!(r.envelopes, 2);
    assert_eq!(r.signers.len(), 2);
    let layers: Vec<(usize, Option<&str>)> = r.signers.iter().map(|s| (s.layer, s.fiscal_code.as_deref())).collect();
    assert_eq!(layers, [(0, Some("VRDLGU75B02F205X")), (1, Some(CF))]);
    assert_eq!(r.content.as_deref(), Some(&b"atto originale"[..]), "the innermost content is delivered");

    // Three layers, the middle one base64: still all verified.
    let triple = sign_attached(
        &p.mario,
        base64::engine::general_purpose::STANDARD.encode(&outer).as_bytes(),
        &SignOptions::default(),
    );
    let r = verify(&triple, &p.trust);
    passed(&r);
    assert_eq!((r.envelopes, r.signers.len()), (3, 3));

    // The inner envelope was altered before the outer signer signed it: the outer
    // signature is intact, the inner one is not, and the document fails.
    let broken_inner = replace_once(&inner, b"atto originale", b"atto alterato!");
    let outer = sign_attached(&p.luigi, &broken_inner, &SignOptions::default());
    let r = verify(&outer, &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::HashFailure));
    assert_eq!(r.signers[0].verdict, Indication::TotalPassed);
    assert_eq!((r.signers[1].layer, r.signers[1].verdict), (1, Indication::TotalFailed));

    // An untrusted inner signer makes the whole document indeterminate.
    let inner = sign_attached(&other_ca_leaf(), b"atto", &SignOptions::default());
    let r = verify(&sign_attached(&p.luigi, &inner, &SignOptions::default()), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound));
}

#[test]
fn lying_econtent_type_is_not_recursed() {
    // DSS cades-bes-signeddata-enveloping: eContentType says signedData, content is text.
    let p = pki();
    let opts = SignOptions { econtent_type: Some(oids::SIGNED_DATA.to_owned()), ..SignOptions::default() };
    let r = verify(&sign_attached(&p.mario, b"Hello World", &opts), &p.trust);
    passed(&r);
    assert_eq!((r.envelopes, r.content.as_deref()), (1, Some(&b"Hello World"[..])));
}

#[test]
fn parallel_signers_must_all_pass() {
    let p = pki();
    let both = [Signer::new(&p.mario, SignOptions::default()), Signer::new(&p.luigi, SignOptions::default())];
    let p7m = sign(b"contratto", true, &both);
    let r = verify(&p7m, &p.trust);
    passed(&r);
    assert_eq!(r.signers.len(), 2);
    assert!(r.signers.iter().all(|s| s.role == SignerRole::Signer && s.layer == 0));

    // The SignerInfo encoded last ends the file: damage its signature value only.
    let r = verify(&flip_last_byte(&p7m), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::SigCryptoFailure));
    let verdicts: Vec<Indication> = r.signers.iter().map(|s| s.verdict).collect();
    assert!(verdicts.contains(&Indication::TotalPassed) && verdicts.contains(&Indication::TotalFailed), "{verdicts:?}");

    // One parallel signer from an unknown CA: indeterminate, never passed.
    let eva = other_ca_leaf();
    let mixed = [Signer::new(&p.mario, SignOptions::default()), Signer::new(&eva, SignOptions::default())];
    let r = verify(&sign(b"contratto", true, &mixed), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound));
}

#[test]
fn countersignatures_are_verified() {
    let p = pki();
    let mut s = Signer::new(&p.mario, SignOptions::default());
    s.countersigners.push(Signer::new(&p.luigi, SignOptions::default()));
    let p7m = sign(b"atto", true, &[s.clone()]);
    let r = verify(&p7m, &p.trust);
    passed(&r);
    let roles: Vec<SignerRole> = r.signers.iter().map(|s| s.role).collect();
    assert_eq!(roles, [SignerRole::Signer, SignerRole::Countersigner]);
    assert!(r.summary_it().contains("Controfirma 2"), "{}", r.summary_it());

    // The countersignature's value ends the file: damage it; the main signature stays valid.
    let r = verify(&flip_last_byte(&p7m), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::SigCryptoFailure));
    assert_eq!(r.signers[0].verdict, Indication::TotalPassed);
    assert_eq!((r.signers[1].role, r.signers[1].verdict), (SignerRole::Countersigner, Indication::TotalFailed));

    // A countersigner from an unknown CA.
    let eva = other_ca_leaf();
    let mut s = Signer::new(&p.mario, SignOptions::default());
    s.countersigners.push(Signer::new(&eva, SignOptions::default()));
    let r = verify(&sign(b"atto", true, &[s]), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound));
}

#[test]
fn detached_p7s_needs_its_exact_content() {
    let p = pki();
    let p7s = sign_detached(&p.mario, b"allegato.pdf bytes", &SignOptions::default());
    let r = verify_document(&p7s, Some(b"allegato.pdf bytes"), &p.trust, now());
    passed(&r);
    assert_eq!(r.format, Format::CadesDetached);

    let r = verify_document(&p7s, Some(b"allegato.pdf BYTES"), &p.trust, now());
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::HashFailure));

    let r = verify_document(&p7s, None, &p.trust, now());
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::SignedDataNotFound));
}

#[test]
fn tsd_is_unwrapped_and_its_evidence_checked() {
    let p = pki();
    let p7m = sign_attached(&p.mario, b"atto marcato", &SignOptions::default());
    for ber in [false, true] {
        let tsd = timestamped_data(&p7m, &timestamp_token(&p.tsa, &p7m, now()), ber);
        let r = verify(&tsd, &p.trust);
        passed(&r);
        assert_eq!(r.format, Format::Tsd);
        assert!(r.detail.contains("TSD timestamp") && r.detail.contains("intact"), "{}", r.detail);
        assert_eq!(r.content.as_deref(), Some(&b"atto marcato"[..]));
    }
    // Evidence over other bytes: the container was altered.
    let tsd = timestamped_data(&p7m, &timestamp_token(&p.tsa, b"something else", now()), true);
    assert_verdict(&verify(&tsd, &p.trust), Indication::TotalFailed, Some(SubIndication::HashFailure));
    // The p7m inside is broken.
    let broken = replace_once(&p7m, b"atto marcato", b"atto marcat0");
    let tsd = timestamped_data(&broken, &timestamp_token(&p.tsa, &broken, now()), true);
    assert_verdict(&verify(&tsd, &p.trust), Indication::TotalFailed, Some(SubIndication::HashFailure));
}

#[test]
fn m7m_is_unwrapped_and_its_timestamp_checked() {
    let p = pki();
    let p7m = sign_attached(&p.mario, b"atto m7m", &SignOptions::default());
    let file = m7m(&p7m, &timestamp_token(&p.tsa, &p7m, now()));
    let r = verify(&file, &p.trust);
    passed(&r);
    assert_eq!((r.format, r.encoding), (Format::M7m, Some("MIME")));
    assert_eq!(r.content.as_deref(), Some(&b"atto m7m"[..]));

    let file = m7m(&p7m, &timestamp_token(&p.tsa, b"other", now()));
    assert_verdict(&verify(&file, &p.trust), Indication::TotalFailed, Some(SubIndication::HashFailure));
}

#[test]
fn cades_t_timestamp_gives_proof_of_existence_and_must_match() {
    let p = pki();
    let two_years_ago = now() - Duration::days(730);
    // A signer whose certificate expired last year, signed and time-stamped two years ago.
    let expired = p.ca.issue(
        LeafSpec::person("Anna", "Neri", "TINIT-NRENNA70A41H501Z").validity(now() - Duration::days(1000), now() - Duration::days(365)),
    );
    let opts = SignOptions { signing_time: Some(two_years_ago), ..SignOptions::default() };
    let mut s = Signer::new(&expired, opts.clone());
    s.timestamp = Some(Tsa { leaf: &p.tsa, time: two_years_ago });
    let r = verify(&sign(b"atto", true, &[s]), &p.trust);
    passed(&r);
    assert_eq!(r.signers[0].timestamp_time.map(|t| t.timestamp()), Some(two_years_ago.timestamp()));
    assert!(r.summary_it().contains("Marca temporale"));

    // Without the timestamp the same signature has no proof of existence.
    let r = verify(&sign(b"atto", true, &[Signer::new(&expired, opts.clone())]), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe));

    // A timestamp from an untrusted TSA is no proof of existence either.
    let rogue_tsa = Ca::new_root("Rogue").issue(LeafSpec::tsa("Rogue TSA").validity(now() - Duration::days(1000), now()));
    let mut s = Signer::new(&expired, opts.clone());
    s.timestamp = Some(Tsa { leaf: &rogue_tsa, time: two_years_ago });
    let r = verify(&sign(b"atto", true, &[s]), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe));

    // A signature timestamp whose imprint is over other bytes fails the signature.
    let bad_tst = timestamp_token(&p.tsa, b"not the signature value", now());
    let opts = SignOptions {
        extra_unsigned_attrs: vec![attribute(oids::ATTR_SIGNATURE_TIMESTAMP, &bad_tst)],
        ..SignOptions::default()
    };
    let r = verify(&sign_attached(&p.mario, b"atto", &opts), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::HashFailure));
    assert!(r.detail.contains("timestamp"), "{}", r.detail);

    // A token whose own signature is damaged (last byte of the TSA's signature value).
    let mut s = Signer::new(&p.mario, SignOptions::default());
    s.timestamp = Some(Tsa { leaf: &p.tsa, time: now() });
    let good = sign(b"atto", true, &[s]);
    let r = verify(&flip_last_byte(&good), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::SigCryptoFailure));
}

#[test]
fn ess_signing_certificate_binding() {
    let p = pki();
    // v1 (SHA-1 certHash) binds too.
    let r = verify(&sign_attached(&p.mario, b"x", &SignOptions { ess: EssVersion::V1, ..SignOptions::default() }), &p.trust);
    passed(&r);
    // Without issuerSerial.
    let opts = SignOptions { ess_issuer_serial: false, ..SignOptions::default() };
    passed(&verify(&sign_attached(&p.mario, b"x", &opts), &p.trust));

    // Certificate substitution: the attribute hashes another certificate.
    for ess in [EssVersion::V1, EssVersion::V2] {
        let opts = SignOptions { ess, ess_cert_override: Some(p.luigi.cert_der.clone()), ..SignOptions::default() };
        let r = verify(&sign_attached(&p.mario, b"x", &opts), &p.trust);
        assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound));
    }
    // No ESS attribute at all, and no signed attributes at all (plain PKCS#7): not CAdES-BES.
    for opts in [SignOptions { ess: EssVersion::None, ..SignOptions::default() }, SignOptions { signed_attrs: false, ..SignOptions::default() }]
    {
        let r = verify(&sign_attached(&p.mario, b"x", &opts), &p.trust);
        assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound));
        assert!(r.signers[0].intact, "the signature itself verifies");
    }
    // The signer certificate is not in the file.
    let r = verify(&sign_attached(&p.mario, b"x", &SignOptions { include_cert: false, ..SignOptions::default() }), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound));
    assert!(r.summary_it().contains("Integrità non verificabile"), "{}", r.summary_it());
}

#[test]
fn cms_attribute_checks() {
    let p = pki();
    // contentType attribute differs from eContentType.
    let opts = SignOptions { content_type_attr_override: Some(oids::TST_INFO.to_owned()), ..SignOptions::default() };
    let r = verify(&sign_attached(&p.mario, b"x", &opts), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // A second signingTime attribute (cardinality).
    let dup = attribute(oids::ATTR_SIGNING_TIME, &sigillo_testpki::der::time(now()));
    let opts = SignOptions { extra_signed_attrs: vec![dup], ..SignOptions::default() };
    let r = verify(&sign_attached(&p.mario, b"x", &opts), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // subjectKeyIdentifier signer identifier.
    passed(&verify(&sign_attached(&p.mario, b"x", &SignOptions { sid_ski: true, ..SignOptions::default() }), &p.trust));
}

#[test]
fn signature_algorithms() {
    let p = pki();
    let p256 = p.ca.issue(LeafSpec::person("Paolo", "Gialli", "TINIT-GLLPLA80A01H501A").key(KeyKind::P256));
    let p384 = p.ca.issue(LeafSpec::person("Paola", "Gialli", "TINIT-GLLPLA80A41H501B").key(KeyKind::P384));
    let cases: Vec<(&Leaf, SignOptions, &str)> = vec![
        (&p.mario, SignOptions::default(), "RSA PKCS#1 v1.5 SHA-256"),
        (&p.mario, SignOptions { rsa_encryption_oid: true, ..SignOptions::default() }, "rsaEncryption OID"),
        (&p.mario, SignOptions { digest: DigestAlg::Sha512, ..SignOptions::default() }, "RSA SHA-512"),
        (&p.mario, SignOptions { pss: true, ..SignOptions::default() }, "RSA-PSS SHA-256"),
        (&p.mario, SignOptions { pss: true, digest: DigestAlg::Sha384, ..SignOptions::default() }, "RSA-PSS SHA-384"),
        (&p256, SignOptions::default(), "ECDSA P-256"),
        (&p384, SignOptions { digest: DigestAlg::Sha384, ..SignOptions::default() }, "ECDSA P-384 SHA-384"),
        (&p384, SignOptions::default(), "ECDSA P-384 with SHA-256 (prehash)"),
    ];
    for (leaf, opts, what) in cases {
        let p7m = sign_attached(leaf, b"algoritmi", &opts);
        let r = verify(&p7m, &p.trust);
        assert_eq!(r.verdict, Indication::TotalPassed, "{what}: {r:#?}");
        let r = verify(&flip_last_byte(&p7m), &p.trust);
        assert_eq!(r.verdict, Indication::TotalFailed, "{what} damaged: {r:#?}");
    }
}

#[test]
fn md5_and_sha1_fail_the_crypto_constraints() {
    let p = pki();
    for digest in [DigestAlg::Md5, DigestAlg::Sha1] {
        let r = verify(&sign_attached(&p.mario, b"vecchio", &SignOptions { digest, ..SignOptions::default() }), &p.trust);
        assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::CryptoConstraintsFailureNoPoe));
        assert!(r.signers[0].intact);
        assert!(r.summary_it().contains("algoritmo non più ammesso"), "{}", r.summary_it());
    }
}

#[test]
fn certificate_validity_windows() {
    let p = pki();
    let expired = p.ca.issue(
        LeafSpec::person("Anna", "Neri", "TINIT-NRENNA70A41H501Z").validity(now() - Duration::days(800), now() - Duration::days(1)),
    );
    let opts = SignOptions { signing_time: Some(now() - Duration::days(30)), ..SignOptions::default() };
    let r = verify(&sign_attached(&expired, b"x", &opts), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe));
    assert!(r.summary_it().contains("certificato scaduto"), "{}", r.summary_it());

    // Valid at validation time, but the claimed signing time precedes the certificate.
    let fresh = p.ca.issue(LeafSpec::person("Bruno", "Blu", "TINIT-BLUBRN80A01H501C").validity(now() - Duration::days(1), now() + Duration::days(300)));
    let opts = SignOptions { signing_time: Some(now() - Duration::days(10)), ..SignOptions::default() };
    let r = verify(&sign_attached(&fresh, b"x", &opts), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::NotYetValid));

    // Not yet valid at validation time.
    let future = p.ca.issue(LeafSpec::person("Carla", "Viola", "TINIT-VLICRL80A41H501D").validity(now() + Duration::days(10), now() + Duration::days(300)));
    let opts = SignOptions { signing_time: None, ..SignOptions::default() };
    let r = verify(&sign_attached(&future, b"x", &opts), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::NotYetValid));

    // Validation "in the past" (e.g. at the PEC reception time) while it was valid.
    let r = verify_document(&sign_attached(&expired, b"x", &SignOptions { signing_time: None, ..SignOptions::default() }), None, &p.trust, now() - Duration::days(100));
    assert_eq!(r.verdict, Indication::TotalPassed, "{r:#?}");
}

#[test]
fn chains_through_intermediates() {
    let root = Ca::new_root("Root");
    let sub = root.new_intermediate("Sub CA");
    let leaf = sub.issue(LeafSpec::person("Dario", "Rosa", "TINIT-RSODRA80A01H501E"));
    let trust = TrustStore::from_certificates([root.cert_der()]).unwrap();
    let with_chain = SignOptions { include_chain: true, ..SignOptions::default() };
    passed(&verify(&sign_attached(&leaf, b"x", &with_chain), &trust));
    let r = verify(&sign_attached(&leaf, b"x", &SignOptions::default()), &trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound));
    // The intermediate itself as the anchor.
    let trust = TrustStore::from_certificates([sub.cert_der()]).unwrap();
    passed(&verify(&sign_attached(&leaf, b"x", &SignOptions::default()), &trust));
}

#[test]
fn missing_non_repudiation_is_a_chain_constraint_failure() {
    let p = pki();
    let spec = LeafSpec { non_repudiation: false, digital_signature: true, ..LeafSpec::person("Elio", "Grigi", "TINIT-GRGLEI80A01H501F") };
    let r = verify(&sign_attached(&p.ca.issue(spec), b"x", &SignOptions::default()), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::ChainConstraintsFailure));
    assert!(r.summary_it().contains("nonRepudiation"), "{}", r.summary_it());
}

#[test]
fn revocation_from_crls_in_the_trust_store() {
    let p = pki();
    let p7m = sign_attached(&p.mario, b"x", &SignOptions::default());
    let revoked_at = now() - Duration::hours(1);
    let crl = p.ca.crl(&[(&p.mario.cert_der, revoked_at)], now() - Duration::hours(1), now() + Duration::days(7));

    let mut trust = p.trust.clone();
    trust.add(&crl).unwrap();
    let r = verify(&p7m, &trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::RevokedNoPoe));
    assert!(r.summary_it().contains("certificato revocato"));
    // PEM CRLs are read too.
    let mut trust = p.trust.clone();
    trust.add(sigillo_testpki::pem("X509 CRL", &crl).as_bytes()).unwrap();
    assert_verdict(&verify(&p7m, &trust), Indication::Indeterminate, Some(SubIndication::RevokedNoPoe));

    // A CRL that does not list the signer: passed, and the report says it was checked.
    let mut trust = p.trust.clone();
    trust.add(&p.ca.crl(&[(&p.luigi.cert_der, revoked_at)], now() - Duration::hours(1), now() + Duration::days(7))).unwrap();
    let r = verify(&p7m, &trust);
    passed(&r);
    assert!(r.signers[0].detail.contains("not revoked (CRL)"), "{}", r.signers[0].detail);

    // A forged CRL (same issuer name, other key) is ignored.
    let forger = Ca::new_root("Sigillo Test Qualified CA");
    let mut trust = p.trust.clone();
    trust.add(&forger.crl(&[(&p.mario.cert_der, revoked_at)], now() - Duration::hours(1), now() + Duration::days(7))).unwrap();
    let r = verify(&p7m, &trust);
    passed(&r);
    assert!(r.signers[0].detail.contains("revocation not checked"), "{}", r.signers[0].detail);
}

#[test]
fn format_is_detected_by_content() {
    // verify_document takes no file name: a p7m saved as ".pdf", a PDF saved as ".p7m" or
    // an M7M saved as ".txt" are recognised from their bytes alone.
    let p = pki();
    let signed_pdf = sign_pdf(&minimal_pdf("documento", 0), &p.mario, &PdfSignOptions::default());
    let p7m_of_pdf = sign_attached(&p.mario, &minimal_pdf("documento", 0), &SignOptions::default());
    let cases: Vec<(Vec<u8>, Format, Indication)> = vec![
        (p7m_of_pdf.clone(), Format::Cades, Indication::TotalPassed),
        (signed_pdf.clone(), Format::Pades, Indication::TotalPassed),
        (m7m(&p7m_of_pdf, &timestamp_token(&p.tsa, &p7m_of_pdf, now())), Format::M7m, Indication::TotalPassed),
        (timestamped_data(&p7m_of_pdf, &timestamp_token(&p.tsa, &p7m_of_pdf, now()), true), Format::Tsd, Indication::TotalPassed),
        (minimal_pdf("non firmato", 0), Format::None, Indication::NoSignatureFound),
        (b"%!PS-Adobe not a pdf".to_vec(), Format::None, Indication::NoSignatureFound),
        (b"<?xml version=\"1.0\"?><fattura><a/></fattura>".to_vec(), Format::None, Indication::NoSignatureFound),
        (Vec::new(), Format::None, Indication::NoSignatureFound),
    ];
    for (bytes, format, verdict) in cases {
        let r = verify(&bytes, &p.trust);
        assert_eq!((r.format, r.verdict), (format, verdict), "{}", String::from_utf8_lossy(&bytes[..bytes.len().min(40)]));
    }
}

#[test]
fn a_malformed_xml_signature_is_a_format_failure() {
    let xades = br#"<?xml version="1.0" encoding="UTF-8"?>
<doc><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="s1"><ds:SignedInfo/>
<ds:Object><xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#"/></ds:Object>
</ds:Signature></doc>"#;
    let r = verify(xades, &TrustStore::empty());
    // No KeyInfo certificate: nothing can be checked (XAdES itself is verified: tests/xades.rs).
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound));
    assert_eq!(r.format, Format::Xades);
}

// ---------------------------------------------------------------------------------------
// PAdES
// ---------------------------------------------------------------------------------------

#[test]
fn signed_pdf_is_valid_and_a_second_signature_keeps_the_first() {
    let p = pki();
    let pdf = minimal_pdf("Determina dirigenziale n. 12", 0);
    let one = sign_pdf(&pdf, &p.mario, &PdfSignOptions::default());
    let r = verify(&one, &p.trust);
    passed(&r);
    assert_eq!((r.format, r.signers.len()), (Format::Pades, 1));
    assert_eq!(r.signers[0].fiscal_code.as_deref(), Some(CF));

    let opts = PdfSignOptions { sub_filter: "adbe.pkcs7.detached".into(), ..PdfSignOptions::default() };
    let two = sign_pdf(&one, &p.luigi, &opts);
    let r = verify(&two, &p.trust);
    passed(&r);
    assert_eq!(r.signers.len(), 2);
    // Trailing end-of-line bytes after the final %%EOF are tolerated.
    let mut eol = two.clone();
    eol.extend_from_slice(b"\r\n");
    passed(&verify(&eol, &p.trust));
}

#[test]
fn pdf_modified_after_signing_fails() {
    let p = pki();
    let signed = sign_pdf(&minimal_pdf("Importo: 100 euro", 0), &p.mario, &PdfSignOptions::default());
    let tampered = replace_once(&signed, b"100 euro", b"900 euro");
    let r = verify(&tampered, &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::HashFailure));
}

#[test]
fn incremental_update_after_signature_fails() {
    let p = pki();
    let signed = sign_pdf(&minimal_pdf("Importo: 100 euro", 0), &p.mario, &PdfSignOptions::default());
    // Incremental saving attack: the page content replaced in a later revision.
    let isa = append_update(&signed, &[(4, stream(&page_content("Importo: 900 euro")))]);
    assert_verdict(&verify(&isa, &p.trust), Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // A new page added to the page tree.
    let added = append_update(
        &signed,
        &[(2, b"<< /Type /Pages /Kids [3 0 R 30 0 R] /Count 2 >>".to_vec()), (30, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec())],
    );
    assert_verdict(&verify(&added, &p.trust), Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // An annotation that is not a signature widget (evil annotation).
    let annot = append_update(
        &signed,
        &[
            (3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> /Annots [7 0 R 31 0 R] >>".to_vec()),
            (31, b"<< /Type /Annot /Subtype /FreeText /Rect [72 700 300 740] /Contents (Annullato) >>".to_vec()),
        ],
    );
    assert_verdict(&verify(&annot, &p.trust), Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // A later revision whose trailer switches to a new catalog.
    let extra = append_update(&signed, &[(40, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec())]);
    let tail = String::from_utf8_lossy(&extra[signed.len()..]).replace("/Root 1 0 R", "/Root 40 0 R");
    let switched = [signed.as_slice(), tail.as_bytes()].concat();
    assert_verdict(&verify(&switched, &p.trust), Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // Garbage appended after %%EOF.
    let mut garbage = signed.clone();
    garbage.extend_from_slice(b"% trailing bytes not covered\n");
    assert_eq!(verify(&garbage, &p.trust).verdict, Indication::TotalFailed);
    // A later revision that only adds an unreferenced object is not a modification.
    passed(&verify(&append_update(&signed, &[(50, b"<< /Producer (x) >>".to_vec())]), &p.trust));
}

#[test]
fn byte_range_must_cover_everything_but_the_contents() {
    let p = pki();
    let signed = sign_pdf(&minimal_pdf("ByteRange", 0), &p.mario, &PdfSignOptions::default());
    let text = String::from_utf8_lossy(&signed);
    let at = text.rfind("/ByteRange [").unwrap() + "/ByteRange [".len();
    let nums: Vec<usize> = text[at..text[at..].find(']').unwrap() + at].split_whitespace().map(|n| n.parse().unwrap()).collect();
    let (a, b, c) = (nums[1], nums[2], nums[3]);
    assert_eq!(b + c, signed.len());
    for (range, what) in [
        ([0, a - 1, b, c], "gap larger than /Contents"),
        ([0, a, b + 1, c - 1], "gap larger than /Contents at the end"),
        ([0, a, b, c - 10], "tail not covered"),
        ([0, a, b, c + 10], "beyond the end of the file"),
        ([5, a - 5, b, c], "does not start at 0"),
        ([0, b, a, c], "inverted"),
    ] {
        let mut bad = signed.clone();
        set_last_byte_range(&mut bad, range);
        let r = verify(&bad, &p.trust);
        assert_eq!(r.verdict, Indication::TotalFailed, "{what}: {r:#?}");
    }
}

#[test]
fn pdf_signature_dictionary_rules() {
    let p = pki();
    let pdf = minimal_pdf("SubFilter", 0);
    // A legacy non-CMS SubFilter is refused even if /Contents holds a valid CMS.
    let legacy = sign_pdf(&pdf, &p.mario, &PdfSignOptions { sub_filter: "adbe.x509.rsa_sha1".into(), ..PdfSignOptions::default() });
    let r = verify(&legacy, &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::FormatFailure));
    assert!(r.detail.contains("adbe.x509.rsa_sha1"), "{}", r.detail);
    // A detached SubFilter whose CMS encapsulates content.
    let econtent = sign_pdf(&pdf, &p.mario, &PdfSignOptions { encapsulate: true, ..PdfSignOptions::default() });
    assert_verdict(&verify(&econtent, &p.trust), Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // A PAdES signature with SHA-1 / without the ESS binding is refused like CAdES.
    let sha1 = sign_pdf(&pdf, &p.mario, &PdfSignOptions { cms: SignOptions::sha1(), ..PdfSignOptions::default() });
    assert_verdict(&verify(&sha1, &p.trust), Indication::Indeterminate, Some(SubIndication::CryptoConstraintsFailureNoPoe));
    let no_attrs = sign_pdf(&pdf, &p.mario, &PdfSignOptions { cms: SignOptions { signed_attrs: false, ..SignOptions::default() }, ..PdfSignOptions::default() });
    assert_verdict(&verify(&no_attrs, &p.trust), Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound));
    // An all-zero /Contents placeholder (unsigned "signed-looking" PDF).
    let signed = sign_pdf(&pdf, &p.mario, &PdfSignOptions::default());
    let text = String::from_utf8_lossy(&signed).into_owned();
    let start = text.rfind("/Contents <").unwrap() + "/Contents <".len();
    let end = start + text[start..].find('>').unwrap();
    let zeroed = [&signed[..start], "0".repeat(end - start).as_bytes(), &signed[end..]].concat();
    assert_verdict(&verify(&zeroed, &p.trust), Indication::TotalFailed, Some(SubIndication::FormatFailure));
    // Untrusted PDF signer.
    let r = verify(&sign_pdf(&pdf, &other_ca_leaf(), &PdfSignOptions::default()), &p.trust);
    assert_verdict(&r, Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound));
}

#[test]
fn signed_pdf_inside_a_p7m_verifies_both() {
    let p = pki();
    let signed_pdf = sign_pdf(&minimal_pdf("doppia firma", 0), &p.mario, &PdfSignOptions::default());
    let r = verify(&sign_attached(&p.luigi, &signed_pdf, &SignOptions::default()), &p.trust);
    passed(&r);
    assert_eq!(r.signers.len(), 2);
    // The PDF inside was altered before the envelope was signed.
    let altered = replace_once(&signed_pdf, b"doppia firma", b"doppia FIRMA");
    let r = verify(&sign_attached(&p.luigi, &altered, &SignOptions::default()), &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::HashFailure));
}

// ---------------------------------------------------------------------------------------
// Hostile input
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_input_never_passes_and_never_panics() {
    let p = pki();
    let p7m = sign_attached(&p.mario, b"contenuto", &SignOptions::ber());
    // Every truncation of a valid BER p7m.
    for cut in (0..p7m.len()).step_by(7) {
        let r = verify(&p7m[..cut], &p.trust);
        assert_ne!(r.verdict, Indication::TotalPassed, "truncated at {cut}");
    }
    // Single-byte corruption anywhere in a DER p7m: never a panic, and whenever the verdict
    // is still TOTAL_PASSED (bytes no check depends on, e.g. the unused digestAlgorithms
    // set), the delivered content is the signed one.
    let der = sign_attached(&p.mario, b"contenuto", &SignOptions { encoding: Encoding::Der, ..SignOptions::default() });
    let mut still_passed = 0;
    for i in 0..der.len() {
        let mut bad = der.clone();
        bad[i] ^= 0x55;
        let r = verify(&bad, &p.trust);
        if r.verdict == Indication::TotalPassed {
            still_passed += 1;
            assert_eq!(r.content.as_deref(), Some(&b"contenuto"[..]), "byte {i} changed the content undetected");
        }
    }
    assert!(still_passed < der.len() / 20, "{still_passed} of {} corruptions passed", der.len());
    // Deep nesting of envelopes is bounded.
    let mut doc = b"base".to_vec();
    for _ in 0..12 {
        doc = sign_attached(&p.mario, &doc, &SignOptions::default());
    }
    let r = verify(&doc, &p.trust);
    assert_verdict(&r, Indication::TotalFailed, Some(SubIndication::FormatFailure));
}
