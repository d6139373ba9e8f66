//! Issue 18 §6: `/healthz` answers within a second while the database is down, with a 503
//! that names the reason, instead of waiting out the pool's 10 s acquire timeout (a monitor
//! with a 3 s timeout saw a timeout, not an answer). The service reaches Postgres through a
//! loopback proxy the test controls: forwarding, closed (connections refused), or a black
//! hole (connections accepted, nothing ever answered: a stopped or unreachable server).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sigillo_e2e::{Instance, stderr, wait_for};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const FORWARD: u8 = 0;
const BLACK_HOLE: u8 = 1;

/// A TCP proxy to Postgres on a loopback port.
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    accept: Option<JoinHandle<()>>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut p = Proxy { port, mode: Arc::new(AtomicU8::new(FORWARD)), accept: None, conns: Default::default() };
        p.listen(listener, upstream);
        p
    }

    fn listen(&mut self, listener: TcpListener, upstream: String) {
        let (mode, conns) = (self.mode.clone(), self.conns.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (mode, upstream) = (mode.clone(), upstream.clone());
                let task = tokio::spawn(async move {
                    if mode.load(Ordering::SeqCst) == BLACK_HOLE {
                        // Accepted, never answered.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(client);
                        return;
                    }
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                conns.lock().unwrap().push(task);
            }
        }));
    }

    /// Closes the port and every connection through it: connections are refused.
    fn close(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Listens again on the same port, in `mode`.
    async fn reopen(&mut self, upstream: String, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        // The aborted accept task drops its listener a moment later: bind until it has.
        let mut listener = None;
        for _ in 0..100 {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", self.port)).await {
                listener = Some(l);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let listener = listener.expect("the proxy's port free again");
        self.listen(listener, upstream);
    }
}

/// `url` with its host and port replaced by `127.0.0.1:port`.
fn through(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, path) = rest.split_once('/').unwrap();
    let user = auth.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    format!("{scheme}://{user}127.0.0.1:{port}/{path}")
}

fn upstream_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let auth = rest.split_once('/').unwrap().0;
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    if host.contains(':') { host.to_owned() } else { format!("{host}:5432") }
}

/// `GET /healthz` with a 3 s client timeout: (status, body), or the client's error.
async fn healthz(port: u16) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    let res = client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.map_err(|e| format!("{e:?}"))?;
    let status = res.status().as_u16();
    Ok((status, res.text().await.map_err(|e| e.to_string())?))
}

#[tokio::test]
async fn healthz_answers_503_with_the_reason_while_the_database_is_down() {
    let app = Instance::new().await;
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let upstream = upstream_of(&app.db.url);
    let mut proxy = Proxy::start(upstream.clone()).await;
    let web_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{web_port}");
    let url = through(&app.db.url, proxy.port);
    let _service = app.serve(&[("SIGILLO_DATABASE_URL", url.as_str()), ("SIGILLO_LISTEN", listen.as_str())]);
    wait_for(30, "the service healthy", || async { matches!(healthz(web_port).await, Ok((200, _))) }).await;

    // Connections refused: a 503 that says so, well before the client's 3 s. The first
    // answers may name the broken pooled connections instead; then the refusal.
    proxy.close();
    let mut named_refusal = false;
    for _ in 0..20 {
        let (status, body) = healthz(web_port).await.expect("an answer before the client's 3 s timeout");
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("database"), "the reason: {body}");
        println!("refused: {body}");
        if body.to_lowercase().contains("refused") {
            named_refusal = true;
            break;
        }
    }
    assert!(named_refusal, "connection refused named once the pooled connections are gone");

    // A server that accepts and never answers: still an answer, naming the silence.
    proxy.reopen(upstream.clone(), BLACK_HOLE).await;
    let (status, body) = healthz(web_port).await.expect("an answer before the client's 3 s timeout");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("database unavailable") && body.contains("no answer"), "{body}");
    println!("black hole: {body}");

    // The database back: healthy again.
    proxy.close();
    proxy.reopen(upstream, FORWARD).await;
    wait_for(30, "the service healthy again", || async { matches!(healthz(web_port).await, Ok((200, _))) }).await;
}
