//! The service's trusted lists (issue 16) through the real binary and a real Postgres: test
//! lists signed by xmlsec1, served by a loopback HTTP server this test starts. `sigillo trust
//! update` stores them; `sigillo ingest` then registers a PEC whose document was signed
//! under a CA granted at the PEC time, and not one withdrawn before it; a broken or unsigned
//! replacement keeps the last good lists and records the error; two updates at once do not
//! both fetch; the amministratore's page and the home page show the lists; the running
//! service's desk (its API) judges uploaded documents with the stored lists too.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use sigillo_e2e::{Instance, run_with_env, stderr, stdout};
use sigillo_store::staff::Role;
use sigillo_testpki::trustlist::{GENERIC, GRANTED, LOTL, TestList, TestPointer, TestService, WITHDRAWN};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::intake_ingest::{setup, write};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// A loopback HTTP server for the lists: files by path, requests counted, an optional delay.
#[derive(Clone, Default)]
struct ListServer {
    addr: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    delay: Arc<Mutex<Duration>>,
}

impl ListServer {
    async fn start() -> ListServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = ListServer { addr: format!("http://{}", listener.local_addr().unwrap()), ..ListServer::default() };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(s.clone().answer(stream));
            }
        });
        server
    }

    async fn answer(self, mut stream: tokio::net::TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        *self.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        let body = self.files.lock().unwrap().get(&path).cloned();
        let (status, body) = match body {
            Some(b) => ("200 OK", b),
            None => ("404 Not Found", b"not found".to_vec()),
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body).await;
        let _ = stream.shutdown().await;
    }

    fn put(&self, path: &str, bytes: impl Into<Vec<u8>>) {
        self.files.lock().unwrap().insert(path.to_owned(), bytes.into());
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }
}

/// The scheme operators, three CAs listed in the Italian list, and the lists.
struct Fixture {
    eu: Leaf,
    it: Leaf,
    /// Granted since 2019.
    granted: Ca,
    /// Granted 2019, withdrawn June 2025: before the PEC time (12 January 2026).
    withdrawn_before: Ca,
    /// Granted 2019, withdrawn June 2026: after the PEC time, before the processing.
    withdrawn_after: Ca,
    lotl: TestList,
    national: TestList,
}

fn fixture(server: &ListServer) -> Fixture {
    let root = Ca::new_root("Test Scheme Operators Root");
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2018, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let f_eu = root.issue(LeafSpec::new("Test LOTL operator"));
    let f_it = root.issue(LeafSpec::new("Test IT scheme operator"));
    let granted = ca("Test QC CA granted");
    let withdrawn_before = ca("Test QC CA withdrawn 2025");
    let withdrawn_after = ca("Test QC CA withdrawn 2026");
    let lotl = TestList {
        territory: "EU".into(),
        tsl_type: LOTL.into(),
        sequence: 7,
        issued: t(2026, 1, 1),
        next_update: t(2035, 1, 1),
        pointers: vec![TestPointer {
            territory: "IT".into(),
            location: server.url("/TSL-IT.xml"),
            certs_der: vec![f_it.cert_der().to_vec()],
        }],
        services: vec![],
    };
    let svc = |c: &Ca, name: &str, status: &str, since, history| TestService::ca_qc(c.cert_der(), name, status, since, history);
    let national = TestList {
        territory: "IT".into(),
        tsl_type: GENERIC.into(),
        sequence: 42,
        issued: t(2026, 1, 2),
        next_update: t(2035, 1, 2),
        pointers: vec![],
        services: vec![
            svc(&granted, "Granted CA", GRANTED, t(2019, 1, 1), vec![]),
            svc(&withdrawn_before, "CA withdrawn 2025", WITHDRAWN, t(2025, 6, 1), vec![(GRANTED.into(), t(2019, 1, 1))]),
            svc(&withdrawn_after, "CA withdrawn 2026", WITHDRAWN, t(2026, 6, 1), vec![(GRANTED.into(), t(2019, 1, 1))]),
        ],
    };
    Fixture { eu: f_eu, it: f_it, granted, withdrawn_before, withdrawn_after, lotl, national }
}

