//! The commands that need the configuration and the database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sigillo_store::audit::Verification;
use sigillo_store::closing;
use sigillo_store::export::{Format, Period};
use sigillo_store::register::{Actor, Register};
use sigillo_protocol::trust::SharedChecker;
use sigillo_protocol::{Outcome, Pipeline};
use sigillo_pec::Checker;
use sigillo_store::inbound::{MessageState, Origin};
use sigillo_store::{PgPool, blob::BlobStore};
use sha2::Digest;

use crate::config::{self, Config};

/// Reads the configuration; an unknown `SIGILLO_*` variable is a warning, not an error.
pub(crate) fn load_config() -> anyhow::Result<Config> {
    let (config, unknown) = config::from_vars(std::env::vars())?;
    for var in unknown {
        tracing::warn!("unknown variable {var} ignored (a typo?): see .env.sample for the known ones");
    }
    Ok(config)
}

pub(crate) async fn open(config: &Config) -> anyhow::Result<(PgPool, Register)> {
    let pool = sigillo_store::connect(config.database_url.expose_secret(), config.db_max_connections)
        .await
        .context("cannot connect to the database (SIGILLO_DATABASE_URL)")?;
    let mut conn = pool.acquire().await?;
    let register = Register::ensure(
        &mut conn,
        &config.ipa_code,
        &config.aoo_code,
        &config.register_code,
        config.timezone,
    )
    .await
    .context("cannot open the register (has `sigillo migrate` been run?)")?;
    drop(conn);
    Ok((pool, register))
}

pub async fn migrate() -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let pool = sigillo_store::connect(config.database_url.expose_secret(), 2)
        .await
        .context("cannot connect to the database (SIGILLO_DATABASE_URL)")?;
    sigillo_store::migrate(&pool).await?;
    let (_, register) = open(&config).await?;
    BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;
    println!(
        "migrations applied; register {}|{}|{} ready",
        register.ipa_code, register.aoo_code, register.code
    );
    Ok(ExitCode::SUCCESS)
}

/// What `register export --format` asks for: the data (CSV, JSON) or the printable PDF/A.
#[derive(Debug, Clone, Copy)]
pub enum ExportAs {
    Data(Format),
    Pdf,
}

