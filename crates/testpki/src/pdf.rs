//! Minimal PDFs and PAdES signatures for tests: a one-page document, signatures added as
//! incremental updates (as every signing tool does), and arbitrary later updates to build
//! the attacks (incremental saving, shadow objects) the verifier must refuse.
//!
//! Object numbers are fixed: 1 catalog, 2 page tree, 3 page, 4 content stream, 5 font.
//! Each signature adds a signature dictionary and a widget annotation, and redefines the
//! catalog (/AcroForm) and the page (/Annots).

use chrono::{DateTime, Utc};

use crate::ca::Leaf;
use crate::cms::{SignOptions, Signer, sign};

/// How to sign a PDF.
#[derive(Debug, Clone)]
pub struct PdfSignOptions {
    /// `/SubFilter`: `ETSI.CAdES.detached` (default), `adbe.pkcs7.detached`, or anything
    /// else to build refused signatures (e.g. `adbe.x509.rsa_sha1`).
    pub sub_filter: String,
    /// Bytes reserved for the CMS inside /Contents (hex-encoded, so twice as many digits).
    pub reserved: usize,
    /// The CMS options (digest, signed attributes, certificates…).
    pub cms: SignOptions,
    /// Sign the byte ranges as the CMS *encapsulated* content instead of detached (the
    /// pyHanko `pdf-sig-with-econtent` defect).
    pub encapsulate: bool,
    /// `/M` of the signature dictionary.
    pub time: Option<DateTime<Utc>>,
}

impl Default for PdfSignOptions {
    fn default() -> Self {
        PdfSignOptions {
            sub_filter: "ETSI.CAdES.detached".to_owned(),
            reserved: 16 * 1024,
            cms: SignOptions::default(),
            encapsulate: false,
            time: None,
        }
    }
}

/// The page content stream showing `text` (ASCII).
pub fn page_content(text: &str) -> Vec<u8> {
    let escaped: String = text.chars().filter(|c| c.is_ascii() && !matches!(c, '(' | ')' | '\\')).collect();
    format!("BT /F1 18 Tf 72 760 Td ({escaped}) Tj ET").into_bytes()
}

