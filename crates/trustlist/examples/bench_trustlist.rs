//! Benchmark: verifying the real EU LOTL and Italian trusted list, whole process, against
//! `xmlsec1 --verify` on the same files with the same pinned key (docs/benchmarks.md).
//!
//!     cargo run --release -p sigillo_trustlist --example bench_trustlist -- [--corpus DIR] [--rounds N]
//!
//! Each round runs this example's own `verify` mode (read, parse, canonicalise, verify,
//! read the list into services: the work of `sigillo trust verify-list`) and xmlsec1 as
//! separate processes under `/usr/bin/time`, and reports the median wall time and the
//! median peak resident memory of each; then the in-process time of one verification.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failed run

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sigillo_signature::cert::{Certificate, pem_blocks};
use sigillo_signature::xmldsig::{self, Limits};
use sigillo_trustlist::verify_list;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("verify") {
        // verify LIST SIGNERS_PEM: one verification, the process being measured.
        let bytes = std::fs::read(&args[2]).unwrap();
        let pem = std::fs::read(&args[3]).unwrap();
        let signers: Vec<Certificate> =
            pem_blocks(&pem, "CERTIFICATE").unwrap().iter().map(|d| Certificate::from_der(d).unwrap()).collect();
        match verify_list(&bytes, &signers) {
            Ok(v) => println!("OK {} {} services", v.list.territory, v.list.service_count()),
            Err(e) => {
                println!("FAIL {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let mut corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/trust-lists");
    let mut rounds = 9usize;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--corpus" => corpus = PathBuf::from(&args[i + 1]),
            "--rounds" => rounds = args[i + 1].parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let work = std::env::temp_dir().join(format!("sigillo-bench-trustlist-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();

    let lotl = std::fs::read(corpus.join("eu-lotl.xml")).unwrap();
    let lotl_signer = {
        let text = xmldsig::decode(&lotl, Limits::default()).unwrap();
        let doc = xmldsig::parse(text, Limits::default()).unwrap();
        let sig = xmldsig::find_signatures(&doc)[0];
        Certificate::from_der(&xmldsig::key_info_certificates(&doc, sig)[0]).unwrap()
    };
    let lotl_list = verify_list(&lotl, std::slice::from_ref(&lotl_signer)).unwrap().list;
    let it_signer = lotl_list.pointers_to("IT").next().unwrap().certificates[0].clone();
    let pem = |name: &str, c: &Certificate| {
        let p = work.join(name);
        std::fs::write(&p, sigillo_testpki::pem("CERTIFICATE", &c.der)).unwrap();
        p
    };
    let cases = [
        ("eu-lotl.xml", corpus.join("eu-lotl.xml"), pem("lotl.pem", &lotl_signer), lotl_signer.clone()),
        ("IT.xml", corpus.join("IT.xml"), pem("it.pem", &it_signer), it_signer.clone()),
    ];
    let me = std::env::current_exe().unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("rounds {rounds}, load average {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!("| list | size | verifier | wall time (median) | peak RSS (median) |");
    println!("|---|---|---|---|---|");
    for (name, file, key, cert) in &cases {
        // One untimed run of each first, so that both read the file from the page cache.
        timed(Command::new(&me).arg("verify").arg(file).arg(key));
        let size = std::fs::metadata(file).unwrap().len();
        let ours: Vec<(f64, u64)> = (0..rounds)
            .map(|_| timed(Command::new(&me).arg("verify").arg(file).arg(key)))
            .collect();
        let theirs: Vec<(f64, u64)> = (0..rounds)
            .map(|_| {
                timed(
                    Command::new("xmlsec1")
                        .args(["--verify", "--enabled-key-data", "rsa", "--id-attr:Id", "TrustServiceStatusList", "--pubkey-cert-pem"])
                        .arg(key)
                        .arg(file),
                )
            })
            .collect();
        for (who, runs) in [("sigillo (this example)", &ours), ("xmlsec1 1.2 --verify", &theirs)] {
            let (t, m) = medians(runs);
            println!("| {name} | {:.1} MB | {who} | {:.1} ms | {:.1} MB |", size as f64 / 1e6, t * 1000.0, m as f64 / 1024.0);
        }
        // In process: the verification alone, without process start-up.
        let bytes = std::fs::read(file).unwrap();
        let start = Instant::now();
        for _ in 0..rounds {
            verify_list(&bytes, std::slice::from_ref(cert)).unwrap();
        }
        println!("| {name} | | sigillo in process, per verification | {:.1} ms | |", start.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// (wall seconds, peak RSS in KiB) of one process run under /usr/bin/time (which gives the
/// peak RSS; the wall time is measured here, /usr/bin/time's is in 10 ms steps). The
/// process must succeed.
fn timed(cmd: &mut Command) -> (f64, u64) {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let start = Instant::now();
    let out = Command::new("/usr/bin/time").args(["-f", "%M"]).arg(&program).args(&args).output().unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "{program:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    (wall, err.lines().last().unwrap_or_default().trim().parse().unwrap())
}

fn medians(runs: &[(f64, u64)]) -> (f64, u64) {
    let mut t: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let mut m: Vec<u64> = runs.iter().map(|r| r.1).collect();
    t.sort_by(f64::total_cmp);
    m.sort_unstable();
    (t[t.len() / 2], m[m.len() / 2])
}
