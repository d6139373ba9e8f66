//! The CMS reader: container sniffing (DER/BER/base64/PEM, TSD, M7M), SignedData and
//! SignerInfo parsing, signature checks and the verdict, through both public entry points.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigillo_signature::{TrustStore, cms, verify_document};

fuzz_target!(|data: &[u8]| {
    let trust = TrustStore::empty();
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    // The PDF path has its own target; keep this one on CMS containers.
    if data.windows(5).take(1024).any(|w| w == b"%PDF-") {
        return;
    }
    let r = verify_document(data, None, &trust, now);
    assert!(r.verdict != sigillo_signature::Indication::TotalPassed, "passed with an empty trust store");
    let _ = verify_document(data, Some(b"detached content"), &trust, now);
    let _ = cms::verify_detached(data, b"detached content", &trust, now);
    let _ = sigillo_signature::extract_signed_content(data);
});
