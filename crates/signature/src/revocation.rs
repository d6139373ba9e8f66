//! Revocation status from outside the signed file: OCSP (RFC 6960) requests and responses,
//! CRLs fetched from a distribution point, and the interface through which the verifier asks
//! an online source ([`RevocationSource`], implemented with HTTP and a cache by
//! `sigillo_revocation`). Pure: bytes in, values out; this crate never fetches anything.
//!
//! Every answer is verified before it counts: an OCSP response must be signed by the
//! certificate's issuer or by a responder the issuer authorised (id-kp-OCSPSigning), answer
//! for this very certificate (CertID) and be current; a CRL must be signed by the issuer,
//! name it, and be current.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::ber::{self, Tlv};
use crate::cert::{Certificate, parse_time};
use crate::crypto::{DigestAlg, SigAlg};
use crate::oids;
use crate::trust::Crl;

/// Clock skew tolerated between us and a responder.
const SKEW_MINUTES: i64 = 5;

/// How long an answer without nextUpdate is taken as current (RFC 5019 leaves it to the client).
pub const NO_NEXT_UPDATE_VALIDITY_HOURS: i64 = 1;

/// What a responder or a CRL says about one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked(DateTime<Utc>),
    /// OCSP `unknown`: the responder does not know the certificate.
    Unknown,
}

/// A verified answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    pub this_update: DateTime<Utc>,
    /// Until when the answer may be reused (the cache keeps it until then).
    pub next_update: DateTime<Utc>,
    /// "OCSP <url>" or "CRL <url>", for reports.
    pub source: String,
}

/// The outcome of asking online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Online {
    Known(Answer),
    /// The certificate names no OCSP responder and no CRL over HTTP: nothing to ask.
    NoSource,
    /// Sources exist but none gave a verified answer now (down, timeout, bad answer).
    Unavailable(String),
}

/// An online source of revocation status. Implementations may block (the verifier runs on
/// a blocking thread); they must bound their time (timeouts) and never panic.
pub trait RevocationSource: Send + Sync + std::fmt::Debug {
    fn status(&self, cert: &Certificate, issuer: &Certificate) -> Online;
}

/// Shared handle to a source, as the trust store keeps it.
pub type SharedSource = Arc<dyn RevocationSource>;

/// The DER OCSPRequest for `cert` issued by `issuer` (one request, SHA-1 CertID as RFC 5019
/// profiles, no nonce: answers are cached until their nextUpdate anyway).
pub fn ocsp_request(cert: &Certificate, issuer: &Certificate) -> Vec<u8> {
    let cert_id = cert_id(DigestAlg::Sha1, cert, issuer);
    let request = ber::encode(ber::SEQUENCE, &cert_id);
    let request_list = ber::encode(ber::SEQUENCE, &request);
    let tbs = ber::encode(ber::SEQUENCE, &request_list);
    ber::encode(ber::SEQUENCE, &tbs)
}

fn digest_alg_id(d: DigestAlg) -> Vec<u8> {
    let oid = match d {
        DigestAlg::Sha1 => oids::SHA1,
        DigestAlg::Sha256 => oids::SHA256,
        DigestAlg::Sha384 => oids::SHA384,
        DigestAlg::Sha512 => oids::SHA512,
        _ => oids::SHA1,
    };
    let body = [ber::encode(ber::OID, oid.as_bytes()), vec![ber::NULL, 0]].concat();
    ber::encode(ber::SEQUENCE, &body)
}

fn cert_id(d: DigestAlg, cert: &Certificate, issuer: &Certificate) -> Vec<u8> {
    let body = [
        digest_alg_id(d),
        ber::encode(ber::OCTET_STRING, &d.hash(&cert.issuer.raw)),
        ber::encode(ber::OCTET_STRING, &d.hash(&issuer.key_bits)),
        ber::encode(ber::INTEGER, &cert.serial),
    ]
    .concat();
    ber::encode(ber::SEQUENCE, &body)
}

