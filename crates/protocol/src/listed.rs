//! Document anchors from trusted lists, chosen by the time of judgement: the certificates of
//! the CA/QC services granted at that time (`sigillo_trustlist::TrustSet::document_anchors`)
//! beside those of the trust directory. The lists are the ones the service stored in
//! Postgres (`sigillo_store::trusted_lists`), verified again when loaded.
//!
//! Which services are granted changes only at the starting times of their statuses, so the
//! time line falls into a few intervals over which the anchors are the same: one classifier
//! is built per interval used, and kept.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sigillo_pec::Checker;
use sigillo_signature::cert::Certificate;
use sigillo_store::PgPool;
use sigillo_store::trusted_lists::{self, ListRole};
use sigillo_trustlist::TrustSet;

/// A verified set of lists and the times at which its anchors change.
#[derive(Debug)]
pub struct ListedAnchors {
    set: TrustSet,
    /// Sorted, without repeats: every starting time of a status or history entry.
    changes: Vec<DateTime<Utc>>,
}

impl ListedAnchors {
    pub fn new(set: TrustSet) -> Self {
        let mut changes: Vec<DateTime<Utc>> = set
            .lists
            .iter()
            .flat_map(|l| l.list.providers.iter())
            .flat_map(|p| p.services.iter())
            .flat_map(|s| std::iter::once(s.since).chain(s.history.iter().map(|h| h.since)))
            .collect();
        changes.sort();
        changes.dedup();
        ListedAnchors { set, changes }
    }

    pub fn set(&self) -> &TrustSet {
        &self.set
    }

    /// The interval `at` falls in: two times in the same interval have the same anchors.
    pub fn interval(&self, at: DateTime<Utc>) -> usize {
        self.changes.partition_point(|c| *c <= at)
    }
}

/// How many classifiers (one per interval) are kept at most: messages are judged at their
/// PEC time, nearly always the current interval.
const KEPT: usize = 8;

/// The classifier of the trust directory and the lists in use, as one unit: replaced whole
/// when either changes ([`crate::trust::SharedChecker`]).
pub struct InUse {
    base: Arc<Checker>,
    lists: Option<Arc<ListedAnchors>>,
    built: Mutex<Vec<(usize, Arc<Checker>)>>,
}

impl InUse {
    pub(crate) fn new(base: Arc<Checker>, lists: Option<Arc<ListedAnchors>>) -> Self {
        InUse { base, lists, built: Mutex::new(Vec::new()) }
    }

    pub(crate) fn base(&self) -> &Arc<Checker> {
        &self.base
    }

    pub(crate) fn lists(&self) -> Option<&Arc<ListedAnchors>> {
        self.lists.as_ref()
    }

    /// Whether `a` and `b` have the same anchors.
    pub fn same_anchors(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
        self.lists.as_ref().is_none_or(|l| l.interval(a) == l.interval(b))
    }

    /// The classifier whose document anchors are those of the trust directory and of the
    /// CA/QC services granted at `at`. Built on first use (parsing the services'
    /// certificates): call it from a blocking thread.
    pub fn at(&self, at: DateTime<Utc>) -> Arc<Checker> {
        let Some(lists) = &self.lists else { return Arc::clone(&self.base) };
        let interval = lists.interval(at);
        let mut built = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, c)) = built.iter().find(|(i, _)| *i == interval) {
            return Arc::clone(c);
        }
        let mut checker = (*self.base).clone();
        for anchor in lists.set.document_anchors(at) {
            if let Err(e) = checker.add_document_anchors(&anchor.certificate.der) {
                // Names a service and a country, never a citizen.
                tracing::warn!(territory = %anchor.territory, service = %anchor.service, "certificate of a trust service not usable: {e}");
            }
        }
        let checker = Arc::new(checker);
        if built.len() >= KEPT {
            built.remove(0);
        }
        built.push((interval, Arc::clone(&checker)));
        checker
    }
}

