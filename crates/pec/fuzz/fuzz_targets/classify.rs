//! The classifier entry point as intake uses it: bytes → envelope → provider-signature
//! check (empty trust store: the CMS parser still runs) → decision and both renderings.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use sigillo_pec::{Checker, FileReport};

fuzz_target!(|data: &[u8]| {
    static CHECKER: OnceLock<Checker> = OnceLock::new();
    let checker = CHECKER.get_or_init(|| Checker::new(SystemTime::UNIX_EPOCH));
    if let Ok(FileReport::Message(report)) = checker.check("fuzz.eml", data) {
        let _ = sigillo_pec::human_it(&report);
    }
    let _ = sigillo_pec::daticert::parse(data);
});
