//! The pages through their router, without a socket.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::*;

/// A fixed set of currencies.
struct Fixed(Vec<CurrencyStatus>);

impl StatusSource for Fixed {
    fn status(&self) -> Vec<CurrencyStatus> {
        self.0.clone()
    }
}

const EVIL: &str = "<script>alert('x')</script>&";

fn currencies() -> Vec<CurrencyStatus> {
    vec![
        CurrencyStatus {
            code: "busan".into(),
            state: ServiceState::Running,
            since_ms: Some(1_796_284_800_000),
            reason: None,
            works: Works {
                payments: true,
                charging: true,
                redemption: true,
            },
            notices: vec![Notice {
                kind: NoticeKind::Notice,
                at_ms: 1_796_284_800_000,
                title: Text::new(format!("점검 {EVIL}"), format!("Maintenance {EVIL}")),
                body: Text::new("새벽 2시", "2 a.m."),
            }],
        },
        CurrencyStatus {
            code: "seoul".into(),
            state: ServiceState::Halted,
            since_ms: None,
            reason: Some(Reason {
                code: ReasonCode::OperatorHalt,
                note: Some(EVIL.into()),
            }),
            works: Works::default(),
            notices: vec![],
        },
    ]
}

fn app() -> Router {
    routes(Arc::new(Fixed(currencies())))
}

/// A stand-in for the API: one route, and a problem+json 404 for everything else.
fn site_app() -> Router {
    let api = Router::new()
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(|| async { "{}" }),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/problem+json")],
                r#"{"code":"not_found"}"#,
            )
        });
    site(api, Arc::new(Fixed(currencies())))
}

