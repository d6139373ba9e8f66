//! The dashboard's test harness (zero-to-production's `spawn_app`): the real router of
//! `sigillo_web`, served on a real socket on port 0, against a fresh database and data
//! directory; staff accounts and registrations written through the store's own functions.

use std::net::SocketAddr;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sigillo_e2e::TestDb;
use sigillo_e2e::pec_mail::Pki;
use sigillo_store::blob::BlobStore;
use sigillo_store::codes::{AooCode, IpaCode, RegisterCode};
use sigillo_store::register::{self, Actor, Direction, DocumentRole, NewDocument, NewRegistration, Register};
use sigillo_store::staff::{self, Role, Username};

pub const PASSWORD: &str = "una-password-lunga-1";

pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub register: Register,
    pub blobs: BlobStore,
    pub data_dir: tempfile::TempDir,
    /// `SIGILLO_TRUST_DIR` of the dashboard (empty unless made with [`spawn_app_with_pki`]).
    pub trust_dir: tempfile::TempDir,
    /// Never follows redirects: the tests look at them.
    pub client: reqwest::Client,
    /// The comune's PEC address when the app answers citizens ([`spawn_app_with_notify`]):
    /// [`TestApp::ingest`] then runs the intake with `SIGILLO_NOTIFY_FROM` too.
    pub notify_from: Option<String>,
    /// The dashboard's state (its counters: [`sigillo_web::AppState::password_checks`]).
    pub state: sigillo_web::AppState,
}

/// The comune's PEC address of [`spawn_app_with_notify`].
pub const NOTIFY_FROM: &str = "protocollo@pec.comune.test.it";

pub fn static_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/static")
}

pub async fn spawn_app() -> TestApp {
    spawn(None).await
}

/// The dashboard with the test PKI's trust anchors, for messages ingested with
/// [`TestApp::ingest`] (the real `sigillo ingest`, into the same database and data directory).
pub async fn spawn_app_with_pki() -> (TestApp, Pki) {
    let pki = Pki::new();
    let app = spawn(Some(&pki)).await;
    (app, pki)
}

/// As [`spawn_app_with_pki`], answering citizens (`SIGILLO_NOTIFY_FROM` set, no worker): the
/// intake and the dashboard write outbox rows, nothing sends them.
pub async fn spawn_app_with_notify() -> (TestApp, Pki) {
    let pki = Pki::new();
    let app = spawn_with(Some(&pki), true).await;
    (app, pki)
}

/// The dashboard with its configuration changed by `configure` (proxies, https).
pub async fn spawn_app_configured(configure: impl FnOnce(&mut sigillo_web::WebConfig)) -> TestApp {
    spawn_configured(None, false, configure).await
}

async fn spawn(pki: Option<&Pki>) -> TestApp {
    spawn_with(pki, false).await
}

async fn spawn_with(pki: Option<&Pki>, notify: bool) -> TestApp {
    spawn_configured(pki, notify, |_| ()).await
}

async fn spawn_configured(pki: Option<&Pki>, notify: bool, configure: impl FnOnce(&mut sigillo_web::WebConfig)) -> TestApp {
    let trust_dir = tempfile::tempdir().unwrap();
    if let Some(pki) = pki {
        pki.write_trust_dir(trust_dir.path());
    }
    let db = TestDb::new(8).await.expect("test database (is SIGILLO_TEST_DATABASE_URL right?)");
    let mut conn = db.pool.acquire().await.unwrap();
    let register = Register::ensure(
        &mut conn,
        &IpaCode::parse("c_h501").unwrap(),
        &AooCode::parse("A1B2C3D").unwrap(),
        &RegisterCode::parse("PG").unwrap(),
        chrono_tz::Europe::Rome,
    )
    .await
    .unwrap();
    drop(conn);
    let data_dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(data_dir.path()).unwrap();
    let mut config = sigillo_web::WebConfig {
        static_dir: static_dir(),
        secure_cookies: false,
        trusted_proxies: sigillo_web::TrustedProxies::default(),
        trust_dir: Some(trust_dir.path().to_path_buf()),
        policy: sigillo_store::policy::Policy::default(),
    };
    configure(&mut config);
    let outbox = notify.then(|| outbox_config(&register));
    let state = sigillo_web::AppState::new(db.pool.clone(), register.clone(), blobs.clone(), config).with_outbox(outbox, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = sigillo_web::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let notify_from = notify.then(|| NOTIFY_FROM.to_owned());
    TestApp { address: format!("http://127.0.0.1:{port}"), db, register, blobs, data_dir, trust_dir, client, notify_from, state }
}

/// What `sigillo serve` builds from `SIGILLO_NOTIFY_FROM` and `SIGILLO_ENTE_NAME` (no seal).
fn outbox_config(register: &Register) -> sigillo_notify::outbox::OutboxConfig {
    use sigillo_notify::model::{Context, Ente, Office};
    sigillo_notify::outbox::OutboxConfig {
        ctx: Context {
            ente: Ente {
                name: "Comune di Prova".to_owned(),
                ipa_code: register.ipa_code.to_string(),
                aoo_code: register.aoo_code.to_string(),
                aoo_name: "Protocollo generale".to_owned(),
                register_code: register.code.to_string(),
                timezone: register.timezone,
            },
            office: Office { name: "Ufficio Protocollo".to_owned(), email: None, phone: None, hours: None },
            from: NOTIFY_FROM.to_owned(),
        },
        rate_limit: sigillo_notify::outbox::RateLimit::default(),
        seal: None,
    }
}

/// A logged-in browser: its session cookie and the CSRF token of its forms.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// The value of `name="csrf"` in a page.
pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no csrf field in {html}")) + marker.len();
    html[start..start + 64].to_owned()
}

pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn add_user(&self, username: &str, role: Role) {
        let phc = sigillo_web::auth::hash_password(PASSWORD).unwrap();
        let mut tx = self.db.pool.begin().await.unwrap();
        staff::create_user(&mut tx, &Actor::parse("test").unwrap(), &Username::parse(username).unwrap(), "Persona di prova", role, &phc)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    /// Posts the login form as a browser would; returns the response.
    pub async fn try_login(&self, username: &str, password: &str) -> reqwest::Response {
        let form = self.client.get(self.url("/accedi")).send().await.unwrap();
        let cookie = set_cookies(&form).into_iter().find(|c| c.starts_with("sigillo_accesso=")).unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let csrf = csrf_in(&form.text().await.unwrap());
        self.client
            .post(self.url("/accedi"))
            .header(COOKIE, cookie)
            .form(&[("csrf", csrf.as_str()), ("username", username), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, username: &str) -> Session {
        let res = self.try_login(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "login of {username} failed");
        let cookie = set_cookies(&res)
            .into_iter()
            .find(|c| c.starts_with("sigillo_sessione="))
            .expect("session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let home = self.client.get(self.url("/")).header(COOKIE, &cookie).send().await.unwrap();
        assert_eq!(home.status(), StatusCode::OK);
        let csrf = csrf_in(&home.text().await.unwrap());
        Session { cookie, csrf }
    }

    pub async fn get(&self, s: &Session, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).header(COOKIE, &s.cookie).send().await.unwrap()
    }

    /// Posts a form with the session's CSRF token added.
    pub async fn post(&self, s: &Session, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", s.csrf.as_str())];
        form.extend_from_slice(fields);
        self.client.post(self.url(path)).header(COOKIE, &s.cookie).form(&form).send().await.unwrap()
    }

    /// Registers a message with one document whose bytes are stored in the blob store.
    pub async fn seed(&self, subject: &str, sender: &str, doc_name: &str, doc: &[u8]) -> (i64, i64) {
        self.seed_typed(subject, sender, doc_name, "application/pdf", doc).await
    }

    /// [`Self::seed`] with the media type the sender gave the document.
    pub async fn seed_typed(&self, subject: &str, sender: &str, doc_name: &str, media_type: &str, doc: &[u8]) -> (i64, i64) {
        let sha = self.blobs.put(doc).unwrap();
        let new = NewRegistration {
            direction: Direction::Incoming,
            correspondent_name: Some(sender.to_owned()),
            correspondent_address: Some(format!("{}@pec.example.it", sender.to_lowercase().replace(' ', "."))),
            subject: subject.to_owned(),
            sender_protocol_number: None,
            sender_protocol_date: None,
            received_at: None,
            inbound_message_id: None,
            documents: vec![NewDocument {
                name: doc_name.to_owned(),
                media_type: media_type.into(),
                size_bytes: doc.len() as i64,
                sha256: sha,
                role: DocumentRole::Primary,
                signature_report: Some(serde_json::json!({
                    "verdict": "TOTAL_PASSED", "format": "PAdES",
                    "signers": [{"given_name": "Maria", "surname": "Bianchi", "fiscal_code": "BNCMRA80A41H501X",
                                 "issuer": "Test Qualified CA", "signing_time": "2026-11-20T10:00:00Z",
                                 "verdict": "TOTAL_PASSED"}]
                })),
            }],
        };
        let mut tx = self.db.pool.begin().await.unwrap();
        let r = register::register(&mut tx, &self.register, &Actor::parse("intake").unwrap(), &new, None).await.unwrap();
        tx.commit().await.unwrap();
        let doc_id: i64 = sqlx::query_scalar("select id from documents where registration_id = $1")
            .bind(r.id)
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
        (r.id.get(), doc_id)
    }
}

impl TestApp {
    /// Pushes a raw message through `sigillo ingest --json` (the intake's own pipeline) into
    /// this app's database and data directory; returns its JSON line and the message id.
    pub async fn ingest(&self, name: &str, raw: &[u8]) -> (serde_json::Value, i64) {
        let file = self.data_dir.path().join(name);
        std::fs::write(&file, raw).unwrap();
        let mut env = std::collections::BTreeMap::from([
            ("SIGILLO_DATABASE_URL".to_owned(), self.db.url.clone()),
            ("SIGILLO_DATA_DIR".to_owned(), self.data_dir.path().display().to_string()),
            ("SIGILLO_IPA_CODE".to_owned(), "c_h501".to_owned()),
            ("SIGILLO_AOO_CODE".to_owned(), "A1B2C3D".to_owned()),
            ("SIGILLO_TRUST_DIR".to_owned(), self.trust_dir.path().display().to_string()),
            ("SIGILLO_LOG".to_owned(), "warn".to_owned()),
        ]);
        if let Some(from) = &self.notify_from {
            env.insert("SIGILLO_NOTIFY_FROM".to_owned(), from.clone());
            env.insert("SIGILLO_ENTE_NAME".to_owned(), "Comune di Prova".to_owned());
        }
        let out = sigillo_e2e::run_with_env(&env, &["ingest", "--json", &file.display().to_string()]).await;
        assert!(out.status.success(), "ingest failed: {}", sigillo_e2e::stderr(&out));
        let line: serde_json::Value = serde_json::from_str(sigillo_e2e::stdout(&out).trim()).unwrap();
        use sha2::Digest;
        let id: i64 = sqlx::query_scalar("select id from inbound_messages where raw_sha256 = $1")
            .bind(sha2::Sha256::digest(raw).to_vec())
            .fetch_one(&self.db.pool)
            .await
            .unwrap();
        (line, id)
    }
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get(LOCATION).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}
