//! A first list and the lists it points at, verified one level deep.

use chrono::{DateTime, Utc};
use sigillo_signature::cert::Certificate;

use std::sync::Arc;

use sigillo_signature::{ListedAnchor, TrustService};

use crate::model::{Pointer, TrustedList, svc_type};
use crate::{TrustListError, peek, verify_list};

/// A list that verified, with the name it was given under (a path or a URL).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub label: String,
    pub list: TrustedList,
    pub signer: Certificate,
}

/// The lists in use: the first one (verified with the configured signers) and the lists
/// of its pointers that verified; `left_out` names each list that did not, and why.
#[derive(Debug, Clone, Default)]
pub struct TrustSet {
    pub lists: Vec<Loaded>,
    pub left_out: Vec<(String, TrustListError)>,
}

/// A trust anchor for document signatures: a certificate of a CA/QC service granted at
/// the time asked for, and where it comes from.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub certificate: Certificate,
    pub territory: String,
    pub provider: String,
    pub service: String,
}

impl TrustSet {
    /// Verifies `first` with `signers` (an error here refuses the whole set: nothing may be
    /// trusted from a list that does not verify), then each of `others`, matched to the
    /// first list's pointers by territory and verified with that pointer's certificates.
    /// Pointers are followed one level: a national list's own pointers (back to the LOTL)
    /// are never followed, and a list for the first list's own territory is not taken.
    pub fn build(first: (&str, &[u8]), others: &[(&str, &[u8])], signers: &[Certificate]) -> Result<TrustSet, TrustListError> {
        let v = verify_list(first.1, signers)?;
        let mut set = TrustSet {
            lists: vec![Loaded { label: first.0.to_owned(), list: v.list, signer: v.signer }],
            left_out: Vec::new(),
        };
        for (label, bytes) in others {
            set.add(label, bytes);
        }
        Ok(set)
    }

    /// Verifies one more list against the first list's pointers: in use if it verifies,
    /// else in `left_out` with its cause.
    pub fn add(&mut self, label: &str, bytes: &[u8]) {
        if self.lists.is_empty() {
            self.left_out.push((label.to_owned(), TrustListError::Format("no first list to point at it".into())));
            return;
        }
        match self.follow(bytes) {
            Ok((list, signer)) => self.lists.push(Loaded { label: label.to_owned(), list, signer }),
            Err(e) => self.left_out.push((label.to_owned(), e)),
        }
    }

    fn follow(&self, bytes: &[u8]) -> Result<(TrustedList, Certificate), TrustListError> {
        let head = &self.lists[0].list;
        // Read unverified only to pick the pointer; everything used comes from verify_list.
        let claimed = peek(bytes)?;
        if claimed.territory == head.territory {
            return Err(TrustListError::Format(format!(
                "territory {} is the first list's own; pointers are followed one level only",
                claimed.territory
            )));
        }
        if self.lists.iter().any(|l| l.list.territory == claimed.territory) {
            return Err(TrustListError::Format(format!("a list for {} is already in use", claimed.territory)));
        }
        let certs: Vec<Certificate> = self.pointers(&claimed.territory).flat_map(|p| p.certificates.clone()).collect();
        if certs.is_empty() {
            return Err(TrustListError::Format(format!(
                "the first list ({}) has no pointer for territory {}",
                head.territory, claimed.territory
            )));
        }
        let v = verify_list(bytes, &certs)?;
        if v.list.territory != claimed.territory {
            return Err(TrustListError::Format("territory differs between readings".into()));
        }
        Ok((v.list, v.signer))
    }

    /// The first list's pointers to XML lists of `territory`.
    pub fn pointers<'a>(&'a self, territory: &'a str) -> impl Iterator<Item = &'a Pointer> + 'a {
        self.lists.first().into_iter().flat_map(move |l| l.list.pointers_to(territory))
    }

    /// The pointers of the first list to other territories' XML lists, which a caller with
    /// network access may fetch (the first list's own territory excluded).
    pub fn pointers_to_follow(&self) -> Vec<Pointer> {
        let Some(head) = self.lists.first() else { return Vec::new() };
        head.list
            .pointers
            .iter()
            .filter(|p| {
                p.territory.as_deref().is_some_and(|t| t != head.list.territory)
                    && p.mime_type.as_deref().is_none_or(|m| m == crate::model::XML_MIME)
            })
            .cloned()
            .collect()
    }

    /// The certificates of every CA/QC service that was ever granted, over all lists in
    /// use, each with the periods it was granted: anchors for a checker that judges each
    /// document at its own time (a message's attachments at the PEC's time), so that a
    /// service withdrawn after that time still vouches for it and one withdrawn before does
    /// not.
    pub fn listed_anchors(&self) -> Vec<ListedAnchor> {
        let mut out = Vec::new();
        for l in &self.lists {
            for p in &l.list.providers {
                for s in &p.services {
                    let granted = s.qualified_ca_periods();
                    if granted.is_empty() {
                        continue;
                    }
                    let service = Arc::new(TrustService {
                        name: s.name.clone(),
                        provider: p.name.clone(),
                        territory: l.list.territory.clone(),
                        type_id: svc_type::CA_QC.to_owned(),
                        qualifications: s.qualifications.clone(),
                    });
                    for c in &s.certificates {
                        out.push(ListedAnchor { certificate: c.clone(), service: Arc::clone(&service), granted: granted.clone() });
                    }
                }
            }
        }
        out
    }

    /// The certificates of CA/QC services granted at `at`, over all lists in use.
    pub fn document_anchors(&self, at: DateTime<Utc>) -> Vec<Anchor> {
        let mut out = Vec::new();
        for l in &self.lists {
            for p in &l.list.providers {
                for s in p.services.iter().filter(|s| s.qualified_ca_at(at)) {
                    for c in &s.certificates {
                        out.push(Anchor {
                            certificate: c.clone(),
                            territory: l.list.territory.clone(),
                            provider: p.name.clone(),
                            service: s.name.clone(),
                        });
                    }
                }
            }
        }
        out
    }
}
