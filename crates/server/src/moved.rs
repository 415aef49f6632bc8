//! After a cutover: every request to a node whose currencies all moved is sent to the
//! successor with a 308 (method and body kept, so an app's payment goes on there), and
//! the answer says so in words for apps that do not follow redirects. Probes and the
//! successor's own handover routes stay.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use service::Service;

fn stays(path: &str) -> bool {
    path.starts_with("/api/v1/handover/") || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The middleware: `router.layer(from_fn_with_state(service, moved::redirect))`.
pub async fn redirect(State(service): State<Arc<Service>>, req: Request, next: Next) -> Response {
    if stays(req.uri().path()) {
        return next.run(req).await;
    }
    let moved_to = service
        .handover
        .everything_moved_to(service.currencies.keys());
    if moved_to.is_none()
        && service
            .handover
            .everything_stopping(service.currencies.keys())
    {
        let body = serde_json::json!({
            "type": "about:blank",
            "status": 503,
            "code": "operator_change",
            "title": "The currency is moving to its new operator: ask again in a second.",
            "title_ko": "지역화폐를 새 운영사로 옮기는 중입니다. 잠시 후 다시 시도해 주세요.",
        });
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "application/problem+json"),
                (header::RETRY_AFTER, "1"),
            ],
            body.to_string(),
        )
            .into_response();
    }
    let Some(to) = moved_to else {
        return next.run(req).await;
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let location = format!("{to}{path}");
    let body = serde_json::json!({
        "type": "about:blank",
        "status": 308,
        "code": "moved",
        "title": "This currency has moved to a new operator: the same request goes on at moved_to.",
        "title_ko": "이 지역화폐는 새 운영사로 옮겨졌습니다. 같은 요청을 moved_to 주소에서 이어서 하세요.",
        "moved_to": location,
    });
    let mut response = (
        StatusCode::PERMANENT_REDIRECT,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_the_handover_stay() {
        assert!(stays("/healthz") && stays("/readyz") && stays("/metrics"));
        assert!(stays("/api/v1/handover/busan/journal"));
        assert!(!stays("/api/v1/me/payments") && !stays("/wallet") && !stays("/"));
    }
}
