//! The paying pages through the router: who may see them, their forms' tokens, the
//! service's words on refusals, and the small parsers they use. The test service has no
//! currency: the payments and scans themselves run in the browser test against the demo.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;

use super::*;

/// A router over a fresh service with one user of `role`, and that user's session token.
pub async fn app_with(role: Role) -> (Router, String) {
    crate::test_support::site_with_user(role, "minji", Some(1_000_000_001), &[]).await
}

pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let h = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    (status, h, String::from_utf8_lossy(&bytes).into_owned())
}

/// The form token on a page.
pub fn csrf_of(body: &str) -> String {
    let at = body.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
    body[at..at + 64].to_owned()
}

fn cookie(token: &str) -> String {
    format!("maeul_session={token}")
}

#[tokio::test]
async fn the_pay_pages_are_a_citizens() {
    let (app, token) = app_with(Role::Citizen).await;
    for path in ["/pay", "/pay/shop/20001", "/pay/done"] {
        let (status, h, _) = send(&app, "GET", path, &[], Vec::new()).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(h.get("location").unwrap(), "/sign-in");
    }
    let (status, h, body) = send(
        &app,
        "GET",
        "/pay",
        &[("cookie", &cookie(&token))],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert!(body.contains(r#"<h1>결제하기</h1>"#), "{body}");
    assert!(body.contains(r#"aria-current="page">결제<"#), "{body}");
    // The photo form works without a script; the camera is the script's.
    assert!(body.contains(r#"action="/pay/scan" enctype="multipart/form-data""#));
    assert!(body.contains(r#"type="file" name="photo""#));
    assert!(body.contains("/assets/scan."), "{body}");
    assert!(!body.contains("<script>"), "no inline script");

    let (app, token) = app_with(Role::Merchant).await;
    let (status, _, body) = send(
        &app,
        "GET",
        "/pay",
        &[("cookie", &cookie(&token))],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("시민 회원 전용 페이지입니다"), "{body}");
}

#[tokio::test]
async fn a_search_shows_the_services_words_when_it_fails() {
    let (app, token) = app_with(Role::Citizen).await;
    let (status, _, body) = send(
        &app,
        "GET",
        "/pay?q=%EA%B9%80%EB%B0%A5",
        &[("cookie", &cookie(&token))],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // No currency in the test service: the service's own refusal, with its code.
    assert!(body.contains(r#"data-code="not_found""#), "{body}");
    assert!(
        body.contains(r#"value="김밥""#),
        "the query is kept: {body}"
    );
}

#[tokio::test]
async fn paying_needs_the_forms_token_and_shows_the_services_refusal() {
    let (app, token) = app_with(Role::Citizen).await;
    let c = cookie(&token);
    let (_, _, page) = send(&app, "GET", "/pay", &[("cookie", &c)], Vec::new()).await;
    let csrf = csrf_of(&page);
    let form = "application/x-www-form-urlencoded";
    let (status, _, body) = send(
        &app,
        "POST",
        "/pay/shop/20001",
        &[("cookie", &c), ("content-type", form)],
        b"amount=5000&pin=123456&key=k1".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = send(
        &app,
        "POST",
        "/pay/shop/20001",
        &[
            ("cookie", &c),
            ("content-type", form),
            ("origin", "http://evil.example"),
            ("host", "maeul.example"),
        ],
        format!("amount=5000&pin=123456&key=k1&csrf={csrf}").into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // With its token the service answers (here: no such currency); never a 303.
    let (status, _, body) = send(
        &app,
        "POST",
        "/pay/shop/20001",
        &[("cookie", &c), ("content-type", form)],
        format!("amount=5000&pin=123456&key=k2&csrf={csrf}").into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains(r#"data-code="not_found""#), "{body}");
    assert!(!body.contains("123456"), "the PIN is not echoed");
}

#[tokio::test]
async fn a_photo_is_read_from_the_multipart_form_with_its_token() {
    let (app, token) = app_with(Role::Citizen).await;
    let c = cookie(&token);
    let (_, _, page) = send(&app, "GET", "/pay", &[("cookie", &c)], Vec::new()).await;
    let csrf = csrf_of(&page);
    let boundary = "----maeulTestBoundary";
    let body = |token: &str| {
        let mut b = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        b.extend_from_slice(b"\x89PNG\r\n\x1a\nnot really");
        b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        b
    };
    let ct = format!("multipart/form-data; boundary={boundary}");
    let (status, _, _) = send(
        &app,
        "POST",
        "/pay/scan",
        &[("cookie", &c), ("content-type", &ct)],
        body("wrong"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, answer) = send(
        &app,
        "POST",
        "/pay/scan",
        &[("cookie", &c), ("content-type", &ct)],
        body(&csrf),
    )
    .await;
    // The token was read; the service then answers (no currency here), in its words.
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(answer.contains(r#"data-code="not_found""#), "{answer}");
    assert!(answer.contains("<h1>"), "a whole page without a script");
    // From the camera script: the image itself, the token in a header, a fragment back.
    let (status, _, fragment) = send(
        &app,
        "POST",
        "/pay/scan",
        &[
            ("cookie", &c),
            ("content-type", "image/png"),
            ("x-csrf-token", &csrf),
            ("hx-request", "true"),
        ],
        b"\x89PNG\r\n\x1a\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !fragment.contains("<h1>") && fragment.contains("scan-result"),
        "{fragment}"
    );
}

#[tokio::test]
async fn the_result_page_shows_only_what_was_signed_for_this_session() {
    let (app, token) = app_with(Role::Citizen).await;
    let c = cookie(&token);
    let (status, h, _) = send(
        &app,
        "GET",
        "/pay/done?payment=1&merchant=2&amount=999999&cashback=0&note=&sig=00",
        &[("cookie", &c)],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h.get("location").unwrap(), "/pay");
}

#[test]
fn amounts_may_have_thousands_commas_and_nothing_else() {
    assert_eq!(parse_amount("12,000"), Some(12_000));
    assert_eq!(parse_amount(" 5000 "), Some(5_000));
    assert_eq!(parse_amount("0"), Some(0));
    assert_eq!(parse_amount(""), None);
    assert_eq!(parse_amount("-5"), None);
    assert_eq!(parse_amount("1e3"), None);
    assert_eq!(parse_amount("5000원"), None);
    assert_eq!(parse_amount("9999999999999999999"), None);
}

#[test]
fn ids_and_query_values_are_strict() {
    assert_eq!(shop_id("20001"), Some(20_001));
    assert_eq!(shop_id("+1"), None);
    assert_eq!(shop_id(""), None);
    assert_eq!(shop_id("99999999999999999999999"), None);
    assert_eq!(url_encode("김 a&b"), "%EA%B9%80%20a%26b");
    assert_eq!(
        cashback_note(Lang::Ko, "budget_exhausted"),
        Some("캐시백 예산이 모두 쓰였습니다.")
    );
    assert_eq!(cashback_note(Lang::En, "new_code"), None);
}
