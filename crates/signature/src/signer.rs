//! Cryptographic verification of one SignerInfo (RFC 5652 5.4/5.6 plus the CAdES-BES
//! checks): messageDigest, contentType, signed-attribute bytes as stored and re-sorted, the
//! ESS signing-certificate binding, the signature value, countersignatures and signature
//! timestamps. Trust and time are judged later (see `verdict`), so one result serves both
//! the PEC envelope check and document signatures.

use chrono::{DateTime, Utc};

use crate::ber::{self, Tlv};
use crate::cert::{Certificate, Name, parse_time};
use crate::crypto::DigestAlg;
use crate::oids;
use crate::report::SubIndication;
use crate::signed_data::{SignedData, SignerInfo};

/// Nesting bound for countersignatures and timestamps inside timestamps.
const MAX_NESTING: usize = 4;

/// A failed check: the ETSI sub-indication and a human-readable cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub sub: SubIndication,
    pub detail: String,
}

fn fail(sub: SubIndication, detail: impl Into<String>) -> Failure {
    Failure { sub, detail: detail.into() }
}

/// Which ESS signing-certificate attribute bound the signer certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EssBinding {
    Absent,
    V1,
    V2,
}

/// The result of verifying one SignerInfo, before trust and time.
#[derive(Debug, Clone)]
pub struct SignerCheck {
    pub cert: Option<Certificate>,
    /// The first failed cryptographic or structural check, if any.
    pub failure: Option<Failure>,
    pub digest: Option<DigestAlg>,
    pub signing_time: Option<DateTime<Utc>>,
    pub has_signed_attrs: bool,
    /// The signature verified only over the DER re-sorted signed attributes.
    pub resorted: bool,
    pub ess: EssBinding,
    pub countersignatures: Vec<SignerCheck>,
    pub timestamps: Vec<TimestampCheck>,
}

/// An RFC 3161 signature timestamp (CAdES-T) over a signature value.
#[derive(Debug, Clone)]
pub struct TimestampCheck {
    pub time: Option<DateTime<Utc>>,
    pub signer: Option<Box<SignerCheck>>,
    /// Structural or imprint failure of the token itself.
    pub failure: Option<Failure>,
}

impl TimestampCheck {
    /// A token whose imprint matches and whose signature verifies (its TSA's trust is a
    /// separate question).
    pub fn intact(&self) -> bool {
        self.failure.is_none() && self.signer.as_ref().is_some_and(|s| s.failure.is_none())
    }
}

/// Verifies `si` from `sd` over content whose digest `digest_of` computes.
/// `econtent_type` is `None` for countersignatures (whose "content" is the parent's
/// signature value and which carry no contentType).
pub fn verify_signer(
    si: &SignerInfo<'_>,
    certs: &[Certificate],
    digest_of: &dyn Fn(DigestAlg) -> Vec<u8>,
    econtent_type: Option<&Tlv<'_>>,
    nesting: usize,
) -> SignerCheck {
    let mut check = SignerCheck {
        cert: SignedData::find_cert(&si.sid, certs).cloned(),
        failure: None,
        digest: si.digest_alg.clone().ok(),
        signing_time: None,
        has_signed_attrs: si.signed_attrs_raw.is_some(),
        resorted: false,
        ess: EssBinding::Absent,
        countersignatures: Vec::new(),
        timestamps: Vec::new(),
    };
    check.failure = verify_core(si, digest_of, econtent_type, &mut check).err();

    if nesting < MAX_NESTING {
        let parent_sig: &[u8] = &si.signature;
        for cs in si.unsigned(&oids::ATTR_COUNTERSIGNATURE) {
            let cs_check = match SignerInfo::parse(cs) {
                Ok(cs_info) => verify_signer(&cs_info, certs, &|d| d.hash(parent_sig), None, nesting + 1),
                Err(e) => SignerCheck::malformed(format!("countersignature: {e}")),
            };
            check.countersignatures.push(cs_check);
        }
        for token in si.unsigned(&oids::ATTR_SIGNATURE_TIMESTAMP) {
            check.timestamps.push(verify_timestamp(token.raw, &|d| d.hash(parent_sig), nesting + 1));
        }
    }
    check
}

