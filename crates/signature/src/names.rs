//! General names (RFC 5280 4.2.1.6) and name constraints (RFC 5280 4.2.1.10, 6.1.3 b-c).
//!
//! AgID CA1, the CA of every PEC provider's signing certificate, permits only the providers'
//! e-mail domains and organisation names: a certificate it issued outside them must not be
//! trusted, whatever its signature says. The checks apply to every path, envelopes and
//! documents alike, with the constraints of every CA of the path (the trust anchor's
//! included, as RFC 5937 allows) over every certificate below it.

use std::net::IpAddr;

use crate::Error;
use crate::ber::{self, Tlv};
use crate::cert::Name;

/// One name of a certificate, or the base of one constraint subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    /// rfc822Name: a mailbox (`a@b.it`), or in a constraint a host (`b.it`) or a domain (`.b.it`).
    Email(String),
    /// dNSName.
    Dns(String),
    /// directoryName.
    Directory(Name),
    /// iPAddress: 4 or 16 octets in a certificate; address then mask (8 or 32) in a constraint.
    Ip(Vec<u8>),
    /// uniformResourceIdentifier.
    Uri(String),
    /// A name form this verifier does not match (otherName, x400Address, ediPartyName,
    /// registeredID): its context tag number.
    Other(u8),
}

impl GeneralName {
    /// Reads one GeneralName (its context-specific tag chooses the form).
    pub fn parse(t: &Tlv<'_>) -> Result<GeneralName, Error> {
        let text = || String::from_utf8_lossy(t.content).into_owned();
        Ok(match t.tag {
            x if x == ber::ctx_prim(1) => GeneralName::Email(text()),
            x if x == ber::ctx_prim(2) => GeneralName::Dns(text()),
            x if x == ber::ctx(4) => {
                let inner = t.children()?;
                let name = inner.first().ok_or_else(|| Error::Certificate("empty directoryName".into()))?;
                GeneralName::Directory(Name::parse(name)?)
            }
            x if x == ber::ctx_prim(6) => GeneralName::Uri(text()),
            x if x == ber::ctx_prim(7) => GeneralName::Ip(t.content.to_vec()),
            other => GeneralName::Other(other & 0x1f),
        })
    }

    /// The name form, to tell which constraints apply to which names.
    fn form(&self) -> u8 {
        match self {
            GeneralName::Email(_) => 1,
            GeneralName::Dns(_) => 2,
            GeneralName::Directory(_) => 4,
            GeneralName::Uri(_) => 6,
            GeneralName::Ip(_) => 7,
            GeneralName::Other(n) => 0x80 | n,
        }
    }
}

impl std::fmt::Display for GeneralName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeneralName::Email(s) => write!(f, "e-mail {s}"),
            GeneralName::Dns(s) => write!(f, "DNS {s}"),
            GeneralName::Directory(n) => write!(f, "directory name {n}"),
            GeneralName::Uri(s) => write!(f, "URI {s}"),
            GeneralName::Ip(b) => match ip_of(b) {
                Some(ip) => write!(f, "IP {ip}"),
                None => write!(f, "IP constraint of {} octets", b.len()),
            },
            GeneralName::Other(n) => write!(f, "name of form [{n}]"),
        }
    }
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// A NameConstraints extension. `permitted: None` when it has no permittedSubtrees (every
/// name permitted unless excluded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameConstraints {
    pub permitted: Option<Vec<GeneralName>>,
    pub excluded: Vec<GeneralName>,
}

impl NameConstraints {
    /// Reads the extension value (`SEQUENCE { [0] permitted OPTIONAL, [1] excluded OPTIONAL }`).
    /// Subtrees with a minimum other than 0 or with a maximum are refused: RFC 5280 forbids
    /// them, and ignoring them would widen what the CA allowed.
    pub fn parse(value: &Tlv<'_>) -> Result<NameConstraints, Error> {
        let mut out = NameConstraints::default();
        for part in value.expect(ber::SEQUENCE, "NameConstraints")?.children()? {
            let subtrees = part
                .children()?
                .iter()
                .map(subtree)
                .collect::<Result<Vec<GeneralName>, Error>>()?;
            match part.tag {
                t if t == ber::ctx(0) => out.permitted = Some(subtrees),
                t if t == ber::ctx(1) => out.excluded = subtrees,
                t => return Err(Error::Certificate(format!("NameConstraints: unexpected field tag {t:#04x}"))),
            }
        }
        Ok(out)
    }

