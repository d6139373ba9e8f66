//! The IMAP connection: TLS (rustls, Mozilla roots plus any CA the configuration adds) to the
//! provider, or plain TCP to a loopback server (tests, a local Dovecot in front of the real
//! box). Every command runs under a timeout, so a half-open connection ends in a reconnect
//! instead of a hang.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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

/// A TCP or TLS stream, so that one session type serves both.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Session = async_imap::Session<Stream>;

/// Runs `fut` under `limit`, naming `what` in the error.
pub async fn timed<T>(
    account: &str,
    what: &str,
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(Error::Imap { account: account.to_owned(), what: what.to_owned(), source }),
        Err(_) => Err(Error::Timeout { account: account.to_owned(), what: what.to_owned() }),
    }
}

/// Connects, reads the greeting and logs in.
pub async fn login(server: &Server, user: &str, password: &str, limit: Duration) -> Result<Session, Error> {
    let account = format!("{user}@{}:{}", server.host, server.port);
    let conn_err = |what: String| Error::Connection { account: account.clone(), what };
    let tcp = tokio::time::timeout(limit, TcpStream::connect((server.host.as_str(), server.port)))
        .await
        .map_err(|_| Error::Timeout { account: account.clone(), what: "connect".into() })?
        .map_err(|e| conn_err(format!("connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let stream = if server.tls {
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
        let tls = tokio::time::timeout(limit, TlsConnector::from(Arc::new(config)).connect(name, tcp))
            .await
            .map_err(|_| Error::Timeout { account: account.clone(), what: "TLS handshake".into() })?
            .map_err(|e| conn_err(format!("TLS handshake: {e}")))?;
        Stream::Tls(Box::new(tls))
    } else {
        Stream::Plain(tcp)
    };
    let mut client = async_imap::Client::new(stream);
    let greeting = tokio::time::timeout(limit, client.read_response())
        .await
        .map_err(|_| Error::Timeout { account: account.clone(), what: "greeting".into() })?
        .map_err(|e| conn_err(format!("greeting: {e}")))?;
    if greeting.is_none() {
        return Err(conn_err("the server closed the connection before its greeting".into()));
    }
    match tokio::time::timeout(limit, client.login(user, password)).await {
        Err(_) => Err(Error::Timeout { account, what: "login".into() }),
        Ok(Err((source, _))) => Err(Error::Imap { account, what: "login".into(), source }),
        Ok(Ok(session)) => Ok(session),
    }
}
