//! CMS ContentInfo / SignedData / SignerInfo, read with the BER reader so that the exact
//! stored bytes of every signed part stay available.

use std::borrow::Cow;

use crate::Error;
use crate::ber::{self, Tlv};
use crate::cert::{Certificate, Name};
use crate::crypto::{DigestAlg, SigAlg};
use crate::oids;

/// Bounds against resource exhaustion from hostile files.
const MAX_SIGNERS: usize = 64;
const MAX_CERTS: usize = 256;

/// The signer identifier.
#[derive(Debug, Clone)]
pub enum Sid {
    IssuerSerial { issuer: Name, serial: Vec<u8> },
    SubjectKeyId(Vec<u8>),
}

/// One attribute: type and its values (as stored).
#[derive(Debug, Clone)]
pub struct Attribute<'a> {
    pub oid: Tlv<'a>,
    pub values: Vec<Tlv<'a>>,
}

#[derive(Debug, Clone)]
pub struct SignerInfo<'a> {
    pub sid: Sid,
    pub digest_alg: Result<DigestAlg, String>,
    /// The `[0] IMPLICIT SignedAttributes` TLV as stored.
    pub signed_attrs_raw: Option<Tlv<'a>>,
    pub signed_attrs: Vec<Attribute<'a>>,
    pub sig_alg: Result<SigAlg, String>,
    pub signature: Cow<'a, [u8]>,
    pub unsigned_attrs: Vec<Attribute<'a>>,
}

impl<'a> SignerInfo<'a> {
    pub fn parse(tlv: &Tlv<'a>) -> Result<SignerInfo<'a>, Error> {
        let f = tlv.expect(ber::SEQUENCE, "SignerInfo")?.children()?;
        let field = |n: usize| f.get(n).ok_or_else(|| Error::Asn1("truncated SignerInfo".into()));
        field(0)?.small_uint()?;
        let sid_tlv = field(1)?;
        let sid = match sid_tlv.tag {
            ber::SEQUENCE => {
                let k = sid_tlv.children()?;
                let (Some(issuer), Some(serial)) = (k.first(), k.get(1)) else {
                    return Err(Error::Asn1("IssuerAndSerialNumber".into()));
                };
                Sid::IssuerSerial { issuer: Name::parse(issuer)?, serial: serial.content.to_vec() }
            }
            t if t == ber::ctx_prim(0) || t == ber::ctx(0) => Sid::SubjectKeyId(sid_tlv.octets()?.into_owned()),
            _ => return Err(Error::Asn1("SignerIdentifier".into())),
        };
        let digest_alg = DigestAlg::from_alg_id(field(2)?).map_err(|e| e.to_string());
        let mut i = 3;
        let mut signed_attrs_raw = None;
        let mut signed_attrs = Vec::new();
        if field(i)?.tag == ber::ctx(0) {
            let raw = *field(i)?;
            signed_attrs = parse_attributes(&raw)?;
            signed_attrs_raw = Some(raw);
            i += 1;
        }
        let sig_alg = SigAlg::from_alg_id(field(i)?).map_err(|e| e.to_string());
        let signature = field(i + 1)?;
        if signature.tag & !0x20 != ber::OCTET_STRING {
            return Err(Error::Asn1("SignerInfo signature is not an OCTET STRING".into()));
        }
        let signature = signature.octets()?;
        let mut unsigned_attrs = Vec::new();
        if let Some(u) = f.get(i + 2) {
            if u.tag != ber::ctx(1) {
                return Err(Error::Asn1("unexpected field after the signature".into()));
            }
            unsigned_attrs = parse_attributes(u)?;
        }
        Ok(SignerInfo { sid, digest_alg, signed_attrs_raw, signed_attrs, sig_alg, signature, unsigned_attrs })
    }

    /// The values of every instance of attribute `oid` among the signed attributes.
    pub fn signed(&self, oid: &const_oid::ObjectIdentifier) -> Vec<&Attribute<'a>> {
        self.signed_attrs.iter().filter(|a| oids::is(&a.oid, oid)).collect()
    }

    pub fn unsigned(&self, oid: &const_oid::ObjectIdentifier) -> impl Iterator<Item = &Tlv<'a>> {
        self.unsigned_attrs.iter().filter(move |a| oids::is(&a.oid, oid)).flat_map(|a| a.values.iter())
    }
}

