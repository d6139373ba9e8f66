//! The PEC trust anchors the product ships: every published version of AgID CA1, the CA of
//! the providers' signing certificates, with its name constraints (see `anchors/README.md`).
//! `SIGILLO_TRUST_DIR/pec/` adds to them (a provider's older CA, a test PKI); it is no longer
//! needed for the real providers.

use sigillo_signature::cert::{Certificate, pem_blocks};
use sigillo_signature::oids;

/// The files as AgID publishes them, embedded at build time.
const FILES: [(&str, &[u8]); 4] = [
    ("AgIDCA1_20190613.pem", include_bytes!("../anchors/AgIDCA1_20190613.pem")),
    ("AgIDCA1-20210622.pem", include_bytes!("../anchors/AgIDCA1-20210622.pem")),
    ("AgIDCA1_20210921.pem", include_bytes!("../anchors/AgIDCA1_20210921.pem")),
    ("AgID_CA1_20250220.pem", include_bytes!("../anchors/AgID_CA1_20250220.pem")),
];

/// Common name of the one CA these files may contribute.
const AGID_CA1: &str = "AgID CA1";

/// The AgID CA1 certificates of the shipped files, and nothing else: one file also holds
/// Actalis's root, which issues certificates to anyone and must never vouch for an
/// envelope. A certificate without name constraints is left out too (every published
/// version has them; one without would let AgID CA1 vouch for any name).
pub fn agid_ca1() -> Vec<Certificate> {
    let mut out = Vec::new();
    for (_, pem) in FILES {
        for der in pem_blocks(pem, "CERTIFICATE").unwrap_or_default() {
            let Ok(cert) = Certificate::from_der(&der) else { continue };
            let is_agid = cert.subject.get(&oids::AT_COMMON_NAME) == Some(AGID_CA1)
                && cert.is_ca
                && matches!(cert.name_constraints, Some(Ok(_)));
            if is_agid {
                out.push(cert);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_versions_of_agid_ca1_with_constraints_and_no_other_ca() {
        let anchors = agid_ca1();
        assert_eq!(anchors.len(), 4, "one AgID CA1 per shipped file");
        let files_certs: usize = FILES.iter().map(|(_, p)| pem_blocks(p, "CERTIFICATE").map_or(0, |b| b.len())).sum();
        assert_eq!(files_certs, 5, "the 2021-09-21 file also holds Actalis's root, which must be left out");
        for a in &anchors {
            assert!(a.subject.to_string().ends_with("CN=AgID CA1"), "{}", a.subject);
            let Some(Ok(nc)) = &a.name_constraints else { panic!("{} without name constraints", a.subject) };
            let permitted = nc.permitted.as_ref().map_or(0, Vec::len);
            assert!(permitted > 50, "{} permits only {permitted} subtrees", a.subject);
        }
        // One key for all versions: what one signed, every version verifies.
        let keys: std::collections::HashSet<_> = anchors.iter().map(|a| a.ski.clone()).collect();
        assert_eq!(keys.len(), 1);
    }
}
