//! Trust anchors, CRLs and certificate path building.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::ber;
use crate::cert::{Certificate, Name, parse_time, pem_blocks};

/// Longest chain we try to build (leaf → anchor), bounding work on hostile inputs.
const MAX_PATH: usize = 8;

/// A parsed CRL whose signature has been checked against a trust-store certificate.
#[derive(Debug, Clone)]
pub struct Crl {
    pub issuer: Name,
    pub this_update: DateTime<Utc>,
    pub next_update: Option<DateTime<Utc>>,
    /// (serial content octets, revocation time).
    pub revoked: Vec<(Vec<u8>, DateTime<Utc>)>,
    tbs: Vec<u8>,
    sig_alg: Result<crate::crypto::SigAlg, String>,
    signature: Vec<u8>,
}

impl Crl {
    pub fn from_der(der: &[u8]) -> Result<Crl, Error> {
        let top = ber::read_all(der)?.expect(ber::SEQUENCE, "CertificateList")?.children()?;
        let (Some(tbs), Some(alg), Some(sig)) = (top.first(), top.get(1), top.get(2)) else {
            return Err(Error::Asn1("CertificateList".into()));
        };
        let f = tbs.children()?;
        let mut i = usize::from(f.first().is_some_and(|v| v.tag == ber::INTEGER));
        let field = |n: usize| f.get(n).ok_or_else(|| Error::Asn1("truncated TBSCertList".into()));
        i += 1; // signature algorithm
        let issuer = Name::parse(field(i)?)?;
        let this_update = parse_time(field(i + 1)?)?;
        let mut next_update = None;
        let mut j = i + 2;
        if let Some(t) = f.get(j).filter(|t| t.tag == ber::UTC_TIME || t.tag == ber::GENERALIZED_TIME) {
            next_update = Some(parse_time(t)?);
            j += 1;
        }
        let mut revoked = Vec::new();
        if let Some(list) = f.get(j).filter(|t| t.tag == ber::SEQUENCE) {
            for entry in list.children()? {
                let e = entry.children()?;
                let (Some(serial), Some(when)) = (e.first(), e.get(1)) else {
                    return Err(Error::Asn1("revokedCertificates entry".into()));
                };
                revoked.push((serial.content.to_vec(), parse_time(when)?));
            }
        }
        Ok(Crl {
            issuer,
            this_update,
            next_update,
            revoked,
            tbs: tbs.raw.to_vec(),
            sig_alg: crate::crypto::SigAlg::from_alg_id(alg).map_err(|e| e.to_string()),
            signature: sig.bit_string_bytes()?.to_vec(),
        })
    }

    /// The status of the certificate with this serial on this CRL.
    pub fn status_of(&self, serial: &[u8]) -> crate::revocation::Status {
        let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
        let wanted = strip(serial);
        match self.revoked.iter().find(|(s, _)| strip(s) == wanted) {
            Some((_, when)) => crate::revocation::Status::Revoked(*when),
            None => crate::revocation::Status::Good,
        }
    }

    pub(crate) fn signed_by(&self, issuer: &Certificate) -> bool {
        let Ok(alg) = self.sig_alg.clone() else { return false };
        let (Ok(key), Some(digest)) = (issuer.public_key.as_ref(), alg.digest()) else { return false };
        key.verify_prehash(alg, digest, &digest.hash(&self.tbs), &self.signature).is_ok()
    }
}

