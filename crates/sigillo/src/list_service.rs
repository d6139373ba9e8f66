//! The service's trusted lists: `SIGILLO_TRUSTED_LIST_URL` fetched, verified with
//! `SIGILLO_TRUSTED_LIST_SIGNERS`, its pointers followed one level (each national list
//! verified with its pointer's certificates), every list that verified kept in Postgres
//! (`sigillo_store::trusted_lists`) for every instance, refreshed before each list's
//! NextUpdate by one instance at a time (advisory lock). A list that cannot be fetched or
//! does not verify leaves its last good copy in use, and the failure is recorded.
//!
//! Each process loads the stored lists at start, without the network, and again whenever
//! another process stored new ones (the refresh's generation): the pipeline's classifier
//! then takes the CA/QC services granted at the time of judgement as document anchors.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sigillo_protocol::listed::load_stored;
use sigillo_protocol::trust::SharedChecker;
use sigillo_signature::cert::Certificate;
use sigillo_store::PgPool;
use sigillo_store::trusted_lists::{self as store, GoodList, ListRole, ListSummary, RefreshState};
use sigillo_trustlist::{TrustSet, TrustedList};

use crate::config::TrustedListConfig;
use crate::trust_lists::{client, read_list, read_signers};

/// Refreshed at least this often, whatever the lists' NextUpdate says (a list may be
/// replaced early: a service withdrawn today should not wait months).
pub const MAX_INTERVAL: Duration = Duration::hours(12);
/// Refreshed this long before a list's NextUpdate.
pub const BEFORE_NEXT_UPDATE: Duration = Duration::hours(1);
/// Never tried again sooner than this after an attempt (a list past its NextUpdate whose
/// publisher is late, a site that is down).
pub const MIN_GAP: Duration = Duration::minutes(15);
/// Tried again this long after an attempt in which some list failed.
pub const RETRY: Duration = Duration::hours(1);
/// How often each process looks at the stored lists' generation and at the schedule.
pub const POLL: std::time::Duration = std::time::Duration::from_secs(60);

/// When the next refresh is due: never attempted, now; else the earliest of the last
/// success plus [`MAX_INTERVAL`], each list's NextUpdate less [`BEFORE_NEXT_UPDATE`] and,
/// when some list failed, the last attempt plus [`RETRY`]; but not sooner than [`MIN_GAP`]
/// after the last attempt.
pub fn next_refresh(state: Option<&RefreshState>, lists: &[ListSummary]) -> Option<DateTime<Utc>> {
    let state = state?;
    let attempted = state.attempted_at?;
    let mut due = state.succeeded_at.unwrap_or(attempted) + MAX_INTERVAL;
    for next in lists.iter().filter_map(|l| l.next_update) {
        due = due.min(next - BEFORE_NEXT_UPDATE);
    }
    if state.last_error.is_some() || lists.iter().any(|l| l.last_error.is_some()) {
        due = due.min(attempted + RETRY);
    }
    Some(due.max(attempted + MIN_GAP))
}

/// Whether a refresh is due at `now`.
pub fn is_due(now: DateTime<Utc>, state: Option<&RefreshState>, lists: &[ListSummary]) -> bool {
    next_refresh(state, lists).is_none_or(|due| due <= now)
}

/// The configured list and the certificates allowed to sign it.
#[derive(Clone)]
pub struct Source {
    pub url: String,
    pub signers: Vec<Certificate>,
}

impl Source {
    pub fn from_config(c: &TrustedListConfig) -> anyhow::Result<Source> {
        let signers = read_signers(&c.signers).map_err(|e| anyhow::anyhow!("SIGILLO_TRUSTED_LIST_SIGNERS: {e}"))?;
        Ok(Source { url: c.url.clone(), signers })
    }
}

/// What one refresh did: one line per list, and whether all of them are up to date.
#[derive(Debug)]
pub struct Refreshed {
    pub lines: Vec<String>,
    pub all_ok: bool,
}

