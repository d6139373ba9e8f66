//! X.509 certificates: the fields the verifier needs, read leniently (real Italian CA
//! certificates are not always strict DER) but with every length checked.

use chrono::{DateTime, NaiveDate, Utc};

use crate::Error;
use crate::ber::{self, Tlv};
use crate::crypto::{PublicKey, SigAlg};
use crate::names::{GeneralName, NameConstraints};
use crate::oids;

/// keyUsage bits (RFC 5280 4.2.1.3), numbered from the most significant bit.
pub const KU_DIGITAL_SIGNATURE: u16 = 0x8000;
pub const KU_NON_REPUDIATION: u16 = 0x4000;
pub const KU_KEY_CERT_SIGN: u16 = 0x0400;

/// A distinguished name: RDNs in stored order, each a list of (OID bytes, string value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub raw: Vec<u8>,
    pub rdns: Vec<Vec<(Vec<u8>, String)>>,
}

impl Name {
    pub fn parse(tlv: &Tlv<'_>) -> Result<Name, Error> {
        let tlv = tlv.expect(ber::SEQUENCE, "Name")?;
        let mut rdns = Vec::new();
        for rdn in tlv.children()? {
            let mut atvs = Vec::new();
            for atv in rdn.expect(ber::SET, "RDN")?.children()? {
                let kids = atv.children()?;
                let (Some(oid), Some(value)) = (kids.first(), kids.get(1)) else {
                    return Err(Error::Asn1("AttributeTypeAndValue".into()));
                };
                atvs.push((oid.content.to_vec(), decode_string(value)));
            }
            rdns.push(atvs);
        }
        Ok(Name { raw: tlv.raw.to_vec(), rdns })
    }

    /// First value of an attribute type.
    pub fn get(&self, oid: &const_oid::ObjectIdentifier) -> Option<&str> {
        self.rdns.iter().flatten().find(|(o, _)| o.as_slice() == oid.as_bytes()).map(|(_, v)| v.as_str())
    }

    /// RFC 5280 7.1 name matching, simplified: identical bytes, or the same attributes with
    /// values equal after case folding and whitespace folding (what real CAs need when one
    /// side re-encodes PrintableString as UTF8String).
    pub fn matches(&self, other: &Name) -> bool {
        if self.raw == other.raw {
            return true;
        }
        let norm = |n: &Name| -> Vec<Vec<(Vec<u8>, String)>> {
            n.rdns
                .iter()
                .map(|rdn| {
                    let mut v: Vec<(Vec<u8>, String)> = rdn
                        .iter()
                        .map(|(o, s)| (o.clone(), s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()))
                        .collect();
                    v.sort();
                    v
                })
                .collect()
        };
        norm(self) == norm(other)
    }

    /// Whether two RDNs hold the same attributes with equal values after case and
    /// whitespace folding (the comparison [`Name::matches`] makes for each RDN).
    pub fn rdn_equal(a: &[(Vec<u8>, String)], b: &[(Vec<u8>, String)]) -> bool {
        let fold = |rdn: &[(Vec<u8>, String)]| -> Vec<(Vec<u8>, String)> {
            let mut v: Vec<(Vec<u8>, String)> = rdn
                .iter()
                .map(|(o, s)| (o.clone(), s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()))
                .collect();
            v.sort();
            v
        };
        fold(a) == fold(b)
    }

    /// Every value of an attribute type, in stored order.
    pub fn all(&self, oid: &const_oid::ObjectIdentifier) -> impl Iterator<Item = &str> {
        self.rdns.iter().flatten().filter(|(o, _)| o.as_slice() == oid.as_bytes()).map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (oid, value) in self.rdns.iter().flatten() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            let label = attr_label(oid);
            write!(f, "{label}={value}")?;
        }
        Ok(())
    }
}

