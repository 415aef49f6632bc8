//! Paying: finding the shop by name (Korean, 초성 or English), its card, amount and PIN,
//! the result; scanning the shop's QR (a photo, or the camera through `scan.js`). Each
//! handler reads the request, calls one `service` use case (the same as the API's
//! route) and renders the answer.
//!
//! Routes: `GET /pay` (search and scan), `GET /pay/shop/{id}` (the card and the form),
//! `POST /pay/shop/{id}` (pays; 303 to the result), `GET /pay/done` (the result, signed
//! so it shows only what the service answered), `POST /pay/scan` (a photo or a camera
//! frame: what the code is, in the service's words).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use service::citizen::{PaymentRequest, ScanView};
use service::public::{MerchantCard, NameParams};
use service::{Role, Secret, ServiceError};

use super::{Tab, tabs};
use crate::account::url_encode;
use crate::account::{refused, see_other, words};
use crate::i18n::{Lang, M, Words};
use crate::layout::{Nav, page};
use crate::prefs::Prefs;
use crate::session::{CSRF_FIELD, SignedIn, fresh_token, signed_in};
use crate::signed::{self, Banner};
use crate::wallet::won;
use crate::{Pages, assets, private_response, upload};

/// Shops listed for one search.
pub const SEARCH_SHOWN: u32 = 20;
/// The longest search text passed on.
const QUERY_CHARS_MAX: usize = 64;
/// The largest photo a page takes: the API's own image limit (`qr` refuses more).
pub const PHOTO_BYTES_MAX: usize = 8 * 1024 * 1024;

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/pay", get(search))
        .route("/pay/shop/{id}", get(shop).post(pay))
        .route("/pay/done", get(done))
        .route("/pay/scan-text", post(scan_text))
        .route(
            "/pay/scan",
            post(scan).layer(DefaultBodyLimit::max(PHOTO_BYTES_MAX + 64 * 1024)),
        )
}

/// This page's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W {
    PayTitle,
    PayLead,
    SearchTitle,
    SearchLabel,
    SearchHint,
    SearchButton,
    Results,
    NoResults,
    ChooseShop,
    ShopTitle,
    Address,
    Hours,
    Category,
    Status,
    AmountLabel,
    AmountHint,
    PinLabel,
    PinHint,
    PayButton,
    PayFailed,
    DoneTitle,
    DoneLead,
    Paid,
    To,
    Cashback,
    NoCashback,
    BalanceAfter,
    PaymentNo,
    PayAgain,
    BackToWallet,
    ScanTitle,
    ScanLead,
    PhotoLabel,
    PhotoHint,
    PhotoButton,
    CameraButton,
    CameraStop,
    CameraNote,
    CameraVideo,
    ScanResult,
    PayThisShop,
    ScanAgain,
    NotPayable,
    FixedAmount,
    NoteNoRate,
    NoteSpendCap,
    NoteCashbackCap,
    NoteBudget,
}

