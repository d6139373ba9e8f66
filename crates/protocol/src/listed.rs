//! The trusted lists the service stored in Postgres (`sigillo_store::trusted_lists`),
//! verified again when loaded. Their CA/QC services become document anchors of the one
//! classifier in use ([`crate::trust::SharedChecker::set_listed`]), each only while its
//! service was granted: the classifier judges every signature with the services of its own
//! time (the PEC's time, a timestamp), as `sigillo check` does.

use sigillo_signature::cert::Certificate;
use sigillo_store::PgPool;
use sigillo_store::trusted_lists::{self, ListRole};
use sigillo_trustlist::TrustSet;

/// Loads the lists stored in the database, without the network: the first list verified
/// with `signers`, the others with its pointers, as when they were fetched. `Ok(None)` when
/// none is stored; `Err` (one line) when the stored first list does not verify (signers
/// changed since, or the row altered): nothing of it is then trusted.
pub async fn load_stored(pool: &PgPool, signers: &[Certificate]) -> Result<Option<TrustSet>, String> {
    let stored = trusted_lists::stored(pool).await.map_err(|e| format!("liste di fiducia non lette dal database: {e}"))?;
    let Some(first) = stored.iter().find(|l| l.role == ListRole::First) else { return Ok(None) };
    let others: Vec<(String, Vec<u8>)> =
        stored.iter().filter(|l| l.role == ListRole::Pointed).map(|l| (l.location.clone(), l.body.clone())).collect();
    // Verifying a few MB of XML per list: off the async threads.
    let (label, body) = (first.location.clone(), first.body.clone());
    let signers = signers.to_vec();
    let built = tokio::task::spawn_blocking(move || {
        let others: Vec<(&str, &[u8])> = others.iter().map(|(l, b)| (l.as_str(), b.as_slice())).collect();
        TrustSet::build((label.as_str(), body.as_slice()), &others, &signers).map_err(|e| format!("lista di fiducia {label} memorizzata rifiutata: {e}"))
    })
    .await
    .map_err(|e| format!("verifica delle liste interrotta: {e}"))??;
    for (label, cause) in &built.left_out {
        tracing::warn!("stored trusted list {label} left out: {cause}");
    }
    Ok(Some(built))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone as _, Utc};
    use sigillo_pec::Checker;
    use sigillo_testpki::trustlist::{GENERIC, GRANTED, TestList, TestService, WITHDRAWN};
    use sigillo_testpki::{Ca, LeafSpec};

    use crate::trust::SharedChecker;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn stored_lists_become_anchors_of_the_one_classifier_and_survive_a_reload_of_the_directory() {
        let operator = Ca::new_root("Radice degli operatori di prova").issue(LeafSpec::new("Operatore dello schema di prova"));
        let granted = Ca::new_root("CA qualificata concessa");
        let withdrawn = Ca::new_root("CA qualificata revocata");
        let service = |name: &str, ca: &Ca, status: &str, since, history| TestService::ca_qc(ca.cert_der(), name, status, since, history);
        let list = TestList {
            territory: "IT".into(),
            tsl_type: GENERIC.into(),
            sequence: 7,
            issued: t(2025, 1, 1),
            next_update: t(2025, 7, 1),
            pointers: vec![],
            services: vec![
                service("CA A", &granted, GRANTED, t(2020, 1, 1), vec![]),
                service("CA B", &withdrawn, WITHDRAWN, t(2024, 6, 1), vec![(GRANTED.into(), t(2019, 1, 1))]),
            ],
        };
        let xml = list.signed(&operator.key, operator.cert_der());
        let signers = vec![Certificate::from_der(operator.cert_der()).unwrap()];
        let set = TrustSet::build(("IT.xml", xml.as_bytes()), &[], &signers).unwrap();

        let shared = SharedChecker::new(Checker::new(std::time::SystemTime::now()));
        let before = shared.current();
        assert_eq!(shared.listed_count(), 0);
        shared.set_listed(set.listed_anchors());
        assert_eq!(shared.listed_count(), 2, "both services were granted at some time");
        assert!(!Arc::ptr_eq(&before, &shared.current()), "a new classifier is put in use");
        // A reload of the trust directory keeps the lists' anchors.
        shared.replace(Checker::new(std::time::SystemTime::now()));
        assert_eq!(shared.listed_count(), 2);
        // One classifier, whatever the time: no second classification per interval.
        let c = shared.current();
        assert!(Arc::ptr_eq(&c, &shared.current()));
        shared.set_listed(Vec::new());
        assert_eq!(shared.listed_count(), 0);
    }
}