/// Another process holds the refresh lock.
#[derive(Debug, thiserror::Error)]
#[error("aggiornamento delle liste di fiducia già in corso in un'altra istanza")]
pub struct Busy;

/// Fetches, verifies and stores the lists now, unless another process is doing so
/// (`Err(Busy)` inside `Ok`). The lock is held on one connection for the whole refresh and
/// released with it, also when this process dies.
pub async fn refresh(pool: &PgPool, source: &Source, now: DateTime<Utc>) -> anyhow::Result<Result<Refreshed, Busy>> {
    let mut lock = pool.acquire().await?;
    if !store::try_lock_refresh(&mut lock).await? {
        return Ok(Err(Busy));
    }
    let result = refresh_locked(pool, source, now).await;
    // A failed unlock closes nothing: the connection goes back with the lock, so drop it.
    if store::unlock_refresh(&mut lock).await.is_err() {
        drop(lock.detach());
    }
    result.map(Ok)
}

async fn refresh_locked(pool: &PgPool, source: &Source, now: DateTime<Utc>) -> anyhow::Result<Refreshed> {
    let client = client().map_err(|e| anyhow::anyhow!(e))?;
    let before: BTreeMap<String, ListSummary> =
        store::summaries(pool).await?.into_iter().map(|l| (l.territory.clone(), l)).collect();
    let mut conn = pool.acquire().await?;
    let mut lines = Vec::new();

    // The first list: its failure keeps the stored lists as they are.
    let first = match read_list(&client, &source.url).await {
        Err(cause) => Err(cause),
        Ok(bytes) => {
            let signers = source.signers.clone();
            let url = source.url.clone();
            let (set, bytes) = tokio::task::spawn_blocking(move || (TrustSet::build((url.as_str(), bytes.as_slice()), &[], &signers), bytes)).await?;
            match set {
                Ok(set) => match rollback(&before, &set.lists[0].list) {
                    Some(cause) => Err(cause),
                    None => Ok((set, bytes)),
                },
                Err(e) => Err(format!("firma NON valida: {e}")),
            }
        }
    };
    let (mut set, first_bytes) = match first {
        Ok(v) => v,
        Err(cause) => {
            let stored_first = before.values().find(|l| l.role == ListRole::First);
            if let Some(l) = stored_first {
                store::record_failure(&mut conn, &l.territory, ListRole::First, &source.url, &cause, now).await?;
            }
            store::finish_refresh(&mut conn, &source.url, Some(&cause), now).await?;
            let kept = stored_first
                .and_then(|l| l.sequence_number.map(|n| format!(" (resta in uso la lista memorizzata, numero {n})")))
                .unwrap_or_default();
            lines.push(format!("{}: NON aggiornata: {cause}{kept}", source.url));
            return Ok(Refreshed { lines, all_ok: false });
        }
    };
    let head = &set.lists[0];
    store::keep_good(&mut conn, &good(&head.list, ListRole::First, &source.url, first_bytes, &head.signer), now).await?;
    lines.push(ok_line(&head.list, &head.signer));
    let mut all_ok = true;

    // Each territory once: the first of its XML pointers that gives a list that verifies.
    let mut pointers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in set.pointers_to_follow() {
        let Some(t) = p.territory else { continue };
        let locations = pointers.entry(t).or_default();
        if !locations.contains(&p.location) {
            locations.push(p.location);
        }
    }
    for (territory, locations) in pointers {
        let mut last_cause = String::new();
        let mut last_location = String::new();
        let mut stored = false;
        for location in locations {
            last_location.clone_from(&location);
            let bytes = match read_list(&client, &location).await {
                Ok(b) => b,
                Err(cause) => {
                    last_cause = cause;
                    continue;
                }
            };
            let (outcome, s, bytes) = tokio::task::spawn_blocking(move || {
                let n = set.lists.len();
                set.add(&location, &bytes);
                let outcome = if set.lists.len() > n { Ok(()) } else { Err(set.left_out.last().map(|(_, e)| e.to_string())) };
                (outcome, set, bytes)
            })
            .await?;
            set = s;
            match outcome {
                Ok(()) => {
                    let l = set.lists.last().ok_or_else(|| anyhow::anyhow!("list just added is missing"))?;
                    if l.list.territory != territory {
                        last_cause = format!("la lista è del territorio {}, non {territory}", l.list.territory);
                        set.lists.pop();
                        continue;
                    }
                    if let Some(cause) = rollback(&before, &l.list) {
                        last_cause = cause;
                        set.lists.pop();
                        continue;
                    }
                    store::keep_good(&mut conn, &good(&l.list, ListRole::Pointed, &last_location, bytes, &l.signer), now).await?;
                    lines.push(ok_line(&l.list, &l.signer));
                    stored = true;
                    break;
                }
                Err(cause) => last_cause = format!("firma NON valida: {}", cause.unwrap_or_default()),
            }
        }
        if !stored {
            all_ok = false;
            store::record_failure(&mut conn, &territory, ListRole::Pointed, &last_location, &last_cause, now).await?;
            let kept = before
                .get(&territory)
                .and_then(|l| l.sequence_number.map(|n| format!(" (resta in uso la lista memorizzata, numero {n})")))
                .unwrap_or_default();
            lines.push(format!("{territory}: NON aggiornata da {last_location}: {last_cause}{kept}"));
        }
    }
    store::finish_refresh(&mut conn, &source.url, None, now).await?;
    Ok(Refreshed { lines, all_ok })
}

