//! The staff dashboard of Sigillo and its read-only JSON API.
//!
//! Every route is declared once, in [`routes::table`], with who may use it; the router is
//! built from that table only, and one guard ([`auth::guard`]) enforces the table on every
//! request: session and role for pages, a valid CSRF token for every form, an API token for
//! `/api/`. The tests walk the same table, so a route added without an access rule cannot
//! exist.

mod api;
pub mod assets;
pub mod auth;
pub mod client;
mod error;
mod download;
pub mod extract;
mod find;
mod format;
mod pager;
mod labels;
mod spreadsheet;
mod pages;
pub mod return_to;
pub mod text;
pub mod routes;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use sigillo_notify::outbox::OutboxConfig;
use sigillo_store::PgPool;
use sigillo_store::blob::BlobStore;
use sigillo_store::register::Register;

pub use client::TrustedProxies;
pub use error::AppError;

/// What the web layer needs besides the database. The binary builds it with the rest of its
/// configuration (`SIGILLO_STATIC_DIR`, `SIGILLO_PUBLIC_URL`, `SIGILLO_TRUST_DIR`,
/// `SIGILLO_TRUSTED_PROXIES`): this crate reads no environment.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The `web/static` folder (CSS, JS, fonts; `vendor/` is filled by `npm run build`).
    pub static_dir: PathBuf,
    /// The dashboard is reached over HTTPS (directly or through a TLS-terminating proxy):
    /// cookies are `Secure` with the `__Host-` prefix, and responses carry HSTS.
    pub secure_cookies: bool,
    /// The proxies whose `X-Forwarded-For` names the client (login throttling); empty: the
    /// socket peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// The trust directory (with `pec/` and `signatures/`): the anchors the classifier needs
    /// when the responsabile registers a rejected message anyway, and for the desk's
    /// documents, when no classifier of the service is given ([`AppState::with_trust`]).
    /// `None` and no such classifier: registering anyway is refused.
    pub trust_dir: Option<PathBuf>,
    /// The configuration's policy switches (`SIGILLO_POLICY_*`): in force, and shown on the
    /// admin page, until an amministratore sets one there (stored in the database).
    pub policy: sigillo_store::policy::Policy,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    register: Register,
    blobs: BlobStore,
    config: WebConfig,
    outbox: Option<OutboxConfig>,
    wake: Option<Arc<tokio::sync::Notify>>,
    hashing: Arc<Hashing>,
    /// The service's classifier (trust directory, trusted lists, online revocation), the
    /// one the intake uses.
    trust: Option<sigillo_protocol::trust::SharedChecker>,
}

/// Password hashing (argon2id: tens of milliseconds of CPU and 19 MiB each) runs on the
/// blocking pool, at most one per core at a time: a burst of logins queues here, holding no
/// database connection, instead of taking every core and connection from the pages.
struct Hashing {
    permits: tokio::sync::Semaphore,
    /// Password checks done (logins, password form), for the tests and the benchmark.
    checks: AtomicU64,
}

impl Hashing {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Hashing { permits: tokio::sync::Semaphore::new(cores.clamp(1, 8)), checks: AtomicU64::new(0) }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(|e| AppError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work).await.map_err(|e| AppError::Internal(e.to_string()))
    }
}

impl AppState {
    /// A dashboard that answers nobody: registering anyway writes no receipt.
    pub fn new(pool: PgPool, register: Register, blobs: BlobStore, config: WebConfig) -> Self {
        AppState {
            inner: Arc::new(Inner {
                pool,
                register,
                blobs,
                config,
                outbox: None,
                wake: None,
                hashing: Arc::new(Hashing::new()),
                trust: None,
            }),
        }
    }

    /// Answers citizens as the intake does (`SIGILLO_NOTIFY_FROM` set): the receipt of a
    /// message registered anyway is queued with the registration; `wake` (the outbox
    /// worker's) is notified after commit so that it goes out at once.
    pub fn with_outbox(self, outbox: Option<OutboxConfig>, wake: Option<Arc<tokio::sync::Notify>>) -> Self {
        let i = &self.inner;
        AppState {
            inner: Arc::new(Inner {
                pool: i.pool.clone(),
                register: i.register.clone(),
                blobs: i.blobs.clone(),
                config: i.config.clone(),
                outbox,
                wake,
                hashing: i.hashing.clone(),
                trust: i.trust.clone(),
            }),
        }
    }

    /// Registering anyway and the desk's documents are judged by the service's classifier,
    /// as the intake judges: its trust directory, its trusted lists, its revocation source.
    pub fn with_trust(self, trust: Option<sigillo_protocol::trust::SharedChecker>) -> Self {
        let i = &self.inner;
        AppState {
            inner: Arc::new(Inner {
                pool: i.pool.clone(),
                register: i.register.clone(),
                blobs: i.blobs.clone(),
                config: i.config.clone(),
                outbox: i.outbox.clone(),
                wake: i.wake.clone(),
                hashing: i.hashing.clone(),
                trust,
            }),
        }
    }

