//! The PDF signature reader: object parser, signature dictionaries, ByteRange rules,
//! incremental-update analysis and the CMS inside /Contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigillo_signature::{TrustStore, verify_document};

fuzz_target!(|data: &[u8]| {
    let trust = TrustStore::empty();
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    // Force the PDF path: the header is what routes a file to the PDF reader.
    let mut pdf = Vec::with_capacity(data.len() + 9);
    if !data.starts_with(b"%PDF-") {
        pdf.extend_from_slice(b"%PDF-1.7\n");
    }
    pdf.extend_from_slice(data);
    let r = verify_document(&pdf, None, &trust, now);
    assert!(r.verdict != sigillo_signature::Indication::TotalPassed, "passed with an empty trust store");
});
