//! PAdES / PDF signatures. Security decisions are taken on the raw bytes:
//! * every dictionary with a `/ByteRange` is a signature and is verified;
//! * strict ByteRange: `[0 a b c]`, `a < b`, `b + c` within the file, and the gap `[a, b)`
//!   is exactly this dictionary's `/Contents` hex string;
//! * the last signature reaches the end of the file (only end-of-line bytes may follow);
//! * after a signature, incremental updates may only add signatures, DSS/VRI data and
//!   document timestamps: changed pages, content, appearance streams or a new catalog
//!   make the signature TOTAL_FAILED (this defeats ISA, shadow and sneaky-annotation
//!   attacks without a full diff engine);
//! * only CMS SubFilters (`adbe.pkcs7.detached`, `ETSI.CAdES.detached`, `adbe.pkcs7.sha1`,
//!   `ETSI.RFC3161`) are accepted; a detached SubFilter with encapsulated content fails.

mod object;

use chrono::{DateTime, Utc};

use crate::cert::Certificate;
use crate::crypto::{DigestAlg, Hasher};
use crate::report::{SignerReport, SignerRole, SubIndication};
use crate::signed_data::SignedData;
use crate::signer::{verify_signer, verify_timestamp};
use crate::trust::TrustStore;
use crate::verdict::{self, Context};
use object::{Def, Obj, Parser, definitions, find};

/// Bound on signature dictionaries examined per file.
const MAX_SIGNATURES: usize = 64;

pub struct PdfResult {
    pub signers: Vec<SignerReport>,
    pub notes: Vec<(SubIndication, String)>,
}

pub fn is_pdf(bytes: &[u8]) -> bool {
    bytes.get(..bytes.len().min(1024)).is_some_and(|h| h.windows(5).any(|w| w == b"%PDF-"))
}

pub fn has_signatures(bytes: &[u8]) -> bool {
    find(bytes, b"/ByteRange", 0).is_some()
}

/// Object definitions in file order, indexed by object number.
struct Defs {
    list: Vec<Def>,
    by_num: std::collections::HashMap<u64, Vec<usize>>,
}

impl Defs {
    fn new(list: Vec<Def>) -> Defs {
        let mut by_num: std::collections::HashMap<u64, Vec<usize>> = std::collections::HashMap::new();
        for (i, d) in list.iter().enumerate() {
            by_num.entry(d.num).or_default().push(i);
        }
        Defs { list, by_num }
    }
}

/// A signature dictionary found in the file.
struct SigDict {
    def: Def,
    dict: Obj,
}

/// Hashes the two ByteRange slices without concatenating them (large files).
fn range_digest(bytes: &[u8], r: &[(usize, usize)], alg: DigestAlg) -> Vec<u8> {
    let mut h = Hasher::new(alg);
    for (off, len) in r {
        if let Some(s) = bytes.get(*off..off.saturating_add(*len)) {
            h.update(s);
        }
    }
    h.finish()
}

/// Offsets just after each `%%EOF` marker and its end-of-line.
fn revision_ends(b: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = find(b, b"%%EOF", from) {
        let mut end = i + 5;
        if b.get(end) == Some(&b'\r') {
            end += 1;
        }
        if b.get(end) == Some(&b'\n') {
            end += 1;
        }
        out.push(end);
        from = i + 5;
    }
    out
}

pub fn verify_pdf(bytes: &[u8], trust: &TrustStore, now: DateTime<Utc>, _depth: usize) -> PdfResult {
    let mut out = PdfResult { signers: Vec::new(), notes: Vec::new() };
    let defs = Defs::new(definitions(bytes));
    let sigs = signature_dicts(bytes, &defs.list);
    if sigs.len() > MAX_SIGNATURES {
        out.notes.push((SubIndication::FormatFailure, "too many signature dictionaries".into()));
        return out;
    }
    if sigs.is_empty() {
        if has_signatures(bytes) {
            out.notes.push((SubIndication::FormatFailure, "a /ByteRange that is not in a readable signature dictionary".into()));
        }
        return out;
    }
    // The furthest end any well-formed signature covers: the last signature must reach EOF.
    let mut covered_ends = Vec::new();
    for (index, sig) in sigs.iter().enumerate() {
        let (reports, end) = verify_one(bytes, &defs, sig, index, trust, now);
        if let Some(e) = end {
            covered_ends.push(e);
        }
        out.signers.extend(reports.0);
        out.notes.extend(reports.1);
    }
    if let Some(last) = covered_ends.iter().max() {
        let tail = bytes.get(*last..).unwrap_or_default();
        if !tail.iter().all(|c| *c == b'\r' || *c == b'\n') {
            // Checked per signature in `verify_one` (modifications after signing); a tail
            // that is not even a parseable update is reported here.
            if !tail.windows(5).any(|w| w == b"%%EOF") {
                out.notes.push((SubIndication::FormatFailure, "bytes after the last signed revision are not covered".into()));
            }
        }
    }
    out
}