    /// The classifier for registering anyway and the desk's documents: the service's
    /// ([`AppState::with_trust`]), else the trust directory's, loaded now; `None` without
    /// either.
    pub(crate) fn checker(&self) -> Result<Option<Arc<sigillo_pec::Checker>>, sigillo_protocol::Error> {
        if let Some(trust) = &self.inner.trust {
            return Ok(Some(trust.current()));
        }
        let Some(dir) = self.inner.config.trust_dir.as_deref() else { return Ok(None) };
        sigillo_protocol::trust::checker(dir, std::time::SystemTime::now()).map(|c| Some(Arc::new(c)))
    }

    /// [`AppState::checker`] for the desk: a trust directory that does not load must not
    /// stop it. The documents are still registered, their signatures then reach no trusted
    /// anchor (INDETERMINATE, shown on the record), and the cause is logged for the
    /// administrator.
    pub(crate) fn desk_checker(&self) -> Option<Arc<sigillo_pec::Checker>> {
        self.checker().unwrap_or_else(|e| {
            tracing::warn!("trust directory not usable for desk documents: {e}");
            None
        })
    }

    /// Checks a password against its PHC string within the bound on concurrent hashing;
    /// `None` (no such account) against a hash whose password nobody knows: the same work.
    pub(crate) async fn check_password(&self, password: String, phc: Option<String>) -> Result<bool, AppError> {
        let hashing = &self.inner.hashing;
        hashing.checks.fetch_add(1, Ordering::Relaxed);
        hashing.run(move || auth::verify_password(&password, phc.as_deref().unwrap_or_else(|| auth::dummy_hash()))).await
    }

    /// Hashes a new password within the bound on concurrent hashing.
    pub(crate) async fn hash_password(&self, password: String) -> Result<String, AppError> {
        self.inner.hashing.run(move || auth::hash_password(&password)).await?
    }

    /// How many passwords this dashboard has checked since it started.
    pub fn password_checks(&self) -> u64 {
        self.inner.hashing.checks.load(Ordering::Relaxed)
    }

    pub fn outbox(&self) -> Option<&OutboxConfig> {
        self.inner.outbox.as_ref()
    }

    /// Tells the outbox worker (if it runs in this process) that a row is due now. Call it
    /// after the transaction that wrote the row committed.
    pub fn wake_outbox(&self) {
        if let Some(w) = &self.inner.wake {
            w.notify_one();
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn register(&self) -> &Register {
        &self.inner.register
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.inner.blobs
    }

    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }
}

/// The whole web application: the routes of the table, the static files, the security
/// headers. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that
/// login throttling sees the client's address.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for route in routes::table() {
        let guarded = route.handler.route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), route.spec.access),
            auth::guard,
        ));
        router = router.route(route.spec.path, guarded);
    }
    assets::init(&state.config().static_dir);
    // Static files: their own layers (cache headers, compression), pages not.
    let statics = Router::new()
        .nest_service("/static", tower_http::services::ServeDir::new(&state.config().static_dir))
        .layer(assets::compression())
        .layer(axum::middleware::from_fn(assets::versioned));
    let https = state.config().secure_cookies;
    router
        .merge(statics)
        .fallback(|| async { AppError::NotFound })
        .layer(axum::middleware::from_fn(error::report))
        .layer(axum::middleware::map_response_with_state(https, security_headers))
        .layer(axum::middleware::from_fn(timing))
        // `error::report` logs each failure once with its cause, at error or, for what the
        // sysadmin must fix but the program handled (a damaged blob), at warn; tower-http's own
        // line for a 5xx would repeat it at error, so it stays at warn.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// The span of one request: method, path (ids at most; never the query, which holds search
/// text) and the `x-request-id` given to the request and echoed in the response.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), path = req.uri().path(), request_id = id)
}

/// The server time of every request (guard, handler, rendering; not the network), at debug
/// level under the target `sigillo_web::timing`, with the path (ids at most) and never the
/// query (search text): `scripts/bench-web` reads it to report the latency the server itself
/// adds.
async fn timing(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    if !tracing::enabled!(target: "sigillo_web::timing", tracing::Level::DEBUG) {
        return next.run(req).await;
    }
    let start = std::time::Instant::now();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    tracing::debug!(
        target: "sigillo_web::timing",
        path,
        status = res.status().as_u16(),
        micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    res
}

/// Headers on every response. The CSP allows scripts only from this origin (no inline
/// script); Bootstrap Italia sets inline styles, so styles are allowed inline. Under https
/// (`SIGILLO_PUBLIC_URL`), HSTS: the browser never tries plain http for this host again
/// (without `includeSubDomains`: the comune's other hosts are not ours to decide).
async fn security_headers(
    axum::extract::State(https): axum::extract::State<bool>,
    mut res: axum::response::Response,
) -> axum::response::Response {
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::CACHE_CONTROL, "no-store");
    if https {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    res
}