impl SignerCheck {
    pub fn malformed(detail: String) -> SignerCheck {
        SignerCheck {
            cert: None,
            failure: Some(fail(SubIndication::FormatFailure, detail)),
            digest: None,
            signing_time: None,
            has_signed_attrs: false,
            resorted: false,
            ess: EssBinding::Absent,
            countersignatures: Vec::new(),
            timestamps: Vec::new(),
        }
    }

    /// The earliest intact timestamp time: a proof of existence of the signature.
    pub fn poe(&self) -> Option<DateTime<Utc>> {
        self.timestamps.iter().filter(|t| t.intact()).filter_map(|t| t.time).min()
    }
}

/// The single value of a single-instance attribute; `None` when absent.
fn single<'a>(si: &'a SignerInfo<'_>, oid: &const_oid::ObjectIdentifier, name: &str) -> Result<Option<&'a Tlv<'a>>, Failure> {
    let found = si.signed(oid);
    match found.as_slice() {
        [] => Ok(None),
        [a] => match a.values.as_slice() {
            [v] => Ok(Some(v)),
            _ => Err(fail(SubIndication::FormatFailure, format!("{name} attribute must have exactly one value"))),
        },
        _ => Err(fail(SubIndication::FormatFailure, format!("{name} attribute appears more than once"))),
    }
}

fn verify_core(
    si: &SignerInfo<'_>,
    digest_of: &dyn Fn(DigestAlg) -> Vec<u8>,
    econtent_type: Option<&Tlv<'_>>,
    check: &mut SignerCheck,
) -> Result<(), Failure> {
    let digest = si.digest_alg.clone().map_err(|e| fail(SubIndication::FormatFailure, e))?;
    let sig_alg = si.sig_alg.clone().map_err(|e| fail(SubIndication::FormatFailure, e))?;
    let content_hash = digest_of(digest);

    let signed_input: Option<Vec<Vec<u8>>> = match &si.signed_attrs_raw {
        Some(raw) => {
            let md = single(si, &oids::ATTR_MESSAGE_DIGEST, "messageDigest")?
                .ok_or_else(|| fail(SubIndication::FormatFailure, "signed attributes without messageDigest"))?;
            let ct = single(si, &oids::ATTR_CONTENT_TYPE, "contentType")?;
            if let Some(t) = single(si, &oids::ATTR_SIGNING_TIME, "signingTime")? {
                check.signing_time = parse_time(t).ok();
            }
            if let Some(expected) = econtent_type {
                let ct = ct.ok_or_else(|| fail(SubIndication::FormatFailure, "signed attributes without contentType"))?;
                if ct.tag != ber::OID || ct.content != expected.content {
                    return Err(fail(
                        SubIndication::FormatFailure,
                        format!("contentType attribute {} differs from eContentType {}", oids::dotted(ct), oids::dotted(expected)),
                    ));
                }
            }
            if md.tag != ber::OCTET_STRING || md.content != content_hash.as_slice() {
                return Err(fail(SubIndication::HashFailure, "messageDigest does not match the content"));
            }
            Some(signed_attr_candidates(raw))
        }
        None => None,
    };

    let cert = check
        .cert
        .clone()
        .ok_or_else(|| fail(SubIndication::NoSigningCertificateFound, "signer certificate not found in the signature"))?;
    check_ess(si, &cert, check)?;

    let key = cert
        .public_key
        .as_ref()
        .map_err(|e| fail(SubIndication::FormatFailure, format!("signer public key: {e}")))?;
    // A signature algorithm of another key family is a malformed SignerInfo (or a wrong
    // certificate), not a proof that the signed bytes changed.
    if !key.accepts(sig_alg) {
        return Err(fail(SubIndication::FormatFailure, "the signature algorithm does not match the signer's key type"));
    }
    match signed_input {
        None => key
            .verify_prehash(sig_alg, digest, &content_hash, &si.signature)
            .map_err(|e| fail(SubIndication::SigCryptoFailure, e)),
        Some(candidates) => {
            let mut last = String::new();
            for (i, input) in candidates.iter().enumerate() {
                match key.verify_prehash(sig_alg, digest, &digest.hash(input), &si.signature) {
                    Ok(()) => {
                        check.resorted = i > 0;
                        return Ok(());
                    }
                    Err(e) => last = e,
                }
            }
            Err(fail(SubIndication::SigCryptoFailure, last))
        }
    }
}

