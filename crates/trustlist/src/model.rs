//! What a trusted list says (ETSI TS 119 612 v2.x).

use chrono::{DateTime, Utc};
use sigillo_signature::cert::Certificate;

/// Service type identifiers (TS 119 612 §5.5.1.1).
pub mod svc_type {
    /// A CA issuing qualified certificates.
    pub const CA_QC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC";
    /// A qualified timestamping authority.
    pub const TSA_QTST: &str = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST";
}

/// TSLType of the EU list of lists.
pub const LOTL_TYPE: &str = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists";
/// MIME type of a pointer to an XML list (the LOTL also points at PDF copies).
pub const XML_MIME: &str = "application/vnd.etsi.tsl+xml";

/// One trusted list.
#[derive(Debug, Clone)]
pub struct TrustedList {
    /// SchemeTerritory: "IT", "CZ", "EU" for the LOTL.
    pub territory: String,
    pub sequence_number: u64,
    pub tsl_type: String,
    /// SchemeOperatorName (English when given, else the first).
    pub operator: String,
    pub issued: DateTime<Utc>,
    /// `None`: the list is closed (TS 119 612 §5.3.15).
    pub next_update: Option<DateTime<Utc>>,
    pub pointers: Vec<Pointer>,
    pub providers: Vec<Provider>,
    /// Certificates that could not be read, each with where it was and why; they are left
    /// out (a pointer or service without them trusts less, never more).
    pub unreadable: Vec<String>,
}

impl TrustedList {
    /// Whether this is the EU list of trusted lists.
    pub fn is_lotl(&self) -> bool {
        self.tsl_type == LOTL_TYPE
    }

    /// Number of trust services over all providers.
    pub fn service_count(&self) -> usize {
        self.providers.iter().map(|p| p.services.len()).sum()
    }

    /// The pointers to XML lists of `territory`.
    pub fn pointers_to<'a>(&'a self, territory: &'a str) -> impl Iterator<Item = &'a Pointer> + 'a {
        self.pointers.iter().filter(move |p| {
            p.territory.as_deref() == Some(territory) && p.mime_type.as_deref().is_none_or(|m| m == XML_MIME)
        })
    }
}

/// A pointer to another list (PointersToOtherTSL/OtherTSLPointer).
#[derive(Debug, Clone)]
pub struct Pointer {
    pub location: String,
    pub territory: Option<String>,
    pub tsl_type: Option<String>,
    pub mime_type: Option<String>,
    /// The certificates allowed to sign the list pointed at (any one of them).
    pub certificates: Vec<Certificate>,
}

/// A trust service provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub services: Vec<Service>,
}

/// A trust service with its current status and its history.
#[derive(Debug, Clone)]
pub struct Service {
    pub type_id: String,
    pub name: String,
    pub status: ServiceStatus,
    pub status_uri: String,
    pub since: DateTime<Utc>,
    /// The service digital identity's certificates.
    pub certificates: Vec<Certificate>,
    /// Earlier states, newest first as the list gives them.
    pub history: Vec<HistoryEntry>,
    /// What the list says of the certificates the service issues (its current
    /// `Qualifications` extension).
    pub qualifications: Vec<sigillo_signature::qualification::Qualification>,
}

/// A ServiceHistoryInstance.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub type_id: String,
    pub status: ServiceStatus,
    pub status_uri: String,
    pub since: DateTime<Utc>,
}

/// A service status, folded into what matters for trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStatus {
    /// `granted` (eIDAS), or before eIDAS `undersupervision`, `accredited`,
    /// `supervisionincessation`: the service was trusted then.
    Granted,
    /// `withdrawn`, or before eIDAS `supervisionceased`, `supervisionrevoked`,
    /// `accreditationceased`, `accreditationrevoked`; also `deprecatedatnationallevel`.
    Withdrawn,
    /// A status we do not know: never trusted.
    Other,
}

impl ServiceStatus {
    pub fn from_uri(uri: &str) -> ServiceStatus {
        let tail = uri.rsplit('/').next().unwrap_or_default();
        match tail {
            "granted" | "undersupervision" | "accredited" | "supervisionincessation" | "recognisedatnationallevel" => {
                ServiceStatus::Granted
            }
            "withdrawn" | "supervisionceased" | "supervisionrevoked" | "accreditationceased"
            | "accreditationrevoked" | "deprecatedatnationallevel" => ServiceStatus::Withdrawn,
            _ => ServiceStatus::Other,
        }
    }
}

