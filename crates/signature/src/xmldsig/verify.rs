//! Core validation (XMLDSig §3.2): the SignatureValue over the canonical SignedInfo, then
//! every Reference's digest over its dereferenced, transformed content.

use std::collections::HashMap;

use base64::Engine as _;
use bergshamra_c14n::C14nSink;
use bergshamra_xml::NodeSet;
use uppsala::{Document, NodeId, NodeKind};

use super::algorithms::{self, C14n, ENVELOPED_SIGNATURE, EXC_C14N_NS, SignatureMethod, XPATH_FILTER2};
use super::{DSIG_NS, XmlSigFailure};
use crate::cert::Certificate;
use crate::crypto::{DigestAlg, Hasher};

/// More references than this in one SignedInfo is not a legitimate signature; the bound
/// keeps a hostile document from making us digest it hundreds of times.
const MAX_REFERENCES: usize = 32;
const MAX_TRANSFORMS: usize = 4;

/// A `ds:Signature` element of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureElement(pub NodeId);

/// What a verified reference covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covered {
    /// `URI=""`: the whole document (without comments, and without this signature when the
    /// enveloped-signature transform is applied).
    Document,
    /// `URI="#id"`: the one element carrying that Id, with its subtree.
    Element(NodeId),
    /// Any other URI: bytes the caller resolved (a detached signature's file).
    External,
}

/// A reference whose digest matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub uri: String,
    /// The `Type` attribute (XAdES marks its SignedProperties reference with it).
    pub type_uri: Option<String>,
    pub covered: Covered,
    /// Whether the enveloped-signature transform removed this signature from the content.
    pub enveloped: bool,
    pub digest: DigestAlg,
}

/// A signature that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Index, in the keys given, of the certificate whose key verified SignatureValue.
    pub signer: usize,
    pub method: SignatureMethod,
    pub references: Vec<Reference>,
}

/// Every `ds:Signature` element of the document, in document order.
pub fn find_signatures(doc: &Document<'_>) -> Vec<SignatureElement> {
    let mut out = Vec::new();
    let mut stack = vec![doc.root()];
    while let Some(id) = stack.pop() {
        if is_ds(doc, id, "Signature") {
            out.push(SignatureElement(id));
        }
        // Reverse so that the stack pops children in document order.
        let mut kids: Vec<NodeId> = doc.children_iter(id).filter(|c| doc.element(*c).is_some()).collect();
        kids.reverse();
        stack.extend(kids);
    }
    out
}

/// The certificates of the signature's `KeyInfo/X509Data` (DER), which a caller may use to
/// name the signer; they are never trusted for being there.
pub fn key_info_certificates(doc: &Document<'_>, sig: SignatureElement) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for ki in element_children(doc, sig.0).into_iter().filter(|c| is_ds(doc, *c, "KeyInfo")) {
        for data in element_children(doc, ki).into_iter().filter(|c| is_ds(doc, *c, "X509Data")) {
            for c in element_children(doc, data).into_iter().filter(|c| is_ds(doc, *c, "X509Certificate")) {
                if let Ok(der) = b64(&text(doc, c)) {
                    out.push(der);
                }
            }
        }
    }
    out
}

