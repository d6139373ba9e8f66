//! Trusted lists through the real binary (issue 16): `sigillo trust verify-list` on the
//! real EU LOTL and Italian list of the shared corpus (`../shared/corpus/trust-lists`,
//! never copied), and `sigillo check --trusted-list … --trusted-list-signers PEM` with test
//! lists signed by xmlsec1: CA/QC services granted at the time of judgement are anchors, a
//! service withdrawn by then is not, a first list that does not verify stops everything
//! (exit 2, one line), a national list that does not verify is left out with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, TimeZone, Utc};
use sigillo_e2e::{run_with_env, stderr, stdout};
use sigillo_signature::cert::Certificate;
use sigillo_signature::xmldsig::{self, Limits};
use sigillo_testpki::trustlist::{CA_QC, GENERIC, GRANTED, LOTL, TestList, TestPointer, TestService, WITHDRAWN};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, pem, sign_attached, sign_detached};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/trust-lists");
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        println!("TRUSTED-LIST CORPUS ABSENT: {} not found; corpus lists skipped", dir.display());
        None
    }
}

async fn sigillo(args: &[&str]) -> Output {
    run_with_env(&BTreeMap::new(), args).await
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn pem_of(certs: &[Certificate]) -> String {
    certs.iter().map(|c| pem("CERTIFICATE", &c.der)).collect()
}

#[tokio::test]
async fn verify_list_prints_one_line_per_real_list_and_fails_if_any_does_not_verify() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let lotl_bytes = std::fs::read(corpus.join("eu-lotl.xml")).unwrap();
    let lotl_signer: Vec<Certificate> = {
        let text = xmldsig::decode(&lotl_bytes, Limits::default()).unwrap();
        let doc = xmldsig::parse(text, Limits::default()).unwrap();
        let sig = xmldsig::find_signatures(&doc)[0];
        xmldsig::key_info_certificates(&doc, sig).iter().map(|d| Certificate::from_der(d).unwrap()).collect()
    };
    let lotl = sigillo_trustlist::verify_list(&lotl_bytes, &lotl_signer).unwrap().list;
    let it_pointer: Vec<Certificate> = lotl.pointers_to("IT").flat_map(|p| p.certificates.clone()).collect();
    let lotl_pem = write(tmp.path(), "lotl-signers.pem", pem_of(&lotl_signer));
    let it_pem = write(tmp.path(), "it-signers.pem", pem_of(&it_pointer));
    let file = |n: &str| s(&corpus.join(n));

    let out = sigillo(&["trust", "verify-list", "--signers", &s(&lotl_pem), &file("eu-lotl.xml")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert_eq!(line.lines().count(), 1);
    assert!(
        line.contains("eu-lotl.xml: territorio EU, numero di sequenza 248, emessa il 2019-09-04T")
            && line.contains(", 0 servizi, firma valida ("),
        "{line}"
    );

    let out = sigillo(&["trust", "verify-list", "--signers", &s(&it_pem), &file("IT.xml")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.contains("IT.xml: territorio IT, numero di sequenza 141, emessa il 2019-09-04T08:00:00Z, "), "{line}");
    assert!(line.contains("firma valida (") && line.contains("AgID"), "{line}");

    // Three lists, one line each, in order; any failure → non-zero.
    let out = sigillo(&[
        "trust",
        "verify-list",
        "--signers",
        &s(&lotl_pem),
        &file("eu-lotl.xml"),
        &file("eu-lotl-broken-sig.xml"),
        &file("eu-lotl-no-sig.xml"),
        &file("IT.xml"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].ends_with(")") && lines[0].contains("firma valida"), "{}", lines[0]);
    assert!(
        lines[1].contains("eu-lotl-broken-sig.xml: territorio EU, numero di sequenza 248")
            && lines[1].contains("firma NON valida: reference \"\": digest does not match (content altered after signing)"),
        "{}",
        lines[1]
    );
    assert!(lines[2].ends_with("firma NON valida: no XML signature"), "{}", lines[2]);
    assert!(lines[3].contains("IT.xml") && lines[3].contains("firma NON valida: signature value does not verify"), "{}", lines[3]);
}

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

struct Lists {
    dir: tempfile::TempDir,
    signers: PathBuf,
    lotl: PathBuf,
    national: PathBuf,
    forged_national: PathBuf,
    broken_lotl: PathBuf,
    granted_doc: PathBuf,
    withdrawn_doc: PathBuf,
    /// A trust directory with only the test PEC providers' CA (`pec/`, empty `signatures/`).
    trust: PathBuf,
    /// PECs carrying a document signed under the service withdrawn on 2022-03-01, sent
    /// in June 2021 and in June 2022.
    withdrawn_pec_2021: PathBuf,
    withdrawn_pec_2022: PathBuf,
}

fn lists() -> Lists {
    lists_pointing_at("https://example.invalid/TSL-IT.xml")
}

fn lists_pointing_at(it_location: &str) -> Lists {
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2015, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let operators = ca("Test Scheme Operators Root");
    let eu: Leaf = operators.issue(LeafSpec::new("Test LOTL operator").validity(t(2015, 1, 1), t(2040, 1, 1)));
    let it: Leaf = operators.issue(LeafSpec::new("Test IT scheme operator").validity(t(2015, 1, 1), t(2040, 1, 1)));
    let granted = ca("Test QC CA granted");
    let withdrawn = ca("Test QC CA withdrawn 2022");
    let lotl = TestList {
        territory: "EU".into(),
        tsl_type: LOTL.into(),
        sequence: 7,
        issued: t(2024, 1, 1),
        next_update: t(2024, 7, 1),
        pointers: vec![TestPointer {
            territory: "IT".into(),
            location: it_location.into(),
            certs_der: vec![it.cert_der().to_vec()],
        }],
        services: vec![],
    };
    let svc = |c: &Ca, name: &str, status: &str, since, history| TestService::ca_qc(c.cert_der(), name, status, since, history);
    let national = TestList {
        territory: "IT".into(),
        tsl_type: GENERIC.into(),
        sequence: 42,
        issued: t(2024, 1, 2),
        next_update: t(2024, 7, 2),
        pointers: vec![],
        services: vec![
            svc(&granted, "Granted CA", GRANTED, t(2016, 7, 1), vec![]),
            svc(&withdrawn, "Withdrawn CA", WITHDRAWN, t(2022, 3, 1), vec![(GRANTED.into(), t(2018, 1, 1))]),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let lotl_xml = lotl.signed(&eu.key, eu.cert_der());
    let person = |c: &Ca| {
        c.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(t(2017, 1, 1), t(2035, 1, 1)))
    };
    let doc = |c: &Ca| sign_attached(&person(c), b"Istanza, pratica 42\n", &SignOptions::default());
    let provider_ca = ca("Test PEC Providers CA");
    let provider = provider_ca
        .issue(LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2016, 1, 1), t(2040, 1, 1)));
    let trust = dir.path().join("trust");
    std::fs::create_dir_all(trust.join("pec")).unwrap();
    std::fs::create_dir_all(trust.join("signatures")).unwrap();
    std::fs::write(trust.join("pec").join("ca.pem"), provider_ca.cert_pem()).unwrap();
    let pec = |at: DateTime<Utc>| {
        let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", doc(&withdrawn))];
        let opts = SignOptions { signing_time: Some(at), ..SignOptions::default() };
        sigillo_testpki::pec::dated_transport("opec.tl@pec.test.it", "Istanza", at, &atts, |c| sign_detached(&provider, c, &opts))
    };
    Lists {
        trust,
        withdrawn_pec_2021: write(dir.path(), "withdrawn-2021.eml", pec(t(2021, 6, 1))),
        withdrawn_pec_2022: write(dir.path(), "withdrawn-2022.eml", pec(t(2022, 6, 1))),
        signers: write(dir.path(), "lotl-signers.pem", eu.cert_pem()),
        lotl: write(dir.path(), "lotl.xml", &lotl_xml),
        national: write(dir.path(), "it.xml", national.signed(&it.key, it.cert_der())),
        forged_national: write(dir.path(), "it-forged.xml", national.signed(&eu.key, eu.cert_der())),
        broken_lotl: write(dir.path(), "lotl-broken.xml", lotl_xml.replace("<TSLSequenceNumber>7<", "<TSLSequenceNumber>8<")),
        granted_doc: write(dir.path(), "granted.txt.p7m", doc(&granted)),
        withdrawn_doc: write(dir.path(), "withdrawn.txt.p7m", doc(&withdrawn)),
        dir,
    }
}

fn verdicts(out: &Output) -> Vec<(String, Option<String>)> {
    stdout(out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let sig = &v["signature"];
            (sig["verdict"].as_str().unwrap_or_default().to_owned(), sig["subindication"].as_str().map(str::to_owned))
        })
        .collect()
}

#[tokio::test]
async fn check_trusts_the_services_granted_at_the_time_of_judgement() {
    let l = lists();
    let (signers, lotl, national) = (s(&l.signers), s(&l.lotl), s(&l.national));
    let (granted, withdrawn) = (s(&l.granted_doc), s(&l.withdrawn_doc));
    let base = ["check", "--json", "--trusted-list", &lotl, "--trusted-list", &national, "--trusted-list-signers", &signers];

    // 2021: both services granted.
    let mut args = base.to_vec();
    args.extend(["--at", "2021-06-01T10:00:00Z", &granted, &withdrawn]);
    let out = sigillo(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(verdicts(&out), [("TOTAL_PASSED".to_owned(), None), ("TOTAL_PASSED".to_owned(), None)], "{}", stdout(&out));

    // 2023: the second CA was withdrawn in March 2022.
    let mut args = base.to_vec();
    args.extend(["--at", "2023-06-01T10:00:00Z", &granted, &withdrawn]);
    let out = sigillo(&args).await;
    let v = verdicts(&out);
    assert_eq!(v[0], ("TOTAL_PASSED".to_owned(), None), "{}", stdout(&out));
    assert_eq!(v[1], ("INDETERMINATE".to_owned(), Some("NO_CERTIFICATE_CHAIN_FOUND".to_owned())), "{}", stdout(&out));

    // Without the lists nothing chains.
    let out = sigillo(&["check", "--json", "--at", "2021-06-01T10:00:00Z", &granted]).await;
    assert_eq!(verdicts(&out)[0].0, "INDETERMINATE");
}

#[tokio::test]
async fn each_signer_names_its_trust_service_and_whether_it_is_qualified() {
    let l = lists();
    let (signers, lotl, national, granted) = (s(&l.signers), s(&l.lotl), s(&l.national), s(&l.granted_doc));
    let args = ["check", "--json", "--trusted-list", &lotl, "--trusted-list", &national, "--trusted-list-signers", &signers, &granted];
    let out = sigillo(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let signer = &v["signature"]["signers"][0];
    assert_eq!(signer["trust_service"]["name"], "Granted CA", "{v}");
    assert_eq!(signer["trust_service"]["territory"], "IT", "{v}");
    assert_eq!(signer["trust_service"]["type"], CA_QC, "{v}");
    // LeafSpec::person: QcCompliance, QcSSCD, QcType-esign.
    assert_eq!(signer["qualified_signature"], true, "{v}");
}

/// A message's attachments are judged at the PEC's time, with the services granted then:
/// checked in 2023, a document sent in 2021 under a service withdrawn in March 2022 stays
/// valid; one sent in June 2022 is INDETERMINATE.
#[tokio::test]
async fn a_message_is_judged_with_the_services_granted_at_its_pec_time() {
    let l = lists();
    let (signers, lotl, national, trust) = (s(&l.signers), s(&l.lotl), s(&l.national), s(&l.trust));
    let (sent_2021, sent_2022) = (s(&l.withdrawn_pec_2021), s(&l.withdrawn_pec_2022));
    let args = [
        "check", "--json", "--trust", &trust, "--trusted-list", &lotl, "--trusted-list", &national, "--trusted-list-signers",
        &signers, "--at", "2023-06-01T10:00:00Z", &sent_2021, &sent_2022,
    ];
    let out = sigillo(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|x| serde_json::from_str(x).unwrap()).collect();
    let (a, b) = (&lines[0], &lines[1]);
    assert_eq!(a["pec"]["envelope_signature"]["status"], "valid", "{a}");
    assert_eq!(a["attachments"][0]["signature"]["verdict"], "TOTAL_PASSED", "{a}");
    assert_eq!(a["attachments"][0]["signature"]["time_source"], "pec-time", "{a}");
    assert_eq!(a["attachments"][0]["signature"]["signers"][0]["trust_service"]["name"], "Withdrawn CA", "{a}");
    assert_eq!(a["decision"], "register", "{a}");
    assert_eq!(b["attachments"][0]["signature"]["verdict"], "INDETERMINATE", "{b}");
    assert_eq!(b["attachments"][0]["signature"]["subindication"], "NO_CERTIFICATE_CHAIN_FOUND", "{b}");
    assert_eq!(b["decision"], "review", "{b}");
}

#[tokio::test]
async fn a_first_list_that_does_not_verify_stops_the_check_with_one_line() {
    let l = lists();
    let (signers, national, granted) = (s(&l.signers), s(&l.national), s(&l.granted_doc));
    for (first, cause) in [
        (s(&l.broken_lotl), "digest does not match"),
        (s(&l.national), "signature value does not verify with any allowed certificate"),
        (s(&l.granted_doc), "unreadable XML"),
    ] {
        let out = sigillo(&["check", "--trusted-list", &first, "--trusted-list", &national, "--trusted-list-signers", &signers, &granted])
            .await;
        assert_eq!(out.status.code(), Some(2), "{first}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&first) && err.contains(cause), "{err}");
        assert!(stdout(&out).is_empty(), "nothing checked: {}", stdout(&out));
    }
    // No signers given.
    let out = sigillo(&["check", "--trusted-list", &s(&l.lotl), &granted]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("--trusted-list-signers"));
}

#[tokio::test]
async fn a_national_list_that_does_not_verify_is_left_out_with_a_warning() {
    let l = lists();
    let (signers, lotl, forged, national, granted) =
        (s(&l.signers), s(&l.lotl), s(&l.forged_national), s(&l.national), s(&l.granted_doc));
    let out = sigillo(&[
        "check", "--json", "--trust", &s(&trust_dir(l.dir.path())), "--trusted-list", &lotl, "--trusted-list", &forged,
        "--trusted-list-signers", &signers, "--at", "2021-06-01T10:00:00Z", &granted,
    ])
    .await;
    let err = stderr(&out);
    assert!(err.contains(&format!("lista di fiducia {forged} esclusa")) && err.contains("does not verify"), "{err}");
    assert_eq!(verdicts(&out)[0].0, "INDETERMINATE", "the forged list's services trust nothing");

    // The good national list beside the forged one still counts.
    let out = sigillo(&[
        "check", "--json", "--trust", &s(&trust_dir(l.dir.path())), "--trusted-list", &lotl, "--trusted-list", &forged,
        "--trusted-list", &national, "--trusted-list-signers", &signers, "--at", "2021-06-01T10:00:00Z", &granted,
    ])
    .await;
    assert!(stderr(&out).contains("it-forged.xml esclusa"), "{}", stderr(&out));
    assert_eq!(verdicts(&out)[0].0, "TOTAL_PASSED", "{}", stdout(&out));
}

/// An empty trust directory (pec/ and signatures/), so that only the lists give anchors.
fn trust_dir(base: &Path) -> PathBuf {
    let t = base.join("trust");
    for sub in ["pec", "signatures"] {
        std::fs::create_dir_all(t.join(sub)).unwrap();
    }
    t
}

/// Serves the files of `dir` over HTTP/1.0 on loopback, one connection at a time, until the
/// test ends; a missing file is a 404.
fn serve_dir(dir: PathBuf) -> u16 {
    use std::io::{BufRead as _, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let name = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
            match std::fs::read(dir.join(&name)) {
                Ok(body) => {
                    let _ = write!(stream, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/vnd.etsi.tsl+xml\r\n\r\n", body.len());
                    let _ = stream.write_all(&body);
                }
                Err(_) => {
                    let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
            }
        }
    });
    port
}

#[tokio::test]
async fn a_lotl_given_by_url_has_its_pointers_downloaded_and_verified() {
    let served = tempfile::tempdir().unwrap();
    let port = serve_dir(served.path().to_path_buf());
    let base = format!("http://127.0.0.1:{port}");
    let l = lists_pointing_at(&format!("{base}/it.xml"));
    std::fs::copy(&l.lotl, served.path().join("lotl.xml")).unwrap();
    std::fs::copy(&l.national, served.path().join("it.xml")).unwrap();
    let lotl = format!("{base}/lotl.xml");
    let (signers, granted) = (s(&l.signers), s(&l.granted_doc));
    let out = sigillo(&["check", "--json", "--trusted-list", &lotl, "--trusted-list-signers", &signers, "--at", "2021-06-01T10:00:00Z", &granted]).await;
    assert!(!stderr(&out).contains("esclusa"), "{}", stderr(&out));
    assert_eq!(verdicts(&out)[0].0, "TOTAL_PASSED", "{}\n{}", stdout(&out), stderr(&out));

    // The national list gone from the server: left out with a warning, nothing trusted.
    std::fs::remove_file(served.path().join("it.xml")).unwrap();
    let out = sigillo(&["check", "--json", "--trusted-list", &lotl, "--trusted-list-signers", &signers, "--at", "2021-06-01T10:00:00Z", &granted]).await;
    let err = stderr(&out);
    assert!(err.contains(&format!("lista di fiducia {base}/it.xml esclusa: download non riuscito: HTTP 404")), "{err}");
    assert_eq!(verdicts(&out)[0].0, "INDETERMINATE");

    // The LOTL itself not there: exit 2, one line.
    let missing = format!("{base}/nothing.xml");
    let out = sigillo(&["check", "--trusted-list", &missing, "--trusted-list-signers", &signers, &granted]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains(&missing) && stderr(&out).contains("HTTP 404"), "{}", stderr(&out));
}
