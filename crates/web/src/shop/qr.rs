//! `GET /shop/qr`: the shop's QR sticker, drawn inline (SVG), with links to download it
//! as PNG or SVG (`GET /shop/qr/download?format=…`) and a printable A6 page
//! (`GET /shop/qr/print`, the print stylesheet keeps only the sticker). Every image is
//! the service's `merchant::my_qr`, the same use case as the API's `GET /api/v1/me/qr`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use service::merchant::{QrImage, QrParams};

use super::{Tab, error_page, merchant, shop_page};
use crate::Pages;
use crate::i18n::{Lang, Words};
use crate::private_response;

pub fn routes() -> Router<Pages> {
    Router::new()
        .route("/shop/qr", get(qr_page))
        .route("/shop/qr/print", get(print_page))
        .route("/shop/qr/download", get(download))
}

/// The QR page's fixed texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Q {
    Title,
    Lead,
    ImageLabel,
    DownloadTitle,
    CodePng,
    CodeSvg,
    StickerPng,
    StickerSvg,
    Print,
    PrintTitle,
    PrintHint,
    Back,
    StickerLabel,
}

impl Words for Q {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Q::Title => ("가게 QR 스티커", "Shop QR sticker"),
            Q::Lead => (
                "손님이 이 QR을 찍으면 가게로 바로 결제해요. 계산대 옆에 붙여 두세요.",
                "Customers scan this code to pay the shop. Put it up by the till.",
            ),
            Q::ImageLabel => ("가게 결제 QR 코드", "The shop's payment QR code"),
            Q::DownloadTitle => ("내려받기", "Download"),
            Q::CodePng => ("QR 코드 (PNG)", "QR code (PNG)"),
            Q::CodeSvg => ("QR 코드 (SVG)", "QR code (SVG)"),
            Q::StickerPng => ("A6 스티커 (PNG, 300dpi)", "A6 sticker (PNG, 300 dpi)"),
            Q::StickerSvg => ("A6 스티커 (SVG)", "A6 sticker (SVG)"),
            Q::Print => ("A6 스티커 인쇄하기", "Print the A6 sticker"),
            Q::PrintTitle => ("A6 스티커 인쇄", "Print the A6 sticker"),
            Q::PrintHint => (
                "브라우저의 인쇄 기능(Ctrl+P, ⌘P)으로 A6 용지에 실제 크기로 인쇄하세요. 인쇄물에는 스티커만 나와요.",
                "Print with your browser (Ctrl+P, ⌘P) on A6 paper at actual size. Only the sticker is printed.",
            ),
            Q::Back => ("QR 페이지로 돌아가기", "Back to the QR page"),
            Q::StickerLabel => (
                "가게 이름과 결제 QR 코드가 있는 A6 스티커",
                "A6 sticker with the shop's name and payment QR code",
            ),
        }
    }
}

/// A format the download link may ask for: (query value, file name).
const FILES: [(&str, &str); 4] = [
    ("png", "maeul-qr.png"),
    ("svg", "maeul-qr.svg"),
    ("sticker.png", "maeul-qr-sticker-a6.png"),
    ("sticker.svg", "maeul-qr-sticker-a6.svg"),
];

/// The file name a download of `format` is saved under; `None` for other formats.
pub fn file_name(format: &str) -> Option<&'static str> {
    FILES.iter().find(|(f, _)| *f == format).map(|(_, n)| *n)
}

fn params(format: &str) -> QrParams {
    QrParams {
        format: Some(format.into()),
        amount: None,
    }
}

/// The SVG text of an image the service rendered (ours: no script, no style).
fn svg_text(image: QrImage) -> String {
    String::from_utf8_lossy(&image.bytes).into_owned()
}

/// `GET /shop/qr`.
pub async fn qr_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let svg = match service::merchant::my_qr(&pages.service, &session.caller, &params("svg")) {
        Ok(i) => svg_text(i),
        Err(e) => return error_page(prefs, &session, &pages, "/shop/qr", &e),
    };
    let lang = prefs.lang;
    private_response(shop_page(
        prefs,
        &session,
        &pages,
        "/shop/qr",
        Some(Tab::Qr),
        lang.t(Q::Title),
        render(lang, &svg),
    ))
}

