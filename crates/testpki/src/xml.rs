//! XML signatures made by `xmlsec1 --sign` (Debian package xmlsec1, installed by
//! scripts/test) with the test PKI's keys: an independent implementation signs, ours
//! verifies. The caller writes the signature template (so that tests can shape references,
//! transforms and objects at will); [`enveloped_template`] writes the common one.

use std::path::PathBuf;
use std::process::Command;

use crate::keys::PrivateKey;
use crate::pem;

pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";

/// `xml` with an enveloped-signature template inserted as the last child of its root
/// element: one reference `URI=""` (enveloped-signature, then `c14n`), SHA-256, the
/// signing certificate in KeyInfo. RSA or ECDSA after `key`.
pub fn enveloped_template(xml: &str, key: &PrivateKey, c14n: &str) -> String {
    let close = xml.rfind("</").expect("a root element with an end tag");
    let sig = format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="signature-1"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{c14n}"/><ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="{c14n}"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"#,
        method = signature_method(key)
    );
    format!("{}{sig}{}", &xml[..close], &xml[close..])
}

/// The XMLDSig SignatureMethod URI for `key` with SHA-256.
pub fn signature_method(key: &PrivateKey) -> &'static str {
    match key {
        PrivateKey::Rsa(_) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        PrivateKey::P256(_) | PrivateKey::P384(_) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    }
}

/// Signs every signature template of `template` with `key` (certificate `cert_der` put in
/// the templates' X509Data). `id_attrs` registers ID attributes for `#id` references, as
/// `(attribute, element local name)`, e.g. `("Id", "SignedProperties")`. Panics with
/// xmlsec1's message when it fails.
pub fn sign(template: &str, key: &PrivateKey, cert_der: &[u8], id_attrs: &[(&str, &str)]) -> String {
    sign_with_files(template, key, cert_der, id_attrs, &[])
}

/// [`sign`] with files beside the template, for detached references by relative URI.
pub fn sign_with_files(
    template: &str,
    key: &PrivateKey,
    cert_der: &[u8],
    id_attrs: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> String {
    let dir = scratch_dir();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write detached file");
    }
    let key_path = dir.join("key.pem");
    let cert_path = dir.join("cert.pem");
    let input = dir.join("template.xml");
    let output = dir.join("signed.xml");
    std::fs::write(&key_path, key.to_pkcs8_pem()).expect("write key");
    std::fs::write(&cert_path, pem("CERTIFICATE", cert_der)).expect("write cert");
    std::fs::write(&input, template).expect("write template");
    let mut cmd = Command::new("xmlsec1");
    cmd.current_dir(&dir).arg("--sign");
    for (attr, element) in id_attrs {
        cmd.arg(format!("--id-attr:{attr}")).arg(element);
    }
    let keys = format!("{},{}", key_path.display(), cert_path.display());
    let out = cmd
        .args(["--privkey-pem", &keys, "--output"])
        .arg(&output)
        .arg(&input)
        .output()
        .expect("xmlsec1 is not installed (scripts/test installs the Debian package xmlsec1)");
    assert!(out.status.success(), "xmlsec1 --sign: {}", String::from_utf8_lossy(&out.stderr));
    let signed = std::fs::read_to_string(&output).expect("read signed XML");
    let _ = std::fs::remove_dir_all(&dir);
    signed
}

/// Asks `xmlsec1 --verify` with the key of `cert_der` pinned (x509 KeyInfo processing off,
/// so that the document's own certificate is not used instead).
pub fn xmlsec1_verifies(xml: &str, cert_der: &[u8], id_attrs: &[(&str, &str)]) -> bool {
    xmlsec1_verifies_with_files(xml, cert_der, id_attrs, &[])
}