/// Reads and verifies a DER OCSPResponse about `cert` (issued by `issuer`) at `now`. The
/// error says why the response cannot be used.
pub fn ocsp_answer(der: &[u8], cert: &Certificate, issuer: &Certificate, now: DateTime<Utc>, url: &str) -> Result<Answer, String> {
    let asn1 = |e: crate::Error| format!("OCSP response: {e}");
    let top = ber::read_all(der).map_err(asn1)?.children().map_err(asn1)?;
    let status = top.first().filter(|t| t.tag == 0x0a).ok_or("OCSP response without responseStatus")?;
    // ENUMERATED, one octet in practice.
    let code = match status.content {
        [c] => u64::from(*c),
        _ => return Err("OCSP responseStatus malformed".into()),
    };
    if code != 0 {
        let name = match code {
            1 => "malformedRequest",
            2 => "internalError",
            3 => "tryLater",
            5 => "sigRequired",
            6 => "unauthorized",
            _ => "unknown status",
        };
        return Err(format!("OCSP responder answered {name} ({code})"));
    }
    let bytes = top.get(1).filter(|t| t.tag == ber::ctx(0)).ok_or("OCSP response without responseBytes")?;
    let inner = bytes.children().map_err(asn1)?;
    let rb = inner.first().ok_or("OCSP responseBytes empty")?.children().map_err(asn1)?;
    let (Some(kind), Some(octets)) = (rb.first(), rb.get(1)) else { return Err("OCSP responseBytes malformed".into()) };
    if !oids::is(kind, &oids::OCSP_BASIC) {
        return Err(format!("OCSP response type {} is not id-pkix-ocsp-basic", oids::dotted(kind)));
    }
    let basic = ber::read_all(octets.content).map_err(asn1)?.children().map_err(asn1)?;
    let (Some(tbs), Some(alg), Some(sig)) = (basic.first(), basic.get(1), basic.get(2)) else {
        return Err("BasicOCSPResponse malformed".into());
    };
    let carried: Vec<Certificate> = match basic.get(3).filter(|t| t.tag == ber::ctx(0)) {
        Some(certs) => {
            let list = certs.children().map_err(asn1)?;
            let list = list.first().map(Tlv::children).transpose().map_err(asn1)?.unwrap_or_default();
            list.iter().filter_map(|c| Certificate::from_der(c.raw).ok()).collect()
        }
        None => Vec::new(),
    };
    let sig_alg = SigAlg::from_alg_id(alg).map_err(|e| format!("OCSP signature algorithm: {e}"))?;
    let signature = sig.bit_string_bytes().map_err(asn1)?;
    verify_responder(tbs.raw, sig_alg, signature, issuer, &carried, now)?;

    let fields = tbs.children().map_err(asn1)?;
    let mut i = usize::from(fields.first().is_some_and(|f| f.tag == ber::ctx(0)));
    i += 1; // responderID: the signature check above is what binds the responder
    i += 1; // producedAt
    let responses = fields.get(i).filter(|f| f.tag == ber::SEQUENCE).ok_or("ResponseData without responses")?;
    for single in responses.children().map_err(asn1)? {
        let parts = single.children().map_err(asn1)?;
        let Some(id) = parts.first() else { continue };
        if !same_cert_id(id, cert, issuer) {
            continue;
        }
        let cert_status = parts.get(1).ok_or("SingleResponse without certStatus")?;
        let status = match cert_status.tag {
            0x80 => Status::Good,
            t if t == ber::ctx(1) => {
                let info = cert_status.children().map_err(asn1)?;
                Status::Revoked(parse_time(info.first().ok_or("RevokedInfo without time")?).map_err(asn1)?)
            }
            0x82 => Status::Unknown,
            t => return Err(format!("unknown certStatus tag {t:#04x}")),
        };
        let this_update = parse_time(parts.get(2).ok_or("SingleResponse without thisUpdate")?).map_err(asn1)?;
        let next_update = match parts.get(3).filter(|p| p.tag == ber::ctx(0)) {
            Some(n) => Some(parse_time(n.children().map_err(asn1)?.first().ok_or("empty nextUpdate")?).map_err(asn1)?),
            None => None,
        };
        let next_update = current(this_update, next_update, now)?;
        return Ok(Answer { status, this_update, next_update, source: format!("OCSP {url}") });
    }
    Err("the OCSP response does not answer for this certificate".into())
}

