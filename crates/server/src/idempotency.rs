//! Idempotency over HTTP: the `Idempotency-Key` header, the `Idempotent-Replayed`
//! mark on repeated answers, and the stored first answers of routes whose effect is not
//! a ledger command. The table of keys and what they were used for is the service's
//! (`service::idempotency`).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use service::idempotency::{
    Answered, Fingerprint, REPLAYED_HEADER, RequestKey, STORED_ANSWER_BYTES_MAX, StoredAnswer,
    key_reused,
};

use crate::AppState;
use crate::auth::Caller;
use crate::problem::ApiError;

/// Reads the request's `Idempotency-Key`, applies the per-user write limit, and claims
/// the key for this request (`409` if it was used for another one).
pub fn idempotency(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    fingerprint: Fingerprint,
) -> Result<RequestKey, ApiError> {
    Ok(service::idempotency::claim_key(
        &state.service,
        idempotency_key(headers),
        caller,
        fingerprint,
    )?)
}

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

/// Runs a request whose effect is not a ledger command at most once per key: a repeat
/// of the same request gets the stored first answer (marked replayed), another request
/// under the key `409`, a repeat while the first is still running `409` too (try again
/// shortly). Only successful answers are stored: a failed request can be sent again.
pub async fn once<F, E>(state: &AppState, req: &RequestKey, run: F) -> Response
where
    F: std::future::Future<Output = Result<Response, E>>,
    E: Into<ApiError>,
{
    let id = (req.client.0, req.key.0);
    match state.auth.stored_answer(req.user, &req.key.0.to_le_bytes()) {
        Ok(Some(stored)) if stored.fingerprint == *req.fingerprint.bytes() => {
            return mark_replayed(stored_response(stored), true);
        }
        Ok(Some(_)) => return ApiError(key_reused()).into_response(),
        Ok(None) => {}
        Err(e) => return ApiError(e).into_response(),
    }
    let Some(_running) = state.requests.start(id) else {
        return ApiError::new(
            StatusCode::CONFLICT,
            "request_in_progress",
            "같은 요청을 처리하고 있습니다. 잠시 후 같은 요청 번호로 다시 확인해 주세요.",
            "The same request is being carried out. Check again shortly with the same key.",
        )
        .retry_after(1)
        .into_response();
    };
    let response = match run.await {
        Ok(r) => r,
        Err(e) => return e.into().into_response(),
    };
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The handler built this body in memory already: reading it back is bounded by it.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return ApiError::internal(e.to_string()).into_response(),
    };
    if bytes.len() > STORED_ANSWER_BYTES_MAX {
        // Too large to keep: answered, not stored (a repeat runs again).
        return Response::from_parts(parts, Body::from(bytes));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let stored = StoredAnswer {
        fingerprint: *req.fingerprint.bytes(),
        status: parts.status.as_u16(),
        content_type,
        body: bytes.to_vec(),
    };
    if let Err(e) = state
        .auth
        .store_answer(req.user, &req.key.0.to_le_bytes(), &stored)
    {
        tracing::error!(
            user = req.user,
            code = e.code,
            "an answer could not be kept for repeats"
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A stored first answer, as it was sent.
fn stored_response(stored: StoredAnswer) -> Response {
    {
        let this = stored;
        let status = StatusCode::from_u16(this.status).unwrap_or(StatusCode::OK);
        let mut r = (status, this.body).into_response();
        if let Ok(v) = HeaderValue::from_str(&this.content_type) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    }
}
