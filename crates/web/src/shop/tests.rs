//! The merchant pages through the router: who may see them, the forms' tokens, and what
//! a refusal shows. (The journeys with a real currency are in browser/tests/shop.test.mjs.)
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;

use crate::test_support::site_with_user;

/// A site with no currency, one user of `role` signed in: the router, the session
/// token.
async fn signed_in(role: service::Role) -> (Router, String) {
    site_with_user(role, "gukbap", Some(2_000_000_001), &[]).await
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn get(
    router: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(router, req.body(Body::empty()).unwrap()).await
}

async fn post(
    router: &Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(router, req.body(Body::from(body.to_owned())).unwrap()).await
}

fn location(h: &HeaderMap) -> &str {
    h.get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The session's form token, as the till's forms carry it.
fn form_token(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    body[at..at + 64].to_owned()
}

#[tokio::test]
async fn the_shop_pages_need_a_merchants_session() {
    let (router, token) = signed_in(service::Role::Citizen).await;
    for path in ["/shop", "/shop/sales"] {
        let (status, h, _) = get(&router, path, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&h), "/sign-in");
        let cookie = format!("maeul_session={token}");
        let (status, _, body) = get(&router, path, &[("cookie", &cookie)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(body.contains("가맹점 전용 화면입니다"), "{body}");
    }
    let (status, _, _) = get(&router, "/shop/live", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_merchant_sees_the_services_refusal_with_its_code() {
    let (router, token) = signed_in(service::Role::Merchant).await;
    let cookie = format!("maeul_session={token}");
    // No currency in this test service: the use case's own answer, in words.
    let (status, h, body) = get(
        &router,
        "/shop",
        &[("cookie", &cookie), ("cookie", "lang=en")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert!(body.contains("data-code=\"not_found\""), "{body}");
    let (status, _, _) = get(&router, "/shop/sales", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&router, "/shop/live", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn charging_needs_the_sessions_token_and_our_origin() {
    let (router, token) = signed_in(service::Role::Merchant).await;
    let cookie = format!("maeul_session={token}");
    // The sign-out form on any shop page carries the session's token.
    let (_, _, page) = get(&router, "/shop", &[("cookie", &cookie)]).await;
    let csrf = form_token(&page);
    let body = "code=MAEUL1abc&amount=5000&key=k1";
    let (status, _, _) = post(&router, "/shop/charge", &[("cookie", &cookie)], body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no token");
    let with = format!("{body}&csrf={csrf}");
    let (status, _, _) = post(
        &router,
        "/shop/charge",
        &[
            ("cookie", &cookie),
            ("host", "maeul.example"),
            ("origin", "http://evil.example"),
        ],
        &with,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another site");
    let (status, _, body) = post(&router, "/shop/charge", &[("cookie", &cookie)], &with).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the service's answer: {body}"
    );
    assert!(body.contains("data-code=\"not_found\""), "{body}");
    // Signed out, a charge goes to the sign-in page.
    let (status, h, _) = post(&router, "/shop/charge", &[], &with).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/sign-in");
}

#[tokio::test]
async fn the_application_form_has_its_own_token_and_keeps_what_was_typed() {
    let (router, _) = signed_in(service::Role::Merchant).await;
    let (status, h, body) = get(&router, "/shop/apply", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("maeul_csrf="))
        .unwrap();
    assert!(
        cookie.contains("Path=/shop/apply") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let token = cookie["maeul_csrf=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(body.contains(&format!("value=\"{token}\"")), "{body}");
    for field in [
        "brn",
        "name",
        "road_address",
        "category",
        "hours",
        "annual_revenue",
        "login",
        "password",
    ] {
        assert!(body.contains(&format!("name=\"{field}\"")), "{field}");
        assert!(
            body.contains(&format!("for=\"{field}\"")),
            "label for {field}"
        );
    }
    let form = format!(
        "csrf={token}&login=gukbap2&password=s3cret-pass-1&brn=123-45-67891&name=%ED%95%B4%EC%9A%B4%EB%8C%80&category=5812&annual_revenue=lots"
    );
    let (status, _, _) = post(&router, "/shop/apply", &[], &form).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no cookie: no double submit");
    let c = format!("maeul_csrf={token}");
    let (status, _, body) = post(&router, "/shop/apply", &[("cookie", &c)], &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("data-code=\"revenue_invalid\""), "{body}");
    assert!(body.contains("value=\"해운대\""), "kept: {body}");
    assert!(!body.contains("s3cret-pass-1"), "never the password");
    let (status, _, body) = get(&router, "/shop/applied", &[("cookie", "lang=en")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Under review"), "{body}");
}

#[tokio::test]
async fn a_refund_is_confirmed_first_and_needs_the_sessions_token() {
    let (router, token) = signed_in(service::Role::Merchant).await;
    let cookie = format!("maeul_session={token}");
    let (status, _, body) = get(&router, "/shop/refund/7", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let csrf = form_token(&body);
    let (status, _, _) = post(
        &router,
        "/shop/refund/7",
        &[("cookie", &cookie)],
        "amount=1000&key=r1",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let with = format!("amount=1000&key=r1&csrf={csrf}");
    let (status, _, body) = post(&router, "/shop/refund/7", &[("cookie", &cookie)], &with).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, _) = get(&router, "/shop/refund/not-a-number", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
