//! `Segnatura.xml` per AgID Linee Guida, Allegato 6 (schema v3.0.0,
//! `http://www.agid.gov.it/protocollo/`), sealed with an enveloped XAdES baseline-B signature.
//!
//! # Shape of the file
//!
//! The root is `prot:SegnaturaInformatica` of `segnatura_protocollo.xsd`. `pec_message.xsd`
//! declares a second `SegnaturaInformatica` in `.../protocollo/pec/` with the same type; it
//! imports the first schema, so our root validates against both files, while a `pec:` root
//! would fail against `segnatura_protocollo.xsd` and receivers commonly rewrite `pec` to
//! `prot` anyway. Attributes are namespace-qualified (`attributeFormDefault="qualified"`).
//!
//! - `Identificatore`: IPA code, AOO code, register, number zero-padded to 7 digits, date and
//!   time of registration in the register's time zone.
//! - `Classifica` is mandatory in the schema; a message registered at intake is not classified
//!   yet, so without [`Options::classifica`] it says "Non classificato" with an empty code.
//! - `Mittente`: the citizen as `PersonaFisica` with empty `Nome`/`Cognome` (the model has only
//!   the PEC address, which goes in `Contatti/IndirizzoTelematico`).
//! - `Destinatario`: the ente and its AOO with the comune's PEC address.
//! - `DocumentoPrimario` and `Allegato`: name, media type, `Impronta` = base64 of the SHA-256
//!   digest (the schema's `xs:base64Binary`; the model keeps hex).
//!
//! # The seal
//!
//! `ds:Signature` is mandatory in the schema (no `minOccurs="0"`), so there is no schema-valid
//! unsigned Segnatura: without a [`Seal`] [`build`] fails with [`Error::Seal`], and the caller
//! sends the receipt without `Segnatura.xml`.
//!
//! The signature is XMLDSig enveloped (`Reference URI=""`, enveloped-signature + Exclusive
//! C14N, RSA-SHA256) plus XAdES `SignedProperties` (`SigningTime`, `SigningCertificateV2`,
//! `DataObjectFormat`) referenced from `SignedInfo`. No canonicaliser is needed: the templates
//! write every signed part already in Exclusive C14N form (no XML declaration in the signed
//! bytes, attributes in canonical order, `<a></a>` for empty elements, canonical escaping by
//! [`XmlText`] / [`XmlAttr`], namespace declarations exactly where Exclusive C14N renders them),
//! so the digest of our own bytes is the digest of their canonical form. The tests check this
//! against `xmllint --exc-c14n`.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::model::{Context, Document, Outgoing, Receipt};

/// The ente's qualified electronic seal: an RSA private key and its certificate.
#[derive(Clone)]
pub struct Seal {
    key: SigningKey<Sha256>,
    certificate_der: Vec<u8>,
    not_after: DateTime<Utc>,
}

impl fmt::Debug for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seal").field("not_after", &self.not_after).finish_non_exhaustive()
    }
}

impl Seal {
    /// Loads the seal from PEM text: an unencrypted RSA private key (`PRIVATE KEY`, PKCS#8, or
    /// `RSA PRIVATE KEY`, PKCS#1) and its `CERTIFICATE`. Fails when the key does not match the
    /// certificate.
    pub fn from_pem(key_pem: &str, certificate_pem: &str) -> Result<Seal, Error> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use x509_cert::der::{DecodePem, Encode};

