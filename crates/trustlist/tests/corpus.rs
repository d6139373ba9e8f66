//! The real lists of the shared corpus (`../shared/corpus/trust-lists`, never copied into
//! the repository): the EU LOTL and the Italian and Czech lists of September 2019, with
//! broken, unsigned and doubly signed variants. Each verdict is also asked of `xmlsec1`
//! (Debian package xmlsec1, installed by scripts/test), which must agree on every file.

// Helpers panic on purpose: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use sigillo_signature::cert::Certificate;
use sigillo_signature::xmldsig::{self, Limits, XmlSigFailure};
use sigillo_trustlist::{ServiceStatus, TrustListError, TrustSet, svc_type, verify_list};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/trust-lists");
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        eprintln!("trusted-list corpus absent ({}): nothing to check", dir.display());
        None
    }
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The certificate of the LOTL's own KeyInfo: the MANIFEST's stand-in for the certificates
/// the Official Journal publishes.
fn lotl_signer(dir: &Path) -> Vec<Certificate> {
    let bytes = read(dir, "eu-lotl.xml");
    let text = xmldsig::decode(&bytes, Limits::default()).unwrap();
    let doc = xmldsig::parse(text, Limits::default()).unwrap();
    let sig = xmldsig::find_signatures(&doc)[0];
    xmldsig::key_info_certificates(&doc, sig).iter().map(|d| Certificate::from_der(d).unwrap()).collect()
}

fn pointer_certs(dir: &Path, territory: &str) -> Vec<Certificate> {
    let lotl = verify_list(&read(dir, "eu-lotl.xml"), &lotl_signer(dir)).unwrap();
    lotl.list.pointers_to(territory).flat_map(|p| p.certificates.clone()).collect()
}

#[test]
fn the_lotl_verifies_with_its_signer_and_reads_whole() {
    let Some(dir) = corpus() else { return };
    let v = verify_list(&read(&dir, "eu-lotl.xml"), &lotl_signer(&dir)).unwrap();
    let l = &v.list;
    assert!(l.is_lotl());
    assert_eq!((l.territory.as_str(), l.sequence_number), ("EU", 248));
    assert_eq!(l.issued.date_naive().to_string(), "2019-09-04");
    assert!(l.next_update.is_some_and(|n| n > l.issued));
    assert_eq!(l.pointers.len(), 44, "every OtherTSLPointer, XML and PDF");
    assert_eq!(l.pointers.iter().filter(|p| p.mime_type.as_deref() == Some("application/vnd.etsi.tsl+xml")).count(), 32);
    assert_eq!(l.pointers_to("IT").count(), 1);
    // The IT pointer carries two certificates; the second declares one unused bit in its
    // signature BIT STRING (malformed DER) and is left out, noted.
    assert_eq!(l.pointers_to("IT").next().unwrap().certificates.len(), 1);
    assert!(l.unreadable.iter().any(|u| u.contains("TSL-IT.xml")), "{:?}", l.unreadable);
    assert_eq!(l.pointers_to("CZ").next().unwrap().certificates.len(), 3);
}

#[test]
fn the_italian_list_verifies_with_the_certificates_of_its_lotl_pointer() {
    let Some(dir) = corpus() else { return };
    let it = read(&dir, "IT.xml");
    let certs = pointer_certs(&dir, "IT");
    let v = verify_list(&it, &certs).unwrap();
    let l = &v.list;
    assert_eq!((l.territory.as_str(), l.sequence_number), ("IT", 141));
    assert_eq!(l.issued.date_naive().to_string(), "2019-09-04");
    assert_eq!(l.providers.len(), 48);
    assert!(l.providers.iter().any(|p| p.name == "Banca d'Italia"));
    // Each readable certificate of the pointer verifies it alone.
    for c in &certs {
        assert!(verify_list(&it, std::slice::from_ref(c)).is_ok(), "{}", c.subject);
    }
    // The LOTL's own signer did not sign the Italian list.
    let e = verify_list(&it, &lotl_signer(&dir)).unwrap_err();
    assert!(matches!(e, TrustListError::Signature(XmlSigFailure::NotSignedByAllowed(_))), "{e}");
    assert!(e.to_string().contains("does not verify with any allowed certificate"), "{e}");
}

#[test]
fn the_czech_list_verifies_with_its_pointer_and_names_the_certificate_that_signed() {
    let Some(dir) = corpus() else { return };
    let cz = read(&dir, "CZ.xml");
    let certs = pointer_certs(&dir, "CZ");
    assert_eq!(certs.len(), 3);
    let v = verify_list(&cz, &certs).unwrap();
    assert_eq!((v.list.territory.as_str(), v.list.sequence_number), ("CZ", 77));
    assert_eq!(v.signer.der, certs[2].der);
    // The MANIFEST says each of the three verifies it: that is xmlsec1 taking the key from
    // the list's own KeyInfo when run with --insecure. Pinned, only the third key signed
    // (xmlsec1 agrees once pinned: see xmlsec1_agrees_on_every_file).
    for (i, c) in certs.iter().enumerate() {
        assert_eq!(verify_list(&cz, std::slice::from_ref(c)).is_ok(), i == 2, "{}", c.subject);
    }
}