fn attr_label(oid: &[u8]) -> String {
    let table = [
        (oids::AT_COMMON_NAME, "CN"),
        (oids::AT_SURNAME, "SN"),
        (oids::AT_SERIAL_NUMBER, "serialNumber"),
        (oids::AT_COUNTRY, "C"),
        (oids::AT_LOCALITY, "L"),
        (oids::AT_STATE, "ST"),
        (oids::AT_ORGANIZATION, "O"),
        (oids::AT_ORG_UNIT, "OU"),
        (oids::AT_TITLE, "title"),
        (oids::AT_GIVEN_NAME, "GN"),
        (oids::AT_DN_QUALIFIER, "dnQualifier"),
        (oids::AT_ORG_IDENTIFIER, "organizationIdentifier"),
        (oids::AT_EMAIL, "emailAddress"),
    ];
    table
        .iter()
        .find(|(o, _)| o.as_bytes() == oid)
        .map(|(_, l)| (*l).to_owned())
        .unwrap_or_else(|| const_oid::ObjectIdentifier::from_bytes(oid).map(|o| o.to_string()).unwrap_or_default())
}

/// Decodes the ASN.1 string types found in names; unknown types are shown as hex.
pub fn decode_string(v: &Tlv<'_>) -> String {
    let c = v.content;
    match v.tag {
        0x0c | 0x13 | 0x16 | 0x12 | 0x1a => String::from_utf8_lossy(c).into_owned(),
        // TeletexString: in practice Latin-1.
        0x14 => c.iter().map(|b| char::from(*b)).collect(),
        0x1e => {
            let units: Vec<u16> = c.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            String::from_utf16_lossy(&units)
        }
        0x1c => c
            .chunks_exact(4)
            .filter_map(|p| char::from_u32(u32::from_be_bytes([p[0], p[1], p[2], p[3]])))
            .collect(),
        _ => c.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// UTCTime / GeneralizedTime → UTC. Accepts missing seconds, fractional seconds and
/// numeric offsets, which old files contain.
pub fn parse_time(t: &Tlv<'_>) -> Result<DateTime<Utc>, Error> {
    let s = std::str::from_utf8(t.content).map_err(|_| Error::Asn1("time is not ASCII".into()))?;
    let bad = || Error::Asn1(format!("bad time {s:?}"));
    let (year, rest) = match t.tag {
        ber::UTC_TIME => {
            let yy: i32 = s.get(..2).and_then(|y| y.parse().ok()).ok_or_else(bad)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, s.get(2..).ok_or_else(bad)?)
        }
        ber::GENERALIZED_TIME => (s.get(..4).and_then(|y| y.parse().ok()).ok_or_else(bad)?, s.get(4..).ok_or_else(bad)?),
        _ => return Err(Error::Asn1("expected a time".into())),
    };
    let num = |r: &str, i: usize| -> Option<u32> { r.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute) =
        (num(rest, 0).ok_or_else(bad)?, num(rest, 2).ok_or_else(bad)?, num(rest, 4).ok_or_else(bad)?, num(rest, 6).ok_or_else(bad)?);
    let mut tail = rest.get(8..).ok_or_else(bad)?;
    let mut second = 0;
    if tail.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        second = num(tail, 0).ok_or_else(bad)?;
        tail = tail.get(2..).ok_or_else(bad)?;
    }
    if let Some(frac) = tail.strip_prefix('.').or_else(|| tail.strip_prefix(',')) {
        tail = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset_secs: i64 = match tail {
        "Z" | "" => 0,
        o if (o.starts_with('+') || o.starts_with('-')) && o.len() == 5 => {
            let h: i64 = o.get(1..3).and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            let m: i64 = o.get(3..5).and_then(|x| x.parse().ok()).ok_or_else(bad)?;
            let v = h * 3600 + m * 60;
            if o.starts_with('+') { v } else { -v }
        }
        _ => return Err(bad()),
    };
    let naive = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(hour, minute, second.min(59)))
        .ok_or_else(bad)?;
    Ok(DateTime::<Utc>::from_naive_utc_and_offset(naive, Utc) - chrono::Duration::seconds(offset_secs))
}