/// A one-page PDF 1.7 without signatures, whose page shows `text`. `padding` extra bytes
/// are appended to the content stream as a PDF comment (to build large files).
pub fn minimal_pdf(text: &str, padding: usize) -> Vec<u8> {
    let mut content = page_content(text);
    if padding > 0 {
        content.extend_from_slice(b"\n%");
        content.extend(std::iter::repeat_n(b'x', padding));
        content.push(b'\n');
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        page_dict(&[]),
        stream(&content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push((i as u32 + 1, out.len()));
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for (_, off) in &offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

fn page_dict(annots: &[u32]) -> Vec<u8> {
    let mut d = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >>".to_vec();
    if !annots.is_empty() {
        d.extend_from_slice(format!(" /Annots [{}]", refs(annots)).as_bytes());
    }
    d.extend_from_slice(b" >>");
    d
}

fn refs(nums: &[u32]) -> String {
    nums.iter().map(|n| format!("{n} 0 R")).collect::<Vec<_>>().join(" ")
}

/// A stream object body.
pub fn stream(data: &[u8]) -> Vec<u8> {
    let mut s = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
    s.extend_from_slice(data);
    s.extend_from_slice(b"\nendstream");
    s
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The offset of the last cross-reference section (`startxref` value).
fn last_startxref(pdf: &[u8]) -> usize {
    let at = rfind(pdf, b"startxref").expect("a PDF made by minimal_pdf");
    let digits: String = pdf[at + 9..].iter().skip_while(|c| c.is_ascii_whitespace()).take_while(|c| c.is_ascii_digit()).map(|c| char::from(*c)).collect();
    digits.parse().expect("startxref offset")
}

/// Highest object number defined in the file.
fn max_object(pdf: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices(" 0 obj")
        .filter_map(|(i, _)| {
            let head = &text[..i];
            let start = head.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |p| p + 1);
            head[start..].parse::<u32>().ok()
        })
        .max()
        .unwrap_or(0)
}

/// Object numbers of the signature widgets already in the file (latest revision wins, but
/// widgets are never removed by these helpers).
fn widgets(pdf: &[u8]) -> Vec<u32> {
    let text = String::from_utf8_lossy(pdf);
    let mut out: Vec<u32> = text
        .match_indices(" 0 obj\n<< /Type /Annot /Subtype /Widget /FT /Sig")
        .filter_map(|(i, _)| {
            let head = &text[..i];
            let start = head.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |p| p + 1);
            head[start..].parse::<u32>().ok()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Appends an incremental update that (re)defines `objects` (number, body), with a classic
/// xref section and a trailer pointing back at the previous one.
pub fn append_update(pdf: &[u8], objects: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let prev = last_startxref(pdf);
    let size = objects.iter().map(|(n, _)| *n).max().unwrap_or(0).max(max_object(pdf)) + 1;
    let mut out = pdf.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets = Vec::new();
    for (num, body) in objects {
        offsets.push((*num, out.len()));
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n");
    for (num, off) in &offsets {
        out.extend_from_slice(format!("{num} 1\n{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {size} /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    out
}

/// Adds a signature by `leaf` to `pdf` (made by [`minimal_pdf`], possibly already signed)
/// in a new incremental update whose ByteRange covers the whole resulting file.
pub fn sign_pdf(pdf: &[u8], leaf: &Leaf, opts: &PdfSignOptions) -> Vec<u8> {
    let sig_num = max_object(pdf) + 1;
    let widget_num = sig_num + 1;
    let mut annots = widgets(pdf);
    annots.push(widget_num);
    let placeholder = "0".repeat(opts.reserved * 2);
    let time = opts.time.unwrap_or_else(Utc::now).format("D:%Y%m%d%H%M%S+00'00'");
    // ByteRange numbers are written space-padded to a fixed width and filled in afterwards.
    let byte_range_slot = format!("[0 {:10} {:10} {:10}]", 0, 0, 0);
    let sig_dict = format!(
        "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /{} /ByteRange {byte_range_slot} /Contents <{placeholder}> /M ({time}) >>",
        opts.sub_filter
    );
    let widget = format!(
        "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Firma{widget_num}) /V {sig_num} 0 R /P 3 0 R /Rect [0 0 0 0] /F 132 >>"
    );
    let catalog = format!("<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [{}] /SigFlags 3 >> >>", refs(&annots));
    let mut out = append_update(
        pdf,
        &[
            (1, catalog.into_bytes()),
            (3, page_dict(&annots)),
            (sig_num, sig_dict.into_bytes()),
            (widget_num, widget.into_bytes()),
        ],
    );
    let sig_at = rfind(&out, format!("{sig_num} 0 obj").as_bytes()).expect("signature object");
    let a = sig_at + find(&out[sig_at..], b"/Contents <").expect("/Contents") + "/Contents ".len();
    let b = a + placeholder.len() + 2;
    let c = out.len() - b;
    let br_at = sig_at + find(&out[sig_at..], byte_range_slot.as_bytes()).expect("ByteRange slot");
    let br = format!("[0 {a:10} {b:10} {c:10}]");
    out[br_at..br_at + br.len()].copy_from_slice(br.as_bytes());

    let signed: Vec<u8> = [&out[..a], &out[b..]].concat();
    let cms = if opts.encapsulate {
        sign(&signed, true, &[Signer::new(leaf, opts.cms.clone())])
    } else {
        sign(&signed, false, &[Signer::new(leaf, opts.cms.clone())])
    };
    let hex: String = cms.iter().map(|x| format!("{x:02x}")).collect();
    assert!(hex.len() <= placeholder.len(), "CMS of {} bytes does not fit the reserved /Contents", cms.len());
    out[a + 1..a + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    out
}

/// Replaces the byte range of the last signature with `range` (same width), to build
/// ByteRange attacks; the /Contents stays as signed.
pub fn set_last_byte_range(pdf: &mut [u8], range: [usize; 4]) {
    let at = rfind(pdf, b"/ByteRange [").expect("a signed PDF") + "/ByteRange ".len();
    let end = at + find(&pdf[at..], b"]").expect("ByteRange end") + 1;
    let text = format!("[{} {} {} {}]", range[0], range[1], range[2], range[3]);
    assert!(text.len() <= end - at, "the new ByteRange does not fit");
    let padded = format!("{text:width$}", width = end - at);
    pdf[at..end].copy_from_slice(padded.as_bytes());
}
