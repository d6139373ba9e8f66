//! The outbox worker: sends pending rows over SMTP, retries with backoff, gives up after a
//! number of attempts (the row is then `failed`, shown in the dashboard and re-sendable).
//!
//! Each row is claimed and marked `sending` in one committed statement (`FOR UPDATE SKIP
//! LOCKED` inside it), before the SMTP transaction starts; the outcome is recorded after it.
//! Two workers (two `sigillo serve` processes) never send the same row at the same time.
//!
//! Delivery is **once**, confirmed by the provider when in doubt. The window that used to
//! send a receipt twice: the SMTP server has accepted the message (`250` after DATA) but the
//! worker dies, or the database goes away, before `sent` is recorded. The row is then left
//! `sending`, and is not sent again while its confirmation window
//! ([`WorkerSettings::confirm_window`], `SIGILLO_NOTIFY_CONFIRM_SECS`) runs: a PEC provider
//! answers every accepted message with an accettazione that names our Message-ID, the intake
//! links it to the row, and that marks it `sent` (`sigillo_store::outbox::link_receipt`).
//! A row still `sending` when the window is over had no accettazione: it was most likely
//! never accepted (the crash came before the end of DATA), and is sent again.
//!
//! The trade-off is in the length of the window. Too short, and an accettazione that is
//! merely late (the intake stopped, the IMAP box unreachable, the provider slow) no longer
//! prevents a second copy; too long, and a receipt whose send really was cut short reaches
//! the citizen that much later. Ten minutes by default: a provider issues the accettazione
//! within seconds, and the intake reads it within its IDLE latency. A second copy can still
//! happen when the accettazione does not come back within the window (intake down for
//! longer); it is then the same bytes with the same Message-ID, so the provider and the
//! citizen see a copy of the same message.

use std::sync::Arc;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use sigillo_store::PgPool;
use sigillo_store::outbox as rows;
use tokio::sync::{Notify, watch};

use crate::Error;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte (port 465).
    Tls,
    /// `smtp://` to a remote host: STARTTLS, required before credentials or mail (port 587).
    StartTls,
    /// `smtp://` to 127.0.0.1, ::1 or localhost: no TLS (a local relay, pec-sim in tests).
    Plain,
}

