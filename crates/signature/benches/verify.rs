//! Verification benchmarks (a bench binary, no harness): issue 4's Benchmark section.
//!
//! ```text
//! cargo build --release -p sigillo_signature --example verify_file
//! cargo bench -p sigillo_signature --bench verify -- [large] [corpus] [pdf] [memory]
//! ```
//! * `large`: in-process MB/s verifying a generated 50 MB .p7m (DER and BER) against plain
//!   SHA-256 over the same content bytes (goal: at least 80 %).
//! * `corpus`: the corpus .p7m files, whole process: our `verify_file` example against
//!   `openssl cms -verify -binary -noverify`; plus our in-process time per file.
//! * `pdf`: the corpus PDFs, whole process: `verify_file` against
//!   `pyhanko sign validate --no-revocation-check --no-strict-syntax` (PYHANKO env var, default
//!   /work/venv-sig/bin/pyhanko).
//! * `memory`: peak RSS (`/usr/bin/time -v`) of `verify_file` on a generated 100 MB signed PDF.
//!
//! Environment: SIGILLO_CORPUS (default ../shared/corpus/signatures from the workspace root).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest as _;
use sigillo_signature::{Indication, TrustStore, VerifyOptions, verify_document, verify_document_with};
use sigillo_testpki::pdf::{PdfSignOptions, minimal_pdf, sign_pdf};
use sigillo_testpki::{Ca, LeafSpec, SignOptions, sign_attached};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let all = args.is_empty();
    let want = |s: &str| all || args.iter().any(|a| a == s);
    println!("machine: {} cores, load average {}", cores(), std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
    if want("large") {
        large();
    }
    if want("corpus") {
        corpus();
    }
    if want("pdf") {
        pdf();
    }
    if want("memory") {
        memory();
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Best (minimum) and median of `runs` timings of `f`.
fn time<F: FnMut()>(runs: usize, mut f: F) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2])
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// Deterministic pseudo-random bytes (xorshift), so that runs are comparable.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn large() {
    const SIZE: usize = 50 * 1024 * 1024;
    let ca = Ca::new_root("Bench CA");
    let leaf = ca.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U"));
    let trust = TrustStore::from_certificates([ca.cert_der()]).unwrap();
    let content = noise(SIZE);
    let der = sign_attached(&leaf, &content, &SignOptions::default());
    let ber = sign_attached(&leaf, &content, &SignOptions::ber());
    let now = chrono::Utc::now();
    let runs = 7;
    let (sha_best, sha_med) = time(runs, || {
        std::hint::black_box(sha2::Sha256::digest(std::hint::black_box(&content)));
    });
    println!("\n## large: 50 MiB content ({SIZE} bytes), best / median of {runs}");
    println!("| what | best | MB/s (best) | median | % of SHA-256 (best) |");
    println!("|---|---|---|---|---|");
    println!("| plain SHA-256 over the content | {sha_best:.2?} | {:.0} | {sha_med:.2?} | 100 % |", mbps(SIZE, sha_best));
    let verify_only = VerifyOptions { extract_content: false, ..VerifyOptions::default() };
    for (name, p7m, options) in [
        ("verify, DER .p7m", &der, verify_only),
        ("verify, BER .p7m (1000-byte chunks)", &ber, verify_only),
        ("verify + extract content (verify_document), DER .p7m", &der, VerifyOptions::default()),
        ("verify + extract content (verify_document), BER .p7m", &ber, VerifyOptions::default()),
    ] {
        let (best, med) = time(runs, || {
            let r = verify_document_with(std::hint::black_box(p7m), None, &trust, now, options);
            assert_eq!(r.verdict, Indication::TotalPassed, "{}", r.detail);
        });
        println!(
            "| {name} ({} bytes) | {best:.2?} | {:.0} | {med:.2?} | {:.0} % |",
            p7m.len(),
            mbps(SIZE, best),
            100.0 * sha_best.as_secs_f64() / best.as_secs_f64()
        );
    }
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SIGILLO_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/signatures"));
    if dir.join("MANIFEST.md").is_file() {
        Some(dir)
    } else {
        println!("\nSIGNATURE CORPUS ABSENT at {}: corpus benchmarks skipped", dir.display());
        None
    }
}

/// The `verify_file` example next to this bench's target dir (build it first).
fn verify_file() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?; // target/release/deps/verify-… → target/release
    let p = profile_dir.join("examples/verify_file");
    if p.is_file() {
        Some(p)
    } else {
        println!("verify_file example not built: run `cargo build --release -p sigillo_signature --example verify_file`");
        None
    }
}

/// Runs a command `runs` times; returns (mean wall time, exit status of the last run).
fn run(runs: usize, cmd: &mut dyn FnMut() -> Command) -> (Duration, Option<i32>) {
    let mut status = None;
    let start = Instant::now();
    for _ in 0..runs {
        status = cmd().stdout(Stdio::null()).stderr(Stdio::null()).status().ok().and_then(|s| s.code());
    }
    (start.elapsed() / runs as u32, status)
}

