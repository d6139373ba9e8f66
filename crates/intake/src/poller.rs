//! The mailbox poller: one task per mailbox, for as long as the service runs.
//!
//! Each pass lists the UIDs above the last one stored for the mailbox's UIDVALIDITY with their
//! sizes, fetches them in batches bounded in count and bytes (`UID FETCH … BODY.PEEK[]`, so
//! nothing is marked as read by fetching; a message bigger than the bound alone), runs them
//! through the pipeline, and only then moves (or flags) the decided ones and stores the new
//! last UID; the connection does that for one batch and fetches the next while the workers
//! decide the one between them. A crash anywhere leaves either a message still in the mailbox
//! (read again, recognised by its hash, moved) or a message already moved (done).
//!
//! Messages in error stay in the mailbox (`in_mailbox` on their row) and are retried from the
//! blob store when their own delay is due (it doubles at every attempt), until they are
//! decided or out of attempts (then moved to the quarantine folder). A message decided by
//! another path meanwhile (`sigillo ingest` of the same bytes) is moved at its due time too.
//!
//! Between passes the task waits in IDLE (renewed before the 29 minutes of RFC 2177, and
//! ended early when a retry is due) or, when the server has no IDLE, polls. Failures:
//! * the server's (IMAP errors, a connection that stops answering): the session ends and the
//!   task logs in again after a delay that doubles (with jitter) at every failure in a row;
//! * not the server's (the database, the blob store's disk): the session is kept (a NOOP at
//!   every step keeps it alive) and the intake pauses, with the same growing delay, until the
//!   database answers; the next pass then reads a single message first, so a disk that is
//!   still full costs one message's download per step, not a batch's.
//!
//! The delay starts again from its base only when a message has been decided (or a session
//! outlived the longest delay); each failure is logged once per step.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use futures_util::{StreamExt, TryStreamExt};
use secrecy::{ExposeSecret, SecretString};
use sigillo_store::ids::InboundId;
use sigillo_store::inbound::{self, MailboxCopy, MailboxState, MessageState, Origin, Schedule};
use sigillo_store::mailbox_health::{self, Fault};
use tokio::sync::watch;

use crate::imap::{self, Activity, Server, Session, timed};
use crate::{Error, Outcome, Pipeline};

/// What to do with a decided message in the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Move it to the folder of its outcome (created if missing).
    Move,
    /// Leave it in place with a keyword naming its outcome.
    Flag,
}

/// The folders (or, with [`Action::Flag`], the keywords' suffixes) per outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    pub registered: String,
    pub rejected: String,
    pub review: String,
    pub receipts: String,
    pub quarantine: String,
}

impl Default for Folders {
    fn default() -> Self {
        Folders {
            registered: "Protocollati".into(),
            rejected: "Scartati".into(),
            review: "Da verificare".into(),
            receipts: "Ricevute".into(),
            quarantine: "Quarantena".into(),
        }
    }
}

/// One mailbox to read.
#[derive(Debug, Clone)]
pub struct MailboxConfig {
    pub server: Server,
    pub user: String,
    pub password: SecretString,
    pub mailbox: String,
    pub action: Action,
    pub folders: Folders,
    /// Messages per `UID FETCH`.
    pub batch_size: usize,
    /// Bytes per `UID FETCH` (a batch holds at least one message, whatever its size).
    pub batch_bytes: u64,
    /// Messages of a batch in the pipeline at once.
    pub workers: usize,
    /// IDLE is ended and started again after this long (servers drop it after 30 min).
    pub idle_renew: Duration,
    /// Interval between passes when the server has no IDLE.
    pub poll_interval: Duration,
    /// First delay before a retry of a message in error; doubled at every attempt.
    pub retry_base: Duration,
    pub backoff_max: Duration,
    /// Limit for one IMAP command, counted from the last byte received (a fetch that keeps
    /// receiving never times out, however long it takes).
    pub op_timeout: Duration,
}

