//! Document signatures: format detection by content, container unwrapping (base64/PEM,
//! nested p7m, RFC 5544 .tsd, Italian .m7m) and the aggregate verdict.

use chrono::{DateTime, Utc};

use crate::ber;
use crate::cert::Certificate;
use crate::input::{self, Wrapping};
use crate::oids;
use crate::report::{Format, Indication, SignatureReport, SignerReport, SignerRole, SubIndication};
use crate::signed_data::{SignedData, content_info};
use crate::signer::{verify_signer, verify_timestamp};
use crate::trust::TrustStore;
use crate::verdict::{self, Context};

/// Envelopes deeper than this are refused (art. 21 c.6 nesting is 2–3 in practice).
const MAX_ENVELOPES: usize = 8;

/// Content octets of id-signedData, to tell a broken CMS from a file that is not CMS at all.
const SIGNED_DATA_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// Verifies the signature(s) of a document. `detached_content` is the file a detached
/// `.p7s` accompanies. `now` is the validation time. Never panics on any input.
pub fn verify_document(
    bytes: &[u8],
    detached_content: Option<&[u8]>,
    trust: &TrustStore,
    now: DateTime<Utc>,
) -> SignatureReport {
    let mut v = Verifier { trust, now, signers: Vec::new(), pool: Vec::new(), envelopes: 0, content: None, notes: Vec::new(), info: Vec::new() };
    let (format, encoding) = v.document(bytes, detached_content, 0);
    v.finish(format, encoding)
}

/// The signed content inside a (possibly nested, base64, TSD or M7M wrapped) p7m, without
/// verifying anything. `None` for detached signatures and non-CMS input.
pub fn extract_signed_content(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut current = unwrap_outer(bytes)?;
    for _ in 0..MAX_ENVELOPES {
        let sd = SignedData::from_content_info(&current).ok()?;
        let content = sd.econtent?.into_owned();
        if !is_nested_envelope(&content) {
            return Some(content);
        }
        current = content;
    }
    None
}

/// The binary SignedData inside base64/PEM, TSD or M7M wrappers.
fn unwrap_outer(bytes: &[u8]) -> Option<Vec<u8>> {
    if let Some(p7m) = m7m_parts(bytes).map(|(p, _)| p) {
        return Some(p7m);
    }
    let (der, _) = input::unwrap_cms(bytes)?;
    if let Ok((oid, content)) = content_info(&der)
        && oids::is(&oid, &oids::TIMESTAMPED_DATA)
    {
        return tsd_parts(&content).ok().map(|(data, _)| data);
    }
    Some(der.into_owned())
}

/// Whether extracted content is itself a signed envelope to verify (not merely labelled so:
/// DSS's cades-bes-signeddata-enveloping claims id-signedData around plain text).
fn is_nested_envelope(content: &[u8]) -> bool {
    let Some((der, _)) = input::unwrap_cms(content) else { return false };
    match SignedData::from_content_info(&der) {
        Ok(sd) => !sd.signers.is_empty() && !oids::is(&sd.econtent_type, &oids::TST_INFO),
        Err(_) => false,
    }
}

struct Verifier<'t> {
    trust: &'t TrustStore,
    now: DateTime<Utc>,
    signers: Vec<SignerReport>,
    pool: Vec<Certificate>,
    envelopes: usize,
    content: Option<Vec<u8>>,
    /// Document-level failures (format, missing data), with their sub-indication.
    notes: Vec<(SubIndication, String)>,
    /// Informational remarks that do not change the verdict.
    info: Vec<String>,
}

