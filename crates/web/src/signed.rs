//! Result banners carried in a redirect's address, signed for the session.
//!
//! A form that moves money is answered by a 303 to a page that says what the service
//! answered (POST/redirect/GET), and what it answered travels in that address. Read as
//! it came, anyone could send a merchant a link to `/shop?charged=1000000` and its till
//! would say "payment taken". So every such address carries a `sig`: a keyed hash (the
//! pages' CSRF key, [`crate::session::CsrfKey::for_session`]) of the session token, the
//! banner's kind and its fields, each with its length. A page shows a banner only when
//! its signature is this session's for exactly those fields; a link with a wrong or
//! missing one shows the page without it (no error: the banner was only ever a
//! convenience, and the page's own data is read from the service).

use axum::extract::Query;
use axum::http::Uri;
use axum::response::Response;

use crate::Pages;
use crate::account::{see_other_to, url_encode};
use crate::session::tokens_match;

/// The query field holding the signature.
pub const SIG_FIELD: &str = "sig";

/// The most fields a banner has, and the longest value read (a banner holds numbers
/// and short codes).
const FIELDS_MAX: usize = 8;
const VALUE_CHARS_MAX: usize = 64;

/// A result banner's facts: its kind (one per page and outcome, so one banner's address
/// never shows another) and its named fields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    kind: &'static str,
    fields: Vec<(&'static str, String)>,
}

impl Banner {
    pub fn new(kind: &'static str) -> Banner {
        Banner {
            kind,
            fields: Vec::new(),
        }
    }

    /// The banner with `name` = `value` added.
    pub fn field(mut self, name: &'static str, value: impl ToString) -> Banner {
        self.fields.push((name, value.to_string()));
        self
    }

    /// A field's value as signed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A field's value read as a number (or any type parsed from text).
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.parse().ok()
    }

    /// The signature of this banner for the session `session_token`. Session tokens
    /// hold no NUL (`session::session_token`), and every value is written with its
    /// length, so no two banners sign the same text, nor does any form token.
    fn signature(&self, pages: &Pages, session_token: &str) -> String {
        let mut text = format!("{session_token}\0banner v1\0{}", self.kind);
        for (name, value) in &self.fields {
            text.push_str(&format!("\0{name}\0{}\0{value}", value.len()));
        }
        pages.csrf.for_session(&text)
    }

    /// `path?field=value&…&sig=…`, for this session only.
    pub fn url(&self, pages: &Pages, session_token: &str, path: &str) -> String {
        let mut url = path.to_owned();
        for (i, (name, value)) in self.fields.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(&url_encode(value));
        }
        url.push(if self.fields.is_empty() { '?' } else { '&' });
        url.push_str(SIG_FIELD);
        url.push('=');
        url.push_str(&self.signature(pages, session_token));
        url
    }

    /// A 303 to [`Banner::url`].
    pub fn see_other(&self, pages: &Pages, session_token: &str, path: &str) -> Response {
        see_other_to(&self.url(pages, session_token, path))
    }
}