/// The certificates a verifier trusts (CA roots, or the PEC providers' CAs) and the CRLs
/// it may use. Built from bytes so that the pure crate does no I/O.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
    crls: Vec<Crl>,
    /// Certificate links (certificate, issuer) whose signature verified, keyed by the SHA-256
    /// of both DER encodings. Every envelope of one PEC provider, and every document of one
    /// CA, carries the same chain: the public-key check of each link is deterministic, so it
    /// is done once per link, not once per message (it was about a sixth of the intake's CPU).
    /// Shared by clones; bounded by [`MAX_CACHED_LINKS`].
    verified_links: Arc<Mutex<HashSet<[u8; 32]>>>,
    /// Where to ask for the revocation status of a signing certificate that no CRL here
    /// covers (`SIGILLO_REVOCATION=online`); `None`: offline, only the CRLs here count.
    online: Option<crate::revocation::SharedSource>,
    /// Anchors from trusted lists: each is one only while its service was granted, so a
    /// path is built with those of the time of judgement ([`TrustStore::chain_at`]).
    listed: Vec<ListedAnchor>,
}

/// A trust service of a trusted list (ETSI TS 119 612), as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrustService {
    pub name: String,
    pub provider: String,
    /// The list's SchemeTerritory ("IT").
    pub territory: String,
    /// The service type (`http://uri.etsi.org/TrstSvc/Svctype/CA/QC` for a CA issuing
    /// qualified certificates).
    #[serde(rename = "type")]
    pub type_id: String,
    /// What the list says of the certificates the service issued (its `Qualifications`
    /// extension); reports name the service, not these.
    #[serde(skip)]
    pub qualifications: Vec<crate::qualification::Qualification>,
}

/// A certificate of a trust service, an anchor during the periods its service was granted
/// (from, until: `None` while it still is).
#[derive(Debug, Clone)]
pub struct ListedAnchor {
    pub certificate: Certificate,
    pub service: Arc<TrustService>,
    pub granted: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

impl ListedAnchor {
    /// Whether the service was granted at `at`.
    pub fn granted_at(&self, at: DateTime<Utc>) -> bool {
        self.granted.iter().any(|(from, until)| *from <= at && until.is_none_or(|u| at < u))
    }
}

/// Bound of the verified-link cache: a hostile stream of distinct chains cannot grow it
/// without limit (it is emptied when full; the cost is only a re-verification).
const MAX_CACHED_LINKS: usize = 4096;

/// Outcome of path building.
#[derive(Debug, Clone)]
pub enum ChainOutcome {
    /// Path from the leaf to an anchor, leaf first, anchor last, within every name
    /// constraint of its CAs.
    Trusted(Vec<Certificate>),
    /// No path to any anchor; the partial path found (leaf first).
    NoChain(Vec<Certificate>),
    /// Paths to an anchor exist, but a certificate of each falls outside the name
    /// constraints of a CA above it: the first such path, and why.
    NameConstraints(Vec<Certificate>, String),
}

/// Revocation status of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Not listed on a (verified) CRL of its issuer.
    Good,
    Revoked(DateTime<Utc>),
    /// No CRL of the issuer in the trust store.
    Unknown,
}

impl TrustStore {
    pub fn empty() -> Self {
        TrustStore::default()
    }

    /// Trust anchors from certificates given as DER or PEM (each item may hold several PEM
    /// blocks). PEM `X509 CRL` blocks in the same items are loaded as CRLs.
    pub fn from_certificates<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, Error> {
        let mut store = TrustStore::empty();
        for item in certs {
            store.add(item)?;
        }
        Ok(store)
    }

    /// Adds a certificate or CRL (DER or PEM). A DER CRL is recognised by its structure.
    pub fn add(&mut self, item: &[u8]) -> Result<(), Error> {
        let pem_certs = pem_blocks(item, "CERTIFICATE");
        let pem_crls = pem_blocks(item, "X509 CRL");
        if pem_certs.is_none() && pem_crls.is_none() {
            if let Ok(cert) = Certificate::from_der(item) {
                self.anchors.push(cert);
                return Ok(());
            }
            return self.add_crl(item).map_err(|_| Error::NoCertificate);
        }
        for der in pem_certs.unwrap_or_default() {
            self.anchors.push(Certificate::from_der(&der)?);
        }
        for der in pem_crls.unwrap_or_default() {
            self.add_crl(&der)?;
        }
        Ok(())
    }

