//! `sigillo blobs verify` and the service's nightly check of the blob store (issue 18 §5).
//!
//! The command walks the whole store; the service walks a share of it each night
//! (`SIGILLO_BLOB_VERIFY_PERCENT` of the fan-out directories `blobs/00` .. `blobs/ff`, starting
//! where the last night stopped), so the whole store is read every 100/percent nights
//! without one long burst of disk reads. Each run is recorded in Postgres with the blobs it
//! found damaged, and those the database references in its share that are not in the store
//! at all (missing); the dashboard shows the latest.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use sigillo_store::PgPool;
use sigillo_store::blob::{BlobStore, Damaged, Fault, MISSING};
use sigillo_store::blob_checks::{self, Check, NewCheck, Trigger};

use crate::commands::{load_config, open};

/// When the service checks its share of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The share of the store per run, in percent; 0: the service never checks.
    pub percent: u8,
    /// The hour of the night (in the register's time zone) the run starts.
    pub hour: u32,
    /// Instead of nightly, every this long (`SIGILLO_BLOB_VERIFY_INTERVAL_SECS`).
    pub every: Option<Duration>,
}

impl Schedule {
    /// How many fan-out directories one run covers: at least one, at most all 256.
    pub fn prefixes(&self) -> u16 {
        (u16::from(self.percent.min(100)) * 256).div_ceil(100).clamp(1, 256)
    }

    /// Whether a run is due at `now`, the last one having started at `last` (or, before the
    /// first, the service having started then). Nightly: once the day's `hour` has passed
    /// since `last`. A time that does not exist or exists twice that night (the change to
    /// or from summer time) is taken at its earliest.
    pub fn due(&self, now: DateTime<Utc>, last: DateTime<Utc>, tz: Tz) -> bool {
        if self.percent == 0 {
            return false;
        }
        if let Some(every) = self.every {
            return now.signed_duration_since(last).to_std().is_ok_and(|d| d >= every);
        }
        let local = now.with_timezone(&tz);
        let mut day = local.date_naive();
        let slot = |d: chrono::NaiveDate| {
            let naive = d.and_hms_opt(self.hour, 0, 0).unwrap_or_default();
            tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc))
        };
        // The latest slot at or before now.
        let latest = loop {
            match slot(day) {
                Some(t) if t <= now => break t,
                _ => match day.pred_opt() {
                    Some(d) => day = d,
                    None => return false,
                },
            }
        };
        last < latest
    }
}

/// Checks `prefixes` fan-out directories from `first` on and records the run.
pub async fn run(pool: &PgPool, blobs: &BlobStore, trigger: Trigger, first: u8, prefixes: u16) -> anyhow::Result<Check> {
    let started_at = Utc::now();
    let store = blobs.clone();
    let range: Vec<u8> = (0..prefixes).map(|i| ((u16::from(first) + i) % 256) as u8).collect();
    // Read before the walk: a blob is stored before the row that references it is
    // committed, so every digest read here is in the store unless it was lost.
    let referenced = {
        let mut conn = pool.acquire().await?;
        blob_checks::referenced(&mut conn, &range).await?
    };
    let found = tokio::task::spawn_blocking(move || {
        let mut found = store.verify(range)?;
        found.damaged.extend(referenced.into_iter().filter(|h| !store.contains(h)).map(|hash| Damaged {
            hash,
            fault: Fault::Missing,
            problem: MISSING.to_owned(),
        }));
        Ok::<_, sigillo_store::Error>(found)
    })
    .await
    .context("the check of the blob store stopped")??;
    let new = NewCheck {
        trigger,
        started_at,
        finished_at: Utc::now().max(started_at),
        first_prefix: first,
        prefixes,
        blobs: found.blobs,
        bytes: found.bytes,
        damaged: found.damaged,
    };
    let mut tx = pool.begin().await?;
    let id = blob_checks::record(&mut tx, &new).await?;
    tx.commit().await?;
    Ok(Check {
        id,
        trigger,
        started_at: new.started_at,
        finished_at: new.finished_at,
        first_prefix: first,
        prefixes,
        blobs: i64::try_from(new.blobs).unwrap_or(i64::MAX),
        bytes: i64::try_from(new.bytes).unwrap_or(i64::MAX),
        damaged: new.damaged,
    })
}

