//! The static files (`web/static`: our CSS and JS, Bootstrap Italia, htmx, fonts), served so
//! that a browser downloads them once: pages name them under a version prefix,
//! `/static/v-<hash>/app.css`, where the hash covers the path and content of every file of
//! the folder; such a response may be kept a year (`immutable`). Any change of any file
//! changes every address (fonts and sprites are named relative to the stylesheets, so a
//! per-file hash would not reach them). The same files without the prefix, or under an old
//! prefix, are served too, to be revalidated (`no-cache`; `ServeDir` answers
//! `If-Modified-Since`). Text files are gzip-compressed; pages are not (they carry CSRF
//! tokens next to reflected search text, which compression would expose to BREACH).

use std::path::Path;
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};

/// The version of the static folder, computed when the first router is built. One per
/// process: every dashboard of a process serves the same `web/static`.
static VERSION: OnceLock<String> = OnceLock::new();

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Hashes the static folder once (a few MB: milliseconds at start-up).
pub fn init(dir: &Path) {
    VERSION.get_or_init(|| tree_version(dir));
}

/// The current version prefix's hash.
pub fn version() -> &'static str {
    VERSION.get().map_or("0", String::as_str)
}

/// The address of a static file for a page: `url("app.css")` is `/static/v-<hash>/app.css`.
pub fn url(path: &str) -> String {
    format!("/static/v-{}/{path}", version())
}

/// SHA-256 over the relative path, size and content of every file under `dir`, in path
/// order; the first 12 hex digits. A missing or unreadable folder hashes as empty.
pub fn tree_version(dir: &Path) -> String {
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for rel in &files {
        if let Ok(bytes) = std::fs::read(dir.join(rel)) {
            h.update(rel.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(&bytes);
        }
    }
    hex::encode(h.finalize().as_slice())[..12].to_owned()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => collect(root, &p, out),
            Ok(t) if t.is_file() => {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
            _ => {}
        }
    }
}

/// The compression of static responses: gzip for text, nothing for fonts and images (woff2
/// and PNG are compressed already).
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().compress_when(DefaultPredicate::new().and(NotForContentType::const_new("font/")))
}

/// Strips the version prefix (`/static/v-<hash>/x` is `/static/x`) and sets how long the
/// response may be cached.
pub async fn versioned(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let (req, cache) = match path.strip_prefix("/static/v-").and_then(|rest| rest.split_once('/')) {
        Some((v, tail)) => {
            let cache = if v == version() { IMMUTABLE } else { REVALIDATE };
            let pq = match req.uri().query() {
                Some(q) => format!("/static/{tail}?{q}"),
                None => format!("/static/{tail}"),
            };
            let (mut parts, body) = req.into_parts();
            let mut uri = parts.uri.into_parts();
            uri.path_and_query = pq.parse().ok();
            parts.uri = Uri::from_parts(uri).unwrap_or_else(|_| Uri::from_static("/"));
            (Request::from_parts(parts, body), cache)
        }
        None => (req, REVALIDATE),
    };
    let mut res = next.run(req).await;
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_every_file() {
        let root = std::env::temp_dir().join(format!("sigillo-assets-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        struct Dir(std::path::PathBuf);
        impl Dir {
            fn path(&self) -> &Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = Dir(root);
        std::fs::create_dir_all(dir.path().join("vendor/fonts")).unwrap();
        std::fs::write(dir.path().join("app.css"), "a{}").unwrap();
        std::fs::write(dir.path().join("vendor/fonts/f.woff2"), [1, 2, 3]).unwrap();
        let v1 = tree_version(dir.path());
        assert_eq!(v1.len(), 12);
        assert_eq!(v1, tree_version(dir.path()));
        std::fs::write(dir.path().join("vendor/fonts/f.woff2"), [1, 2, 4]).unwrap();
        let v2 = tree_version(dir.path());
        assert_ne!(v1, v2);
        std::fs::rename(dir.path().join("app.css"), dir.path().join("app2.css")).unwrap();
        assert_ne!(v2, tree_version(dir.path()));
    }
}
