//! CMS SignedData production (RFC 5652, CAdES-BES attributes, RFC 3161 tokens).

use chrono::{DateTime, SubsecRound, Utc};

use crate::ca::{Leaf, issuer_and_serial};
use crate::der::{self, ctx};
use crate::{DigestAlg, oids};

/// Outer encoding of the SignedData.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Der,
    /// BER as Italian signing tools write it: indefinite lengths on the outer structures and
    /// the eContent as a constructed OCTET STRING of 1000-byte chunks; certificates and
    /// SignerInfos stay DER.
    BerIndefinite,
}

/// Which ESS signing-certificate attribute to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EssVersion {
    None,
    /// id-aa-signingCertificate (SHA-1 certHash).
    V1,
    /// id-aa-signingCertificateV2 (certHash with the signer's digest algorithm).
    #[default]
    V2,
}

/// How the signed attributes are stored and what the signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttrOrder {
    /// DER SET OF order, stored and signed (the normal case).
    #[default]
    Der,
    /// Stored in insertion order (not DER), signature over the DER-sorted SET — like the
    /// ArubaPEC file dss667: only a verifier that re-sorts accepts it.
    StoredUnsortedSignedSorted,
    /// Stored and signed in insertion order (non-DER bytes as signed): only a verifier that
    /// hashes the bytes as stored accepts it.
    UnsortedAsSigned,
}

/// Options for one SignerInfo. Container-level options (`encoding`, `econtent_type`,
/// `crls`) are taken from the first signer.
#[derive(Debug, Clone)]
pub struct SignOptions {
    pub digest: DigestAlg,
    /// RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys only).
    pub pss: bool,
    /// Write `rsaEncryption` as signatureAlgorithm (as OpenSSL does) instead of
    /// `sha256WithRSAEncryption` & co.
    pub rsa_encryption_oid: bool,
    /// Add signed attributes; `false` signs the content directly (plain PKCS#7).
    pub signed_attrs: bool,
    /// signingTime attribute; `None` leaves it out. Defaults to now.
    pub signing_time: Option<DateTime<Utc>>,
    pub ess: EssVersion,
    /// Add issuerSerial to the ESS cert id.
    pub ess_issuer_serial: bool,
    /// Replace the certificate hashed into the ESS attribute (certificate substitution tests).
    pub ess_cert_override: Option<Vec<u8>>,
    /// Include the signer certificate in `certificates`.
    pub include_cert: bool,
    /// Include the issuer chain in `certificates`.
    pub include_chain: bool,
    /// Identify the signer by subjectKeyIdentifier instead of issuerAndSerialNumber.
    pub sid_ski: bool,
    pub encoding: Encoding,
    pub attr_order: AttrOrder,
    /// eContentType (and contentType attribute); id-data when `None`.
    pub econtent_type: Option<String>,
    /// contentType attribute value when it must differ from eContentType.
    pub content_type_attr_override: Option<String>,
    /// Extra signed attributes, raw `Attribute` DER.
    pub extra_signed_attrs: Vec<Vec<u8>>,
    /// CRLs (DER) for the `crls` field.
    pub crls: Vec<Vec<u8>>,
    /// Extra unsigned attributes, raw `Attribute` DER (see [`attribute`]), e.g. a
    /// signature timestamp over the wrong bytes.
    pub extra_unsigned_attrs: Vec<Vec<u8>>,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            digest: DigestAlg::Sha256,
            pss: false,
            rsa_encryption_oid: false,
            signed_attrs: true,
            signing_time: Some(Utc::now().trunc_subsecs(0)),
            ess: EssVersion::V2,
            ess_issuer_serial: true,
            ess_cert_override: None,
            include_cert: true,
            include_chain: false,
            sid_ski: false,
            encoding: Encoding::Der,
            attr_order: AttrOrder::Der,
            econtent_type: None,
            content_type_attr_override: None,
            extra_signed_attrs: Vec::new(),
            crls: Vec::new(),
            extra_unsigned_attrs: Vec::new(),
        }
    }
}

