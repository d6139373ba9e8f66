//! A TCP proxy on loopback in front of a real server (Dovecot, Postgres), to give the service
//! the network a real provider has: a throttled link, a connection that dies silently, a
//! server that refuses connections. It counts the connections and the bytes it carried.
//!
//! * [`TcpProxy::throttle`]: every connection carries at most N bytes per second in each
//!   direction (a provider's per-connection throttling); an idle moment does not let it
//!   send faster afterwards.
//! * [`TcpProxy::black_hole`]: the connections open now die without a word (a NAT that forgot
//!   them, a black-holed route): their bytes are read and dropped, in both directions, for good,
//!   and nothing is closed. New connections are accepted but get nothing until
//!   [`TcpProxy::heal`]; after it, new connections work and the dead ones stay dead.
//! * [`TcpProxy::refuse`]: every connection is closed, and new ones are closed at once until
//!   [`TcpProxy::heal`] (a server that is down).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    /// Bytes per second per direction and connection; 0: no limit.
    rate: AtomicU64,
    /// New connections are dead from the start (black hole in force).
    holed: AtomicBool,
    refusing: AtomicBool,
    connections: AtomicU64,
    bytes_down: AtomicU64,
    bytes_up: AtomicU64,
    /// The dead flag of every connection made so far.
    live: Mutex<Vec<Arc<AtomicBool>>>,
    /// Bumped to close every connection ([`TcpProxy::refuse`]).
    cut: Mutex<Option<watch::Sender<u64>>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("proxy: bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("proxy: {e}"));
        let (cut_tx, cut_rx) = watch::channel(0_u64);
        let shared = Arc::new(Shared { cut: Mutex::new(Some(cut_tx)), ..Shared::default() });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if s.refusing.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                s.connections.fetch_add(1, Ordering::SeqCst);
                let dead = Arc::new(AtomicBool::new(s.holed.load(Ordering::SeqCst)));
                lock(&s.live).push(dead.clone());
                tokio::spawn(connection(s.clone(), client, target, dead, cut_rx.clone()));
            }
        });
        TcpProxy { port, shared, task }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Limits every connection, open or new, to `bytes_per_sec` each way; `None` lifts it.
    pub fn throttle(&self, bytes_per_sec: Option<u64>) {
        self.shared.rate.store(bytes_per_sec.unwrap_or(0), Ordering::SeqCst);
    }

    /// The open connections die silently; new ones get nothing until [`TcpProxy::heal`].
    pub fn black_hole(&self) {
        self.shared.holed.store(true, Ordering::SeqCst);
        for dead in lock(&self.shared.live).iter() {
            dead.store(true, Ordering::SeqCst);
        }
    }

    /// Closes every connection and refuses new ones until [`TcpProxy::heal`].
    pub fn refuse(&self) {
        self.shared.refusing.store(true, Ordering::SeqCst);
        if let Some(tx) = lock(&self.shared.cut).as_ref() {
            tx.send_modify(|n| *n += 1);
        }
    }

    /// New connections are forwarded again (connections that died stay dead).
    pub fn heal(&self) {
        self.shared.holed.store(false, Ordering::SeqCst);
        self.shared.refusing.store(false, Ordering::SeqCst);
    }

    /// Connections accepted and forwarded (or swallowed) so far; refused ones not counted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Bytes carried from the server to its clients so far.
    pub fn bytes_down(&self) -> u64 {
        self.shared.bytes_down.load(Ordering::SeqCst)
    }

    /// Bytes carried from the clients to the server so far.
    pub fn bytes_up(&self) -> u64 {
        self.shared.bytes_up.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.refuse();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn connection(s: Arc<Shared>, client: TcpStream, target: SocketAddr, dead: Arc<AtomicBool>, mut cut: watch::Receiver<u64>) {
    cut.mark_unchanged();
    let Ok(server) = TcpStream::connect(target).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, s.clone(), dead.clone(), Direction::Up);
    let down = pump(sr, cw, s.clone(), dead, Direction::Down);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = cut.changed() => {}
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// Copies one direction, at the configured rate, dropping everything once `dead`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    s: Arc<Shared>,
    dead: Arc<AtomicBool>,
    dir: Direction,
) {
    let mut buf = vec![0_u8; 16 * 1024];
    // When the link is free again: each chunk takes its length / rate after the one before,
    // and a link idle for a while does not bank the bandwidth it did not use (it may send
    // ahead by at most BURST).
    const BURST: Duration = Duration::from_millis(20);
    let mut free_at = Instant::now();
    loop {
        let rate = s.rate.load(Ordering::SeqCst);
        // Small reads under a limit, so that the rate holds over short spans too.
        let max = if rate == 0 { buf.len() } else { buf.len().min((rate / 50).max(512) as usize) };
        let n = match from.read(&mut buf[..max]).await {
            Ok(0) | Err(_) => {
                // A dead connection does not pass the close on either.
                if dead.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if dead.load(Ordering::SeqCst) {
            continue;
        }
        if rate != 0 {
            let now = Instant::now();
            free_at = free_at.max(now.checked_sub(BURST).unwrap_or(now)) + Duration::from_secs_f64(n as f64 / rate as f64);
            tokio::time::sleep_until(free_at.into()).await;
        }
        if dead.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        let counter = match dir {
            Direction::Up => &s.bytes_up,
            Direction::Down => &s.bytes_down,
        };
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
}
