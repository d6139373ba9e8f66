//! Revocation status online (`SIGILLO_REVOCATION=online`, `sigillo check --revocation
//! online`): for a signing certificate, its OCSP responder (authorityInfoAccess) first, then
//! the CRL of its distribution point, over plain HTTP with timeouts. Every answer is verified
//! by `sigillo_signature::revocation` before it counts, and kept until its nextUpdate: in
//! memory, and in Postgres (`revocation_cache`) when a database is given, so that the
//! instances sharing it ask each responder once per certificate and period.
//!
//! The verifier is synchronous and runs on a blocking thread; [`OnlineRevocation`] answers
//! it by driving its requests on the runtime whose [`tokio::runtime::Handle`] it was given.
//! Never call it from a task of that runtime (`Handle::block_on` would panic there).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sigillo_signature::cert::Certificate;
use sigillo_signature::revocation::{Answer, Online, RevocationSource, Status, crl_answer, ocsp_answer, ocsp_request};
use sigillo_store::PgPool;
use sigillo_store::revocation::{CachedRevocation, RevocationStatus};

/// Whether revocation is asked online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the CRLs of the trust directory.
    Offline,
    /// OCSP / CRL over HTTP, cached.
    Online,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Offline => "offline",
            Mode::Online => "online",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "offline" => Ok(Mode::Offline),
            "online" => Ok(Mode::Online),
            other => Err(format!("{other:?} is not a revocation mode: write online or offline")),
        }
    }
}

/// Timeouts and limits of the HTTP requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connect_timeout: Duration,
    /// Whole request, body included.
    pub timeout: Duration,
    /// Largest OCSP response or CRL read (real CRLs of Italian CAs reach a few MB).
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { connect_timeout: Duration::from_secs(5), timeout: Duration::from_secs(15), max_bytes: 32 << 20 }
    }
}

/// Why a request gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("HTTP client: {0}")]
    Client(String),
}

/// The online source: HTTP client, caches.
#[derive(Debug)]
pub struct OnlineRevocation {
    handle: tokio::runtime::Handle,
    client: reqwest::Client,
    pool: Option<PgPool>,
    limits: Limits,
    /// Verified answers by certificate key, until their nextUpdate.
    answers: Mutex<HashMap<String, Answer>>,
    /// Verified-or-not CRL bytes by URL with the time they may be reused until: one CRL
    /// serves every certificate of its CA.
    crls: Mutex<HashMap<String, CachedCrl>>,
}

/// A CRL's bytes and the time they may be reused until.
type CachedCrl = (Vec<u8>, DateTime<Utc>);

/// Bound of each in-memory cache (cleared when full; the database keeps the rest).
const MAX_MEMORY_ENTRIES: usize = 10_000;