/// Every dictionary holding a /ByteRange, in file order.
fn signature_dicts(bytes: &[u8], defs: &[Def]) -> Vec<SigDict> {
    let mut out = Vec::new();
    for (i, def) in defs.iter().enumerate() {
        let limit = defs.get(i + 1).map_or(bytes.len(), |d| d.start);
        let region = bytes.get(def.body..limit).unwrap_or_default();
        if find(region, b"/ByteRange", 0).is_none() {
            continue;
        }
        let Ok(value) = Parser::new(bytes, def.body).value() else {
            out.push(SigDict { def: def.clone(), dict: Obj::Null });
            continue;
        };
        let mut found = Vec::new();
        collect_sig_dicts(&value, &mut found, 0);
        for dict in found {
            out.push(SigDict { def: def.clone(), dict });
        }
        if out.len() > MAX_SIGNATURES {
            break;
        }
    }
    out
}

fn collect_sig_dicts(v: &Obj, out: &mut Vec<Obj>, depth: usize) {
    if depth > 8 {
        return;
    }
    if v.get(b"ByteRange").is_some() {
        out.push(v.clone());
        return;
    }
    match v {
        Obj::Dict(d) | Obj::Stream { dict: d, .. } => d.iter().for_each(|(_, x)| collect_sig_dicts(x, out, depth + 1)),
        Obj::Array(a) => a.iter().for_each(|x| collect_sig_dicts(x, out, depth + 1)),
        _ => {}
    }
}

type Reports = (Vec<SignerReport>, Vec<(SubIndication, String)>);

fn format_failure(index: usize, detail: String) -> SignerReport {
    SignerReport::bare(SignerRole::Signer, index, crate::Indication::TotalFailed, Some(SubIndication::FormatFailure), detail)
}

