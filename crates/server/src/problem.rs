//! The HTTP face of the service's errors: every failure is an
//! `application/problem+json` answer ([`service::Problem`]) with the error's status, its
//! stable code, words in Korean and English, and `Retry-After` when it has one.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use service::ServiceError;

/// A service error on its way out as an HTTP answer.
#[derive(Debug, Clone)]
pub struct ApiError(pub ServiceError);

/// The stable code of an error answer, left on the response for the metrics layer.
#[derive(Clone, Debug)]
pub struct ErrorCode(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let code = ErrorCode(error.code.clone());
        let (status, retry_after_s) = (error.status, error.retry_after_s);
        let body = error.problem();
        let mut response = (status, axum::Json(body)).into_response();
        response.extensions_mut().insert(code);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = retry_after_s
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl std::ops::Deref for ApiError {
    type Target = ServiceError;

    fn deref(&self) -> &ServiceError {
        &self.0
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        ApiError(e)
    }
}

impl From<ledger::Rejection> for ApiError {
    fn from(r: ledger::Rejection) -> ApiError {
        ApiError(r.into())
    }
}

impl From<engine::SubmitError> for ApiError {
    fn from(e: engine::SubmitError) -> ApiError {
        ApiError(e.into())
    }
}

impl From<engine::CommitError> for ApiError {
    fn from(e: engine::CommitError) -> ApiError {
        ApiError(e.into())
    }
}

impl From<treasury::TreasuryError> for ApiError {
    fn from(e: treasury::TreasuryError) -> ApiError {
        ApiError(e.into())
    }
}

/// The service's constructors, answering as HTTP errors (so the routes read as before).
impl ApiError {
    pub fn new(status: axum::http::StatusCode, code: &str, ko: &str, en: &str) -> ApiError {
        ApiError(ServiceError::new(status, code, ko, en))
    }

    pub fn detail(self, d: impl Into<String>) -> ApiError {
        ApiError(self.0.detail(d))
    }

    pub fn fields(self, fields: serde_json::Map<String, serde_json::Value>) -> ApiError {
        ApiError(self.0.fields(fields))
    }

    pub fn scheme(self, scheme: Option<&str>) -> ApiError {
        ApiError(self.0.scheme(scheme))
    }

    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.0.retry_after_s = Some(seconds);
        self
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> ApiError {
        ApiError(ServiceError::bad_request(code, detail))
    }

    pub fn unauthorized() -> ApiError {
        ApiError(ServiceError::unauthorized())
    }

    pub fn forbidden() -> ApiError {
        ApiError(ServiceError::forbidden())
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError(ServiceError::not_found(what))
    }

    pub fn busy(retry_after_s: u64) -> ApiError {
        ApiError(ServiceError::busy(retry_after_s))
    }

    pub fn too_many(wait_s: u64) -> ApiError {
        ApiError(ServiceError::too_many(wait_s))
    }

    pub fn body_too_large(limit_bytes: usize) -> ApiError {
        ApiError(ServiceError::body_too_large(limit_bytes))
    }

    pub fn body_timeout() -> ApiError {
        ApiError(ServiceError::body_timeout())
    }

    pub fn too_many_streams(limit: usize) -> ApiError {
        ApiError(ServiceError::too_many_streams(limit))
    }

    pub fn streams_full(retry_after_s: u64) -> ApiError {
        ApiError(ServiceError::streams_full(retry_after_s))
    }

    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        ApiError(ServiceError::unavailable(detail))
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError(ServiceError::internal(detail))
    }

    pub fn treasury(e: treasury::TreasuryError, own: Option<ledger::AccountId>) -> ApiError {
        ApiError(ServiceError::treasury(e, own))
    }

    pub fn refused(r: &ledger::Rejection, own: Option<ledger::AccountId>) -> ApiError {
        ApiError(ServiceError::refused(r, own))
    }
}
