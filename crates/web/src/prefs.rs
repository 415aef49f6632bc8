//! A visitor's preferences: the language and the large-text mode, each in a cookie set
//! by a plain link (so the switches work without JavaScript), remembered for a year.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Query};
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::account::url_encode;
use crate::i18n::{self, Lang};

/// The language cookie: `ko` or `en`.
pub const LANG_COOKIE: &str = "lang";
/// The text-size cookie: `large` or `normal`.
pub const TEXT_COOKIE: &str = "text";
/// A year, in seconds.
const REMEMBER_S: u32 = 365 * 24 * 3600;
/// The longest `back` path a switch follows; anything longer goes home.
const BACK_BYTES_MAX: usize = 1024;

/// What a page is rendered with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prefs {
    pub lang: Lang,
    pub large_text: bool,
}

impl Prefs {
    pub fn from_headers(headers: &HeaderMap) -> Prefs {
        let lang_cookie = cookie(headers, LANG_COOKIE);
        let accept = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        Prefs {
            lang: i18n::choose(lang_cookie, accept),
            large_text: cookie(headers, TEXT_COOKIE) == Some("large"),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Prefs {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Prefs, Infallible> {
        Ok(Prefs::from_headers(&parts.headers))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (the first one).
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// `back` if it is a path on this site to send a visitor back to, else `/`.
///
/// Only an absolute path of our own is followed: `//host` and `/\host` (which browsers
/// read as another host), any scheme (`https:`, `javascript:`), relative paths, control
/// characters and overlong values all go home instead, so the switches cannot be used
/// to send someone elsewhere (an open redirect).
pub fn safe_back(back: Option<&str>) -> &str {
    let Some(back) = back else { return "/" };
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && back.len() <= BACK_BYTES_MAX
        && back
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'<' && b != b'>');
    if ok { back } else { "/" }
}

#[derive(Debug, Deserialize)]
pub struct LangSwitch {
    to: Option<String>,
    back: Option<String>,
}

/// `GET /lang?to=en&back=/status`: remembers the language and goes back.
pub async fn switch_lang(
    query: Result<Query<LangSwitch>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return redirect("/", None);
    };
    let back = safe_back(q.back.as_deref());
    match q.to.as_deref().and_then(Lang::parse) {
        Some(lang) => redirect(back, Some(remember(LANG_COOKIE, lang.code()))),
        None => redirect(back, None),
    }
}

#[derive(Debug, Deserialize)]
pub struct TextSwitch {
    size: Option<String>,
    back: Option<String>,
}

/// `GET /text?size=large&back=/status`: remembers the text size and goes back.
pub async fn switch_text(
    query: Result<Query<TextSwitch>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return redirect("/", None);
    };
    let back = safe_back(q.back.as_deref());
    match q.size.as_deref() {
        Some(size @ ("large" | "normal")) => redirect(back, Some(remember(TEXT_COOKIE, size))),
        _ => redirect(back, None),
    }
}

/// A cookie kept a year, sent only to this site's own pages. HttpOnly: no script needs
/// it (the server renders the choice).
fn remember(name: &str, value: &str) -> String {
    format!("{name}={value}; Max-Age={REMEMBER_S}; Path=/; SameSite=Strict; HttpOnly")
}

/// 303 to `to` (already checked by [`safe_back`]), setting `cookie` if given.
fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/")),
    );
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        headers.insert(SET_COOKIE, v);
    }
    response
}

/// The link that switches to `lang` and comes back to `here`.
pub fn lang_link(lang: Lang, here: &str) -> String {
    format!("/lang?to={}&back={}", lang.code(), url_encode(here))
}

/// The link that turns large text on or off and comes back to `here`.
pub fn text_link(large: bool, here: &str) -> String {
    let size = if large { "large" } else { "normal" };
    format!("/text?size={size}&back={}", url_encode(here))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(back: &str, expected: &str) {
        assert_eq!(safe_back(Some(back)), expected, "{back:?}");
    }

    #[test]
    fn switches_go_back_only_to_our_own_paths() {
        check("/status", "/status");
        check("/", "/");
        check("/status?x=1", "/status?x=1");
        check("//evil.example/", "/");
        check("/\\evil.example/", "/");
        check("/\\/evil.example/", "/");
        check("https://evil.example/", "/");
        check("javascript:alert(1)", "/");
        check("status", "/");
        check("", "/");
        check("/sta tus", "/");
        check("/status\r\nSet-Cookie: x=1", "/");
        check("/\t/evil.example", "/");
        check(&format!("/{}", "a".repeat(2000)), "/");
        assert_eq!(safe_back(None), "/");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; lang=en; text=large"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, "text"), Some("large"));
        assert_eq!(cookie(&h, "missing"), None);
        h.append(COOKIE, HeaderValue::from_static("other=2"));
        assert_eq!(cookie(&h, "other"), Some("2"));
        let p = Prefs::from_headers(&h);
        assert_eq!(
            p,
            Prefs {
                lang: Lang::En,
                large_text: true
            }
        );
    }

    #[test]
    fn links_encode_the_way_back() {
        assert_eq!(lang_link(Lang::En, "/status"), "/lang?to=en&back=/status");
        assert_eq!(
            text_link(true, "/a?b=c&d"),
            "/text?size=large&back=/a%3Fb%3Dc%26d"
        );
    }
}