#[test]
fn broken_unsigned_and_doubly_signed_lists_are_refused_with_their_cause() {
    let Some(dir) = corpus() else { return };
    let lotl = lotl_signer(&dir);
    let cz = pointer_certs(&dir, "CZ");
    let e = verify_list(&read(&dir, "eu-lotl-broken-sig.xml"), &lotl).unwrap_err();
    assert_eq!(e, TrustListError::Signature(XmlSigFailure::DigestMismatch { uri: String::new() }));
    assert!(e.to_string().contains("content altered after signing"), "{e}");
    let e = verify_list(&read(&dir, "eu-lotl-no-sig.xml"), &lotl).unwrap_err();
    assert_eq!(e, TrustListError::Signature(XmlSigFailure::NoSignature));
    let e = verify_list(&read(&dir, "CZ_broken-sig.xml"), &cz).unwrap_err();
    assert!(matches!(e, TrustListError::Signature(XmlSigFailure::DigestMismatch { .. })), "{e}");
    let e = verify_list(&read(&dir, "CZ_two-sigs.xml"), &cz).unwrap_err();
    assert_eq!(e, TrustListError::SeveralSignatures(2));
}

#[test]
fn service_history_gives_the_status_at_the_time_of_judgement() {
    let Some(dir) = corpus() else { return };
    let it = verify_list(&read(&dir, "IT.xml"), &pointer_certs(&dir, "IT")).unwrap().list;
    let bdi = &it.providers.iter().find(|p| p.name == "Banca d'Italia").unwrap().services[0];
    assert_eq!(bdi.type_id, svc_type::CA_QC);
    assert_eq!(bdi.status, ServiceStatus::Granted);
    assert_eq!(bdi.since, Utc.with_ymd_and_hms(2016, 6, 30, 22, 0, 0).unwrap());
    // Before eIDAS the same service was "accredited": trusted then too.
    assert!(bdi.qualified_ca_at(Utc.with_ymd_and_hms(2010, 1, 1, 0, 0, 0).unwrap()));
    // Before its first status it did not exist.
    assert!(!bdi.qualified_ca_at(Utc.with_ymd_and_hms(2008, 2, 25, 16, 42, 2).unwrap()));
    assert!(bdi.state_at(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()).is_none());
    // Withdrawn services exist in the Italian list and are never anchors after withdrawal.
    let now = Utc.with_ymd_and_hms(2019, 9, 4, 12, 0, 0).unwrap();
    let withdrawn: Vec<_> = it
        .providers
        .iter()
        .flat_map(|p| &p.services)
        .filter(|s| s.type_id == svc_type::CA_QC && s.status == ServiceStatus::Withdrawn)
        .collect();
    assert!(!withdrawn.is_empty());
    assert!(withdrawn.iter().all(|s| !s.qualified_ca_at(now)));
}

#[test]
fn a_lotl_with_national_lists_follows_pointers_by_territory_and_leaves_out_failures() {
    let Some(dir) = corpus() else { return };
    let lotl = read(&dir, "eu-lotl.xml");
    let (it, cz, cz_broken, lotl_broken) =
        (read(&dir, "IT.xml"), read(&dir, "CZ.xml"), read(&dir, "CZ_broken-sig.xml"), read(&dir, "eu-lotl-broken-sig.xml"));
    let others: Vec<(&str, &[u8])> =
        vec![("CZ_broken-sig.xml", &cz_broken), ("IT.xml", &it), ("eu-lotl-broken-sig.xml", &lotl_broken), ("CZ.xml", &cz)];
    let set = TrustSet::build(("eu-lotl.xml", &lotl), &others, &lotl_signer(&dir)).unwrap();
    let used: Vec<&str> = set.lists.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(used, ["eu-lotl.xml", "IT.xml", "CZ.xml"]);
    let left: Vec<&str> = set.left_out.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(left, ["CZ_broken-sig.xml", "eu-lotl-broken-sig.xml"]);
    assert!(set.left_out[0].1.to_string().contains("digest does not match"));
    assert!(set.left_out[1].1.to_string().contains("one level"), "{}", set.left_out[1].1);

    let at = Utc.with_ymd_and_hms(2019, 9, 4, 12, 0, 0).unwrap();
    let anchors = set.document_anchors(at);
    assert!(anchors.iter().any(|a| a.territory == "IT" && a.provider == "Banca d'Italia"));
    assert!(anchors.iter().any(|a| a.territory == "CZ"));
    assert!(anchors.iter().all(|a| a.territory != "EU"), "the LOTL lists no services");

    // The first list refused: nothing is used.
    let e = TrustSet::build(("eu-lotl-broken-sig.xml", &lotl_broken), &others, &lotl_signer(&dir)).unwrap_err();
    assert!(e.to_string().contains("digest does not match"));
}

