//! Benchmark of PEC classification plus provider-signature verification, against
//! `openssl smime -verify` on the same files, and peak memory on a large envelope.
//!
//! ```text
//! cargo build --release -p sigillo          # the binary timed as a whole process
//! cargo run --release -p sigillo_pec --example bench_check -- \
//!     [--sigillo target/release/sigillo] [--corpus ../shared/corpus/pec] \
//!     [--work /tmp/sigillo-bench] [--rounds 10] [--big-mb 25] [--peak-mb 100]
//! ```
//!
//! What it measures, in one run:
//! * in process: `envelope::parse` + `Checker::envelope_signature` (classification and
//!   envelope verification) and the whole `Checker::check` (plus daticert, postacert,
//!   attachments and their signatures), over every `.eml` of the corpus and over a generated
//!   envelope of `--big-mb` MB;
//! * whole process, one process per file: `sigillo check --json [--trust]` against
//!   `openssl smime -verify -noverify` (corpus: no provider anchors shipped) or
//!   `openssl smime -verify -CAfile ca.pem -purpose any` (generated envelope), same files,
//!   same rounds, interleaved;
//! * peak memory (max RSS from `/usr/bin/time -f %M`) of `sigillo check --json` and of
//!   `openssl smime -verify` on a generated envelope of `--peak-mb` MB.
//!
//! Without `--sigillo`, this example itself stands in for the binary (`bench_check check
//! [--trust DIR] FILE` prints the same JSON line as `sigillo check --json`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement tool, not product code

#[path = "common/big_envelope.rs"]
mod big_envelope;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sigillo_pec::{Checker, envelope};

struct Opts {
    sigillo: Option<PathBuf>,
    corpus: PathBuf,
    work: PathBuf,
    rounds: usize,
    big_mb: usize,
    peak_mb: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("check") {
        return child_check(&args[1..]);
    }
    let mut o = Opts {
        sigillo: None,
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pec"),
        work: std::env::temp_dir().join("sigillo-bench"),
        rounds: 10,
        big_mb: 25,
        peak_mb: 100,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--sigillo" => o.sigillo = Some(PathBuf::from(val())),
            "--corpus" => o.corpus = PathBuf::from(val()),
            "--work" => o.work = PathBuf::from(val()),
            "--rounds" => o.rounds = val().parse().expect("--rounds N"),
            "--big-mb" => o.big_mb = val().parse().expect("--big-mb N"),
            "--peak-mb" => o.peak_mb = val().parse().expect("--peak-mb N"),
            other => panic!("unknown argument {other}"),
        }
    }
    run(&o);
}

/// Stand-in for `sigillo check --json [--trust DIR] FILE`.
fn child_check(args: &[String]) {
    let (trust, file) = match args {
        [t, dir, file] if t == "--trust" => (Some(PathBuf::from(dir)), file),
        [file] => (None, file),
        _ => panic!("check [--trust DIR] FILE"),
    };
    let checker = checker(trust.as_deref());
    let raw = std::fs::read(file).unwrap();
    use std::io::Write as _;
    match checker.check(file, &raw) {
        Ok(r) => {
            let _ = writeln!(std::io::stdout(), "{}", serde_json::to_string(&r).unwrap());
        }
        Err(e) => eprintln!("{file}: {e}"),
    }
}

fn checker(trust: Option<&Path>) -> Checker {
    let mut c = Checker::new(SystemTime::now());
    if let Some(dir) = trust {
        for sub in ["pec", "signatures"] {
            for e in std::fs::read_dir(dir.join(sub)).into_iter().flatten().flatten() {
                let bytes = std::fs::read(e.path()).unwrap();
                if sub == "pec" {
                    c.add_pec_anchors(&bytes).unwrap();
                } else {
                    c.add_document_anchors(&bytes).unwrap();
                }
            }
        }
    }
    c
}

struct Set {
    name: String,
    files: Vec<PathBuf>,
    trust: Option<PathBuf>,
    rounds: usize,
}

impl Set {
    fn bytes(&self) -> u64 {
        self.files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum()
    }
}

