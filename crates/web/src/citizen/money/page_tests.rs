//! The money pages through the router, with a real user store and no currency: who may
//! see them, the forged-request defence, the idempotency key in every money form, and
//! the service's refusals shown in words with their codes.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;

use crate::test_support::site_with_user;

/// A router over a service with one user of `role` (no currency), and that user's
/// session token.
async fn with_user(role: service::Role) -> (Router, String) {
    site_with_user(role, "minji", Some(1_000_000_001), &[]).await
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if method == "POST" {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let h = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    (status, h, String::from_utf8_lossy(&bytes).into_owned())
}

/// The value of the first hidden field `name` in a page.
fn field(body: &str, name: &str) -> String {
    let at = body
        .find(&format!(r#"name="{name}" value=""#))
        .unwrap_or_else(|| panic!("no {name} in {body}"));
    let rest = &body[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

const PAGES: [&str; 7] = [
    "/wallet/bank",
    "/wallet/charge",
    "/wallet/charge/result?purchase=1",
    "/wallet/history",
    "/wallet/gift",
    "/wallet/refund",
    "/wallet/auto-charge",
];

const POSTS: [&str; 7] = [
    "/wallet/bank",
    "/wallet/bank/confirm",
    "/wallet/charge",
    "/wallet/gift",
    "/wallet/refund/cancel",
    "/wallet/refund/balance",
    "/wallet/auto-charge",
];

#[tokio::test]
async fn money_pages_are_a_signed_in_citizens() {
    let (app, _) = with_user(service::Role::Citizen).await;
    for page in PAGES {
        let (status, h, _) = call(&app, "GET", page, &[], "").await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(h.get("location").unwrap(), "/sign-in", "{page}");
    }
    let (app, token) = with_user(service::Role::Operator).await;
    let cookie = format!("maeul_session={token}");
    for page in PAGES {
        let (status, _, body) = call(&app, "GET", page, &[("cookie", &cookie)], "").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(body.contains("<h1>"), "{body}");
    }
}

#[tokio::test]
async fn money_forms_need_the_sessions_token_and_our_origin() {
    let (app, token) = with_user(service::Role::Citizen).await;
    let cookie = format!("maeul_session={token}");
    let (_, _, page) = call(&app, "GET", "/wallet/gift", &[("cookie", &cookie)], "").await;
    let csrf = field(&page, "csrf");
    for post in POSTS {
        let (status, _, _) = call(&app, "POST", post, &[("cookie", &cookie)], "key=k").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{post} without a token");
        let (status, _, _) = call(
            &app,
            "POST",
            post,
            &[
                ("cookie", &cookie),
                ("host", "maeul.example"),
                ("origin", "http://evil.example"),
            ],
            &format!("csrf={csrf}&key=k"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{post} from another site");
    }
}

#[tokio::test]
async fn every_money_form_carries_a_fresh_idempotency_key() {
    let (app, token) = with_user(service::Role::Citizen).await;
    let cookie = format!("maeul_session={token}");
    let (status, _, a) = call(&app, "GET", "/wallet/gift", &[("cookie", &cookie)], "").await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, b) = call(&app, "GET", "/wallet/gift", &[("cookie", &cookie)], "").await;
    let (ka, kb) = (field(&a, "key"), field(&b, "key"));
    assert_eq!(ka.len(), 64);
    assert_ne!(ka, kb, "each rendering makes its own key");
    // The PIN is asked, labelled, and never filled in.
    assert!(a.contains(r#"<label for="pin">"#), "{a}");
    assert!(a.contains(r#"type="password" name="pin""#), "{a}");
    // The menu marks the page.
    assert!(
        a.contains(r#"href="/wallet/gift" aria-current="page""#),
        "{a}"
    );
}

#[tokio::test]
async fn refusals_are_shown_in_words_with_their_codes() {
    let (app, token) = with_user(service::Role::Citizen).await;
    let cookie = format!("maeul_session={token}");
    // Not a number: the page's own check, with the code the service would give.
    let (status, _, body) = call(
        &app,
        "GET",
        "/wallet/charge?face=lots",
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"data-code="amount_invalid""#), "{body}");
    assert!(body.contains("금액은 원 단위 숫자로"), "{body}");
    // The quote is the service's: here it has no such currency, and says so.
    let (status, _, body) = call(
        &app,
        "GET",
        "/wallet/charge?face=10000",
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(r#"role="alert""#), "{body}");
    // A gift with a key and the token, to a recipient that is not a number.
    let (_, _, page) = call(&app, "GET", "/wallet/gift", &[("cookie", &cookie)], "").await;
    let (csrf, key) = (field(&page, "csrf"), field(&page, "key"));
    let (status, _, body) = call(
        &app,
        "POST",
        "/wallet/gift",
        &[("cookie", &cookie)],
        &format!("csrf={csrf}&key={key}&recipient=someone&amount=1000&pin=123456"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"data-code="recipient_invalid""#), "{body}");
    assert!(!body.contains("123456"), "the PIN is echoed: {body}");
    assert!(
        body.contains(r#"value="someone""#),
        "the recipient is kept: {body}"
    );
}

#[tokio::test]
async fn sign_up_has_its_own_double_submit_token_and_keeps_the_form() {
    let (app, _) = with_user(service::Role::Citizen).await;
    let (status, h, body) = call(&app, "GET", "/sign-up", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let cookie = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("maeul_csrf="))
        .unwrap();
    assert!(
        cookie.contains("Path=/sign-up; HttpOnly; SameSite=Strict"),
        "{cookie}"
    );
    let token = field(&body, "csrf");
    assert!(cookie.starts_with(&format!("maeul_csrf={token};")));
    // Without the cookie's token: refused.
    let (status, _, _) = call(
        &app,
        "POST",
        "/sign-up",
        &[],
        &format!("csrf={token}&login=new&password=x&pin=123456&birth_year=1990"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bad year: told, the login kept, the password and PIN not.
    let secret = "a-secret-password-1";
    let (status, _, body) = call(
        &app,
        "POST",
        "/sign-up",
        &[("cookie", &format!("maeul_csrf={token}"))],
        &format!("csrf={token}&login=new-citizen&password={secret}&pin=654321&birth_year=19x0"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"data-code="birth_year_invalid""#), "{body}");
    assert!(body.contains(r#"value="new-citizen""#), "{body}");
    assert!(!body.contains(secret) && !body.contains("654321"), "{body}");
    // The service's refusal (this node runs no currency) comes back in its words.
    let (status, _, body) = call(
        &app,
        "POST",
        "/sign-up",
        &[("cookie", &format!("maeul_csrf={token}"))],
        &format!("csrf={token}&login=new-citizen&password={secret}&pin=654321&birth_year=1990"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(r#"role="alert""#), "{body}");
    // The sign-in page links here.
    let (_, _, body) = call(&app, "GET", "/sign-in", &[], "").await;
    assert!(body.contains(r#"href="/sign-up""#), "{body}");
}
