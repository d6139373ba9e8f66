//! Certificate authorities and the certificates they issue.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::der::{self, ctx};
use crate::keys::{KeyKind, PrivateKey};
use crate::{DigestAlg, oids, pem};

static SERIAL: AtomicU64 = AtomicU64::new(0);

fn next_serial() -> Vec<u8> {
    // A per-process random high half keeps serials distinct between CAs that happen to share
    // a name across processes; the counter keeps them distinct within one.
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let mut b = [0u8; 4];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        u64::from(u32::from_be_bytes(b) & 0x7fff_ffff) << 24
    });
    let n = base + SERIAL.fetch_add(1, Ordering::Relaxed) + 1;
    n.to_be_bytes().to_vec()
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Distinguished name, one attribute per RDN, in the order given.
fn name(attrs: &[(&str, &[u8])]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> =
        attrs.iter().map(|(oid, value)| der::tlv(der::SET, &der::seq(&[&der::oid(oid), value]))).collect();
    der::tlv(der::SEQUENCE, &rdns.concat())
}

fn ext(oid: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        der::seq(&[&der::oid(oid), &der::tlv(der::BOOLEAN, &[0xff]), &der::octets(value)])
    } else {
        der::seq(&[&der::oid(oid), &der::octets(value)])
    }
}

/// KeyUsage BIT STRING from bit numbers (0 = digitalSignature, 1 = nonRepudiation, ...).
fn key_usage(bits: &[u8]) -> Vec<u8> {
    let mut v: u16 = 0;
    for b in bits {
        v |= 0x8000 >> b;
    }
    let bytes = v.to_be_bytes();
    let used = if bytes[1] == 0 { 1 } else { 2 };
    let last = bytes[used - 1];
    let unused = if last == 0 { 0 } else { last.trailing_zeros() as u8 };
    let mut content = vec![unused];
    content.extend_from_slice(&bytes[..used]);
    der::tlv(der::BIT_STRING, &content)
}

struct TbsInput<'a> {
    serial: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    spki: &'a [u8],
    extensions: Vec<Vec<u8>>,
}

fn build_cert(t: TbsInput<'_>, signer: &PrivateKey, digest: DigestAlg) -> Vec<u8> {
    // The signature algorithm inside the TBS must equal the outer one, so sign a dummy first
    // to learn the AlgorithmIdentifier (cheap next to the real signature).
    let (alg, _) = signer.sign(digest, b"", false);
    let tbs = der::seq(&[
        &der::tlv(ctx(0), &der::small_int(2)),
        &der::uint(t.serial),
        &alg,
        t.issuer,
        &der::seq(&[&der::time(t.not_before), &der::time(t.not_after)]),
        t.subject,
        t.spki,
        &der::tlv(ctx(3), &der::tlv(der::SEQUENCE, &t.extensions.concat())),
    ]);
    let (alg, sig) = signer.sign(digest, &tbs, false);
    der::seq(&[&tbs, &alg, &der::bits(&sig)])
}

/// How to make a CA.
#[derive(Debug, Clone)]
pub struct CaSpec {
    pub common_name: String,
    pub organization: Option<String>,
    pub country: Option<String>,
    pub key: KeyKind,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    /// Digest of the certificate signature (SHA-256 by default).
    pub cert_digest: DigestAlg,
    /// A NameConstraints extension (critical), as AgID CA1 carries.
    pub name_constraints: Option<NameConstraints>,
}

/// The subtrees of a NameConstraints extension.
#[derive(Debug, Clone, Default)]
pub struct NameConstraints {
    pub permitted: Vec<Subtree>,
    pub excluded: Vec<Subtree>,
}

