//! The shipped AgID CA1 anchors against the real corpus (issue 16): the envelopes and
//! receipts whose provider certificate AgID CA1 issued (Aruba, Sogei, Namirial, 2018-2024)
//! verify as valid at their own date with only the shipped anchors and the name constraints
//! of every AgID CA1 version enforced; judged today (their certificates expired) they do not.
//! The same files through the real binary: `tests/e2e/pec_anchors.rs`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sigillo_pec::report::EnvelopeStatus;
use sigillo_pec::{Checker, ValidationTime, envelope};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pec");
    if dir.join("MANIFEST.md").exists() {
        Some(dir)
    } else {
        println!("CORPUS ASSENTE: {} non esiste, test saltato", dir.display());
        None
    }
}

const AGID_SIGNED: [(&str, &str); 8] = [
    ("eml/aruba-2018_ricevuta_accettazione.eml", "2018-11-13T16:39:26+01:00"),
    ("eml/aruba-2018_ricevuta_avvenuta-consegna_completa.eml", "2018-11-13T16:39:27+01:00"),
    ("eml/sogei-2018_busta-trasporto_breve_sdi-invio-file.eml", "2018-12-08T12:26:18+01:00"),
    ("eml/sogei-2018_busta-trasporto_breve_sdi-ricevuta-consegna.eml", "2018-11-13T16:47:32+01:00"),
    ("eml/namirial-2024_busta-trasporto_completa_via-mailinglist.eml", "2024-12-05T00:02:10+01:00"),
    ("receipts-seedoo/accettazione.eml", "2021-12-14T14:36:08+01:00"),
    ("receipts-seedoo/conferma.eml", "2021-12-14T14:36:08+01:00"),
    ("receipts-seedoo/mancata_consegna.eml", "2021-12-14T14:54:32+01:00"),
];

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

fn status(dir: &Path, file: &str, when: ValidationTime) -> (EnvelopeStatus, String) {
    let raw = std::fs::read(dir.join(file)).unwrap_or_default();
    let env = envelope::parse(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
    let sig = Checker::with_shipped_anchors(when.at.into()).envelope_signature_at(&env, when);
    (sig.status, sig.detail.unwrap_or_default())
}

#[test]
fn agid_signed_envelopes_are_valid_at_their_date_and_not_today() {
    let Some(dir) = corpus() else { return };
    for (file, date) in AGID_SIGNED {
        let (s, detail) = status(&dir, file, ValidationTime::given(at(date)));
        assert_eq!(s, EnvelopeStatus::Valid, "{file} at {date}: {detail}");
        let (s, detail) = status(&dir, file, ValidationTime::now(Utc::now()));
        assert_eq!(s, EnvelopeStatus::Untrusted, "{file} today: {detail}");
        assert!(detail.contains("is not valid at"), "{file} today: {detail}");
    }
}

#[test]
fn without_the_shipped_anchors_they_are_untrusted_and_digitpa_is_not_shipped() {
    let Some(dir) = corpus() else { return };
    for (file, date) in AGID_SIGNED {
        let raw = std::fs::read(dir.join(file)).unwrap_or_default();
        let env = envelope::parse(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
        let when = ValidationTime::given(at(date));
        assert_eq!(Checker::new(when.at.into()).envelope_signature_at(&env, when).status, EnvelopeStatus::Untrusted, "{file}");
    }
    let (s, detail) = status(&dir, "eml/aruba-2014_busta-trasporto_completa.eml", ValidationTime::given(at("2014-11-07T16:52:00+01:00")));
    assert_eq!(s, EnvelopeStatus::Untrusted);
    assert!(detail.contains("does not chain to a trusted CA"), "{detail}");
}
