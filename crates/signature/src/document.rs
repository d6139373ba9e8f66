//! Document signatures: format detection by content, container unwrapping (base64/PEM,
//! nested p7m, RFC 5544 .tsd, Italian .m7m) and the aggregate verdict.

use chrono::{DateTime, Utc};

use crate::ber;
use crate::cert::Certificate;
use crate::input::{self, Wrapping};
use crate::oids;
use crate::report::{Format, Indication, SignatureReport, SignerReport, SignerRole, SubIndication, TimeSource};
use crate::signed_data::{SignedData, content_info};
use crate::signer::{verify_signer, verify_timestamp};
use crate::trust::TrustStore;
use crate::verdict::{self, Context};

/// Envelopes deeper than this are refused (art. 21 c.6 nesting is 2–3 in practice).
const MAX_ENVELOPES: usize = 8;

/// Content octets of id-signedData, to tell a broken CMS from a file that is not CMS at all.
const SIGNED_DATA_OID: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// Verifies the signature(s) of a document. `detached_content` is the file a detached
/// `.p7s` accompanies. `now` is the validation time. Never panics on any input. The report
/// carries the extracted content of an enveloping p7m ([`SignatureReport::content`]).
pub fn verify_document(
    bytes: &[u8],
    detached_content: Option<&[u8]>,
    trust: &TrustStore,
    now: DateTime<Utc>,
) -> SignatureReport {
    verify_document_with(bytes, detached_content, trust, now, VerifyOptions::default())
}

/// Options of [`verify_document_with`].
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Copy the content of an enveloping p7m into [`SignatureReport::content`] (default).
    /// Callers that only need the verdict, or that stream the content elsewhere with
    /// [`extract_signed_content`], turn it off: for large files the copy (a fresh allocation
    /// the size of the document) costs about as much as hashing it.
    pub extract_content: bool,
    /// Why `now` is the validation time, recorded in the report (`time_source`): the time
    /// of the check by default, a PEC's time reference, a time the user asked for.
    pub time_source: TimeSource,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { extract_content: true, time_source: TimeSource::Now }
    }
}

/// [`verify_document`] with options.
pub fn verify_document_with(
    bytes: &[u8],
    detached_content: Option<&[u8]>,
    trust: &TrustStore,
    now: DateTime<Utc>,
    options: VerifyOptions,
) -> SignatureReport {
    let mut v = Verifier {
        trust,
        now,
        options,
        signers: Vec::new(),
        pool: Vec::new(),
        envelopes: 0,
        content: None,
        notes: Vec::new(),
        info: Vec::new(),
    };
    let (format, encoding) = v.document(bytes, detached_content, 0);
    v.finish(format, encoding)
}

/// The signed content inside a (possibly nested, base64, TSD or M7M wrapped) p7m, without
/// verifying anything. `None` for detached signatures and non-CMS input.
pub fn extract_signed_content(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut current = unwrap_outer(bytes)?;
    for _ in 0..MAX_ENVELOPES {
        let sd = SignedData::from_content_info(&current).ok()?;
        let content = sd.econtent?.bytes().into_owned();
        if !is_nested_envelope(&content) {
            return Some(content);
        }
        current = content;
    }
    None
}