/// The byte strings a signer may have signed for these signed attributes: first the
/// bytes as stored (tag replaced by SET), then, as DSS does, the DER re-encoding with the
/// attributes sorted (real ArubaPEC files store them unsorted but signed them sorted).
fn signed_attr_candidates(raw: &Tlv<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if !raw.indefinite {
        let mut stored = raw.raw.to_vec();
        if let Some(first) = stored.first_mut() {
            *first = ber::SET;
        }
        out.push(stored);
    }
    if let Ok(children) = raw.children() {
        let mut encoded: Vec<Vec<u8>> = children.iter().filter_map(|c| ber::to_definite(c).ok()).collect();
        if encoded.len() == children.len() {
            let in_order = ber::encode(ber::SET, &encoded.concat());
            encoded.sort();
            let sorted = ber::encode(ber::SET, &encoded.concat());
            for c in [in_order, sorted] {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// ESS signing-certificate(-v2): the first cert id must hash to the signer certificate and
/// its issuerSerial, when present, must name it (defeats certificate substitution).
fn check_ess(si: &SignerInfo<'_>, cert: &Certificate, check: &mut SignerCheck) -> Result<(), Failure> {
    let v2 = single(si, &oids::ATTR_SIGNING_CERTIFICATE_V2, "signingCertificateV2")?;
    let v1 = single(si, &oids::ATTR_SIGNING_CERTIFICATE, "signingCertificate")?;
    let (value, version) = match (v2, v1) {
        (Some(v), _) => (v, EssBinding::V2),
        (None, Some(v)) => (v, EssBinding::V1),
        (None, None) => return Ok(()),
    };
    let mismatch = |d: &str| fail(SubIndication::NoSigningCertificateFound, format!("signing-certificate attribute: {d}"));
    let bad = |_| mismatch("malformed");
    let certs = value.children().map_err(bad)?;
    let list = certs.first().ok_or_else(|| mismatch("empty"))?.children().map_err(bad)?;
    let id = list.first().ok_or_else(|| mismatch("no certificate id"))?.children().map_err(bad)?;
    let mut i = 0;
    let mut hash_alg = if version == EssBinding::V2 { DigestAlg::Sha256 } else { DigestAlg::Sha1 };
    if version == EssBinding::V2 && id.first().is_some_and(|t| t.tag == ber::SEQUENCE) {
        hash_alg = id.first().map(DigestAlg::from_alg_id).transpose().map_err(|e| mismatch(&e.to_string()))?.unwrap_or(hash_alg);
        i = 1;
    }
    let hash = id.get(i).filter(|t| t.tag == ber::OCTET_STRING).ok_or_else(|| mismatch("no certHash"))?;
    if hash.content != hash_alg.hash(&cert.der).as_slice() {
        return Err(mismatch("certHash does not match the signer certificate"));
    }
    if let Some(issuer_serial) = id.get(i + 1) {
        let is = issuer_serial.children().map_err(bad)?;
        let (Some(names), Some(serial)) = (is.first(), is.get(1)) else { return Err(mismatch("issuerSerial")) };
        let names = names.children().map_err(bad)?;
        let dir = names.iter().find(|g| g.tag == ber::ctx(4)).ok_or_else(|| mismatch("issuerSerial without directoryName"))?;
        let name = dir.children().map_err(bad)?;
        let name = Name::parse(name.first().ok_or_else(|| mismatch("issuer name"))?).map_err(bad)?;
        let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
        if !name.matches(&cert.issuer) || strip(serial.content) != strip(&cert.serial) {
            return Err(mismatch("issuerSerial does not name the signer certificate"));
        }
    }
    check.ess = version;
    Ok(())
}

/// Verifies an RFC 3161 TimeStampToken whose imprint must cover the data `digest_of` hashes.
pub fn verify_timestamp(token: &[u8], digest_of: &dyn Fn(DigestAlg) -> Vec<u8>, nesting: usize) -> TimestampCheck {
    let mut out = TimestampCheck { time: None, signer: None, failure: None };
    let token = token_of_response(token).unwrap_or(token);
    let sd = match SignedData::from_content_info(token) {
        Ok(sd) => sd,
        Err(e) => {
            out.failure = Some(fail(SubIndication::FormatFailure, format!("timestamp token: {e}")));
            return out;
        }
    };
    if !oids::is(&sd.econtent_type, &oids::TST_INFO) {
        out.failure = Some(fail(SubIndication::FormatFailure, "timestamp token does not hold a TSTInfo"));
        return out;
    }
    let Some(tst) = sd.econtent.as_ref().map(crate::signed_data::Econtent::bytes) else {
        out.failure = Some(fail(SubIndication::FormatFailure, "timestamp token without TSTInfo"));
        return out;
    };
    let tst: &[u8] = &tst;
    match parse_tst_info(tst) {
        Ok((alg, imprint, time)) => {
            out.time = Some(time);
            if digest_of(alg) != imprint {
                out.failure = Some(fail(SubIndication::HashFailure, "timestamp imprint does not match"));
            }
        }
        Err(e) => out.failure = Some(fail(SubIndication::FormatFailure, format!("TSTInfo: {e}"))),
    }
    if let Some(si) = sd.signers.first() {
        let check = verify_signer(si, &sd.certificates, &|d| d.hash(tst), Some(&sd.econtent_type), nesting);
        out.signer = Some(Box::new(check));
    } else {
        out.failure.get_or_insert(fail(SubIndication::FormatFailure, "timestamp token without signer"));
    }
    out
}

/// The TimeStampToken inside an RFC 3161 TimeStampResp (`SEQUENCE { PKIStatusInfo, token }`),
/// which some tools store instead of the bare token (.tsr, M7M parts).
fn token_of_response(resp: &[u8]) -> Option<&[u8]> {
    let (seq, _) = ber::read(resp).ok()?;
    let kids = seq.children().ok()?;
    let status = kids.first()?.children().ok()?;
    // PKIStatusInfo starts with an INTEGER; a ContentInfo starts with an OID.
    if status.first()?.tag != ber::INTEGER || status.first()?.small_uint().ok()? > 1 {
        return None;
    }
    kids.get(1).map(|t| t.raw)
}

/// (imprint algorithm, imprint, genTime) of a DER TSTInfo.
pub fn parse_tst_info(tst: &[u8]) -> Result<(DigestAlg, Vec<u8>, DateTime<Utc>), crate::Error> {
    let f = ber::read_all(tst)?.children()?;
    let bad = || crate::Error::Asn1("TSTInfo".into());
    let imprint = f.get(2).ok_or_else(bad)?.children()?;
    let alg = DigestAlg::from_alg_id(imprint.first().ok_or_else(bad)?)?;
    let hash = imprint.get(1).ok_or_else(bad)?.content.to_vec();
    let time = parse_time(f.get(4).ok_or_else(bad)?)?;
    Ok((alg, hash, time))
}
