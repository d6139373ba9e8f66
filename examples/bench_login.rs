//! Benchmark of the dashboard under a login storm (issue 15): the latency of the
//! registrations list for a clerk at work while N clients post wrong passwords as fast as
//! they can.
//!
//! ```text
//! cargo build -p sigillo --bin sigillo            # or --release
//! cargo run --example bench_login -- [--sigillo PATH] [--secs N] [--attackers 0,32,64] [--rows N]
//! ```
//!
//! It runs the `sigillo` binary given (default: the one beside this example), so that two
//! builds can be compared on the same machine: the database is created empty and migrated
//! by that binary (`sigillo migrate`), seeded with `sigillo dev seed`, and served with
//! `sigillo serve` (pool of `SIGILLO_DB_MAX_CONNECTIONS`, default 10).
//!
//! The attackers use a new invented name and a new `X-Forwarded-For` address for every
//! attempt, and the throttle's tables are emptied every 50 ms, so that every attempt reaches
//! a password check whatever the build's throttling (`SIGILLO_TRUSTED_PROXIES=127.0.0.1`;
//! a build that ignores the header throttles by the one address, hence the emptying): the
//! load of a guessing attack spread over many addresses, the worst case for the pages.
//! Meanwhile one clerk loads `/registrazioni` again and again, one request at a time; the
//! table gives that page's p50/p95/max and the attempts answered per second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::COOKIE;
use sigillo_store::testing::admin_url;

const USER: &str = "sportello";
const PASSWORD: &str = "banco di prova 2026";

struct Args {
    sigillo: PathBuf,
    secs: u64,
    attackers: Vec<usize>,
    rows: u32,
}

fn args() -> Args {
    let mut a = Args { sigillo: sigillo_e2e::sigillo_bin(), secs: 10, attackers: vec![0, 32, 64], rows: 2000 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--sigillo" => a.sigillo = PathBuf::from(value),
            "--secs" => a.secs = value.parse().expect("--secs N"),
            "--rows" => a.rows = value.parse().expect("--rows N"),
            "--attackers" => a.attackers = value.split(',').map(|n| n.trim().parse().expect("--attackers 0,32,64")).collect(),
            other => panic!("unknown option {other}"),
        }
    }
    a
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Runs the binary with the bench's environment; panics with its stderr on failure.
fn run(bin: &PathBuf, env: &[(String, String)], args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    let mut cmd = std::process::Command::new(bin);
    cmd.args(args).env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sigillo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    html[start..start + 64].to_owned()
}

