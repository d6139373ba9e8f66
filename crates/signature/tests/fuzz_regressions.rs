//! Replays every input committed under `fuzz/regressions/{cms,pdf}`: inputs that crashed or
//! hung a fuzz target once (fixed since), and hand-made hostile seeds. Each must give a
//! report (no panic) and, with no trust anchors, never TOTAL_PASSED — the same oracle the
//! fuzz targets assert.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sigillo_signature::{Indication, TrustStore, cms, verify_document};

fn replay(target: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    let trust = TrustStore::empty();
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        // The pdf target forces the PDF path with a header, as the fuzz target does.
        let input = if target == "pdf" && !data.starts_with(b"%PDF-") { [b"%PDF-1.7\n".as_slice(), &data].concat() } else { data };
        let r = verify_document(&input, None, &trust, now);
        assert_ne!(r.verdict, Indication::TotalPassed, "{}: {r:?}", path.display());
        if target == "cms" {
            let _ = verify_document(&input, Some(b"detached content"), &trust, now);
            let _ = cms::verify_detached(&input, b"detached content", &trust, now);
            let _ = sigillo_signature::extract_signed_content(&input);
        }
        n += 1;
    }
    n
}

#[test]
fn cms_regressions_replay() {
    assert!(replay("cms") >= 4, "the committed cms regression folder is missing files");
}

#[test]
fn pdf_regressions_replay() {
    assert!(replay("pdf") >= 3, "the committed pdf regression folder is missing files");
}