/// Verifies the signature `sig` of `doc` with the keys of `keys` (any one of them may have
/// signed). `external` resolves a reference URI that is not same-document to its bytes
/// (a detached signature's file); `None` refuses it.
pub fn verify(
    doc: &Document<'_>,
    sig: SignatureElement,
    keys: &[Certificate],
    external: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Verified, XmlSigFailure> {
    if !is_ds(doc, sig.0, "Signature") {
        return Err(XmlSigFailure::Malformed("not a ds:Signature element".into()));
    }
    let kids = element_children(doc, sig.0);
    let (Some(&signed_info), Some(&value)) = (kids.first(), kids.get(1)) else {
        return Err(XmlSigFailure::Malformed("Signature needs SignedInfo and SignatureValue".into()));
    };
    if !is_ds(doc, signed_info, "SignedInfo") || !is_ds(doc, value, "SignatureValue") {
        return Err(XmlSigFailure::Malformed("Signature must start with SignedInfo, SignatureValue".into()));
    }
    for k in &kids[2..] {
        if !is_ds(doc, *k, "KeyInfo") && !is_ds(doc, *k, "Object") {
            return Err(XmlSigFailure::Malformed(format!("unexpected element {} in Signature", local_name(doc, *k))));
        }
    }

    let si = element_children(doc, signed_info);
    let (Some(&c14n_el), Some(&method_el)) = (si.first(), si.get(1)) else {
        return Err(XmlSigFailure::Malformed("SignedInfo needs CanonicalizationMethod and SignatureMethod".into()));
    };
    if !is_ds(doc, c14n_el, "CanonicalizationMethod") || !is_ds(doc, method_el, "SignatureMethod") {
        return Err(XmlSigFailure::Malformed("SignedInfo must start with CanonicalizationMethod, SignatureMethod".into()));
    }
    let c14n = c14n_of(doc, c14n_el)?;
    if !element_children(doc, method_el).is_empty() {
        // HMACOutputLength and friends: no such parameter belongs to the methods we accept.
        return Err(XmlSigFailure::Unsupported("parameters of SignatureMethod".into()));
    }
    let method = SignatureMethod::from_uri(algorithm(doc, method_el)?)?;
    let references = &si[2..];
    if references.is_empty() || references.iter().any(|r| !is_ds(doc, *r, "Reference")) {
        return Err(XmlSigFailure::Malformed("SignedInfo needs one or more Reference elements, and nothing else".into()));
    }
    if references.len() > MAX_REFERENCES {
        return Err(XmlSigFailure::Unsupported(format!("{} references", references.len())));
    }

    // 1. The signature value over the canonical SignedInfo.
    let set = subtree(doc, signed_info, c14n.mode.with_comments());
    let mut hasher = HashSink(Hasher::new(method.digest));
    canonicalize(doc, &c14n, &set, &mut hasher)?;
    let hashed = hasher.0.finish();
    let mut sig_value = b64(&text(doc, value)).map_err(|e| XmlSigFailure::Malformed(format!("SignatureValue: {e}")))?;
    if method.raw_ecdsa {
        sig_value = algorithms::ecdsa_raw_to_der(&sig_value)
            .ok_or_else(|| XmlSigFailure::Malformed("ECDSA SignatureValue is not r||s".into()))?;
    }
    let signer = keys
        .iter()
        .position(|c| {
            c.public_key.as_ref().is_ok_and(|k| {
                k.accepts(method.alg) && k.verify_prehash(method.alg, method.digest, &hashed, &sig_value).is_ok()
            })
        })
        .ok_or_else(|| XmlSigFailure::NotSignedByAllowed(signer_hint(doc, sig)))?;

    // 2. Every reference.
    let mut ids: Option<HashMap<&str, Vec<NodeId>>> = None;
    let mut out = Vec::with_capacity(references.len());
    for r in references {
        out.push(reference(doc, sig, *r, &mut ids, external)?);
    }
    Ok(Verified { signer, method, references: out })
}

fn reference<'d>(
    doc: &'d Document<'_>,
    sig: SignatureElement,
    r: NodeId,
    ids: &mut Option<HashMap<&'d str, Vec<NodeId>>>,
    external: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Reference, XmlSigFailure> {
    let Some(uri) = doc.get_attribute(r, "URI").map(str::to_owned) else {
        // Without URI the application must know the data: nothing of ours does.
        return Err(XmlSigFailure::Unsupported("Reference without URI".into()));
    };
    let type_uri = doc.get_attribute(r, "Type").filter(|t| !t.is_empty()).map(str::to_owned);
    let kids = element_children(doc, r);
    let mut i = 0;
    let mut transforms = Vec::new();
    if kids.first().is_some_and(|k| is_ds(doc, *k, "Transforms")) {
        transforms = element_children(doc, kids[0]);
        i = 1;
    }
    let (Some(&dm), Some(&dv), None) = (kids.get(i), kids.get(i + 1), kids.get(i + 2)) else {
        return Err(XmlSigFailure::Malformed(format!("Reference {uri:?}: needs DigestMethod, DigestValue")));
    };
    if !is_ds(doc, dm, "DigestMethod") || !is_ds(doc, dv, "DigestValue") {
        return Err(XmlSigFailure::Malformed(format!("Reference {uri:?}: needs DigestMethod, DigestValue")));
    }
    let digest = algorithms::digest(algorithm(doc, dm)?)?;
    let expected =
        b64(&text(doc, dv)).map_err(|e| XmlSigFailure::Malformed(format!("Reference {uri:?}: DigestValue: {e}")))?;
    if transforms.len() > MAX_TRANSFORMS || transforms.iter().any(|t| !is_ds(doc, *t, "Transform")) {
        return Err(XmlSigFailure::Unsupported(format!("Reference {uri:?}: transforms")));
    }

    let deref = |cause: String| XmlSigFailure::Dereference { uri: uri.clone(), cause };
    let (covered, mut set) = if uri.is_empty() {
        (Covered::Document, NodeSet::all_without_comments(doc))
    } else if let Some(id) = uri.strip_prefix('#') {
        if id.starts_with("xpointer(") {
            return Err(XmlSigFailure::Unsupported(format!("XPointer reference {uri:?}")));
        }
        let map = ids.get_or_insert_with(|| id_map(doc));
        match map.get(id).map(Vec::as_slice) {
            Some([node]) => (Covered::Element(*node), subtree(doc, *node, false)),
            Some(many) if many.len() > 1 => {
                return Err(XmlSigFailure::AmbiguousId { uri: uri.clone(), count: many.len() });
            }
            _ => return Err(deref("no element carries this Id".into())),
        }
    } else {
        if !transforms.is_empty() {
            return Err(XmlSigFailure::Unsupported(format!("transforms on the external reference {uri:?}")));
        }
        let bytes = external(&uri).ok_or_else(|| deref("external content not available".into()))?;
        check_digest(&uri, &expected, &digest.hash(&bytes))?;
        return Ok(Reference { uri, type_uri, covered: Covered::External, enveloped: false, digest });
    };

    let mut enveloped = false;
    let mut c14n = None;
    for t in transforms {
        if c14n.is_some() {
            // After canonicalisation the data are octets; a further transform would have to
            // parse them again, which no signature we accept needs.
            return Err(XmlSigFailure::Unsupported(format!("Reference {uri:?}: transform after canonicalisation")));
        }
        let alg = algorithm(doc, t)?;
        if alg == ENVELOPED_SIGNATURE {
            if !element_children(doc, t).is_empty() {
                return Err(XmlSigFailure::Malformed("enveloped-signature transform with parameters".into()));
            }
            remove_subtree(doc, sig.0, &mut set);
            enveloped = true;
        } else if alg == XPATH_FILTER2 {
            subtract_all_signatures(doc, t, &mut set)?;
            enveloped = true;
        } else if C14n::from_uri(alg).is_some() {
            c14n = Some(c14n_of(doc, t)?);
        } else {
            return Err(XmlSigFailure::Unsupported(format!("transform {alg}")));
        }
    }
    let c14n = c14n.unwrap_or_else(C14n::default_conversion);
    let mut hasher = HashSink(Hasher::new(digest));
    canonicalize(doc, &c14n, &set, &mut hasher)?;
    check_digest(&uri, &expected, &hasher.0.finish())?;
    Ok(Reference { uri, type_uri, covered, enveloped, digest })
}

/// XPath Filter 2.0 (W3C 2002) in the one form Italian signing tools (DiKe, ParER's
/// samples) write for enveloped signatures: `Filter="subtract"` with the expression
/// `/descendant::ds:Signature`, `ds` bound to the XMLDSig namespace. Every ds:Signature
/// subtree leaves the node set, as a general XPath evaluator would do; any other expression
/// is refused rather than evaluated.
fn subtract_all_signatures(doc: &Document<'_>, t: NodeId, set: &mut NodeSet) -> Result<(), XmlSigFailure> {
    let unsupported = || XmlSigFailure::Unsupported("XPath Filter 2.0 other than subtract /descendant::ds:Signature".into());
    let [xpath] = element_children(doc, t)[..] else { return Err(unsupported()) };
    let el = doc.element(xpath).ok_or_else(unsupported)?;
    if !el.name.matches(Some(XPATH_FILTER2), "XPath") || el.get_attribute("Filter") != Some("subtract") {
        return Err(unsupported());
    }
    let expr = text(doc, xpath);
    let Some(prefix) = expr.trim().strip_prefix("/descendant::").and_then(|r| r.strip_suffix(":Signature")) else {
        return Err(unsupported());
    };
    if namespace_of_prefix(doc, xpath, prefix) != Some(DSIG_NS) {
        return Err(unsupported());
    }
    for s in find_signatures(doc) {
        remove_subtree(doc, s.0, set);
    }
    Ok(())
}

/// The namespace `prefix` is bound to at `node`.
fn namespace_of_prefix<'d>(doc: &'d Document<'_>, node: NodeId, prefix: &str) -> Option<&'d str> {
    let mut cur = Some(node);
    while let Some(id) = cur {
        if let Some((_, uri)) =
            doc.element(id).and_then(|el| el.namespace_declarations.iter().find(|(p, _)| p == prefix))
        {
            return Some(uri);
        }
        cur = doc.parent(id);
    }
    None
}

fn check_digest(uri: &str, expected: &[u8], actual: &[u8]) -> Result<(), XmlSigFailure> {
    if expected == actual { Ok(()) } else { Err(XmlSigFailure::DigestMismatch { uri: uri.to_owned() }) }
}

/// Elements by their Id. Attributes named `Id`, `ID` or `id` without a namespace, and
/// `xml:id`, all count: without a schema any of them may be what a reference means, so a
/// value carried twice, by whichever attributes, makes the reference ambiguous and fails.
fn id_map<'d>(doc: &'d Document<'_>) -> HashMap<&'d str, Vec<NodeId>> {
    const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
    let mut map: HashMap<&str, Vec<NodeId>> = HashMap::new();
    let mut stack = vec![doc.root()];
    while let Some(id) = stack.pop() {
        if let Some(el) = doc.element(id) {
            for a in &el.attributes {
                let ns = a.name.namespace_uri.as_deref();
                let local = &*a.name.local_name;
                if (ns.is_none() && matches!(local, "Id" | "ID" | "id")) || (ns == Some(XML_NS) && local == "id") {
                    map.entry(&*a.value).or_default().push(id);
                }
            }
        }
        stack.extend(doc.children_iter(id));
    }
    map
}

fn c14n_of(doc: &Document<'_>, el: NodeId) -> Result<C14n, XmlSigFailure> {
    let alg = algorithm(doc, el)?;
    let mode = C14n::from_uri(alg).ok_or_else(|| XmlSigFailure::Unsupported(format!("canonicalisation {alg}")))?;
    let mut inclusive_prefixes = Vec::new();
    for p in element_children(doc, el) {
        let ok = mode.is_exclusive()
            && doc.element(p).is_some_and(|e| e.name.matches(Some(EXC_C14N_NS), "InclusiveNamespaces"));
        if !ok {
            return Err(XmlSigFailure::Unsupported(format!("parameter {} of {alg}", local_name(doc, p))));
        }
        let list = doc.get_attribute(p, "PrefixList").unwrap_or_default();
        inclusive_prefixes.extend(list.split_ascii_whitespace().map(str::to_owned));
    }
    Ok(C14n { mode, inclusive_prefixes })
}

fn canonicalize(doc: &Document<'_>, c14n: &C14n, set: &NodeSet, sink: &mut HashSink) -> Result<(), XmlSigFailure> {
    bergshamra_c14n::canonicalize_doc_to(doc, c14n.mode, Some(set), &c14n.inclusive_prefixes, sink)
        .map_err(|e| XmlSigFailure::Malformed(format!("canonicalisation: {e}")))
}

/// The subtree of `node` as a node set, with or without its comments.
fn subtree(doc: &Document<'_>, node: NodeId, comments: bool) -> NodeSet {
    if comments { NodeSet::tree_with_comments(node, doc) } else { NodeSet::tree_without_comments(node, doc) }
}

fn remove_subtree(doc: &Document<'_>, node: NodeId, set: &mut NodeSet) {
    let mut stack = vec![node];
    while let Some(id) = stack.pop() {
        set.remove_id(id);
        stack.extend(doc.children_iter(id));
    }
}

/// Feeds canonical bytes straight into a digest: a 2 MB list is never copied whole.
struct HashSink(Hasher);

impl C14nSink for HashSink {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn algorithm<'d>(doc: &'d Document<'_>, el: NodeId) -> Result<&'d str, XmlSigFailure> {
    doc.get_attribute(el, "Algorithm")
        .ok_or_else(|| XmlSigFailure::Malformed(format!("{} without Algorithm", local_name(doc, el))))
}

/// Whether `id` is a `ds:Signature` element.
pub fn is_signature(doc: &Document<'_>, id: NodeId) -> bool {
    is_ds(doc, id, "Signature")
}

/// The canonical form of the subtree of `node` with the algorithm `c14n_uri` (no inclusive
/// prefixes): what XAdES timestamps cover (the ds:SignatureValue element).
pub fn canonicalize_element(doc: &Document<'_>, node: NodeId, c14n_uri: &str) -> Result<Vec<u8>, XmlSigFailure> {
    let mode = C14n::from_uri(c14n_uri).ok_or_else(|| XmlSigFailure::Unsupported(format!("canonicalisation {c14n_uri}")))?;
    let set = subtree(doc, node, mode.with_comments());
    let mut out = Vec::new();
    bergshamra_c14n::canonicalize_doc_to::<String, _>(doc, mode, Some(&set), &[], &mut out)
        .map_err(|e| XmlSigFailure::Malformed(format!("canonicalisation: {e}")))?;
    Ok(out)
}

/// Whether `id` is the XMLDSig element `local`.
pub(crate) fn is_ds(doc: &Document<'_>, id: NodeId, local: &str) -> bool {
    doc.element(id).is_some_and(|e| e.name.matches(Some(DSIG_NS), local))
}

pub(crate) fn local_name(doc: &Document<'_>, id: NodeId) -> String {
    doc.element(id).map(|e| e.name.local_name.to_string()).unwrap_or_default()
}

/// The element children of `id` (text, comments and processing instructions skipped).
pub fn element_children(doc: &Document<'_>, id: NodeId) -> Vec<NodeId> {
    doc.children_iter(id).filter(|c| doc.element(*c).is_some()).collect()
}

/// The concatenated text and CDATA children of an element.
pub fn text(doc: &Document<'_>, id: NodeId) -> String {
    let mut s = String::new();
    for c in doc.children_iter(id) {
        if let Some(NodeKind::Text(t) | NodeKind::CData(t)) = doc.node_kind(c) {
            s.push_str(t);
        }
    }
    s
}

/// Base64 with the line breaks and spaces signers put in it.
pub(crate) fn b64(s: &str) -> Result<Vec<u8>, String> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean.as_bytes()).map_err(|e| format!("bad base64 ({e})"))
}

/// ": the signature names <subject>" from KeyInfo, to help whoever reads the failure.
fn signer_hint(doc: &Document<'_>, sig: SignatureElement) -> String {
    key_info_certificates(doc, sig)
        .first()
        .and_then(|der| Certificate::from_der(der).ok())
        .map(|c| format!(" (the signature's KeyInfo names {})", c.subject))
        .unwrap_or_default()
}