    /// Adds one parsed certificate as an anchor.
    pub fn add_certificate(&mut self, cert: Certificate) {
        self.anchors.push(cert);
    }

    /// Adds a DER CRL.
    pub fn add_crl(&mut self, der: &[u8]) -> Result<(), Error> {
        self.crls.push(Crl::from_der(der)?);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Asks `source` for the revocation status of signing certificates (online), or only
    /// the CRLs of this store (`None`, offline).
    pub fn set_online(&mut self, source: Option<crate::revocation::SharedSource>) {
        self.online = source;
    }

    pub fn online(&self) -> Option<&crate::revocation::SharedSource> {
        self.online.as_ref()
    }

    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// Adds the certificates of trust services, each an anchor only while its service was
    /// granted.
    pub fn add_listed(&mut self, anchors: impl IntoIterator<Item = ListedAnchor>) {
        self.listed.extend(anchors);
    }

    pub fn listed(&self) -> &[ListedAnchor] {
        &self.listed
    }

    /// The trust service whose certificate `anchor` is, granted at `at`, if any.
    pub fn service_of(&self, anchor: &Certificate, at: DateTime<Utc>) -> Option<&Arc<TrustService>> {
        self.listed.iter().find(|l| l.certificate.der == anchor.der && l.granted_at(at)).map(|l| &l.service)
    }

    /// [`TrustStore::chain_at`] with every listed anchor, whatever its service's status:
    /// for callers without a time of judgement (none judge documents).
    pub fn chain(&self, leaf: &Certificate, pool: &[Certificate]) -> ChainOutcome {
        self.chain_with(leaf, pool, |_| true)
    }

    /// Builds a path from `leaf` to an anchor through `pool` (certificates carried by the
    /// signature), with the anchors in force at `at`: those given as such, and the
    /// certificates of trusted-list services granted at `at`. Every link's signature is
    /// verified, and the name constraints of every CA of the path (the anchor's included)
    /// are enforced on the certificates below it. Several anchors may share one name and
    /// key (AgID CA1 was re-issued with wider constraints): the path holds when it holds
    /// through any of them.
    pub fn chain_at(&self, leaf: &Certificate, pool: &[Certificate], at: DateTime<Utc>) -> ChainOutcome {
        self.chain_with(leaf, pool, |l| l.granted_at(at))
    }

    fn chain_with(&self, leaf: &Certificate, pool: &[Certificate], listed_in_force: impl Fn(&ListedAnchor) -> bool) -> ChainOutcome {
        let anchors: Vec<&Certificate> = self
            .anchors
            .iter()
            .chain(self.listed.iter().filter(|l| listed_in_force(l)).map(|l| &l.certificate))
            .collect();
        let mut path = vec![leaf.clone()];
        let mut current = leaf.clone();
        let mut refused: Option<(Vec<Certificate>, String)> = None;
        for _ in 0..MAX_PATH {
            if anchors.iter().any(|a| a.der == current.der) {
                return match check_name_constraints(&path) {
                    Ok(()) => ChainOutcome::Trusted(path),
                    Err(why) => ChainOutcome::NameConstraints(path, why),
                };
            }
            for anchor in anchors.iter().copied().filter(|a| a.subject.matches(&current.issuer)) {
                if !self.link_verifies(&current, anchor) {
                    continue;
                }
                let mut candidate = path.clone();
                candidate.push((*anchor).clone());
                match check_name_constraints(&candidate) {
                    Ok(()) => return ChainOutcome::Trusted(candidate),
                    Err(why) => {
                        refused.get_or_insert((candidate, why));
                    }
                }
            }
            if let Some((p, why)) = refused {
                return ChainOutcome::NameConstraints(p, why);
            }
            if current.is_self_issued() {
                break;
            }
            let next = pool.iter().find(|c| {
                c.der != current.der
                    && c.subject.matches(&current.issuer)
                    && !path.iter().any(|p| p.der == c.der)
                    && self.link_verifies(&current, c)
            });
            match next {
                Some(c) => {
                    path.push(c.clone());
                    current = c.clone();
                }
                None => break,
            }
        }
        ChainOutcome::NoChain(path)
    }

    /// Whether `cert` was signed by `issuer`'s key, remembering links that verified.
    fn link_verifies(&self, cert: &Certificate, issuer: &Certificate) -> bool {
        let mut h = Sha256::new();
        h.update((cert.der.len() as u64).to_be_bytes());
        h.update(&cert.der);
        h.update(&issuer.der);
        let key: [u8; 32] = h.finalize().into();
        // A poisoned lock only means another thread panicked while inserting: the set itself
        // is still a valid set of verified links.
        let known = self.verified_links.lock().unwrap_or_else(|p| p.into_inner()).contains(&key);
        if known {
            return true;
        }
        if cert.signed_by(issuer).is_err() {
            return false;
        }
        let mut links = self.verified_links.lock().unwrap_or_else(|p| p.into_inner());
        if links.len() >= MAX_CACHED_LINKS {
            links.clear();
        }
        links.insert(key);
        true
    }

    /// Revocation status of `cert` issued by `issuer`, from the trust store's CRLs.
    pub fn revocation(&self, cert: &Certificate, issuer: &Certificate) -> Revocation {
        let mut seen = false;
        for crl in self.crls.iter().filter(|c| c.issuer.matches(&cert.issuer) && c.signed_by(issuer)) {
            seen = true;
            if let Some((_, when)) = crl.revoked.iter().find(|(s, _)| *s == cert.serial) {
                return Revocation::Revoked(*when);
            }
        }
        if seen { Revocation::Good } else { Revocation::Unknown }
    }
}

/// RFC 5280 6.1.3 (b)-(c) on a path (leaf first, anchor last): the name constraints of
/// each CA apply to every certificate below it, except self-issued intermediate
/// certificates (a CA's own re-keying), which carry no new names. The error names the
/// certificate, the CA and the name.
pub fn check_name_constraints(path: &[Certificate]) -> Result<(), String> {
    for (k, ca) in path.iter().enumerate().skip(1) {
        let Some(nc) = &ca.name_constraints else { continue };
        let nc = nc.as_ref().map_err(|e| format!("unreadable name constraints in {}: {e}", ca.subject))?;
        for (j, below) in path.iter().enumerate().take(k) {
            if j > 0 && below.is_self_issued() {
                continue;
            }
            nc.check(&below.constrained_names()).map_err(|why| {
                format!("certificate {} is outside the name constraints of {}: {why}", below.subject, ca.subject)
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigillo_testpki::{Ca, LeafSpec};

    fn cached(store: &TrustStore) -> usize {
        store.verified_links.lock().map(|l| l.len()).unwrap_or(usize::MAX)
    }

    #[test]
    fn a_verified_link_is_remembered_and_a_forged_one_never_is() -> Result<(), Error> {
        let ca = Ca::new_root("Cache Test CA");
        // Same names, another key: its certificates must never chain to `ca`.
        let lookalike = Ca::new_root("Cache Test CA");
        let leaf = Certificate::from_der(ca.issue(LeafSpec::new("Mario Rossi")).cert_der())?;
        let forged = Certificate::from_der(lookalike.issue(LeafSpec::new("Mario Rossi")).cert_der())?;
        let store = TrustStore::from_certificates([ca.cert_der()])?;
        for _ in 0..2 {
            assert!(matches!(store.chain(&leaf, &[]), ChainOutcome::Trusted(p) if p.len() == 2));
            assert_eq!(cached(&store), 1);
            assert!(matches!(store.chain(&forged, &[]), ChainOutcome::NoChain(_)));
            assert_eq!(cached(&store), 1, "a link that failed must not be remembered");
        }
        // Clones share what was learnt.
        assert_eq!(cached(&store.clone()), 1);
        Ok(())
    }
}