/// Verifies one signature dictionary; returns its reports and the end of the bytes it
/// covers (when the ByteRange is well formed).
fn verify_one(
    bytes: &[u8],
    defs: &Defs,
    sig: &SigDict,
    index: usize,
    trust: &TrustStore,
    now: DateTime<Utc>,
) -> (Reports, Option<usize>) {
    let n = index + 1;
    let fail = |d: String| ((vec![format_failure(index, format!("PDF signature {n}: {d}"))], Vec::new()), None);
    let d = &sig.dict;
    if d.dict().is_none() {
        return fail("unreadable signature dictionary".into());
    }
    // ByteRange: exactly four non-negative integers.
    let Some(Obj::Array(br)) = d.get(b"ByteRange") else { return fail("/ByteRange is not an array".into()) };
    let nums: Vec<usize> = br.iter().filter_map(|x| x.uint().and_then(|v| usize::try_from(v).ok())).collect();
    let [start, a, b, c] = nums.as_slice() else {
        return fail("/ByteRange must hold exactly four non-negative integers".into());
    };
    if nums.len() != br.len() {
        return fail("/ByteRange holds non-integers".into());
    }
    let (start, a, b, c) = (*start, *a, *b, *c);
    let Some(end) = b.checked_add(c) else { return fail("/ByteRange overflows".into()) };
    if start != 0 {
        return fail("/ByteRange does not start at 0".into());
    }
    if a >= b || end > bytes.len() {
        return fail(format!("/ByteRange [0 {a} {b} {c}] points outside the file ({} bytes)", bytes.len()));
    }
    let Some(Obj::Hex { bytes: contents, span }) = d.get(b"Contents") else {
        return fail("/Contents is not a hex string".into());
    };
    if span.0.start != a || span.0.end != b {
        return fail(format!(
            "the unsigned gap [{a}, {b}) is not exactly this signature's /Contents [{}, {})",
            span.0.start, span.0.end
        ));
    }
    // The signature dictionary itself must lie inside the signed bytes.
    if sig.def.start >= end {
        return fail("the signature dictionary is outside the bytes it signs".into());
    }
    let ranges = [(0usize, a), (b, c)];
    let digest_of = |alg: DigestAlg| range_digest(bytes, &ranges, alg);

    let sub_filter = d.get(b"SubFilter").and_then(Obj::name).unwrap_or_default().to_vec();
    let is_doc_ts = sub_filter == b"ETSI.RFC3161" || d.is_name(b"Type", b"DocTimeStamp");

    let mut reports: Vec<SignerReport> = Vec::new();
    let mut notes = Vec::new();
    if is_doc_ts {
        let t = verify_timestamp(contents, &digest_of, 1);
        if let Some(f) = &t.failure {
            return fail(format!("document timestamp: {}", f.detail));
        }
        if !t.intact() {
            return fail("document timestamp signature does not verify".into());
        }
    } else {
        let kind = match sub_filter.as_slice() {
            b"adbe.pkcs7.detached" | b"ETSI.CAdES.detached" => Kind::Detached,
            b"adbe.pkcs7.sha1" => Kind::Sha1,
            b"" => return fail("signature dictionary without /SubFilter".into()),
            other => {
                return fail(format!("SubFilter {} is not a CMS signature and is not accepted", String::from_utf8_lossy(other)));
            }
        };
        // /Contents is padded (normally with zeros) up to the reserved size; the padding is
        // in the unsigned gap anyway, so only the first TLV counts.
        let cms = crate::ber::read(contents).map(|(t, _)| t.raw).unwrap_or(contents);
        let sd = match SignedData::from_content_info(cms) {
            Ok(sd) => sd,
            Err(e) => return fail(format!("/Contents is not a CMS SignedData: {e}")),
        };
        if sd.signers.is_empty() {
            return fail("CMS without signers".into());
        }
        let pool: Vec<Certificate> = sd.certificates.clone();
        let ctx = Context { trust, now, pool: &pool };
        for si in &sd.signers {
            let check = match (&kind, &sd.econtent) {
                (Kind::Detached, Some(_)) => {
                    return fail("a detached SubFilter with encapsulated content (the signature does not cover the PDF)".into());
                }
                (Kind::Detached, None) => verify_signer(si, &sd.certificates, &digest_of, Some(&sd.econtent_type), 0),
                (Kind::Sha1, Some(ec)) => {
                    if !ec.eq_bytes(&digest_of(DigestAlg::Sha1)) {
                        return fail("adbe.pkcs7.sha1: the encapsulated digest does not match the signed bytes".into());
                    }
                    let ec = ec.clone();
                    verify_signer(si, &sd.certificates, &|alg| ec.hash(alg), Some(&sd.econtent_type), 0)
                }
                (Kind::Sha1, None) => return fail("adbe.pkcs7.sha1 without encapsulated digest".into()),
            };
            let mut r = verdict::judge(&check, SignerRole::Signer, index, &ctx);
            if kind == Kind::Sha1 {
                // The SHA-1 SubFilter binds the document through SHA-1 whatever the CMS digest.
                for rep in r.iter_mut().filter(|r| r.verdict == crate::Indication::TotalPassed) {
                    rep.verdict = crate::Indication::Indeterminate;
                    rep.subindication = Some(SubIndication::CryptoConstraintsFailureNoPoe);
                    rep.detail = "adbe.pkcs7.sha1 binds the document with SHA-1".into();
                }
            }
            reports.extend(r);
        }
    }

    // Incremental updates after this signature.
    if let Err(why) = updates_allowed(bytes, defs, end) {
        let detail = format!("PDF signature {n}: document modified after signing: {why}");
        if reports.is_empty() {
            return fail(format!("document modified after the document timestamp: {why}"));
        }
        for r in &mut reports {
            r.intact = false;
            r.verdict = crate::Indication::TotalFailed;
            r.subindication = Some(SubIndication::FormatFailure);
            r.detail.clone_from(&detail);
        }
    } else if reports.is_empty() {
        notes.clear();
    }
    ((reports, notes), Some(end))
}

#[derive(PartialEq, Eq)]
enum Kind {
    Detached,
    Sha1,
}