impl MailboxConfig {
    /// `user@host:port`: the account part of the mailbox's identity in the database.
    pub fn account(&self) -> String {
        format!("{}@{}:{}", self.user, self.server.host, self.server.port)
    }
}

/// The first delay after a failure.
const BACKOFF_BASE: Duration = Duration::from_millis(250);

/// The longest wait for what a server answers at once: the greeting, the continuation of
/// IDLE, the completion of DONE. A connection that died during IDLE is found at the next
/// renewal (or retry) within this, not after the whole command timeout.
const ANSWER: Duration = Duration::from_secs(10);

/// Runs the poller of one mailbox until `shutdown` turns true.
pub async fn run(pipeline: Pipeline, cfg: Arc<MailboxConfig>, mut shutdown: watch::Receiver<bool>) {
    let account = cfg.account();
    let mut backoff = Backoff::new(BACKOFF_BASE, cfg.backoff_max);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let stop = shutdown.clone();
        let started = Instant::now();
        let result = tokio::select! {
            r = async {
                // The database first: while it is down nothing can be decided, and a login
                // would only load the provider.
                local_ready(&pipeline).await?;
                session(&pipeline, &cfg, &account, &mut backoff, stop).await
            } => r,
            _ = shutdown.changed() => return,
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                // A session that outlived the longest delay is no loop of failures.
                if started.elapsed() > cfg.backoff_max {
                    backoff.reset();
                }
                let delay = backoff.next();
                note_failure(&pipeline, &account, &cfg.mailbox, &e).await;
                let then = if is_local(&e) { "intake paused" } else { "reconnecting" };
                tracing::warn!(mailbox = %cfg.mailbox, "intake {account}: {e}; {then} for {} ms", delay.as_millis());
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// Whether a failure is local (the database, the blob store, a task of this process), not
/// the IMAP server's: logging in again does not help.
fn is_local(e: &Error) -> bool {
    !matches!(e, Error::Imap { .. } | Error::Connection { .. } | Error::Timeout { .. })
}

/// The kind of a failure, as the home page names it.
fn fault_of(e: &Error) -> Fault {
    match e {
        Error::Imap { what, .. } if what == "login" => Fault::Login,
        Error::Imap { .. } => Fault::Server,
        Error::Connection { .. } => Fault::Connection,
        Error::Timeout { .. } => Fault::Timeout,
        Error::Store(_) | Error::Protocol(_) | Error::Task(_) => Fault::Local,
    }
}

/// Records a failure for the home page. Best effort: when the database is the failure, it
/// cannot be written, and the log and /healthz say it.
async fn note_failure(pipeline: &Pipeline, account: &str, mailbox: &str, e: &Error) {
    let written = async {
        let mut conn = pipeline.pool().acquire().await?;
        mailbox_health::record_failure(&mut conn, account, mailbox, fault_of(e), &e.to_string(), pipeline.now()).await
    };
    if let Err(w) = written.await {
        tracing::debug!(mailbox, "intake {account}: the failure could not be recorded: {w}");
    }
}

/// Records a cycle that read the mailbox to the end, which ends a run of failures.
async fn note_ok(pipeline: &Pipeline, account: &str, mailbox: &str) {
    let written = async {
        let mut conn = pipeline.pool().acquire().await?;
        mailbox_health::record_ok(&mut conn, account, mailbox, pipeline.now()).await
    };
    if let Err(w) = written.await {
        tracing::debug!(mailbox, "intake {account}: the mailbox's health could not be recorded: {w}");
    }
}

/// The database answers.
async fn local_ready(pipeline: &Pipeline) -> Result<(), Error> {
    Ok(sigillo_store::ping(pipeline.pool()).await?)
}

/// Exponential backoff with jitter: the n-th delay in a row is uniform in
/// [cap/2, cap] with cap = min(max, base·2ⁿ) ("equal jitter"), so it grows at every step
/// while many pollers do not reconnect in step.
struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    fn new(base: Duration, max: Duration) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
        Backoff { base, max: max.max(base), attempt: 0, seed }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next(&mut self) -> Duration {
        let cap = self.base.saturating_mul(1 << self.attempt.min(20)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64: jitter needs no cryptographic randomness
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let low = (cap / 2).max(self.base).min(cap);
        let span = cap.saturating_sub(low).as_millis() as u64;
        low + Duration::from_millis(if span == 0 { 0 } else { self.seed % (span + 1) })
    }
}

/// An IMAP session and what the poller knows of it.
struct Conn {
    s: Session,
    activity: Activity,
    caps: Caps,
}

async fn session(
    pipeline: &Pipeline,
    cfg: &MailboxConfig,
    account: &str,
    backoff: &mut Backoff,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let t = cfg.op_timeout;
    let answer = ANSWER.min(t);
    let (mut s, activity) = imap::login(&cfg.server, &cfg.user, cfg.password.expose_secret(), answer, t).await?;
    let caps = timed(account, "CAPABILITY", t, &activity, s.capabilities()).await?;
    let has_idle = caps.has_str("IDLE");
    let has_move = caps.has_str("MOVE");
    let has_uidplus = caps.has_str("UIDPLUS");
    drop(caps);
    if cfg.action == Action::Move {
        let f = &cfg.folders;
        for folder in [&f.registered, &f.rejected, &f.review, &f.receipts, &f.quarantine] {
            // Already there is the usual answer; a real failure shows at the first MOVE.
            let _ = timed(account, "CREATE", t, &activity, s.create(folder)).await;
        }
    }
    let mut c = Conn { s, activity, caps: Caps { has_move, has_uidplus } };
    tracing::info!(mailbox = %cfg.mailbox, idle = has_idle, "intake {account}: connected");
    // After a local failure the next pass reads one message first (see the module doc).
    let mut probe = false;
    loop {
        let mut progressed = false;
        let result = cycle(pipeline, cfg, account, &mut c, probe, &mut progressed, &shutdown).await;
        if progressed {
            backoff.reset();
            probe = false;
        }
        let next_due = match result {
            Ok(next_due) => {
                note_ok(pipeline, account, &cfg.mailbox).await;
                next_due
            }
            Err(e) if is_local(&e) => {
                probe = true;
                pause(pipeline, cfg, account, &mut c, backoff, e, &mut shutdown).await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if *shutdown.borrow() {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.s.logout()).await;
            return Ok(());
        }
        // Until something arrives, the renewal, or the next retry's turn, whichever first.
        let wait = |longest: Duration| next_due.map_or(longest, |d| d.clamp(Duration::from_millis(100), longest));
        if has_idle {
            let Conn { s, activity, caps } = c;
            let mut handle = s.idle();
            timed(account, "IDLE", answer, &activity, handle.init()).await?;
            let (idle, _stop) = handle.wait_with_timeout(wait(cfg.idle_renew));
            let woke = tokio::select! {
                r = idle => Some(r),
                _ = shutdown.changed() => None,
            };
            match woke {
                // The stream ended: async-imap reports a closed connection as an interrupt.
                Some(Ok(IdleResponse::ManualInterrupt)) => {
                    return Err(Error::Connection { account: account.to_owned(), what: "connection closed during IDLE".into() });
                }
                Some(Err(source)) => {
                    return Err(Error::Imap { account: account.to_owned(), what: "IDLE".into(), source });
                }
                Some(Ok(IdleResponse::Timeout | IdleResponse::NewData(_))) | None => {}
            }
            let s = timed(account, "DONE", answer, &activity, handle.done()).await?;
            c = Conn { s, activity, caps };
        } else {
            tokio::select! {
                () = tokio::time::sleep(wait(cfg.poll_interval)) => {}
                _ = shutdown.changed() => {}
            }
            timed(account, "NOOP", t, &c.activity, c.s.noop()).await?;
        }
    }
}

/// A local failure: the IMAP session stays open (a NOOP at every step keeps it alive and
/// proves it still is) while the task waits, with a delay that grows at every step, for the
/// database to answer. Ends when it does (or at shutdown); an IMAP failure ends the session.
async fn pause(
    pipeline: &Pipeline,
    cfg: &MailboxConfig,
    account: &str,
    c: &mut Conn,
    backoff: &mut Backoff,
    first: Error,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut failure = first;
    loop {
        note_failure(pipeline, account, &cfg.mailbox, &failure).await;
        let delay = backoff.next();
        tracing::warn!(
            mailbox = %cfg.mailbox,
            "intake {account}: {failure}; intake paused for {} ms (the IMAP session is kept)",
            delay.as_millis()
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return Ok(()),
        }
        timed(account, "NOOP", cfg.op_timeout, &c.activity, c.s.noop()).await?;
        match local_ready(pipeline).await {
            Ok(()) => return Ok(()),
            Err(e) => failure = e,
        }
    }
}

/// One cycle of a session: SELECT, the new messages, the messages left in the mailbox whose
/// turn has come. Returns how long until the next of those has its turn.
#[allow(clippy::too_many_arguments)]
async fn cycle(
    pipeline: &Pipeline,
    cfg: &MailboxConfig,
    account: &str,
    c: &mut Conn,
    probe: bool,
    progressed: &mut bool,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<Duration>, Error> {
    let mailbox = timed(account, "SELECT", cfg.op_timeout, &c.activity, c.s.select(&cfg.mailbox)).await?;
    let uidvalidity = i64::from(mailbox.uid_validity.ok_or_else(|| Error::Connection {
        account: account.to_owned(),
        what: format!("SELECT {}: the server gave no UIDVALIDITY", cfg.mailbox),
    })?);
    let mut conn = pipeline.pool().acquire().await.map_err(sigillo_store::Error::from)?;
    let stored = inbound::mailbox_state(&mut conn, account, &cfg.mailbox).await?;
    let last_uid = match stored {
        Some(st) if st.uidvalidity == uidvalidity => st.last_uid,
        other => {
            if let Some(old) = other {
                tracing::warn!(
                    mailbox = %cfg.mailbox,
                    "intake {account}: UIDVALIDITY changed from {} to {uidvalidity}: reading the mailbox again \
                     (messages already decided are recognised by their hash)",
                    old.uidvalidity
                );
            }
            inbound::save_mailbox_state(&mut conn, account, &cfg.mailbox, MailboxState { uidvalidity, last_uid: 0 }).await?;
            0
        }
    };
    drop(conn);

    pass(pipeline, cfg, account, c, uidvalidity, last_uid, probe, progressed, shutdown).await?;
    left_in_mailbox(pipeline, cfg, account, c, uidvalidity, progressed).await?;
    let mut conn = pipeline.pool().acquire().await.map_err(sigillo_store::Error::from)?;
    Ok(inbound::next_pending_in(&mut conn, account, &cfg.mailbox, uidvalidity, schedule(pipeline, cfg)).await?)
}

fn schedule(pipeline: &Pipeline, cfg: &MailboxConfig) -> Schedule {
    Schedule { max_attempts: pipeline.max_attempts(), base: cfg.retry_base }
}

#[derive(Clone, Copy)]
struct Caps {
    has_move: bool,
    has_uidplus: bool,
}

/// Reads every message above `last_uid`, batch after batch, until none is left. With
/// `probe`, the first batch is a single message.
///
/// The batches overlap: while the workers decide one, the connection moves the one before it
/// and fetches the one after it, so neither the IMAP round trips nor the database's updates
/// of the mailbox leave the workers idle. A batch is acted upon only once every message of it
/// committed, in UID order, and a batch that had a failure is settled at once and ends the
/// pass: nothing after it is decided. A message bigger than the batch bound is not fetched
/// ahead (two of them would be held at once).
#[allow(clippy::too_many_arguments)]
async fn pass(
    pipeline: &Pipeline,
    cfg: &MailboxConfig,
    account: &str,
    c: &mut Conn,
    uidvalidity: i64,
    last_uid: i64,
    probe: bool,
    progressed: &mut bool,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let t = cfg.op_timeout;
    let mut mailbox = Settle { pipeline, cfg, account, uidvalidity, last_uid, progressed };
    loop {
        // `n:*` always matches the last message, even below n: filter.
        let Conn { s, activity, .. } = &mut *c;
        let listing: Vec<(u32, u64)> = timed(account, "UID FETCH (RFC822.SIZE)", t, activity, async {
            let stream = s.uid_fetch(format!("{}:*", mailbox.last_uid + 1), "(UID RFC822.SIZE)").await?;
            stream
                .try_filter_map(|f| async move { Ok(f.uid.map(|u| (u, u64::from(f.size.unwrap_or(0))))) })
                .try_collect()
                .await
        })
        .await?;
        let last = mailbox.last_uid;
        let mut pending: Vec<(u32, u64)> = listing.into_iter().filter(|(u, _)| i64::from(*u) > last).collect();
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort_unstable();
        let probing = probe && !*mailbox.progressed;
        let all = if probing {
            let mut b = vec![&pending[..1]];
            b.extend(batches(&pending[1..], cfg.batch_size, cfg.batch_bytes));
            b
        } else {
            batches(&pending, cfg.batch_size, cfg.batch_bytes)
        };
        // Decided and committed, not yet acted upon.
        let mut unsettled: Option<Decided> = None;
        let mut fetched: Option<Vec<(u32, Vec<u8>)>> = None;
        for (i, batch) in all.iter().enumerate() {
            if *shutdown.borrow() {
                break;
            }
            let bodies = match fetched.take() {
                Some(b) => b,
                None => {
                    if let Some(d) = unsettled.take() {
                        mailbox.settle(c, d).await?;
                    }
                    fetch(account, t, c, batch).await?
                }
            };
            // The probe's single message is decided alone: what it probes (a full disk, say)
            // would fail the batch fetched beside it too.
            let ahead = all
                .get(i + 1)
                .filter(|b| !(probing && i == 0) && b.iter().map(|(_, s)| s).sum::<u64>() <= cfg.batch_bytes);
            let previous = unsettled.take();
            let connection = async {
                if let Some(d) = previous {
                    mailbox.settle(c, d).await?;
                }
                match ahead {
                    Some(next) => fetch(account, t, c, next).await.map(Some),
                    None => Ok(None),
                }
            };
            let (decided, next) = futures_util::join!(decide(pipeline, cfg, account, uidvalidity, bodies), connection);
            // A connection that failed leaves this batch decided but in the mailbox: the next
            // session reads it again and recognises it by its hash.
            fetched = next?;
            if decided.failure.is_some() {
                return mailbox.settle(c, decided).await;
            }
            unsettled = Some(decided);
        }
        if let Some(d) = unsettled.take() {
            mailbox.settle(c, d).await?;
        }
        if *shutdown.borrow() {
            return Ok(());
        }
    }
}

async fn fetch(account: &str, t: Duration, c: &mut Conn, batch: &[(u32, u64)]) -> Result<Vec<(u32, Vec<u8>)>, Error> {
    let set = uid_set(batch.iter().map(|(u, _)| *u));
    let Conn { s, activity, .. } = c;
    let mut bodies: Vec<(u32, Vec<u8>)> = timed(account, "UID FETCH (BODY.PEEK[])", t, activity, async {
        let stream = s.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
        stream
            .try_filter_map(|f| async move { Ok(f.uid.map(|u| (u, f.body().map(<[u8]>::to_vec).unwrap_or_default()))) })
            .try_collect()
            .await
    })
    .await?;
    bodies.sort_unstable_by_key(|(u, _)| *u);
    bodies.dedup_by_key(|(u, _)| *u);
    Ok(bodies)
}

/// A batch after the pipeline: the unbroken run of committed messages from its first UID, and
/// the failure that ended the run, if any.
struct Decided {
    done: Vec<(u32, Outcome)>,
    failure: Option<Error>,
}

async fn decide(
    pipeline: &Pipeline,
    cfg: &MailboxConfig,
    account: &str,
    uidvalidity: i64,
    bodies: Vec<(u32, Vec<u8>)>,
) -> Decided {
    // Unordered: a big message at the head of the batch must not keep the other workers idle
    // (`buffered` starts the next one only when the head is done); the order by UID is
    // restored before acting.
    let mut results: Vec<(u32, Result<Outcome, Error>)> = futures_util::stream::iter(bodies)
        .map(|(uid, raw)| async move {
            let origin = Origin {
                account: Some(account.to_owned()),
                mailbox: Some(cfg.mailbox.clone()),
                uidvalidity: Some(uidvalidity),
                uid: Some(i64::from(uid)),
            };
            let label = format!("{}/{uidvalidity}/{uid}", cfg.mailbox);
            (uid, pipeline.ingest(raw, &label, &origin).await.map_err(Error::from))
        })
        .buffer_unordered(cfg.workers.max(1))
        .collect()
        .await;
    results.sort_unstable_by_key(|(uid, _)| *uid);

    // Only what committed is acted upon, and the last UID moves only over an unbroken run of
    // committed messages: what follows a failure is read again.
    let mut decided = Decided { done: Vec::new(), failure: None };
    for (uid, r) in results {
        match r {
            Ok(o) if decided.failure.is_none() => decided.done.push((uid, o)),
            Ok(_) => {}
            Err(e) => {
                decided.failure.get_or_insert(e);
            }
        }
    }
    decided
}

/// What acting on a decided batch needs besides the connection.
struct Settle<'a> {
    pipeline: &'a Pipeline,
    cfg: &'a MailboxConfig,
    account: &'a str,
    uidvalidity: i64,
    last_uid: i64,
    progressed: &'a mut bool,
}

impl Settle<'_> {
    /// Moves or flags the batch's committed messages, stores the new last UID, and returns the
    /// batch's failure.
    async fn settle(&mut self, c: &mut Conn, decided: Decided) -> Result<(), Error> {
        let Decided { done, failure } = decided;
        let (cfg, account, uidvalidity) = (self.cfg, self.account, self.uidvalidity);
        let counts = done.iter().fold(BTreeMap::<&str, usize>::new(), |mut m, (_, o)| {
            *m.entry(state_name(o)).or_default() += 1;
            m
        });
        let acted = act(cfg, account, c, done.iter().map(|(u, o)| (*u, o.inbound_id, o.state, o.quarantined))).await?;
        if let Some((uid, _)) = done.last() {
            self.last_uid = i64::from(*uid);
            let mut conn = self.pipeline.pool().acquire().await.map_err(sigillo_store::Error::from)?;
            for (uid, o) in done.iter().filter(|(_, o)| target(&cfg.folders, o.state, o.quarantined).is_none()) {
                let copy = MailboxCopy { account, mailbox: &cfg.mailbox, uidvalidity, uid: i64::from(*uid) };
                inbound::leave_in_mailbox(&mut conn, o.inbound_id, &copy).await?;
            }
            inbound::acted_in_mailbox(&mut conn, account, &cfg.mailbox, &acted).await?;
            let state = MailboxState { uidvalidity, last_uid: self.last_uid };
            inbound::save_mailbox_state(&mut conn, account, &cfg.mailbox, state).await?;
            *self.progressed = true;
        }
        tracing::info!(mailbox = %cfg.mailbox, "intake {account}: batch of {} up to UID {}: {counts:?}", done.len(), self.last_uid);
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The messages left in this mailbox whose turn has come: retried from the blob store when
/// in error, moved or flagged once decided (by the retry or by another path) or out of
/// attempts.
async fn left_in_mailbox(
    pipeline: &Pipeline,
    cfg: &MailboxConfig,
    account: &str,
    c: &mut Conn,
    uidvalidity: i64,
    progressed: &mut bool,
) -> Result<(), Error> {
    let mut conn = pipeline.pool().acquire().await.map_err(sigillo_store::Error::from)?;
    let due = inbound::pending_in_mailbox(&mut conn, account, &cfg.mailbox, uidvalidity, schedule(pipeline, cfg), 50).await?;
    drop(conn);
    let mut now = Vec::new();
    for p in due {
        let (state, quarantined) = if p.state == MessageState::Error && p.attempts < pipeline.max_attempts() {
            let label = format!("{}/{}/{}", cfg.mailbox, p.uidvalidity.unwrap_or(0), p.uid.unwrap_or(0));
            let o = pipeline.retry(p.id, p.raw_sha256, &label).await?;
            (o.state, o.quarantined)
        } else {
            (p.state, p.state == MessageState::Error)
        };
        // A UID is only meaningful under its UIDVALIDITY: after a change, the message is
        // found again by the rescan, recognised and moved then.
        if p.uidvalidity == Some(uidvalidity)
            && let Some(uid) = p.uid.and_then(|u| u32::try_from(u).ok())
        {
            now.push((uid, p.id, state, quarantined));
        }
    }
    let acted = act(cfg, account, c, now.into_iter()).await?;
    if !acted.is_empty() {
        let mut conn = pipeline.pool().acquire().await.map_err(sigillo_store::Error::from)?;
        inbound::acted_in_mailbox(&mut conn, account, &cfg.mailbox, &acted).await?;
        *progressed = true;
    }
    Ok(())
}

fn state_name(o: &Outcome) -> &'static str {
    match o.state {
        MessageState::Registered => "registered",
        MessageState::Rejected => "rejected",
        MessageState::Review => "review",
        MessageState::Receipt => "receipt",
        MessageState::Error if o.quarantined => "quarantined",
        MessageState::Error => "error",
        MessageState::Received => "received",
    }
}

/// The folder an outcome sends its message to; `None` leaves it where it is (to retry).
fn target(folders: &Folders, state: MessageState, quarantined: bool) -> Option<&str> {
    match state {
        MessageState::Registered => Some(&folders.registered),
        MessageState::Rejected => Some(&folders.rejected),
        MessageState::Review => Some(&folders.review),
        MessageState::Receipt => Some(&folders.receipts),
        MessageState::Error if quarantined => Some(&folders.quarantine),
        MessageState::Error | MessageState::Received => None,
    }
}

/// Moves or flags committed messages, one command per destination; returns the messages
/// acted upon.
async fn act(
    cfg: &MailboxConfig,
    account: &str,
    c: &mut Conn,
    outcomes: impl Iterator<Item = (u32, InboundId, MessageState, bool)>,
) -> Result<Vec<InboundId>, Error> {
    let mut by_target: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    let mut acted = Vec::new();
    for (uid, id, state, quarantined) in outcomes {
        if let Some(folder) = target(&cfg.folders, state, quarantined) {
            by_target.entry(folder).or_default().push(uid);
            acted.push(id);
        }
    }
    let t = cfg.op_timeout;
    let (s, a, caps) = (&mut c.s, &c.activity, c.caps);
    for (folder, uids) in by_target {
        let set = uid_set(uids.iter().copied());
        match cfg.action {
            Action::Move if caps.has_move => timed(account, "UID MOVE", t, a, s.uid_mv(&set, folder)).await?,
            Action::Move => {
                timed(account, "UID COPY", t, a, s.uid_copy(&set, folder)).await?;
                timed(account, "UID STORE", t, a, async {
                    s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?.try_collect::<Vec<_>>().await
                })
                .await?;
                if caps.has_uidplus {
                    timed(account, "UID EXPUNGE", t, a, async { s.uid_expunge(&set).await?.try_collect::<Vec<_>>().await })
                        .await?;
                }
            }
            Action::Flag => {
                let keyword = keyword(folder);
                timed(account, "UID STORE", t, a, async {
                    s.uid_store(&set, format!("+FLAGS.SILENT ({keyword})")).await?.try_collect::<Vec<_>>().await
                })
                .await?;
            }
        }
    }
    Ok(acted)
}

/// The IMAP keyword for a folder name in flag mode: `Sigillo_` and the name's letters and
/// digits (keywords are atoms: no spaces, no specials).
pub fn keyword(folder: &str) -> String {
    let clean: String = folder.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("Sigillo_{clean}")
}

/// Splits the listing into batches of at most `count` messages and `bytes` bytes.
fn batches(pending: &[(u32, u64)], count: usize, bytes: u64) -> Vec<&[(u32, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0_u64;
    for (i, (_, s)) in pending.iter().enumerate() {
        if i > start && (i - start >= count.max(1) || size + s > bytes) {
            out.push(&pending[start..i]);
            start = i;
            size = 0;
        }
        size += s;
    }
    if start < pending.len() {
        out.push(&pending[start..]);
    }
    out
}

/// A UID set in the compact form `1:5,7,9:12`.
pub fn uid_set(uids: impl IntoIterator<Item = u32>) -> String {
    let mut sorted: Vec<u32> = uids.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set([9, 1, 2, 3, 7, 10, 12, 11, 3]), "1:3,7,9:12");
        assert_eq!(uid_set([5]), "5");
        assert_eq!(uid_set([]), "");
    }

    #[test]
    fn batches_respect_count_and_bytes_and_never_starve_a_big_message() {
        let p: Vec<(u32, u64)> = (1..=7).map(|u| (u, 10)).collect();
        let b = batches(&p, 3, 1000);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [3, 3, 1]);
        let b = batches(&p, 100, 25);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [2, 2, 2, 1]);
        let big = [(1, 10), (2, 5_000), (3, 10)];
        let b = batches(&big, 100, 100);
        assert_eq!(b.iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1, 1]);
    }

    #[test]
    fn backoff_grows_stays_bounded_and_jitters() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..12).map(|_| b.next()).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_secs(2)));
        assert!(delays[8..].iter().any(|d| *d > Duration::from_millis(400)), "{delays:?}");
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 3, "no jitter: {delays:?}");
        // Equal jitter: every delay is at least half its cap, so the delay really grows.
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..8).map(|_| b.next()).collect();
        for (n, d) in delays.iter().enumerate() {
            let cap = Duration::from_millis(100 << n);
            assert!(*d >= (cap / 2).max(Duration::from_millis(100)) && *d <= cap, "step {n}: {d:?}");
        }
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }

    #[test]
    fn keywords_are_atoms() {
        assert_eq!(keyword("Da verificare"), "Sigillo_Daverificare");
    }

    #[test]
    fn plain_imap_only_on_loopback() {
        assert!(Server::parse("imap://127.0.0.1:1143").is_ok());
        assert!(Server::parse("imap://localhost:1143").is_ok());
        assert!(Server::parse("imap://[::1]:1143").is_ok());
        let e = Server::parse("imap://mail.example.it:143").unwrap_err();
        assert!(e.contains("imaps://"), "{e}");
        let s = Server::parse("imaps://imaps.pec.aruba.it").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("imaps.pec.aruba.it", 993, true));
        assert!(Server::parse("imaps://u@h").is_err());
        assert!(Server::parse("http://h").is_err());
        assert!(Server::parse("imaps://h:0").is_err());
    }
}