/// The banner of `kind` with the fields `names` in `uri`'s query, when it is signed
/// for this session; `None` for anything else (a field missing, a value changed, another
/// session's or another kind's link, no signature).
pub fn read(
    pages: &Pages,
    session_token: &str,
    uri: &Uri,
    kind: &'static str,
    names: &[&'static str],
) -> Option<Banner> {
    if names.len() > FIELDS_MAX {
        return None;
    }
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    // The first of a repeated field is the one signed and the one shown.
    let first = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut banner = Banner::new(kind);
    for name in names {
        let value = first(name)?;
        if value.chars().count() > VALUE_CHARS_MAX {
            return None;
        }
        banner = banner.field(name, value);
    }
    let given = first(SIG_FIELD)?;
    tokens_match(&banner.signature(pages, session_token), Some(given)).then_some(banner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pages(key: u8) -> Pages {
        crate::test_support::pages_with_key(key)
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    const NAMES: &[&str] = &["charged", "payment"];

    fn charged() -> Banner {
        Banner::new("till-charged")
            .field("charged", 12_000)
            .field("payment", 77)
    }

    #[test]
    fn a_banner_signed_for_the_session_is_read_back_exactly() {
        let p = pages(1);
        let url = charged().url(&p, "session-a", "/shop");
        assert!(
            url.starts_with("/shop?charged=12000&payment=77&sig="),
            "{url}"
        );
        let b = read(&p, "session-a", &uri(&url), "till-charged", NAMES).unwrap();
        assert_eq!(b, charged());
        assert_eq!(b.number::<i64>("charged"), Some(12_000));
        assert_eq!(b.get("payment"), Some("77"));
        // Other query fields around it are no part of it.
        let with = format!("{url}&v=abc");
        assert!(read(&p, "session-a", &uri(&with), "till-charged", NAMES).is_some());
    }

    #[test]
    fn a_tampered_amount_shows_no_banner() {
        let p = pages(1);
        let url = charged().url(&p, "session-a", "/shop");
        let forged = url.replace("charged=12000", "charged=1000000");
        assert_ne!(forged, url);
        assert!(read(&p, "session-a", &uri(&forged), "till-charged", NAMES).is_none());
        // A repeated field: the first is the one signed and the one shown.
        let doubled = url.replace("?charged=12000", "?charged=1000000&charged=12000");
        assert!(read(&p, "session-a", &uri(&doubled), "till-charged", NAMES).is_none());
        let unsigned = "/shop?charged=1000000&payment=77";
        assert!(read(&p, "session-a", &uri(unsigned), "till-charged", NAMES).is_none());
        let empty = "/shop?charged=1000000&payment=77&sig=";
        assert!(read(&p, "session-a", &uri(empty), "till-charged", NAMES).is_none());
        let missing = url.replace("payment=77&", "");
        assert!(read(&p, "session-a", &uri(&missing), "till-charged", NAMES).is_none());
    }

    #[test]
    fn another_sessions_or_another_kinds_link_shows_no_banner() {
        let p = pages(1);
        let url = charged().url(&p, "session-a", "/shop");
        assert!(read(&p, "session-b", &uri(&url), "till-charged", NAMES).is_none());
        assert!(read(&p, "session-a", &uri(&url), "till-refunded", NAMES).is_none());
        // Another process (a restart): another key.
        assert!(read(&pages(2), "session-a", &uri(&url), "till-charged", NAMES).is_none());
        // A form token is no banner signature, nor the other way round.
        let csrf = p.csrf.for_session("session-a");
        let as_sig = format!("/shop?charged=12000&payment=77&sig={csrf}");
        assert!(read(&p, "session-a", &uri(&as_sig), "till-charged", NAMES).is_none());
    }

    #[test]
    fn values_are_encoded_and_their_lengths_signed() {
        let p = pages(1);
        let b = Banner::new("pay-receipt")
            .field("a", "x&b=y")
            .field("b", "");
        let url = b.url(&p, "s", "/pay/done");
        assert!(url.contains("a=x%26b%3Dy&b=&sig="), "{url}");
        let back = read(&p, "s", &uri(&url), "pay-receipt", &["a", "b"]).unwrap();
        assert_eq!(back.get("a"), Some("x&b=y"));
        assert_eq!(back.get("b"), Some(""));
        // Moving text from one field to the next changes the signature.
        let shifted = Banner::new("pay-receipt")
            .field("a", "x")
            .field("b", "&b=y");
        assert_ne!(shifted.signature(&p, "s"), b.signature(&p, "s"));
        let long = Banner::new("k").field("a", "9".repeat(VALUE_CHARS_MAX + 1));
        let url = long.url(&p, "s", "/x");
        assert!(read(&p, "s", &uri(&url), "k", &["a"]).is_none());
    }
}

#[cfg(test)]
#[path = "signed_tests.rs"]
mod page_tests;
