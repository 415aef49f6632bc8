//! Idempotency over HTTP: the `Idempotency-Key` header and the `Idempotent-Replayed`
//! mark on repeated answers. The table of keys, what they were used for and the stored
//! first answers of use cases whose effect is not a ledger command are the service's
//! (`service::idempotency`).

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
pub use service::idempotency::{Answered, Fingerprint, REPLAYED_HEADER, RequestKey, key_reused};

/// The `Idempotency-Key` header, if it is text.
pub fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok())
}

impl<T: IntoResponse> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        mark_replayed(self.value.into_response(), self.replayed)
    }
}

impl<T> From<Answered<T>> for Answer<T> {
    fn from(a: Answered<T>) -> Answer<T> {
        Answer {
            value: a.value,
            replayed: a.replayed,
        }
    }
}

/// Marks `response` as a repeated answer when `replayed`.
pub fn mark_replayed(mut response: Response, replayed: bool) -> Response {
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// An answer, and whether it is a repeat of an earlier one.
#[derive(Debug)]
pub struct Answer<T> {
    pub value: T,
    pub replayed: bool,
}
