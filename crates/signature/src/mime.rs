//! Just enough MIME to split an M7M (multipart/mixed with a p7m and a timestamp part).

use base64::Engine as _;

pub struct Part {
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Splits header block and body at the first empty line (CRLF or LF).
fn split_headers(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let (pos, len) = match (crlf, lf) {
        (Some(a), Some(b)) => if a.0 <= b.0 { a } else { b },
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    Some((bytes.get(..pos)?, bytes.get(pos + len..)?))
}

/// Header value (unfolded) by case-insensitive name.
fn header(block: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(block);
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = unfolded.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            unfolded.push(line.to_owned());
        }
    }
    unfolded.into_iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

fn boundary(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("boundary=")?;
    let raw = content_type.get(at + 9..)?;
    let value = if let Some(q) = raw.strip_prefix('"') { q.split('"').next()? } else { raw.split([';', ' ']).next()? };
    (!value.is_empty()).then(|| value.to_owned())
}

/// The parts of a multipart message (one level).
pub fn multipart(bytes: &[u8]) -> Option<Vec<Part>> {
    let (headers, body) = split_headers(bytes)?;
    let b = boundary(&header(headers, "content-type")?)?;
    let delim = format!("--{b}");
    let delim = delim.as_bytes();
    let mut positions = Vec::new();
    let mut i = 0;
    while let Some(p) = body.get(i..).and_then(|rest| rest.windows(delim.len()).position(|w| w == delim)) {
        let at = i + p;
        // A delimiter must start a line.
        if at == 0 || body.get(at - 1) == Some(&b'\n') {
            positions.push(at);
        }
        i = at + delim.len();
    }
    let mut parts = Vec::new();
    for pair in positions.windows(2) {
        let [start, end] = pair else { continue };
        let mut chunk = body.get(start + delim.len()..*end)?;
        // Skip the rest of the delimiter line, drop the CRLF that belongs to the next one.
        let nl = chunk.iter().position(|c| *c == b'\n')?;
        chunk = chunk.get(nl + 1..)?;
        let chunk = chunk.strip_suffix(b"\n").unwrap_or(chunk);
        let chunk = chunk.strip_suffix(b"\r").unwrap_or(chunk);
        let (h, data) = split_headers(chunk)?;
        let content_type = header(h, "content-type").unwrap_or_default();
        let cte = header(h, "content-transfer-encoding").unwrap_or_default().to_ascii_lowercase();
        let body = if cte == "base64" {
            let clean: Vec<u8> = data.iter().filter(|c| !c.is_ascii_whitespace()).copied().collect();
            base64::engine::general_purpose::STANDARD.decode(clean).ok()?
        } else {
            data.to_vec()
        };
        parts.push(Part { content_type, body });
    }
    Some(parts)
}