/// [`xmlsec1_verifies`] with files beside the document (detached references).
pub fn xmlsec1_verifies_with_files(xml: &str, cert_der: &[u8], id_attrs: &[(&str, &str)], files: &[(&str, &[u8])]) -> bool {
    let dir = scratch_dir();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write detached file");
    }
    let cert_path = dir.join("cert.pem");
    let input = dir.join("doc.xml");
    std::fs::write(&cert_path, pem("CERTIFICATE", cert_der)).expect("write cert");
    std::fs::write(&input, xml).expect("write xml");
    let mut cmd = Command::new("xmlsec1");
    cmd.current_dir(&dir).args(["--verify", "--enabled-key-data", "rsa,ecdsa"]);
    for (attr, element) in id_attrs {
        cmd.arg(format!("--id-attr:{attr}")).arg(element);
    }
    let out = cmd
        .arg("--pubkey-cert-pem")
        .arg(&cert_path)
        .arg(&input)
        .output()
        .expect("xmlsec1 is not installed (scripts/test installs the Debian package xmlsec1)");
    let _ = std::fs::remove_dir_all(&dir);
    out.status.success()
}

fn scratch_dir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sigillo-testpki-xml-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// How a XAdES test signature relates to its data.
#[derive(Debug, Clone)]
pub enum XadesShape {
    /// Inside the document (the document's root gets the signature as its last child),
    /// `URI=""` with the enveloped-signature transform.
    Enveloped(String),
    /// The data (XML content) inside the signature's own ds:Object `Id="content"`.
    Enveloping(String),
    /// A file beside the signature, referenced by its name.
    Detached { name: String, bytes: Vec<u8> },
}

/// A XAdES-B-B signature by `key` / `cert_der`: SignedProperties with SigningTime and
/// SigningCertificateV2 whose CertDigest is SHA-256 of `cert_digest_of` (normally the
/// signer's own certificate; another one for a wrong-reference test), signed by xmlsec1.
pub fn xades(shape: &XadesShape, key: &PrivateKey, cert_der: &[u8], cert_digest_of: &[u8], signing_time: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
    const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(cert_digest_of));
    let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
    let props = format!(
        r##"<ds:Object><xades:QualifyingProperties xmlns:xades="{XADES}" Target="#S1"><xades:SignedProperties Id="S1-props"><xades:SignedSignatureProperties><xades:SigningTime>{signing_time}</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod Algorithm="{sha256}"/><ds:DigestValue>{digest}</ds:DigestValue></xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></ds:Object>"##
    );
    let data_ref = match shape {
        XadesShape::Enveloped(_) => format!(
            r#"<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="{DS}enveloped-signature"/><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms><ds:DigestMethod Algorithm="{sha256}"/><ds:DigestValue/></ds:Reference>"#
        ),
        XadesShape::Enveloping(_) => format!(
            r##"<ds:Reference URI="#content"><ds:Transforms><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms><ds:DigestMethod Algorithm="{sha256}"/><ds:DigestValue/></ds:Reference>"##
        ),
        XadesShape::Detached { name, .. } => {
            format!(r#"<ds:Reference URI="{name}"><ds:DigestMethod Algorithm="{sha256}"/><ds:DigestValue/></ds:Reference>"#)
        }
    };
    let content_object = match shape {
        XadesShape::Enveloping(content) => format!(r#"<ds:Object Id="content">{content}</ds:Object>"#),
        _ => String::new(),
    };
    let signature = format!(
        r##"<ds:Signature xmlns:ds="{DS}" Id="S1"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="{method}"/>{data_ref}<ds:Reference Type="http://uri.etsi.org/01903#SignedProperties" URI="#S1-props"><ds:Transforms><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms><ds:DigestMethod Algorithm="{sha256}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>{content_object}{props}</ds:Signature>"##,
        method = signature_method(key)
    );
    let template = match shape {
        XadesShape::Enveloped(doc) => {
            let close = doc.rfind("</").expect("a root element with an end tag");
            format!("{}{signature}{}", &doc[..close], &doc[close..])
        }
        _ => format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{signature}"),
    };
    let files: Vec<(&str, &[u8])> = match shape {
        XadesShape::Detached { name, bytes } => vec![(name.as_str(), bytes.as_slice())],
        _ => Vec::new(),
    };
    sign_with_files(&template, key, cert_der, XADES_IDS, &files)
}

/// The ID attributes xmlsec1 must know for [`xades`] signatures.
pub const XADES_IDS: &[(&str, &str)] =
    &[("Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties"), ("Id", "http://www.w3.org/2000/09/xmldsig#:Object")];