        let key = RsaPrivateKey::from_pkcs8_pem(key_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(key_pem))
            .map_err(|e| {
                Error::Seal(format!(
                    "the seal key is not an unencrypted RSA private key in PEM (PKCS#8 or PKCS#1): {e}"
                ))
            })?;
        // A certificate file usually carries the chain after the seal's own certificate: the
        // first block is the seal's. (x509-cert's `load_pem_chain` panics on empty input.)
        const END: &str = "-----END CERTIFICATE-----";
        let first = certificate_pem.find(END).map_or(certificate_pem, |i| &certificate_pem[..i + END.len()]);
        let cert = x509_cert::Certificate::from_pem(first)
            .map_err(|e| Error::Seal(format!("the seal certificate is not a PEM X.509 certificate: {e}")))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| Error::Seal(format!("the seal certificate's public key: {e}")))?;
        let public = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|e| Error::Seal(format!("the seal certificate has no RSA public key: {e}")))?;
        if public != RsaPublicKey::from(&key) {
            return Err(Error::Seal("the seal key does not belong to the seal certificate".into()));
        }
        let certificate_der =
            cert.to_der().map_err(|e| Error::Seal(format!("the seal certificate: {e}")))?;
        let not_after = i64::try_from(cert.tbs_certificate.validity.not_after.to_unix_duration().as_secs())
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
            .ok_or_else(|| Error::Seal("the seal certificate's notAfter is out of range".into()))?;
        Ok(Seal { key: SigningKey::<Sha256>::new(key), certificate_der, not_after })
    }

    /// Loads the seal from two PEM files (see [`Seal::from_pem`]).
    pub fn from_files(key_path: &Path, certificate_path: &Path) -> Result<Seal, Error> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| Error::Seal(format!("cannot read {}: {e}", p.display())))
        };
        Seal::from_pem(&read(key_path)?, &read(certificate_path)?)
    }

    /// The DER certificate that goes in `ds:KeyInfo`.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }
}

/// A titolario class for `Intestazione/Classifica`.
#[derive(Debug, Clone)]
pub struct Classifica {
    /// `CodiceFlat`, e.g. "I.6".
    pub code: String,
    /// `Denominazione`, e.g. "Protocollo generale".
    pub name: String,
}

/// What [`build`] needs beyond the registration.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// `None`: no Segnatura can be made (see the module documentation).
    pub seal: Option<&'a Seal>,
    /// XAdES `SigningTime`; normally now.
    pub signing_time: DateTime<Utc>,
    pub classifica: Option<&'a Classifica>,
}

/// The file name of the segnatura in a PEC message (Allegato 6, Appendice C).
pub const FILE_NAME: &str = "Segnatura.xml";
/// Its media type.
pub const MEDIA_TYPE: &str = "application/xml";

/// Writes the sealed `Segnatura.xml` of a registration (UTF-8, with an XML declaration).
pub fn build(ctx: &Context, receipt: &Receipt, opts: &Options<'_>) -> Result<Vec<u8>, Error> {
    build_directed(ctx, receipt, opts, None)
}

/// [`build`] for a registration in partenza sent to `outgoing.to`: the ente and its AOO are the
/// `Mittente`, each recipient (a `PersonaFisica` known by its PEC address) a `Destinatario`.
pub fn build_outgoing(ctx: &Context, outgoing: &Outgoing, opts: &Options<'_>) -> Result<Vec<u8>, Error> {
    if outgoing.to.is_empty() {
        return Err(Error::Invalid { field: "outgoing.to", cause: "no recipient".into() });
    }
    build_directed(ctx, &outgoing.as_receipt(), opts, Some(&outgoing.to))
}

/// `recipients` is `Some` for a registration in partenza.
fn build_directed(ctx: &Context, receipt: &Receipt, opts: &Options<'_>, recipients: Option<&[String]>) -> Result<Vec<u8>, Error> {
    let seal = opts.seal.ok_or_else(|| {
        Error::Seal(
            "no qualified electronic seal configured: Segnatura.xml requires a signature \
             (ds:Signature is mandatory in the AgID schema); configure the seal's private key and \
             certificate (PEM) to attach Segnatura.xml to receipts"
                .into(),
        )
    })?;
    if opts.signing_time > seal.not_after {
        return Err(Error::Seal(format!("the seal certificate expired on {}", seal.not_after.to_rfc3339())));
    }

    let mut body = body_template(ctx, receipt, opts)?;
    if let Some(recipients) = recipients {
        body.outgoing = true;
        body.destinatari = recipients.iter().map(String::as_str).collect();
    }
    // The enveloped-signature transform removes ds:Signature and nothing else, so the signed
    // document is this same template with an empty signature.
    let unsigned = render(&body, "segnatura/segnatura.xml")?;
    let ids = Ids::default();

    let signed_properties = render(
        &SignedPropertiesXml {
            ids: &ids,
            signing_time: opts.signing_time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            certificate_digest: BASE64.encode(Sha256::digest(&seal.certificate_der)),
        },
        "segnatura/signed_properties.xml",
    )?;
    let signed_info = render(
        &SignedInfoXml {
            ids: &ids,
            document_digest: BASE64.encode(Sha256::digest(unsigned.as_bytes())),
            properties_digest: BASE64.encode(Sha256::digest(signed_properties.as_bytes())),
        },
        "segnatura/signed_info.xml",
    )?;
    let value = seal.key.sign(signed_info.as_bytes()).to_bytes();
    body.signature = render(
        &SignatureXml {
            ids: &ids,
            signed_info: &signed_info,
            value: BASE64.encode(value),
            certificate: BASE64.encode(&seal.certificate_der),
            signed_properties: &signed_properties,
        },
        "segnatura/signature.xml",
    )?;
    body.declaration = true;
    Ok(render(&body, "segnatura/segnatura.xml")?.into_bytes())
}