/// Checks the bytes after `end` (the signed revision): only end-of-line bytes, or updates
/// that add signatures, DSS/VRI data or document timestamps.
fn updates_allowed(bytes: &[u8], defs: &Defs, end: usize) -> Result<(), String> {
    let tail = bytes.get(end..).unwrap_or_default();
    if tail.iter().all(|c| *c == b'\r' || *c == b'\n') {
        return Ok(());
    }
    // The signed revision must end at a revision boundary (%%EOF): otherwise the signature
    // covers only part of a revision.
    let ends = revision_ends(bytes);
    let at_boundary = ends.iter().any(|e| {
        *e == end || (end < *e && bytes.get(end..*e).is_some_and(|s| s.iter().all(|c| *c == b'\r' || *c == b'\n')))
            || bytes.get(..end).is_some_and(|s| s.ends_with(b"%%EOF"))
    });
    if !at_boundary {
        return Err("the signed bytes do not end at a %%EOF revision boundary".into());
    }
    if find(tail, b"/ObjStm", 0).is_some() {
        return Err("a later revision uses object streams, whose changes cannot be checked".into());
    }
    if defs.list.iter().filter(|d| d.start >= end).any(|d| {
        Parser::new(bytes, d.body).value().is_ok_and(|o| o.is_name(b"Type", b"XRef"))
    }) {
        return Err("a later revision uses a cross-reference stream, whose changes cannot be checked".into());
    }
    check_xref_redirects(bytes, defs, end)?;
    // The trailer must keep the same document catalog.
    let root_before = last_root(bytes.get(..end).unwrap_or_default());
    let mut from = 0;
    while let Some(i) = find(tail, b"/Root", from) {
        from = i + 5;
        let mut p = Parser::new(tail, i + 5);
        if let Ok(r @ Obj::Ref(..)) = p.value()
            && Some(&r) != root_before.as_ref()
        {
            return Err("a later revision replaces the document catalog".into());
        }
    }
    for def in defs.list.iter().filter(|d| d.start >= end) {
        let new = Parser::new(bytes, def.body).value().map_err(|e| format!("unreadable object {}: {e}", def.num))?;
        let previous = latest_before(defs, def.num, end);
        let Some(prev) = previous else {
            continue; // a new object matters only if a changed old object points to it
        };
        let old = Parser::new(bytes, prev.body).value().map_err(|e| format!("unreadable object {}: {e}", prev.num))?;
        allowed_change(bytes, defs, &old, &new).map_err(|e| format!("object {} {}: {e}", def.num, def.generation))?;
    }
    Ok(())
}

/// Classic xref sections after the signature may only point existing objects at their
/// signed definition or at new definitions in the update: redirecting an object to other
/// bytes already in the file (a hidden "shadow" object) or freeing it changes the document.
fn check_xref_redirects(bytes: &[u8], defs: &Defs, end: usize) -> Result<(), String> {
    let mut from = end;
    while let Some(i) = find(bytes, b"xref", from) {
        from = i + 4;
        // `startxref` contains `xref`; only a section keyword at a line start counts.
        if i > 0 && bytes.get(i - 1).is_some_and(|c| *c != b'\n' && *c != b'\r') {
            continue;
        }
        let text = bytes.get(i + 4..).unwrap_or_default();
        let mut lines = text.split(|c| *c == b'\n' || *c == b'\r').filter(|l| !l.iter().all(|c| object::is_ws(*c)));
        while let Some(header) = lines.next() {
            let fields: Vec<&[u8]> = header.split(|c| object::is_ws(*c)).filter(|f| !f.is_empty()).collect();
            let num = |f: &[u8]| std::str::from_utf8(f).ok().and_then(|t| t.parse::<u64>().ok());
            let (Some(first), Some(count), 2) = (fields.first().and_then(|f| num(f)), fields.get(1).and_then(|f| num(f)), fields.len())
            else {
                break; // "trailer" or anything else ends the section
            };
            for k in 0..count.min(1_000_000) {
                let Some(entry) = lines.next() else { return Err("truncated xref section".into()) };
                let e: Vec<&[u8]> = entry.split(|c| object::is_ws(*c)).filter(|f| !f.is_empty()).collect();
                let (Some(off), Some(kind)) = (e.first().and_then(|f| num(f)), e.get(2)) else {
                    return Err("malformed xref entry".into());
                };
                let obj = first.saturating_add(k);
                let signed_def = latest_before(defs, obj, end);
                let Some(signed_def) = signed_def else { continue };
                if *kind == b"f" {
                    if obj != 0 {
                        return Err(format!("a later revision deletes object {obj}"));
                    }
                    continue;
                }
                let Ok(off) = usize::try_from(off) else { return Err("xref offset too large".into()) };
                if off < end && off != signed_def.start {
                    return Err(format!("a later revision points object {obj} at other bytes of the signed revision"));
                }
            }
        }
    }
    Ok(())
}

/// The last definition of object `num` that starts before `end`.
fn latest_before(defs: &Defs, num: u64, end: usize) -> Option<&Def> {
    defs.by_num.get(&num)?.iter().rev().filter_map(|i| defs.list.get(*i)).find(|d| d.start < end)
}