/// A parsed certificate.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub der: Vec<u8>,
    pub tbs: Vec<u8>,
    pub sig_alg: Result<SigAlg, String>,
    pub signature: Vec<u8>,
    /// serialNumber content octets (two's complement as stored).
    pub serial: Vec<u8>,
    pub issuer: Name,
    pub subject: Name,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub public_key: Result<PublicKey, String>,
    pub ski: Option<Vec<u8>>,
    pub key_usage: Option<u16>,
    pub is_ca: bool,
    pub emails: Vec<String>,
    pub qc_compliance: bool,
    pub qc_sscd: bool,
    /// Every QCStatement (ETSI EN 319 412-5) by name, in stored order, e.g. "QcCompliance",
    /// "QcSSCD", "QcType-esign"; unknown statements by dotted OID.
    pub qc_statements: Vec<String>,
    /// Every subjectAltName entry, in stored order.
    pub alt_names: Vec<GeneralName>,
    /// The NameConstraints extension of a CA; `Err` when present but unreadable (a path
    /// through that CA is then refused: its constraints cannot be honoured).
    pub name_constraints: Option<Result<NameConstraints, String>>,
    /// OCSP responders from authorityInfoAccess, in stored order.
    pub ocsp_urls: Vec<String>,
    /// CRL distribution points (full names that are URIs), in stored order.
    pub crl_urls: Vec<String>,
    /// The subjectPublicKey BIT STRING's bytes (what an OCSP issuerKeyHash hashes).
    pub key_bits: Vec<u8>,
    /// extendedKeyUsage purposes (OID content octets), empty when the extension is absent.
    pub extended_key_usage: Vec<Vec<u8>>,
    /// certificatePolicies identifiers (OID content octets), in stored order: what a trusted
    /// list's qualifications select certificates by.
    pub policies: Vec<Vec<u8>>,
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Certificate, Error> {
        let top = ber::read_all(der)?.expect(ber::SEQUENCE, "Certificate")?;
        let parts = top.children()?;
        let (Some(tbs), Some(sig_alg), Some(sig)) = (parts.first(), parts.get(1), parts.get(2)) else {
            return Err(Error::Certificate("Certificate needs tbs, algorithm, signature".into()));
        };
        let fields = tbs.expect(ber::SEQUENCE, "TBSCertificate")?.children()?;
        let mut i = 0;
        if fields.first().is_some_and(|f| f.tag == ber::ctx(0)) {
            i = 1;
        }
        let field = |n: usize| fields.get(i + n).ok_or_else(|| Error::Certificate("truncated TBSCertificate".into()));
        let serial = field(0)?.expect(ber::INTEGER, "serialNumber")?.content.to_vec();
        let issuer = Name::parse(field(2)?)?;
        let validity = field(3)?.children()?;
        let (Some(nb), Some(na)) = (validity.first(), validity.get(1)) else {
            return Err(Error::Certificate("validity".into()));
        };
        let subject = Name::parse(field(4)?)?;
        let spki = field(5)?;
        let mut cert = Certificate {
            der: der.to_vec(),
            tbs: tbs.raw.to_vec(),
            sig_alg: SigAlg::from_alg_id(sig_alg).map_err(|e| e.to_string()),
            signature: sig.bit_string_bytes()?.to_vec(),
            serial,
            issuer,
            subject,
            not_before: parse_time(nb)?,
            not_after: parse_time(na)?,
            public_key: PublicKey::from_spki(spki).map_err(|e| e.to_string()),
            ski: None,
            key_usage: None,
            is_ca: false,
            emails: Vec::new(),
            qc_compliance: false,
            qc_sscd: false,
            qc_statements: Vec::new(),
            alt_names: Vec::new(),
            name_constraints: None,
            ocsp_urls: Vec::new(),
            crl_urls: Vec::new(),
            // Read leniently, as the key itself: an odd key only means no OCSP request.
            key_bits: spki
                .children()
                .ok()
                .and_then(|k| k.get(1).and_then(|b| b.bit_string_bytes().ok()).map(<[u8]>::to_vec))
                .unwrap_or_default(),
            extended_key_usage: Vec::new(),
            policies: Vec::new(),
        };
        if let Some(email) = cert.subject.get(&oids::AT_EMAIL) {
            cert.emails.push(email.to_owned());
        }
        if let Some(exts) = fields.iter().skip(i + 6).find(|f| f.tag == ber::ctx(3)) {
            let list = exts.children()?;
            let list = list.first().ok_or_else(|| Error::Certificate("empty extensions".into()))?;
            for ext in list.children()? {
                cert.read_extension(&ext)?;
            }
        }
        Ok(cert)
    }

    fn read_extension(&mut self, ext: &Tlv<'_>) -> Result<(), Error> {
        let kids = ext.children()?;
        let oid = kids.first().ok_or_else(|| Error::Certificate("extension".into()))?;
        let value = kids.last().filter(|v| v.tag == ber::OCTET_STRING);
        let Some(value) = value else { return Err(Error::Certificate("extension value".into())) };
        let inner = ber::read_all(value.content)?;
        if oids::is(oid, &oids::EXT_SUBJECT_KEY_ID) {
            self.ski = Some(inner.content.to_vec());
        } else if oids::is(oid, &oids::EXT_KEY_USAGE) {
            let bits = inner.content;
            let b0 = u16::from(bits.get(1).copied().unwrap_or(0));
            let b1 = u16::from(bits.get(2).copied().unwrap_or(0));
            self.key_usage = Some((b0 << 8) | b1);
        } else if oids::is(oid, &oids::EXT_BASIC_CONSTRAINTS) {
            self.is_ca = inner.children()?.first().is_some_and(|b| b.tag == ber::BOOLEAN && b.content != [0]);
        } else if oids::is(oid, &oids::EXT_SUBJECT_ALT_NAME) {
            for gn in inner.children()? {
                let name = GeneralName::parse(&gn)?;
                if let GeneralName::Email(address) = &name {
                    self.emails.push(address.clone());
                }
                self.alt_names.push(name);
            }
        } else if oids::is(oid, &oids::EXT_EXTENDED_KEY_USAGE) {
            self.extended_key_usage = inner.children()?.iter().filter(|p| p.tag == ber::OID).map(|p| p.content.to_vec()).collect();
        } else if oids::is(oid, &oids::EXT_CERTIFICATE_POLICIES) {
            // PolicyInformation ::= SEQUENCE { policyIdentifier OID, policyQualifiers … }
            for info in inner.children()? {
                if let Some(id) = info.children()?.first().filter(|i| i.tag == ber::OID) {
                    self.policies.push(id.content.to_vec());
                }
            }
        } else if oids::is(oid, &oids::EXT_NAME_CONSTRAINTS) {
            self.name_constraints = Some(NameConstraints::parse(&inner).map_err(|e| e.to_string()));
        } else if oids::is(oid, &oids::EXT_AUTHORITY_INFO_ACCESS) {
            for ad in inner.children()? {
                let parts = ad.children()?;
                if let (Some(method), Some(location)) = (parts.first(), parts.get(1))
                    && oids::is(method, &oids::AD_OCSP)
                    && let Ok(GeneralName::Uri(url)) = GeneralName::parse(location)
                {
                    self.ocsp_urls.push(url);
                }
            }
        } else if oids::is(oid, &oids::EXT_CRL_DISTRIBUTION_POINTS) {
            self.crl_urls.extend(crl_distribution_urls(&inner));
        } else if oids::is(oid, &oids::EXT_QC_STATEMENTS) {
            for st in inner.children()? {
                let parts = st.children()?;
                if let Some(id) = parts.first() {
                    self.qc_compliance |= oids::is(id, &oids::QC_COMPLIANCE);
                    self.qc_sscd |= oids::is(id, &oids::QC_SSCD);
                    self.qc_statements.extend(qc_statement_names(id, parts.get(1)));
                }
            }
        }
        Ok(())
    }

    /// The names name constraints apply to (RFC 5280 4.2.1.10): the subject, when not
    /// empty, its emailAddress attributes as e-mail addresses, and every subjectAltName.
    pub fn constrained_names(&self) -> Vec<GeneralName> {
        let mut out = Vec::new();
        if !self.subject.rdns.is_empty() {
            out.push(GeneralName::Directory(self.subject.clone()));
        }
        out.extend(self.subject.all(&oids::AT_EMAIL).map(|e| GeneralName::Email(e.to_owned())));
        out.extend(self.alt_names.iter().cloned());
        out
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject.matches(&self.issuer)
    }

    pub fn has_key_usage(&self, bit: u16) -> bool {
        self.key_usage.is_none_or(|ku| ku & bit != 0)
    }

    pub fn valid_at(&self, t: DateTime<Utc>) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Whether `self` was signed by `issuer`'s key.
    pub fn signed_by(&self, issuer: &Certificate) -> Result<(), String> {
        let alg = self.sig_alg.clone()?;
        let key = issuer.public_key.as_ref().map_err(|e| e.clone())?;
        let digest = alg.digest().ok_or("certificate signature algorithm without a digest")?;
        key.verify_prehash(alg, digest, &digest.hash(&self.tbs), &self.signature)
    }

    /// Codice fiscale from a subject serialNumber `TINIT-XXXXXXXXXXXXXXXX` (ETSI EN 319 412-1
    /// semantics identifier); also accepts the older bare `IT:` form some CAs used.
    pub fn fiscal_code(&self) -> Option<String> {
        let sn = self.subject.get(&oids::AT_SERIAL_NUMBER)?;
        let cf = sn.strip_prefix("TINIT-").or_else(|| sn.strip_prefix("IT:"))?;
        Some(cf.to_owned())
    }
}