fn body_template<'a>(ctx: &'a Context, receipt: &'a Receipt, opts: &Options<'a>) -> Result<SegnaturaXml<'a>, Error> {
    let ente = &ctx.ente;
    for (field, value) in [("ente.ipa_code", &ente.ipa_code), ("ente.aoo_code", &ente.aoo_code)] {
        if value.trim().is_empty() {
            return Err(Error::Invalid { field, cause: "empty".into() });
        }
    }
    let register_ok = (1..=16).contains(&ente.register_code.len())
        && ente.register_code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !register_ok {
        return Err(Error::Invalid {
            field: "ente.register_code",
            cause: "the AgID schema wants 1 to 16 characters among A-Z a-z 0-9 _ . -".into(),
        });
    }
    if receipt.number < 1 {
        return Err(Error::Invalid { field: "receipt.number", cause: format!("{} is not a protocol number", receipt.number) });
    }

    let primary_index = receipt.documents.iter().position(|d| d.primary).unwrap_or(0);
    let primary = receipt.documents.get(primary_index).ok_or_else(|| Error::Invalid {
        field: "receipt.documents",
        cause: "no document: the segnatura needs a primary document".into(),
    })?;
    let allegati = receipt
        .documents
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != primary_index)
        .map(|(_, d)| DocumentXml::new(d))
        .collect::<Result<Vec<_>, _>>()?;

    let local = receipt.registered_at.with_timezone(&ente.timezone);
    let (classifica_name, classifica_code) = match opts.classifica {
        Some(c) => (c.name.as_str(), c.code.as_str()),
        None => ("Non classificato", ""),
    };
    Ok(SegnaturaXml {
        declaration: false,
        outgoing: false,
        ente,
        number: format!("{:07}", receipt.number),
        date: local.format("%Y-%m-%d").to_string(),
        time: local.format("%H:%M:%S%:z").to_string(),
        oggetto: &receipt.subject,
        classifica_name,
        classifica_code,
        mittente: &receipt.to,
        destinatario: &ctx.from,
        destinatari: Vec::new(),
        primary: DocumentXml::new(primary)?,
        allegati,
        signature: String::new(),
    })
}

fn render<T: askama::Template>(t: &T, template: &'static str) -> Result<String, Error> {
    t.render().map_err(|source| Error::Template { template, source })
}

/// `Id`s inside the signature; one signature per file, so fixed values are unique.
struct Ids {
    signature: &'static str,
    value: &'static str,
    reference: &'static str,
    signed_properties: &'static str,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            signature: "sigillo-segnatura-signature",
            value: "sigillo-segnatura-signature-value",
            reference: "sigillo-segnatura-reference",
            signed_properties: "sigillo-segnatura-signed-properties",
        }
    }
}

struct DocumentXml<'a> {
    name: &'a str,
    mime: &'a str,
    impronta: String,
}

impl<'a> DocumentXml<'a> {
    fn new(d: &'a Document) -> Result<Self, Error> {
        Ok(DocumentXml {
            name: &d.name,
            mime: d.media_type.as_deref().unwrap_or("application/octet-stream"),
            impronta: BASE64.encode(sha256_from_hex(&d.sha256)?),
        })
    }
}

/// The 32 bytes of a lowercase or uppercase hex SHA-256.
pub(crate) fn sha256_from_hex(hex: &str) -> Result<[u8; 32], Error> {
    let bad = || Error::Invalid { field: "document.sha256", cause: format!("not 64 hex digits: {hex:?}") };
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |b: u8| (b as char).to_digit(16).ok_or_else(bad);
        *o = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).map_err(|_| bad())?;
    }
    Ok(out)
}

