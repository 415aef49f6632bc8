//! The auditor's desk: its gate and its fragments.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use service::auditor::VerifyAnswer;
use tower::ServiceExt;

use super::*;

/// A router over a service with one user of `role` (running currency `demo`, which this
/// service does not have), and that user's session cookie.
pub(crate) async fn app_with(role: Role) -> (axum::Router, String) {
    let (app, token) = crate::test_support::site_with_user(role, "staff", None, &["demo"]).await;
    (app, format!("maeul_session={token}"))
}

pub(crate) async fn get(
    app: &axum::Router,
    uri: &str,
    cookie: &str,
) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if !cookie.is_empty() {
        req = req.header("cookie", cookie);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    (
        status,
        location,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// A page of the operator's console: signed out, to sign-in; `others`, refused (403); an
/// operator of a currency this node does not run, the service's answer (404, its code).
pub(crate) async fn assert_operators_only(path: &str, others: &[Role]) {
    let (app, _) = app_with(Role::Operator).await;
    let (status, location, _) = get(&app, path, "").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/sign-in"),
        "{path}"
    );
    for role in others {
        let (app, cookie) = app_with(*role).await;
        let (status, _, _) = get(&app, path, &cookie).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} as {role:?}");
    }
    let (app, cookie) = app_with(Role::Operator).await;
    let (status, _, body) = get(&app, path, &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    assert!(body.contains(r#"data-code="not_found""#), "{body}");
}

#[tokio::test]
async fn the_desk_is_for_signed_in_auditors_and_operators() {
    let (app, _) = app_with(Role::Auditor).await;
    let (status, location, _) = get(&app, "/audit", "").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/sign-in")
    );
    let (app, cookie) = app_with(Role::Citizen).await;
    let (status, _, body) = get(&app, "/audit", &cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("감사인과 운영자만"), "{body}");
    // An auditor of a currency this node does not run: the service's own answer.
    let (app, cookie) = app_with(Role::Auditor).await;
    let (status, _, body) = get(&app, "/audit", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(r#"data-code="not_found""#), "{body}");
    let (status, _, body) = get(&app, "/audit/verify/progress?currency=other", &cookie).await;
    assert_eq!(status, StatusCode::OK, "a fragment");
    assert!(body.contains(r#"role="alert""#), "{body}");
}

#[tokio::test]
async fn starting_a_verification_needs_the_form_token() {
    let (app, cookie) = app_with(Role::Auditor).await;
    let req = Request::post("/audit/verify")
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("currency=demo&csrf=wrong"))
        .unwrap();
    let response = app.oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

fn verification(running: bool, ok: bool) -> Verification {
    Verification {
        running,
        checked: if running { 1_024 } else { 5_000 },
        total: 4_096,
        started_at: 1_796_284_800_000_000,
        finished_at: (!running).then_some(1_796_284_801_000_000),
        chain_hash: (!running).then(|| "ab".repeat(32)),
        answer: (!running).then(|| VerifyAnswer {
            ok,
            report: "report <b>".into(),
        }),
    }
}

#[test]
fn a_running_verification_polls_and_shows_how_far_it_came() {
    let s = verification_fragment(Lang::Ko, "demo", Some(&verification(true, false)), "t")
        .into_string();
    assert!(
        s.contains(r#"hx-get="/audit/verify/progress?currency=demo""#),
        "{s}"
    );
    assert!(s.contains(r#"hx-trigger="every 1s""#));
    assert!(s.contains(r#"data-state="running""#));
    assert!(s.contains("1,024 / 4,096"), "{s}");
    assert!(
        s.contains(r#"<progress class="verify-bar" max="4096" value="1024""#),
        "{s}"
    );
    assert!(!s.contains("<form"), "no second start while one runs");
}

#[test]
fn a_finished_verification_stops_polling_and_tells_the_result() {
    let s = verification_fragment(Lang::En, "demo", Some(&verification(false, true)), "t")
        .into_string();
    assert!(!s.contains("hx-get"), "{s}");
    assert!(s.contains(r#"data-state="ok""#));
    assert!(s.contains("All good"));
    assert!(
        s.contains("5,000 / 5,000"),
        "checked past the start's head: {s}"
    );
    assert!(s.contains(&"ab".repeat(32)));
    assert!(s.contains("report &lt;b&gt;"), "escaped: {s}");
    assert!(s.contains("Verify again"));
    assert!(s.contains(r#"name="csrf" value="t""#));
    let s = verification_fragment(Lang::Ko, "demo", Some(&verification(false, false)), "t")
        .into_string();
    assert!(s.contains(r#"data-state="bad""#));
    assert!(s.contains("문제 발견"));
    let s = verification_fragment(Lang::Ko, "demo", None, "t").into_string();
    assert!(s.contains(r#"data-state="none""#));
    assert!(s.contains("검증 시작"));
}

#[test]
fn account_kinds_have_words_and_currencies_are_chosen_among_the_callers() {
    assert_eq!(kind_label(Lang::Ko, "subsidy_budget"), "보조금 예산");
    assert_eq!(kind_label(Lang::En, "citizen_wallet"), "Citizens' wallets");
    assert_eq!(kind_label(Lang::En, "new_kind"), "new_kind");
    let caller = Caller {
        user_id: 1,
        role: Role::Auditor,
        account: None,
        currency: "busan".into(),
        currencies: vec!["busan".into(), "seoul".into()],
        session: [0; 32],
    };
    assert_eq!(
        chosen_currency(&caller, Some("seoul")).as_deref(),
        Some("seoul")
    );
    assert_eq!(
        chosen_currency(&caller, Some("evil")).as_deref(),
        Some("busan")
    );
    assert_eq!(chosen_currency(&caller, None).as_deref(), Some("busan"));
    // A form naming a currency the caller may not run is refused, not redirected.
    assert_eq!(posted_currency(&caller, Some("evil")), None);
    assert_eq!(
        posted_currency(&caller, Some("seoul")).as_deref(),
        Some("seoul")
    );
    assert_eq!(posted_currency(&caller, None).as_deref(), Some("busan"));
    let location = see_other_currency("/audit", "seoul\r\nx");
    assert_eq!(location.headers()["location"], "/audit");
}
