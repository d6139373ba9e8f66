//! A registration in partenza sent by PEC (issue 17), all real processes: the registration is
//! made through the API of `sigillo serve`, the clerk sends it from its record page to two
//! recipients, the outbox worker submits one PEC per recipient to pec-sim (the local PEC
//! provider), which delivers into Dovecot and sends its receipts back to the comune's box;
//! the intake links them to the rows, and the record page and the home page show the state
//! of each recipient. Plus the refusals (an arrivo registration, an annulled one, a second
//! send to a recipient already reached) against the dashboard's real router.
//!
//! The test Dovecot accepts every user name (static userdb), except the ones its
//! authentication refuses: a name with `!` does not exist there, and LMTP answers
//! `550 5.1.1 User doesn't exist`, so pec-sim issues its errore-consegna (mancata consegna).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use sigillo_e2e::dovecot::{Dovecot, PASSWORD};
use sigillo_e2e::pec_sim::{Provider, pki_init};
use sigillo_e2e::{Instance, run_with_env, stderr, stdout, wait_for};
use sigillo_store::register::{self, Actor, Direction, DocumentRole, NewAnnulment, NewDocument, NewRegistration};
use sigillo_store::staff::{self, Role, Username};

use crate::notify_e2e::{assert_schema_valid, envelopes_for, header, segnatura_of};
use crate::web_common::{csrf_in, location, spawn_app_with_notify};

const COMUNE: &str = "protocollo@pec.comune.test";
const MARIO: &str = "mario.rossi@pec.cittadini.test";
/// A mailbox that does not exist at the recipients' provider.
const NESSUNO: &str = "casella!inesistente@pec.cittadini.test";
const DOMAINS: [&str; 2] = ["pec.cittadini.test", "pec.comune.test"];
const STAFF_PASSWORD: &str = "una-password-lunga-1";
const PDF: &[u8] = b"%PDF-1.4\n% Comunicazione di avvio del procedimento\n%%EOF\n";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn scalar(app: &Instance, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap_or(-1)
}

fn cookie_of(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(name))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no cookie {name}"))
}