#[derive(askama::Template)]
#[template(path = "segnatura/segnatura.xml")]
struct SegnaturaXml<'a> {
    declaration: bool,
    /// A registration in partenza: the ente sends, the correspondent receives.
    outgoing: bool,
    ente: &'a crate::model::Ente,
    number: String,
    date: String,
    time: String,
    oggetto: &'a str,
    classifica_name: &'a str,
    classifica_code: &'a str,
    mittente: &'a str,
    destinatario: &'a str,
    /// The recipients of a registration in partenza, one `Destinatario` each.
    destinatari: Vec<&'a str>,
    primary: DocumentXml<'a>,
    allegati: Vec<DocumentXml<'a>>,
    signature: String,
}

#[derive(askama::Template)]
#[template(path = "segnatura/signed_info.xml")]
struct SignedInfoXml<'a> {
    ids: &'a Ids,
    document_digest: String,
    properties_digest: String,
}

#[derive(askama::Template)]
#[template(path = "segnatura/signed_properties.xml")]
struct SignedPropertiesXml<'a> {
    ids: &'a Ids,
    signing_time: String,
    certificate_digest: String,
}

#[derive(askama::Template)]
#[template(path = "segnatura/signature.xml")]
struct SignatureXml<'a> {
    ids: &'a Ids,
    signed_info: &'a str,
    value: String,
    certificate: String,
    signed_properties: &'a str,
}

/// XML 1.0 `Char`: what may appear in a document at all.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Writes `s` replacing the characters `escape` maps, and characters XML cannot carry at all
/// (C0 controls other than TAB/LF/CR, U+FFFE, U+FFFF) by U+FFFD.
fn write_escaped<W: fmt::Write>(mut dest: W, s: &str, escape: fn(char) -> Option<&'static str>) -> fmt::Result {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let replacement = match escape(c) {
            Some(r) => r,
            None if is_xml_char(c) => continue,
            None => "\u{FFFD}",
        };
        dest.write_str(&s[last..i])?;
        dest.write_str(replacement)?;
        last = i + c.len_utf8();
    }
    dest.write_str(&s[last..])
}

/// Askama escaper for XML text content, as Canonical XML writes it: `&` `<` `>` and CR as
/// references, quotes literal (escaping them would be correct XML but not canonical).
#[derive(Debug, Clone, Copy)]
pub(crate) struct XmlText;

impl askama::filters::Escaper for XmlText {
    fn write_escaped_str<W: fmt::Write>(&self, dest: W, s: &str) -> fmt::Result {
        write_escaped(dest, s, |c| match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            '\r' => Some("&#xD;"),
            _ => None,
        })
    }
}

/// Askama escaper for a double-quoted XML attribute value, as Canonical XML writes it:
/// `&` `<` `"` TAB LF CR as references; `>` and `'` literal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct XmlAttr;

impl askama::filters::Escaper for XmlAttr {
    fn write_escaped_str<W: fmt::Write>(&self, dest: W, s: &str) -> fmt::Result {
        write_escaped(dest, s, |c| match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '"' => Some("&quot;"),
            '\t' => Some("&#x9;"),
            '\n' => Some("&#xA;"),
            '\r' => Some("&#xD;"),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digest_round_trip() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let bytes = sha256_from_hex(hex).unwrap();
        assert_eq!(bytes.to_vec(), Sha256::digest(b"").to_vec());
        assert!(sha256_from_hex("zz").is_err());
        assert!(sha256_from_hex(&"g".repeat(64)).is_err());
    }

    #[test]
    fn escapers_write_canonical_forms() {
        use askama::filters::Escaper;
        let mut text = String::new();
        XmlText.write_escaped_str(&mut text, "a<b>&\"c'\r\u{1}è").unwrap();
        assert_eq!(text, "a&lt;b&gt;&amp;\"c'&#xD;\u{FFFD}è");
        let mut attr = String::new();
        XmlAttr.write_escaped_str(&mut attr, "a<b>&\"c'\t\n\r").unwrap();
        assert_eq!(attr, "a&lt;b>&amp;&quot;c'&#x9;&#xA;&#xD;");
    }
}
