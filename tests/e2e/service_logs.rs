//! The service's log written to a file or a pipe (journald, `2> sigillo.log`, docker) is
//! plain text: no ANSI colour codes, which a log file or journald shows as `^[[2m…`
//! (issue 14 item 7). Colour is for a terminal only; no test here has one.

use sigillo_e2e::pec_sim::{pec_sim_bin, pki_init};
use sigillo_e2e::{Instance, stderr, wait_for};

const ESC: u8 = 0x1b;

fn assert_plain(what: &str, log: &[u8]) {
    let at = log.iter().position(|&b| b == ESC);
    assert!(at.is_none(), "{what}: an ESC byte at {at:?} in the log:\n{}", String::from_utf8_lossy(log));
}

#[tokio::test]
async fn sigillo_logs_to_a_pipe_or_a_file_without_colour_codes() {
    let mut instance = Instance::new().await;
    instance.env.insert("SIGILLO_LOG".into(), "info".into());
    // An unknown variable is logged at warn: a level that would be coloured too.
    instance.env.insert("SIGILLO_TYPO_FOR_TEST".into(), "1".into());

    // `sigillo migrate` with its standard error a pipe.
    let out = instance.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_plain("sigillo migrate", &out.stderr);

    // `sigillo serve` with its standard error a file, until it listens.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sigillo.log");
    let mut service = instance.serve_logging_to(&[], &log);
    wait_for(60, "sigillo serve to log that it listens", || {
        let log = log.clone();
        async move { std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on")) }
    })
    .await;
    assert!(service.running());
    service.kill().await;
    let bytes = std::fs::read(&log).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(" INFO ") && text.contains(" WARN "), "levels logged at info and warn:\n{text}");
    assert!(text.contains("SIGILLO_TYPO_FOR_TEST"), "{text}");
    assert_plain("sigillo serve", &bytes);
}

#[tokio::test]
async fn pec_sim_logs_to_a_file_without_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    pki_init(&pki, &["pec.test.it"]).await;
    let log = dir.path().join("pec-sim.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = tokio::process::Command::new(pec_sim_bin())
        .args(["serve", "--pki"])
        .arg(&pki)
        .args(["--smtp", "127.0.0.1:0", "--lmtp", "127.0.0.1:9", "--password", "x", "--domain", "pec.test.it"])
        .env_remove("NO_COLOR")
        .env("PEC_SIM_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(30, "pec-sim to log that it serves", || {
        let log = log.clone();
        async move { std::fs::read_to_string(&log).is_ok_and(|l| l.contains("pec-sim serving")) }
    })
    .await;
    let _ = child.kill().await;
    let bytes = std::fs::read(&log).unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains(" INFO "), "{}", String::from_utf8_lossy(&bytes));
    assert_plain("pec-sim serve", &bytes);
}
