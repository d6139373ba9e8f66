//! Where a person goes when a page needs a session they do not have, and where they come
//! back to after logging in.
//!
//! - A page asked for without a session leads to the login form; the page's address (a local
//!   path, checked by [`local_path`]) waits in a short-lived cookie scoped to `/accedi`, and
//!   login ends there instead of on the home page. The redirect itself stays `/accedi`.
//! - An htmx request (the search box's results) cannot follow a redirect to the login page
//!   without showing that page inside the results: it gets `HX-Redirect`, and htmx sends
//!   the whole browser there.
//! - The session cookie is `SameSite=Strict`, so a link followed from another site (the
//!   webmail where the receipt of a registration arrived) reaches us without it, even when
//!   the person is logged in. Such a navigation gets a page that opens the same address
//!   again from our own origin (a `<meta http-equiv="refresh">`: no script), which the
//!   browser sends with the cookie; without a session that second request goes to login.

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::AppState;

/// The cookie that carries the page to return to, read by the login form's POST only.
pub const RETURN_COOKIE: &str = "sigillo_torna";
const RETURN_FOR_SECONDS: i64 = 3600;
/// Addresses longer than this are not kept (the search text is limited to 200 characters).
const MAX_PATH: usize = 2048;

/// `path` when it is a path of this site: it starts with one `/`, no `//` or `/\` (which
/// browsers read as another host), no scheme, no control characters or spaces, not the login
/// page itself.
pub fn local_path(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && path.len() <= MAX_PATH
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
        && !path.starts_with("/accedi")
        && !path.starts_with("/esci");
    ok.then_some(path)
}

/// Where login ends: the page of the return cookie when it is local, else the home page.
pub fn target(headers: &HeaderMap) -> String {
    crate::auth::cookie(headers, RETURN_COOKIE)
        .and_then(|v| percent_decode_str(v).decode_utf8().ok())
        .and_then(|p| local_path(&p).map(str::to_owned))
        .unwrap_or_else(|| "/".to_owned())
}

fn cookie_header(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.config().secure_cookies { "; Secure" } else { "" };
    // Lax: the cookie is set on a redirect that may follow a link from another site.
    HeaderValue::from_str(&format!("{RETURN_COOKIE}={value}; Path=/accedi; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("sigillo_torna=; Path=/accedi; Max-Age=0"))
}

/// Removes the return cookie (after a login).
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    cookie_header(state, "", 0)
}

#[derive(Template)]
#[template(path = "reopen.html")]
struct ReopenPage<'a> {
    path: &'a str,
}

/// The answer to a request of a staff route without a valid session. `no_cookie`: the
/// request carried no session cookie at all (a cross-site navigation may be why).
pub fn without_session(state: &AppState, req: &Request, no_cookie: bool) -> Response {
    let headers = req.headers();
    let get = req.method() == axum::http::Method::GET;
    let asked = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let asked = if get { local_path(asked) } else { None };
    let fetch = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(path) = asked
        && no_cookie
        && fetch("sec-fetch-site") == "cross-site"
        && fetch("sec-fetch-mode") == "navigate"
        && let Ok(html) = (ReopenPage { path }).render()
    {
        return (StatusCode::OK, axum::response::Html(html)).into_response();
    }
    let mut res = if headers.contains_key("hx-request") {
        let mut res = StatusCode::UNAUTHORIZED.into_response();
        res.headers_mut().insert("hx-redirect", HeaderValue::from_static("/accedi"));
        res
    } else {
        Redirect::to("/accedi").into_response()
    };
    // For htmx, the page the person is on (its address bar), else the page asked for.
    let back = if headers.contains_key("hx-request") {
        headers
            .get("hx-current-url")
            .and_then(|v| v.to_str().ok())
            .and_then(|u| u.split_once("://").map(|(_, rest)| rest))
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
            .filter(|p| local_path(p).is_some())
            .or_else(|| asked.map(str::to_owned))
    } else {
        asked.map(str::to_owned)
    };
    if let Some(path) = back.filter(|p| p != "/") {
        let value = utf8_percent_encode(&path, NON_ALPHANUMERIC).to_string();
        res.headers_mut().append(header::SET_COOKIE, cookie_header(state, &value, RETURN_FOR_SECONDS));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        for ok in ["/", "/registrazioni/12", "/registrazioni?q=permesso+di+costruire&pagina=2", "/scartati?filtro=da-decidere"] {
            assert_eq!(local_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "registrazioni",
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "/a\r\nSet-Cookie: x=1",
            "/a b",
            "/accedi",
            "/accedi?x=1",
            "/esci",
            "\t/registrazioni",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(3000))), None);
    }

    #[test]
    fn the_target_is_read_from_the_cookie_and_checked() {
        let mut h = HeaderMap::new();
        assert_eq!(target(&h), "/");
        h.insert(header::COOKIE, HeaderValue::from_static("x=1; sigillo_torna=%2Fregistrazioni%2F5%3Fa%3D1"));
        assert_eq!(target(&h), "/registrazioni/5?a=1");
        h.insert(header::COOKIE, HeaderValue::from_static("sigillo_torna=%2F%2Fevil.example"));
        assert_eq!(target(&h), "/");
        h.insert(header::COOKIE, HeaderValue::from_static("sigillo_torna=https%3A%2F%2Fevil.example"));
        assert_eq!(target(&h), "/");
    }
}