impl OnlineRevocation {
    /// A source driving its requests on `handle`'s runtime, caching in `pool` when given.
    pub fn new(handle: tokio::runtime::Handle, pool: Option<PgPool>, limits: Limits) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .user_agent(concat!("sigillo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(OnlineRevocation {
            handle,
            client,
            pool,
            limits,
            answers: Mutex::new(HashMap::new()),
            crls: Mutex::new(HashMap::new()),
        })
    }

    async fn lookup(&self, cert: &Certificate, issuer: &Certificate) -> Online {
        let now = Utc::now();
        let key = cert_key(cert, issuer);
        if let Some(a) = lock(&self.answers).get(&key).filter(|a| a.next_update > now) {
            return Online::Known(a.clone());
        }
        if let Some(pool) = &self.pool {
            match cached(pool, &key, now).await {
                Ok(Some(a)) => {
                    remember(&self.answers, key, a.clone());
                    return Online::Known(a);
                }
                Ok(None) => {}
                // The cache is an optimisation: without it the network is asked.
                Err(e) => tracing::warn!("revocation cache not readable: {e}"),
            }
        }
        let ocsp: Vec<&String> = cert.ocsp_urls.iter().filter(|u| is_http(u)).collect();
        let crl: Vec<&String> = cert.crl_urls.iter().filter(|u| is_http(u)).collect();
        if ocsp.is_empty() && crl.is_empty() {
            return Online::NoSource;
        }
        let mut failures = Vec::new();
        for url in ocsp {
            match self.ask_ocsp(url, cert, issuer, now).await {
                Ok(a) => return self.keep(key, a, now).await,
                Err(e) => failures.push(format!("OCSP {url}: {e}")),
            }
        }
        for url in crl {
            match self.ask_crl(url, cert, issuer, now).await {
                Ok(a) => return self.keep(key, a, now).await,
                Err(e) => failures.push(format!("CRL {url}: {e}")),
            }
        }
        // URLs only: they name the CA's services, never a person.
        tracing::warn!("revocation status not available: {}", failures.join("; "));
        Online::Unavailable(failures.join("; "))
    }

    async fn keep(&self, key: String, answer: Answer, now: DateTime<Utc>) -> Online {
        if let Some(pool) = &self.pool
            && let Err(e) = store(pool, &key, &answer, now).await
        {
            tracing::warn!("revocation cache not written: {e}");
        }
        remember(&self.answers, key, answer.clone());
        Online::Known(answer)
    }

    async fn ask_ocsp(&self, url: &str, cert: &Certificate, issuer: &Certificate, now: DateTime<Utc>) -> Result<Answer, String> {
        let request = self
            .client
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .header("Accept", "application/ocsp-response")
            .body(ocsp_request(cert, issuer));
        let body = self.body(request).await?;
        ocsp_answer(&body, cert, issuer, now, url)
    }

    async fn ask_crl(&self, url: &str, cert: &Certificate, issuer: &Certificate, now: DateTime<Utc>) -> Result<Answer, String> {
        let cached = lock(&self.crls).get(url).filter(|(_, until)| *until > now).map(|(b, _)| b.clone());
        let der = match cached {
            Some(der) => der,
            None => self.body(self.client.get(url)).await?,
        };
        let answer = crl_answer(&der, cert, issuer, now, url)?;
        let mut crls = lock(&self.crls);
        if crls.len() >= MAX_MEMORY_ENTRIES {
            crls.clear();
        }
        crls.insert(url.to_owned(), (der, answer.next_update));
        Ok(answer)
    }

    /// The body of a successful response, at most `max_bytes`.
    async fn body(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
        let mut response = request.send().await.map_err(|e| cause(&e))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| cause(&e))? {
            if out.len() + chunk.len() > self.limits.max_bytes {
                return Err(format!("answer larger than {} bytes", self.limits.max_bytes));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

impl RevocationSource for OnlineRevocation {
    fn status(&self, cert: &Certificate, issuer: &Certificate) -> Online {
        self.handle.block_on(self.lookup(cert, issuer))
    }
}

/// The cause of a failed request, in a few words (reqwest's Display is terse).
fn cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection refused or unreachable".to_owned()
    } else {
        e.to_string()
    }
}

fn is_http(url: &str) -> bool {
    url.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("http://"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned cache only means a panic elsewhere while inserting: the map is still a map.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn remember(answers: &Mutex<HashMap<String, Answer>>, key: String, answer: Answer) {
    let mut map = lock(answers);
    if map.len() >= MAX_MEMORY_ENTRIES {
        map.clear();
    }
    map.insert(key, answer);
}

/// The cache key of a certificate: its issuer's name and key and its serial number (what
/// an OCSP CertID names), hashed.
pub fn cert_key(cert: &Certificate, issuer: &Certificate) -> String {
    let mut h = Sha256::new();
    for part in [&cert.issuer.raw, &issuer.key_bits, &cert.serial] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

async fn cached(pool: &PgPool, key: &str, now: DateTime<Utc>) -> Result<Option<Answer>, sigillo_store::Error> {
    let mut conn = pool.acquire().await?;
    let row = sigillo_store::revocation::current(&mut conn, key, now).await?;
    Ok(row.and_then(|r| {
        let status = match (r.status, r.revoked_at) {
            (RevocationStatus::Good, _) => Status::Good,
            (RevocationStatus::Revoked, Some(at)) => Status::Revoked(at),
            (RevocationStatus::Unknown, _) => Status::Unknown,
            // The schema forbids it; a row that says so anyway is not used.
            (RevocationStatus::Revoked, None) => return None,
        };
        Some(Answer { status, this_update: r.this_update, next_update: r.next_update, source: r.source })
    }))
}

async fn store(pool: &PgPool, key: &str, a: &Answer, now: DateTime<Utc>) -> Result<(), sigillo_store::Error> {
    let (status, revoked_at) = match a.status {
        Status::Good => (RevocationStatus::Good, None),
        Status::Revoked(at) => (RevocationStatus::Revoked, Some(at)),
        Status::Unknown => (RevocationStatus::Unknown, None),
    };
    let row = CachedRevocation {
        status,
        revoked_at,
        this_update: a.this_update,
        next_update: a.next_update,
        source: a.source.clone(),
    };
    let mut conn = pool.acquire().await?;
    sigillo_store::revocation::keep(&mut conn, key, &row, now).await
}