pub async fn export(period: Period, format: ExportAs, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, register) = open(&config).await?;
    let mut conn = pool.acquire().await?;
    let export = sigillo_store::export::collect(&mut conn, &register, period).await?;
    // A closed day is what was stored when it was closed, never a new rendering.
    let stored = match period {
        Period::Day(day) => {
            let blobs = BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;
            let kind = match format {
                ExportAs::Data(Format::Json) => closing::Stored::Json,
                ExportAs::Data(Format::Csv) => closing::Stored::Csv,
                ExportAs::Pdf => closing::Stored::Pdf,
            };
            closing::stored(&mut conn, &blobs, &register, day, kind).await?
        }
        Period::Year(_) => None,
    };
    let closed = stored.is_some();
    let bytes = match (stored, format) {
        (Some(bytes), _) => bytes,
        (None, ExportAs::Data(format)) => export.render(format)?,
        (None, ExportAs::Pdf) => sigillo_report_pdf::render(&export, register.timezone)?,
    };
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    match &output {
        Some(path) => write_atomically(path, &bytes)?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes).and_then(|()| out.flush()).context("cannot write to standard output")?;
        }
    }
    let range = match (export.first_number, export.last_number) {
        (Some(a), Some(b)) => format!(" ({a}-{b})"),
        _ => String::new(),
    };
    eprintln!(
        "export {}{}: {} registrations{range}, {} annulments, sha256 {sha}",
        export.period,
        if closed { " (closed day, stored copy)" } else { "" },
        export.count,
        export.annulments.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The PDF renderer the closing uses (the store does not depend on the PDF crate).
pub(crate) fn pdf_renderer(tz: chrono_tz::Tz) -> impl Fn(&sigillo_store::export::RegisterExport) -> Result<Vec<u8>, String> {
    move |e| sigillo_report_pdf::render(e, tz).map_err(|e| e.to_string())
}

/// `register close [--date D]`: one line per day closed (or found closed), with its hashes.
pub async fn close(date: Option<chrono::NaiveDate>) -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, register) = open(&config).await?;
    let blobs = BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;
    let mut conn = pool.acquire().await?;
    let now = chrono::Utc::now();
    let render = pdf_renderer(register.timezone);
    let cli = Actor::parse("cli")?;
    let line = |verb: &str, c: &closing::ClosedDay| {
        format!(
            "{} {verb}: {} registrations, json sha256 {}, csv sha256 {}, pdf sha256 {}",
            c.day,
            c.registrations,
            c.json_sha256.to_hex(),
            c.csv_sha256.to_hex(),
            c.pdf_sha256.to_hex()
        )
    };
    match date {
        Some(day) => match closing::close_day(&mut conn, &blobs, &register, day, now, &cli, &render).await? {
            closing::Closing::Closed(c) => println!("{}", line("closed", &c)),
            closing::Closing::AlreadyClosed(c) => println!("{}", line("already closed", &c)),
        },
        None => {
            let closed = closing::close_due_days(&mut conn, &blobs, &register, now, &cli, &render).await?;
            for c in &closed {
                println!("{}", line("closed", c));
            }
            eprintln!("{} day(s) closed", closed.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The service's closer: shortly after each midnight (and at start-up), closes the past days
/// not yet closed. `now` comes from the caller's clock; errors are logged and retried at the
/// next round, never fatal to the service.
async fn closer(pool: PgPool, blobs: BlobStore, register: Register, mut stop: tokio::sync::watch::Receiver<bool>) {
    let render = pdf_renderer(register.timezone);
    // The service's own acts are `web` in the audit trail ("Sistema (servizio)").
    let Ok(actor) = Actor::parse("web") else { return };
    loop {
        match pool.acquire().await {
            Ok(mut conn) => match closing::close_due_days(&mut conn, &blobs, &register, chrono::Utc::now(), &actor, &render).await {
                Ok(days) => {
                    for d in days {
                        tracing::info!(day = %d.day, registrations = d.registrations, "registro giornaliero closed");
                    }
                }
                Err(e) => tracing::warn!("closing the past days failed (retried later): {e}"),
            },
            Err(e) => tracing::warn!("closing the past days: no database connection (retried later): {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("export")));
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub async fn audit_verify() -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, _) = open(&config).await?;
    let mut conn = pool.acquire().await?;
    match sigillo_store::audit::verify(&mut conn).await? {
        Verification::Intact { entries, head_hash } => {
            println!("audit trail intact: {entries} entries, head {head_hash}");
            Ok(ExitCode::SUCCESS)
        }
        Verification::Broken { entry_id, reason } => {
            println!("audit trail broken at entry {entry_id}: {reason}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The classifier with the configured trust anchors. Without a trust directory no document
/// signature could be trusted, so every signed attachment would go to review: refused here.
fn checker(config: &Config) -> anyhow::Result<Checker> {
    let Some(dir) = &config.trust_dir else {
        anyhow::bail!(
            "SIGILLO_TRUST_DIR is missing: set it to the directory with signatures/ (the CAs of \
             document signatures) and optionally pec/ (PEC CAs beside the shipped AgID CA1)"
        );
    };
    sigillo_protocol::trust::checker(dir, std::time::SystemTime::now()).map_err(|e| anyhow::anyhow!("SIGILLO_TRUST_DIR: {e}"))
}

/// The online revocation source when `SIGILLO_REVOCATION=online`, else `None`. The
/// classifier runs on blocking threads of this runtime; the source drives its requests on
/// it and caches answers in the shared database.
fn revocation_source(config: &Config, pool: &sigillo_store::PgPool) -> anyhow::Result<Option<sigillo_pec::SharedSource>> {
    if config.revocation != sigillo_revocation::Mode::Online {
        return Ok(None);
    }
    let source = sigillo_revocation::OnlineRevocation::new(
        tokio::runtime::Handle::current(),
        Some(pool.clone()),
        sigillo_revocation::Limits::default(),
    )
    .map_err(|e| anyhow::anyhow!("SIGILLO_REVOCATION=online: {e}"))?;
    Ok(Some(std::sync::Arc::new(source)))
}

/// The service's classifier: the trust directory, online revocation when configured, and the
/// trusted lists stored by the last refresh (verified again, without the network).
async fn shared_checker(config: &Config, pool: &PgPool) -> anyhow::Result<SharedChecker> {
    let mut checker = checker(config)?;
    checker.set_revocation(revocation_source(config, pool)?);
    tracing::info!("revocation of signing certificates: {}", config.revocation.as_str());
    let shared = SharedChecker::new(checker);
    if let Some(c) = &config.trusted_list {
        let source = crate::list_service::Source::from_config(c)?;
        crate::list_service::load_into(pool, &source.signers, &shared).await;
    }
    Ok(shared)
}

/// The intake's pipeline; `trust`: the service's classifier, shared with the dashboard
/// (`None`: one of its own).
async fn pipeline(config: &Config, wake: Option<std::sync::Arc<tokio::sync::Notify>>, trust: Option<SharedChecker>) -> anyhow::Result<Pipeline> {
    let (pool, register) = open(config).await?;
    let trust = match trust {
        Some(t) => t,
        None => shared_checker(config, &pool).await?,
    };
    let blobs = BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;
    let pipeline =
        Pipeline::new(pool.clone(), blobs, register.clone(), trust, config.intake_max_attempts).with_policy(config.policy);
    Ok(match outbox_config(config, &register)? {
        Some(outbox) => pipeline.with_outbox(outbox, wake),
        None => pipeline,
    })
}

/// Who answers citizens, from `SIGILLO_NOTIFY_*`, `SIGILLO_ENTE_NAME`, … and the seal; `None`
/// without `SIGILLO_NOTIFY_FROM` (no receipts, no notices, receipts of providers not linked).
fn outbox_config(config: &Config, register: &Register) -> anyhow::Result<Option<sigillo_notify::outbox::OutboxConfig>> {
    use sigillo_notify::model::{Context as NotifyContext, Ente, Office};
    let Some(n) = &config.notify else { return Ok(None) };
    let seal = match &n.seal {
        None => None,
        Some((cert, key)) => {
            let read = |var: &str, p: &std::path::Path| {
                std::fs::read_to_string(p).with_context(|| format!("{var}: cannot read {}", p.display()))
            };
            // The key's text is wiped from memory once the seal is built.
            let key_pem = SecretString::from(read("SIGILLO_SEAL_KEY", key)?);
            Some(
                sigillo_notify::segnatura::Seal::from_pem(key_pem.expose_secret(), &read("SIGILLO_SEAL_CERT", cert)?)
                    .map_err(|e| anyhow::anyhow!("SIGILLO_SEAL_CERT / SIGILLO_SEAL_KEY: {e}"))?,
            )
        }
    };
    Ok(Some(sigillo_notify::outbox::OutboxConfig {
        ctx: NotifyContext {
            ente: Ente {
                name: n.ente_name.clone(),
                ipa_code: register.ipa_code.to_string(),
                aoo_code: register.aoo_code.to_string(),
                aoo_name: n.aoo_name.clone(),
                register_code: register.code.to_string(),
                timezone: register.timezone,
            },
            office: Office {
                name: n.office_name.clone(),
                email: n.office_email.clone(),
                phone: n.office_phone.clone(),
                hours: n.office_hours.clone(),
            },
            from: n.from.clone(),
        },
        rate_limit: sigillo_notify::outbox::RateLimit { per_hour: n.rate_per_hour },
        seal,
    }))
}

/// One line of `ingest --json` (ARCHITECTURE.md §4), fields in the documented order.
#[derive(serde::Serialize)]
struct IngestLine<'a> {
    file: &'a str,
    decision: Option<sigillo_pec::report::Decision>,
    reasons: &'a [sigillo_pec::report::Reason],
    protocol: Option<ProtocolJson>,
    duplicate: bool,
    state: MessageState,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct ProtocolJson {
    number: i32,
    year: i32,
    register: String,
    date: String,
    segnatura: String,
}

pub async fn ingest(files: Vec<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let config = load_config()?;
    // Answers are queued with the decisions; the worker of `sigillo serve` sends them.
    let pipeline = pipeline(&config, None, None).await?;
    let register = pipeline.register().clone();
    let mut all_ok = true;
    let mut out = std::io::stdout().lock();
    for file in &files {
        let label = file.display().to_string();
        let raw = match std::fs::read(file) {
            Ok(raw) => raw,
            Err(e) => {
                all_ok = false;
                eprintln!("{label}: impossibile leggere il file: {e}");
                continue;
            }
        };
        let outcome = match pipeline.ingest(raw, &label, &Origin::default()).await {
            Ok(o) => o,
            Err(e) => {
                // Nothing was decided: the database or the data directory is not usable.
                all_ok = false;
                eprintln!("{label}: {e}");
                continue;
            }
        };
        if let Some(cause) = &outcome.error {
            all_ok = false;
            eprintln!("{label}: messaggio archiviato ma non elaborato ({} tentativi): {cause}", outcome.attempts);
        }
        let protocol = outcome.protocol.as_ref().map(|p| ProtocolJson {
            number: p.number.get(),
            year: p.year,
            register: register.code.to_string(),
            date: p.registered_at.with_timezone(&register.timezone).format("%Y-%m-%d").to_string(),
            segnatura: p.segnatura.clone(),
        });
        let written = if json {
            let line = IngestLine {
                file: &label,
                decision: outcome.decision,
                reasons: &outcome.reasons,
                protocol,
                duplicate: outcome.duplicate,
                state: outcome.state,
                error: outcome.error.as_deref(),
            };
            writeln!(out, "{}", serde_json::to_string(&line)?)
        } else {
            writeln!(out, "{}", human_outcome(&label, &outcome, protocol.as_ref(), pipeline.max_attempts()))
        };
        written.context("cannot write to standard output")?;
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// One Italian line per message for people.
fn human_outcome(label: &str, o: &Outcome, protocol: Option<&ProtocolJson>, max_attempts: i32) -> String {
    let again = if o.duplicate { " (già elaborato in precedenza)" } else { "" };
    let reasons = o
        .reasons
        .iter()
        .map(|r| format!("{}: {}", serde_json::to_value(r.code).ok().and_then(|c| c.as_str().map(str::to_owned)).unwrap_or_default(), r.detail))
        .collect::<Vec<_>>()
        .join("; ");
    let why = if reasons.is_empty() { String::new() } else { format!(" — {reasons}") };
    match (o.state, protocol) {
        (MessageState::Registered, Some(p)) => {
            format!("{label}: protocollato n. {:07}/{} del {} ({}){again}", p.number, p.year, p.date, p.segnatura)
        }
        (MessageState::Rejected, _) => format!("{label}: respinto{why}{again}"),
        (MessageState::Review, _) => format!("{label}: da esaminare dall'ufficio protocollo{why}{again}"),
        (MessageState::Receipt, _) => format!("{label}: ricevuta PEC{why}{again}"),
        (MessageState::Error, _) if o.quarantined => format!("{label}: messo in quarantena dopo {} tentativi", o.attempts),
        // Nothing retries a file by itself: only another `sigillo ingest`, or the poller when the
        // same message is (or arrives) in a PEC mailbox it reads.
        (MessageState::Error, _) => format!(
            "{label}: in errore (tentativo {} di {max_attempts}); per ritentare, eseguire di nuovo sigillo ingest su questo file \
             (se il messaggio arriva anche nella casella PEC, il servizio lo ritenta da sé)",
            o.attempts
        ),
        (state, _) => format!("{label}: {state:?}{again}"),
    }
}

/// The parts of `sigillo serve` the command line leaves on.
#[derive(Debug, Clone, Copy)]
pub struct ServeParts {
    pub outbox: bool,
}

pub async fn serve(parts: ServeParts) -> anyhow::Result<ExitCode> {
    use axum::{Router, extract::State, http::StatusCode, routing::get};

    let config = load_config()?;
    let (pool, register) = open(&config).await?;
    let blobs = BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    // Registering anyway answers the citizen as the intake does.
    let web_outbox = outbox_config(&config, &register)?;
    // Every minute: cheap (one query when nothing is due), and a day closes within minutes
    // of midnight plus the grace.
    let closer_task = tokio::spawn(closer(pool.clone(), blobs.clone(), register.clone(), stop_rx.clone()));
    let blob_check_task =
        tokio::spawn(crate::blobs::scheduler(pool.clone(), blobs.clone(), config.blob_verify, register.timezone, stop_rx.clone()));
    // One classifier for the intake and the dashboard ("register anyway", the desk's
    // documents), kept in step with the trust directory and the stored trusted lists.
    let trust = match &config.trust_dir {
        Some(dir) => {
            let trust = shared_checker(&config, &pool).await?;
            watch_trust(dir, &trust);
            Some(trust)
        }
        None => None,
    };
    let web = sigillo_web::router(
        sigillo_web::AppState::new(pool.clone(), register, blobs, config.web.clone())
            .with_outbox(web_outbox, Some(wake.clone()))
            .with_trust(trust.clone()),
    );
    let mut worker_task = None;
    match config.notify.as_ref().map(|n| (n, &n.smtp)) {
        None => tracing::info!("answers to citizens off (SIGILLO_NOTIFY_FROM not set)"),
        Some((_, None)) => tracing::info!("outbox worker off (SIGILLO_SMTP_URL not set): answers are queued, not sent"),
        Some(_) if !parts.outbox => tracing::info!("outbox worker off (--no-outbox): answers are queued, not sent"),
        Some((n, Some(smtp))) => {
            let settings = sigillo_notify::worker::WorkerSettings {
                max_attempts: n.max_attempts,
                retry_base: n.retry_base,
                senders: n.senders,
                confirm_window: n.confirm_window,
                ..Default::default()
            };
            let worker = sigillo_notify::worker::Worker::new(pool.clone(), &smtp.server, smtp.credentials.clone(), &n.from, settings)
                .map_err(|e| anyhow::anyhow!("SIGILLO_SMTP_URL: {e}"))?
                .with_wake(wake.clone());
            tracing::info!("outbox worker on: {}:{}", smtp.server.host, smtp.server.port);
            let stop = stop_rx.clone();
            worker_task = Some(tokio::spawn(async move { worker.run(stop).await }));
        }
    }
    let mut pollers = Vec::new();
    let list_source = match &config.trusted_list {
        Some(c) => Some(crate::list_service::Source::from_config(c)?),
        None => {
            tracing::info!(
                "trusted lists off (SIGILLO_TRUSTED_LIST_SIGNERS not set, or SIGILLO_TRUSTED_LIST_URL empty): \
                 document signatures trusted by SIGILLO_TRUST_DIR only"
            );
            None
        }
    };
    if config.mailboxes.is_empty() {
        tracing::info!("IMAP intake off (SIGILLO_IMAP_URL not set)");
        // Still refreshed here: other instances, and the dashboard, use the stored lists.
        if let Some(source) = list_source {
            tokio::spawn(crate::list_service::run(pool.clone(), source, trust.clone()));
        }
    } else {
        let pipeline = pipeline(&config, Some(wake.clone()), trust.clone()).await?;
        if let Some(source) = list_source {
            tokio::spawn(crate::list_service::run(pool.clone(), source, Some(pipeline.checker().clone())));
        }
        for mailbox in &config.mailboxes {
            let cfg = std::sync::Arc::new(mailbox.clone());
            pollers.push(tokio::spawn(sigillo_intake::poller::run(pipeline.clone(), cfg, stop_rx.clone())));
        }
        tracing::info!("IMAP intake on: {} mailbox(es)", config.mailboxes.len());
    }

    // Decided within a second, whatever the database does: a monitor's own timeout (a few
    // seconds) then always sees an answer, and a 503 names the cause.
    async fn health(State(pool): State<PgPool>) -> (StatusCode, String) {
        match sigillo_store::health(&pool, HEALTH_WITHIN).await {
            Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
            Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
        }
    }
    let app = Router::new().route("/healthz", get(health)).with_state(pool).merge(web);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (SIGILLO_LISTEN)", config.listen))?;
    tracing::info!("listening on {}", listener.local_addr()?);
    // The peer address feeds the dashboard's login throttling.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        })
        .await?;
    // The pollers stop between batches: what they committed stays committed, what they had
    // not is read again at the next start.
    for p in pollers {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), p).await;
    }
    // The worker stops between rows; a row whose sending was interrupted waits for the
    // provider's accettazione, and is sent again only without one (see sigillo_notify::worker).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), closer_task).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), blob_check_task).await;
    if let Some(w) = worker_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(90), w).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// How often the trust directory's files are looked at for changes.
const TRUST_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps the intake's trust in step with `SIGILLO_TRUST_DIR` without a restart: its files
/// are looked at every few seconds, and SIGHUP loads it again at once. A directory that does
/// not load leaves the previous trust in use (logged with the file and the cause).
fn watch_trust(dir: &std::path::Path, trust: &SharedChecker) {
    use sigillo_protocol::trust::TrustWatcher;
    let hup = std::sync::Arc::new(tokio::sync::Notify::new());
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut s) => {
            let hup = hup.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    tracing::info!("SIGHUP: loading the trust directory again");
                    hup.notify_one();
                }
            });
        }
        Err(e) => tracing::warn!("SIGHUP not handled ({e}): the trust directory is still looked at every few seconds"),
    }
    tokio::spawn(TrustWatcher::new(dir, trust.clone()).run(TRUST_POLL, hup));
}

/// How long `/healthz` takes at most to answer.
const HEALTH_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
