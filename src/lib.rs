//! Test harness shared by the end-to-end tests in `tests/`: the real `sigillo` binary run
//! against a fresh database of the real Postgres the test command provides.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

pub use sigillo_store::testing::TestDb;

pub mod dovecot;
pub mod pec_mail;
pub mod pec_sim;
pub mod tcp_proxy;

/// The `sigillo` binary of this build (`cargo build --workspace --bins` puts it beside the
/// test executables).
pub fn sigillo_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test>-<hash> → target/<profile>/sigillo
    let candidate = exe.parent().and_then(|deps| deps.parent()).map(|p| p.join("sigillo"));
    match candidate {
        Some(bin) if bin.is_file() => bin,
        _ => panic!(
            "the sigillo binary is not built next to {}: build it first with \
             `cargo build --workspace --bins` (scripts/test does)",
            exe.display()
        ),
    }
}

/// A Sigillo installation for one test: its own database and data directory.
pub struct Instance {
    pub db: TestDb,
    pub data_dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl Instance {
    pub async fn new() -> Instance {
        let db = match TestDb::new(4).await {
            Ok(db) => db,
            Err(e) => panic!("cannot create a test database (is SIGILLO_TEST_DATABASE_URL right?): {e}"),
        };
        let data_dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temporary data directory: {e}"),
        };
        let env = BTreeMap::from([
            ("SIGILLO_DATABASE_URL".to_owned(), db.url.clone()),
            ("SIGILLO_DATA_DIR".to_owned(), data_dir.path().display().to_string()),
            ("SIGILLO_IPA_CODE".to_owned(), "c_h501".to_owned()),
            ("SIGILLO_AOO_CODE".to_owned(), "A1B2C3D".to_owned()),
            ("SIGILLO_LOG".to_owned(), "warn".to_owned()),
        ]);
        Instance { db, data_dir, env }
    }

    /// Runs `sigillo ARGS` with exactly this instance's environment (plus PATH).
    pub async fn run(&self, args: &[&str]) -> Output {
        run_with_env(&self.env, args).await
    }
}

/// Runs `sigillo ARGS` with exactly `env` (plus PATH), nothing inherited.
pub async fn run_with_env(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(sigillo_bin());
    cmd.args(args).env_clear().envs(env);
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    match cmd.output().await {
        Ok(out) => out,
        Err(e) => panic!("cannot run sigillo: {e}"),
    }
}

/// Standard error as text, for assertions.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output as text, for assertions.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `sigillo serve` child process.
pub struct Service {
    pub child: tokio::process::Child,
}

impl Instance {
    /// Starts `sigillo serve` with this instance's environment plus `extra`, on a free port.
    pub fn serve(&self, extra: &[(&str, &str)]) -> Service {
        self.serve_to(extra, std::process::Stdio::inherit())
    }

    /// Like [`Instance::serve`], with the service's log (stderr) written to `log`.
    pub fn serve_logging_to(&self, extra: &[(&str, &str)], log: &std::path::Path) -> Service {
        let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        self.serve_to(extra, std::process::Stdio::from(file))
    }

    fn serve_to(&self, extra: &[(&str, &str)], stderr: std::process::Stdio) -> Service {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let mut cmd = tokio::process::Command::new(sigillo_bin());
        cmd.arg("serve")
            .env_clear()
            .envs(&self.env)
            .env("SIGILLO_LISTEN", format!("127.0.0.1:{port}"))
            .envs(extra.iter().map(|(k, v)| (*k, *v)))
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start sigillo serve: {e}"));
        Service { child }
    }
}

impl Service {
    /// SIGKILL: no chance to finish anything.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Polls `check` every 100 ms until it returns true or `secs` pass; panics with `what`.
pub async fn wait_for<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}