/// `xmlsec1 --verify` over every file of the corpus, with the key pinned, agrees with our
/// verdict. Pinned means `--enabled-key-data rsa`: with x509 key data enabled (as in the
/// MANIFEST's `--insecure` command) xmlsec1 takes the key from the list's own KeyInfo and
/// "verifies" the Italian list with any certificate at all.
#[test]
fn xmlsec1_agrees_on_every_file() {
    let Some(dir) = corpus() else { return };
    assert!(
        Command::new("xmlsec1").arg("--version").output().is_ok_and(|o| o.status.success()),
        "xmlsec1 is not installed (scripts/test installs the Debian package xmlsec1)"
    );
    let tmp = std::env::temp_dir().join(format!("sigillo-xmlsec1-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let lotl = lotl_signer(&dir);
    let it = pointer_certs(&dir, "IT");
    let cz = pointer_certs(&dir, "CZ");
    // (file, key, verdict)
    let cases: [(&str, &Certificate, bool); 10] = [
        ("eu-lotl.xml", &lotl[0], true),
        ("eu-lotl-broken-sig.xml", &lotl[0], false),
        ("eu-lotl-no-sig.xml", &lotl[0], false),
        ("IT.xml", &it[0], true),
        ("IT.xml", &lotl[0], false),
        ("CZ.xml", &cz[2], true),
        ("CZ.xml", &cz[0], false),
        ("CZ.xml", &it[0], false),
        ("CZ_broken-sig.xml", &cz[2], false),
        ("CZ_two-sigs.xml", &cz[2], false),
    ];
    for (i, (file, cert, expected)) in cases.iter().enumerate() {
        let ours = verify_list(&read(&dir, file), std::slice::from_ref(*cert)).is_ok();
        let key = tmp.join(format!("{i}.pem"));
        std::fs::write(&key, sigillo_testpki::pem("CERTIFICATE", &cert.der)).unwrap();
        let out = Command::new("xmlsec1")
            .args(["--verify", "--enabled-key-data", "rsa", "--id-attr:Id", "TrustServiceStatusList", "--pubkey-cert-pem"])
            .arg(&key)
            .arg(dir.join(file))
            .output()
            .unwrap();
        let theirs = out.status.success();
        assert_eq!(ours, theirs, "{file} with {}: ours {ours}, xmlsec1 {theirs}: {}", cert.subject, String::from_utf8_lossy(&out.stderr));
        assert_eq!(ours, *expected, "{file} with {}", cert.subject);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The services' `Qualifications` (ETSI TS 119 612 §5.5.9.2), with the counts an independent
/// reading of the same files gave (Python's ElementTree over
/// ServiceInformation/…/QualificationElement): Italy's list names policies as `urn:oid:…`,
/// the Czech list as bare dotted OIDs.
#[test]
fn the_services_qualifications_are_read_with_their_criteria() {
    use sigillo_signature::qualification::{Criterion, Qualifier};
    let Some(dir) = corpus() else { return };
    for (file, territory, services, elements, counts) in [
        ("IT.xml", "IT", 23, 24, [(Qualifier::WithQscd, 23), (Qualifier::ForLegalPerson, 1), (Qualifier::NoQscd, 0), (Qualifier::QscdAsInCert, 0)]),
        ("CZ.xml", "CZ", 18, 19, [(Qualifier::WithQscd, 1), (Qualifier::ForLegalPerson, 0), (Qualifier::NoQscd, 7), (Qualifier::QscdAsInCert, 11)]),
    ] {
        let list = verify_list(&read(&dir, file), &pointer_certs(&dir, territory)).unwrap().list;
        let all: Vec<_> = list.providers.iter().flat_map(|p| &p.services).collect();
        assert_eq!(all.iter().filter(|s| !s.qualifications.is_empty()).count(), services, "{file}");
        let quals: Vec<_> = all.iter().flat_map(|s| &s.qualifications).collect();
        assert_eq!(quals.len(), elements, "{file}");
        for (q, n) in counts {
            assert_eq!(quals.iter().flat_map(|x| &x.qualifiers).filter(|x| **x == q).count(), n, "{file} {q:?}");
        }
        // Every criterion of these lists is one we evaluate (policy sets, key usage, lists).
        fn supported(c: &sigillo_signature::qualification::Criteria) -> bool {
            c.items.iter().all(|i| match i {
                Criterion::Unsupported => false,
                Criterion::List(inner) => supported(inner),
                _ => true,
            })
        }
        assert!(quals.iter().all(|q| supported(&q.criteria)), "{file}");
        assert!(quals.iter().any(|q| q.criteria.items.iter().any(|i| matches!(i, Criterion::PolicySet(p) if !p.is_empty()))), "{file}");
    }
}
