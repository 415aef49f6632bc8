//! What every API request passes before its route: metrics per route, the request's
//! deadline, and its body received whole under the body timeouts and size limits. (A
//! place in flight is given before, at the gate: `crate::gate`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::ApiError;
use crate::{AppState, BODY_BYTES_MAX, REQUEST_DEADLINE};

/// Registry and alias files up to this size are taken through the API (about 300,000
/// registry rows); larger ones go through `maeul admin sync-registry`.
pub const FILE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Camera images up to this size.
pub const IMAGE_BYTES_MAX: usize = 8 * 1024 * 1024;

/// The largest body each route takes. Only uploads take more than `BODY_BYTES_MAX`.
fn body_limit(route: &str) -> usize {
    match route {
        "/api/v1/me/scan-image" => IMAGE_BYTES_MAX,
        "/api/v1/operator/{currency}/registry-sync" | "/api/v1/operator/{currency}/qr-aliases" => {
            FILE_BYTES_MAX
        }
        "/api/v1/operator/{currency}/revenue-bands" => directory::revenue::TABLE_BYTES_MAX,
        _ => BODY_BYTES_MAX,
    }
}

/// Marks a request whose body the gate received whole.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Received;

/// Metrics per route, the route's body limit, and the request deadline. A place in
/// flight was given before, at the gate (`crate::gate`), which received small bodies
/// whole; an upload's body is received here, under its route's limit and the body
/// timeouts, after its route's own checks.
pub(crate) async fn observe(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    // Received whole at the gate already (under `BODY_BYTES_MAX`, which no gated route
    // exceeds): not copied again.
    let received = if req.extensions().get::<Received>().is_some() {
        Ok((req, None))
    } else {
        receive_body(&state, body_limit(&route), req).await
    };
    let response = match received {
        Err(e) => e.into_response(),
        Ok((req, pending)) => {
            drop(pending);
            match tokio::time::timeout(REQUEST_DEADLINE, next.run(req)).await {
                Ok(r) => r,
                Err(_) => ApiError::unavailable("the request's deadline passed").into_response(),
            }
        }
    };
    let m = &state.metrics;
    m.latency
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    if let Some(code) = response.extensions().get::<crate::problem::ErrorCode>() {
        m.rejections.with_label_values(&[code.0.as_str()]).inc();
    }
    response
}

/// The request with its body received whole (at most the route's limit), and the
/// permits for the bytes it holds. 413 when the body is larger than the route takes,
/// 408 when it pauses longer than the body timeout or arrives slower than
/// `BODY_BYTES_PER_S_MIN`, 503 when the bodies being received already hold
/// `PENDING_BODY_BYTES_MAX`.
pub(crate) async fn receive_body(
    state: &AppState,
    limit: usize,
    req: Request,
) -> Result<(Request, Option<tokio::sync::OwnedSemaphorePermit>), ApiError> {
    use futures_util::StreamExt;

    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    if declared == Some(0) {
        return Ok((req, None));
    }
    // A pause is bounded by the body timeout layer; the whole body by this.
    let expected = declared.unwrap_or(limit as u64);
    let deadline = tokio::time::Instant::now()
        + state.timeouts.body
        + Duration::from_secs(expected / crate::BODY_BYTES_PER_S_MIN);
    let (parts, body) = req.into_parts();
    let mut stream = body.into_data_stream();
    let mut received: Vec<u8> = Vec::new();
    let mut pending: Option<tokio::sync::OwnedSemaphorePermit> = None;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(ApiError::body_timeout()),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(body_error(e)),
            Ok(Some(Ok(chunk))) => chunk,
        };
        if received.len() + chunk.len() > limit {
            return Err(ApiError::body_too_large(limit));
        }
        let more = u32::try_from(chunk.len())
            .ok()
            .and_then(|n| {
                Arc::clone(&state.pending_body_bytes)
                    .try_acquire_many_owned(n)
                    .ok()
            })
            .ok_or_else(|| ApiError::busy(1))?;
        match pending.as_mut() {
            Some(p) => p.merge(more),
            None => pending = Some(more),
        }
        received.extend_from_slice(&chunk);
    }
    Ok((
        Request::from_parts(parts, axum::body::Body::from(received)),
        pending,
    ))
}

/// What a body that failed while arriving is answered.
fn body_error(e: axum::Error) -> ApiError {
    let cause = e.into_inner();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(cause.as_ref());
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::body_timeout();
        }
        source = s.source();
    }
    ApiError::bad_request(
        "bad_request_body",
        format!("the body could not be read: {cause}"),
    )
}