fn corpus() {
    let Some(dir) = corpus_dir() else { return };
    let Some(ours) = verify_file() else { return };
    let mut files: Vec<PathBuf> = ["cades", "italian"]
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.join(d)).into_iter().flatten().flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "p7m"))
        .collect();
    files.sort();
    let runs = 20;
    let now = chrono::Utc::now();
    let empty = TrustStore::empty();
    println!("\n## corpus .p7m: whole process, mean of {runs} runs each");
    println!("| file | bytes | openssl cms -verify -noverify | rc | verify_file (ours) | verdict | ours in-process |");
    println!("|---|---|---|---|---|---|---|");
    let (mut total_ossl, mut total_ours, mut n) = (Duration::ZERO, Duration::ZERO, 0u32);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let inform = if bytes.starts_with(b"-----BEGIN") {
            "PEM"
        } else if bytes.first() == Some(&0x30) {
            "DER"
        } else {
            // Bare base64 without armour: openssl has no input form for it.
            "-"
        };
        let (ossl, rc) = if inform == "-" {
            (Duration::ZERO, None)
        } else {
            run(runs, &mut || {
                let mut c = Command::new("openssl");
                c.args(["cms", "-verify", "-binary", "-noverify", "-inform", inform, "-out", "/dev/null", "-in"]).arg(f);
                c
            })
        };
        let (mine, _) = run(runs, &mut || {
            let mut c = Command::new(&ours);
            c.arg(f);
            c
        });
        let r = verify_document(&bytes, None, &empty, now);
        let (inproc, _) = time(runs, || {
            std::hint::black_box(verify_document(&bytes, None, &empty, now));
        });
        if inform != "-" {
            total_ossl += ossl;
            total_ours += mine;
            n += 1;
        }
        println!(
            "| {} | {} | {} | {} | {mine:.2?} | {:?} | {inproc:.2?} |",
            f.file_name().unwrap().to_string_lossy(),
            bytes.len(),
            if inform == "-" { "n/a (bare base64)".to_owned() } else { format!("{ossl:.2?}") },
            rc.map_or("-".to_owned(), |c| c.to_string()),
            r.verdict
        );
    }
    if n > 0 {
        println!(
            "\ncorpus .p7m ({n} files both tools read): openssl mean {:.2?}/file, ours mean {:.2?}/file ({:.1} vs {:.1} files/s)",
            total_ossl / n,
            total_ours / n,
            f64::from(n) / total_ossl.as_secs_f64(),
            f64::from(n) / total_ours.as_secs_f64()
        );
    }
}

fn pdf() {
    let Some(dir) = corpus_dir() else { return };
    let Some(ours) = verify_file() else { return };
    let pyhanko = std::env::var("PYHANKO").unwrap_or_else(|_| "/work/venv-sig/bin/pyhanko".to_owned());
    let have_pyhanko = Command::new(&pyhanko).arg("--version").output().is_ok_and(|o| o.status.success());
    if !have_pyhanko {
        println!("\npyHanko not found at {pyhanko} (set PYHANKO): pyHanko column skipped");
    }
    let mut files: Vec<PathBuf> = ["italian", "pades", "pades-attacks"]
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.join(d)).into_iter().flatten().flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
        .collect();
    files.sort();
    let runs = 3;
    let now = chrono::Utc::now();
    let empty = TrustStore::empty();
    println!("\n## corpus PDFs: whole process, mean of {runs} runs each");
    println!("| file | bytes | pyhanko sign validate | pyHanko summary | verify_file (ours) | ours in-process | our verdict |");
    println!("|---|---|---|---|---|---|---|");
    let (mut total_py, mut total_ours) = (Duration::ZERO, Duration::ZERO);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let (py, summary) = if have_pyhanko {
            let start = Instant::now();
            let mut last = String::new();
            for _ in 0..runs {
                let out = Command::new(&pyhanko)
                    .args(["sign", "validate", "--no-revocation-check", "--no-strict-syntax"])
                    .arg(f)
                    .output()
                    .unwrap();
                // The summary line is on stdout; stderr ends with "Validation failed" for
                // every untrusted signature, so it is only shown when stdout is empty.
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                let text = if stdout.trim().is_empty() { stderr } else { stdout };
                last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").chars().take(70).collect();
            }
            (start.elapsed() / runs as u32, last.replace('|', "/"))
        } else {
            (Duration::ZERO, "-".into())
        };
        let (mine, _) = run(runs, &mut || {
            let mut c = Command::new(&ours);
            c.arg(f);
            c
        });
        let r = verify_document(&bytes, None, &empty, now);
        let (inproc, _) = time(runs.max(5), || {
            std::hint::black_box(verify_document(&bytes, None, &empty, now));
        });
        total_py += py;
        total_ours += mine;
        println!(
            "| {} | {} | {py:.2?} | {summary} | {mine:.2?} | {inproc:.2?} | {:?} |",
            f.file_name().unwrap().to_string_lossy(),
            bytes.len(),
            r.verdict
        );
    }
    let n = files.len().max(1) as u32;
    println!("\ncorpus PDFs ({n}): pyHanko mean {:.2?}/file, ours mean {:.2?}/file (whole process)", total_py / n, total_ours / n);
}

fn memory() {
    let Some(ours) = verify_file() else { return };
    let ca = Ca::new_root("Bench CA");
    let leaf = ca.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U"));
    let pdf = sign_pdf(&minimal_pdf("100 MB", 100 * 1024 * 1024), &leaf, &PdfSignOptions::default());
    let path = std::env::temp_dir().join("sigillo-bench-100mb.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let out = Command::new("/usr/bin/time").arg("-v").arg(&ours).arg(&path).output();
    println!("\n## memory: verify_file on a signed PDF of {} bytes ({})", pdf.len(), path.display());
    match out {
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            for l in err.lines().filter(|l| l.contains("Maximum resident") || l.contains("Elapsed (wall")) {
                println!("{}", l.trim());
            }
            println!("verdict: {}", String::from_utf8_lossy(&o.stdout).trim());
        }
        Err(e) => println!("/usr/bin/time not available: {e}"),
    }
    let _ = std::fs::remove_file(&path);
}
