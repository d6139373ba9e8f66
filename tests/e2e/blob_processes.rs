//! Several `sigillo` processes on one data directory and one database (issue 14, item 4):
//! a process that starts must not sweep away the blob writes of the others.

use std::path::PathBuf;
use std::process::Output;

use sigillo_e2e::pec_mail::{Attachment, Pki};
use sigillo_e2e::{Instance, stderr, stdout, wait_for};

const MESSAGES: usize = 40;

struct Setup {
    app: Instance,
    files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

/// A migrated instance and `MESSAGES` distinct signed PEC messages on disk. The attachments
/// are large enough (1 MiB) that each write to the blob store takes a while.
async fn setup() -> Setup {
    let mut app = Instance::new().await;
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let trust = dir.path().join("trust");
    pki.write_trust_dir(&trust);
    app.env.insert("SIGILLO_TRUST_DIR".into(), trust.display().to_string());
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let files = (0..MESSAGES)
        .map(|i| {
            let raw = pki.transport(
                &format!("opec.{i}@pec.test.it"),
                &format!("Istanza n. {i}"),
                &[Attachment::SignedP7m { size: 1024 * 1024 }],
            );
            let p = dir.path().join(format!("pec-{i:02}.eml"));
            std::fs::write(&p, raw).unwrap();
            p
        })
        .collect();
    Setup { app, files, _dir: dir }
}

/// `sigillo ingest --json FILES`, the files starting at `first` and wrapping around.
fn ingest_args(files: &[PathBuf], first: usize) -> Vec<String> {
    let n = files.len();
    let mut args = vec!["ingest".to_owned(), "--json".to_owned()];
    args.extend((0..n).map(|i| files[(first + i) % n].display().to_string()));
    args
}

/// `sigillo ingest --json` over `files` in batches of `batch`, one process after the other
/// (what `xargs -n BATCH sigillo ingest` does), starting at `first`.
async fn ingest_in_batches(app: &Instance, files: &[PathBuf], first: usize, batch: usize) -> Vec<Output> {
    let all = ingest_args(files, first);
    let mut outs = Vec::new();
    for chunk in all[2..].chunks(batch) {
        let mut args = all[..2].to_vec();
        args.extend_from_slice(chunk);
        outs.push(ingest(app, &args).await);
    }
    outs
}

async fn ingest(app: &Instance, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    app.run(&args).await
}

/// Every process exited 0 with no error, and each of its `files` lines says the file was
/// registered.
fn assert_clean(outs: &[Output], files: usize) {
    for (k, out) in outs.iter().enumerate() {
        let err = stderr(out);
        assert!(!err.contains("No such file"), "process {k} lost a blob write:\n{err}");
        assert!(out.status.success(), "process {k} exited with {:?}:\n{err}", out.status);
        let lines: Vec<serde_json::Value> = stdout(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), files, "process {k}: one line per file");
        for l in &lines {
            assert_eq!(l["decision"], "register", "process {k}: {l}");
            assert_eq!(l["state"], "registered", "process {k}: {l}");
            assert!(l.get("error").is_none(), "process {k}: {l}");
        }
    }
}

/// One registration per PEC, numbered 1..=MESSAGES without gaps; every blob intact; no
/// temporary file left behind.
async fn assert_each_message_decided_once(app: &Instance) {
    let pool = &app.db.pool;
    let numbers: Vec<i32> = sqlx::query_scalar("select number from registrations order by number").fetch_all(pool).await.unwrap();
    assert_eq!(numbers, (1..=MESSAGES as i32).collect::<Vec<_>>(), "one number per message, no gap");
    let subjects: i64 = sqlx::query_scalar("select count(distinct subject) from registrations").fetch_one(pool).await.unwrap();
    assert_eq!(subjects, MESSAGES as i64, "each PEC registered once");
    let originals: i64 =
        sqlx::query_scalar("select count(*) from inbound_messages where duplicate_of is null").fetch_one(pool).await.unwrap();
    assert_eq!(originals, MESSAGES as i64);
    let not_decided: i64 =
        sqlx::query_scalar("select count(*) from inbound_messages where state not in ('registered')").fetch_one(pool).await.unwrap();
    assert_eq!(not_decided, 0, "no message left in error or unprocessed");

    let blobs = app.data_dir.path().join("blobs");
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("select raw_sha256 from inbound_messages union select sha256 from documents")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 2 * MESSAGES, "a raw message and a document per PEC");
    for h in hashes {
        let hex = hex::encode(&h);
        let bytes = std::fs::read(blobs.join(&hex[0..2]).join(&hex[2..4]).join(&hex)).unwrap();
        use sha2::Digest;
        assert_eq!(sha2::Sha256::digest(&bytes).to_vec(), h, "blob {hex} intact");
    }
    assert_eq!(std::fs::read_dir(blobs.join("tmp")).unwrap().count(), 0, "no temporary file left");
}