impl Words for W {
    fn words(self) -> (&'static str, &'static str) {
        use W::*;
        match self {
            PayTitle => ("결제하기", "Pay"),
            PayLead => (
                "가게의 QR을 찍거나 가게 이름으로 찾아 결제하세요.",
                "Scan the shop's QR code, or find the shop by its name, and pay.",
            ),
            SearchTitle => ("가게 이름으로 찾기", "Find the shop by name"),
            SearchLabel => ("가게 이름", "Shop name"),
            SearchHint => (
                "이름 일부나 초성(예: ㄱㄷㅅㅈ), 영문 이름으로도 찾을 수 있습니다.",
                "Part of the name, its initial consonants (e.g. ㄱㄷㅅㅈ) or its English name.",
            ),
            SearchButton => ("찾기", "Search"),
            Results => ("찾은 가게", "Shops found"),
            NoResults => (
                "그 이름의 가맹점을 찾지 못했습니다. 이름을 줄이거나 초성으로 찾아 보세요.",
                "No shop found with that name. Try fewer letters or the initial consonants.",
            ),
            ChooseShop => ("이 가게에 결제", "Pay this shop"),
            ShopTitle => ("가게 정보", "The shop"),
            Address => ("주소", "Address"),
            Hours => ("영업시간", "Opening hours"),
            Category => ("업종", "Category"),
            Status => ("상태", "Status"),
            AmountLabel => ("결제 금액(원)", "Amount (won)"),
            AmountHint => (
                "가게에 말한 금액을 원 단위로 적으세요.",
                "The amount in won, as the shop asked.",
            ),
            PinLabel => ("결제 비밀번호(6자리)", "Payment PIN (6 digits)"),
            PinHint => (
                "비밀번호는 화면에 남지 않습니다.",
                "The PIN is never shown again.",
            ),
            PayButton => ("결제하기", "Pay"),
            PayFailed => ("결제하지 못했습니다", "The payment was not made"),
            DoneTitle => ("결제했습니다", "Paid"),
            DoneLead => (
                "가게에 이 화면을 보여 주세요.",
                "Show this screen to the shop.",
            ),
            Paid => ("결제 금액", "Paid"),
            To => ("가게", "To"),
            Cashback => ("캐시백", "Cash-back"),
            NoCashback => (
                "이번 결제에는 캐시백이 없습니다.",
                "No cash-back on this payment.",
            ),
            BalanceAfter => ("결제 후 잔액", "Balance now"),
            PaymentNo => ("결제 번호", "Payment number"),
            PayAgain => ("다른 가게에 결제", "Pay another shop"),
            BackToWallet => ("내 지갑으로", "Back to my wallet"),
            ScanTitle => ("QR로 결제", "Pay by QR code"),
            ScanLead => (
                "가게에 붙은 결제 QR을 사진으로 찍어 올리거나 카메라로 비추세요.",
                "Take a photo of the shop's payment QR code, or point the camera at it.",
            ),
            PhotoLabel => ("QR 사진", "Photo of the QR code"),
            PhotoHint => ("PNG 또는 JPEG, 8MB까지.", "PNG or JPEG, up to 8 MB."),
            PhotoButton => ("사진으로 확인", "Read the photo"),
            CameraButton => ("카메라로 찍기", "Use the camera"),
            CameraStop => ("카메라 끄기", "Stop the camera"),
            CameraNote => (
                "카메라를 QR에 비추면 저절로 읽습니다.",
                "Point the camera at the QR code: it is read by itself.",
            ),
            CameraVideo => ("카메라 화면", "Camera view"),
            ScanResult => ("QR 확인 결과", "What the QR code is"),
            PayThisShop => ("금액 입력하고 결제", "Enter the amount and pay"),
            ScanAgain => ("다시 찍기", "Scan again"),
            NotPayable => (
                "이 QR로는 결제할 수 없습니다",
                "This QR code cannot be paid",
            ),
            FixedAmount => ("QR에 정해진 금액", "Amount set by the code"),
            NoteNoRate => (
                "이 가게는 캐시백 대상이 아닙니다.",
                "This shop does not earn cash-back.",
            ),
            NoteSpendCap => (
                "이번 달 캐시백 대상 결제 한도에 닿았습니다.",
                "This month's spending eligible for cash-back is used up.",
            ),
            NoteCashbackCap => (
                "이번 달 캐시백 한도에 닿았습니다.",
                "This month's cash-back limit is reached.",
            ),
            NoteBudget => (
                "캐시백 예산이 모두 쓰였습니다.",
                "The cash-back budget is spent.",
            ),
        }
    }
}

/// Why cash-back was less than the rate gives, in words (the service's stable code).
pub fn cashback_note(lang: Lang, code: &str) -> Option<&'static str> {
    let w = match code {
        "no_rate_for_merchant" => W::NoteNoRate,
        "monthly_spend_cap_reached" => W::NoteSpendCap,
        "monthly_cashback_cap_reached" => W::NoteCashbackCap,
        "budget_exhausted" => W::NoteBudget,
        _ => return None,
    };
    Some(lang.t(w))
}

/// A signed-in citizen, or the answer for anyone else: the sign-in page (303) or 403.
pub fn citizen(
    pages: &Pages,
    parts: &Parts,
    here: &str,
) -> Result<(Prefs, SignedIn), Box<Response>> {
    let prefs = Prefs::from_headers(&parts.headers);
    let Some(session) = signed_in(&pages.service, &parts.headers) else {
        return Err(Box::new(see_other("/sign-in")));
    };
    if session.caller.role != Role::Citizen {
        return Err(Box::new(citizens_only(prefs, here)));
    }
    Ok((prefs, session))
}

