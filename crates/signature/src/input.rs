//! Container encodings of CMS files: binary DER/BER, base64 with or without RFC 1421
//! armour (Delib. CNIPA 45/2009 art. 21 c.3 allows all of them).

use base64::Engine as _;

/// How the bytes were wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapping {
    Binary,
    Base64,
    Pem,
}

/// Largest input we decode from base64 (the decoded copy doubles memory use).
const MAX_BASE64: usize = 512 * 1024 * 1024;

/// Returns the binary CMS inside `input` and how it was wrapped, or `None` if `input` is
/// neither binary ASN.1 nor base64/PEM of it.
pub fn unwrap_cms(input: &[u8]) -> Option<(std::borrow::Cow<'_, [u8]>, Wrapping)> {
    if input.first() == Some(&0x30) {
        return Some((std::borrow::Cow::Borrowed(input), Wrapping::Binary));
    }
    if input.len() > MAX_BASE64 {
        return None;
    }
    let text = std::str::from_utf8(input).ok()?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    let (body, wrapping) = if let Some(rest) = trimmed.strip_prefix("-----BEGIN ") {
        let header_end = rest.find("-----")?;
        let after = rest.get(header_end + 5..)?;
        let end = after.find("-----END ")?;
        (after.get(..end)?, Wrapping::Pem)
    } else {
        (trimmed, Wrapping::Base64)
    };
    // Check the alphabet before copying: a large text or binary file fails at its first
    // non-base64 byte instead of being copied whole.
    if !body.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_whitespace() || matches!(b, b'+' | b'/' | b'=')) {
        return None;
    }
    let clean: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.is_empty() {
        return None;
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(clean.iter().filter(|b| **b != b'=').copied().collect::<Vec<u8>>()))
        .ok()?;
    (der.first() == Some(&0x30)).then_some((std::borrow::Cow::Owned(der), wrapping))
}