#[tokio::test]
async fn four_ingest_processes_on_one_data_dir_decide_each_message_once() {
    let s = setup().await;
    // All four get all the files; each starts at another quarter, so that at any moment they
    // write different blobs and each message is contended by the four.
    let args: Vec<Vec<String>> = (0..4).map(|k| ingest_args(&s.files, k * MESSAGES / 4)).collect();
    let (a, b, c, d) = tokio::join!(
        ingest(&s.app, &args[0]),
        ingest(&s.app, &args[1]),
        ingest(&s.app, &args[2]),
        ingest(&s.app, &args[3]),
    );
    let outs = [a, b, c, d];
    assert_clean(&outs, MESSAGES);
    // The four processes agree on every file's number.
    let numbers = |out: &Output| -> std::collections::BTreeMap<String, i64> {
        stdout(out)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|l| (l["file"].as_str().unwrap().to_owned(), l["protocol"]["number"].as_i64().unwrap()))
            .collect()
    };
    for out in &outs[1..] {
        assert_eq!(numbers(out), numbers(&outs[0]));
    }
    assert_each_message_decided_once(&s.app).await;
    let fresh = outs.iter().map(|o| stdout(o).matches("\"duplicate\":false").count()).sum::<usize>();
    eprintln!("4 processes × {MESSAGES} files: {MESSAGES} registrations, {fresh} decided first-hand, the rest duplicates");
}

/// Four lanes of `sigillo ingest` in batches of four files (`xargs -P4 -n4`), each lane over
/// all the files: forty processes start while the others are writing blobs.
#[tokio::test]
async fn four_lanes_of_short_ingest_processes_decide_each_message_once() {
    let s = setup().await;
    let lane = |k: usize| ingest_in_batches(&s.app, &s.files, k * MESSAGES / 4, 4);
    let (a, b, c, d) = tokio::join!(lane(0), lane(1), lane(2), lane(3));
    let outs: Vec<Output> = [a, b, c, d].into_iter().flatten().collect();
    assert_eq!(outs.len(), 4 * MESSAGES / 4);
    assert_clean(&outs, 4);
    assert_each_message_decided_once(&s.app).await;
    eprintln!("{} ingest processes in 4 lanes over {MESSAGES} files: {MESSAGES} registrations, no error", outs.len());
}

/// `sigillo ingest` run by a sysadmin while `sigillo serve` works on the same data directory;
/// the service is restarted meanwhile, as a deployment would, and each start opens the store.
#[tokio::test]
async fn ingest_beside_a_running_serve_loses_nothing() {
    let s = setup().await;
    let args = ingest_args(&s.files, 0);
    let ingest = ingest(&s.app, &args);
    tokio::pin!(ingest);

    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut starts = 0;
    let out = loop {
        let listen = format!("127.0.0.1:{}", free_port());
        let mut service = s.app.serve(&[("SIGILLO_LISTEN", &listen)]);
        starts += 1;
        let healthy = async {
            wait_for(30, "sigillo serve", || {
                let listen = listen.clone();
                async move { health(&listen).await }
            })
            .await;
        };
        // The ingest may end while the service starts: then the service is checked alone.
        let done = tokio::select! {
            out = &mut ingest => Some(out),
            () = healthy => None,
        };
        if let Some(out) = done {
            wait_for(30, "sigillo serve", || {
                let listen = listen.clone();
                async move { health(&listen).await }
            })
            .await;
            assert!(service.running());
            service.kill().await;
            break out;
        }
        assert!(service.running(), "sigillo serve stopped");
        // Let it work beside the ingest for a moment, then restart it.
        tokio::select! {
            out = &mut ingest => {
                assert!(health(&listen).await, "sigillo serve answers while ingest runs");
                service.kill().await;
                break out;
            }
            () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
        }
        service.kill().await;
    };
    assert_clean(std::slice::from_ref(&out), MESSAGES);
    assert_each_message_decided_once(&s.app).await;
    eprintln!("ingest of {MESSAGES} files beside sigillo serve, started {starts} times meanwhile: no error");
}

/// `GET /healthz` answers 200.
async fn health(listen: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(listen).await else { return false };
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer).await;
    answer.starts_with("HTTP/1.1 200")
}