/// 403: a citizen's page asked for by a merchant, operator or auditor.
pub fn citizens_only(prefs: Prefs, here: &str) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::CitizensOnlyTitle)) }
        p { (lang.t(M::CitizensOnlyText)) }
        p { a href="/" { (lang.t(M::GoHome)) } }
    };
    let mut r = private_response(page(
        prefs,
        here,
        Nav::Wallet,
        lang.t(M::CitizensOnlyTitle),
        body,
    ));
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

/// A page of the citizen's: the menu, then `body`.
pub fn citizen_page(prefs: Prefs, here: &str, tab: Tab, title: &str, body: Markup) -> Response {
    let body = html! {
        (tabs(prefs.lang, tab))
        (body)
    };
    private_response(page(prefs, here, Nav::Wallet, title, body))
}

/// The service's words for an error, with its stable code, as an alert.
pub fn error_alert(lang: Lang, id: &str, heading: &str, e: &ServiceError) -> Markup {
    html! {
        div.alert.alert-error #(id) role="alert" data-code=(e.code) {
            h2 { (heading) }
            p { (words(lang, e)) }
        }
    }
}

/// A whole page for an error of the service's, with its status.
pub fn error_page(prefs: Prefs, here: &str, tab: Tab, e: &ServiceError) -> Response {
    let lang = prefs.lang;
    let body = html! {
        h1 { (lang.t(M::ErrorTitle)) }
        (error_alert(lang, "page-error", lang.t(M::ErrorTitle), e))
        p { a href=(tab.href()) { (lang.t(tab)) } }
    };
    let mut r = citizen_page(prefs, here, tab, lang.t(M::ErrorTitle), body);
    *r.status_mut() = e.status;
    r
}

/// A fresh idempotency key for a form that moves money (a double submit then pays once).
pub fn fresh_key() -> String {
    format!("page-{}", fresh_token())
}

/// A shop's card: name, address, hours, distance.
pub fn shop_card(lang: Lang, m: &MerchantCard) -> Markup {
    let name = match (lang, &m.name_en) {
        (Lang::En, Some(en)) => en.as_str(),
        _ => m.name.as_str(),
    };
    html! {
        h3.shop-name { (name) }
        @if lang == Lang::En && m.name_en.is_some() {
            p.meta lang="ko" { (m.name) }
        }
        dl.shop-facts {
            @if let Some(a) = &m.road_address {
                div { dt { (lang.t(W::Address)) } dd { (a) } }
            }
            @if let Some(h) = &m.hours {
                div { dt { (lang.t(W::Hours)) } dd { (h) } }
            }
            @if m.status != "approved" {
                div { dt { (lang.t(W::Status)) } dd.status-bad { (status_word(lang, &m.status)) } }
            }
        }
    }
}