/// The URIs of a CRLDistributionPoints value (`distributionPoint` full names); relative
/// names and malformed points are skipped: a missing URL only means no CRL to fetch.
fn crl_distribution_urls(value: &Tlv<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for dp in value.children().unwrap_or_default() {
        for field in dp.children().unwrap_or_default().iter().filter(|f| f.tag == ber::ctx(0)) {
            for full in field.children().unwrap_or_default().iter().filter(|f| f.tag == ber::ctx(0)) {
                for gn in full.children().unwrap_or_default() {
                    if let Ok(GeneralName::Uri(url)) = GeneralName::parse(&gn) {
                        out.push(url);
                    }
                }
            }
        }
    }
    out
}

/// Names of one QCStatement; QcType expands to one name per type it lists.
fn qc_statement_names(id: &Tlv<'_>, info: Option<&Tlv<'_>>) -> Vec<String> {
    let simple = [
        (oids::QC_COMPLIANCE, "QcCompliance"),
        (oids::QC_SSCD, "QcSSCD"),
        (oids::QC_LIMIT_VALUE, "QcLimitValue"),
        (oids::QC_RETENTION_PERIOD, "QcRetentionPeriod"),
        (oids::QC_PDS, "QcPDS"),
        (oids::QC_CC_LEGISLATION, "QcCClegislation"),
        (oids::QCS_PKIX_SYNTAX_V2, "QcSemanticsId"),
    ];
    if let Some((_, name)) = simple.iter().find(|(o, _)| oids::is(id, o)) {
        return vec![(*name).to_owned()];
    }
    if oids::is(id, &oids::QC_TYPE) {
        let types = info.and_then(|i| i.children().ok()).unwrap_or_default();
        let named: Vec<String> = types
            .iter()
            .map(|t| {
                let label = [(oids::QC_TYPE_ESIGN, "esign"), (oids::QC_TYPE_ESEAL, "eseal"), (oids::QC_TYPE_WEB, "web")]
                    .iter()
                    .find(|(o, _)| oids::is(t, o))
                    .map_or_else(|| oids::dotted(t), |(_, l)| (*l).to_owned());
                format!("QcType-{label}")
            })
            .collect();
        return if named.is_empty() { vec!["QcType".to_owned()] } else { named };
    }
    vec![oids::dotted(id)]
}

/// Splits PEM (one or more blocks with the given label) or returns `None` if `input` is
/// not PEM.
pub fn pem_blocks(input: &[u8], label: &str) -> Option<Vec<Vec<u8>>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(input).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    if !text.contains(&begin) {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = rest.get(start + begin.len()..)?;
        let stop = after.find(&end)?;
        let body: String = after.get(..stop)?.chars().filter(|c| !c.is_whitespace()).collect();
        out.push(base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).ok()?);
        rest = after.get(stop + end.len()..)?;
    }
    Some(out)
}
