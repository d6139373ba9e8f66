//! The real `pec-sim` binary for end-to-end tests: a PKI made by `pec-sim pki init`, and the
//! provider (`pec-sim serve`) as a child process on a loopback port.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The `pec-sim` binary of this build, beside `sigillo` (`cargo build --workspace --bins`).
pub fn pec_sim_bin() -> PathBuf {
    // target/<profile>/deps/<test>-<hash> → target/<profile>/pec-sim
    let exe = std::env::current_exe().unwrap_or_default();
    let bin = exe.parent().and_then(|deps| deps.parent()).map(|p| p.join("pec-sim")).unwrap_or_default();
    assert!(bin.is_file(), "build pec-sim first: cargo build --workspace --bins ({})", bin.display());
    bin
}

/// Runs `pec-sim ARGS` to completion.
pub async fn pec_sim(args: &[&str]) -> Output {
    tokio::process::Command::new(pec_sim_bin())
        .args(args)
        .env("PEC_SIM_LOG", "warn")
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run pec-sim: {e}"))
}

/// `pec-sim pki init DIR --domain D…` with the fast pool keys (tests only).
pub async fn pki_init(dir: &Path, domains: &[&str]) {
    let mut args = vec!["pki", "init", dir.to_str().unwrap_or_default(), "--pool-keys"];
    for d in domains {
        args.extend(["--domain", d]);
    }
    let out = pec_sim(&args).await;
    assert!(out.status.success(), "pec-sim pki init: {}", String::from_utf8_lossy(&out.stderr));
}

/// A running `pec-sim serve`.
pub struct Provider {
    child: tokio::process::Child,
    /// `127.0.0.1:PORT` of its SMTP listener.
    pub smtp: String,
}

impl Provider {
    /// Starts `pec-sim serve` on `smtp` (`127.0.0.1:0` for any free port), delivering over
    /// LMTP to `lmtp`, for the PEC `domains`; users' password `password`.
    pub async fn start(pki: &Path, smtp: &str, lmtp: &str, domains: &[&str], password: &str) -> Provider {
        Self::start_with(pki, smtp, lmtp, domains, password, &[]).await
    }

    /// [`Provider::start`] with more `pec-sim serve` arguments (e.g. `--max-size N`).
    pub async fn start_with(pki: &Path, smtp: &str, lmtp: &str, domains: &[&str], password: &str, extra: &[&str]) -> Provider {
        let mut cmd = tokio::process::Command::new(pec_sim_bin());
        cmd.args(["serve", "--pki"]).arg(pki).args(["--smtp", smtp, "--lmtp", lmtp, "--password", password]);
        for d in domains {
            cmd.args(["--domain", d]);
        }
        cmd.args(extra);
        cmd.env("PEC_SIM_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start pec-sim serve: {e}"));
        let Some(stdout) = child.stdout.take() else { panic!("pec-sim serve: no stdout") };
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            other => panic!("pec-sim serve did not say where it listens: {other:?}"),
        };
        let smtp = match line.strip_prefix("pec-sim: smtp listening on ") {
            Some(addr) => addr.to_owned(),
            None => panic!("unexpected first line from pec-sim serve: {line}"),
        };
        // Keep reading stdout so that the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Provider { child, smtp }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