fn status_word(lang: Lang, status: &str) -> &str {
    match (lang, status) {
        (Lang::Ko, "approved") => "가맹",
        (Lang::Ko, "suspended") => "결제 정지",
        (Lang::Ko, "closed") => "폐업",
        (Lang::Ko, "applied") => "심사 중",
        (_, other) => other,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /pay`: scan (photo or camera) and search by name; with `q`, the shops found.
async fn search(
    State(pages): State<Pages>,
    parts: Parts,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/pay") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let q: String = query
        .ok()
        .and_then(|Query(q)| q.q)
        .unwrap_or_default()
        .trim()
        .chars()
        .take(QUERY_CHARS_MAX)
        .collect();
    let found = if q.is_empty() {
        None
    } else {
        Some(
            service::public::search_names(
                &pages.service,
                session.caller.currency.clone(),
                NameParams {
                    q: q.clone(),
                    lat: None,
                    lon: None,
                    category: None,
                    mcc: None,
                    accepts: None,
                    offset: None,
                    limit: Some(SEARCH_SHOWN),
                },
            )
            .await,
        )
    };
    let csrf = pages.csrf.for_session(&session.token);
    let here = if q.is_empty() {
        "/pay".to_owned()
    } else {
        format!("/pay?q={}", url_encode(&q))
    };
    let body = html! {
        h1 { (lang.t(W::PayTitle)) }
        p.lead { (lang.t(W::PayLead)) }
        (scan_section(lang, &csrf, None))
        section aria-labelledby="search-title" {
            h2 #search-title { (lang.t(W::SearchTitle)) }
            form.form.search-form method="get" action="/pay" role="search" {
                div.field {
                    label for="q" { (lang.t(W::SearchLabel)) }
                    p.meta #q-hint { (lang.t(W::SearchHint)) }
                    input #q type="search" name="q" value=(q) autocomplete="off"
                        aria-describedby="q-hint" required maxlength="64";
                }
                button.button type="submit" { (lang.t(W::SearchButton)) }
            }
            @match &found {
                None => {}
                Some(Err(e)) => { (error_alert(lang, "search-error", lang.t(M::ErrorTitle), e)) }
                Some(Ok(a)) if a.merchants.is_empty() => {
                    p #results role="status" { (lang.t(W::NoResults)) }
                }
                Some(Ok(a)) => {
                    h3 #results-title { (lang.t(W::Results)) " (" (a.merchants.len()) ")" }
                    ul.shop-list #results aria-labelledby="results-title" {
                        @for m in &a.merchants {
                            li data-merchant=(m.id) {
                                (shop_card(lang, m))
                                a.button.secondary href=(format!("/pay/shop/{}", m.id)) {
                                    (lang.t(W::ChooseShop))
                                    span.visually-hidden { ": " (m.name) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    citizen_page(prefs, &here, Tab::Pay, lang.t(W::PayTitle), body)
}

/// The scan section: a photo form that works without JavaScript, and the camera
/// (shown by `scan.js` where the browser has one). `answer` is a scan's answer.
fn scan_section(lang: Lang, csrf: &str, answer: Option<Markup>) -> Markup {
    html! {
        section.scan aria-labelledby="scan-title" {
            h2 #scan-title { (lang.t(W::ScanTitle)) }
            p { (lang.t(W::ScanLead)) }
            form.form.photo-form #photo-form method="post" action="/pay/scan" enctype="multipart/form-data" {
                input type="hidden" name=(CSRF_FIELD) value=(csrf);
                div.field {
                    label for="photo" { (lang.t(W::PhotoLabel)) }
                    p.meta #photo-hint { (lang.t(W::PhotoHint)) }
                    input #photo type="file" name="photo" accept="image/png,image/jpeg"
                        capture="environment" aria-describedby="photo-hint" required;
                }
                button.button type="submit" { (lang.t(W::PhotoButton)) }
            }
            div.camera #camera hidden data-csrf=(csrf) data-stop=(lang.t(W::CameraStop)) data-start=(lang.t(W::CameraButton)) {
                button.button.secondary #camera-toggle type="button" aria-pressed="false" { (lang.t(W::CameraButton)) }
                p.meta { (lang.t(W::CameraNote)) }
                video #camera-video muted playsinline aria-label=(lang.t(W::CameraVideo)) hidden {}
            }
            div #scan-answer aria-live="polite" {
                @if let Some(a) = answer { (a) }
            }
            script type="module" src=(assets::url("scan.js")) {}
        }
    }
}

/// A scan's answer: the shop to pay, or the service's own words for what the code is.
pub fn scan_answer(lang: Lang, v: &ScanView) -> Markup {
    let message = match lang {
        Lang::Ko => &v.message_ko,
        Lang::En => &v.message_en,
    };
    html! {
        div.card.scan-result data-code=(v.code) data-payable=(v.payable) {
            h3 tabindex="-1" { (lang.t(W::ScanResult)) }
            @if v.payable {
                p role="status" { (message) }
                @if let Some(m) = &v.merchant {
                    (shop_card(lang, m))
                    @if let Some(a) = v.amount {
                        p { (lang.t(W::FixedAmount)) ": " strong { (won(lang, i64::try_from(a).unwrap_or(i64::MAX))) } }
                    }
                    a.button href=(format!("/pay/shop/{}", m.id)) { (lang.t(W::PayThisShop)) }
                }
            } @else {
                div.alert.alert-error role="alert" data-code=(v.code) {
                    h4 { (lang.t(W::NotPayable)) }
                    p { (message) }
                }
                @if let Some(m) = &v.merchant {
                    (shop_card(lang, m))
                }
            }
        }
    }
}

/// `POST /pay/scan`: a photo (multipart form, no JavaScript) or a camera frame (the
/// image itself, from `scan.js`, with the token in `X-CSRF-Token`). Answers the page
/// with the result, or (from the script, `HX-Request`) the result fragment alone.
async fn scan(State(pages): State<Pages>, parts: Parts, body: Bytes) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/pay") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fragment = parts.headers.contains_key("hx-request");
    let (given, image) = if content_type
        .get(..19)
        .is_some_and(|t| t.eq_ignore_ascii_case("multipart/form-data"))
    {
        // A form that cannot be read has no token: refused below.
        let read = upload::parts(content_type, &body).unwrap_or_default();
        let csrf = upload::field(&read, CSRF_FIELD).map(str::to_owned);
        let photo = upload::file(&read, "photo")
            .map(|(_, data)| data.to_vec())
            .unwrap_or_default();
        (csrf, photo)
    } else {
        let csrf = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (csrf, body.to_vec())
    };
    if !pages.form_allowed(&parts, &session, given.as_deref()) {
        return refused(prefs);
    }
    let answer = service::citizen::scan_image(
        &pages.service,
        &session.caller,
        image,
        &pages.service.image_decodes,
    )
    .await;
    let (status, markup) = match &answer {
        Ok(v) => (StatusCode::OK, scan_answer(lang, v)),
        Err(e) => (e.status, scan_error(lang, e)),
    };
    if fragment {
        let mut r = private_response(markup);
        *r.status_mut() = status;
        return r;
    }
    let csrf = pages.csrf.for_session(&session.token);
    let body = html! {
        h1 { (lang.t(W::PayTitle)) }
        (scan_section(lang, &csrf, Some(markup)))
        p { a href="/pay" { (lang.t(W::ScanAgain)) } }
    };
    let mut r = citizen_page(prefs, "/pay", Tab::Pay, lang.t(W::PayTitle), body);
    *r.status_mut() = status;
    r
}

#[derive(Debug, Default, Deserialize)]
pub struct ScanTextForm {
    csrf: Option<String>,
    payload: Option<String>,
}

/// The longest scanned text passed on (a QR code holds at most a few kilobytes).
const PAYLOAD_CHARS_MAX: usize = 4096;

/// `POST /pay/scan-text`: a code the browser's own detector read (`scan.js`): what it
/// is, as the result fragment.
async fn scan_text(
    State(pages): State<Pages>,
    parts: Parts,
    form: Result<Form<ScanTextForm>, FormRejection>,
) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/pay") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !pages.form_allowed(&parts, &session, form.csrf.as_deref()) {
        return refused(prefs);
    }
    let payload: String = form
        .payload
        .unwrap_or_default()
        .chars()
        .take(PAYLOAD_CHARS_MAX)
        .collect();
    let answer = service::citizen::scan(
        &pages.service,
        &session.caller,
        service::citizen::ScanRequest { payload },
    )
    .await;
    let (status, markup) = match &answer {
        Ok(v) => (StatusCode::OK, scan_answer(lang, v)),
        Err(e) => (e.status, scan_error(lang, e)),
    };
    let mut r = private_response(markup);
    *r.status_mut() = status;
    r
}

/// A scan that could not be answered (an unreadable image, the service busy).
fn scan_error(lang: Lang, e: &ServiceError) -> Markup {
    html! {
        div.card.scan-result data-code=(e.code) data-payable="false" {
            h3 tabindex="-1" { (lang.t(W::ScanResult)) }
            div.alert.alert-error #scan-error role="alert" data-code=(e.code) {
                h4 { (lang.t(W::NotPayable)) }
                p { (words(lang, e)) }
            }
        }
    }
}

/// The shop's id in a path, or `None` for anything that is not one.
fn shop_id(raw: &str) -> Option<u64> {
    if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// `GET /pay/shop/{id}`: the shop's card, and the amount and PIN form.
async fn shop(State(pages): State<Pages>, Path(raw): Path<String>, parts: Parts) -> Response {
    let here = format!("/pay/shop/{}", shop_id(&raw).unwrap_or(0));
    let (prefs, session) = match citizen(&pages, &parts, &here) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    shop_page(&pages, prefs, &session, &raw, None).await
}

/// The shop's page; after a refused payment, its error, the amount tried and the key
/// to try again with.
async fn shop_page(
    pages: &Pages,
    prefs: Prefs,
    session: &SignedIn,
    raw: &str,
    failed: Option<(&ServiceError, &str, String)>,
) -> Response {
    let lang = prefs.lang;
    let id = shop_id(raw);
    let here = format!("/pay/shop/{}", id.unwrap_or(0));
    let card = match id {
        Some(id) => {
            service::public::merchant_card(&pages.service, (session.caller.currency.clone(), id))
                .await
        }
        None => Err(ServiceError::not_found("merchant")),
    };
    let m = match card {
        Ok(m) => m,
        Err(e) => return error_page(prefs, &here, Tab::Pay, &e),
    };
    let csrf = pages.csrf.for_session(&session.token);
    let (amount, key) = match &failed {
        Some((_, a, k)) => ((*a).to_owned(), k.clone()),
        None => (String::new(), fresh_key()),
    };
    let described = if failed.is_some() {
        "pay-error amount-hint"
    } else {
        "amount-hint"
    };
    let body = html! {
        h1 { (lang.t(W::PayTitle)) }
        @if let Some((e, _, _)) = &failed {
            (error_alert(lang, "pay-error", lang.t(W::PayFailed), e))
        }
        section.card.shop aria-labelledby="shop-title" data-merchant=(m.id) {
            h2 #shop-title .visually-hidden { (lang.t(W::ShopTitle)) }
            (shop_card(lang, &m))
        }
        form.form.pay-form method="post" action=(here) {
            input type="hidden" name=(CSRF_FIELD) value=(csrf);
            input type="hidden" name="key" value=(key);
            div.field {
                label for="amount" { (lang.t(W::AmountLabel)) }
                p.meta #amount-hint { (lang.t(W::AmountHint)) }
                input #amount type="text" name="amount" value=(amount) inputmode="numeric"
                    pattern="[0-9,]*" autocomplete="off" required maxlength="16"
                    aria-describedby=(described)
                    aria-invalid=[failed.as_ref().map(|_| "true")];
            }
            div.field {
                label for="pin" { (lang.t(W::PinLabel)) }
                p.meta #pin-hint { (lang.t(W::PinHint)) }
                input #pin type="password" name="pin" inputmode="numeric" pattern="[0-9]*"
                    autocomplete="off" required maxlength="6" minlength="6"
                    aria-describedby="pin-hint";
            }
            button.button type="submit" { (lang.t(W::PayButton)) }
        }
        p { a href="/pay" { (lang.t(W::PayAgain)) } }
    };
    let mut r = citizen_page(prefs, &here, Tab::Pay, lang.t(W::PayTitle), body);
    if let Some((e, _, _)) = failed {
        *r.status_mut() = e.status;
    }
    r
}

#[derive(Debug, Default, Deserialize)]
pub struct PayForm {
    csrf: Option<String>,
    key: Option<String>,
    amount: Option<String>,
    pin: Option<String>,
}

/// The amount as written: digits with optional thousands commas (`12,000`); anything
/// else is left to the service (which asks for an amount).
fn parse_amount(s: &str) -> Option<i64> {
    let digits: String = s.trim().chars().filter(|c| *c != ',').collect();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `POST /pay/shop/{id}`: pays through the service (its PIN check, limits and
/// idempotency key); 303 to the signed result, or the form again with the service's
/// words.
async fn pay(
    State(pages): State<Pages>,
    Path(raw): Path<String>,
    parts: Parts,
    form: Result<Form<PayForm>, FormRejection>,
) -> Response {
    let here = format!("/pay/shop/{}", shop_id(&raw).unwrap_or(0));
    let (prefs, session) = match citizen(&pages, &parts, &here) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !pages.form_allowed(&parts, &session, form.csrf.as_deref()) {
        return refused(prefs);
    }
    let Some(merchant) = shop_id(&raw) else {
        return error_page(prefs, &here, Tab::Pay, &ServiceError::not_found("merchant"));
    };
    let amount_text = form.amount.unwrap_or_default();
    let key = form.key.unwrap_or_default();
    let answer = service::citizen::pay(
        &pages.service,
        &session.caller,
        Some(&key),
        PaymentRequest {
            merchant: Some(merchant),
            code: None,
            amount: parse_amount(&amount_text),
            pin: Secret::new(form.pin.unwrap_or_default()),
        },
    )
    .await;
    match answer {
        Ok(a) => {
            let p = a.value;
            let note = p.cashback_note.as_deref().unwrap_or("");
            let facts = Receipt {
                payment: p.payment,
                merchant,
                amount: p.amount,
                cashback: p.cashback,
                note: note.to_owned(),
            };
            let to = facts.url(&pages, &session.token);
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
        Err(e) => {
            // Refused before the money could move: a new key, so a corrected amount is
            // a new request. In doubt (the service could not finish): the same key, so
            // trying again cannot pay twice.
            let retry_key = if e.status.is_server_error() {
                key
            } else {
                fresh_key()
            };
            let shown: String = amount_text.chars().take(16).collect();
            shop_page(&pages, prefs, &session, &raw, Some((&e, &shown, retry_key))).await
        }
    }
}

/// What a payment's answer said, carried to the result page in its address and signed
/// for this session (`signed`: the page shows only what the service answered).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    payment: u64,
    merchant: u64,
    amount: i64,
    cashback: i64,
    note: String,
}

const RECEIPT: &str = "pay-receipt";
const RECEIPT_FIELDS: &[&str] = &["payment", "merchant", "amount", "cashback", "note"];

impl Receipt {
    fn banner(&self) -> Banner {
        Banner::new(RECEIPT)
            .field("payment", self.payment)
            .field("merchant", self.merchant)
            .field("amount", self.amount)
            .field("cashback", self.cashback)
            .field("note", &self.note)
    }

    fn url(&self, pages: &Pages, session_token: &str) -> String {
        self.banner().url(pages, session_token, "/pay/done")
    }

    /// The receipt in `uri`, if it is signed for this session.
    fn read(pages: &Pages, session_token: &str, uri: &axum::http::Uri) -> Option<Receipt> {
        let b = signed::read(pages, session_token, uri, RECEIPT, RECEIPT_FIELDS)?;
        Some(Receipt {
            payment: b.number("payment")?,
            merchant: b.number("merchant")?,
            amount: b.number("amount")?,
            cashback: b.number("cashback")?,
            note: b.get("note")?.to_owned(),
        })
    }
}

/// `GET /pay/done`: the payment's result (as the service answered it) and the balance now.
async fn done(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match citizen(&pages, &parts, "/pay/done") {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let lang = prefs.lang;
    // Nothing signed for this session: nothing to show but the paying page.
    let Some(receipt) = Receipt::read(&pages, &session.token, &parts.uri) else {
        return see_other("/pay");
    };
    let wallet = match service::citizen::wallet(&pages.service, &session.caller).await {
        Ok(w) => w,
        Err(e) => return error_page(prefs, "/pay/done", Tab::Pay, &e),
    };
    let shop = pages
        .service
        .currency(&session.caller.currency)
        .ok()
        .and_then(|c| c.merchants.get(receipt.merchant))
        .map(|m| MerchantCard::of(&m, None));
    let here = receipt.url(&pages, &session.token);
    let body = html! {
        h1 #done-title tabindex="-1" { (lang.t(W::DoneTitle)) }
        section.card.receipt aria-labelledby="done-title" data-payment=(receipt.payment) {
            p role="status" { (lang.t(W::DoneLead)) }
            dl.amounts {
                div.main {
                    dt { (lang.t(W::Paid)) }
                    dd #paid data-amount=(receipt.amount) { (won(lang, receipt.amount)) }
                }
                @if let Some(m) = &shop {
                    div {
                        dt { (lang.t(W::To)) }
                        dd #paid-to { (match (lang, &m.name_en) { (Lang::En, Some(en)) => en.as_str(), _ => m.name.as_str() }) }
                    }
                }
                div {
                    dt { (lang.t(W::Cashback)) }
                    dd #cashback data-amount=(receipt.cashback) { (won(lang, receipt.cashback)) }
                }
                div {
                    dt { (lang.t(W::BalanceAfter)) }
                    dd #balance-after data-amount=(wallet.balance) { (won(lang, wallet.balance)) }
                }
                div {
                    dt { (lang.t(W::PaymentNo)) }
                    dd #payment-no { (receipt.payment) }
                }
            }
            @if receipt.cashback == 0 && receipt.note.is_empty() {
                p.meta { (lang.t(W::NoCashback)) }
            }
            @if let Some(n) = cashback_note(lang, &receipt.note) {
                p.meta #cashback-note data-code=(receipt.note) { (n) }
            }
        }
        ul.actions {
            li { a href="/pay" { (lang.t(W::PayAgain)) } }
            li { a href="/wallet" { (lang.t(W::BackToWallet)) } }
        }
    };
    citizen_page(prefs, &here, Tab::Pay, lang.t(W::DoneTitle), body)
}

#[cfg(test)]
#[path = "pay_tests.rs"]
pub(crate) mod tests;