/// The SMTP server of `SIGILLO_SMTP_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl SmtpServer {
    /// Parses `smtps://host[:port]` (default 465) or `smtp://host[:port]` (default 587,
    /// STARTTLS required; plain only towards a loopback host).
    pub fn parse(url: &str) -> Result<SmtpServer, String> {
        let (implicit_tls, rest) = if let Some(r) = url.strip_prefix("smtps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("smtp://") {
            (false, r)
        } else {
            return Err(format!("{url:?} must start with smtps:// or smtp://"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return Err(format!("{url:?}: expected smtps://host[:port] with no user, path or query"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{url:?}: {p:?} is not a port"))?;
                (h, port)
            }
            _ => (rest, if implicit_tls { 465 } else { 587 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let security = match (implicit_tls, is_loopback(host)) {
            (true, _) => Security::Tls,
            (false, true) => Security::Plain,
            (false, false) => Security::StartTls,
        };
        Ok(SmtpServer { host: host.to_owned(), port, security })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Retry policy and timing of the worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Attempts after which a row is `failed` (`SIGILLO_NOTIFY_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Delay before the first retry, doubled at each further attempt, with jitter.
    pub retry_base: Duration,
    /// Longest delay between two attempts.
    pub retry_max: Duration,
    /// Longest sleep between two passes when nothing wakes the worker.
    pub idle_poll: Duration,
    /// Time limit of each SMTP command.
    pub smtp_timeout: Duration,
    /// Rows sent at the same time, each on its own SMTP connection. One send is mostly
    /// waiting (network round trips, the provider signing and delivering), so a few in
    /// parallel multiply the rate; `FOR UPDATE SKIP LOCKED` gives each its own rows.
    pub senders: usize,
    /// How long a send interrupted by a crash waits for the provider's accettazione before
    /// it is sent again (see the module's documentation). Longer than one send can last.
    pub confirm_window: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            max_attempts: 8,
            retry_base: Duration::from_secs(60),
            retry_max: Duration::from_secs(3600),
            idle_poll: Duration::from_secs(30),
            smtp_timeout: Duration::from_secs(60),
            senders: 4,
            confirm_window: Duration::from_secs(600),
        }
    }
}

/// The delay before attempt `failures + 1`: `base · 2^(failures-1)`, capped at `max`, times
/// `jitter` (taken in [0.5, 1]) so that rows failed together are not retried together.
pub fn backoff(failures: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let raw = base.saturating_mul(1u32 << exp).min(max);
    raw.mul_f64(jitter.clamp(0.5, 1.0))
}

fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    0.5 + (h.finish() % 1_000_000) as f64 / 2_000_000.0
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: u32,
    /// Failed attempts that will be retried.
    pub retried: u32,
    /// Rows given up on (now `failed`).
    pub failed: u32,
}

/// The outbox worker.
pub struct Worker {
    pool: PgPool,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Address,
    settings: WorkerSettings,
    wake: Arc<Notify>,
}

impl Worker {
    /// `from` is the envelope sender (MAIL FROM), the comune's PEC address.
    pub fn new(
        pool: PgPool,
        server: &SmtpServer,
        credentials: Option<(String, SecretString)>,
        from: &str,
        settings: WorkerSettings,
    ) -> Result<Worker, Error> {
        let from: Address = from.parse().map_err(|e| Error::Invalid { field: "SIGILLO_NOTIFY_FROM", cause: format!("{e}") })?;
        let tls = |host: &str| TlsParameters::new(host.to_owned()).map_err(|e| Error::Smtp(format!("TLS: {e}")));
        let security = match server.security {
            Security::Tls => Tls::Wrapper(tls(&server.host)?),
            Security::StartTls => Tls::Required(tls(&server.host)?),
            Security::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.clone())
            .port(server.port)
            .tls(security)
            .timeout(Some(settings.smtp_timeout));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password.expose_secret().to_owned()));
        }
        Ok(Worker { pool, transport: builder.build(), from, settings, wake: Arc::new(Notify::new()) })
    }

    /// Shares a wake-up handle (the one the intake notifies after committing a row).
    pub fn with_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// The handle that wakes the worker: `notify_one()` after committing new rows.
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Sends every row that is due now, one transaction per row. Returns when none is left
    /// (rows other workers hold are skipped, not waited for).
    pub async fn run_once(&self) -> Result<Pass, Error> {
        let mut pass = Pass::default();
        loop {
            // No connection is held during the SMTP transaction: the claim is committed.
            let claimed = {
                let mut conn = self.pool.acquire().await.map_err(sigillo_store::Error::from)?;
                rows::claim_due(&mut conn, self.settings.confirm_window).await?
            };
            let Some(row) = claimed else { return Ok(pass) };
            // One wake-up may stand for several new rows: pass it on, so that an idle sender
            // looks for the next one while this one sends (a spare wake-up costs one query).
            self.wake.notify_one();
            if row.in_doubt {
                tracing::warn!(
                    outbox_id = %row.id,
                    window = ?self.settings.confirm_window,
                    "an interrupted send got no accettazione from the provider within the window: sending it again"
                );
            }
            let outcome = self.send(&row).await;
            let mut conn = self.pool.acquire().await.map_err(sigillo_store::Error::from)?;
            match outcome {
                Ok(()) => {
                    if rows::mark_sent(&mut conn, row.id, row.attempt).await? {
                        tracing::info!(outbox_id = %row.id, "message sent");
                    } else {
                        tracing::debug!(outbox_id = %row.id, "message sent; the row was already confirmed by a receipt");
                    }
                    pass.sent += 1;
                }
                Err(failure) => {
                    let failures = u32::try_from(row.attempt).unwrap_or(1).max(1);
                    let give_up = failure.permanent || failures >= self.settings.max_attempts;
                    let delay = backoff(failures, self.settings.retry_base, self.settings.retry_max, jitter());
                    if !rows::mark_attempt_failed(&mut conn, row.id, row.attempt, &failure.text, delay, give_up).await? {
                        // The row moved on meanwhile: a receipt of the provider proved it accepted
                        // the message after all, or the window ran out and another claim took it.
                        tracing::info!(outbox_id = %row.id, "send reported an error, but the row has moved on (confirmed by a receipt or claimed again)");
                        continue;
                    }
                    // The summary only: an SMTP reply quotes the recipient's address, which
                    // stays out of info and above (the whole text is in the row, for staff).
                    if give_up {
                        tracing::warn!(outbox_id = %row.id, attempts = failures, "message not sent, given up: {}", failure.summary);
                        pass.failed += 1;
                    } else {
                        tracing::warn!(outbox_id = %row.id, attempts = failures, retry_in = ?delay, "message not sent: {}", failure.summary);
                        pass.retried += 1;
                    }
                    if failure.summary != failure.text {
                        tracing::debug!(outbox_id = %row.id, "SMTP error in full: {}", failure.text);
                    }
                }
            }
        }
    }

    async fn send(&self, row: &rows::Claimed) -> Result<(), Failure> {
        let to = row
            .recipients
            .iter()
            .map(|r| r.parse::<Address>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::local(format!("indirizzo del destinatario non valido: {e}"), true))?;
        let envelope = Envelope::new(Some(self.from.clone()), to)
            .map_err(|e| Failure::local(format!("busta SMTP non valida: {e}"), true))?;
        match self.transport.send_raw(&envelope, &row.raw).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.status().map(|c| c.to_string());
                // A refused login is a configuration problem that someone will fix: keep
                // retrying. Other 5xx replies (recipient refused, message refused) will not
                // change by themselves.
                let auth = matches!(code.as_deref(), Some("530" | "534" | "535" | "538"));
                Err(Failure {
                    text: smtp_error_text(&e),
                    summary: smtp_error_summary(&e),
                    permanent: e.is_permanent() && !auth,
                })
            }
        }
    }

    /// Runs until `shutdown` turns true: `senders` loops, each claiming and sending rows on
    /// its own, then sleeping until the next retry is due, `idle_poll` at most, or until
    /// woken. A database or SMTP outage never ends the loop.
    ///
    /// The senders do not wait for each other: a send that hangs (a provider that stops
    /// answering, up to the SMTP timeout per command) holds only its own sender, and the
    /// others keep answering the rows that arrive meanwhile.
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        futures_util::future::join_all((0..self.settings.senders.max(1)).map(|_| self.sender(shutdown.clone()))).await;
    }

    async fn sender(&self, mut shutdown: watch::Receiver<bool>) {
        let mut db_backoff = Duration::from_secs(1);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let sleep = match self.run_once().await {
                Ok(_) => {
                    db_backoff = Duration::from_secs(1);
                    self.next_due().await
                }
                Err(e) => {
                    tracing::warn!("outbox worker: {e}");
                    db_backoff = (db_backoff * 2).min(Duration::from_secs(60));
                    db_backoff
                }
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn next_due(&self) -> Duration {
        let Ok(mut conn) = self.pool.acquire().await else { return self.settings.idle_poll };
        match rows::next_due_in(&mut conn).await {
            Ok(Some(d)) => d.min(self.settings.idle_poll).max(Duration::from_millis(50)),
            _ => self.settings.idle_poll,
        }
    }
}

struct Failure {
    /// The whole error, SMTP reply text included: stored in the row for staff, logged at
    /// debug only.
    text: String,
    /// What the log says at warn: no text the SMTP server wrote (see [`smtp_error_summary`]).
    summary: String,
    permanent: bool,
}

impl Failure {
    /// A failure found before talking to the server: its text quotes no address.
    fn local(text: String, permanent: bool) -> Failure {
        Failure { summary: text.clone(), text, permanent }
    }
}

/// The error without anything the SMTP server wrote: a reply such as
/// `550 5.1.1 <mario.rossi@example.it>: Recipient address rejected` quotes the recipient's
/// address, which must stay out of logs at info and above. What is kept is the reply code
/// and the enhanced status code (RFC 3463), e.g. `permanent SMTP error 550 5.1.1`; errors
/// with no reply (network, TLS, timeout) are told in full.
fn smtp_error_summary(e: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = e.status() {
        let kind = if e.is_permanent() { "permanent" } else { "transient" };
        let reply = std::error::Error::source(e).map(ToString::to_string).unwrap_or_default();
        match enhanced_status(&reply) {
            Some(status) => format!("{kind} SMTP error {code} {status}"),
            None => format!("{kind} SMTP error {code}"),
        }
    } else if e.is_response() {
        // A reply lettre could not parse; its message quotes the reply.
        "unreadable SMTP reply".to_owned()
    } else {
        smtp_error_text(e)
    }
}

/// The enhanced status code (`class.subject.detail`, RFC 3463) that leads a reply's text.
fn enhanced_status(reply: &str) -> Option<&str> {
    let token = reply.split_whitespace().next()?;
    let mut parts = token.split('.');
    let class = parts.next()?;
    let ok = matches!(class, "2" | "4" | "5")
        && parts.clone().count() == 2
        && parts.all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(token)
}

/// The error and its causes on one line (lettre's Display leaves the source out).
fn smtp_error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let s = SmtpServer::parse("smtps://smtps.pec.aruba.it").unwrap();
        assert_eq!((s.port, s.security), (465, Security::Tls));
        let s = SmtpServer::parse("smtp://smtp.example.it").unwrap();
        assert_eq!((s.port, s.security), (587, Security::StartTls));
        let s = SmtpServer::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.security), ("127.0.0.1", 2525, Security::Plain));
        let s = SmtpServer::parse("smtp://[::1]:25").unwrap();
        assert_eq!((s.host.as_str(), s.security), ("::1", Security::Plain));
        assert_eq!(SmtpServer::parse("smtp://localhost:25").unwrap().security, Security::Plain);
        for bad in ["http://x", "smtps://", "smtps://u:p@host", "smtp://host:0", "smtp://host:x", "smtps://h/p"] {
            assert!(SmtpServer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enhanced_status_codes() {
        assert_eq!(enhanced_status("5.1.1 <mario.rossi@example.it>: Recipient address rejected"), Some("5.1.1"));
        assert_eq!(enhanced_status("4.7.0 try later"), Some("4.7.0"));
        assert_eq!(enhanced_status("<mario.rossi@example.it>: Recipient address rejected"), None);
        assert_eq!(enhanced_status("5.1 x"), None);
        assert_eq!(enhanced_status(""), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(60), s(3600), 1.0), s(60));
        assert_eq!(backoff(2, s(60), s(3600), 1.0), s(120));
        assert_eq!(backoff(4, s(60), s(3600), 1.0), s(480));
        assert_eq!(backoff(20, s(60), s(3600), 1.0), s(3600));
        assert_eq!(backoff(u32::MAX, s(60), s(3600), 1.0), s(3600));
        assert_eq!(backoff(1, s(60), s(3600), 0.5), s(30));
        assert_eq!(backoff(1, s(60), s(3600), 7.0), s(60), "jitter is clamped");
        for _ in 0..100 {
            let j = jitter();
            assert!((0.5..=1.0).contains(&j), "{j}");
        }
    }
}