fn cookie_pair(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// One login attempt; returns the status.
async fn attempt(client: &reqwest::Client, base: &str, xff: &str, username: &str, password: &str) -> Option<reqwest::Response> {
    let form = client.get(format!("{base}/accedi")).send().await.ok()?;
    let cookie = cookie_pair(&form, "sigillo_accesso")?;
    let csrf = csrf_in(&form.text().await.ok()?);
    client
        .post(format!("{base}/accedi"))
        .header(COOKIE, cookie)
        .header("x-forwarded-for", xff)
        .form(&[("csrf", csrf.as_str()), ("username", username), ("password", password)])
        .send()
        .await
        .ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let name = format!("sigillo_bench_login_{}", std::process::id());
    let admin = admin_url();
    let admin_pool = sqlx::PgPool::connect(&admin).await.expect("the test Postgres (SIGILLO_TEST_DATABASE_URL)");
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&admin_pool).await.unwrap();
    let db_url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("{admin}: not a database URL"),
    };
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap().port();
    let static_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/static");
    let env: Vec<(String, String)> = [
        ("SIGILLO_DATABASE_URL", db_url.clone()),
        ("SIGILLO_DATA_DIR", data.path().display().to_string()),
        ("SIGILLO_IPA_CODE", "c_h501".to_owned()),
        ("SIGILLO_AOO_CODE", "A1B2C3D".to_owned()),
        ("SIGILLO_LISTEN", format!("127.0.0.1:{port}")),
        ("SIGILLO_STATIC_DIR", static_dir.display().to_string()),
        ("SIGILLO_TRUSTED_PROXIES", "127.0.0.1".to_owned()),
        ("SIGILLO_LOG", "error".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    run(&a.sigillo, &env, &["migrate"], None);
    run(&a.sigillo, &env, &["dev", "seed", "--registrations", &a.rows.to_string()], None);
    run(&a.sigillo, &env, &["user", "add", USER, "--name", "Sportello", "--role", "operatore"], Some(&format!("{PASSWORD}\n")));

    let mut serve = std::process::Command::new(&a.sigillo);
    serve.arg("serve").env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(path) = std::env::var_os("PATH") {
        serve.env("PATH", path);
    }
    let mut server = serve.stdout(std::process::Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "sigillo serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = attempt(&client, &base, "192.0.2.1", USER, PASSWORD).await.expect("login");
    let session = cookie_pair(&res, "sigillo_sessione").expect("the clerk's login");

    // Empties the throttle of either schema (this build's login_throttle, or the earlier
    // login_failures and per-account counter) every 50 ms.
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let new_schema: bool =
        sqlx::query_scalar("select to_regclass('login_throttle') is not null").fetch_one(&pool).await.unwrap();
    let stop_clearing = Arc::new(AtomicBool::new(false));
    let clearer = {
        let stop = stop_clearing.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sql = if new_schema {
                    "delete from login_throttle"
                } else {
                    "delete from login_failures; update staff_users set failed_logins = 0, locked_until = null"
                };
                let _ = sqlx::raw_sql(sql).execute(&pool).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    println!(
        "bench_login: {} ({} registrations), {} s per row, load {}",
        a.sigillo.display(),
        a.rows,
        a.secs,
        loadavg()
    );
    println!("| wrong logins in parallel | list p50 ms | p95 ms | max ms | list requests | attempts answered/s (401) | refused/s (429) |");
    println!("|---|---|---|---|---|---|---|");
    let serial = Arc::new(AtomicU64::new(0));
    for &n in &a.attackers {
        let stop = Arc::new(AtomicBool::new(false));
        let wrong = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..n {
            let (stop, wrong, refused, serial) = (stop.clone(), wrong.clone(), refused.clone(), serial.clone());
            let (client, base) = (client.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let i = serial.fetch_add(1, Ordering::Relaxed);
                    let xff = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
                    match attempt(&client, &base, &xff, &format!("ospite{i}"), "tentativo-sbagliato").await.map(|r| r.status()) {
                        Some(reqwest::StatusCode::UNAUTHORIZED) => wrong.fetch_add(1, Ordering::Relaxed),
                        Some(reqwest::StatusCode::TOO_MANY_REQUESTS) => refused.fetch_add(1, Ordering::Relaxed),
                        _ => 0,
                    };
                }
            }));
        }
        // Let the storm build up before measuring.
        tokio::time::sleep(Duration::from_secs(if n > 0 { 2 } else { 0 })).await;
        let (w0, r0) = (wrong.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
        let mut latencies = Vec::new();
        let begin = Instant::now();
        while begin.elapsed() < Duration::from_secs(a.secs) {
            let t = Instant::now();
            let res = client.get(format!("{base}/registrazioni")).header(COOKIE, &session).send().await.unwrap();
            assert_eq!(res.status(), reqwest::StatusCode::OK, "the list page");
            res.bytes().await.unwrap();
            latencies.push(t.elapsed());
        }
        let secs = begin.elapsed().as_secs_f64();
        let (w1, r1) = (wrong.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        latencies.sort_unstable();
        println!(
            "| {n} | {} | {} | {} | {} | {:.1} | {:.1} |",
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.95)),
            ms(latencies.last().copied().unwrap_or_default()),
            latencies.len(),
            (w1 - w0) as f64 / secs,
            (r1 - r0) as f64 / secs,
        );
    }
    stop_clearing.store(true, Ordering::Relaxed);
    let _ = clearer.await;
    let _ = server.kill();
    let _ = server.wait();
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database {name} with (force)"))).execute(&admin_pool).await.unwrap();
}