impl SignOptions {
    pub fn sha1() -> Self {
        SignOptions { digest: DigestAlg::Sha1, ..SignOptions::default() }
    }
    pub fn ber() -> Self {
        SignOptions { encoding: Encoding::BerIndefinite, ..SignOptions::default() }
    }
}

/// A time-stamping authority and the time it asserts.
#[derive(Debug, Clone, Copy)]
pub struct Tsa<'a> {
    pub leaf: &'a Leaf,
    pub time: DateTime<Utc>,
}

/// One signer of a SignedData, with its countersigners and optional signature timestamp.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    pub leaf: &'a Leaf,
    pub opts: SignOptions,
    pub countersigners: Vec<Signer<'a>>,
    /// Adds a signature-time-stamp (CAdES-T) over this signer's signature value.
    pub timestamp: Option<Tsa<'a>>,
}

impl<'a> Signer<'a> {
    pub fn new(leaf: &'a Leaf, opts: SignOptions) -> Self {
        Signer { leaf, opts, countersigners: Vec::new(), timestamp: None }
    }
}

/// Attached (enveloping, `.p7m`) SignedData with one signer.
pub fn sign_attached(leaf: &Leaf, content: &[u8], opts: &SignOptions) -> Vec<u8> {
    sign(content, true, &[Signer::new(leaf, opts.clone())])
}

/// Detached (`.p7s`, S/MIME) SignedData with one signer.
pub fn sign_detached(leaf: &Leaf, content: &[u8], opts: &SignOptions) -> Vec<u8> {
    sign(content, false, &[Signer::new(leaf, opts.clone())])
}