impl Verifier<'_> {
    /// Detects the format of `bytes` and verifies it; returns (format, encoding).
    fn document(&mut self, bytes: &[u8], detached: Option<&[u8]>, depth: usize) -> (Format, Option<&'static str>) {
        if depth > MAX_ENVELOPES {
            self.notes.push((SubIndication::FormatFailure, "too many nested envelopes".into()));
            return (Format::Cades, None);
        }
        if bytes.first() != Some(&0x30) && crate::pdf::is_pdf(bytes) {
            let r = crate::pdf::verify_pdf(bytes, self.trust, self.now, depth);
            self.envelopes += usize::from(!r.signers.is_empty());
            self.signers.extend(r.signers);
            self.notes.extend(r.notes);
            return (Format::Pades, Some("PDF"));
        }
        if let Some((p7m, tokens)) = m7m_parts(bytes) {
            self.m7m(&p7m, &tokens, depth);
            return (Format::M7m, Some("MIME"));
        }
        if let Some(xml) = crate::xml::sniff(bytes) {
            if xml.signed {
                self.notes.push((
                    SubIndication::FormatNotSupported,
                    format!("{} detected: XML signature canonicalisation is not implemented, not verified", xml.kind),
                ));
                return (Format::Xades, Some("XML"));
            }
            return (Format::None, Some("XML"));
        }
        let Some((der, wrapping)) = input::unwrap_cms(bytes) else {
            if looks_like_broken_cms(bytes) {
                self.notes.push((SubIndication::FormatFailure, "malformed CMS: not a parseable SignedData".into()));
                return (Format::Cades, None);
            }
            return (Format::None, None);
        };
        let encoding = match wrapping {
            Wrapping::Binary if der.get(1) == Some(&0x80) => "BER",
            Wrapping::Binary => "DER",
            Wrapping::Base64 => "base64",
            Wrapping::Pem => "PEM",
        };
        let (oid, content) = match content_info(&der) {
            Ok(ci) => ci,
            Err(e) => {
                if looks_like_broken_cms(&der) || depth > 0 {
                    self.notes.push((SubIndication::FormatFailure, format!("malformed CMS: {e}")));
                    return (Format::Cades, Some(encoding));
                }
                return (Format::None, None);
            }
        };
        if oids::is(&oid, &oids::TIMESTAMPED_DATA) {
            self.tsd(&content, depth);
            return (Format::Tsd, Some(encoding));
        }
        if !oids::is(&oid, &oids::SIGNED_DATA) {
            return (Format::None, Some(encoding));
        }
        let format = self.cades(&der, detached, depth);
        (format, Some(encoding))
    }

    /// One SignedData layer, then the layers inside it.
    fn cades(&mut self, der: &[u8], detached: Option<&[u8]>, depth: usize) -> Format {
        let sd = match SignedData::from_content_info(der) {
            Ok(sd) => sd,
            Err(e) => {
                self.notes.push((SubIndication::FormatFailure, format!("malformed SignedData: {e}")));
                return Format::Cades;
            }
        };
        if sd.signers.is_empty() {
            self.notes.push((SubIndication::FormatFailure, "SignedData without signers".into()));
            return Format::Cades;
        }
        let layer = self.envelopes;
        self.envelopes += 1;
        self.pool.extend(sd.certificates.iter().cloned());
        let (content, format): (&[u8], Format) = match (&sd.econtent, detached) {
            (Some(c), _) => (c, Format::Cades),
            (None, Some(d)) => (d, Format::CadesDetached),
            (None, None) => {
                self.notes.push((
                    SubIndication::SignedDataNotFound,
                    "detached signature (.p7s) without the signed file".into(),
                ));
                return Format::CadesDetached;
            }
        };
        let pool = self.pool.clone();
        let ctx = Context { trust: self.trust, now: self.now, pool: &pool };
        for si in &sd.signers {
            let check = verify_signer(si, &sd.certificates, &|d| d.hash(content), Some(&sd.econtent_type), 0);
            self.signers.extend(verdict::judge(&check, SignerRole::Signer, layer, &ctx));
        }
        if sd.econtent.is_some() {
            if is_nested_envelope(content) || (crate::pdf::is_pdf(content) && crate::pdf::has_signatures(content)) {
                self.document(content, None, depth + 1);
            }
            // The innermost extracted content wins: a nested layer sets it itself.
            if !is_nested_envelope(content) {
                self.content = Some(content.to_vec());
            }
        }
        format
    }

    /// RFC 5544 TimeStampedData: verify the evidence timestamp over the data, then the data.
    fn tsd(&mut self, content: &ber::Tlv<'_>, depth: usize) {
        match tsd_parts(content) {
            Ok((data, tokens)) => {
                // The evidence timestamps are reported but not used as proof of existence
                // (the signatures inside carry their own CAdES-T timestamps when needed).
                for token in &tokens {
                    self.info.push(timestamp_info("TSD", &verify_timestamp(token, &|d| d.hash(&data), 1)));
                }
                self.document(&data, None, depth + 1);
            }
            Err(e) => self.notes.push((SubIndication::FormatFailure, format!("malformed TimeStampedData: {e}"))),
        }
    }

    /// Italian M7M: the p7m part, plus timestamp tokens over it.
    fn m7m(&mut self, p7m: &[u8], tokens: &[Vec<u8>], depth: usize) {
        for token in tokens {
            let Some((der, _)) = input::unwrap_cms(token) else {
                self.notes.push((SubIndication::FormatFailure, "M7M timestamp part is not a token".into()));
                continue;
            };
            self.info.push(timestamp_info("M7M", &verify_timestamp(&der, &|d| d.hash(p7m), 1)));
        }
        self.document(p7m, None, depth + 1);
    }

    fn finish(self, format: Format, encoding: Option<&'static str>) -> SignatureReport {
        let worst_signer = self.signers.iter().max_by_key(|s| s.verdict);
        let note = self.notes.iter().max_by_key(|(s, _)| s.indication());
        let mut verdict = worst_signer.map(|s| s.verdict).unwrap_or(Indication::NoSignatureFound);
        let mut sub = worst_signer.and_then(|s| s.subindication);
        let mut detail = worst_signer.map(|s| s.detail.clone()).unwrap_or_else(|| "no signature found".into());
        if let Some((n_sub, n_detail)) = note
            && (self.signers.is_empty() || n_sub.indication() > verdict)
        {
            verdict = n_sub.indication();
            sub = Some(*n_sub);
            detail = n_detail.clone();
        }
        if verdict == Indication::TotalPassed {
            detail = format!("{} signature(s) valid", self.signers.len());
        }
        for i in &self.info {
            detail.push_str("; ");
            detail.push_str(i);
        }
        SignatureReport {
            verdict,
            subindication: sub,
            format,
            encoding,
            signers: self.signers,
            envelopes: self.envelopes,
            detail,
            content: self.content,
        }
    }
}