fn run(o: &Opts) {
    std::fs::create_dir_all(&o.work).unwrap();
    println!("# bench_check: {} cores, rounds {}", std::thread::available_parallelism().map_or(0, |n| n.get()), o.rounds);
    let mut corpus: Vec<PathBuf> = ["eml", "receipts-seedoo"]
        .iter()
        .flat_map(|d| std::fs::read_dir(o.corpus.join(d)).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    corpus.sort();
    let big_dir = o.work.join(format!("big-{}", o.big_mb));
    let big = big_envelope::write(&big_dir, o.big_mb);
    let mut sets = Vec::new();
    if corpus.is_empty() {
        println!("corpus {} absent: corpus rows skipped", o.corpus.display());
    } else {
        sets.push(Set { name: format!("corpus ({} files)", corpus.len()), files: corpus, trust: None, rounds: o.rounds });
    }
    sets.push(Set {
        name: format!("generated {} MB envelope", o.big_mb),
        files: vec![big],
        trust: Some(big_dir.join("trust")),
        rounds: o.rounds.div_ceil(3).max(2),
    });

    println!("\n## in process (release build, one thread)");
    println!("{:<32} {:>28} {:>12} {:>10}", "set", "step", "msg/s", "MB/s");
    for s in &sets {
        let c = checker(s.trust.as_deref());
        let raws: Vec<Vec<u8>> = s.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let n = (s.rounds * raws.len()) as f64;
        let mb = s.bytes() as f64 * s.rounds as f64 / 1e6;
        let t = time(|| {
            for _ in 0..s.rounds {
                for r in &raws {
                    if let Ok(e) = envelope::parse(r) {
                        std::hint::black_box(c.envelope_signature(&e));
                    }
                }
            }
        });
        println!("{:<32} {:>28} {:>12.1} {:>10.1}", s.name, "classify + envelope verify", n / t, mb / t);
        let t = time(|| {
            for _ in 0..s.rounds {
                for (r, f) in raws.iter().zip(&s.files) {
                    std::hint::black_box(c.check(&f.display().to_string(), r).ok());
                }
            }
        });
        println!("{:<32} {:>28} {:>12.1} {:>10.1}", s.name, "full check (+ attachments)", n / t, mb / t);
    }

    let me = std::env::current_exe().unwrap();
    let (sig_label, sig_bin, sig_prefix): (&str, PathBuf, Vec<String>) = match &o.sigillo {
        Some(b) => ("sigillo check --json", b.clone(), vec!["check".into(), "--json".into()]),
        None => ("bench_check check (stand-in)", me.clone(), vec!["check".into()]),
    };
    println!("\n## whole process, one process per file ({sig_label} vs openssl smime -verify)");
    println!("{:<32} {:<30} {:>10} {:>10} {:>12} {:>8}", "set", "tool", "msg/s", "MB/s", "ms/file", "exit 0");
    for s in &sets {
        let mb = s.bytes() as f64 * s.rounds as f64 / 1e6;
        let n = (s.rounds * s.files.len()) as f64;
        let (mut t_sig, mut t_ssl) = (Duration::ZERO, Duration::ZERO);
        let (mut ok_sig, mut ok_ssl) = (0, 0);
        for _ in 0..s.rounds {
            for f in &s.files {
                let mut args = sig_prefix.clone();
                if let Some(t) = &s.trust {
                    args.extend(["--trust".into(), t.display().to_string()]);
                }
                args.push(f.display().to_string());
                let (d, ok) = spawn(&sig_bin, &args);
                t_sig += d;
                ok_sig += usize::from(ok);
                let (d, ok) = spawn(Path::new("openssl"), &openssl_args(f, s.trust.as_deref()));
                t_ssl += d;
                ok_ssl += usize::from(ok);
            }
        }
        for (tool, t, ok) in [(sig_label, t_sig, ok_sig), ("openssl smime -verify", t_ssl, ok_ssl)] {
            let secs = t.as_secs_f64();
            println!(
                "{:<32} {:<30} {:>10.1} {:>10.1} {:>12.2} {:>8}",
                s.name,
                tool,
                n / secs,
                mb / secs,
                secs * 1000.0 / n,
                format!("{ok}/{}", n as usize)
            );
        }
    }

    println!("\n## peak memory (max RSS, /usr/bin/time -f %M), generated {} MB envelope", o.peak_mb);
    let peak_dir = o.work.join(format!("big-{}", o.peak_mb));
    let peak_file = big_envelope::write(&peak_dir, o.peak_mb);
    let size = std::fs::metadata(&peak_file).unwrap().len() as f64 / 1e6;
    let trust = peak_dir.join("trust");
    let mut sig_args = sig_prefix.clone();
    sig_args.extend(["--trust".into(), trust.display().to_string(), peak_file.display().to_string()]);
    for (tool, bin, args) in [
        (sig_label, sig_bin.clone(), sig_args),
        ("openssl smime -verify", PathBuf::from("openssl"), openssl_args(&peak_file, Some(&trust))),
    ] {
        match max_rss_mb(&bin, &args) {
            Some((rss, secs)) => println!(
                "{tool:<32} file {size:.1} MB  max RSS {rss:.1} MB  = {:.2}x the file  ({secs:.2} s)",
                rss / size
            ),
            None => println!("{tool:<32} /usr/bin/time not usable"),
        }
    }
}

fn openssl_args(file: &Path, trust: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> = vec!["smime".into(), "-verify".into(), "-in".into(), file.display().to_string()];
    match trust {
        Some(t) => a.extend(["-CAfile".into(), t.join("pec/ca.pem").display().to_string(), "-purpose".into(), "any".into()]),
        None => a.push("-noverify".into()),
    }
    a.extend(["-out".into(), "/dev/null".into()]);
    a
}

fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn spawn(bin: &Path, args: &[String]) -> (Duration, bool) {
    let t = Instant::now();
    let status = Command::new(bin).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
    (t.elapsed(), status.is_ok_and(|s| s.success()))
}

/// (max RSS in MB, wall seconds) of one run under `/usr/bin/time -f %M`.
fn max_rss_mb(bin: &Path, args: &[String]) -> Option<(f64, f64)> {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stderr);
    let kb: f64 = text.lines().filter_map(|l| l.trim().parse().ok()).next_back()?;
    Some((kb * 1024.0 / 1e6, secs))
}