/// A document signed by a person whose certificate `ca` issued.
fn signed_doc(ca: &Ca, text: &str) -> Vec<u8> {
    let person = ca.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(t(2020, 1, 1), t(2040, 1, 1)));
    sign_attached(&person, text.as_bytes(), &SignOptions { signing_time: Some(t(2026, 1, 10)), ..SignOptions::default() })
}

async fn ingest_one(app: &Instance, path: &Path) -> serde_json::Value {
    let out = app.run(&["ingest", "--json", &path.display().to_string()]).await;
    let line = stdout(&out);
    serde_json::from_str(line.lines().next().unwrap_or_else(|| panic!("no output: {}", stderr(&out)))).unwrap()
}

/// The environment that points `sigillo` at the server's lists.
fn list_env(server: &ListServer, signers: &Path) -> [(&'static str, String); 3] {
    [
        ("SIGILLO_TRUSTED_LIST_URL", server.url("/lotl.xml")),
        ("SIGILLO_TRUSTED_LIST_SIGNERS", signers.display().to_string()),
        ("SIGILLO_REVOCATION", "offline".to_owned()),
    ]
}

/// A loopback server publishing the fixture's LOTL and Italian list (signed), and an
/// instance whose `sigillo` fetches them from it.
struct Published {
    server: ListServer,
    f: Fixture,
    s: crate::intake_ingest::Setup,
    it_xml: String,
    _dir: tempfile::TempDir,
}

async fn published() -> Published {
    let server = ListServer::start().await;
    let f = fixture(&server);
    let dir = tempfile::tempdir().unwrap();
    let signers = write(dir.path(), "lotl-signers.pem", f.eu.cert_pem().as_bytes());
    let env = list_env(&server, &signers);
    let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = setup(&extra).await;
    let it_xml = f.national.signed(&f.it.key, f.it.cert_der());
    server.put("/lotl.xml", f.lotl.signed(&f.eu.key, f.eu.cert_der()));
    server.put("/TSL-IT.xml", it_xml.clone());
    Published { server, f, s, it_xml, _dir: dir }
}

#[tokio::test]
async fn stored_lists_make_granted_services_document_anchors_at_the_pec_time() {
    let Published { server, f, s, it_xml, _dir } = published().await;

    let pec = |ident: &str, ca: &Ca| {
        let doc = signed_doc(ca, &format!("Istanza {ident}\n"));
        let raw = s.pki.transport_with(ident, "Istanza", &[("istanza.pdf.p7m".into(), "application/pkcs7-mime", doc)], s.pki.provider());
        write(s.files.path(), &format!("{ident}.eml"), &raw)
    };

    // Nothing stored yet: the document's CA is in no trust directory.
    let before = ingest_one(&s.app, &pec("opec.before@pec.test.it", &f.granted)).await;
    assert_ne!(before["decision"], "register", "{before}");

    let out = s.app.run(&["trust", "update"]).await;
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("EU: numero di sequenza 7, emessa il 2026-01-01T00:00:00Z") && lines[0].contains("firma valida"), "{lines:?}");
    assert!(lines[1].starts_with("IT: numero di sequenza 42,") && lines[1].contains("3 servizi"), "{lines:?}");
    let stored: Vec<u8> = sqlx::query_scalar("select body from trusted_lists where territory = 'IT'").fetch_one(&s.app.db.pool).await.unwrap();
    assert_eq!(stored, it_xml.as_bytes(), "the verified bytes are kept");

    let out = s.app.run(&["trust", "show"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let show = stdout(&out);
    assert_eq!(show.lines().count(), 2, "{show}");
    assert!(show.lines().next().unwrap().starts_with("EU: numero di sequenza 7, emessa il 2026-01-01T00:00:00Z, prossimo aggiornamento 2035-01-01T00:00:00Z, 0 servizi"), "{show}");
    assert!(show.contains("IT: numero di sequenza 42, emessa il 2026-01-02T00:00:00Z, prossimo aggiornamento 2035-01-02T00:00:00Z, 3 servizi") && !show.contains("ultimo errore"), "{show}");

    // Judged at the PEC time (12 January 2026): granted, withdrawn before, withdrawn after.
    let granted = ingest_one(&s.app, &pec("opec.granted@pec.test.it", &f.granted)).await;
    assert_eq!(granted["decision"], "register", "{granted}");
    let after = ingest_one(&s.app, &pec("opec.after@pec.test.it", &f.withdrawn_after)).await;
    assert_eq!(after["decision"], "register", "granted at the PEC time, withdrawn only since: {after}");
    let withdrawn = ingest_one(&s.app, &pec("opec.withdrawn@pec.test.it", &f.withdrawn_before)).await;
    assert_ne!(withdrawn["decision"], "register", "{withdrawn}");
    let verdict: String = sqlx::query_scalar(
        "select d->'signature'->>'verdict' from inbound_messages m, jsonb_array_elements(m.report->'attachments') d \
         where m.id = (select max(id) from inbound_messages) and d->'signature' is not null",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .unwrap();
    assert_eq!(verdict, "INDETERMINATE");

    // A national list altered after signing: refused, the stored one stays, the error is kept.
    server.put("/TSL-IT.xml", it_xml.replace("<TSLSequenceNumber>42<", "<TSLSequenceNumber>43<"));
    let out = s.app.run(&["trust", "update"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().starts_with("EU: numero di sequenza 7"), "{text}");
    assert!(
        text.contains("IT: NON aggiornata da") && text.contains("digest does not match") && text.contains("resta in uso la lista memorizzata, numero 42"),
        "{text}"
    );
    let show = stdout(&s.app.run(&["trust", "show"]).await);
    assert!(show.contains("IT: numero di sequenza 42,") && show.contains("ultimo errore") && show.contains("digest does not match"), "{show}");
    let again = ingest_one(&s.app, &pec("opec.granted2@pec.test.it", &f.granted)).await;
    assert_eq!(again["decision"], "register", "the last good list is still in use: {again}");

    // An unsigned LOTL: refused, nothing replaced.
    let unsigned = f.lotl.xml();
    server.put("/lotl.xml", unsigned);
    server.put("/TSL-IT.xml", it_xml.clone());
    let out = s.app.run(&["trust", "update"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("NON aggiornata: firma NON valida") && stdout(&out).contains("numero 7"), "{}", stdout(&out));
    let (error, seq): (Option<String>, i64) = sqlx::query_as(
        "select r.last_error, l.sequence_number from trusted_list_refresh r, trusted_lists l where l.territory = 'EU'",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .unwrap();
    assert!(error.is_some_and(|e| e.contains("firma NON valida")));
    assert_eq!(seq, 7);
    let still = ingest_one(&s.app, &pec("opec.granted3@pec.test.it", &f.granted)).await;
    assert_eq!(still["decision"], "register", "{still}");

    // Turned off: nothing refreshed, and the command says why.
    let mut off = s.app.env.clone();
    off.insert("SIGILLO_TRUSTED_LIST_URL".into(), String::new());
    let out = run_with_env(&off, &["trust", "update"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("liste di fiducia disattivate"), "{}", stderr(&out));
}

#[tokio::test]
async fn two_updates_at_once_fetch_the_lists_once() {
    let Published { server, s, _dir, .. } = published().await;
    *server.delay.lock().unwrap() = Duration::from_millis(1500);

    let (a, b) = tokio::join!(s.app.run(&["trust", "update"]), s.app.run(&["trust", "update"]));
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(1)], "{}\n{}", stdout(&a), stdout(&b));
    let busy = if a.status.code() == Some(1) { &a } else { &b };
    assert_eq!(stdout(busy).trim(), "aggiornamento delle liste di fiducia già in corso in un'altra istanza");
    assert_eq!((server.hits("/lotl.xml"), server.hits("/TSL-IT.xml")), (1, 1));
}

#[tokio::test]
async fn the_amministratore_sees_the_lists_and_the_home_page_warns_of_a_failure() {
    let app = crate::web_common::spawn_app().await;
    let server = ListServer::start().await;
    let f = fixture(&server);
    let dir = tempfile::tempdir().unwrap();
    let signers = write(dir.path(), "lotl-signers.pem", f.eu.cert_pem().as_bytes());
    let mut env: std::collections::BTreeMap<String, String> = [
        ("SIGILLO_DATABASE_URL", app.db.url.clone()),
        ("SIGILLO_DATA_DIR", app.data_dir.path().display().to_string()),
        ("SIGILLO_IPA_CODE", "c_h501".to_owned()),
        ("SIGILLO_AOO_CODE", "A1B2C3D".to_owned()),
        ("SIGILLO_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in list_env(&server, &signers) {
        env.insert(k.to_owned(), v);
    }
    app.add_user("admin", Role::Amministratore).await;
    app.add_user("operatore", Role::Operatore).await;
    let admin = app.login("admin").await;

    let page = app.get(&admin, "/liste-di-fiducia").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Nessuna lista di fiducia memorizzata"));

    server.put("/lotl.xml", f.lotl.signed(&f.eu.key, f.eu.cert_der()));
    server.put("/TSL-IT.xml", f.national.signed(&f.it.key, f.it.cert_der()));
    let out = run_with_env(&env, &["trust", "update"]).await;
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let html = app.get(&admin, "/liste-di-fiducia").await.text().await.unwrap();
    for expected in ["id=\"lista-EU\"", "id=\"lista-IT\"", "<td>42</td>", "<td>7</td>", "<td>3</td>", "02/01/2026", "Test IT scheme operator"] {
        assert!(html.contains(expected), "{expected} missing: {html}");
    }
    assert!(!html.contains("Ultimo aggiornamento della lista principale non riuscito"));
    let home = app.get(&admin, "/").await.text().await.unwrap();
    assert!(!home.contains("avviso-liste-di-fiducia"), "all is well: no warning");

    // The Italian list is now signed by the wrong operator: the page and the home say so.
    server.put("/TSL-IT.xml", f.national.signed(&f.eu.key, f.eu.cert_der()));
    let out = run_with_env(&env, &["trust", "update"]).await;
    assert_eq!(out.status.code(), Some(1));
    let html = app.get(&admin, "/liste-di-fiducia").await.text().await.unwrap();
    assert!(html.contains("signature value does not verify") && html.contains("resta in uso l'ultima lista valida"), "{html}");
    let home = app.get(&admin, "/").await.text().await.unwrap();
    assert!(home.contains("avviso-liste-di-fiducia") && home.contains("aggiornamento non riuscito per IT"), "{home}");

    let operatore = app.login("operatore").await;
    assert_eq!(app.get(&operatore, "/liste-di-fiducia").await.status(), StatusCode::FORBIDDEN);
}

/// The dashboard's desk and API judge documents with the stored lists too, as the intake
/// does: one classifier in the service, loaded at its start.
#[tokio::test]
async fn the_services_desk_judges_uploaded_documents_with_the_stored_lists() {
    use base64::Engine as _;
    let Published { f, s, _dir, .. } = published().await;
    let out = s.app.run(&["trust", "update"]).await;
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let out = s.app.run(&["token", "add", "suap", "--scope", "write"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let _service = s.app.serve(&[("SIGILLO_LISTEN", listen.as_str())]);
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    sigillo_e2e::wait_for(30, "the service answers", || {
        let (client, url) = (client.clone(), format!("{base}/healthz"));
        async move { client.get(url).send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;

    // Judged now (after June 2026): the granted CA vouches, the one withdrawn in June does not.
    let mut verdicts = Vec::new();
    for (key, ca) in [("k-granted", &f.granted), ("k-withdrawn", &f.withdrawn_after)] {
        let doc = signed_doc(ca, "Segnalazione certificata di inizio attività\n");
        let body = serde_json::json!({
            "direction": "arrivo",
            "channel": "peo",
            "subject": "SCIA",
            "correspondents": [{"name": "Mario Rossi", "address": "mario.rossi@example.it"}],
            "documents": [{"name": "scia.pdf.p7m", "media_type": "application/pkcs7-mime",
                           "content": base64::engine::general_purpose::STANDARD.encode(&doc)}],
        });
        let res = client
            .post(format!("{base}/api/v1/registrations"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .send()
            .await
            .unwrap();
        let status = res.status();
        let answer: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let id = answer["id"].as_i64().unwrap();
        let (verdict, service): (String, Option<String>) = sqlx::query_as(
            "select signature_report->>'verdict', signature_report->'signers'->0->'trust_service'->>'name' \
             from documents where registration_id = $1",
        )
        .bind(id)
        .fetch_one(&s.app.db.pool)
        .await
        .unwrap();
        verdicts.push((verdict, service));
    }
    assert_eq!(
        verdicts,
        [("TOTAL_PASSED".to_owned(), Some("Granted CA".to_owned())), ("INDETERMINATE".to_owned(), None)],
        "the desk uses the stored lists, judged at the time of registration"
    );
}
