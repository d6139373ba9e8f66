//! The IMAP connection: TLS (rustls, Mozilla roots plus any CA the configuration adds) to the
//! provider, or plain TCP to a loopback server (tests, a local Dovecot in front of the real
//! box). Every command runs under a timeout counted from the last byte received, so a
//! half-open connection ends in a reconnect instead of a hang while a slow one that keeps
//! delivering is never cut; TCP keepalive finds a connection that died during IDLE.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::Error;

/// Where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// CA certificates trusted besides Mozilla's roots (a provider's or an on-premise
    /// server's private CA), already checked by [`parse_ca_pem`].
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Server {
    /// Parses `imaps://host[:port]` (default 993) or `imap://host:port` (default 143),
    /// the latter only towards a loopback address: credentials never travel in clear text
    /// over a network.
    pub fn parse(url: &str) -> Result<Server, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("imaps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("imap://") {
            (false, r)
        } else {
            return Err(format!("{url:?} must start with imaps:// (or imap:// for a loopback server)"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '@', '?', '#']) {
            return Err(format!("{url:?}: expected imaps://host[:port] with no user, path or query"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{url:?}: {p:?} is not a port"))?;
                (h, port)
            }
            _ => (rest, if tls { 993 } else { 143 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        if !tls && !is_loopback(host) {
            return Err(format!(
                "{url:?}: plain imap:// is only allowed towards 127.0.0.1, ::1 or localhost; use imaps://"
            ));
        }
        Ok(Server { host: host.to_owned(), port, tls, extra_roots: Vec::new() })
    }
}

/// Reads the CA certificates of a PEM file's text: at least one, each one a certificate that
/// rustls accepts as a trust anchor. The error says which one is wrong and why.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = cert.map_err(|e| format!("certificate {}: not readable PEM ({e})", i + 1))?;
        RootCertStore::empty()
            .add(cert.clone())
            .map_err(|e| format!("certificate {}: not usable as a trust anchor ({e})", i + 1))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".to_owned());
    }
    Ok(certs)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// When bytes last arrived on a connection. A command's time limit counts from the later of
/// its start and the last byte read: a slow link that keeps delivering never times out, a
/// link that stops does, whatever the size of the transfer.
#[derive(Debug, Clone)]
pub struct Activity(Arc<ActivityInner>);

#[derive(Debug)]
struct ActivityInner {
    origin: Instant,
    /// Milliseconds from `origin` to the last read that brought bytes.
    last_read_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity(Arc::new(ActivityInner { origin: Instant::now(), last_read_ms: AtomicU64::new(0) }))
    }

    fn touch(&self) {
        let ms = u64::try_from(self.0.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_read_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The moment of the last read that brought bytes.
    pub fn last_read(&self) -> Instant {
        self.0.origin + Duration::from_millis(self.0.last_read_ms.load(Ordering::Relaxed))
    }
}

/// A TCP or TLS stream, so that one session type serves both, noting each read in its
/// [`Activity`].
#[derive(Debug)]
pub struct Stream {
    transport: Transport,
    activity: Activity,
}

#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = match &mut this.transport {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if buf.filled().len() > before {
            this.activity.touch();
        }
        poll
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Session = async_imap::Session<Stream>;

/// Runs `fut` until it ends or until nothing has arrived on the connection for `limit` since
/// it started (see [`Activity`]); the error names `what`.
pub async fn timed<T>(
    account: &str,
    what: &str,
    limit: Duration,
    activity: &Activity,
    fut: impl std::future::Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Error> {
    let start = Instant::now();
    let mut fut = std::pin::pin!(fut);
    loop {
        let deadline = activity.last_read().max(start) + limit;
        match tokio::time::timeout_at(deadline.into(), fut.as_mut()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(source)) => return Err(Error::Imap { account: account.to_owned(), what: what.to_owned(), source }),
            // Bytes arrived meanwhile: the wait starts again from the last of them.
            Err(_) if activity.last_read().max(start) + limit > Instant::now() => {}
            Err(_) => return Err(timeout(account, what, limit)),
        }
    }
}

fn timeout(account: &str, what: &str, limit: Duration) -> Error {
    Error::Timeout { account: account.to_owned(), what: what.to_owned(), secs: limit.as_secs_f64() }
}

/// TCP keepalive on the IMAP socket: a connection that dies silently during a long IDLE (a
/// NAT that forgot it, a route black-holed) fails a read after about
/// `KEEPALIVE_IDLE + KEEPALIVE_RETRIES × KEEPALIVE_INTERVAL` (90 s) instead of waiting for
/// the IDLE renewal. The probes also keep NAT mappings alive.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(45);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(9);
const KEEPALIVE_RETRIES: u32 = 5;

/// Connects, reads the greeting and logs in. The connection, the TLS handshake and the
/// greeting wait at most `answer` (a server sends its greeting at once), the login `limit`.
pub async fn login(server: &Server, user: &str, password: &str, answer: Duration, limit: Duration) -> Result<(Session, Activity), Error> {
    let account = format!("{user}@{}:{}", server.host, server.port);
    let conn_err = |what: String| Error::Connection { account: account.clone(), what };
    let tcp = tokio::time::timeout(answer, TcpStream::connect((server.host.as_str(), server.port)))
        .await
        .map_err(|_| timeout(&account, "connect", answer))?
        .map_err(|e| conn_err(format!("connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
        tracing::warn!("IMAP {account}: TCP keepalive not set: {e}");
    }
    let transport = if server.tls {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in &server.extra_roots {
            roots.add(cert.clone()).map_err(|e| conn_err(format!("TLS: configured CA: {e}")))?;
        }
        let config = ClientConfig::builder_with_provider(Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| conn_err(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(server.host.clone()).map_err(|e| conn_err(format!("TLS name: {e}")))?;
        let tls = tokio::time::timeout(answer, TlsConnector::from(Arc::new(config)).connect(name, tcp))
            .await
            .map_err(|_| timeout(&account, "TLS handshake", answer))?
            .map_err(|e| conn_err(format!("TLS handshake: {e}")))?;
        Transport::Tls(Box::new(tls))
    } else {
        Transport::Plain(tcp)
    };
    let activity = Activity::new();
    let mut client = async_imap::Client::new(Stream { transport, activity: activity.clone() });
    let greeting = tokio::time::timeout(answer, client.read_response())
        .await
        .map_err(|_| timeout(&account, "greeting", answer))?
        .map_err(|e| conn_err(format!("greeting: {e}")))?;
    if greeting.is_none() {
        return Err(conn_err("the server closed the connection before its greeting".into()));
    }
    match tokio::time::timeout(limit, client.login(user, password)).await {
        Err(_) => Err(timeout(&account, "login", limit)),
        Ok(Err((source, _))) => Err(Error::Imap { account, what: "login".into(), source }),
        Ok(Ok(session)) => Ok((session, activity)),
    }
}
