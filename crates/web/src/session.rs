//! The signed-in pages' session, and their defence against requests forged by other
//! sites.
//!
//! The session is the service's own sign-in token (the same as the API's bearer token),
//! kept in an `HttpOnly; SameSite=Strict` cookie: no script reads it, no other site's
//! page sends it. On top of that every state-changing form carries a token:
//! - signed in, a synchronizer token: a keyed hash of the session token under a key
//!   made at random when the process starts (nothing stored; a restart just asks for a
//!   reload);
//! - the sign-in form (login CSRF: being signed in as someone else), a double-submit
//!   token: a random value both in a cookie and in the form, which another site can
//!   neither read nor set.
//!
//! And a POST whose `Origin` is present and not this site's is refused whatever it
//! carries.

use std::sync::Arc;

use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Uri};
use rand::RngCore;
use service::{Caller, Service};

use crate::prefs::cookie;

/// The session cookie: the service's session token.
pub const SESSION_COOKIE: &str = "maeul_session";
/// The sign-in form's double-submit cookie.
pub const CSRF_COOKIE: &str = "maeul_csrf";
/// The hidden field every state-changing form carries.
pub const CSRF_FIELD: &str = "csrf";

/// The key signed-in forms' tokens are derived under; random per process.
#[derive(Clone)]
pub struct CsrfKey(Arc<[u8; 32]>);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    pub fn random() -> CsrfKey {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        CsrfKey(Arc::new(key))
    }

    #[cfg(test)]
    pub fn from_bytes(key: [u8; 32]) -> CsrfKey {
        CsrfKey(Arc::new(key))
    }

    /// The synchronizer token of the forms of the session `session_token`.
    pub fn for_session(&self, session_token: &str) -> String {
        let mut input = b"maeul page csrf v1\0".to_vec();
        input.extend_from_slice(session_token.as_bytes());
        blake3::keyed_hash(&self.0, &input).to_hex().to_string()
    }
}

