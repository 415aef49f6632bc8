//! `POST /shop/scan`: a camera frame from the till (`till.js`, in browsers without a QR
//! detector of their own), the image itself with the form token in `X-CSRF-Token`.
//! Answers JSON for the script: `{"code": "…"}` with the customer's code, which the
//! cashier then charges as if typed; or `{"error": "<stable code>", "message": "…"}` in
//! the cashier's language, with `Retry-After` when the decoders are busy.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CACHE_CONTROL, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::{form_allowed, merchant};
use crate::Pages;
use crate::account::words;

pub const PATH: &str = "/shop/scan";

/// The largest frame taken: a phone camera's frame as PNG, as a photo to `/pay/scan`.
pub const FRAME_BYTES_MAX: usize = 8 * 1024 * 1024;

pub fn routes() -> Router<Pages> {
    Router::new().route(
        PATH,
        post(scan).layer(DefaultBodyLimit::max(FRAME_BYTES_MAX)),
    )
}

async fn scan(State(pages): State<Pages>, parts: Parts, body: Bytes) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let given = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    if let Err(r) = form_allowed(&pages, &parts, &session, given) {
        return *r;
    }
    let answer =
        service::camera::customer_code_image(&session.caller, body, &pages.service.image_decodes)
            .await;
    let (status, json, retry) = match answer {
        Ok(code) => (StatusCode::OK, json!({ "code": code }), None),
        Err(e) => (
            e.status,
            json!({ "error": e.code, "message": words(prefs.lang, &e) }),
            e.retry_after_s,
        ),
    };
    let mut response = (status, axum::Json(json)).into_response();
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(s) = retry
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        h.insert(RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::test_support::site_with_user;

    /// A signed-in site of `role`: the router, its session cookie and form token (read
    /// from the sign-out form every page carries).
    async fn site(role: service::Role) -> (Router, String, String) {
        let (app, token) = site_with_user(role, "till-camera", Some(2_000_000_001), &[]).await;
        let cookie = format!("maeul_session={token}");
        let req = Request::get("/shop/sales").header("cookie", &cookie);
        let r = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        let csrf = body
            .find("name=\"csrf\" value=\"")
            .map(|at| body[at + 19..at + 19 + 64].to_owned())
            .unwrap_or_default();
        (app, cookie, csrf)
    }

    async fn post_frame(
        app: &Router,
        cookie: &str,
        csrf: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::post(PATH)
            .header("cookie", cookie)
            .header("content-type", "image/png");
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        let r = app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn a_frame_with_a_code_gives_its_text_and_one_without_says_why() {
        let (app, cookie, csrf) = site(service::Role::Merchant).await;
        assert_eq!(csrf.len(), 64, "the page carries the form token");
        let png = qr::render_png("MAEUL-TEST-CODE-123", &qr::QrOptions::default()).unwrap();
        let (status, json) = post_frame(&app, &cookie, Some(&csrf), png.clone()).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["code"], "MAEUL-TEST-CODE-123");
        // Not an image at all: the decoder's own code, in words.
        let (status, json) = post_frame(&app, &cookie, Some(&csrf), b"nope".to_vec()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            json["error"].as_str().unwrap().starts_with("image_"),
            "{json}"
        );
        assert!(!json["message"].as_str().unwrap().is_empty());
        // Without the form token: refused before anything is decoded.
        let (status, _) = post_frame(&app, &cookie, None, png).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn only_a_merchant_reads_codes_at_the_till() {
        let (app, cookie, _) = site(service::Role::Citizen).await;
        let (status, _) = post_frame(&app, &cookie, Some("x"), vec![1]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}