/// Loads the lists stored in the database, without the network: the first list verified
/// with `signers`, the others with its pointers, as when they were fetched. `Ok(None)` when
/// none is stored; `Err` (one line) when the stored first list does not verify (signers
/// changed since, or the row altered): nothing of it is then trusted.
pub async fn load_stored(pool: &PgPool, signers: &[Certificate]) -> Result<Option<TrustSet>, String> {
    let stored = trusted_lists::stored(pool).await.map_err(|e| format!("liste di fiducia non lette dal database: {e}"))?;
    let Some(first) = stored.iter().find(|l| l.role == ListRole::First) else { return Ok(None) };
    let others: Vec<(&str, &[u8])> =
        stored.iter().filter(|l| l.role == ListRole::Pointed).map(|l| (l.location.as_str(), l.body.as_slice())).collect();
    // Verifying a few MB of XML per list: off the async threads.
    let (label, body) = (first.location.clone(), first.body.clone());
    let others: Vec<(String, Vec<u8>)> = others.into_iter().map(|(l, b)| (l.to_owned(), b.to_vec())).collect();
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
    use chrono::TimeZone as _;
    use sigillo_testpki::{Ca, LeafSpec};
    use sigillo_testpki::trustlist::{CA_QC, GENERIC, GRANTED, TestList, TestService, WITHDRAWN};

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn one_classifier_per_interval_and_only_granted_services() {
        let operator = Ca::new_root("Radice degli operatori di prova").issue(LeafSpec::new("Operatore dello schema di prova"));
        let granted = Ca::new_root("CA qualificata concessa");
        let withdrawn = Ca::new_root("CA qualificata revocata");
        let list = TestList {
            territory: "IT".into(),
            tsl_type: GENERIC.into(),
            sequence: 7,
            issued: t(2025, 1, 1),
            next_update: t(2025, 7, 1),
            pointers: vec![],
            services: vec![
                TestService {
                    provider: "Prestatore A".into(),
                    name: "CA A".into(),
                    type_id: CA_QC.into(),
                    cert_der: granted.cert_der().to_vec(),
                    status: GRANTED.into(),
                    since: t(2020, 1, 1),
                    history: vec![],
                },
                TestService {
                    provider: "Prestatore B".into(),
                    name: "CA B".into(),
                    type_id: CA_QC.into(),
                    cert_der: withdrawn.cert_der().to_vec(),
                    status: WITHDRAWN.into(),
                    since: t(2024, 6, 1),
                    history: vec![(GRANTED.into(), t(2019, 1, 1))],
                },
            ],
        };
        let xml = list.signed(&operator.key, operator.cert_der());
        let signers = vec![Certificate::from_der(operator.cert_der()).unwrap()];
        let set = TrustSet::build(("IT.xml", xml.as_bytes()), &[], &signers).unwrap();
        let anchors = Arc::new(ListedAnchors::new(set));
        assert_eq!(anchors.interval(t(2018, 1, 1)), 0);
        assert_eq!(anchors.interval(t(2019, 1, 1)), 1, "a status counts from its starting time");
        // Lists stored by a refresh are put in use without a restart, and survive a reload of
        // the trust directory.
        let shared = crate::trust::SharedChecker::new(Checker::new(std::time::SystemTime::now()));
        assert!(shared.in_use().lists().is_none());
        shared.set_lists(Some(Arc::clone(&anchors)));
        shared.replace(Checker::new(std::time::SystemTime::now()));
        assert!(shared.in_use().lists().is_some_and(|l| Arc::ptr_eq(l, &anchors)));
        let in_use = InUse::new(Arc::new(Checker::new(std::time::SystemTime::now())), Some(anchors));
        assert!(in_use.same_anchors(t(2021, 1, 1), t(2023, 1, 1)));
        assert!(!in_use.same_anchors(t(2023, 1, 1), t(2025, 1, 1)), "B withdrawn in between");
        let a = in_use.at(t(2021, 1, 1));
        assert!(Arc::ptr_eq(&a, &in_use.at(t(2023, 1, 1))), "one classifier per interval");
        assert!(!Arc::ptr_eq(&a, &in_use.at(t(2025, 1, 1))));
        assert_eq!(in_use.lists().unwrap().set().document_anchors(t(2023, 1, 1)).len(), 2);
        assert_eq!(in_use.lists().unwrap().set().document_anchors(t(2025, 1, 1)).len(), 1);
    }
}