    /// Whether `names` (every name of one certificate) fall within these constraints; the
    /// error names the first name outside them.
    pub fn check(&self, names: &[GeneralName]) -> Result<(), String> {
        for name in names {
            for base in self.excluded.iter().filter(|b| b.form() == name.form()) {
                if subtree_contains(base, name)? {
                    return Err(format!("{name} is excluded by the subtree {base}"));
                }
            }
            if let Some(permitted) = &self.permitted {
                let same_form: Vec<&GeneralName> = permitted.iter().filter(|b| b.form() == name.form()).collect();
                // No permitted subtree of this form: the form is not restricted.
                if same_form.is_empty() {
                    continue;
                }
                let mut inside = false;
                for base in same_form {
                    if subtree_contains(base, name)? {
                        inside = true;
                        break;
                    }
                }
                if !inside {
                    return Err(format!("{name} is outside the permitted subtrees"));
                }
            }
        }
        Ok(())
    }
}

fn subtree(t: &Tlv<'_>) -> Result<GeneralName, Error> {
    let parts = t.expect(ber::SEQUENCE, "GeneralSubtree")?.children()?;
    let base = parts.first().ok_or_else(|| Error::Certificate("GeneralSubtree without base".into()))?;
    for extra in parts.iter().skip(1) {
        let default_minimum = extra.tag == ber::ctx_prim(0) && extra.content.iter().all(|b| *b == 0);
        if !default_minimum {
            return Err(Error::Certificate("GeneralSubtree with minimum or maximum (not allowed by RFC 5280)".into()));
        }
    }
    GeneralName::parse(base)
}

/// Whether the subtree `base` holds `name` (both of the same form). A form this verifier
/// cannot match is an error: RFC 5280 6.1.3 says a constraint that cannot be processed on a
/// name of its form makes the certificate unacceptable.
fn subtree_contains(base: &GeneralName, name: &GeneralName) -> Result<bool, String> {
    Ok(match (base, name) {
        (GeneralName::Email(c), GeneralName::Email(n)) => email_matches(c, n),
        (GeneralName::Dns(c), GeneralName::Dns(n)) => dns_matches(c, n),
        (GeneralName::Directory(c), GeneralName::Directory(n)) => directory_matches(c, n),
        (GeneralName::Ip(c), GeneralName::Ip(n)) => ip_matches(c, n),
        (GeneralName::Uri(c), GeneralName::Uri(n)) => uri_matches(c, n),
        _ => return Err(format!("{name}: constraints on this name form are not supported")),
    })
}

/// rfc822Name constraint (RFC 5280 4.2.1.10): a mailbox matches only itself; a host
/// (`pec.aruba.it`) every mailbox on that host and not its subdomains; a domain with a
/// leading dot (`.aruba.it`) every mailbox on its subdomains and not on the host itself.
/// Domains compare without regard to case; the local part is compared exactly.
pub fn email_matches(constraint: &str, address: &str) -> bool {
    let Some((local, host)) = address.rsplit_once('@') else { return false };
    if let Some((c_local, c_host)) = constraint.rsplit_once('@') {
        return c_local == local && c_host.eq_ignore_ascii_case(host);
    }
    if constraint.starts_with('.') {
        return ends_with_ci(host, constraint) && host.len() > constraint.len();
    }
    constraint.eq_ignore_ascii_case(host)
}

/// dNSName constraint: the name itself and any name made by adding labels on the left
/// (`gov.it` holds `agid.gov.it`, not `fakegov.it`); the empty constraint holds every name.
/// A constraint with a leading dot holds only its subdomains.
pub fn dns_matches(constraint: &str, name: &str) -> bool {
    let c = constraint.trim_end_matches('.');
    let n = name.trim_end_matches('.');
    if c.is_empty() {
        return true;
    }
    if c.starts_with('.') {
        return ends_with_ci(n, c) && n.len() > c.len();
    }
    if c.eq_ignore_ascii_case(n) {
        return true;
    }
    n.len() > c.len() && ends_with_ci(n, c) && n.as_bytes()[n.len() - c.len() - 1] == b'.'
}

/// directoryName constraint: the constraint's RDNs are the first RDNs of the name, each
/// equal after RFC 5280 7.1 folding (case, spaces, string type).
pub fn directory_matches(constraint: &Name, name: &Name) -> bool {
    constraint.rdns.len() <= name.rdns.len()
        && constraint.rdns.iter().zip(&name.rdns).all(|(c, n)| Name::rdn_equal(c, n))
}

/// iPAddress constraint: address and mask; an address of the same family inside it.
fn ip_matches(constraint: &[u8], ip: &[u8]) -> bool {
    let half = constraint.len() / 2;
    if !constraint.len().is_multiple_of(2) || half != ip.len() {
        return false;
    }
    let (addr, mask) = constraint.split_at(half);
    ip.iter().zip(addr).zip(mask).all(|((i, a), m)| i & m == a & m)
}