fn last_root(b: &[u8]) -> Option<Obj> {
    let mut from = 0;
    let mut last = None;
    while let Some(i) = find(b, b"/Root", from) {
        from = i + 5;
        if let Ok(r @ Obj::Ref(..)) = Parser::new(b, i + 5).value() {
            last = Some(r);
        }
    }
    last
}

/// Whether an existing object may be redefined this way by a later revision.
fn allowed_change(bytes: &[u8], defs: &Defs, old: &Obj, new: &Obj) -> Result<(), String> {
    if old == new {
        return Ok(());
    }
    // Document information and XMP metadata do not render: signing tools update them.
    const INFO_KEYS: &[&[u8]] =
        &[b"Title", b"Author", b"Subject", b"Keywords", b"Creator", b"Producer", b"CreationDate", b"ModDate", b"Trapped"];
    let info_only = |o: &Obj| matches!(o, Obj::Dict(d) if d.iter().all(|(k, _)| INFO_KEYS.contains(&k.as_slice())));
    if info_only(old) && info_only(new) {
        return Ok(());
    }
    if matches!(old, Obj::Stream { .. }) && old.is_name(b"Type", b"Metadata") && new.is_name(b"Type", b"Metadata") {
        return Ok(());
    }
    match (old, new) {
        (Obj::Dict(_), Obj::Dict(_)) => {
            let allowed: &[&[u8]] = if old.is_name(b"Type", b"Catalog") {
                &[b"AcroForm", b"DSS", b"Extensions", b"Perms"]
            } else if old.is_name(b"Type", b"Page") {
                &[b"Annots"]
            } else if old.is_name(b"Type", b"Pages") {
                // iText stamps its version on the page tree root when it appends a revision.
                &[b"ITXT"]
            } else if old.is_name(b"FT", b"Sig") || (old.is_name(b"Subtype", b"Widget") && old.is_name(b"FT", b"Sig")) {
                &[b"V", b"AP", b"F", b"Lock", b"SV", b"MK"]
            } else if old.get(b"Fields").is_some() {
                &[b"Fields", b"SigFlags", b"DR", b"DA"]
            } else if old.is_name(b"Type", b"DSS") || old.is_name(b"Type", b"VRI") {
                return Ok(());
            } else {
                return Err("changes an object that is not a catalog, page, form or signature field".into());
            };
            let keys: Vec<&Vec<u8>> = old.dict().into_iter().chain(new.dict()).flatten().map(|(k, _)| k).collect();
            for k in keys {
                let changed = old.get(k) != new.get(k);
                if changed && !allowed.contains(&k.as_slice()) {
                    return Err(format!("changes /{}", String::from_utf8_lossy(k)));
                }
            }
            if old.is_name(b"Type", b"Page") {
                added_are_signature_widgets(bytes, defs, old.get(b"Annots"), new.get(b"Annots"))?;
            }
            Ok(())
        }
        (Obj::Array(o), Obj::Array(n)) => {
            if !n.starts_with(o) {
                return Err("rewrites an array instead of appending to it".into());
            }
            added_are_signature_widgets(bytes, defs, Some(old), Some(new))
        }
        _ => Err("replaces content (streams or other objects) after signing".into()),
    }
}

/// Annotations added after signing must be signature widgets (blocks Evil Annotation attacks).
fn added_are_signature_widgets(bytes: &[u8], defs: &Defs, old: Option<&Obj>, new: Option<&Obj>) -> Result<(), String> {
    let list = |o: Option<&Obj>| -> Vec<Obj> {
        match o {
            Some(Obj::Array(a)) => a.clone(),
            _ => Vec::new(),
        }
    };
    // An indirect /Annots array is checked where it is redefined.
    if matches!(new, Some(Obj::Ref(..))) {
        return Ok(());
    }
    let old = list(old);
    for item in list(new).iter().filter(|i| !old.contains(i)) {
        let Obj::Ref(num, _) = item else { return Err("adds a direct annotation".into()) };
        let def = latest_before(defs, *num, usize::MAX).ok_or("adds a missing annotation")?;
        let annot = Parser::new(bytes, def.body).value().map_err(|e| e.to_string())?;
        let is_sig_widget = annot.is_name(b"FT", b"Sig")
            || (annot.is_name(b"Subtype", b"Widget") && matches!(annot.get(b"Parent"), Some(Obj::Ref(..))));
        if !is_sig_widget {
            return Err("adds an annotation that is not a signature widget".into());
        }
    }
    Ok(())
}