/// The base of one subtree.
#[derive(Debug, Clone)]
pub enum Subtree {
    /// rfc822Name: a host (`pec.test.it`), a domain (`.test.it`) or a mailbox.
    Email(String),
    /// dNSName.
    Dns(String),
    /// directoryName: (attribute OID, value) per RDN, e.g. `[(AT_COUNTRY, "IT"), (AT_ORGANIZATION, "X")]`.
    Directory(Vec<(&'static str, String)>),
    /// iPAddress: address then mask (8 or 32 octets).
    Ip(Vec<u8>),
}

impl Subtree {
    fn general_name(&self) -> Vec<u8> {
        match self {
            Subtree::Email(s) => der::tlv(der::ctx_prim(1), s.as_bytes()),
            Subtree::Dns(s) => der::tlv(der::ctx_prim(2), s.as_bytes()),
            Subtree::Directory(attrs) => der::tlv(ctx(4), &directory_name(attrs)),
            Subtree::Ip(b) => der::tlv(der::ctx_prim(7), b),
        }
    }
}

/// A Name from (OID, value) pairs, one attribute per RDN; C as PrintableString, the rest UTF8String.
fn directory_name(attrs: &[(&'static str, String)]) -> Vec<u8> {
    let encoded: Vec<(&str, Vec<u8>)> = attrs
        .iter()
        .map(|(oid, v)| (*oid, if *oid == oids::AT_COUNTRY { der::printable(v) } else { der::utf8(v) }))
        .collect();
    let refs: Vec<(&str, &[u8])> = encoded.iter().map(|(o, v)| (*o, v.as_slice())).collect();
    name(&refs)
}

impl NameConstraints {
    fn to_der(&self) -> Vec<u8> {
        let subtrees = |list: &[Subtree]| -> Vec<u8> {
            list.iter().map(|s| der::seq(&[&s.general_name()])).collect::<Vec<_>>().concat()
        };
        let mut parts = Vec::new();
        if !self.permitted.is_empty() {
            parts.push(der::tlv(ctx(0), &subtrees(&self.permitted)));
        }
        if !self.excluded.is_empty() {
            parts.push(der::tlv(ctx(1), &subtrees(&self.excluded)));
        }
        der::tlv(der::SEQUENCE, &parts.concat())
    }
}

impl CaSpec {
    pub fn new(common_name: &str) -> Self {
        CaSpec {
            common_name: common_name.to_owned(),
            organization: Some("Sigillo Test PKI".to_owned()),
            country: Some("IT".to_owned()),
            key: KeyKind::Rsa2048,
            not_before: None,
            not_after: None,
            cert_digest: DigestAlg::Sha256,
            name_constraints: None,
        }
    }
}

/// A certificate authority (root or intermediate).
#[derive(Debug)]
pub struct Ca {
    cert_der: Vec<u8>,
    key: PrivateKey,
    name_der: Vec<u8>,
    /// Issuers of this CA, nearest first (empty for a root).
    chain: Vec<Vec<u8>>,
    cert_digest: DigestAlg,
}

impl Ca {
    /// A self-signed root CA with an RSA 2048 key, valid from yesterday for ten years.
    pub fn new_root(common_name: &str) -> Ca {
        Ca::new_root_with(CaSpec::new(common_name))
    }

    pub fn new_root_with(spec: CaSpec) -> Ca {
        let key = PrivateKey::new(spec.key);
        Ca::new_root_with_key(spec, key)
    }

    /// A self-signed root CA with the given key (e.g. [`PrivateKey::generate`]d).
    pub fn new_root_with_key(spec: CaSpec, key: PrivateKey) -> Ca {
        let subject = ca_name(&spec);
        let cert_der = ca_cert(&spec, &subject, &key, &subject, &key);
        Ca { cert_der, key, name_der: subject, chain: Vec::new(), cert_digest: spec.cert_digest }
    }

    /// An intermediate CA issued by this CA.
    pub fn new_intermediate(&self, common_name: &str) -> Ca {
        self.new_intermediate_with(CaSpec::new(common_name))
    }

    /// An intermediate CA issued by this CA, as `spec` says.
    pub fn new_intermediate_with(&self, spec: CaSpec) -> Ca {
        let key = PrivateKey::new(spec.key);
        let subject = ca_name(&spec);
        let cert_der = ca_cert(&spec, &subject, &key, &self.name_der, &self.key);
        let mut chain = vec![self.cert_der.clone()];
        chain.extend(self.chain.iter().cloned());
        Ca { cert_der, key, name_der: subject, chain, cert_digest: spec.cert_digest }
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert_der)
    }

    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// DER Name of this CA.
    pub fn name_der(&self) -> &[u8] {
        &self.name_der
    }

    /// A CA read back from its certificate and key (e.g. PEM files written by
    /// [`Ca::cert_pem`] and [`PrivateKey::to_pkcs8_pem`]); `chain` = its issuers, nearest
    /// first (empty for a root). Fails when the bytes are not a certificate.
    pub fn from_parts(cert_der: Vec<u8>, key: PrivateKey, chain: Vec<Vec<u8>>) -> Result<Ca, String> {
        let name_der = subject_of(&cert_der).ok_or_else(|| "not an X.509 certificate".to_owned())?;
        Ok(Ca { cert_der, key, name_der, chain, cert_digest: DigestAlg::Sha256 })
    }

    /// Issues an end-entity certificate.
    pub fn issue(&self, spec: LeafSpec) -> Leaf {
        let key = PrivateKey::new(spec.key);
        self.issue_with_key(spec, key)
    }

    /// Issues an end-entity certificate for the given key (`spec.key` is ignored).
    pub fn issue_with_key(&self, spec: LeafSpec, key: PrivateKey) -> Leaf {
        let mut attrs: Vec<(&str, Vec<u8>)> = Vec::new();
        if let Some(c) = &spec.country {
            attrs.push((oids::AT_COUNTRY, der::printable(c)));
        }
        if let Some(st) = &spec.state {
            attrs.push((oids::AT_STATE, der::utf8(st)));
        }
        if let Some(l) = &spec.locality {
            attrs.push((oids::AT_LOCALITY, der::utf8(l)));
        }
        if let Some(o) = &spec.organization {
            attrs.push((oids::AT_ORGANIZATION, der::utf8(o)));
        }
        if let Some(s) = &spec.surname {
            attrs.push((oids::AT_SURNAME, der::utf8(s)));
        }
        if let Some(g) = &spec.given_name {
            attrs.push((oids::AT_GIVEN_NAME, der::utf8(g)));
        }
        if let Some(sn) = &spec.serial_number {
            attrs.push((oids::AT_SERIAL_NUMBER, der::printable(sn)));
        }
        attrs.push((oids::AT_COMMON_NAME, der::utf8(&spec.common_name)));
        let attr_refs: Vec<(&str, &[u8])> = attrs.iter().map(|(o, v)| (*o, v.as_slice())).collect();
        let subject = name(&attr_refs);

        let mut bits = Vec::new();
        if spec.digital_signature {
            bits.push(0);
        }
        if spec.non_repudiation {
            bits.push(1);
        }
        let mut extensions = vec![
            ext(oids::EXT_BASIC_CONSTRAINTS, true, &der::seq(&[])),
            ext(oids::EXT_SUBJECT_KEY_ID, false, &der::octets(&key.key_identifier())),
            ext(
                oids::EXT_AUTHORITY_KEY_ID,
                false,
                &der::seq(&[&der::tlv(der::ctx_prim(0), &self.key.key_identifier())]),
            ),
        ];
        if !bits.is_empty() {
            extensions.push(ext(oids::EXT_KEY_USAGE, true, &key_usage(&bits)));
        }
        if let Some(email) = &spec.email {
            let san = der::seq(&[&der::tlv(der::ctx_prim(1), email.as_bytes())]);
            extensions.push(ext(oids::EXT_SUBJECT_ALT_NAME, false, &san));
        }
        if spec.time_stamping {
            extensions.push(ext(oids::EXT_EXTENDED_KEY_USAGE, true, &der::seq(&[&der::oid(oids::KP_TIME_STAMPING)])));
        }
        if spec.ocsp_signing {
            extensions.push(ext(oids::EXT_EXTENDED_KEY_USAGE, false, &der::seq(&[&der::oid(oids::KP_OCSP_SIGNING)])));
        }
        if let Some(url) = &spec.ocsp_url {
            let access = der::seq(&[&der::oid(oids::AD_OCSP), &der::tlv(der::ctx_prim(6), url.as_bytes())]);
            extensions.push(ext(oids::EXT_AUTHORITY_INFO_ACCESS, false, &der::seq(&[&access])));
        }
        if let Some(url) = &spec.crl_url {
            // DistributionPoint { distributionPoint [0] { fullName [0] { URI } } }
            let uri = der::tlv(der::ctx_prim(6), url.as_bytes());
            let point = der::seq(&[&der::tlv(ctx(0), &der::tlv(ctx(0), &uri))]);
            extensions.push(ext(oids::EXT_CRL_DISTRIBUTION_POINTS, false, &der::seq(&[&point])));
        }
        if spec.qualified {
            // QcCompliance, QcSSCD and QcType-esign, as Italian qualified signature
            // certificates carry them (ETSI EN 319 412-5).
            let compliance = der::seq(&[&der::oid(oids::QC_COMPLIANCE)]);
            let sscd = der::seq(&[&der::oid(oids::QC_SSCD)]);
            let esign = der::seq(&[&der::oid(oids::QC_TYPE), &der::seq(&[&der::oid(oids::QC_TYPE_ESIGN)])]);
            let qc = if spec.no_qscd { der::seq(&[&compliance, &esign]) } else { der::seq(&[&compliance, &sscd, &esign]) };
            extensions.push(ext(oids::EXT_QC_STATEMENTS, false, &qc));
        }
        if !spec.policies.is_empty() {
            let infos: Vec<Vec<u8>> = spec.policies.iter().map(|p| der::seq(&[&der::oid(p)])).collect();
            let refs: Vec<&[u8]> = infos.iter().map(Vec::as_slice).collect();
            extensions.push(ext(oids::EXT_CERTIFICATE_POLICIES, false, &der::seq(&refs)));
        }
        let serial = next_serial();
        let cert_der = build_cert(
            TbsInput {
                serial: &serial,
                issuer: &self.name_der,
                subject: &subject,
                not_before: spec.not_before.unwrap_or_else(|| now() - Duration::days(1)),
                not_after: spec.not_after.unwrap_or_else(|| now() + Duration::days(365)),
                spki: &key.spki_der(),
                extensions,
            },
            &self.key,
            spec.cert_digest.unwrap_or(self.cert_digest),
        );
        let mut chain = vec![self.cert_der.clone()];
        chain.extend(self.chain.iter().cloned());
        Leaf { cert_der, key, chain }
    }

    /// A CRL (v2) listing `revoked` certificates (DER) with their revocation times.
    pub fn crl(
        &self,
        revoked: &[(&[u8], DateTime<Utc>)],
        this_update: DateTime<Utc>,
        next_update: DateTime<Utc>,
    ) -> Vec<u8> {
        let (alg, _) = self.key.sign(self.cert_digest, b"", false);
        let entries: Vec<Vec<u8>> = revoked
            .iter()
            .map(|(cert, when)| {
                let (_, serial) = issuer_and_serial(cert);
                der::seq(&[&serial, &der::time(*when)])
            })
            .collect();
        let mut parts: Vec<Vec<u8>> = vec![
            der::small_int(1),
            alg,
            self.name_der.clone(),
            der::time(this_update),
            der::time(next_update),
        ];
        if !entries.is_empty() {
            parts.push(der::tlv(der::SEQUENCE, &entries.concat()));
        }
        parts.push(der::tlv(
            ctx(0),
            &der::seq(&[&ext(oids::EXT_CRL_NUMBER, false, &der::small_int(1))]),
        ));
        let tbs = der::tlv(der::SEQUENCE, &parts.concat());
        let (alg, sig) = self.key.sign(self.cert_digest, &tbs, false);
        der::seq(&[&tbs, &alg, &der::bits(&sig)])
    }
}

fn ca_name(spec: &CaSpec) -> Vec<u8> {
    let mut attrs: Vec<(&str, Vec<u8>)> = Vec::new();
    if let Some(c) = &spec.country {
        attrs.push((oids::AT_COUNTRY, der::printable(c)));
    }
    if let Some(o) = &spec.organization {
        attrs.push((oids::AT_ORGANIZATION, der::utf8(o)));
    }
    attrs.push((oids::AT_COMMON_NAME, der::utf8(&spec.common_name)));
    let refs: Vec<(&str, &[u8])> = attrs.iter().map(|(o, v)| (*o, v.as_slice())).collect();
    name(&refs)
}

fn ca_cert(spec: &CaSpec, subject: &[u8], key: &PrivateKey, issuer: &[u8], issuer_key: &PrivateKey) -> Vec<u8> {
    let mut extensions = vec![
        ext(oids::EXT_BASIC_CONSTRAINTS, true, &der::seq(&[&der::tlv(der::BOOLEAN, &[0xff])])),
        ext(oids::EXT_KEY_USAGE, true, &key_usage(&[5, 6])),
        ext(oids::EXT_SUBJECT_KEY_ID, false, &der::octets(&key.key_identifier())),
        ext(
            oids::EXT_AUTHORITY_KEY_ID,
            false,
            &der::seq(&[&der::tlv(der::ctx_prim(0), &issuer_key.key_identifier())]),
        ),
    ];
    if let Some(nc) = &spec.name_constraints {
        extensions.push(ext(oids::EXT_NAME_CONSTRAINTS, true, &nc.to_der()));
    }
    build_cert(
        TbsInput {
            serial: &next_serial(),
            issuer,
            subject,
            not_before: spec.not_before.unwrap_or_else(|| now() - Duration::days(1)),
            not_after: spec.not_after.unwrap_or_else(|| now() + Duration::days(3650)),
            spki: &key.spki_der(),
            extensions,
        },
        issuer_key,
        spec.cert_digest,
    )
}

/// What to put in an end-entity certificate. Start from [`LeafSpec::new`],
/// [`LeafSpec::person`] or [`LeafSpec::pec_provider`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    pub common_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    /// Subject serialNumber attribute, e.g. `TINIT-RSSMRA80A01H501U` (ETSI EN 319 412-1).
    pub serial_number: Option<String>,
    pub organization: Option<String>,
    pub country: Option<String>,
    /// stateOrProvinceName, after C in the subject.
    pub state: Option<String>,
    /// localityName, after ST in the subject.
    pub locality: Option<String>,
    /// subjectAltName rfc822Name.
    pub email: Option<String>,
    pub non_repudiation: bool,
    pub digital_signature: bool,
    /// Defaults to yesterday.
    pub not_before: Option<DateTime<Utc>>,
    /// Defaults to a year from now.
    pub not_after: Option<DateTime<Utc>>,
    pub key: KeyKind,
    /// Adds a qcStatements extension with QcCompliance, QcSSCD and QcType-esign.
    pub qualified: bool,
    /// With `qualified`: leaves QcSSCD out (the key's device is not stated).
    pub no_qscd: bool,
    /// certificatePolicies identifiers, dotted.
    pub policies: Vec<String>,
    /// Adds a critical extendedKeyUsage id-kp-timeStamping (for a TSA).
    pub time_stamping: bool,
    /// Digest of the certificate signature; the CA's default when `None`.
    pub cert_digest: Option<DigestAlg>,
    /// authorityInfoAccess OCSP responder URL.
    pub ocsp_url: Option<String>,
    /// cRLDistributionPoints URL.
    pub crl_url: Option<String>,
    /// Adds extendedKeyUsage id-kp-OCSPSigning (a delegated OCSP responder).
    pub ocsp_signing: bool,
}

impl LeafSpec {
    /// A bare certificate: CN only, keyUsage nonRepudiation.
    pub fn new(common_name: &str) -> Self {
        LeafSpec {
            common_name: common_name.to_owned(),
            given_name: None,
            surname: None,
            serial_number: None,
            organization: None,
            country: Some("IT".to_owned()),
            state: None,
            locality: None,
            email: None,
            non_repudiation: true,
            digital_signature: false,
            not_before: None,
            not_after: None,
            key: KeyKind::Rsa2048,
            qualified: false,
            no_qscd: false,
            policies: Vec::new(),
            time_stamping: false,
            cert_digest: None,
            ocsp_url: None,
            crl_url: None,
            ocsp_signing: false,
        }
    }

    /// An Italian qualified signer: CN "SURNAME NAME", givenName, surname, serialNumber
    /// (e.g. `TINIT-RSSMRA80A01H501U`), keyUsage nonRepudiation, QcCompliance.
    pub fn person(given_name: &str, surname: &str, serial_number: &str) -> Self {
        LeafSpec {
            given_name: Some(given_name.to_owned()),
            surname: Some(surname.to_owned()),
            serial_number: Some(serial_number.to_owned()),
            qualified: true,
            ..LeafSpec::new(&format!("{} {}", surname.to_uppercase(), given_name.to_uppercase()))
        }
    }

    /// A PEC provider signing certificate: keyUsage digitalSignature + nonRepudiation,
    /// e-mail address in subjectAltName, organisation set.
    pub fn pec_provider(common_name: &str, email: &str) -> Self {
        LeafSpec {
            email: Some(email.to_owned()),
            organization: Some(common_name.to_owned()),
            digital_signature: true,
            non_repudiation: true,
            ..LeafSpec::new(common_name)
        }
    }

    /// A PEC provider's certificate as AgID CA1 issues them: subject C, ST, L, O, CN and the
    /// provider's address in subjectAltName.
    pub fn agid_provider(organization: &str, state: &str, locality: &str, email: &str) -> Self {
        LeafSpec {
            state: Some(state.to_owned()),
            locality: Some(locality.to_owned()),
            organization: Some(organization.to_owned()),
            ..LeafSpec::pec_provider(&format!("Posta Certificata {organization}"), email)
        }
    }

    /// A delegated OCSP responder certificate (extendedKeyUsage id-kp-OCSPSigning).
    pub fn ocsp_responder(common_name: &str) -> Self {
        LeafSpec { ocsp_signing: true, digital_signature: true, non_repudiation: false, ..LeafSpec::new(common_name) }
    }

    /// A time-stamping authority certificate.
    pub fn tsa(common_name: &str) -> Self {
        LeafSpec { time_stamping: true, digital_signature: true, non_repudiation: true, ..LeafSpec::new(common_name) }
    }

    pub fn validity(mut self, not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> Self {
        self.not_before = Some(not_before);
        self.not_after = Some(not_after);
        self
    }

    pub fn key(mut self, key: KeyKind) -> Self {
        self.key = key;
        self
    }
}

/// An issued certificate with its private key.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert_der: Vec<u8>,
    pub key: PrivateKey,
    /// Issuer certificates, nearest first, ending with the root.
    pub chain: Vec<Vec<u8>>,
}

impl Leaf {
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", &self.cert_der)
    }

    /// (issuer Name DER, serialNumber INTEGER TLV) of the certificate.
    pub fn issuer_and_serial(&self) -> (Vec<u8>, Vec<u8>) {
        issuer_and_serial(&self.cert_der)
    }
}

/// Subject Name DER of a DER certificate, without panicking on garbage.
fn subject_of(cert: &[u8]) -> Option<Vec<u8>> {
    if cert.first() != Some(&der::SEQUENCE) {
        return None;
    }
    let top = std::panic::catch_unwind(|| {
        let tbs = der::children(cert)[0];
        let fields = der::children(tbs);
        let offset = usize::from(fields[0][0] == ctx(0));
        fields[offset + 4].to_vec()
    });
    top.ok()
}

/// (issuer Name DER, serialNumber INTEGER TLV) of a DER certificate.
pub(crate) fn issuer_and_serial(cert: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let tbs = der::children(cert)[0];
    let fields = der::children(tbs);
    // fields: [0] version, serial, signature alg, issuer, ...
    let offset = usize::from(fields[0][0] == ctx(0));
    (fields[offset + 2].to_vec(), fields[offset].to_vec())
}
