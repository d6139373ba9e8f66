//! Verifies one file and prints the verdict: the whole-process comparison point for the
//! benchmark against `openssl cms -verify` and pyHanko (see benches/verify.rs).
//!
//! ```text
//! verify_file FILE [DETACHED_CONTENT] [--trust CERT_OR_CRL]...
//! ```

fn main() {
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    let mut trust = sigillo_signature::TrustStore::empty();
    while let Some(a) = args.next() {
        if a == "--trust" {
            let Some(path) = args.next() else { fail("--trust needs a file") };
            let bytes = std::fs::read(&path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            trust.add(&bytes).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        } else {
            files.push(a);
        }
    }
    let Some(file) = files.first() else { fail("usage: verify_file FILE [DETACHED_CONTENT] [--trust FILE]...") };
    let bytes = std::fs::read(file).unwrap_or_else(|e| fail(&format!("{file}: {e}")));
    let detached = files.get(1).map(|d| std::fs::read(d).unwrap_or_else(|e| fail(&format!("{d}: {e}"))));
    let r = sigillo_signature::verify_document(&bytes, detached.as_deref(), &trust, chrono::Utc::now());
    println!("{:?} {:?} signers={}", r.verdict, r.subindication, r.signers.len());
}

fn fail(msg: &str) -> ! {
    eprintln!("verify_file: {msg}");
    std::process::exit(2)
}