/// URI constraint: on the URI's host, as for dNSName but a host constraint does not hold
/// its subdomains (RFC 5280 4.2.1.10).
fn uri_matches(constraint: &str, uri: &str) -> bool {
    let Some(rest) = uri.split_once("://").map(|(_, r)| r) else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_port.split(':').next().unwrap_or_default();
    if constraint.starts_with('.') {
        return ends_with_ci(host, constraint) && host.len() > constraint.len();
    }
    constraint.eq_ignore_ascii_case(host)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len() && s.get(s.len() - suffix.len()..).is_some_and(|t| t.eq_ignore_ascii_case(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(pairs: &[(&const_oid::ObjectIdentifier, &str)]) -> Name {
        Name {
            raw: Vec::new(),
            rdns: pairs.iter().map(|(o, v)| vec![(o.as_bytes().to_vec(), (*v).to_owned())]).collect(),
        }
    }

    use crate::oids::{AT_COMMON_NAME as CN, AT_COUNTRY as C, AT_LOCALITY as L, AT_ORGANIZATION as O, AT_STATE as ST};

    fn aruba() -> Name {
        name(&[(&C, "IT"), (&ST, "Bergamo"), (&L, "Ponte San Pietro"), (&O, "Aruba PEC S.p.A.")])
    }

    #[test]
    fn email_host_domain_and_mailbox() {
        // A host: mailboxes on it, in any case, not on its subdomains nor on look-alikes.
        assert!(email_matches("pec.aruba.it", "posta-certificata@pec.aruba.it"));
        assert!(email_matches("pec.aruba.it", "posta-certificata@PEC.Aruba.IT"));
        assert!(email_matches("PEC.ARUBA.IT", "x@pec.aruba.it"));
        assert!(!email_matches("pec.aruba.it", "x@sub.pec.aruba.it"));
        assert!(!email_matches("pec.aruba.it", "x@fakepec.aruba.it"));
        assert!(!email_matches("pec.aruba.it", "x@pec.aruba.it.evil.com"));
        assert!(!email_matches("pec.aruba.it", "pec.aruba.it"));
        // A leading dot: its subdomains only.
        assert!(email_matches(".aruba.it", "x@pec.aruba.it"));
        assert!(email_matches(".aruba.it", "x@a.b.ARUBA.it"));
        assert!(!email_matches(".aruba.it", "x@aruba.it"));
        assert!(!email_matches(".aruba.it", "x@notaruba.it"));
        // A mailbox: itself only (local part exact, domain in any case).
        assert!(email_matches("posta@pec.aruba.it", "posta@PEC.ARUBA.IT"));
        assert!(!email_matches("posta@pec.aruba.it", "Posta@pec.aruba.it"));
        assert!(!email_matches("posta@pec.aruba.it", "altro@pec.aruba.it"));
    }

    #[test]
    fn dns_adds_labels_on_the_left_only() {
        assert!(dns_matches("gov.it", "gov.it"));
        assert!(dns_matches("gov.it", "agid.GOV.it"));
        assert!(dns_matches("gov.it", "a.b.gov.it."));
        assert!(!dns_matches("gov.it", "fakegov.it"));
        assert!(!dns_matches("gov.it", "gov.it.evil.com"));
        assert!(dns_matches(".gov.it", "agid.gov.it"));
        assert!(!dns_matches(".gov.it", "gov.it"));
        // The empty constraint holds every name (AgID CA1 2025 excludes it: no DNS names).
        assert!(dns_matches("", "anything.example"));
    }

    #[test]
    fn directory_names_are_prefixes_compared_after_folding() {
        let provider = name(&[
            (&C, "IT"),
            (&ST, "Bergamo"),
            (&L, "Ponte San Pietro"),
            (&O, "Aruba PEC S.p.A."),
            (&CN, "Posta Certificata ARUBA PEC"),
        ]);
        assert!(directory_matches(&aruba(), &provider));
        let folded =
            name(&[(&C, "it"), (&ST, "BERGAMO"), (&L, "Ponte  San   Pietro"), (&O, "aruba pec s.p.a."), (&CN, "x")]);
        assert!(directory_matches(&aruba(), &folded));
        let other_org = name(&[(&C, "IT"), (&ST, "Bergamo"), (&L, "Ponte San Pietro"), (&O, "Aruba Fake S.p.A.")]);
        assert!(!directory_matches(&aruba(), &other_org));
        // Shorter than the constraint, or the same attributes in another order: outside.
        assert!(!directory_matches(&aruba(), &name(&[(&C, "IT"), (&ST, "Bergamo")])));
        let reordered = name(&[(&ST, "Bergamo"), (&C, "IT"), (&L, "Ponte San Pietro"), (&O, "Aruba PEC S.p.A.")]);
        assert!(!directory_matches(&aruba(), &reordered));
    }

    #[test]
    fn permitted_and_excluded() {
        let nc = NameConstraints {
            permitted: Some(vec![
                GeneralName::Email("pec.aruba.it".into()),
                GeneralName::Email(".sicurezzapostale.it".into()),
                GeneralName::Directory(aruba()),
            ]),
            excluded: vec![
                GeneralName::Email("bad.sicurezzapostale.it".into()),
                GeneralName::Ip(vec![0; 8]),
                GeneralName::Dns(String::new()),
            ],
        };
        let dir = |n: Name| GeneralName::Directory(n);
        assert_eq!(nc.check(&[GeneralName::Email("a@pec.aruba.it".into()), dir(aruba())]), Ok(()));
        assert_eq!(nc.check(&[GeneralName::Email("a@x.sicurezzapostale.it".into())]), Ok(()));
        // Each name must be inside: one outside is enough to refuse.
        let err = nc.check(&[GeneralName::Email("a@pec.aruba.it".into()), GeneralName::Email("a@gmail.com".into())]);
        assert_eq!(err, Err("e-mail a@gmail.com is outside the permitted subtrees".into()));
        let other = name(&[(&C, "IT"), (&O, "Truffa S.r.l.")]);
        assert!(nc.check(&[dir(other)]).is_err());
        // Excluded wins over permitted.
        assert!(nc.check(&[GeneralName::Email("a@bad.sicurezzapostale.it".into())]).is_err());
        // Forms with no permitted subtree are not restricted, unless excluded.
        assert_eq!(nc.check(&[GeneralName::Uri("https://example.com/".into())]), Ok(()));
        assert!(nc.check(&[GeneralName::Dns("example.com".into())]).is_err(), "the empty DNS subtree excludes all");
        assert!(nc.check(&[GeneralName::Ip(vec![127, 0, 0, 1])]).is_err(), "0.0.0.0/0 excludes every IPv4");
        assert_eq!(nc.check(&[GeneralName::Ip(vec![0; 16])]), Ok(()), "an IPv4 subtree does not hold IPv6");
    }

    #[test]
    fn empty_permitted_sets() {
        // No permittedSubtrees at all: everything not excluded.
        let only_excluded =
            NameConstraints { permitted: None, excluded: vec![GeneralName::Email("evil.it".into())] };
        assert_eq!(only_excluded.check(&[GeneralName::Email("a@good.it".into())]), Ok(()));
        assert!(only_excluded.check(&[GeneralName::Email("a@evil.it".into())]).is_err());
        // permittedSubtrees present but empty: no form restricted.
        let empty = NameConstraints { permitted: Some(Vec::new()), excluded: Vec::new() };
        assert_eq!(empty.check(&[GeneralName::Email("a@b.it".into()), GeneralName::Dns("b.it".into())]), Ok(()));
        // A certificate with no names of a restricted form passes.
        let emails_only = NameConstraints { permitted: Some(vec![GeneralName::Email("b.it".into())]), excluded: vec![] };
        assert_eq!(emails_only.check(&[]), Ok(()));
        assert_eq!(emails_only.check(&[GeneralName::Dns("c.it".into())]), Ok(()));
    }

    #[test]
    fn unsupported_forms_fail_closed() {
        let nc = NameConstraints { permitted: None, excluded: vec![GeneralName::Other(0)] };
        assert!(nc.check(&[GeneralName::Other(0)]).is_err());
        assert_eq!(nc.check(&[GeneralName::Email("a@b.it".into())]), Ok(()));
    }

    #[test]
    fn parses_what_agid_writes() -> Result<(), Error> {
        // permitted: email pec.aruba.it, DirName C=IT,O=X; excluded: IP 0.0.0.0/0
        let name_der = [
            0x30, 0x1a, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'I', b'T', 0x31, 0x0b,
            0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x02, b'X', b'Y',
        ];
        let mut dir = vec![0x30, (name_der.len() + 2) as u8, 0xa4, name_der.len() as u8];
        dir.extend_from_slice(&name_der);
        let email = [&[0x30, 0x0e, 0x81, 0x0c][..], b"pec.aruba.it"].concat();
        let permitted = [&[0xa0, (email.len() + dir.len()) as u8][..], &email, &dir].concat();
        let excluded = [0xa1, 0x0c, 0x30, 0x0a, 0x87, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        let body = [&permitted[..], &excluded[..]].concat();
        let der = [&[0x30, body.len() as u8][..], &body].concat();
        let nc = NameConstraints::parse(&ber::read_all(&der)?)?;
        let permitted = nc.permitted.unwrap_or_default();
        assert_eq!(permitted.first(), Some(&GeneralName::Email("pec.aruba.it".into())));
        assert!(matches!(permitted.get(1), Some(GeneralName::Directory(n)) if n.to_string() == "C=IT, O=XY"));
        assert_eq!(nc.excluded, vec![GeneralName::Ip(vec![0; 8])]);
        Ok(())
    }
}