fn render(lang: Lang, svg: &str) -> Markup {
    html! {
        h1 { (lang.t(Q::Title)) }
        p { (lang.t(Q::Lead)) }
        section.card aria-labelledby="qr-title" {
            h2 #qr-title .visually-hidden { (lang.t(Q::ImageLabel)) }
            figure.qr-code #qr-code role="img" aria-label=(lang.t(Q::ImageLabel)) {
                (PreEscaped(svg))
            }
        }
        section.card aria-labelledby="qr-downloads" {
            h2 #qr-downloads { (lang.t(Q::DownloadTitle)) }
            ul.qr-links {
                li { a #qr-png href="/shop/qr/download?format=png" download=(FILES[0].1) { (lang.t(Q::CodePng)) } }
                li { a #qr-svg href="/shop/qr/download?format=svg" download=(FILES[1].1) { (lang.t(Q::CodeSvg)) } }
                li { a #sticker-png href="/shop/qr/download?format=sticker.png" download=(FILES[2].1) { (lang.t(Q::StickerPng)) } }
                li { a #sticker-svg href="/shop/qr/download?format=sticker.svg" download=(FILES[3].1) { (lang.t(Q::StickerSvg)) } }
            }
            p { a.button #qr-print href="/shop/qr/print" { (lang.t(Q::Print)) } }
        }
    }
}

/// `GET /shop/qr/print`: the A6 sticker alone; the print stylesheet hides the rest.
pub async fn print_page(State(pages): State<Pages>, parts: Parts) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let sticker =
        match service::merchant::my_qr(&pages.service, &session.caller, &params("sticker.svg")) {
            Ok(i) => svg_text(i),
            Err(e) => return error_page(prefs, &session, &pages, "/shop/qr/print", &e),
        };
    let lang = prefs.lang;
    let body = html! {
        h1.no-print { (lang.t(Q::PrintTitle)) }
        p.no-print #print-hint { (lang.t(Q::PrintHint)) }
        p.no-print { a href="/shop/qr" { (lang.t(Q::Back)) } }
        figure.qr-sticker #qr-sticker role="img" aria-label=(lang.t(Q::StickerLabel)) {
            (PreEscaped(sticker))
        }
    };
    private_response(shop_page(
        prefs,
        &session,
        &pages,
        "/shop/qr/print",
        None,
        lang.t(Q::PrintTitle),
        html! { div.qr-print { (body) } },
    ))
}

#[derive(Debug, Deserialize)]
pub struct Download {
    format: Option<String>,
}

/// `GET /shop/qr/download?format=png|svg|sticker.png|sticker.svg`: the file, to save.
pub async fn download(
    State(pages): State<Pages>,
    Query(q): Query<Download>,
    parts: Parts,
) -> Response {
    let (prefs, session) = match merchant(&pages, &parts) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let format = q.format.as_deref().unwrap_or("png");
    let Some(name) = file_name(format) else {
        return (StatusCode::NOT_FOUND, "unknown format").into_response();
    };
    match service::merchant::my_qr(&pages.service, &session.caller, &params(format)) {
        Ok(image) => {
            let disposition = format!("attachment; filename=\"{name}\"");
            let mut response = image.bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(image.content_type));
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                headers.insert(CONTENT_DISPOSITION, v);
            }
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => error_page(prefs, &session, &pages, "/shop/qr", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_have_file_names_and_unknown_formats_none() {
        assert_eq!(file_name("png"), Some("maeul-qr.png"));
        assert_eq!(file_name("sticker.svg"), Some("maeul-qr-sticker-a6.svg"));
        assert_eq!(file_name("text"), None);
        assert_eq!(file_name("../etc"), None);
    }

    #[test]
    fn the_page_draws_the_code_inline_with_a_label_and_no_style() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h1"/></svg>"##;
        let html = render(Lang::Ko, svg).into_string();
        assert!(html.contains(svg), "{html}");
        assert!(html.contains("role=\"img\""), "{html}");
        assert!(html.contains("aria-label=\"가게 결제 QR 코드\""), "{html}");
        assert!(
            html.contains("/shop/qr/download?format=sticker.png"),
            "{html}"
        );
        assert!(html.contains("href=\"/shop/qr/print\""), "{html}");
        assert!(!html.contains("style="), "{html}");
        let en = render(Lang::En, svg).into_string();
        assert!(en.contains("Shop QR sticker"), "{en}");
    }
}
