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

/// A service with no currency and an empty user store (in a directory kept until the
/// test process ends).
fn test_service() -> Arc<service::Service> {
    let dir = tempfile::tempdir().unwrap().keep();
    let auth = service::Auth::open(&dir, true).unwrap();
    Arc::new(service::Service::new(
        std::collections::BTreeMap::new(),
        Arc::new(auth),
    ))
}

fn app() -> Router {
    routes(Arc::new(Fixed(currencies())), test_service())
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
    site(api, Arc::new(Fixed(currencies())), test_service())
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

/// The raw body of `uri` with `headers`.
async fn fetch_bytes(uri: &str, headers: &[(&str, &str)]) -> (axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = app()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .unwrap();
    (headers, bytes.to_vec())
}

#[tokio::test]
async fn text_assets_go_gzipped_to_browsers_that_take_it() {
    use std::io::Read;
    let url = assets::url("htmx.min.js");
    let (plain_h, plain) = fetch_bytes(&url, &[]).await;
    assert!(plain_h.get("content-encoding").is_none());
    assert_eq!(header_of(&plain_h, "vary"), "Accept-Encoding");
    let (h, gz) = fetch_bytes(&url, &[("accept-encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!(header_of(&h, "content-encoding"), "gzip");
    assert_eq!(header_of(&h, "vary"), "Accept-Encoding");
    assert!(
        gz.len() * 2 < plain.len(),
        "{} of {}",
        gz.len(),
        plain.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    // Its own tag; either tag revalidates.
    let gz_etag = header_of(&h, "etag").to_owned();
    assert!(gz_etag.ends_with("-gz\""), "{gz_etag}");
    assert_ne!(gz_etag, header_of(&plain_h, "etag"));
    let (h304, body) = fetch_bytes(
        &url,
        &[("accept-encoding", "gzip"), ("if-none-match", &gz_etag)],
    )
    .await;
    assert!(body.is_empty() && h304.get("content-encoding").is_none());
    // Refused (q=0), unreadable or absent: the plain file.
    for refused in ["gzip;q=0", "gzip;q=0.000", "br", "gzip;q=x", "identity"] {
        let (h, body) = fetch_bytes(&url, &[("accept-encoding", refused)]).await;
        assert!(h.get("content-encoding").is_none(), "{refused}");
        assert_eq!(body, plain, "{refused}");
    }
    let (h, _) = fetch_bytes(&url, &[("accept-encoding", "*;q=0.5")]).await;
    assert_eq!(header_of(&h, "content-encoding"), "gzip");
    // PNG is compressed already; pages are never compressed (BREACH).
    let (h, _) = fetch_bytes(&assets::url("icon-192.png"), &[("accept-encoding", "gzip")]).await;
    assert!(h.get("content-encoding").is_none() && h.get("vary").is_none());
    let (h, _) = fetch_bytes("/", &[("accept-encoding", "gzip")]).await;
    assert!(h.get("content-encoding").is_none());
}

#[tokio::test]
async fn uploads_are_refused_before_their_body_is_read_without_the_role() {
    for (path, cookie) in [
        ("/console/registry/preview", None),
        ("/console/aliases", Some("maeul_session=forged")),
        ("/pay/scan", None),
    ] {
        // A body that never arrives: reading it would hang past the timeout below.
        let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        let mut req = Request::post(path).header("content-type", "multipart/form-data; boundary=x");
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            app().oneshot(req.body(Body::from_stream(never)).unwrap()),
        )
        .await
        .expect("answered without reading the body")
        .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{path}");
    }
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
    let app = site(api, Arc::new(Fixed(currencies())), test_service());
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

mod signed_in {
    //! Sign-in, sign-out and the wallet's gate, through the router with a real user store.
    use super::*;

    const PASSWORD: &str = "correct horse battery";

    async fn with_user(role: service::Role) -> (Arc<service::Service>, Router) {
        let service = test_service();
        let user = service
            .auth
            .create(service::NewUser {
                login: "minji".into(),
                password: service::Secret::new(PASSWORD.into()),
                pin: (role == service::Role::Citizen)
                    .then(|| service::Secret::new("123456".into())),
                role,
                currency: "demo".into(),
                currencies: Vec::new(),
                setup: None,
            })
            .await
            .unwrap();
        service.auth.set_account(user, 1_000_000_001).unwrap();
        let app = routes(Arc::new(Fixed(Vec::new())), Arc::clone(&service));
        (service, app)
    }

    async fn post(
        router: Router,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut req =
            Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = router
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
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

    fn set_cookies(h: &axum::http::HeaderMap) -> Vec<String> {
        h.get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The sign-in form's token, from its cookie (and checked to be the form's).
    async fn form_token(app: &Router) -> String {
        let (status, h, body) = get_with(app.clone(), "/sign-in", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_of(&h, "cache-control"), "no-store");
        let cookie = set_cookies(&h)
            .into_iter()
            .find(|c| c.starts_with("maeul_csrf="))
            .unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let token = cookie["maeul_csrf=".len()..]
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            body.contains(&format!(r#"name="csrf" value="{token}""#)),
            "{body}"
        );
        token
    }

    /// Signs in through the form: the session cookie's token.
    async fn sign_in(app: &Router) -> String {
        sign_in_to(app, "/wallet").await
    }

    /// Signs in through the form, landing on `desk`: the session cookie's token.
    async fn sign_in_to(app: &Router, desk: &str) -> String {
        let t = form_token(app).await;
        let (status, h, _) = post(
            app.clone(),
            "/sign-in",
            &[("cookie", &format!("maeul_csrf={t}"))],
            &format!("login=minji&password=correct+horse+battery&csrf={t}"),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(header_of(&h, "location"), desk);
        let c = set_cookies(&h)
            .into_iter()
            .find(|c| c.starts_with("maeul_session="))
            .unwrap();
        c["maeul_session=".len()..]
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn signing_in_sets_a_strict_http_only_session_cookie() {
        let (service, app) = with_user(service::Role::Citizen).await;
        let t = form_token(&app).await;
        let (status, h, _) = post(
            app.clone(),
            "/sign-in",
            &[
                ("cookie", &format!("maeul_csrf={t}")),
                ("origin", "https://maeul.example"),
                ("host", "maeul.example"),
                ("x-forwarded-proto", "https"),
            ],
            &format!("login=minji&password=correct+horse+battery&csrf={t}"),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookies = set_cookies(&h);
        let session = cookies
            .iter()
            .find(|c| c.starts_with("maeul_session="))
            .unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=",
            "Secure",
        ] {
            assert!(session.contains(part), "{part}: {session}");
        }
        let token = session["maeul_session=".len()..].split(';').next().unwrap();
        assert!(service.auth.caller(token).is_some());
        // Over plain HTTP, no Secure (the browser would drop the cookie).
        let token = sign_in(&app).await;
        assert!(service.auth.caller(&token).is_some());
    }

    #[tokio::test]
    async fn a_wrong_password_shows_the_services_words_and_not_the_password() {
        let (_, app) = with_user(service::Role::Citizen).await;
        let t = form_token(&app).await;
        let (status, h, body) = post(
            app.clone(),
            "/sign-in",
            &[("cookie", &format!("maeul_csrf={t}"))],
            &format!("login=minji&password=s3cret-guess-%3Cb%3E&csrf={t}"),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            body.contains("아이디 또는 비밀번호가 맞지 않습니다."),
            "{body}"
        );
        assert!(body.contains(r#"value="minji""#), "the login is kept");
        assert!(
            !body.contains("s3cret-guess"),
            "the password is never echoed"
        );
        assert!(
            set_cookies(&h)
                .iter()
                .all(|c| !c.starts_with("maeul_session="))
        );
        let (_, _, body) = post(
            app,
            "/sign-in",
            &[("cookie", &format!("maeul_csrf={t}; lang=en"))],
            &format!("login=minji&password=nope&csrf={t}"),
        )
        .await;
        assert!(body.contains("The login or password is wrong."), "{body}");
    }

    #[tokio::test]
    async fn repeated_failures_are_slowed_as_the_api_is_429_with_retry_after() {
        let (_, app) = with_user(service::Role::Citizen).await;
        let t = form_token(&app).await;
        let mut limited = None;
        for _ in 0..8 {
            let (status, h, body) = post(
                app.clone(),
                "/sign-in",
                &[("cookie", &format!("maeul_csrf={t}"))],
                &format!("login=minji&password=guess-number-x&csrf={t}"),
            )
            .await;
            assert!(!body.contains("guess-number-x"));
            if status == StatusCode::TOO_MANY_REQUESTS {
                limited = Some((h, body));
                break;
            }
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (h, body) = limited.expect("the service slows repeated failures");
        assert!(header_of(&h, "retry-after").parse::<u64>().unwrap() >= 1);
        assert!(
            body.contains(r#"data-code="sign_in_slowed""#)
                || body.contains(r#"data-code="too_many_sign_in_failures""#),
            "{body}"
        );
        assert!(body.contains("다시 시도해 주세요"), "{body}");
    }

    #[tokio::test]
    async fn sign_in_needs_the_forms_token_and_our_origin() {
        let (_, app) = with_user(service::Role::Citizen).await;
        let t = form_token(&app).await;
        let good = format!("login=minji&password=correct+horse+battery&csrf={t}");
        let cookie = format!("maeul_csrf={t}");
        let other = format!("maeul_csrf={}", crate::session::fresh_token());
        for (headers, body) in [
            // No token in the form.
            (
                vec![("cookie", cookie.as_str())],
                "login=minji&password=correct+horse+battery".to_owned(),
            ),
            // No cookie.
            (vec![], good.clone()),
            // A cookie that is not the form's.
            (vec![("cookie", other.as_str())], good.clone()),
            // Another site's page.
            (
                vec![
                    ("cookie", cookie.as_str()),
                    ("host", "maeul.example"),
                    ("origin", "http://evil.example"),
                ],
                good.clone(),
            ),
        ] {
            let (status, h, page) = post(app.clone(), "/sign-in", &headers, &body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?} {body}");
            assert!(page.contains("요청을 확인할 수 없습니다"), "{page}");
            assert!(set_cookies(&h).is_empty());
        }
    }

    #[tokio::test]
    async fn the_wallet_needs_a_citizens_session() {
        let (_, app) = with_user(service::Role::Citizen).await;
        let (status, h, _) = get_with(app.clone(), "/wallet", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(header_of(&h, "location"), "/sign-in");
        let (status, _, _) = get_with(
            app.clone(),
            "/wallet",
            &[("cookie", "maeul_session=forged")],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);

        // A merchant lands on their own desk, and is refused the citizen's.
        let (_, app) = with_user(service::Role::Merchant).await;
        let token = sign_in_to(&app, "/shop").await;
        let (status, h, _) = get_with(
            app.clone(),
            "/me",
            &[("cookie", &format!("maeul_session={token}"))],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(header_of(&h, "location"), "/shop");
        let (status, _, body) = get_with(
            app,
            "/wallet",
            &[("cookie", &format!("maeul_session={token}"))],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("시민 회원 전용 페이지입니다"), "{body}");
    }

    #[tokio::test]
    async fn signing_out_needs_the_sessions_token_and_ends_the_session() {
        let (service, app) = with_user(service::Role::Citizen).await;
        let token = sign_in(&app).await;
        let cookie = format!("maeul_session={token}");
        // Without the token, or with another session's: refused, still signed in.
        let another = crate::session::CsrfKey::random().for_session(&token);
        for body in [String::new(), format!("csrf={another}")] {
            let (status, _, page) =
                post(app.clone(), "/sign-out", &[("cookie", &cookie)], &body).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert!(page.contains("요청을 확인할 수 없습니다"));
            assert!(service.auth.caller(&token).is_some());
        }
        // The wallet page's form carries the right one (here the page says the wallet
        // cannot be read: this service has no currency; signing out still works).
        let (status, h, page) = get_with(app.clone(), "/wallet", &[("cookie", &cookie)]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(header_of(&h, "cache-control"), "no-store");
        assert!(page.contains("찾을 수 없습니다"), "{page}");
        let at = page.find(r#"name="csrf" value=""#).unwrap() + r#"name="csrf" value=""#.len();
        let csrf = &page[at..at + 64];
        // From another site, even with the token: refused.
        let (status, _, _) = post(
            app.clone(),
            "/sign-out",
            &[
                ("cookie", &cookie),
                ("host", "maeul.example"),
                ("origin", "http://evil.example"),
            ],
            &format!("csrf={csrf}"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(service.auth.caller(&token).is_some());
        let (status, h, _) = post(
            app.clone(),
            "/sign-out",
            &[("cookie", &cookie)],
            &format!("csrf={csrf}"),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(header_of(&h, "location"), "/");
        assert!(
            service.auth.caller(&token).is_none(),
            "the session has ended"
        );
        assert!(
            set_cookies(&h)
                .iter()
                .any(|c| c.starts_with("maeul_session=;") && c.contains("Max-Age=0")),
            "{h:?}"
        );
        let (status, h, _) = get_with(app, "/wallet", &[("cookie", &cookie)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(header_of(&h, "location"), "/sign-in");
    }
}