/// A browser logged into the running service: its session cookie and CSRF token.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn login(base: &str, username: &str) -> Browser {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let form = client.get(format!("{base}/accedi")).send().await.unwrap();
        let cookie = cookie_of(&form, "sigillo_accesso=");
        let csrf = csrf_in(&form.text().await.unwrap());
        let res = client
            .post(format!("{base}/accedi"))
            .header(COOKIE, cookie)
            .form(&[("csrf", csrf.as_str()), ("username", username), ("password", STAFF_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {username}");
        let cookie = cookie_of(&res, "sigillo_sessione=");
        let home = client.get(format!("{base}/")).header(COOKIE, &cookie).send().await.unwrap();
        let csrf = csrf_in(&home.text().await.unwrap());
        Browser { client, base: base.to_owned(), cookie, csrf }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self.client.get(format!("{}{path}", self.base)).header(COOKIE, &self.cookie).send().await.unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        self.client.post(format!("{}{path}", self.base)).header(COOKIE, &self.cookie).form(&form).send().await.unwrap()
    }
}

/// Registers a document in partenza by PEC through the API (`fields` add to direction and
/// channel) and returns the 201's body.
async fn register_partenza(client: &reqwest::Client, base: &str, token: &str, key: &str, fields: Value) -> Value {
    let mut body = json!({"direction": "partenza", "channel": "pec"});
    body.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    let res = client
        .post(format!("{base}/api/v1/registrations"))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    serde_json::from_slice(&res.bytes().await.unwrap()).unwrap()
}

/// `(recipient, state, delivery, receipts linked)` of the outgoing rows, oldest first.
async fn sends(app: &Instance) -> Vec<(String, String, Option<String>, i64)> {
    sqlx::query_as(
        "select o.recipient, o.state::text, o.delivery::text,
                (select count(*) from outbox_receipts x where x.outbox_id = o.id)
         from outbox o where o.kind = 'partenza' order by o.id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// The `<tr>` of the panel's row for `recipient`.
fn row_of<'a>(page: &'a str, recipient: &str) -> &'a str {
    let at = page.find(&format!("<td class=\"text-break destinatario\">{recipient}</td>")).unwrap_or_else(|| panic!("no row for {recipient}: {page}"));
    let start = page[..at].rfind("<tr").unwrap();
    let end = at + page[at..].find("</tr>").unwrap();
    &page[start..end]
}

#[tokio::test]
async fn an_outgoing_pec_to_two_recipients_gets_each_ones_receipts_and_the_missing_mailbox_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    pki_init(&pki, &DOMAINS).await;
    let dovecot = Dovecot::start().await;
    let provider = Provider::start(&pki, "127.0.0.1:0", &dovecot.lmtp_addr(), &DOMAINS, PASSWORD).await;
    let mut app = Instance::new().await;
    for (k, v) in [
        ("SIGILLO_TRUST_DIR", pki.join("trust").display().to_string()),
        ("SIGILLO_IMAP_URL", dovecot.url()),
        ("SIGILLO_IMAP_USER", COMUNE.to_owned()),
        ("SIGILLO_IMAP_PASSWORD", PASSWORD.to_owned()),
        ("SIGILLO_IMAP_BACKOFF_MAX_SECS", "1".to_owned()),
        ("SIGILLO_IMAP_POLL_SECS", "1".to_owned()),
        ("SIGILLO_SMTP_URL", format!("smtp://{}", provider.smtp)),
        ("SIGILLO_SMTP_USER", COMUNE.to_owned()),
        ("SIGILLO_SMTP_PASSWORD", PASSWORD.to_owned()),
        ("SIGILLO_NOTIFY_FROM", COMUNE.to_owned()),
        ("SIGILLO_NOTIFY_RETRY_SECS", "1".to_owned()),
        ("SIGILLO_ENTE_NAME", "Comune di Prova".to_owned()),
        ("SIGILLO_OFFICE_NAME", "Ufficio Protocollo".to_owned()),
        ("SIGILLO_SEAL_CERT", pki.join("comune/seal-cert.pem").display().to_string()),
        ("SIGILLO_SEAL_KEY", pki.join("comune/seal-key.pem").display().to_string()),
    ] {
        app.env.insert(k.into(), v);
    }
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let phc = sigillo_web::auth::hash_password(STAFF_PASSWORD).unwrap();
    let mut tx = app.db.pool.begin().await.unwrap();
    staff::create_user(&mut tx, &Actor::parse("test").unwrap(), &Username::parse("oper").unwrap(), "Operatore", Role::Operatore, &phc)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let env: BTreeMap<String, String> = app.env.clone();
    let out = run_with_env(&env, &["token", "add", "Gestionale atti", "--scope", "write"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();

    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let _service = app.serve(&[("SIGILLO_LISTEN", listen.as_str())]);
    let client = reqwest::Client::new();
    wait_for(120, "the service to answer", || async { client.get(format!("{base}/accedi")).send().await.is_ok() }).await;

    // A registration in partenza, to Mario and to a mailbox that does not exist.
    let created = register_partenza(
        &client,
        &base,
        &token,
        "avvio-procedimento-1",
        json!({
            "subject": "Comunicazione di avvio del procedimento",
            "correspondents": [
                {"name": "Mario Rossi", "address": MARIO},
                {"name": "Destinatario inesistente", "address": NESSUNO}
            ],
            "documents": [{"name": "avvio.pdf", "media_type": "application/pdf", "content": b64(PDF)}]
        }),
    )
    .await;
    let reg_id = created["id"].as_i64().unwrap();
    // The number as the API writes it, zero-padded.
    assert_eq!(created["protocol"]["number"], "0000001", "{created}");
    let segnatura = created["protocol"]["segnatura"].as_str().unwrap().to_owned();

    // The record page offers the send, prefilled with both addresses.
    let oper = Browser::login(&base, "oper").await;
    let record = format!("/registrazioni/{reg_id}");
    let (status, page) = oper.get(&record).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Invio PEC") && page.contains("id=\"modulo-invio-pec\""), "{page}");
    assert!(page.contains("id=\"nessun-invio\""), "{page}");
    let textarea = page.split("id=\"destinatari\"").nth(1).and_then(|t| t.split("</textarea>").next()).unwrap();
    assert!(textarea.contains(MARIO) && textarea.contains(NESSUNO), "{textarea}");

    let res = oper.post(&format!("{record}/invia-pec"), &[("destinatari", &format!("{MARIO}\n{NESSUNO}\n"))]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    assert!(location(&res).contains("esito=inviata-pec"), "{}", location(&res));
    assert_eq!(scalar(&app, "select count(*) from outbox where kind = 'partenza'").await, 2);

    // Each recipient gets its own receipts: Mario accettazione + avvenuta-consegna, the
    // missing mailbox accettazione + errore-consegna.
    wait_for(90, "both recipients' receipts linked", || async {
        let s = sends(&app).await;
        s.len() == 2 && s.iter().all(|(_, _, _, n)| *n == 2) && s.iter().all(|(_, _, d, _)| d.is_some())
    })
    .await;
    let s = sends(&app).await;
    assert_eq!(s[0], (MARIO.to_owned(), "sent".to_owned(), Some("consegnata".to_owned()), 2), "{s:?}");
    assert_eq!(s[1], (NESSUNO.to_owned(), "sent".to_owned(), Some("errore-consegna".to_owned()), 2), "{s:?}");
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "select o.recipient, x.kind from outbox_receipts x join outbox o on o.id = x.outbox_id order by o.id, x.kind",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        vec![
            (MARIO.to_owned(), "accettazione".to_owned()),
            (MARIO.to_owned(), "avvenuta-consegna".to_owned()),
            (NESSUNO.to_owned(), "accettazione".to_owned()),
            (NESSUNO.to_owned(), "errore-consegna".to_owned()),
        ]
    );

    // Mario's box has the PEC: subject prefixed by the segnatura, the document, and a sealed,
    // schema-valid Segnatura.xml with the comune as Mittente and Mario as Destinatario.
    let delivered = envelopes_for(&dovecot, MARIO, "").await;
    assert_eq!(delivered.len(), 1);
    let envelope = &delivered[0];
    let text = String::from_utf8_lossy(envelope);
    assert!(text.contains(&segnatura) && text.contains("Comunicazione di avvio del procedimento"), "{text}");
    assert!(text.contains("avvio.pdf"), "{text}");
    let xml = segnatura_of(envelope);
    let xml_text = String::from_utf8_lossy(&xml).into_owned();
    let mittente = xml_text.split("<prot:Mittente>").nth(1).and_then(|t| t.split("</prot:Mittente>").next()).unwrap();
    assert!(mittente.contains("<prot:Amministrazione>") && mittente.contains(COMUNE), "{xml_text}");
    let destinatario = xml_text.split("<prot:Destinatario ").nth(1).and_then(|t| t.split("</prot:Destinatario>").next()).unwrap();
    assert!(destinatario.contains(MARIO), "{xml_text}");
    assert!(xml_text.contains("<prot:NumeroRegistrazione>0000001</prot:NumeroRegistrazione>"), "{xml_text}");
    assert!(xml_text.contains("<ds:Signature"), "sealed: {xml_text}");
    assert_schema_valid(&xml);

    // The receipts took no number: one registration, number 1, the counter at 1; the four
    // receipts are stored messages decided `receipt`.
    assert_eq!(scalar(&app, "select count(*) from registrations").await, 1);
    assert_eq!(scalar(&app, &format!("select number::bigint from registrations where id = {reg_id}")).await, 1);
    assert_eq!(scalar(&app, "select coalesce(max(last_number), 0)::bigint from register_counters").await, 1);
    assert_eq!(scalar(&app, "select count(*) from inbound_messages where state = 'receipt'").await, 4);
    assert_eq!(scalar(&app, "select count(*) from audit_log where action = 'registration.send_pec'").await, 1);

    // The record page: per recipient its state and the receipts, each downloadable.
    let (_, page) = oper.get(&record).await;
    let mario_row = row_of(&page, MARIO);
    assert!(mario_row.contains(">consegnato<"), "{mario_row}");
    assert!(mario_row.contains("Ricevuta di accettazione") && mario_row.contains("Ricevuta di avvenuta consegna"), "{mario_row}");
    let nessuno_row = row_of(&page, NESSUNO);
    assert!(nessuno_row.contains(">mancata consegna<"), "{nessuno_row}");
    assert!(nessuno_row.contains("Avviso di mancata consegna"), "{nessuno_row}");
    let links: Vec<String> = page
        .split("class=\"ricevuta-gestore\" href=\"")
        .skip(1)
        .map(|t| t.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(links.len(), 4, "{page}");
    let mut downloaded = Vec::new();
    for link in &links {
        let (status, eml) = oper.get(link).await;
        assert_eq!(status, StatusCode::OK, "{link}");
        downloaded.push(header(eml.as_bytes(), "X-Ricevuta").unwrap_or_default());
    }
    downloaded.sort();
    assert_eq!(downloaded, ["accettazione", "accettazione", "avvenuta-consegna", "errore-consegna"]);

    // The home page lists the failed send, not the delivered one.
    let (_, home) = oper.get("/").await;
    let card = home.split("id=\"invii-pec-falliti\"").nth(1).and_then(|t| t.split("</div></div></div></div>").next()).unwrap();
    assert!(card.contains("id=\"conteggio-invii-falliti\">1<"), "{card}");
    assert!(card.contains(&format!("href=\"/registrazioni/{reg_id}#invio-")) && card.contains(NESSUNO), "{card}");
    assert!(card.contains("mancata consegna") && !card.contains(MARIO), "{card}");

    // Mario was reached: sending to him again is refused; the missing mailbox failed, so it
    // may be sent to again (it leaves the home page's list while queued).
    let res = oper.post(&format!("{record}/invia-pec"), &[("destinatari", MARIO)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("già stata inviata"), "{body}");
    // Nor through the outbox's "send again" of his delivered row.
    let mario_row: i64 = sqlx::query_scalar("select id from outbox where kind = 'partenza' and recipient = $1")
        .bind(MARIO)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let res = oper.post(&format!("/invii/{mario_row}/reinvia"), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("non è fallito"));
    let res = oper.post(&format!("{record}/invia-pec"), &[("destinatari", NESSUNO)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(scalar(&app, "select count(*) from outbox where kind = 'partenza'").await, 3);
    assert_eq!(scalar(&app, "select count(*) from registrations").await, 1);

    one_message_to_both(&app, &dovecot, &client, &base, &token, &oper).await;
}

/// The second way of sending: one message to both recipients. One SMTP transaction, both in
/// To and in Segnatura.xml; one accettazione shown for both, and each recipient's own
/// consegna or mancata consegna on its own row.
async fn one_message_to_both(app: &Instance, dovecot: &Dovecot, client: &reqwest::Client, base: &str, token: &str, oper: &Browser) {
    let created = register_partenza(
        client,
        base,
        token,
        "avvio-procedimento-2",
        json!({
            "subject": "Convocazione della conferenza di servizi",
            "correspondents": [{"name": "Mario Rossi", "address": MARIO}],
            "documents": [{"name": "convocazione.pdf", "media_type": "application/pdf", "content": b64(PDF)}]
        }),
    )
    .await;
    let reg_id = created["id"].as_i64().unwrap();
    let record = format!("/registrazioni/{reg_id}");
    let (_, page) = oper.get(&record).await;
    assert!(page.contains("id=\"modalita-unico\" value=\"unico\""), "{page}");

    // An unknown mode is refused and queues nothing.
    let before = scalar(app, "select count(*) from outbox").await;
    let res = oper.post(&format!("{record}/invia-pec"), &[("destinatari", MARIO), ("modalita", "tutti")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("modalità di invio"));
    assert_eq!(scalar(app, "select count(*) from outbox").await, before);

    let mario_before = dovecot.bodies(MARIO, "INBOX").await.len();
    let res = oper
        .post(&format!("{record}/invia-pec"), &[("destinatari", &format!("{MARIO}\n{NESSUNO}")), ("modalita", "unico")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let q = format!(
        "select o.recipient, o.state::text, o.delivery::text, (o.message_id is not null)::int::int8
         from outbox o where o.registration_id = {reg_id} order by o.id"
    );
    let rows = || async {
        sqlx::query_as::<_, (String, String, Option<String>, i64)>(sqlx::AssertSqlSafe(q.clone())).fetch_all(&app.db.pool).await.unwrap()
    };
    wait_for(90, "one message's receipts linked to both recipients", || async {
        let r = rows().await;
        r.len() == 2 && r.iter().all(|(_, _, d, _)| matches!(d.as_deref(), Some("consegnata" | "errore-consegna")))
    })
    .await;
    assert_eq!(
        rows().await,
        vec![
            (MARIO.to_owned(), "sent".to_owned(), Some("consegnata".to_owned()), 1),
            (NESSUNO.to_owned(), "sent".to_owned(), Some("errore-consegna".to_owned()), 0),
        ],
        "one message (one Message-ID), a delivery state each"
    );
    // One accettazione for the message, one avvenuta-consegna, one errore-consegna.
    let linked = format!("select count(*) from outbox_receipts x join outbox o on o.id = x.outbox_id where o.registration_id = {reg_id}");
    wait_for(30, "the three receipts linked", || async { scalar(app, &linked).await == 3 }).await;
    assert_eq!(
        scalar(app, &format!("select count(*) from outbox_receipts x join outbox o on o.id = x.outbox_id where o.registration_id = {reg_id} and x.kind = 'accettazione'")).await,
        1,
        "one accettazione for the one message"
    );

    // Mario's copy names both recipients, in To and in the sealed Segnatura.xml.
    assert_eq!(dovecot.bodies(MARIO, "INBOX").await.len(), mario_before + 1);
    let delivered = envelopes_for(dovecot, MARIO, "Convocazione della conferenza").await;
    assert_eq!(delivered.len(), 1);
    let envelope = &delivered[0];
    let to = header(envelope, "To").unwrap_or_default();
    assert!(to.contains(MARIO) && to.contains(NESSUNO), "{to}");
    let xml = String::from_utf8(segnatura_of(envelope)).unwrap();
    assert_eq!(xml.matches("<prot:Destinatario ").count(), 2, "{xml}");
    assert!(xml.contains(MARIO) && xml.contains(NESSUNO), "{xml}");
    assert_schema_valid(xml.as_bytes());

    // The record page: both rows say it was one message; the accettazione shows on both.
    let (_, page) = oper.get(&record).await;
    let mario_row = row_of(&page, MARIO);
    assert!(mario_row.contains(">consegnato<") && mario_row.contains("messaggio unico a 2 destinatari"), "{mario_row}");
    assert!(mario_row.contains("Ricevuta di accettazione") && mario_row.contains("Ricevuta di avvenuta consegna"), "{mario_row}");
    let nessuno_row = row_of(&page, NESSUNO);
    assert!(nessuno_row.contains(">mancata consegna<") && nessuno_row.contains("messaggio unico a 2 destinatari"), "{nessuno_row}");
    assert!(nessuno_row.contains("Ricevuta di accettazione") && nessuno_row.contains("Avviso di mancata consegna"), "{nessuno_row}");
    assert!(!nessuno_row.contains("avvenuta consegna"), "{nessuno_row}");
    assert_eq!(scalar(app, &format!("select count(*) from audit_log where action = 'registration.send_pec' and object_id = '{reg_id}' and (details->>'one_message')::boolean")).await, 1);
}

/// Sending is refused, in Italian, for a registration in arrivo and for an annulled one; and
/// a person who may only read is refused too. Nothing is queued.
#[tokio::test]
async fn sending_an_arrivo_or_annulled_registration_by_pec_is_refused() {
    let (app, _pki) = spawn_app_with_notify().await;
    let sha = app.blobs.put(PDF).unwrap();
    let mut ids = Vec::new();
    for (direction, subject) in [(Direction::Incoming, "Istanza ricevuta"), (Direction::Outgoing, "Lettera poi annullata"), (Direction::Outgoing, "Lettera")] {
        let new = NewRegistration {
            direction,
            correspondent_name: Some("Mario Rossi".into()),
            correspondent_address: Some("mario.rossi@pec.example.it".into()),
            subject: subject.into(),
            sender_protocol_number: None,
            sender_protocol_date: None,
            received_at: None,
            inbound_message_id: None,
            documents: vec![NewDocument {
                name: "lettera.pdf".into(),
                media_type: "application/pdf".into(),
                size_bytes: PDF.len() as i64,
                sha256: sha,
                role: DocumentRole::Primary,
                signature_report: None,
            }],
        };
        let mut tx = app.db.pool.begin().await.unwrap();
        let r = register::register(&mut tx, &app.register, &Actor::parse("test").unwrap(), &new, None).await.unwrap();
        tx.commit().await.unwrap();
        ids.push(r.id);
    }
    let (arrivo, annulled, partenza) = (ids[0], ids[1], ids[2]);
    let mut tx = app.db.pool.begin().await.unwrap();
    register::annul(
        &mut tx,
        annulled,
        &Actor::parse("responsabile").unwrap(),
        &NewAnnulment { reason: "Errore materiale".into(), authorising_act: "Provvedimento n. 1".into() },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.add_user("oper", Role::Operatore).await;
    app.add_user("rev", Role::Revisore).await;
    let oper = app.login("oper").await;
    let rev = app.login("rev").await;
    let to = [("destinatari", "mario.rossi@pec.example.it")];

    // The arrivo record has no panel; posting anyway is refused with the reason.
    let page = app.get(&oper, &format!("/registrazioni/{arrivo}")).await.text().await.unwrap();
    assert!(!page.contains("modulo-invio-pec"), "{page}");
    let res = app.post(&oper, &format!("/registrazioni/{arrivo}/invia-pec"), &to).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("solo una registrazione in partenza può essere inviata via PEC: questa è in arrivo"), "{body}");

    // The annulled one shows why there is no form, and is refused.
    let page = app.get(&oper, &format!("/registrazioni/{annulled}")).await.text().await.unwrap();
    assert!(page.contains("Invio PEC") && !page.contains("modulo-invio-pec"), "{page}");
    let res = app.post(&oper, &format!("/registrazioni/{annulled}/invia-pec"), &to).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("la registrazione è annullata: non può essere inviata"), "{body}");

    // A reader may not send; a bad address is refused with its reason.
    let res = app.post(&rev, &format!("/registrazioni/{partenza}/invia-pec"), &to).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.post(&oper, &format!("/registrazioni/{partenza}/invia-pec"), &[("destinatari", "non-una-pec")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("non è un indirizzo PEC valido"));
    let queued: i64 = sqlx::query_scalar("select count(*) from outbox").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(queued, 0, "nothing queued by a refused send");

    // The partenza one is accepted (the control: the refusals above are about the record).
    let res = app.post(&oper, &format!("/registrazioni/{partenza}/invia-pec"), &to).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let queued: i64 = sqlx::query_scalar("select count(*) from outbox where kind = 'partenza' and state = 'pending'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(queued, 1);
}