/// A list older than the one stored for its territory is refused: a replayed old list could
/// bring back a service withdrawn since.
fn rollback(before: &BTreeMap<String, ListSummary>, list: &TrustedList) -> Option<String> {
    let stored = before.get(&list.territory)?.sequence_number?;
    let new = i64::try_from(list.sequence_number).unwrap_or(i64::MAX);
    (new < stored).then(|| format!("numero di sequenza {new} inferiore a quello della lista memorizzata ({stored}): rifiutata"))
}

fn good(list: &TrustedList, role: ListRole, location: &str, body: Vec<u8>, signer: &Certificate) -> GoodList {
    GoodList {
        territory: list.territory.clone(),
        role,
        location: location.to_owned(),
        body,
        sequence_number: i64::try_from(list.sequence_number).unwrap_or(i64::MAX),
        issued_at: list.issued,
        next_update: list.next_update,
        services: i32::try_from(list.service_count()).unwrap_or(i32::MAX),
        signer: signer.subject.to_string(),
    }
}

fn ok_line(list: &TrustedList, signer: &Certificate) -> String {
    let next = list.next_update.map_or_else(|| "lista chiusa".to_owned(), |n| format!("prossimo aggiornamento {}", day_time(n)));
    format!(
        "{}: numero di sequenza {}, emessa il {}, {next}, {} servizi, firma valida ({})",
        list.territory,
        list.sequence_number,
        day_time(list.issued),
        list.service_count(),
        signer.subject
    )
}

fn day_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `sigillo trust show`: one line per stored list.
pub fn show_line(l: &ListSummary) -> String {
    let opt = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), day_time);
    let seq = l.sequence_number.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let services = l.services.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let error = l.last_error.as_deref().map(|e| format!(", ultimo errore ({}): {e}", day_time(l.attempted_at))).unwrap_or_default();
    format!(
        "{}: numero di sequenza {seq}, emessa il {}, prossimo aggiornamento {}, {services} servizi, scaricata il {}{error}",
        l.territory,
        opt(l.issued_at),
        opt(l.next_update),
        opt(l.fetched_at)
    )
}

/// Loads the stored lists into `shared` (logged, never fatal: without them the trust
/// directory alone is in use).
pub async fn load_into(pool: &PgPool, signers: &[Certificate], shared: &SharedChecker) {
    match load_stored(pool, signers).await {
        Ok(Some(set)) => {
            let n = set.lists.len();
            shared.set_listed(set.listed_anchors());
            tracing::info!("trusted lists in use: {n}, {} services' certificates", shared.listed_count());
        }
        Ok(None) => tracing::info!("no trusted list stored yet"),
        Err(e) => tracing::warn!("stored trusted lists not used: {e}"),
    }
}