fn parse_attributes<'a>(set: &Tlv<'a>) -> Result<Vec<Attribute<'a>>, Error> {
    let mut out = Vec::new();
    for attr in set.children()? {
        let k = attr.expect(ber::SEQUENCE, "Attribute")?.children()?;
        let (Some(oid), Some(values)) = (k.first(), k.get(1)) else {
            return Err(Error::Asn1("Attribute".into()));
        };
        if oid.tag != ber::OID || values.tag != ber::SET {
            return Err(Error::Asn1("Attribute type/values".into()));
        }
        out.push(Attribute { oid: *oid, values: values.children()? });
    }
    Ok(out)
}

/// Bound on the segments of a BER constructed eContent (1000-byte chunks: 512 MB).
const MAX_SEGMENTS: usize = 1 << 19;

/// The eContent octets, kept as the borrowed segments of a BER constructed OCTET STRING
/// (one segment for DER): hashing streams over them, and the bytes are only concatenated
/// when someone needs them contiguous (extraction, nested envelopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Econtent<'a> {
    segments: Vec<&'a [u8]>,
}

impl<'a> Econtent<'a> {
    fn parse(octets: &Tlv<'a>) -> Result<Econtent<'a>, Error> {
        let mut segments = Vec::new();
        collect_segments(octets, &mut segments, 0)?;
        Ok(Econtent { segments })
    }

    /// A contiguous eContent (tests, callers holding bytes).
    pub fn from_bytes(bytes: &'a [u8]) -> Econtent<'a> {
        Econtent { segments: vec![bytes] }
    }

    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Digest of the content, streamed over the segments.
    pub fn hash(&self, alg: DigestAlg) -> Vec<u8> {
        let mut h = crate::crypto::Hasher::new(alg);
        for s in &self.segments {
            h.update(s);
        }
        h.finish()
    }

    /// The first `n` bytes (or fewer), for sniffing.
    pub fn head(&self, n: usize) -> Cow<'a, [u8]> {
        match self.segments.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one, ..] if one.len() >= n || self.segments.len() == 1 => Cow::Borrowed(one.get(..n.min(one.len())).unwrap_or_default()),
            _ => {
                let mut out = Vec::with_capacity(n);
                for s in &self.segments {
                    let take = (n - out.len()).min(s.len());
                    out.extend_from_slice(s.get(..take).unwrap_or_default());
                    if out.len() == n {
                        break;
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// The content as one slice: borrowed when stored in one piece, else concatenated.
    pub fn bytes(&self) -> Cow<'a, [u8]> {
        match self.segments.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            many => Cow::Owned(many.concat()),
        }
    }

    /// Whether the content equals `other`, without concatenating.
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut rest = other;
        for s in &self.segments {
            let (head, tail) = rest.split_at(s.len());
            if head != *s {
                return false;
            }
            rest = tail;
        }
        true
    }
}

fn collect_segments<'a>(t: &Tlv<'a>, out: &mut Vec<&'a [u8]>, depth: usize) -> Result<(), Error> {
    if !t.is_constructed() {
        if out.len() >= MAX_SEGMENTS {
            return Err(Error::Asn1("eContent has too many segments".into()));
        }
        out.push(t.content);
        return Ok(());
    }
    if depth > 8 {
        return Err(Error::Asn1("eContent segments nested too deep".into()));
    }
    for child in t.children()? {
        if child.tag & !0x20 != ber::OCTET_STRING {
            return Err(Error::Asn1("eContent segment is not an OCTET STRING".into()));
        }
        collect_segments(&child, out, depth + 1)?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SignedData<'a> {
    pub econtent_type: Tlv<'a>,
    /// The encapsulated content; `None` for detached signatures.
    pub econtent: Option<Econtent<'a>>,
    pub certificates: Vec<Certificate>,
    /// Certificates that could not be parsed (reported, not fatal).
    pub bad_certificates: usize,
    pub signers: Vec<SignerInfo<'a>>,
}

/// Reads a ContentInfo and returns (contentType OID, the `[0] EXPLICIT` content).
pub fn content_info(input: &[u8]) -> Result<(Tlv<'_>, Tlv<'_>), Error> {
    let (ci, rest) = ber::read(input)?;
    // Files often end with a newline or zero padding after the structure; anything else
    // after it is refused.
    if !rest.iter().all(|b| *b == 0 || b.is_ascii_whitespace()) {
        return Err(Error::Asn1("trailing bytes after the ContentInfo".into()));
    }
    let ci = ci.expect(ber::SEQUENCE, "ContentInfo")?;
    let k = ci.children()?;
    let (Some(oid), Some(wrapped)) = (k.first(), k.get(1)) else {
        return Err(Error::Asn1("ContentInfo needs type and content".into()));
    };
    if oid.tag != ber::OID || wrapped.tag != ber::ctx(0) {
        return Err(Error::Asn1("ContentInfo fields".into()));
    }
    let inner = wrapped.children()?;
    let [content] = inner.as_slice() else {
        return Err(Error::Asn1("ContentInfo content".into()));
    };
    Ok((*oid, *content))
}

/// Whether `input` starts like a ContentInfo(SignedData) — cheap sniffing.
pub fn looks_like_signed_data(input: &[u8]) -> bool {
    content_info(input).is_ok_and(|(oid, _)| oids::is(&oid, &oids::SIGNED_DATA))
}

impl<'a> SignedData<'a> {
    /// Parses a ContentInfo whose content type must be id-signedData.
    pub fn from_content_info(input: &'a [u8]) -> Result<SignedData<'a>, Error> {
        let (oid, content) = content_info(input)?;
        if !oids::is(&oid, &oids::SIGNED_DATA) {
            return Err(Error::Unsupported(format!("ContentInfo type {} is not SignedData", oids::dotted(&oid))));
        }
        SignedData::parse(&content)
    }

    pub fn parse(tlv: &Tlv<'a>) -> Result<SignedData<'a>, Error> {
        let f = tlv.expect(ber::SEQUENCE, "SignedData")?.children()?;
        let field = |n: usize| f.get(n).ok_or_else(|| Error::Asn1("truncated SignedData".into()));
        field(0)?.small_uint()?;
        field(1)?.expect(ber::SET, "digestAlgorithms")?;
        let eci = field(2)?.expect(ber::SEQUENCE, "EncapsulatedContentInfo")?.children()?;
        let econtent_type = *eci.first().ok_or_else(|| Error::Asn1("eContentType".into()))?;
        if econtent_type.tag != ber::OID {
            return Err(Error::Asn1("eContentType is not an OID".into()));
        }
        let econtent = match eci.get(1) {
            None => None,
            Some(w) if w.tag == ber::ctx(0) => {
                let inner = w.children()?;
                let [octets] = inner.as_slice() else { return Err(Error::Asn1("eContent".into())) };
                if octets.tag & !0x20 != ber::OCTET_STRING {
                    return Err(Error::Asn1("eContent is not an OCTET STRING".into()));
                }
                Some(Econtent::parse(octets)?)
            }
            Some(_) => return Err(Error::Asn1("eContent tag".into())),
        };
        let mut certificates = Vec::new();
        let mut bad_certificates = 0;
        let mut signers = Vec::new();
        for t in f.iter().skip(3) {
            match t.tag {
                0xa0 => {
                    for c in t.children()? {
                        if certificates.len() >= MAX_CERTS {
                            return Err(Error::Asn1("too many certificates".into()));
                        }
                        // Only plain certificates (SEQUENCE); attribute certs etc. are skipped.
                        if c.tag != ber::SEQUENCE {
                            continue;
                        }
                        let der = if c.indefinite { ber::to_definite(&c)? } else { c.raw.to_vec() };
                        match Certificate::from_der(&der) {
                            Ok(cert) => certificates.push(cert),
                            Err(_) => bad_certificates += 1,
                        }
                    }
                }
                0xa1 => {}
                ber::SET => {
                    for s in t.children()? {
                        if signers.len() >= MAX_SIGNERS {
                            return Err(Error::Asn1("too many signers".into()));
                        }
                        signers.push(SignerInfo::parse(&s)?);
                    }
                }
                _ => return Err(Error::Asn1("unexpected SignedData field".into())),
            }
        }
        if f.last().is_none_or(|l| l.tag != ber::SET) {
            return Err(Error::Asn1("SignedData without signerInfos".into()));
        }
        Ok(SignedData { econtent_type, econtent, certificates, bad_certificates, signers })
    }

    /// The certificate a signer identifier points at.
    pub fn find_cert<'c>(sid: &Sid, pool: &'c [Certificate]) -> Option<&'c Certificate> {
        pool.iter().find(|c| match sid {
            Sid::IssuerSerial { issuer, serial } => strip_zeros(&c.serial) == strip_zeros(serial) && c.issuer.matches(issuer),
            Sid::SubjectKeyId(ski) => c.ski.as_deref() == Some(ski.as_slice()),
        })
    }
}

/// Serial numbers compare as integers: leading zero octets are not significant (some
/// producers write non-minimal INTEGERs).
fn strip_zeros(v: &[u8]) -> &[u8] {
    let skip = v.iter().take_while(|b| **b == 0).count();
    v.get(skip..).unwrap_or_default()
}