/// The binary SignedData inside base64/PEM, TSD or M7M wrappers.
fn unwrap_outer(bytes: &[u8]) -> Option<Vec<u8>> {
    if let Some(m) = m7m_parts(bytes) {
        return Some(m.p7m);
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
    options: VerifyOptions,
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
        // Order matters: an M7M or an XML file may quote "%PDF-" in its first kilobyte (an
        // enveloped PDF), while a PDF never starts with a MIME header or '<'.
        if let Some(m) = m7m_parts(bytes) {
            self.m7m(&m, depth);
            return (Format::M7m, Some("MIME"));
        }
        if let Some(xml) = crate::xml::sniff(bytes) {
            if xml.signed {
                self.xades(bytes, detached);
                return (Format::Xades, Some("XML"));
            }
            return (Format::None, Some("XML"));
        }
        if bytes.first() != Some(&0x30) && crate::pdf::is_pdf(bytes) {
            let r = crate::pdf::verify_pdf(bytes, self.trust, self.now, depth);
            if r.signers.is_empty() && r.notes.is_empty() {
                return (Format::None, Some("PDF"));
            }
            self.envelopes += usize::from(!r.signers.is_empty());
            self.signers.extend(r.signers);
            self.notes.extend(r.notes);
            return (Format::Pades, Some("PDF"));
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
        let mut sd = match SignedData::from_content_info(der) {
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
        // Taken out of `sd` so that the extracted content is moved, not copied, into the
        // report (large files: the copy would cost as much as a third of the hashing).
        let econtent = sd.econtent.take();
        let format = match (&econtent, detached) {
            (Some(_), _) => Format::Cades,
            (None, Some(_)) => Format::CadesDetached,
            (None, None) => {
                self.notes.push((
                    SubIndication::SignedDataNotFound,
                    "detached signature (.p7s) without the signed file".into(),
                ));
                return Format::CadesDetached;
            }
        };
        let digest_of = |d: crate::crypto::DigestAlg| match (&econtent, detached) {
            (Some(ec), _) => ec.hash(d),
            (None, Some(bytes)) => d.hash(bytes),
            (None, None) => Vec::new(),
        };
        let pool = self.pool.clone();
        let ctx = Context { trust: self.trust, now: self.now, pool: &pool };
        for si in &sd.signers {
            let check = verify_signer(si, &sd.certificates, &digest_of, Some(&sd.econtent_type), 0);
            self.signers.extend(verdict::judge(&check, SignerRole::Signer, layer, &ctx));
        }
        if let Some(ec) = econtent {
            // Only content that starts like a CMS (binary, base64, PEM) or a PDF can hold
            // further signatures; anything else is never concatenated unless extracted.
            let head = ec.head(1024);
            let maybe_cms = head.first() == Some(&0x30) || looks_like_base64(&head);
            let maybe_pdf = crate::pdf::is_pdf(&head);
            if maybe_cms || maybe_pdf || self.options.extract_content {
                let content = ec.bytes();
                let nested = maybe_cms && is_nested_envelope(&content);
                if nested || (maybe_pdf && crate::pdf::has_signatures(&content)) {
                    self.document(&content, None, depth + 1);
                }
                // The innermost extracted content wins: a nested layer sets it itself.
                if !nested && self.options.extract_content {
                    self.content = Some(content.into_owned());
                }
            }
        }
        format
    }

    /// XAdES (or plain XMLDSig) signatures: each judged as a CAdES signer would be.
    fn xades(&mut self, bytes: &[u8], detached: Option<&[u8]>) {
        match crate::xades::verify(bytes, detached) {
            Ok(r) => {
                let layer = self.envelopes;
                self.envelopes += 1;
                self.pool.extend(r.pool);
                let pool = self.pool.clone();
                let ctx = Context { trust: self.trust, now: self.now, pool: &pool };
                for check in &r.checks {
                    self.signers.extend(verdict::judge(check, SignerRole::Signer, layer, &ctx));
                }
            }
            Err((sub, detail)) => self.notes.push((sub, detail)),
        }
    }

    /// RFC 5544 TimeStampedData: verify the evidence timestamp over the data, then the data.
    fn tsd(&mut self, content: &ber::Tlv<'_>, depth: usize) {
        match tsd_parts(content) {
            Ok((data, tokens)) => {
                // The evidence timestamps are reported but not used as proof of existence
                // (the signatures inside carry their own CAdES-T timestamps when needed).
                for token in &tokens {
                    let t = verify_timestamp(token, &|d| d.hash(&data), 1);
                    self.evidence_failure("TSD", &t);
                    self.info.push(timestamp_info("TSD", &t));
                }
                self.document(&data, None, depth + 1);
            }
            Err(e) => self.notes.push((SubIndication::FormatFailure, format!("malformed TimeStampedData: {e}"))),
        }
    }

    /// Italian M7M: the p7m part, plus timestamp tokens over it. The tokens' imprint covers
    /// the p7m part as transported (InfoCert's files carry it base64-encoded although labelled
    /// binary), which for a binary part is the DER itself.
    fn m7m(&mut self, m: &M7m, depth: usize) {
        for token in &m.tokens {
            let Some((der, _)) = input::unwrap_cms(token) else {
                self.notes.push((SubIndication::FormatFailure, "M7M timestamp part is not a token".into()));
                continue;
            };
            let over_raw = verify_timestamp(&der, &|d| d.hash(&m.raw_part), 1);
            let t = if over_raw.failure.is_none() { over_raw } else { verify_timestamp(&der, &|d| d.hash(&m.p7m), 1) };
            self.evidence_failure("M7M", &t);
            self.info.push(timestamp_info("M7M", &t));
        }
        self.document(&m.p7m, None, depth + 1);
    }

    /// A TSD/M7M timestamp whose imprint does not match the data it travels with, or whose
    /// own signature is broken, means the container was altered: the document fails.
    fn evidence_failure(&mut self, what: &str, t: &crate::signer::TimestampCheck) {
        let broken = t.failure.as_ref().filter(|f| f.sub == SubIndication::HashFailure).or_else(|| {
            t.signer
                .as_ref()
                .and_then(|s| s.failure.as_ref())
                .filter(|f| matches!(f.sub, SubIndication::HashFailure | SubIndication::SigCryptoFailure))
        });
        if let Some(f) = broken {
            self.notes.push((f.sub, format!("{what} timestamp: {}", f.detail)));
        }
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
        let mut signers = self.signers;
        for s in &mut signers {
            // `timestamp_time` is set only from an intact timestamp of a trusted TSA, the
            // time the verdict used instead of `now`.
            (s.judged_at, s.time_source) = match s.timestamp_time {
                Some(t) => (Some(t), Some(TimeSource::Timestamp)),
                None => (Some(self.now), Some(self.options.time_source)),
            };
        }
        SignatureReport {
            verdict,
            subindication: sub,
            format,
            encoding,
            signers,
            envelopes: self.envelopes,
            detail,
            judged_at: self.now,
            time_source: self.options.time_source,
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

/// Whether a content head could be the start of base64 or PEM text (an envelope saved in
/// base64 inside another one).
fn looks_like_base64(head: &[u8]) -> bool {
    !head.is_empty()
        && head.iter().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_whitespace() || matches!(b, b'+' | b'/' | b'=' | b'-'))
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

/// The parts of an M7M.
struct M7m {
    /// The signed envelope, decoded to binary.
    p7m: Vec<u8>,
    /// The envelope part's body as transported (what the timestamps cover).
    raw_part: Vec<u8>,
    /// Timestamp part bodies.
    tokens: Vec<Vec<u8>>,
}

/// The parts of an M7M (MIME multipart/mixed), or `None`.
fn m7m_parts(bytes: &[u8]) -> Option<M7m> {
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
            let der = input::unwrap_cms(&part.body).map(|(d, _)| d.into_owned()).unwrap_or_else(|| part.body.clone());
            p7m = Some((der, part.body));
        } else if ct.starts_with("application/timestamp") || ct.starts_with("application/timestamp-reply") {
            tokens.push(part.body);
        }
    }
    let (p7m, raw_part) = p7m?;
    Some(M7m { p7m, raw_part, tokens })
}