/// The service's task: refreshes the lists when due (one process at a time) and loads them
/// again whenever the stored generation changes, here or in another process.
pub async fn run(pool: PgPool, source: Source, shared: Option<SharedChecker>) {
    let mut seen: Option<i64> = None;
    loop {
        let state = store::refresh_state(&pool).await;
        let lists = store::summaries(&pool).await;
        match (state, lists) {
            (Ok(state), Ok(lists)) => {
                let mut generation = state.as_ref().map(|s| s.generation);
                if is_due(Utc::now(), state.as_ref(), &lists) {
                    match refresh(&pool, &source, Utc::now()).await {
                        Ok(Ok(r)) => {
                            for line in &r.lines {
                                if r.all_ok {
                                    tracing::info!("trusted list: {line}");
                                } else {
                                    tracing::warn!("trusted list: {line}");
                                }
                            }
                        }
                        Ok(Err(Busy)) => {}
                        Err(e) => tracing::warn!("trusted lists not refreshed: {e:#}"),
                    }
                    generation = store::refresh_state(&pool).await.ok().flatten().map(|s| s.generation);
                }
                if let Some(shared) = &shared
                    && generation != seen
                {
                    load_into(&pool, &source.signers, shared).await;
                    seen = generation;
                }
            }
            (Err(e), _) | (_, Err(e)) => tracing::warn!("trusted lists: database not available: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 10, h, m, 0).unwrap()
    }

    fn state(attempted: DateTime<Utc>, succeeded: Option<DateTime<Utc>>) -> RefreshState {
        RefreshState { url: "u".into(), generation: 1, attempted_at: Some(attempted), succeeded_at: succeeded, last_error: None }
    }

    fn list(next: Option<DateTime<Utc>>) -> ListSummary {
        ListSummary {
            territory: "IT".into(),
            role: ListRole::Pointed,
            location: "l".into(),
            sequence_number: Some(1),
            issued_at: None,
            next_update: next,
            services: Some(1),
            signer: None,
            fetched_at: None,
            attempted_at: t(0, 0),
            last_error: None,
        }
    }

    #[test]
    fn the_schedule_follows_next_update_within_bounds() {
        // Never attempted: now.
        assert!(is_due(t(0, 0), None, &[]));
        // After a success, at most MAX_INTERVAL later.
        let s = state(t(1, 0), Some(t(1, 0)));
        assert_eq!(next_refresh(Some(&s), &[list(None)]), Some(t(13, 0)));
        assert!(!is_due(t(12, 59), Some(&s), &[]));
        assert!(is_due(t(13, 0), Some(&s), &[]));
        // A NextUpdate sooner than that: an hour before it.
        assert_eq!(next_refresh(Some(&s), &[list(Some(t(20, 0))), list(Some(t(6, 30)))]), Some(t(5, 30)));
        // A NextUpdate already past (the publisher is late): every MIN_GAP, not in a loop.
        assert_eq!(next_refresh(Some(&s), &[list(Some(t(0, 30)))]), Some(t(1, 15)));
        // After a failure: again after RETRY, or sooner for a NextUpdate, not before MIN_GAP.
        let mut failed = state(t(2, 0), None);
        failed.last_error = Some("download non riuscito".into());
        assert_eq!(next_refresh(Some(&failed), &[]), Some(t(3, 0)));
        assert_eq!(next_refresh(Some(&failed), &[list(Some(t(2, 10)))]), Some(t(2, 15)));
        let mut one_failed = list(Some(t(23, 0)));
        one_failed.last_error = Some("firma NON valida".into());
        assert_eq!(next_refresh(Some(&s), &[one_failed]), Some(t(2, 0)));
    }
}
