//! Inputs the fuzzer (`fuzz/`, target `classify`) found, replayed on every run: `crash-*`
//! stopped it once (mail-parser `debug_assert!`s on malformed MIME, contained by
//! `mime::parse_raw`; replayed here in a debug build, where they still fire), `seed-*` are inputs it reached the document paths
//! with (messages prefixed by `%PDF-`, `-----BEGIN`, `<!--`: taken as documents) and the
//! envelope/receipt/wrapped/truncated paths. They are
//! mutations of the synthetic golden messages, never of the real corpus.

use std::path::Path;
use std::time::SystemTime;

use sigillo_pec::Checker;

#[test]
fn fuzz_findings_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let checker = Checker::new(SystemTime::UNIX_EPOCH);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let raw = std::fs::read(&path).unwrap_or_default();
        // Any outcome but a panic is fine: an error line or a report, which must render.
        match checker.check("fuzz.eml", &raw) {
            Ok(report) => {
                assert!(serde_json::to_string(&report).is_ok(), "{}", path.display());
                assert!(report.human_it().starts_with("fuzz.eml\n"), "{}", path.display());
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        let _ = sigillo_pec::daticert::parse(&raw);
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