/// SignedData over `content` by every signer (parallel signatures), as a ContentInfo.
pub fn sign(content: &[u8], attached: bool, signers: &[Signer<'_>]) -> Vec<u8> {
    let first = &signers.first().expect("at least one signer").opts;
    let econtent_type = first.econtent_type.clone().unwrap_or_else(|| oids::DATA.to_owned());
    let ber = first.encoding == Encoding::BerIndefinite;

    let mut digest_algs: Vec<Vec<u8>> = Vec::new();
    let mut certs: Vec<Vec<u8>> = Vec::new();
    let mut infos: Vec<Vec<u8>> = Vec::new();
    for s in signers {
        collect(s, &mut digest_algs, &mut certs);
        infos.push(signer_info(s, content, Some(&econtent_type)));
    }

    let econtent = if attached {
        let octets = if ber {
            let chunks: Vec<Vec<u8>> = content.chunks(1000).map(der::octets).collect();
            der::tlv_indefinite(0x24, &chunks.concat())
        } else {
            der::octets(content)
        };
        let wrapped = if ber { der::tlv_indefinite(ctx(0), &octets) } else { der::tlv(ctx(0), &octets) };
        [der::oid(&econtent_type), wrapped].concat()
    } else {
        der::oid(&econtent_type)
    };
    let cons = |tag: u8, body: &[u8]| if ber { der::tlv_indefinite(tag, body) } else { der::tlv(tag, body) };

    let version = if signers.iter().any(|s| s.opts.sid_ski) || econtent_type != oids::DATA { 3 } else { 1 };
    let mut sd = vec![der::small_int(version), der::set_of_sorted(digest_algs), cons(der::SEQUENCE, &econtent)];
    if !certs.is_empty() {
        let mut sorted = certs;
        sorted.sort();
        sd.push(cons(ctx(0), &sorted.concat()));
    }
    if !first.crls.is_empty() {
        sd.push(cons(ctx(1), &first.crls.concat()));
    }
    infos.sort();
    sd.push(cons(der::SET, &infos.concat()));
    let signed_data = cons(der::SEQUENCE, &sd.concat());
    cons(der::SEQUENCE, &[der::oid(oids::SIGNED_DATA), cons(ctx(0), &signed_data)].concat())
}

fn collect(s: &Signer<'_>, digest_algs: &mut Vec<Vec<u8>>, certs: &mut Vec<Vec<u8>>) {
    let alg = s.opts.digest.alg_der();
    if !digest_algs.contains(&alg) {
        digest_algs.push(alg);
    }
    let mut add = |c: &Vec<u8>| {
        if !certs.contains(c) {
            certs.push(c.clone());
        }
    };
    if s.opts.include_cert {
        add(&s.leaf.cert_der);
    }
    if s.opts.include_chain {
        s.leaf.chain.iter().for_each(&mut add);
    }
    for cs in &s.countersigners {
        collect(cs, digest_algs, certs);
    }
}

/// An `Attribute` (type OID, SET with one value) in DER.
pub fn attribute(oid: &str, value: &[u8]) -> Vec<u8> {
    der::seq(&[&der::oid(oid), &der::tlv(der::SET, value)])
}

/// One SignerInfo over `content`. `econtent_type` is `None` for a countersignature (which
/// has no contentType attribute; its content is the parent's signature value).
fn signer_info(s: &Signer<'_>, content: &[u8], econtent_type: Option<&str>) -> Vec<u8> {
    let o = &s.opts;
    let (issuer, serial) = issuer_and_serial(&s.leaf.cert_der);
    let sid = if o.sid_ski {
        der::tlv(der::ctx_prim(0), &s.leaf.key.key_identifier())
    } else {
        der::seq(&[&issuer, &serial])
    };

    let mut signed_attrs_field = Vec::new();
    let to_sign: Vec<u8> = if o.signed_attrs {
        // Insertion order deliberately differs from DER order (messageDigest last).
        let mut attrs = Vec::new();
        if let Some(ct) = econtent_type {
            let ct = o.content_type_attr_override.as_deref().unwrap_or(ct);
            attrs.push(attribute(oids::ATTR_CONTENT_TYPE, &der::oid(ct)));
        }
        if let Some(t) = o.signing_time {
            attrs.push(attribute(oids::ATTR_SIGNING_TIME, &der::time(t)));
        }
        let ess_cert = o.ess_cert_override.as_deref().unwrap_or(&s.leaf.cert_der);
        let issuer_serial = || der::seq(&[&der::seq(&[&der::tlv(ctx(4), &issuer)]), &serial]);
        match o.ess {
            EssVersion::None => {}
            EssVersion::V1 => {
                let mut id = vec![der::octets(&DigestAlg::Sha1.hash(ess_cert))];
                if o.ess_issuer_serial {
                    id.push(issuer_serial());
                }
                let id = der::tlv(der::SEQUENCE, &id.concat());
                attrs.push(attribute(oids::ATTR_SIGNING_CERTIFICATE, &der::seq(&[&der::seq(&[&id])])));
            }
            EssVersion::V2 => {
                let mut id = Vec::new();
                if o.digest != DigestAlg::Sha256 {
                    // hashAlgorithm DEFAULT sha256 must be omitted in DER.
                    id.push(der::alg(o.digest.oid(), None));
                }
                id.push(der::octets(&o.digest.hash(ess_cert)));
                if o.ess_issuer_serial {
                    id.push(issuer_serial());
                }
                let id = der::tlv(der::SEQUENCE, &id.concat());
                attrs.push(attribute(oids::ATTR_SIGNING_CERTIFICATE_V2, &der::seq(&[&der::seq(&[&id])])));
            }
        }
        attrs.extend(o.extra_signed_attrs.iter().cloned());
        attrs.push(attribute(oids::ATTR_MESSAGE_DIGEST, &der::octets(&o.digest.hash(content))));

        let mut sorted = attrs.clone();
        sorted.sort();
        let (stored, signed) = match o.attr_order {
            AttrOrder::Der => (sorted.clone(), sorted),
            AttrOrder::StoredUnsortedSignedSorted => (attrs, sorted),
            AttrOrder::UnsortedAsSigned => (attrs.clone(), attrs),
        };
        signed_attrs_field = der::tlv(ctx(0), &stored.concat());
        der::tlv(der::SET, &signed.concat())
    } else {
        content.to_vec()
    };

    let (mut sig_alg, sig) = s.leaf.key.sign(o.digest, &to_sign, o.pss);
    if o.rsa_encryption_oid && !o.pss && matches!(s.leaf.key, crate::PrivateKey::Rsa(_)) {
        sig_alg = der::alg(oids::RSA_ENCRYPTION, Some(&der::null()));
    }

    let mut unsigned = Vec::new();
    for cs in &s.countersigners {
        unsigned.push(attribute(oids::ATTR_COUNTERSIGNATURE, &signer_info(cs, &sig, None)));
    }
    if let Some(tsa) = &s.timestamp {
        unsigned.push(attribute(oids::ATTR_SIGNATURE_TIMESTAMP, &timestamp_token(tsa.leaf, &sig, tsa.time)));
    }
    unsigned.extend(o.extra_unsigned_attrs.iter().cloned());

    let version = if o.sid_ski { 3 } else { 1 };
    let mut parts = vec![der::small_int(version), sid, o.digest.alg_der(), signed_attrs_field, sig_alg, der::octets(&sig)];
    if !unsigned.is_empty() {
        parts.push(der::tlv(ctx(1), &unsigned.concat()));
    }
    der::tlv(der::SEQUENCE, &parts.concat())
}

/// An RFC 3161 TimeStampToken (ContentInfo/SignedData over a TSTInfo) whose messageImprint
/// is SHA-256 of `data`, signed by `tsa` with an ESS signing-certificate-v2 attribute.
pub fn timestamp_token(tsa: &Leaf, data: &[u8], gen_time: DateTime<Utc>) -> Vec<u8> {
    let tst_info = der::seq(&[
        &der::small_int(1),
        &der::oid("1.3.6.1.4.1.99999.1"),
        &der::seq(&[&DigestAlg::Sha256.alg_der(), &der::octets(&DigestAlg::Sha256.hash(data))]),
        &der::small_int(u64::from(gen_time.timestamp_subsec_nanos()) + 1),
        &der::generalized_time(gen_time),
    ]);
    let opts = SignOptions {
        signing_time: None,
        econtent_type: Some(oids::TST_INFO.to_owned()),
        ..SignOptions::default()
    };
    sign(&tst_info, true, &[Signer::new(tsa, opts)])
}

/// An RFC 5544 TimeStampedData (`.tsd`) holding `data` with one timestamp token as evidence
/// (`token` should be a [`timestamp_token`] over `data`). With `ber`, the structure uses
/// indefinite lengths and the content is split in 1000-byte chunks, as Italian tools write it.
pub fn timestamped_data(data: &[u8], token: &[u8], ber: bool) -> Vec<u8> {
    let cons = |tag: u8, body: &[u8]| if ber { der::tlv_indefinite(tag, body) } else { der::tlv(tag, body) };
    let content = if ber {
        let chunks: Vec<Vec<u8>> = data.chunks(1000).map(der::octets).collect();
        der::tlv_indefinite(0x24, &chunks.concat())
    } else {
        der::octets(data)
    };
    // temporalEvidence: [0] TimeStampTokenEvidence (SEQUENCE OF TimeStampAndCRL), implicit.
    let evidence = cons(ctx(0), &der::seq(&[token]));
    let tsd = cons(der::SEQUENCE, &[der::small_int(1), content, evidence].concat());
    cons(der::SEQUENCE, &[der::oid(oids::TIMESTAMPED_DATA), cons(ctx(0), &tsd)].concat())
}

/// An Italian M7M: MIME multipart/mixed with the binary p7m part and a base64 timestamp
/// token part.
pub fn m7m(p7m: &[u8], token: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    let lines: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    let mut out = b"Mime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"m7m-boundary\"\r\n\r\n".to_vec();
    out.extend_from_slice(b"--m7m-boundary\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: binary\r\n\r\n");
    out.extend_from_slice(p7m);
    out.extend_from_slice(b"\r\n--m7m-boundary\r\nContent-Type: application/timestamp-reply\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    out.extend_from_slice(lines.join("\r\n").as_bytes());
    out.extend_from_slice(b"\r\n--m7m-boundary--\r\n");
    out
}