/// A fresh random token for the sign-in form's double-submit cookie (64 hex digits).
pub fn fresh_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a token from a cookie looks like one of ours (so it can be reused, and is
/// safe to write back into a form).
pub fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether the form's token is the expected one. Empty never matches; the comparison
/// takes the same time wherever the two differ (blake3 hashes compare in constant time).
pub fn tokens_match(expected: &str, given: Option<&str>) -> bool {
    let Some(given) = given else { return false };
    !expected.is_empty() && blake3::hash(expected.as_bytes()) == blake3::hash(given.as_bytes())
}

/// Whether the request came over TLS: to the server itself (`https` in the URI) or to a
/// proxy in front of it that says so (`X-Forwarded-Proto: https`).
pub fn came_over_tls(headers: &HeaderMap, uri: &Uri) -> bool {
    uri.scheme_str() == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Whether a POST may come from where it says it comes from: no `Origin` header (an
/// old browser; the form token still decides), or exactly this site's origin (the
/// scheme as [`came_over_tls`] says, and the `Host`). `Origin: null` (a sandboxed page,
/// a `data:` URL) and any other site are refused.
pub fn origin_allowed(headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return false;
    };
    let scheme = if came_over_tls(headers, uri) {
        "https"
    } else {
        "http"
    };
    let Some(rest) = origin
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
    else {
        return false;
    };
    rest.eq_ignore_ascii_case(host)
}

impl crate::Pages {
    /// Whether a signed-in form may act: sent from this site ([`origin_allowed`]) with
    /// the session's form token. Every signed-in form asks this, and only this.
    pub(crate) fn form_allowed(
        &self,
        parts: &axum::http::request::Parts,
        session: &SignedIn,
        given: Option<&str>,
    ) -> bool {
        origin_allowed(&parts.headers, &parts.uri)
            && tokens_match(&self.csrf.for_session(&session.token), given)
    }
}

/// Someone signed in: their token (from the cookie) and who they are.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub token: String,
    pub caller: Caller,
}

/// The live session of the request's cookie, if any.
pub fn signed_in(service: &Service, headers: &HeaderMap) -> Option<SignedIn> {
    let token = session_token(headers)?;
    let caller = service.auth.caller(token)?;
    Some(SignedIn {
        token: token.to_owned(),
        caller,
    })
}

/// The session cookie's value, if it could be a token at all.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE).filter(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The `Set-Cookie` value that keeps the session for `max_age_s`.
pub fn session_cookie(token: &str, max_age_s: u64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Max-Age={max_age_s}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The sign-in form's double-submit cookie (kept while the browser is open, sent only
/// to the sign-in form's own address).
pub fn csrf_cookie(token: &str, secure: bool) -> String {
    format!(
        "{CSRF_COOKIE}={token}; Path=/sign-in; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes cookie `name` (set with `path`).
pub fn clear_cookie(name: &str, path: &str, secure: bool) -> String {
    format!(
        "{name}=; Max-Age=0; Path={path}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn session_tokens_are_bound_to_the_session_and_the_key() {
        let key = CsrfKey::from_bytes([7; 32]);
        let a = key.for_session("session-a");
        assert_eq!(a, key.for_session("session-a"), "stable within a process");
        assert_ne!(
            a,
            key.for_session("session-b"),
            "another session, another token"
        );
        assert_ne!(
            a,
            CsrfKey::from_bytes([8; 32]).for_session("session-a"),
            "another process (key), another token"
        );
        assert!(!a.contains("session-a"));
        assert!(well_formed(&a));
    }

    #[test]
    fn tokens_match_only_when_equal_and_present() {
        let t = fresh_token();
        assert!(well_formed(&t));
        assert_ne!(t, fresh_token());
        assert!(tokens_match(&t, Some(&t)));
        assert!(!tokens_match(&t, None));
        assert!(!tokens_match(&t, Some("")));
        assert!(!tokens_match(&t, Some(&t[1..])));
        assert!(!tokens_match(&t, Some(&t.to_uppercase())) || t == t.to_uppercase());
        assert!(
            !tokens_match("", Some("")),
            "an empty expectation never matches"
        );
        assert!(!well_formed("zz"));
        assert!(!well_formed(&"g".repeat(64)));
    }

    #[test]
    fn only_our_own_origin_or_none_may_post() {
        let u = uri("/sign-out");
        assert!(origin_allowed(&headers(&[("host", "maeul.example")]), &u));
        assert!(origin_allowed(
            &headers(&[
                ("host", "maeul.example"),
                ("origin", "http://maeul.example")
            ]),
            &u
        ));
        assert!(origin_allowed(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ]),
            &u
        ));
        for bad in [
            "http://evil.example",
            "http://maeul.example.evil.example",
            "http://maeul.example:8080",
            "https://maeul.example",
            "null",
            "",
        ] {
            let mut h = headers(&[("host", "maeul.example")]);
            h.insert(
                ORIGIN,
                HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static("x")),
            );
            assert!(!origin_allowed(&h, &u), "{bad}");
        }
        // Behind a TLS proxy the origin is https.
        assert!(origin_allowed(
            &headers(&[
                ("host", "maeul.example"),
                ("x-forwarded-proto", "https"),
                ("origin", "https://maeul.example")
            ]),
            &u
        ));
        assert!(!origin_allowed(
            &headers(&[
                ("host", "maeul.example"),
                ("x-forwarded-proto", "https"),
                ("origin", "http://maeul.example")
            ]),
            &u
        ));
        // An origin with no host to compare it with is refused.
        assert!(!origin_allowed(
            &headers(&[("origin", "http://maeul.example")]),
            &u
        ));
    }

    #[test]
    fn tls_is_the_scheme_or_the_proxy_header() {
        assert!(!came_over_tls(&headers(&[]), &uri("/")));
        assert!(came_over_tls(&headers(&[]), &uri("https://maeul.example/")));
        assert!(came_over_tls(
            &headers(&[("x-forwarded-proto", "HTTPS")]),
            &uri("/")
        ));
        assert!(came_over_tls(
            &headers(&[("x-forwarded-proto", "https, http")]),
            &uri("/")
        ));
        assert!(!came_over_tls(
            &headers(&[("x-forwarded-proto", "http")]),
            &uri("/")
        ));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let c = session_cookie("abc", 3600, false);
        assert_eq!(
            c,
            "maeul_session=abc; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(session_cookie("abc", 3600, true).ends_with("; Secure"));
        assert!(csrf_cookie("t", false).contains("HttpOnly; SameSite=Strict"));
        assert!(clear_cookie(SESSION_COOKIE, "/", false).contains("Max-Age=0"));
    }

    #[test]
    fn only_token_shaped_session_cookies_are_looked_up() {
        assert_eq!(
            session_token(&headers(&[("cookie", "lang=en; maeul_session=ab-_9Z")])),
            Some("ab-_9Z")
        );
        assert_eq!(
            session_token(&headers(&[("cookie", "maeul_session=")])),
            None
        );
        assert_eq!(
            session_token(&headers(&[("cookie", "maeul_session=a+b")])),
            None
        );
        assert_eq!(session_token(&headers(&[])), None);
    }
}
