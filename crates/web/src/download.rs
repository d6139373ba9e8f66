//! Every response that carries stored bytes (a registration's documents, raw messages, the
//! register's exports) is built here, so that what a citizen sent can never run as our page.
//!
//! A document keeps the sender's media type only when a browser cannot run script from it
//! (PDF and raster images); anything else (`.html`, `.js`, `.svg`, …) is
//! `application/octet-stream`, and every download is `attachment`, so it is saved, never
//! rendered from our origin, where the CSP's `script-src 'self'` would admit it. Every download is also
//! sandboxed (`Content-Security-Policy: sandbox`: no script, a unique origin even if a
//! browser renders it) and not embeddable by other sites (`Cross-Origin-Resource-Policy`).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The types kept as the sender gave them: a browser runs no script from any of them.
const SAFE_TYPES: &[&str] = &["application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"];

/// A stored document: with the sender's type when it is on the allow-list, otherwise as
/// opaque bytes. Always `attachment`: the record page's button says "Scarica", and Chromium's
/// PDF viewer does not run in a document under `Content-Security-Policy: sandbox`, so an
/// inline PDF would be a blank page; the allow-listed type still lets the viewer the clerk
/// opens the saved file with (or a future inline preview) know what it is.
pub fn document(bytes: Vec<u8>, sender_media_type: &str, name: &str) -> Response {
    // `image/PNG; name=x` is still PNG; parameters never make a type safe.
    let essence = sender_media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match SAFE_TYPES.iter().find(|t| **t == essence) {
        Some(t) => respond(bytes, HeaderValue::from_static(t), "attachment", name),
        None => respond(bytes, HeaderValue::from_static("application/octet-stream"), "attachment", name),
    }
}

/// A file we produce (an export, a raw message) of a fixed type, always saved.
pub fn file(bytes: Vec<u8>, media_type: &'static str, name: &str) -> Response {
    respond(bytes, HeaderValue::from_static(media_type), "attachment", name)
}

fn respond(bytes: Vec<u8>, content_type: HeaderValue, disposition: &str, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, content_disposition(disposition, name)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox")),
            (header::HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        bytes,
    )
        .into_response()
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266 / 8187). The quoted fallback is
/// ASCII letters, digits, `.`, `-`, `_` only, so no quote, `;`, CR or LF from a citizen's
/// file name can end the header or add a parameter; the UTF-8 name is percent-encoded.
pub fn content_disposition(disposition: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!("{disposition}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_types_that_cannot_script_keep_their_type() {
        for (sent, ty, disp) in [
            ("application/pdf", "application/pdf", "attachment"),
            ("IMAGE/PNG; name=\"a.png\"", "image/png", "attachment"),
            ("image/svg+xml", "application/octet-stream", "attachment"),
            ("text/html; charset=utf-8", "application/octet-stream", "attachment"),
            ("application/javascript", "application/octet-stream", "attachment"),
            ("", "application/octet-stream", "attachment"),
        ] {
            let res = document(b"x".to_vec(), sent, "a");
            assert_eq!(res.headers()[header::CONTENT_TYPE], ty, "{sent}");
            assert!(res.headers()[header::CONTENT_DISPOSITION].to_str().unwrap().starts_with(disp), "{sent}");
            assert_eq!(res.headers()[header::CONTENT_SECURITY_POLICY], "sandbox");
        }
    }

    #[test]
    fn a_file_name_cannot_inject_header_parameters() {
        let v = content_disposition("attachment", "a\";\r\nSet-Cookie: x=1; filename=\"evil.html");
        let s = v.to_str().unwrap();
        assert!(!s.contains('\r') && !s.contains('\n'));
        assert_eq!(s.matches('"').count(), 2, "{s}");
        assert!(s.starts_with("attachment; filename=\"a____Set-Cookie__x_1__filename__evil.html\"; filename*=UTF-8''a%22%3B%0D%0A"), "{s}");
    }
}
