//! Registration throughput and latency against the database's own limit.
//!
//!     cargo bench -p sigillo_store --bench register
//!
//! For 1, 8 and 32 concurrent writers it runs `register::register` in its own transaction
//! for `SIGILLO_BENCH_SECS` seconds (default 10) and reports registrations per second and the
//! p50/p99 latency of one registration (begin to commit). In the same run, against the same
//! Postgres and database, pgbench runs two custom scripts with the same writer counts:
//! `minimal` is the counter update and the insert of the row, the database's own limit for a
//! gapless register; `equivalent` is every statement `register` sends (register lock, counter,
//! registration, document, audit head, audit entry), so the gap between it and Sigillo is the
//! cost of the Rust side. Needs `pgbench` on PATH and SIGILLO_TEST_DATABASE_URL (or the local
//! server on 127.0.0.1:5432).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use sigillo_store::codes::RegisterCode;
use sigillo_store::register::{self, Actor, Register};
use sigillo_store::testing::{TestDb, bench_registration};

const WRITERS: [usize; 3] = [1, 8, 32];

const PGBENCH_SETUP: &str = r"
create table bench_counters (id int primary key, last_number int not null);
insert into bench_counters values (1, 0);
create table bench_registrations (
    id bigint generated always as identity primary key, year int not null, number int not null,
    registered_at timestamptz not null, subject text not null, document_hashes bytea[] not null,
    unique (year, number));
";

const PGBENCH_MINIMAL: &str = r"
BEGIN;
UPDATE bench_counters SET last_number = last_number + 1 WHERE id = 1 RETURNING last_number \gset
INSERT INTO bench_registrations (year, number, registered_at, subject, document_hashes) VALUES (2026, :last_number, clock_timestamp(), 'Richiesta di accesso agli atti', ARRAY[sha256('x'::bytea)]);
END;
";

/// The statements `register::register` sends, in order, with equivalent values.
const PGBENCH_EQUIVALENT: &str = r"
BEGIN;
SELECT id FROM registers WHERE id = :register FOR UPDATE;
INSERT INTO register_counters AS c (register_id, year, last_number) VALUES (:register, 2030, 1) ON CONFLICT (register_id, year) DO UPDATE SET last_number = c.last_number + 1 RETURNING c.last_number \gset
INSERT INTO registrations (register_id, year, number, registered_at, direction, correspondent_name, correspondent_address, subject, document_hashes, created_by) VALUES (:register, 2030, :last_number, clock_timestamp(), 'incoming', 'Mario Rossi', 'mario.rossi@pec.example.it', 'Richiesta di accesso agli atti', ARRAY[sha256('x'::bytea)], 'bench') RETURNING id \gset
INSERT INTO documents (registration_id, ordinal, name, media_type, size_bytes, sha256, role, signature_report) VALUES (:id, 0, 'istanza.pdf.p7m', 'application/pkcs7-mime', 200000, sha256('x'::bytea), 'primary', '{}');
SELECT last_id FROM audit_head FOR UPDATE \gset
INSERT INTO audit_log (id, at, actor, action, object_type, object_id, details, prev_hash, content_hash, hash) VALUES (:last_id + 1, clock_timestamp(), 'bench', 'registration.create', 'registration', :id, '{}', (SELECT last_hash FROM audit_head), sha256('c'::bytea), sha256('h'::bytea));
UPDATE audit_head SET last_id = last_id + 1, last_hash = sha256('h'::bytea);
END;
";

struct Run {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run_sigillo(db: &TestDb, reg: &Register, writers: usize, secs: u64) -> Run {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let pool = db.pool.clone();
        let reg = reg.clone();
        tasks.push(tokio::spawn(async move {
            let actor = Actor::parse("bench").unwrap();
            let mut lat = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut tx = pool.begin().await.unwrap();
                register::register(&mut tx, &reg, &actor, &bench_registration(i), None).await.unwrap();
                tx.commit().await.unwrap();
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1e3;
    Run { rate: all.len() as f64 / elapsed, p50_ms: pct(0.50), p99_ms: pct(0.99) }
}

fn pgbench(url: &str, script: &str, writers: usize, secs: u64, vars: &[(&str, String)]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script.sql");
    std::fs::write(&file, script).unwrap();
    let mut cmd = Command::new("pgbench");
    cmd.args(["-n", "-M", "prepared", "-f"]).arg(&file);
    cmd.args(["-c", &writers.to_string(), "-j", &writers.min(2).to_string(), "-T", &secs.to_string()]);
    for (k, v) in vars {
        cmd.args(["-D", &format!("{k}={v}")]);
    }
    let out = cmd.arg(url).output().expect("pgbench is needed (Debian package postgresql-contrib or postgresql)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pgbench failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output: {text}"))
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("SIGILLO_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let db = TestDb::new(40).await.expect("a test database (SIGILLO_TEST_DATABASE_URL)");
    let mut conn = db.pool.acquire().await.unwrap();
    let reg = db.test_register().await.unwrap();
    // A second register for pgbench's `equivalent` script, so both write the same tables.
    let bench_reg = Register::ensure(&mut conn, &reg.ipa_code, &reg.aoo_code, &RegisterCode::parse("BENCH").unwrap(), reg.timezone)
        .await
        .unwrap();
    sqlx::raw_sql(PGBENCH_SETUP).execute(&mut *conn).await.unwrap();
    let settings: Vec<(String, String)> = sqlx::query_as(
        "select name, setting from pg_settings where name in ('fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_connections') order by name",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    drop(conn);

    println!("Postgres settings: {}", settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    println!("{secs} s per run, same database {}", db.name);
    println!();
    println!("| writers | sigillo reg/s | p50 ms | p99 ms | pgbench minimal tps | sigillo/minimal | pgbench equivalent tps | sigillo/equivalent |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for w in WRITERS {
        let ours = run_sigillo(&db, &reg, w, secs).await;
        let minimal = pgbench(&db.url, PGBENCH_MINIMAL, w, secs, &[]);
        let equivalent = pgbench(&db.url, PGBENCH_EQUIVALENT, w, secs, &[("register", bench_reg.id.to_string())]);
        println!(
            "| {w} | {:.0} | {:.2} | {:.2} | {:.0} | {:.0}% | {:.0} | {:.0}% |",
            ours.rate,
            ours.p50_ms,
            ours.p99_ms,
            minimal,
            100.0 * ours.rate / minimal,
            equivalent,
            100.0 * ours.rate / equivalent
        );
    }
}