/// Whether a CertID names `cert` of `issuer`, in whatever hash the responder used.
fn same_cert_id(id: &Tlv<'_>, cert: &Certificate, issuer: &Certificate) -> bool {
    let Ok(parts) = id.children() else { return false };
    let (Some(alg), Some(name_hash), Some(key_hash), Some(serial)) = (parts.first(), parts.get(1), parts.get(2), parts.get(3))
    else {
        return false;
    };
    let Ok(d) = DigestAlg::from_alg_id(alg) else { return false };
    let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
    name_hash.content == d.hash(&cert.issuer.raw).as_slice()
        && key_hash.content == d.hash(&issuer.key_bits).as_slice()
        && strip(serial.content) == strip(&cert.serial)
}

/// The response must be signed by the issuer itself, or by a certificate it carries that
/// the issuer signed for OCSP signing (RFC 6960 4.2.2.2) and that is valid now.
fn verify_responder(
    tbs: &[u8],
    alg: SigAlg,
    signature: &[u8],
    issuer: &Certificate,
    carried: &[Certificate],
    now: DateTime<Utc>,
) -> Result<(), String> {
    let digest = alg.digest().ok_or("OCSP signature algorithm without a digest")?;
    let hashed = digest.hash(tbs);
    let verifies = |c: &Certificate| c.public_key.as_ref().is_ok_and(|k| k.verify_prehash(alg, digest, &hashed, signature).is_ok());
    if verifies(issuer) {
        return Ok(());
    }
    for responder in carried {
        let authorised = responder.extended_key_usage.iter().any(|p| p.as_slice() == oids::KP_OCSP_SIGNING.as_bytes())
            && responder.issuer.matches(&issuer.subject)
            && responder.signed_by(issuer).is_ok()
            && responder.valid_at(now);
        if authorised && verifies(responder) {
            return Ok(());
        }
    }
    Err("the OCSP response is not signed by the issuer nor by a responder it authorised".into())
}

/// The time until which an answer counts; an error when it is not current at `now`.
fn current(this_update: DateTime<Utc>, next_update: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let skew = Duration::minutes(SKEW_MINUTES);
    if this_update > now + skew {
        return Err(format!("answer issued in the future ({this_update})"));
    }
    let until = next_update.unwrap_or(this_update + Duration::hours(NO_NEXT_UPDATE_VALIDITY_HOURS));
    if until + skew < now {
        return Err(format!("answer out of date (next update was {until})"));
    }
    Ok(until)
}

/// Reads and verifies a DER CRL fetched for `cert`: issued and signed by `issuer`, current
/// at `now`; then the certificate's status on it.
pub fn crl_answer(der: &[u8], cert: &Certificate, issuer: &Certificate, now: DateTime<Utc>, url: &str) -> Result<Answer, String> {
    let crl = Crl::from_der(der).map_err(|e| format!("CRL: {e}"))?;
    if !crl.issuer.matches(&cert.issuer) {
        return Err(format!("the CRL is issued by {}, not by the certificate's issuer", crl.issuer));
    }
    if !crl.signed_by(issuer) {
        return Err("the CRL's signature does not verify with the issuer's key".into());
    }
    let next_update = current(crl.this_update, crl.next_update, now)?;
    let status = crl.status_of(&cert.serial);
    Ok(Answer { status, this_update: crl.this_update, next_update, source: format!("CRL {url}") })
}