fn timestamp_info(what: &str, t: &crate::signer::TimestampCheck) -> String {
    match (&t.failure, t.time) {
        (None, Some(time)) if t.intact() => format!("{what} timestamp of {time} intact (not used as proof of existence)"),
        (Some(f), _) => format!("{what} timestamp ignored: {}", f.detail),
        _ => format!("{what} timestamp ignored: its signature does not verify"),
    }
}

/// A file that carries the signedData OID near its start but does not parse: a damaged or
/// tampered CMS, not an unsigned file.
fn looks_like_broken_cms(bytes: &[u8]) -> bool {
    let head = bytes.get(..bytes.len().min(64)).unwrap_or_default();
    head.windows(SIGNED_DATA_OID.len()).any(|w| w == SIGNED_DATA_OID)
}

/// (data, timestamp tokens) of a TimeStampedData.
fn tsd_parts(tsd: &ber::Tlv<'_>) -> Result<(Vec<u8>, Vec<Vec<u8>>), crate::Error> {
    let bad = |w: &str| crate::Error::Asn1(format!("TimeStampedData: {w}"));
    let fields = tsd.children()?;
    let content = fields
        .iter()
        .find(|f| f.tag & !0x20 == ber::OCTET_STRING)
        .ok_or_else(|| bad("no embedded content (dataUri form is not supported)"))?;
    let evidence = fields.iter().find(|f| f.tag == ber::ctx(0)).ok_or_else(|| bad("no timestamp evidence"))?;
    let mut tokens = Vec::new();
    for ts_and_crl in evidence.children()? {
        if let Some(token) = ts_and_crl.children()?.first() {
            let der = if token.indefinite { ber::to_definite(token)? } else { token.raw.to_vec() };
            tokens.push(der);
        }
    }
    Ok((content.octets()?.into_owned(), tokens))
}

/// (p7m bytes, timestamp part bodies) of an M7M (MIME multipart/mixed), or `None`.
fn m7m_parts(bytes: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let head = bytes.get(..bytes.len().min(2048))?;
    let head_text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if !(head_text.starts_with("mime-version") || head_text.starts_with("content-type")) || !head_text.contains("multipart/")
    {
        return None;
    }
    let parts = crate::mime::multipart(bytes)?;
    let mut p7m = None;
    let mut tokens = Vec::new();
    for part in parts {
        let ct = part.content_type.to_ascii_lowercase();
        if ct.starts_with("application/pkcs7-mime") || ct.starts_with("application/x-pkcs7-mime") {
            p7m = Some(input::unwrap_cms(&part.body).map(|(d, _)| d.into_owned()).unwrap_or(part.body));
        } else if ct.starts_with("application/timestamp") || ct.starts_with("application/timestamp-reply") {
            tokens.push(part.body);
        }
    }
    Some((p7m?, tokens))
}