/// `sigillo blobs verify`: the whole store; one line per damaged or missing blob and one per
/// thing that uses it; exit status 1 when something is damaged or missing.
pub async fn verify_command() -> anyhow::Result<ExitCode> {
    let config = load_config()?;
    let (pool, _) = open(&config).await?;
    let blobs = BlobStore::open(&config.data_dir).context("cannot open the data directory (SIGILLO_DATA_DIR)")?;
    let check = run(&pool, &blobs, Trigger::Command, 0, 256).await?;
    let mut conn = pool.acquire().await?;
    for d in &check.damaged {
        match d.fault {
            Fault::Damaged => println!("danneggiato {}: {}", d.hash, d.problem),
            Fault::Missing => println!("mancante {}: registrato nel database ma assente dall'archivio", d.hash),
        }
        let uses = blob_checks::uses_of(&mut conn, &d.hash).await?;
        if uses.is_empty() {
            println!("  non usato da alcuna registrazione o messaggio");
        }
        for u in uses {
            println!("  usato da: {}", u.describe_it());
        }
    }
    let mb = check.bytes as f64 / 1_048_576.0;
    let missing = check.damaged.iter().filter(|d| d.fault == Fault::Missing).count();
    let damaged = check.damaged.len() - missing;
    if check.damaged.is_empty() {
        println!("archivio integro: {} file verificati ({mb:.1} MB)", check.blobs);
        return Ok(ExitCode::SUCCESS);
    }
    if damaged > 0 {
        println!(
            "archivio danneggiato: {damaged} file su {} non corrispondono più alla loro impronta SHA-256; \
             ripristinarli dal backup, o archiviare di nuovo gli stessi byte (sigillo ingest) per ripararli",
            check.blobs
        );
    }
    if missing > 0 {
        println!(
            "archivio incompleto: {missing} file registrati nel database mancano dall'archivio; \
             ripristinarli dal backup, o archiviare di nuovo gli stessi byte (sigillo ingest)"
        );
    }
    Ok(ExitCode::from(1))
}

/// The service's checker: looks every minute (or every interval, if shorter) whether a run
/// is due, and runs it. Errors are logged and retried at the next look, never fatal.
/// Two services on one store may both run the same night: harmless (the same files read
/// twice, two rows recorded).
pub async fn scheduler(pool: PgPool, blobs: BlobStore, schedule: Schedule, tz: Tz, mut stop: tokio::sync::watch::Receiver<bool>) {
    if schedule.percent == 0 {
        tracing::info!("nightly check of the blob store off (SIGILLO_BLOB_VERIFY_PERCENT=0)");
        return;
    }
    let started = Utc::now();
    let tick = schedule.every.map_or(Duration::from_secs(60), |e| e.min(Duration::from_secs(60)));
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = run_if_due(&pool, &blobs, schedule, tz, started).await {
            tracing::warn!("the check of the blob store failed (retried later): {e:#}");
        }
    }
}

async fn run_if_due(pool: &PgPool, blobs: &BlobStore, schedule: Schedule, tz: Tz, started: DateTime<Utc>) -> anyhow::Result<()> {
    let last = {
        let mut conn = pool.acquire().await?;
        blob_checks::latest_scheduled(&mut conn).await?
    };
    let (since, first) = match &last {
        Some(c) => (c.started_at, c.next_prefix()),
        None => (started, 0),
    };
    if !schedule.due(Utc::now(), since, tz) {
        return Ok(());
    }
    let check = run(pool, blobs, Trigger::Schedule, first, schedule.prefixes()).await?;
    if check.damaged.is_empty() {
        tracing::info!(blobs = check.blobs, bytes = check.bytes, first_prefix = first, prefixes = check.prefixes, "blob store checked: intact");
    } else {
        for d in &check.damaged {
            match d.fault {
                Fault::Damaged => tracing::error!(blob = %d.hash, "damaged blob: {}", d.problem),
                Fault::Missing => tracing::error!(blob = %d.hash, "missing blob: {}", d.problem),
            }
        }
        tracing::error!(damaged = check.damaged.len(), blobs = check.blobs, "blob store checked: damaged or missing blobs found (see the dashboard, `sigillo blobs verify`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    const ROME: Tz = chrono_tz::Europe::Rome;

    #[test]
    fn nightly_runs_once_after_the_hour_in_the_registers_time_zone() {
        let s = Schedule { percent: 10, hour: 3, every: None };
        // Last run at 03:00 Rome (02:00 UTC in winter) on the 5th.
        let last = at("2026-12-05T02:00:30Z");
        assert!(!s.due(at("2026-12-05T12:00:00Z"), last, ROME), "same day: not again");
        assert!(!s.due(at("2026-12-06T01:59:00Z"), last, ROME), "02:59 Rome on the 6th: not yet");
        assert!(s.due(at("2026-12-06T02:00:00Z"), last, ROME), "03:00 Rome on the 6th");
        assert!(s.due(at("2026-12-09T10:00:00Z"), last, ROME), "days missed: one run");
        // Summer time: 03:00 Rome is 01:00 UTC.
        assert!(s.due(at("2026-07-02T01:00:00Z"), at("2026-07-01T01:00:10Z"), ROME));
        assert!(!s.due(at("2026-07-02T00:59:00Z"), at("2026-07-01T01:00:10Z"), ROME));
        // Off.
        assert!(!Schedule { percent: 0, ..s }.due(at("2027-01-01T00:00:00Z"), last, ROME));
    }

    #[test]
    fn an_interval_replaces_the_night() {
        let s = Schedule { percent: 50, hour: 3, every: Some(Duration::from_secs(30)) };
        let last = at("2026-12-05T12:00:00Z");
        assert!(!s.due(at("2026-12-05T12:00:29Z"), last, ROME));
        assert!(s.due(at("2026-12-05T12:00:30Z"), last, ROME));
    }

    #[test]
    fn a_share_is_a_whole_number_of_fan_out_directories() {
        let p = |percent| Schedule { percent, hour: 3, every: None }.prefixes();
        assert_eq!((p(1), p(10), p(50), p(100)), (3, 26, 128, 256));
    }
}