impl Service {
    /// The (type, status) in force at `at`: the current one from its starting time, else
    /// the latest history entry that had started by then; `None` before the service existed.
    pub fn state_at(&self, at: DateTime<Utc>) -> Option<(&str, ServiceStatus)> {
        if self.since <= at {
            return Some((&self.type_id, self.status));
        }
        self.history
            .iter()
            .filter(|h| h.since <= at)
            .max_by_key(|h| h.since)
            .map(|h| (h.type_id.as_str(), h.status))
    }

    /// The periods (from, until; `None` while it lasts) during which this was a CA/QC
    /// service granted: the same answer as [`Service::qualified_ca_at`] for every time.
    pub fn qualified_ca_periods(&self) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        // The states in the order they took effect: the history entries that started before
        // the current state, then the current one (`state_at` ignores later-dated history).
        let mut states: Vec<(DateTime<Utc>, &str, ServiceStatus)> = self
            .history
            .iter()
            .filter(|h| h.since < self.since)
            .map(|h| (h.since, h.type_id.as_str(), h.status))
            .collect();
        states.sort_by_key(|(since, _, _)| *since);
        states.push((self.since, &self.type_id, self.status));
        let mut out: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
        for (i, (since, type_id, status)) in states.iter().enumerate() {
            if *type_id != svc_type::CA_QC || *status != ServiceStatus::Granted {
                continue;
            }
            // Two history entries with the same time: the one `state_at` picks (the last).
            let until = states.get(i + 1).map(|(t, _, _)| *t);
            if until == Some(*since) {
                continue;
            }
            match out.last_mut() {
                Some((_, end)) if *end == Some(*since) => *end = until,
                _ => out.push((*since, until)),
            }
        }
        out
    }

    /// Whether this is a CA/QC service granted at `at`.
    pub fn qualified_ca_at(&self, at: DateTime<Utc>) -> bool {
        matches!(self.state_at(at), Some((t, ServiceStatus::Granted)) if t == svc_type::CA_QC)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(y: i32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap()
    }

    const GRANTED: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted";
    const WITHDRAWN: &str = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn";

    fn service(status: &str, since: DateTime<Utc>, history: &[(&str, &str, DateTime<Utc>)]) -> Service {
        Service {
            type_id: svc_type::CA_QC.into(),
            name: "CA".into(),
            status: ServiceStatus::from_uri(status),
            status_uri: status.into(),
            since,
            certificates: Vec::new(),
            history: history
                .iter()
                .map(|(type_id, status, since)| HistoryEntry {
                    type_id: (*type_id).into(),
                    status: ServiceStatus::from_uri(status),
                    status_uri: (*status).into(),
                    since: *since,
                })
                .collect(),
            qualifications: Vec::new(),
        }
    }

    #[test]
    fn the_granted_periods_agree_with_the_status_at_every_time() {
        let other = "http://uri.etsi.org/TrstSvc/Svctype/TSA/QTST";
        let cases = [
            service(GRANTED, t(2016), &[]),
            service(WITHDRAWN, t(2022), &[(svc_type::CA_QC, GRANTED, t(2018))]),
            // Granted, withdrawn, granted again; a history entry dated after the current
            // status is ignored, as `state_at` does.
            service(
                GRANTED,
                t(2020),
                &[(svc_type::CA_QC, WITHDRAWN, t(2019)), (svc_type::CA_QC, GRANTED, t(2017)), (svc_type::CA_QC, WITHDRAWN, t(2025))],
            ),
            // Another type before, two entries at the same time (the later one counts).
            service(GRANTED, t(2021), &[(svc_type::CA_QC, WITHDRAWN, t(2018)), (svc_type::CA_QC, GRANTED, t(2018)), (other, GRANTED, t(2016))]),
        ];
        for s in &cases {
            let periods = s.qualified_ca_periods();
            for year in 2014..2030 {
                for month in [1, 7] {
                    let at = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).unwrap();
                    let in_period = periods.iter().any(|(from, until)| *from <= at && until.is_none_or(|u| at < u));
                    assert_eq!(in_period, s.qualified_ca_at(at), "{at}: {periods:?} for {s:?}");
                }
            }
        }
        assert_eq!(cases[1].qualified_ca_periods(), [(t(2018), Some(t(2022)))]);
        assert_eq!(cases[2].qualified_ca_periods(), [(t(2017), Some(t(2019))), (t(2020), None)]);
    }
}
