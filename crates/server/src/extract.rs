//! Extractors: the signed-in caller (Bearer token), the client's address, and path,
//! query and JSON bodies that answer a problem+json (never axum's plain text) when they
//! do not parse.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Request};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::request::Parts;
use service::Caller;

use crate::AppState;
use crate::problem::ApiError;

/// The signed-in caller of a request, by its `Authorization: Bearer` token; `401`
/// without a live session.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Caller);

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        state
            .auth
            .caller(token)
            .map(SignedIn)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme name is
/// case-insensitive (RFC 9110 §11.1: `bearer` and `BEARER` are the same scheme) and
/// may be followed by more than one space.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The client's address, when the server was started with it (`serve`); requests
/// made without a socket (in-process tests) have none and are not limited by it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Path parameters, answering a problem (not axum's plain text) when they do not parse.
pub(crate) struct PathParams<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PathParams(v)),
            Err(e) => Err(ApiError::bad_request("bad_path", e.body_text())),
        }
    }
}

/// Query parameters, likewise.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(e) => Err(ApiError::bad_request("bad_query", e.body_text())),
        }
    }
}

/// Parses JSON, answering a problem (not axum's plain text) when it is not valid.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !plain_json(req.headers()) {
            return match Json::<T>::from_request(req, state).await {
                Ok(Json(v)) => Ok(JsonBody(v)),
                Err(e) => Err(body_problem(e.status(), e.body_text())),
            };
        }
        // What axum's extractor does for this content type (the body under the same
        // limit), minus the path it tracks for its error message on every parse: only a
        // body that does not parse is parsed again by it, for that message.
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| body_problem(e.status(), e.body_text()))?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Ok(JsonBody(v)),
            Err(_) => match Json::<T>::from_bytes(&bytes) {
                Ok(Json(v)) => Ok(JsonBody(v)),
                Err(e) => Err(body_problem(e.status(), e.body_text())),
            },
        }
    }
}

/// `Content-Type: application/json`, alone or with a UTF-8 charset: the form every
/// client sends. Any other (which axum may still take, or refuse) goes through axum's
/// own check.
fn plain_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.eq_ignore_ascii_case("application/json")
                || v.eq_ignore_ascii_case("application/json; charset=utf-8")
        })
}

fn body_problem(status: StatusCode, detail: String) -> ApiError {
    ApiError::new(
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        } else {
            StatusCode::BAD_REQUEST
        },
        "bad_request_body",
        "요청 내용을 읽을 수 없습니다.",
        "The request body could not be read.",
    )
    .detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::FromRequest;
    use axum::response::IntoResponse;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pay {
        merchant: u64,
        amount: Option<i64>,
    }

    fn request(content_type: Option<&str>, body: &'static str) -> Request {
        let mut b = Request::builder().method("POST").uri("/");
        if let Some(t) = content_type {
            b = b.header("content-type", t);
        }
        b.body(axum::body::Body::from(body)).unwrap()
    }

    /// Every body and content type is taken or refused exactly as axum's own extractor
    /// (with the problem it was always wrapped in) takes or refuses it.
    #[tokio::test]
    async fn json_bodies_are_read_as_axums_extractor_reads_them() {
        let types = [
            None,
            Some("application/json"),
            Some("Application/JSON"),
            Some("application/json; charset=utf-8"),
            Some("application/json;charset=UTF-8"),
            Some("application/problem+json"),
            Some("application/json; garbage"),
            Some("text/plain"),
        ];
        let bodies = [
            r#"{"merchant":20001,"amount":5}"#,
            r#"{"merchant":20001}"#,
            r#" {"amount":5, "merchant":7} "#,
            r#"{"merchant":20001,"amount":5} x"#,
            r#"{"merchant":"20001"}"#,
            r#"{"merchant":1,"pin":"123456"}"#,
            r#"{"amount":5}"#,
            "{not json",
            "",
            "[1,2]",
        ];
        for t in types {
            for body in bodies {
                let ours = JsonBody::<Pay>::from_request(request(t, body), &()).await;
                let axums = Json::<Pay>::from_request(request(t, body), &()).await;
                match (ours, axums) {
                    (Ok(JsonBody(a)), Ok(Json(b))) => assert_eq!(a, b, "{t:?} {body}"),
                    (Err(a), Err(e)) => {
                        let b = body_problem(e.status(), e.body_text());
                        let (a, b) = (a.into_response(), b.into_response());
                        assert_eq!(a.status(), b.status(), "{t:?} {body}");
                        let a = axum::body::to_bytes(a.into_body(), 1 << 16).await.unwrap();
                        let b = axum::body::to_bytes(b.into_body(), 1 << 16).await.unwrap();
                        assert_eq!(a, b, "{t:?} {body}");
                    }
                    (a, b) => panic!("{t:?} {body}: {:?} against {:?}", a.is_ok(), b.is_ok()),
                }
            }
        }
    }
}
