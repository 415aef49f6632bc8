//! The money page through the router over a real currency (`service::testing`: a
//! journal, a simulated bank, a merchant holding 50,000 won): what it shows, the
//! confirmation, a double submit redeeming once, refusals keeping what was typed, and
//! its banner shown only for the session it was signed for.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use service::ServiceError;
use service::testing::{MERCHANT_BANK, TestCurrency, merchant_with_money};
use tower::ServiceExt;

use crate::i18n::Lang;
use crate::test_support::signed_in_pages;

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

async fn get(router: &Router, uri: &str, token: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::get(uri)
        .header("cookie", format!("maeul_session={token}"))
        .body(Body::empty())
        .unwrap();
    send(router, req).await
}

async fn post(
    router: &Router,
    uri: &str,
    token: &str,
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let req = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("maeul_session={token}"))
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(router, req).await
}

fn location(h: &HeaderMap) -> String {
    h.get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// The value of the hidden field `name` on a page.
fn hidden(body: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = body.find(&needle).unwrap() + needle.len();
    body[at..].split('"').next().unwrap().to_owned()
}

/// A merchant holding 50,000 won, signed in: the currency, the router, the session.
async fn shop() -> (TestCurrency, Router, crate::Pages, String) {
    let t = merchant_with_money(50_000).await;
    let (router, pages) = signed_in_pages(Arc::clone(&t.service), 3);
    let (token, _) = t.merchant("bakery").await;
    (t, router, pages, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_money_page_shows_what_can_be_redeemed_and_where_masked() {
    let (_t, router, _, token) = shop().await;
    let (status, h, body) = get(&router, "/shop/money", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(h.get("cache-control").unwrap(), "no-store");
    assert!(body.contains("<h1>잔액과 정산</h1>"), "{body}");
    assert!(
        body.contains(r#"href="/shop/money" aria-current="page">정산<"#),
        "{body}"
    );
    assert!(
        body.contains(r#"id="redeemable" data-amount="50000">50,000원<"#),
        "{body}"
    );
    assert!(body.contains(r#"id="redeeming" data-amount="0""#), "{body}");
    assert!(body.contains("***-**0001"), "{body}");
    assert!(!body.contains(MERCHANT_BANK), "never the whole number");
    assert_eq!(hidden(&body, "key").len(), 64, "a key drawn into the form");
    assert!(body.contains(r#"id="no-settlements""#), "{body}");
    assert!(!body.contains("redeem-result"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_keep_what_was_typed_and_the_key() {
    let (t, router, _, token) = shop().await;
    let (_, _, page) = get(&router, "/shop/money", &token).await;
    let csrf = hidden(&page, "csrf");
    let key = hidden(&page, "key");
    let form = |amount: &str| format!("csrf={csrf}&key={key}&amount={amount}");

    let (status, _, body) = post(&router, "/shop/money/confirm", &token, &form("abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(r#"data-code="amount_invalid""#), "{body}");
    assert!(body.contains(r#"value="abc""#), "kept: {body}");
    assert!(body.contains(r#"aria-invalid="true""#), "{body}");
    assert!(
        body.contains(&key),
        "the same key: nothing was asked under it"
    );

    let (status, _, body) = post(&router, "/shop/money/confirm", &token, &form("60%2C000")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#"data-code="insufficient_funds""#), "{body}");
    assert!(
        body.contains("정산할 수 있는 잔액보다 많은 금액입니다"),
        "{body}"
    );
    assert!(body.contains(r#"value="60,000""#), "kept: {body}");

    // The same refusal in English.
    let req = Request::post("/shop/money/confirm")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("maeul_session={token}; lang=en"))
        .body(Body::from(form("0")))
        .unwrap();
    let (status, _, body) = send(&router, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("Please enter the amount to redeem"), "{body}");

    // A redemption larger than the balance, sent straight to the last step: the
    // service's refusal, nothing paid.
    let (status, _, body) = post(&router, "/shop/money/redeem", &token, &form("50001")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains(r#"value="50001""#), "{body}");
    assert!(!body.contains(&key), "a refused request gets a new key");
    assert_eq!(t.merchant_bank_balance(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_redemption_is_made_once_however_often_it_is_sent() {
    let (t, router, _, token) = shop().await;
    let (_, _, page) = get(&router, "/shop/money", &token).await;
    let csrf = hidden(&page, "csrf");
    let key = hidden(&page, "key");

    // "All": the whole redeemable amount, to the masked account, before anything moves.
    let (status, _, body) = post(
        &router,
        "/shop/money/confirm",
        &token,
        &format!("csrf={csrf}&key={key}&amount=&all=yes"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#"id="confirm-amount" data-amount="50000">50,000원<"#),
        "{body}"
    );
    // A typed amount: that exactly, and what is left.
    let (status, _, body) = post(
        &router,
        "/shop/money/confirm",
        &token,
        &format!("csrf={csrf}&key={key}&amount=20%2C000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#"id="confirm-amount" data-amount="20000">20,000원<"#),
        "{body}"
    );
    assert!(
        body.contains(r#"id="confirm-account">***-**0001<"#),
        "{body}"
    );
    assert!(
        body.contains(r#"id="confirm-remaining" data-amount="30000""#),
        "{body}"
    );
    assert_eq!(hidden(&body, "key"), key, "the key goes on with the form");
    assert_eq!(hidden(&body, "amount"), "20000");
    assert_eq!(t.merchant_bank_balance(), 0, "nothing paid by confirming");

    // Pay out; then the same form again (a double click, back and resubmit).
    let confirmed = format!("csrf={csrf}&key={key}&amount=20000");
    let (status, h, body) = post(&router, "/shop/money/redeem", &token, &confirmed).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let to = location(&h);
    assert!(
        to.starts_with("/shop/money?redeemed=20000&status=paid&transfer="),
        "{to}"
    );
    let (status, h, _) = post(&router, "/shop/money/redeem", &token, &confirmed).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), to, "the first answer again");
    assert_eq!(t.merchant_bank_balance(), 20_000, "paid once");

    // The banner, the balance and the settlement (a projection: it follows at once or
    // within milliseconds).
    let mut body = String::new();
    for _ in 0..200 {
        body = get(&router, &to, &token).await.2;
        if body.contains(r#"data-status="paid""#) && body.contains("<tbody><tr") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(body.contains(r#"id="redeem-result""#), "{body}");
    assert!(body.contains("정산금을 보냈습니다"), "{body}");
    assert!(
        body.contains(r#"id="redeemable" data-amount="30000""#),
        "{body}"
    );
    assert_eq!(body.matches("<tr data-transfer=").count(), 1, "{body}");
    assert!(body.contains(">지급 완료<"), "{body}");
    assert!(body.contains("<code class=\"reference\">demo-r"), "{body}");

    // A tampered amount shows the page without the banner.
    let forged = to.replace("redeemed=20000", "redeemed=2000000");
    let (status, _, body) = get(&router, &forged, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("redeem-result"), "{body}");
    assert!(!body.contains("2,000,000"), "{body}");
    // So does the same link in another session (even the same merchant's).
    let (other, _) = t.merchant("bakery-2").await;
    let (status, _, body) = get(&router, &to, &other).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("redeem-result"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeeming_needs_a_merchants_session_and_its_token() {
    let (t, router, _, token) = shop().await;
    let (_, _, page) = get(&router, "/shop/money", &token).await;
    let key = hidden(&page, "key");
    for path in ["/shop/money/confirm", "/shop/money/redeem"] {
        let (status, _, _) = post(&router, path, &token, &format!("key={key}&amount=1")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: no token");
    }
    let (citizen, _) = t
        .signed_in("minji", service::Role::Citizen, service::testing::WALLET)
        .await;
    let (status, _, body) = get(&router, "/shop/money", &citizen).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("가맹점 전용 화면입니다"), "{body}");
    let req = Request::get("/shop/money").body(Body::empty()).unwrap();
    let (status, h, _) = send(&router, req).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&h), "/sign-in");
    assert_eq!(t.merchant_bank_balance(), 0);
}

#[test]
fn the_bank_down_is_told_with_what_to_do_and_asked_again_under_the_same_key() {
    let down = ServiceError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "bank_unavailable",
        "은행 응답이 늦어지고 있습니다.",
        "The bank is slow to answer.",
    );
    let html = super::redeem_error(Lang::Ko, &down).into_string();
    assert!(html.contains(r#"data-code="bank_unavailable""#), "{html}");
    assert!(html.contains("은행 응답이 늦어지고 있습니다."), "{html}");
    assert!(
        html.contains("같은 신청은 두 번 정산되지 않습니다"),
        "{html}"
    );
    assert_eq!(super::retry_key(&down, "k1".into()), "k1");
    let over = service::merchant::redemption_amount(10, Some(11)).unwrap_err();
    let html = super::redeem_error(Lang::En, &over).into_string();
    assert!(html.contains("more than the balance"), "{html}");
    assert!(!html.contains("never paid out twice"), "{html}");
    assert_ne!(super::retry_key(&over, "k1".into()), "k1");
}

#[test]
fn each_answer_has_its_banner() {
    let banner = |status: &str| {
        super::done_banner(
            Lang::Ko,
            &super::Redeemed {
                amount: 1_000,
                status: status.into(),
                transfer: 9,
            },
        )
        .into_string()
    };
    assert!(banner("paid").contains("정산금을 보냈습니다"));
    assert!(banner("in_progress").contains("은행이 지급하는 중입니다"));
    let refused = banner("refused");
    assert!(refused.contains("alert-error") && refused.contains("잔액으로 돌아왔습니다"));
    assert_eq!(banner("anything else"), "");
}
