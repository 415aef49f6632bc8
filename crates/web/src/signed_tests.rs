//! Every result banner through the router over a real currency (`service::testing`):
//! the address the page itself would redirect to shows the banner; the same address
//! with a value changed, unsigned, or from another session shows the page without it.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use service::Role;
use service::testing::{WALLET, merchant_with_money};
use tower::ServiceExt;

use super::Banner;
use crate::test_support::signed_in_pages;

async fn get(router: &Router, uri: &str, token: &str) -> (StatusCode, String) {
    let req = Request::get(uri)
        .header("cookie", format!("maeul_session={token}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// `url` with its first field's value changed (a digit put in front of it).
fn tampered(url: &str) -> String {
    let at = url.find('=').unwrap() + 1;
    format!("{}9{}", &url[..at], &url[at..])
}

/// `url` without its signature.
fn unsigned(url: &str) -> String {
    url[..url.find("&sig=").unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banners_show_only_for_the_session_they_were_signed_for() {
    let t = merchant_with_money(50_000).await;
    let (router, pages) = signed_in_pages(Arc::clone(&t.service), 5);
    let (shop, _) = t.merchant("bakery").await;
    let (shop_elsewhere, _) = t.merchant("bakery-2").await;
    let (citizen, _) = t.signed_in("minji", Role::Citizen, WALLET).await;
    let (citizen_elsewhere, _) = t.signed_in("minji-2", Role::Citizen, WALLET).await;

    // (whose page, the banner as the page's handler makes it, its path, what shows it)
    let cases: Vec<(&str, &str, Banner, &str, &str)> = vec![
        (
            &shop,
            &shop_elsewhere,
            crate::shop::Done::Charged {
                amount: 1_000_000,
                payment: 7,
            }
            .banner(),
            "/shop",
            "id=\"charge-result\"",
        ),
        (
            &shop,
            &shop_elsewhere,
            crate::shop::Done::Refunded {
                amount: 5_000,
                payment: 7,
            }
            .banner(),
            "/shop",
            "id=\"refund-result\"",
        ),
        (
            &citizen,
            &citizen_elsewhere,
            Banner::new("gift-sent")
                .field("sent", 11)
                .field("amount", 5_000)
                .field("to", 1_000_002),
            "/wallet/gift",
            "id=\"gift-sent\"",
        ),
        (
            &citizen,
            &citizen_elsewhere,
            Banner::new("refund-done")
                .field("done", "paid")
                .field("amount", 45_000),
            "/wallet/refund",
            "id=\"refund-done\"",
        ),
        (
            &citizen,
            &citizen_elsewhere,
            Banner::new("bank-linked").field("linked", 1),
            "/wallet/bank",
            "id=\"bank-linked-now\"",
        ),
        (
            &citizen,
            &citizen_elsewhere,
            Banner::new("auto-charge-saved").field("saved", 1),
            "/wallet/auto-charge",
            "id=\"auto-done\"",
        ),
        (
            &citizen,
            &citizen_elsewhere,
            Banner::new("auto-charge-removed").field("removed", 1),
            "/wallet/auto-charge",
            "id=\"auto-done\"",
        ),
    ];
    for (mine, elsewhere, banner, path, shown) in cases {
        let url = banner.url(&pages, mine, path);
        let (status, body) = get(&router, &url, mine).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert!(body.contains(shown), "{url} shows {shown}: {body}");
        for other in [tampered(&url), unsigned(&url)] {
            let (status, body) = get(&router, &other, mine).await;
            assert_eq!(status, StatusCode::OK, "{other}: no error, {body}");
            assert!(!body.contains(shown), "{other}: no banner");
        }
        let (status, body) = get(&router, &url, elsewhere).await;
        assert_eq!(status, StatusCode::OK, "{url} elsewhere: {body}");
        assert!(!body.contains(shown), "{url}: not another session's banner");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_receipt_shows_only_what_was_signed_for_the_session() {
    let t = merchant_with_money(50_000).await;
    let (router, pages) = signed_in_pages(Arc::clone(&t.service), 6);
    let (citizen, _) = t.signed_in("minji", Role::Citizen, WALLET).await;
    let (elsewhere, _) = t.signed_in("minji-2", Role::Citizen, WALLET).await;
    let receipt = Banner::new("pay-receipt")
        .field("payment", 31)
        .field("merchant", service::testing::MERCHANT)
        .field("amount", 12_000)
        .field("cashback", 1_200)
        .field("note", "");
    let url = receipt.url(&pages, &citizen, "/pay/done");
    let (status, body) = get(&router, &url, &citizen).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#"id="paid" data-amount="12000">12,000원<"#),
        "{body}"
    );
    // The receipt is the whole page: without a good signature, back to paying.
    for (other, token) in [
        (tampered(&url), citizen.as_str()),
        (unsigned(&url), citizen.as_str()),
        (url.clone(), elsewhere.as_str()),
    ] {
        let req = Request::get(&other)
            .header("cookie", format!("maeul_session={token}"))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{other}");
        assert_eq!(response.headers().get("location").unwrap(), "/pay");
    }
}