async fn get_with(
    router: Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = router
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
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

async fn fetch(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, String) {
    get_with(app(), uri, headers).await
}

fn header_of<'a>(h: &'a axum::http::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn pages_are_korean_by_default_english_by_cookie_or_accept_language() {
    let (_, _, body) = fetch("/", &[]).await;
    assert!(body.contains(r#"<html lang="ko""#), "{body}");
    assert!(body.contains("우리 동네 지역화폐"));
    let (_, _, body) = fetch("/", &[("cookie", "lang=en")]).await;
    assert!(body.contains(r#"<html lang="en""#), "{body}");
    let (_, _, body) = fetch("/status", &[("accept-language", "en-US,en;q=0.9")]).await;
    assert!(body.contains(r#"<html lang="en""#));
    assert!(body.contains("Service status"));
    // The cookie wins over the browser's languages.
    let (_, _, body) = fetch(
        "/status",
        &[("accept-language", "en-US"), ("cookie", "lang=ko")],
    )
    .await;
    assert!(body.contains(r#"<html lang="ko""#));
    assert!(body.contains("정상 운영") && body.contains("중단됨"));
}

#[tokio::test]
async fn the_language_switch_sets_a_cookie_and_goes_back_only_to_our_pages() {
    let (status, h, _) = fetch("/lang?to=en&back=/status", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(header_of(&h, "location"), "/status");
    let cookie = header_of(&h, "set-cookie");
    assert!(cookie.starts_with("lang=en;"), "{cookie}");
    for part in ["Max-Age=31536000", "Path=/", "SameSite=Strict", "HttpOnly"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/%5Cevil.example",
        "/\\evil",
    ] {
        let uri = format!("/lang?to=ko&back={}", evil.replace('\\', "%5C"));
        let (status, h, _) = fetch(&uri, &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        let location = header_of(&h, "location");
        assert!(
            location == "/" || location == "/%5Cevil.example",
            "{uri} went to {location}"
        );
    }
    // An unknown language changes nothing but still goes back.
    let (status, h, _) = fetch("/lang?to=fr&back=/status", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(h.get("set-cookie").is_none());
    // A malformed query goes home.
    let (status, h, _) = fetch("/lang?to=en&to=ko&back=%ZZ", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(header_of(&h, "location"), "/");
}

#[tokio::test]
async fn large_text_is_a_remembered_class_on_html() {
    let (status, h, _) = fetch("/text?size=large&back=/", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(header_of(&h, "set-cookie").starts_with("text=large;"));
    let (_, h, _) = fetch("/text?size=huge&back=/", &[]).await;
    assert!(h.get("set-cookie").is_none());
    let (_, _, body) = fetch("/status", &[("cookie", "text=large")]).await;
    assert!(body.contains(r#"class="large-text""#), "{body}");
    assert!(body.contains("큰글씨 모드 끄기"));
    let (_, _, body) = fetch("/status", &[]).await;
    assert!(!body.contains("large-text"));
    assert!(body.contains("큰글씨 모드 켜기"));
}

#[tokio::test]
async fn status_json_has_the_documented_shape() {
    let (status, h, body) = fetch("/status.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&h, "content-type"), "application/json");
    assert_eq!(header_of(&h, "access-control-allow-origin"), "*");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        ["currencies", "generated_at", "generated_at_ms", "version"]
    );
    assert_eq!(v["version"], 1);
    assert!(v["generated_at"].as_str().unwrap().ends_with("+09:00"));
    let busan = &v["currencies"][0];
    assert_eq!(
        keys(busan),
        [
            "code", "notices", "reason", "since", "since_ms", "state", "works"
        ]
    );
    assert_eq!(busan["code"], "busan");
    assert_eq!(busan["state"], "running");
    assert_eq!(busan["since_ms"], 1_796_284_800_000u64);
    assert_eq!(busan["since"], "2026-12-03T17:00:00+09:00");
    assert_eq!(busan["reason"], serde_json::Value::Null);
    assert_eq!(
        busan["works"],
        serde_json::json!({"payments": true, "charging": true, "redemption": true})
    );
    let notice = &busan["notices"][0];
    assert_eq!(keys(notice), ["at", "at_ms", "body", "kind", "title"]);
    assert_eq!(notice["kind"], "notice");
    assert_eq!(notice["title"]["en"], format!("Maintenance {EVIL}"));
    let seoul = &v["currencies"][1];
    assert_eq!(seoul["state"], "halted");
    assert_eq!(seoul["since"], serde_json::Value::Null);
    assert_eq!(keys(&seoul["reason"]), ["code", "message", "note"]);
    assert_eq!(seoul["reason"]["code"], "operator_halt");
    assert_eq!(
        seoul["reason"]["message"]["ko"],
        "운영자가 서비스를 일시 중단했습니다."
    );
    assert_eq!(seoul["reason"]["note"], EVIL);
    // And it reads back as the documented type.
    let doc: StatusDocument = serde_json::from_str(&body).unwrap();
    assert_eq!(doc.currencies.len(), 2);
}

#[tokio::test]
async fn reasons_and_notices_are_escaped_in_html() {
    for lang in ["ko", "en"] {
        let cookie = format!("lang={lang}");
        for uri in ["/status", "/status/live"] {
            let (_, _, body) = fetch(uri, &[("cookie", &cookie)]).await;
            assert!(!body.contains("<script>alert"), "{uri} {lang}: {body}");
            assert!(
                body.contains("&lt;script&gt;alert('x')&lt;/script&gt;&amp;"),
                "{uri} {lang}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn the_status_page_states_each_currency_in_words_and_polls_a_fragment() {
    let (status, _, body) = fetch("/status", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"data-currency="busan" data-state="running""#));
    assert!(body.contains(r#"data-currency="seoul" data-state="halted""#));
    assert!(body.contains("일부 지역화폐에 문제가 있습니다"));
    assert!(body.contains("운영자가 서비스를 일시 중단했습니다."));
    assert!(body.contains(r#"hx-get="/status/live""#));
    assert!(body.contains(r#"datetime="2026-12-03T17:00:00+09:00""#));
    // The fragment is the live part only, with the same polling, not a whole page.
    let (status, _, fragment) = fetch("/status/live", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        fragment.starts_with(r#"<div id="status-live" hx-get="/status/live""#),
        "{fragment}"
    );
    assert!(!fragment.contains("<html"));
}

#[tokio::test]
async fn page_responses_carry_the_security_headers() {
    for uri in [
        "/",
        "/status",
        "/status/live",
        "/status.json",
        "/lang?to=en",
    ] {
        let (_, h, _) = fetch(uri, &[]).await;
        assert_eq!(
            header_of(&h, "content-security-policy"),
            CONTENT_SECURITY_POLICY_VALUE,
            "{uri}"
        );
        assert!(header_of(&h, "content-security-policy").starts_with("default-src 'self'"));
        assert_eq!(header_of(&h, "x-content-type-options"), "nosniff", "{uri}");
        assert_eq!(header_of(&h, "referrer-policy"), "same-origin", "{uri}");
        assert_eq!(header_of(&h, "x-frame-options"), "DENY", "{uri}");
    }
    let (_, _, body) = fetch("/", &[]).await;
    // No inline script or style for the policy to block.
    assert!(!body.contains("<script>") && !body.contains("<style") && !body.contains(" style="));
}

#[tokio::test]
async fn assets_have_their_types_and_hashed_urls_are_immutable() {
    for (name, content_type) in [
        ("maeul.css", "text/css; charset=utf-8"),
        ("htmx.min.js", "text/javascript; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
        ("icon-192.png", "image/png"),
        ("icon-512.png", "image/png"),
    ] {
        let hashed = assets::url(name);
        assert!(
            hashed.starts_with("/assets/") && hashed != format!("/assets/{name}"),
            "{hashed}"
        );
        let (status, h, body) = fetch(&hashed, &[]).await;
        assert_eq!(status, StatusCode::OK, "{hashed}");
        assert_eq!(header_of(&h, "content-type"), content_type, "{hashed}");
        assert_eq!(
            header_of(&h, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(!body.is_empty());
        let etag = header_of(&h, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
        // The plain name is revalidated, and answered 304 when unchanged.
        let plain = format!("/assets/{name}");
        let (status, h, _) = fetch(&plain, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_of(&h, "cache-control"), "public, no-cache");
        let (status, _, body) = fetch(&plain, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
    }
    let (status, _, _) = fetch("/assets/nothing.js", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, page) = fetch("/", &[]).await;
    assert!(page.contains(&assets::url("maeul.css")) && page.contains(&assets::url("htmx.min.js")));
}

#[tokio::test]
async fn htmx_is_vendored_with_its_version_and_licence() {
    let (_, _, js) = fetch("/assets/htmx.min.js", &[]).await;
    assert!(
        js.starts_with("/*! htmx.org 2.0.11 | Zero-Clause BSD"),
        "{}",
        &js[..80]
    );
    assert!(js.contains("var htmx=function()"));
}

#[tokio::test]
async fn the_manifest_names_icons_that_are_served() {
    let (status, h, body) = fetch("/manifest.webmanifest", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&h, "content-type"), "application/manifest+json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["start_url"], "/");
    let icons = v["icons"].as_array().unwrap();
    assert_eq!(icons.len(), 3);
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let (status, _, _) = fetch(src, &[]).await;
        assert_eq!(status, StatusCode::OK, "{src}");
    }
}

#[tokio::test]
async fn unknown_pages_are_friendly_and_the_api_keeps_its_own_errors() {
    let (status, h, body) = get_with(site_app(), "/nowhere?x=1", &[("cookie", "lang=en")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header_of(&h, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header_of(&h, "x-frame-options"), "DENY");
    assert!(body.contains(r#"<html lang="en""#));
    assert!(body.contains("Page not found") && body.contains(r#"href="/status""#));
    // The language switch on that page comes back to the same address.
    assert!(
        body.contains("/lang?to=ko&amp;back=/nowhere%3Fx%3D1"),
        "{body}"
    );
    let (status, _, body) = get_with(site_app(), "/nowhere", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("페이지를 찾을 수 없습니다"));

    let (status, h, body) = get_with(site_app(), "/api/v1/nothing", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header_of(&h, "content-type"), "application/problem+json");
    assert_eq!(body, r#"{"code":"not_found"}"#);
    let (status, _, body) = get_with(site_app(), "/api/v1/openapi.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "{}");
    let (status, _, body) = get_with(site_app(), "/status", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("서비스 상태"));
}

#[tokio::test]
async fn the_home_page_links_only_pages_that_exist() {
    let (_, _, body) = get_with(site_app(), "/", &[]).await;
    let hrefs: Vec<&str> = body
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(
        hrefs.contains(&"/status") && hrefs.contains(&"/api/v1/openapi.json"),
        "{hrefs:?}"
    );
    for href in hrefs {
        if href.starts_with('#') {
            continue;
        }
        let href = href.replace("&amp;", "&");
        let (status, _, _) = get_with(site_app(), &href, &[]).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::SEE_OTHER,
            "{href}: {status}"
        );
    }
}

/// The API's middleware names requests by their matched route (metrics, body limits,
/// which probes are never shed): behind the pages it must still see its own routes.
#[tokio::test]
async fn the_api_behind_the_pages_still_sees_its_matched_routes() {
    use axum::extract::MatchedPath;
    use axum::middleware::Next;

    async fn echo_route(req: axum::extract::Request, next: Next) -> Response {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched".to_owned(), |p| p.as_str().to_owned());
        let mut response = next.run(req).await;
        response.headers_mut().insert(
            "x-route",
            axum::http::HeaderValue::from_str(&route).unwrap(),
        );
        response
    }
    let api = Router::new()
        .route("/readyz", axum::routing::get(|| async { "ready" }))
        .route(
            "/api/v1/notices/{currency}",
            axum::routing::get(|| async { "[]" }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn(echo_route));
    let app = site(api, Arc::new(Fixed(currencies())));
    for (uri, route) in [
        ("/readyz", "/readyz"),
        ("/api/v1/notices/demo", "/api/v1/notices/{currency}"),
    ] {
        let (status, h, _) = get_with(app.clone(), uri, &[]).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(header_of(&h, "x-route"), route, "{uri}");
    }
    let (_, h, _) = get_with(app, "/api/v1/nothing", &[]).await;
    assert_eq!(header_of(&h, "x-route"), "unmatched");
}
